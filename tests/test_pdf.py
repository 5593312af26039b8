"""The whole book as one PDF, as `python3 tasks.py pdf` builds it, read back with pdftotext.

Jupyter Book's LaTeX builder (XeLaTeX) with warnings as errors, into
`_build/latex/book.pdf`. It takes the notebooks' outputs from `_build/.jupyter_cache`,
which the HTML build (tests/test_build.py) fills: neither build executes a notebook
the other has executed. Then the HTML build, whose pages must link to the PDF.
Needs TeX Live and poppler-utils (`python3 tasks.py test` installs them).
"""
from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import jupytext
from markdown_it import MarkdownIt

from book_build import book_lock, build_book
from conftest import ROOT, toc_files

LATEX = ROOT / "_build" / "latex"
PDF = LATEX / "book.pdf"


def build_pdf() -> subprocess.CompletedProcess:
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run(
        [str(jupyter_book), "build", ".", "--builder", "pdflatex", "-W", "-n", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )


def sphinx_warnings(log: str) -> list[str]:
    # As in test_build.py: ipykernel's start-up notice is not about the book.
    return [line for line in log.splitlines()
            if re.search(r"\b(WARNING|ERROR)\b", line) and not line.lstrip().startswith("[IPKernelApp]")]


def section_titles(page: Path) -> list[str]:
    """The headings of a page's markdown cells (not those in code cells or directives)."""
    notebook = jupytext.read(page)
    titles = []
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        tokens = MarkdownIt("commonmark").parse(cell.source)
        for opening, inline in zip(tokens, tokens[1:]):
            if opening.type == "heading_open":
                titles.append(inline.content)
    return titles


def squeeze(text: str) -> str:
    """Lower-case letters and digits only: line breaks, ligatures, capitals and the
    chapter heads' letter spacing do not matter."""
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", text).lower())


def test_pdf_has_every_section_and_no_unresolved_reference():
    with book_lock():  # one build at a time in _build (test_build.py, test_browser.py)
        result = build_pdf()
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    assert not sphinx_warnings(log), "\n".join(sphinx_warnings(log))
    assert PDF.is_file(), f"{PDF} was not written"

    # What Sphinx cannot see: LaTeX's own unresolved references and glyphs missing from the fonts.
    latex_log = PDF.with_suffix(".log").read_text(errors="replace")
    problems = re.findall(r".*(?:undefined references|Reference `.*' on page .* undefined|multiply defined|Missing character).*",
                          latex_log)
    assert not problems, "\n".join(sorted(set(problems)))

    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(PDF), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "??" not in text, [line for line in text.splitlines() if "??" in line]
    squeezed = squeeze(text)
    for page in toc_files():
        titles = section_titles(page)
        assert titles, f"{page.name} has no headings"
        for title in titles:
            # Mathematics in a title is typeset; its words are what pdftotext reads back.
            for words in re.split(r"\$[^$]*\$", title):
                assert squeeze(words) in squeezed, f"{page.name}: section {title!r} is not in {PDF.name}"

    # Every figure the LaTeX source includes is in the PDF, and every one the build copied is included.
    tex = (LATEX / "book.tex").read_text()
    included = re.findall(r"\\sphinxincludegraphics(?:\[[^\]]*\])?\{\{?([^}]+?)\}", tex)
    copied = {path.stem for path in LATEX.glob("*.png")} | {path.stem for path in LATEX.glob("*.jpg")}
    assert copied <= {Path(name).stem for name in included}, copied - {Path(name).stem for name in included}
    images = subprocess.run(["pdfimages", "-list", str(PDF)], capture_output=True, text=True, check=True).stdout
    embedded = [row for row in images.splitlines()[2:] if row.split()[2] == "image"]
    assert len(embedded) >= len(included) > 0, f"{len(included)} figures included, {len(embedded)} in the PDF"

    # Every pseudocode box is typeset, and none is left as LaTeX source.
    algorithms = tex.count(r"\textbf{Algorithm: }")
    assert algorithms > 0 and text.count("Algorithm:") == algorithms, (algorithms, text.count("Algorithm:"))
    assert "\\begin{array}" not in text and "\\gets" not in text


def test_html_links_to_the_pdf():
    """Built after the PDF, every page's download menu links to its copy in the HTML."""
    if not PDF.is_file():
        with book_lock():
            assert build_pdf().returncode == 0
    with book_lock():
        result = build_book()
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    html = ROOT / "_build" / "html"
    copy = html / PDF.name
    assert copy.is_file() and copy.read_bytes() == PDF.read_bytes(), f"{copy} is not the built PDF"
    for page in toc_files():
        path = html / page.relative_to(ROOT).with_suffix(".html")
        links = re.findall(r'href="([^"]*book\.pdf)"', path.read_text())
        assert links, f"{path.name} does not link to the PDF"
        for link in links:
            assert (path.parent / link).resolve() == copy.resolve(), f"{path.name} links to {link}"
