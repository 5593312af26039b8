#!/usr/bin/env python3
"""Give every chapter notebook its standard first cell and its slide metadata.

    python tools/notebooks.py chapters/*.md            # rewrite the files in place
    python tools/notebooks.py --check chapters/*.md    # exit 1 if a file would change

(`python3 tasks.py notebooks` runs the first over every chapter, then `sync`.)
Pages that are not notebooks (no kernelspec in the front matter) are left alone.
Running it twice changes nothing the second time.

1. The first code cell is the *bootstrap cell*, the same in every chapter: it
   imports the book's package and, where that is not installed (on Colab), first
   pip-installs it with its dependencies from the repository set in
   `_config.yml` (`repository: url`), at the release tag of the package's version
   (`v` + `version` in pyproject.toml: an immutable reference that matches the
   notebook, never a moving branch). While `repository: url` is empty (the
   repository is not yet confirmed), the cell installs nothing and says what to
   configure. The environment variable PGBOOK_INSTALL_SOURCE, when set, replaces
   the pip requirement (a local checkout, a wheel). Its last line is the chapter's
   import line. It is tagged `remove-cell` (absent from the HTML page, present in
   the notebook) and skipped in the slides. The import line is taken out of the chapter's old first cell, which
   follows it.

2. Slides. Markdown cells are split (with `+++` markers, which change nothing in
   the book) before every heading and around every directive block, and every
   cell gets a reveal.js slide type by these rules, in order:

   - a cell that already has `slideshow: slide_type` keeps it (to override a
     rule, write the metadata by hand);
   - `#` and `##` headings start a slide, `###` and deeper a sub-slide;
   - definitions, theorems, lemmas, corollaries, propositions, algorithms,
     examples, remarks and exercises are sub-slides of their own (they share the
     slide of a heading that stands alone right before them);
   - a proof of at most PROOF_FRAGMENT_LINES lines is a fragment under its
     theorem, a longer one a sub-slide; solutions are skipped;
   - a code cell that draws a figure or an animation or shows pseudocode
     (`plt.show()`, `latex(...)`, `HTML(...)`, `animate_...(...)`, or myst-nb `figure` metadata) is a
     sub-slide of its own (tools/slides.py shows it with its caption beside it); widget
     cells (`interact`) are skipped, since their static figure is shown instead;
     a cell tagged `remove-cell` (set-up and checks, absent from the page) is
     skipped; every other code cell (imports, set-up, checks) is skipped;
   - any other text continues the current slide, unless it would overflow it
     (more than SLIDE_LINES estimated lines), when it starts a sub-slide; text
     too long for one slide is cut before a paragraph that starts a new
     thought (not before an equation, nor before a paragraph in lower case).
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
IMPORT_LINE = "from utils import plt, Array, Float, Callable, jax, jnp, latex, gym"
INSTALL_VARIABLE = "PGBOOK_INSTALL_SOURCE"
BOOTSTRAP_TAG = "bootstrap"
BOOTSTRAP_TAGS = ["remove-cell", BOOTSTRAP_TAG]  # in the notebook (for Colab), not on the page
REMOVED = "remove-cell"
FORMAT = "md:myst"

SLIDE_LINES = 18
PROOF_FRAGMENT_LINES = 8
OWN_SLIDE_DIRECTIVES = {
    "prf:definition", "prf:theorem", "prf:lemma", "prf:corollary", "prf:proposition",
    "prf:algorithm", "prf:example", "prf:remark", "prf:axiom", "prf:conjecture",
    "prf:property", "prf:observation", "prf:criterion", "exercise", "figure",
}
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,}|:{3,})\s*(?P<directive>\{[^}]+\})?")
HEADING = re.compile(r"^(#{1,6})\s")
TARGET = re.compile(r"^\([^)\s]+\)=\s*$")
FIGURE_CODE = re.compile(r"plt\.show\(|(^|\n)\s*latex\(|HTML\(|to_jshtml|display\(|\banimate\w*\(")
WIDGET_CODE = re.compile(r"\binteract(ive)?\(")


def repository(config: Path = ROOT / "_config.yml") -> str | None:
    """The book's repository URL from `_config.yml` (`repository: url`), the one place it
    is set; None while it is empty, that is, until the real repository is confirmed."""
    settings = yaml.safe_load(config.read_text()).get("repository")
    if not isinstance(settings, dict) or "url" not in settings:
        raise ValueError(f"{config}: expected a `repository:` section with `url:` "
                         "(empty until the book's repository is confirmed)")
    url = str(settings["url"] or "").strip().rstrip("/")
    return url or None


def release_ref(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The release tag the notebooks install: `v` + the package's version (`v0.1.0`)."""
    # The `[project]` table's `version = "..."` line (tomllib is Python 3.11+; the book runs on 3.10).
    found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
    if found is None or not re.fullmatch(r"[0-9]+(\.[0-9]+)*([a-z0-9.+-]*)", found.group(1)):
        raise ValueError(f"{pyproject}: expected a release version (`version = \"0.1.0\"`)")
    return f"v{found.group(1)}"


def bootstrap_source(url: str | None, ref: str) -> str:
    """The first code cell of every chapter: install `git+<url>@<ref>` where the package is
    missing, or, with no repository configured, install nothing and say what to configure."""
    if url is None:
        comment = "# Where this book's package is missing (on Colab), install it from PGBOOK_INSTALL_SOURCE."
        source = (
            f'    source = os.environ.get("{INSTALL_VARIABLE}")\n'
            '    if not source:\n'
            '        raise ImportError(\n'
            '            "This notebook needs the book\'s package (`utils`), which is not installed, and this copy "\n'
            '            "of the book names no repository to install it from (`repository: url` in the book\'s "\n'
            '            "_config.yml is empty until the real repository is confirmed). Install the package "\n'
            '            "yourself (`pip install <a checkout or wheel of the book>`), or set the environment "\n'
            f'            "variable {INSTALL_VARIABLE} to a pip requirement or path, and run this cell again.")\n'
        )
    else:
        comment = f"# Where this book's package is missing (on Colab), install its release {ref}, the one this notebook was written for."
        source = f'    source = os.environ.get("{INSTALL_VARIABLE}", "git+{url}@{ref}")\n'
    return f"""\
{comment}
try:
    import utils.latex
except ImportError:
    import importlib, os, subprocess, sys
{source}    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], check=True)
    importlib.invalidate_caches()
    sys.modules.pop("utils", None)
{IMPORT_LINE}"""


def is_bootstrap(cell) -> bool:
    return cell.cell_type == "code" and BOOTSTRAP_TAG in cell.metadata.get("tags", [])


def set_bootstrap(nb, source: str) -> None:
    """Make the first code cell the bootstrap cell (updating an existing one)."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if code and is_bootstrap(nb.cells[code[0]]):
        nb.cells[code[0]].source = source
        nb.cells[code[0]].metadata["tags"] = list(BOOTSTRAP_TAGS)
        return
    cell = nbformat.v4.new_code_cell(source, metadata={
        "slideshow": {"slide_type": "skip"}, "tags": list(BOOTSTRAP_TAGS)})
    if not code:
        nb.cells.append(cell)
        return
    old = nb.cells[code[0]]
    lines = [line for line in old.source.splitlines() if line.strip() != IMPORT_LINE]
    old.source = "\n".join(lines).strip("\n")
    if not old.source.strip():
        del nb.cells[code[0]]
    nb.cells.insert(code[0], cell)


def split_markdown(text: str) -> list[str]:
    """Cut markdown before each heading and around each top-level directive block.

    A target line `(label)=` stays with the heading under it; a plain code block
    stays inside its text.
    """
    chunks: list[list[str]] = [[]]
    fence: str | None = None  # the closing fence of the block we are in
    in_directive = False
    for line in text.splitlines():
        if fence is not None:
            chunks[-1].append(line)
            if line.strip() == fence:
                fence = None
                if in_directive:
                    chunks.append([])
            continue
        opened = FENCE.match(line)
        body = [x for x in chunks[-1] if x.strip()]
        under_target = len(body) == 1 and TARGET.match(body[0]) is not None
        starts = TARGET.match(line) or (HEADING.match(line) and not under_target) \
            or (opened and opened.group("directive"))
        if starts and body:
            chunks.append([])
        chunks[-1].append(line)
        if opened:
            fence, in_directive = opened.group("fence"), bool(opened.group("directive"))
    out = ["\n".join(chunk).strip("\n") for chunk in chunks]
    return [chunk for chunk in out if chunk.strip()]


def directive(text: str) -> str | None:
    match = FENCE.match(text.lstrip("\n"))
    return match.group("directive")[1:-1].split()[0] if match and match.group("directive") else None


def heading_level(text: str) -> int | None:
    for line in text.splitlines():
        if line.strip() and not TARGET.match(line):
            match = HEADING.match(line)
            return len(match.group(1)) if match else None
    return None


def paragraphs(text: str) -> list[str]:
    """Top-level blocks of markdown separated by blank lines (fenced and $$ blocks stay whole)."""
    blocks: list[list[str]] = [[]]
    fence: str | None = None
    in_math = False
    for line in text.splitlines():
        if fence is None and not in_math and not line.strip():
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(line)
        stripped = line.strip()
        if fence is not None:
            fence = None if stripped == fence else fence
        elif in_math:
            in_math = not stripped.startswith("$$")  # `$$` or `$$ (label)` closes
        elif stripped.startswith("$$"):
            in_math = stripped.count("$$") == 1  # `$$ x $$` on one line opens and closes
        elif FENCE.match(line):
            fence = FENCE.match(line).group("fence")
    return ["\n".join(block) for block in blocks if block]


def estimated_lines(text: str) -> int:
    """Rough height of rendered markdown on a slide, in lines of about 100 characters."""
    lines = 0
    for block in paragraphs(text):
        if block.lstrip().startswith("$$") or FENCE.match(block.lstrip()):
            lines += max(3, math.ceil(1.5 * block.count("\n")))
        elif HEADING.match(block):
            lines += 2
        else:
            lines += math.ceil(len(" ".join(block.split())) / 100) + 1
    return lines


def split_long(chunk: str) -> list[str]:
    """Cut text taller than a slide before paragraphs that start a new thought.

    An equation stays with the sentence that introduces it, and a paragraph that
    begins in lower case stays with the one before it.
    """
    if directive(chunk) or estimated_lines(chunk) <= SLIDE_LINES:
        return [chunk]
    pieces: list[list[str]] = [[]]
    for block in paragraphs(chunk):
        starts_thought = not block.lstrip().startswith(("$$", "\\begin")) and not block.lstrip()[:1].islower()
        if pieces[-1] and starts_thought and estimated_lines("\n\n".join(pieces[-1] + [block])) > SLIDE_LINES:
            pieces.append([])
        pieces[-1].append(block)
    return ["\n\n".join(piece) for piece in pieces]


def slide_type(cell, previous: list) -> tuple[str, int]:
    """The rule-based slide type of a cell, and the estimated height it adds."""
    text = cell.source
    if cell.cell_type == "code":
        if is_bootstrap(cell) or REMOVED in cell.metadata.get("tags", []) or WIDGET_CODE.search(text) \
                or not (FIGURE_CODE.search(text) or (cell.metadata.get("mystnb") or {}).get("figure")):
            return "skip", 0
        return "subslide", SLIDE_LINES
    level, kind, height = heading_level(text), directive(text), estimated_lines(text)
    if level is not None:
        return ("slide" if level <= 2 else "subslide"), height
    if kind == "solution":
        return "skip", 0
    if kind == "prf:proof":
        lines = text.count("\n") - 1
        return ("fragment" if lines <= PROOF_FRAGMENT_LINES else "subslide"), height
    if kind in OWN_SLIDE_DIRECTIVES:
        alone = previous and previous[-1].cell_type == "markdown" and heading_level(previous[-1].source) is not None \
            and len([x for x in previous[-1].source.splitlines() if x.strip()]) <= 2
        return ("-" if alone else "subslide"), height
    return "-", height


def add_slides(nb) -> None:
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            chunks = [piece for chunk in split_markdown(cell.source) for piece in split_long(chunk)]
            for i, chunk in enumerate(chunks or [cell.source]):
                new = nbformat.v4.new_markdown_cell(chunk, metadata=dict(cell.metadata) if i == 0 else {})
                cells.append(new)
        else:
            cells.append(cell)
    used = 0
    for i, cell in enumerate(cells):
        cell.pop("id", None)
        given = cell.metadata.get("slideshow", {}).get("slide_type")
        kind, height = slide_type(cell, cells[:i])
        if given is None:
            if kind == "-" and used + height > SLIDE_LINES:
                kind = "subslide"
            if kind != "-":
                cell.metadata["slideshow"] = {"slide_type": kind}
        else:
            kind = given
        if kind in ("slide", "subslide"):
            used = height
        elif kind != "skip" and kind != "notes":
            used += height
    nb.cells = cells


def process(text: str, url: str | None, ref: str) -> str:
    """The chapter's MyST text with the bootstrap cell and the slide metadata."""
    nb = jupytext.reads(text, fmt=FORMAT)
    set_bootstrap(nb, bootstrap_source(url, ref))
    add_slides(nb)
    out = jupytext.writes(nb, fmt=FORMAT)
    if "jupytext_version:" not in text:  # jupytext adds its version; keep the header as it was
        out = re.sub(r"\n *jupytext_version: [^\n]*", "", out, count=1)
    return out


def is_notebook(text: str) -> bool:
    return text.startswith("---") and "kernelspec:" in text.split("---", 2)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="MyST notebooks (chapters/*.md)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    parser.add_argument("--config", type=Path, default=ROOT / "_config.yml", help="where the repository is set")
    args = parser.parse_args(argv)
    url, ref = repository(args.config), release_ref()
    stale = []
    for path in args.files:
        if path.suffix != ".md" or not path.is_file():
            raise ValueError(f"files: expected existing MyST .md notebooks, got {path}")
        text = path.read_text()
        if not is_notebook(text):
            continue
        new = process(text, url, ref)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    for path in stale:
        print(f"{'would rewrite' if args.check else 'rewrote'} {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
