"""A Sphinx extension: number the root page's definitions, equations and figures as chapter 0.

Jupyter Book 1 numbers the chapters of `_toc.yml`, not its root page, so the
introduction's items came out as "Definition 1" and "(1)" while chapter 1's are
"Definition 1.1" and "(1.1)". Figure numbers (which cover every numbered item:
figures, equations, definitions, theorems, exercises) are assigned here as if the
root page were section 0, so its items read "Definition 0.1", "(0.1)",
"Figure 0.1"; its headings stay unnumbered (the section number is only lent while
the figure numbers are assigned). Loaded by `sphinx: local_extensions`.
"""
from __future__ import annotations

from sphinx.environment.collectors.toctree import TocTreeCollector

_assign_figure_numbers = TocTreeCollector.assign_figure_numbers


def assign_figure_numbers(self, env):
    root = env.config.root_doc
    lent = root not in env.toc_secnumbers
    if lent:
        env.toc_secnumbers[root] = {"": (0,)}
    try:
        return _assign_figure_numbers(self, env)
    finally:
        if lent:
            env.toc_secnumbers.pop(root, None)


def setup(app):
    TocTreeCollector.assign_figure_numbers = assign_figure_numbers
    return {"parallel_read_safe": True, "parallel_write_safe": True}
