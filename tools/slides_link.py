"""A Sphinx extension: every page of the HTML book links to the lecture slides.

`python3 tasks.py slides` (tools/slides.py) writes the decks and their index into
`slides/` inside the HTML output (`_build/html/slides/index.html`), so the book and its
decks are published together. Once that index is there, each page's header gets a
"Lecture slides" button; its address is relative to the page (Sphinx's `pathto`),
so it works served from any folder and opened from `file://`. Before the decks are
built there is no button, so the HTML never points at a missing file. Loaded by
`sphinx: local_extensions`.
"""
from __future__ import annotations

from pathlib import Path

#: The decks' index, relative to the HTML output folder (tools/slides.py writes it).
SLIDES_INDEX = "slides/index.html"


def note_the_slides(app, config) -> None:
    # A config value of the html category: when the decks appear or go, Sphinx rewrites
    # every page instead of keeping pages without the button.
    config.book_slides = SLIDES_INDEX if (Path(app.outdir) / SLIDES_INDEX).is_file() else ""


def add_slides_link(app, pagename, templatename, context, doctree) -> None:
    if not app.config.book_slides or "header_buttons" not in context:
        return
    context["header_buttons"].append({
        "type": "link",
        "url": context["pathto"](app.config.book_slides, 1),
        "tooltip": "Lecture slides: a reveal.js deck for every section",
        "icon": "fas fa-person-chalkboard",
        "label": "lecture-slides-button",
    })


def setup(app):
    app.add_config_value("book_slides", "", "html")
    app.connect("config-inited", note_the_slides)
    # After sphinx-book-theme's own header buttons (priority 501).
    app.connect("html-page-context", add_slides_link, priority=503)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
