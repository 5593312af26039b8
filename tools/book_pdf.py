"""A Sphinx extension: the PDF of the book, and the HTML's link to it.

LaTeX: the book's notation is defined once, as MathJax 3 macros
(`mathjax3_config: tex: macros` in `_config.yml`); this extension writes the same
macros into the LaTeX preamble (`latex_elements["preamble"]`), so that the PDF
(`python3 tasks.py pdf`, Jupyter Book's LaTeX builder) typesets them too.

Two LaTeX-only repairs of the extensions the book uses:

- sphinx-jupyterbook-latex flattens the sections of the root page (the introduction)
  into its text, and takes the untitled sections that sphinx-proof and
  sphinx-exercise put inside each directive for sub-headings too, moving the body of
  a definition out of its box; `KeepDirectiveBodies` marks those untitled sections as
  not headings;
- sphinx-exercise labels an exercise `exercise:<label>` in LaTeX, while a solution's
  title (for an unnumbered exercise) and a `{ref}` from another page link to
  `<document>:<label>`; the exercise gets that label too.

HTML: once the PDF has been built (`_build/latex/book.pdf`, beside the HTML
output), every page's download menu links to it and the build copies it to
`_build/html/book.pdf`. Before that, there is no link, so the HTML alone never
points at a missing file. Loaded by `sphinx: local_extensions`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

#: The PDF's file name (`latex_documents: targetname` in `_config.yml` is `book.tex`).
PDF_NAME = "book.pdf"


def latex_macros(macros: dict) -> str:
    r"""LaTeX definitions of MathJax 3 macros: `name: body` or `name: [body, n_args]`
    (or `[body, n_args, default of the first]`) becomes `\newcommand`, or
    `\renewcommand` where LaTeX already defines the name (`\S`, the section sign)."""
    lines = []
    for name, value in macros.items():
        if isinstance(value, str):
            body, arguments = value, []
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], str) and len(value) <= 3:
            body, arguments = value[0], [f"[{int(value[1])}]"] if len(value) > 1 else []
            if len(value) == 3:
                arguments.append(f"[{value[2]}]")
        else:
            raise ValueError(f"mathjax3_config tex macro {name!r}: expected a string or "
                             f"[body, number of arguments], got {value!r}")
        if not name.isalpha():
            raise ValueError(f"mathjax3_config tex macro {name!r}: a LaTeX macro name is letters only")
        # \providecommand first: then \renewcommand works whether or not LaTeX had one.
        lines.append(rf"\providecommand{{\{name}}}{{}}\renewcommand{{\{name}}}{''.join(arguments)}{{{body}}}")
    return "\n".join(lines)


def add_macros_to_preamble(app, config) -> None:
    macros = ((config.mathjax3_config or {}).get("tex") or {}).get("macros") or {}
    if not macros:
        return
    elements = dict(config.latex_elements or {})
    block = "% The book's notation: mathjax3_config tex macros in _config.yml (tools/book_pdf.py)\n"
    elements["preamble"] = elements.get("preamble", "") + "\n" + block + latex_macros(macros) + "\n"
    config.latex_elements = elements


def built_pdf(app) -> Path:
    """Where the LaTeX build leaves the PDF: `<build folder>/latex/book.pdf`."""
    return Path(app.outdir).parent / "latex" / PDF_NAME


def note_the_pdf(app, config) -> None:
    # A config value of the html category: when the PDF appears or goes, Sphinx rewrites
    # every page (build info mismatch) instead of keeping pages without the link.
    config.book_pdf = PDF_NAME if built_pdf(app).is_file() else ""


def add_pdf_link(app, pagename, templatename, context, doctree) -> None:
    if not app.config.book_pdf or "header_buttons" not in context:
        return
    link = {
        "type": "link",
        "url": context["pathto"](app.config.book_pdf, 1),
        "text": "book .pdf",
        "tooltip": "Download the whole chapter as a PDF",
        "icon": "fas fa-book",
        "label": "download-book-pdf-button",
    }
    for button in context["header_buttons"]:
        if button.get("label") == "download-buttons":
            button["buttons"].append(link)
            return
    context["header_buttons"].append(link)


def copy_pdf(app, exception) -> None:
    if exception is None and app.builder.format == "html" and app.config.book_pdf:
        shutil.copyfile(built_pdf(app), Path(app.outdir) / app.config.book_pdf)


class KeepDirectiveBodies(SphinxPostTransform):
    """Untitled sections (a proof's or an exercise's body) are not headings of the root page."""

    builders = ("latex",)
    # Before sphinx-jupyterbook-latex's LatexRootDocPostTransforms (700).
    default_priority = 690

    def run(self, **kwargs) -> None:
        for section in self.document.findall(nodes.section):
            if "header_level" in section and not (section.children and isinstance(section[0], nodes.title)):
                del section["header_level"]


def label_exercises(app) -> None:
    from sphinx_exercise import nodes as exercise

    def labelled(visit):
        def visit_with_label(self, node) -> None:
            self.body.append(self.hypertarget(node["label"], anchor=False))
            visit(self, node)
        return visit_with_label

    for node, visit, depart in [
        (exercise.exercise_node, exercise.visit_exercise_node, exercise.depart_exercise_node),
        (exercise.exercise_enumerable_node, exercise.visit_exercise_enumerable_node,
         exercise.depart_exercise_enumerable_node),
    ]:
        app.add_node(node, override=True, latex=(labelled(visit), depart))


def setup(app):
    app.setup_extension("sphinx_exercise")
    label_exercises(app)
    app.add_post_transform(KeepDirectiveBodies)
    app.add_config_value("book_pdf", "", "html")
    app.connect("config-inited", add_macros_to_preamble)
    app.connect("config-inited", note_the_pdf)
    # After sphinx-book-theme's own header buttons (priority 501).
    app.connect("html-page-context", add_pdf_link, priority=502)
    app.connect("build-finished", copy_pdf)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
