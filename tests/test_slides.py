"""tools/slides.py: MyST to slides, and a deck that needs nothing from the network.

The decks of the real book are built and looked at in a browser by
tests/test_browser.py; here a small notebook shows each translation rule.
"""
from __future__ import annotations

import re
import shutil
import sys

import jupytext
import nbformat
import pytest
from jupyter_cache import get_cache
from bs4 import BeautifulSoup
from jupyter_cache.base import CacheBundleIn

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import slides  # noqa: E402

HTML = """<html><body>
<div class="math notranslate nohighlight" id="equation-eq-demo"><span class="eqno">(3.1)<a class="headerlink">#</a></span></div>
<div class="proof definition admonition" id="def-demo"><p class="admonition-title"><span class="caption-number">Definition 3.2 </span> (Demo)</p></div>
<div class="proof theorem admonition" id="thm-demo"><p class="admonition-title"><span class="caption-number">Theorem 3.1 </span></p></div>
<section id="demo"><h1><span class="section-number">3. </span>Demo<a class="headerlink">#</a></h1></section>
<figure id="fig-demo"><figcaption><span class="caption-number">Fig. 3.1 </span></figcaption></figure>
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


# A figure twice as wide as it is high, as one row of panels is (a tall one fills a slide alone).
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAAD0lEQVR4nGP8//8/AwMDAA7/Av+4xZ6ZAAAAAElFTkSuQmCC"
PRINTED = "printed by the figure cell: 12345"
CHECKED = "check passed: the demo claim holds"


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A one-page 'built book': its folder, HTML and executed notebook."""
    build = tmp_path_factory.mktemp("build")
    for name in ("_config.yml", "references.bib"):
        shutil.copy(ROOT / name, build / name)
    (build / "html" / "chapters").mkdir(parents=True)
    (build / "html" / "chapters" / "demo.html").write_text(HTML)
    (build / "html" / "index.html").write_text("<html></html>")
    slide = lambda kind: {"slideshow": {"slide_type": kind}}  # noqa: E731
    figure = {"figure": {"name": "fig-demo", "caption": "A *demo* figure of $x$, see {eq}`eq-demo`."},
              "image": {"alt": "One grey pixel."}}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Demo", metadata=slide("slide")),
        nbformat.v4.new_code_cell("import numpy", metadata={**slide("skip"), "tags": ["remove-cell"]}),
        nbformat.v4.new_markdown_cell(MARKDOWN, metadata=slide("slide")),
        nbformat.v4.new_code_cell("latex(sgd)", metadata=slide("subslide"), outputs=[
            nbformat.v4.new_output("display_data", data={"text/latex": "$$\\begin{array}{l} x \\end{array}$$",
                                                          "text/plain": "<sgd>"}),
            nbformat.v4.new_output("stream", name="stderr", text="a warning"),
        ]),
        nbformat.v4.new_code_cell("plot_demo()", metadata={**slide("subslide"), "tags": ["remove-input"], "mystnb": figure},
                                  outputs=[nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
                                           nbformat.v4.new_output("stream", name="stdout", text=PRINTED)]),
        nbformat.v4.new_code_cell("check_demo()", metadata={"tags": ["hide-input"]},
                                  outputs=[nbformat.v4.new_output("stream", name="stdout", text=CHECKED)]),
        nbformat.v4.new_code_cell("plot_setup()", metadata={**slide("subslide"), "tags": ["remove-cell"]},
                                  outputs=[nbformat.v4.new_output("display_data", data={"image/png": PNG})]),
        nbformat.v4.new_code_cell("1 + 1", metadata=slide("subslide"),
                                  outputs=[nbformat.v4.new_output("execute_result", data={"text/plain": "2222"})]),
        nbformat.v4.new_markdown_cell("An aside the instructor keeps for the notes only.", metadata=slide("notes")),
        nbformat.v4.new_markdown_cell("Hidden by hand.", metadata=slide("skip")),
        nbformat.v4.new_markdown_cell("The first sentence is the point. The second sentence, with its details, "
                                      "goes to the notes only.", metadata=slide("subslide")),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (build / "chapters").mkdir()
    source = build / "chapters" / "demo.md"  # the MyST notebook, and its execution in a jupyter-cache
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
    changed.write_text((book / "chapters" / "demo.md").read_text().replace("import numpy", "import numpy as np"))
    with pytest.raises(FileNotFoundError, match="build it again"):
        slides.executed_notebook(changed, book / ".jupyter_cache")
    with pytest.raises(FileNotFoundError, match="build the book first"):
        slides.executed_notebook(book / "chapters" / "demo.md", tmp_path)


def test_unknown_labels_and_keys_are_errors(refs):
    with pytest.raises(slides.UnresolvedReference, match="eq-missing"):
        slides.myst_to_markdown("see {eq}`eq-missing`", refs)
    with pytest.raises(slides.UnresolvedReference, match="nobody2099"):
        slides.myst_to_markdown("{cite:p}`nobody2099`", refs)


@pytest.fixture(scope="module")
def deck(book, tmp_path_factory):
    out = tmp_path_factory.mktemp("slides")
    (path,) = slides.build(book / "html", book / ".jupyter_cache", out, [book / "chapters" / "demo.md"], root=book)
    return out, path.read_text()


def test_a_deck_works_offline(deck):
    out, text = deck
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", text), "the deck loads something from the network"
    for local in ('src="reveal.js/dist/reveal.js"', 'href="reveal.js/dist/reveal.css"', 'src="mathjax/es5/tex-svg.js"',
                  'href="slides.css"'):
        assert local in text
        path = re.search(r'"([^"]+)"', local).group(1)
        assert (out / path).is_file(), path
    assert '"grad": "\\\\nabla"' in text  # the book's macros


def sections(text: str):
    """The deck's slides in order, each a (horizontal index, <section>)."""
    soup = BeautifulSoup(text, "html.parser")
    found = []
    for h, column in enumerate(soup.select("div.slides > section")):
        found.extend((h, s) for s in ([column] if "pgb-slide" in column.get("class", []) else
                                      column.find_all("section", recursive=False)))
    return found


def test_the_deck_opens_with_its_title_slide_and_every_slide_has_a_title(book, deck):
    out, text = deck
    found = sections(text)
    first = found[0][1]
    assert "pgb-title-slide" in first["class"] and first.h1.get_text(" ", strip=True) == "3 Demo"
    assert "A section" in first.select_one("ol.pgb-outline").get_text()  # the deck's sections
    page = first.find("a", string="the section in the book")["href"]
    assert (out / page).resolve() == (book / "html" / "chapters" / "demo.html").resolve()
    for _, section in found:
        heading = section.find(["h1", "h2"], class_="pgb-heading", recursive=False)
        assert heading is not None and heading.get_text(strip=True), section.prettify()[:300]
    # the title slide, then one column per `slide` cell: the chapter's title cell has no text of its own
    assert [h for h, _ in found] == [0, 1, 1, 1, 1, 1]


def test_slides_show_points_and_figures_and_the_notes_hold_the_text(deck):
    _, text = deck
    found = [s for _, s in sections(text)]
    visible = lambda s: " ".join(x.get_text(" ") for x in s.children if getattr(x, "name", None) != "aside")  # noqa: E731
    shown = " ".join(visible(s) for s in found)
    notes = " ".join(a.get_text(" ") for a in BeautifulSoup(text, "html.parser").select("aside.notes"))
    for printed in (PRINTED, CHECKED, "2222", "a warning"):
        assert printed not in text, printed  # printed output is never on a slide, nor in the notes
    assert "import numpy" not in text and "plot_setup" not in text and "plot_demo" not in text  # removed, input removed
    assert "1 + 1" in " ".join(shown.split())  # a code cell the instructor put on a slide shows its code
    assert "Hidden by hand" not in text
    assert "An aside the instructor keeps" in notes and "An aside the instructor keeps" not in shown
    assert "The first sentence is the point" in shown and "The second sentence" not in shown
    assert "The second sentence, with its details" in notes
    assert "By (3.1) and Theorem 3.1" in shown  # a point: the first sentence of its paragraph
    figure = BeautifulSoup(text, "html.parser").select("figure.pgb-figure")
    assert len(figure) == 1 and len(BeautifulSoup(text, "html.parser").select("img")) == 1
    assert figure[0].img["alt"] == "One grey pixel." and figure[0].img["src"].startswith("data:image/png;base64,")
    caption = figure[0].figcaption.get_text(" ", strip=True)
    assert caption.startswith("Fig. 3.1") and "demo figure of $x$, see (3.1)" in caption
    assert "celltag" not in text and "pgb-pseudocode" in text and "latex(sgd)" not in text  # output only
    by_hand = next(s for s in found if "The first sentence is the point" in visible(s))
    assert by_hand.h2.get_text(strip=True) == "A section"  # a sub-slide of text, titled by its section


def test_the_index_lists_the_decks(book, deck):
    out, _ = deck
    index = BeautifulSoup((out / "index.html").read_text(), "html.parser")
    assert index.style is not None and index.title.get_text() == "Policy Gradient Methods: lecture slides"
    assert [a["href"] for a in index.select("article.deck h2 a")] == ["demo.slides.html"]
    home = index.find("a", string="Read the book")["href"]
    assert (out / home).resolve() == (book / "html" / "index.html").resolve()


def test_condensed_text_keeps_points_equations_and_statements():
    text = """An agent interacts with an environment for $H$ steps. It observes a state, e.g. a position.

One episode produces a **trajectory**. Its density factorises step by step:

$$
x = 1
$$

where $x$ is the state. This is detail.

```{prf:theorem} Kept
:label: thm-kept

A statement. Kept whole, every sentence.
```

```{prf:proof}
The proof starts. Its second sentence goes.
```

```{solution} ex-demo
Not on a slide.
```

```{solution-start} ex-demo-code
:class: dropdown
```

```{solution-end}
```

- **Lead.** An item of a list: with a tail. More.
"""
    short = slides.condense(text)
    assert short.splitlines()[:3] == ["- An agent interacts with an environment for $H$ steps.",
                                      "- One episode produces a **trajectory**.", "- Its density factorises step by step"]
    assert "$$\nx = 1\n$$" in short and "where $x$ is the state." in short and "This is detail" not in short
    assert "A statement. Kept whole, every sentence." in short
    assert "- The proof starts." in short and "second sentence" not in short
    assert "Not on a slide" not in short and "- **Lead.** An item of a list" in short and "More" not in short
    assert "solution" not in short  # nor the markers around a coding exercise's solution cells
    assert slides.sentences("See Fig. 2 and $a. B$ here. Next one.") == ["See Fig. 2 and $a. B$ here.", "Next one."]
    long = " ".join(["word"] * 40)
    assert slides.shorten(long).endswith(" …") and len(slides.shorten(long).split()) <= slides.POINT_WORDS + 1
    assert slides.shorten("**Bold text that " + long + " ends**") .count("**") % 2 == 0


def test_text_too_tall_for_a_slide_is_cut_into_slides():
    points = "\n".join(f"- point {i}" + " word" * 12 for i in range(30))
    pieces = slides.split_for_slides(points)
    assert len(pieces) > 1 and all(slides.text_lines(p) <= slides.SLIDE_LINES for p in pieces)
    assert "\n".join(pieces).split("\n") == points.split("\n")
    proof = "```{prf:proof}\n" + "\n\n".join(f"Step {i} " + "word " * 30 for i in range(12)) + "\n```"
    parts = slides.split_for_slides(proof)
    assert len(parts) > 1 and parts[1].startswith("```{prf:proof} continued")
    assert all(":continues:" in p for p in parts[:-1]) and ":continues:" not in parts[-1]


def test_relative_links_of_a_page_work_from_the_decks(tmp_path):
    page, out = tmp_path / "html" / "chapters", tmp_path / "slides"
    moved = slides.relink('<a href="../../slides/index.html">x</a> <a href="other.html#a">y</a> '
                          '<a href="https://example.org/">z</a>', page, out)
    assert moved == ('<a href="index.html">x</a> <a href="../html/chapters/other.html#a">y</a> '
                     '<a href="https://example.org/">z</a>')


def test_the_book_links_to_the_decks_once_they_exist(tmp_path):
    import types

    import slides_link

    app = types.SimpleNamespace(outdir=str(tmp_path), config=types.SimpleNamespace())
    pathto = lambda name, resource: f"../{name}"  # noqa: E731  (as from a page in chapters/)
    slides_link.note_the_slides(app, app.config)
    context = {"header_buttons": [], "pathto": pathto}
    slides_link.add_slides_link(app, "chapters/intro", "page.html", context, None)
    assert context["header_buttons"] == []  # no decks yet: no link to a missing page
    (tmp_path / "slides").mkdir()
    (tmp_path / "slides" / "index.html").write_text("<html></html>")
    slides_link.note_the_slides(app, app.config)
    slides_link.add_slides_link(app, "chapters/intro", "page.html", context, None)
    (button,) = context["header_buttons"]
    assert button["url"] == "../slides/index.html" and button["type"] == "link"


def test_short_text_sub_slides_join_and_hand_set_types_are_kept(refs):
    slide = lambda kind: {"slideshow": {"slide_type": kind}}  # noqa: E731
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Part", metadata=slide("slide")),
        nbformat.v4.new_markdown_cell("One short point. With detail.", metadata=slide("subslide")),
        nbformat.v4.new_markdown_cell("Another short point. The next cell checks it.", metadata=slide("subslide")),
        nbformat.v4.new_markdown_cell("The next cell checks these claims."),
        nbformat.v4.new_markdown_cell("### Own heading\n\nStarts its own sub-slide.", metadata=slide("subslide")),
        nbformat.v4.new_markdown_cell("## Next part", metadata=slide("slide")),
        nbformat.v4.new_markdown_cell("Kept for the notes.", metadata=slide("notes")),
    ])
    found = slides.deck_slides(nb, refs, "Demo")
    assert [(s.kind, s.title) for s in found] == [("slide", "Part"), ("subslide", "Own heading"),
                                                  ("slide", "Next part")]
    text = "".join(found[0].body)
    assert "One short point." in text and "Another short point." in text and "cell" not in text
    assert "The next cell checks it." in "".join(found[0].notes)  # the notes keep every sentence
    assert found[2].section and "Kept for the notes." in "".join(found[2].notes)


def test_a_point_after_a_figure_goes_under_it(refs):
    slide = lambda kind: {"slideshow": {"slide_type": kind}}  # noqa: E731
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Part", metadata=slide("slide")),
        nbformat.v4.new_code_cell("plot()", metadata={**slide("subslide"), "tags": ["remove-input"]},
                                  outputs=[nbformat.v4.new_output("display_data", data={"image/png": PNG})]),
        nbformat.v4.new_markdown_cell("The figure shows one thing. In detail.", metadata=slide("subslide")),
        nbformat.v4.new_markdown_cell("```{prf:remark}\nA block keeps its own slide.\n```", metadata=slide("subslide")),
    ])
    found = slides.deck_slides(nb, refs, "Demo")
    assert [s.kind for s in found] == ["slide", "subslide", "subslide"] and found[1].figure
    assert "The figure shows one thing." in found[1].body[-1] and "Remark" in "".join(found[2].body)


def test_a_labelled_equation_inside_a_list_item_gets_its_number(refs):
    out = slides.myst_to_markdown("1. **Solve.** The step\n\n   $$\n   x = 1\n   $$ (eq-demo)\n", refs)
    assert "(eq-demo)" not in out
    assert "   \\tag{3.1}\n   $$" in out


def test_a_figure_of_two_rows_of_panels_is_tall_and_one_row_is_not():
    import base64
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def png(width, height):
        fig = plt.figure(figsize=(width, height))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=20)
        plt.close(fig)
        return base64.b64encode(buffer.getvalue()).decode()

    assert slides.is_tall("image/png", png(7.0, 6.4))
    assert not slides.is_tall("image/png", png(7.0, 3.2))
    assert not slides.is_tall("image/svg+xml", "<svg/>")


# A figure as high as it is wide (two rows of panels): 1 x 1 pixels.
TALL_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_a_tall_figure_takes_a_slide_of_its_own(refs):
    slide = lambda kind: {"slideshow": {"slide_type": kind}}  # noqa: E731
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Part", metadata=slide("slide")),
        nbformat.v4.new_markdown_cell("A point before it.", metadata=slide("subslide")),
        nbformat.v4.new_code_cell("plot()", metadata={**slide("subslide"), "tags": ["remove-input"]},
                                  outputs=[nbformat.v4.new_output("display_data", data={"image/png": TALL_PNG})]),
        nbformat.v4.new_markdown_cell("A point after it.", metadata=slide("subslide")),
    ])
    found = slides.deck_slides(nb, refs, "Demo")
    with_figure = [s for s in found if s.figure]
    assert len(with_figure) == 1 and len(with_figure[0].body) == 1 and "pgb-tall" in with_figure[0].body[0]
    assert not any("A point" in part for part in with_figure[0].body)


def test_a_table_is_shown_with_its_caption_beside_it(refs):
    """A markdown table output is on its slide like a figure, and the italic paragraph under it
    in the book becomes its caption there (not a point of its own); the text after it stays."""
    slide = lambda kind: {"slideshow": {"slide_type": kind}}  # noqa: E731
    table = "| method | return |\n|---|---:|\n| PPO | 500 |"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Part", metadata=slide("slide")),
        nbformat.v4.new_code_cell("show()", metadata={**slide("subslide"), "tags": ["remove-input"]},
                                  outputs=[nbformat.v4.new_output("display_data", data={"text/markdown": table})]),
        nbformat.v4.new_markdown_cell("*The final return of each method.*\n\nThe table says PPO wins. Clearly.",
                                      metadata=slide("subslide")),
    ])
    found = slides.deck_slides(nb, refs, "Demo")
    shown = [s for s in found if "<table>" in "".join(s.body)]
    assert len(shown) == 1, [s.body for s in found]
    body = "".join(shown[0].body)
    assert "<td>PPO</td>" in body and '<figcaption class="pgb-caption"><p>The final return of each method.</p>' in body
    assert not any("The final return" in part for s in found if s is not shown[0] for part in s.body)
    assert any("PPO wins" in "".join(s.body) for s in found)
    assert "*The final return" in nb.cells[2].source  # the notebook itself is not changed
    # Printed text is still never shown, table or not.
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text=table)]
    assert not any("<table>" in "".join(s.body) for s in slides.deck_slides(nb, refs, "Demo"))
