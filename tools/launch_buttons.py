"""A Sphinx extension: no launch buttons until the book's repository is configured.

`repository: url` in `_config.yml` is the one setting that names the book's
repository. While it is empty, no page may offer to open a notebook from a guessed
location, so the launch buttons (Colab) are dropped; Jupyter Book would otherwise
build them from its own default repository. Loaded by `sphinx: local_extensions`.
"""
from __future__ import annotations


def drop_launch_buttons_without_a_repository(app, config) -> None:
    options = dict(config.html_theme_options or {})
    if not str(options.get("repository_url") or "").strip():
        options.pop("launch_buttons", None)
        config.html_theme_options = options


def setup(app):
    app.connect("config-inited", drop_launch_buttons_without_a_repository)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
