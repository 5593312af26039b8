"""tools/slides.py: MyST to slides, and a deck that needs nothing from the network.

The decks of the real book are built and looked at in a browser by
tests/test_browser.py; here a small notebook shows each translation rule.
"""
from __future__ import annotations

import re
import sys

import jupytext
import nbformat
import pytest
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import slides  # noqa: E402

HTML = """<html><body>
<div class="math notranslate nohighlight" id="equation-eq-demo"><span class="eqno">(3.1)<a class="headerlink">#</a></span></div>
<div class="proof definition admonition" id="def-demo"><p class="admonition-title"><span class="caption-number">Definition 3.2 </span> (Demo)</p></div>
<div class="proof theorem admonition" id="thm-demo"><p class="admonition-title"><span class="caption-number">Theorem 3.1 </span></p></div>
<span id="sec-demo"></span><section id="a-section"><h2>3.1. A section<a class="headerlink">#</a></h2></section>
</body></html>"""

MARKDOWN = """(sec-demo)=
## A section

```{prf:definition} Demo
:label: def-demo

The **objective** is

$$
J(\\theta) = \\E[R]
$$ (eq-demo)
```

By {eq}`eq-demo` and {prf:ref}`thm-demo`, see {ref}`sec-demo` and {prf:ref}`the demo <def-demo>`
{cite:p}`williams1992simple`; {cite:t}`sutton2018reinforcement` says so.

```{prf:proof}
Obvious.
```
"""


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A one-page 'built book': its HTML and its executed notebook."""
    build = tmp_path_factory.mktemp("build")
    (build / "html" / "chapters").mkdir(parents=True)
    (build / "html" / "chapters" / "demo.html").write_text(HTML)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Demo", metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_code_cell("import numpy", metadata={"slideshow": {"slide_type": "skip"}}),
        nbformat.v4.new_markdown_cell(MARKDOWN, metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_code_cell("latex(sgd)", metadata={"slideshow": {"slide_type": "subslide"}}, outputs=[
            nbformat.v4.new_output("display_data", data={"text/latex": "$$\\begin{array}{l} x \\end{array}$$",
                                                          "text/plain": "<sgd>"}),
            nbformat.v4.new_output("stream", name="stderr", text="a warning"),
        ]),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = build / "demo.md"  # the MyST notebook, and its execution in a jupyter-cache
    jupytext.write(nb, source, fmt="md:myst")
    get_cache(str(build / ".jupyter_cache")).cache_notebook_bundle(
        CacheBundleIn(nb, uri=str(source)), check_validity=False)
    return build


@pytest.fixture(scope="module")
def refs(book):
    return slides.References(book / "html", ROOT / "references.bib")


def test_myst_becomes_what_the_book_shows(refs):
    out = slides.myst_to_markdown(MARKDOWN, refs)
    assert "(sec-demo)=" not in out and "{prf:" not in out and "{eq}" not in out and "{cite" not in out
    assert '<p class="pgb-title">Definition 3.2 (Demo)</p>' in out
    assert "\\tag{3.1}\n$$" in out
    assert "By (3.1) and Theorem 3.1, see 3.1. A section and the demo" in out
    assert "(Williams, 1992); Sutton and Barto (2018) says so." in out
    assert '<div class="pgb-block pgb-proof">' in out and "&#8718;" in out


def test_every_reference_is_cited_by_author_and_year(refs):
    assert refs.citations and all(authors and re.fullmatch(r"\d{4}", year) for authors, year in refs.citations.values())


def test_a_changed_notebook_must_be_built_again(book, tmp_path):
    changed = tmp_path / "demo.md"
    changed.write_text((book / "demo.md").read_text().replace("import numpy", "import numpy as np"))
    with pytest.raises(FileNotFoundError, match="build it again"):
        slides.executed_notebook(changed, book / ".jupyter_cache")
    with pytest.raises(FileNotFoundError, match="build the book first"):
        slides.executed_notebook(book / "demo.md", tmp_path)


def test_unknown_labels_and_keys_are_errors(refs):
    with pytest.raises(slides.UnresolvedReference, match="eq-missing"):
        slides.myst_to_markdown("see {eq}`eq-missing`", refs)
    with pytest.raises(slides.UnresolvedReference, match="nobody2099"):
        slides.myst_to_markdown("{cite:p}`nobody2099`", refs)


def test_a_deck_works_offline(book, tmp_path):
    (deck,) = slides.build(book / "html", book / ".jupyter_cache", tmp_path, [book / "demo.md"])
    text = deck.read_text()
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", text), "the deck loads something from the network"
    for local in ('src="reveal.js/dist/reveal.js"', 'href="reveal.js/dist/reveal.css"', 'src="mathjax/es5/tex-chtml.js"'):
        assert local in text
        path = re.search(r'"([^"]+)"', local).group(1)
        assert (tmp_path / path).is_file(), path
    # reveal.js nests sections: two slides (an outer and an inner section each) and one sub-slide
    assert text.count("<section") == 5
    assert "import numpy" not in text and "a warning" not in text  # skipped cell, stderr
    assert "celltag_pseudocode" in text and "latex(sgd)" not in text  # output only
    assert '"grad": "\\\\nabla"' in text  # the book's macros
    assert (tmp_path / "index.html").read_text().count("<li>") == 1
