"""tools/notebooks.py: the standard first cell and the slide metadata of every chapter."""
from __future__ import annotations

import re
import shutil
import sys

import jupytext
import nbformat
import pytest

from conftest import ROOT, is_notebook, toc_files

sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402

CHAPTERS = [p for p in toc_files() if p.suffix == ".md" and is_notebook(p)]
SAMPLES = [ROOT / "chapters" / "intro.md", ROOT / "chapters" / "gradient_ascent.md"]


def slide_types(nb):
    return [c.metadata.get("slideshow", {}).get("slide_type", "-") for c in nb.cells]


@pytest.mark.parametrize("original", SAMPLES, ids=lambda p: p.stem)
def test_the_tool_is_idempotent_and_changes_no_content(tmp_path, original):
    copy = tmp_path / original.name
    shutil.copy(original, copy)
    assert notebooks.main([str(copy)]) == 0
    once = copy.read_text()
    assert notebooks.main([str(copy)]) == 0 and copy.read_text() == once  # a second run changes nothing
    assert notebooks.main(["--check", str(copy)]) == 0

    before, after = jupytext.read(original), jupytext.read(copy)
    text = lambda nb: [l for c in nb.cells if c.cell_type == "markdown" for l in c.source.splitlines() if l.strip()]  # noqa: E731
    assert text(after) == text(before), "splitting markdown cells must not change the text"
    code = lambda nb: [s for s in (c.source.replace(notebooks.IMPORT_LINE, "").strip() for c in nb.cells  # noqa: E731
                                   if c.cell_type == "code" and not notebooks.is_bootstrap(c)) if s]
    assert code(after) == code(before), "code cells must not change"

    first = next(c for c in after.cells if c.cell_type == "code")
    url, ref = notebooks.repository(), notebooks.release_ref()
    assert notebooks.is_bootstrap(first) and first.source == notebooks.bootstrap_source(url, ref)
    assert notebooks.IMPORT_LINE in first.source.splitlines()
    assert set(first.metadata["tags"]) == {"remove-cell", "bootstrap"}  # in the notebook, not on the page
    assert first.metadata["slideshow"] == {"slide_type": "skip"}

    types = slide_types(after)
    assert types[0] == "slide"  # the title
    headings = [t for c, t in zip(after.cells, types) if c.cell_type == "markdown" and re.match(r"#{1,2} ", c.source)]
    assert headings and set(headings) == {"slide"}
    for cell, kind in zip(after.cells, types):
        block = notebooks.directive(cell.source) if cell.cell_type == "markdown" else None
        if block in ("prf:definition", "prf:theorem"):
            assert kind in ("subslide", "-"), (kind, cell.source[:80])
        if block == "solution":
            assert kind == "skip"
        if cell.cell_type == "code" and "interact(" in cell.source:
            assert kind == "skip"
        if cell.cell_type == "code" and "plt.show()" in cell.source and "interact(" not in cell.source \
                and "remove-cell" not in cell.metadata.get("tags", []):
            assert kind == "subslide"


def test_a_chapter_round_trips_through_the_paired_notebook(tmp_path):
    copy = tmp_path / "gradient_ascent.md"
    shutil.copy(SAMPLES[1], copy)
    notebooks.main([str(copy)])
    md = jupytext.read(copy)
    twin = jupytext.reads(jupytext.writes(md, fmt="ipynb"), fmt="ipynb")
    assert [c.metadata.get("slideshow") for c in twin.cells] == [c.metadata.get("slideshow") for c in md.cells]
    as_cells = lambda nb: [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]  # noqa: E731
    assert as_cells(twin) == as_cells(md)


def test_splitting_keeps_targets_with_headings_and_code_inside_text():
    text = "Intro.\n\n(sec-x)=\n## Title\n\nText\n```python\n# not a heading\n```\nmore\n\n````{prf:proof}\n```{math}\nx\n```\n````\nafter"
    chunks = notebooks.split_markdown(text)
    assert chunks == ["Intro.", "(sec-x)=\n## Title\n\nText\n```python\n# not a heading\n```\nmore",
                      "````{prf:proof}\n```{math}\nx\n```\n````", "after"]


def test_rules_for_proofs_widgets_and_explicit_metadata():
    short = nbformat.v4.new_markdown_cell("```{prf:proof}\nOne line.\n```")
    long = nbformat.v4.new_markdown_cell("```{prf:proof}\n" + "line\n" * 20 + "```")
    assert notebooks.slide_type(short, [])[0] == "fragment"
    assert notebooks.slide_type(long, [])[0] == "subslide"
    widget = nbformat.v4.new_code_cell("widgets.interact(plot, eta=1.0)\nplt.show()")
    assert notebooks.slide_type(widget, [])[0] == "skip"
    removed = nbformat.v4.new_code_cell("plt.plot(x)\nplt.show()", metadata={"tags": ["remove-cell"]})
    assert notebooks.slide_type(removed, [])[0] == "skip"  # not on the page, so not on a slide
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## A", metadata={"slideshow": {"slide_type": "notes"}}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("plt.plot(x)\nplt.show()"),
    ])
    notebooks.add_slides(nb)
    assert slide_types(nb) == ["notes", "skip", "subslide"]


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="files"):
        notebooks.main([str(tmp_path / "missing.md")])
    config = tmp_path / "_config.yml"
    config.write_text("title: x\n")
    with pytest.raises(ValueError, match="repository"):
        notebooks.repository(config)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_the_standard_first_cell_and_slide_metadata(chapter):
    url, ref = notebooks.repository(), notebooks.release_ref()
    text = chapter.read_text()
    assert notebooks.process(text, url, ref) == text, (
        f"{chapter.name} lacks the standard first cell or slide metadata: run `python3 tasks.py notebooks`")


def test_text_taller_than_a_slide_is_cut_before_a_new_thought():
    sentence = "A sentence of about one hundred characters that goes on and on to fill a line of a slide. "
    intro = "## Heading\n\n" + (sentence * 6) + "gives\n\n$$\nx = 1\n$$ (eq-x)\n\nso that " + sentence * 3
    text = intro + "\n\n" + "\n\n".join(f"**Point {i}.** " + sentence * 4 for i in range(4))
    pieces = notebooks.split_long(text)
    assert len(pieces) > 1 and "\n\n".join(pieces) == "\n\n".join(notebooks.paragraphs(text))
    assert all(notebooks.estimated_lines(p) <= notebooks.SLIDE_LINES for p in pieces[1:])
    assert pieces[0].startswith("## Heading") and "$$ (eq-x)\n\nso that" in pieces[0]
    assert all(p.startswith("**Point") for p in pieces[1:])
    assert notebooks.split_long("```{prf:proof}\n" + sentence * 40 + "\n```") == ["```{prf:proof}\n" + sentence * 40 + "\n```"]


@pytest.mark.parametrize("source", ["plt.plot(x)\nplt.show()", "latex(sgd)", "animate_cartpole(physics, title='x')",
                                    "HTML(anim.to_jshtml())"])
def test_figures_pseudocode_and_animations_get_their_own_slide(source):
    assert notebooks.slide_type(nbformat.v4.new_code_cell(source), [])[0] == "subslide"
