"""A Sphinx extension: three fixes to what Jupyter Book 1's theme stack puts on every page.

* The right-hand contents list shows third-level headings (`show_toc_level: 2`;
  pydata-sphinx-theme's default folds them away). Set here, not in `_config.yml`,
  because `html_theme_options` there would replace the options Jupyter Book builds.
* Once a `_static` folder exists, Jupyter Book 1 adds *every* `.js` and `.css`
  file of every `html_static_path` folder to every page, so the whole local copy
  of MathJax in `.cache/static` (two dozen bundles, node-only ones among them)
  was loaded and threw errors. Only the files of `_static` (and those named in
  `_config.yml` that are not part of that copy) stay.
* sphinx-thebe 0.3.1 registers its one-line configuration script once per read
  phase, as sphinx-togglebutton does, so pages carried them twice and the second
  `const THEBE_JS_URL` threw a SyntaxError in every reader's console. Each page
  keeps one copy of each inline script.
* An edit of the book's own static files alone (`_static/book.css`, its scripts)
  leaves every page up to date, and Sphinx then copies no static file, so the
  site kept serving the old ones. After each HTML build, a file of `_static`
  newer than its copy in the output (or missing there) is copied.

Loaded by `sphinx: local_extensions`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

VENDORED = Path(".cache") / "static"  # the local web packages (python3 tasks.py), not the book's own files


def show_third_level_headings(app, config) -> None:
    options = dict(config.html_theme_options or {})
    options.setdefault("show_toc_level", 2)
    config.html_theme_options = options


def keep_only_the_book_assets(app, config) -> None:
    vendored, own = Path(app.srcdir) / VENDORED, Path(app.srcdir) / "_static"

    def wanted(entry) -> bool:
        name = entry[0] if isinstance(entry, (tuple, list)) else entry
        return not isinstance(name, str) or (own / name).is_file() or not (vendored / name).is_file()

    config.html_js_files = [e for e in config.html_js_files if wanted(e)]
    config.html_css_files = [e for e in config.html_css_files if wanted(e)]


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        # the same inline script comes once with filename None and once with ""
        key = (str(getattr(script, "filename", script) or ""), attributes.get("body"))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def publish_edited_static_files(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir) / "_static"
    if not out.is_dir():
        return
    for folder in app.config.html_static_path:
        source = Path(app.confdir) / folder
        if not source.is_dir() or source.resolve() == (Path(app.confdir) / VENDORED).resolve():
            continue
        for path in source.rglob("*"):
            target = out / path.relative_to(source)
            if path.is_file() and (not target.exists() or path.stat().st_mtime > target.stat().st_mtime):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def setup(app):
    # Before Sphinx turns html_js_files into assets (its own config-inited handler, priority 800).
    app.connect("config-inited", show_third_level_headings)
    app.connect("config-inited", keep_only_the_book_assets, priority=100)
    app.connect("html-page-context", drop_repeated_scripts)
    app.connect("build-finished", publish_edited_static_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
