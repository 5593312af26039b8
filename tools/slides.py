#!/usr/bin/env python3
"""Build a reveal.js slide deck for every section of the built book.

    python tools/slides.py        # after `jupyter-book build .`; decks in _build/html/slides

(`python3 tasks.py slides` builds the book, then runs this; `--build`, `--out` and
`--source` build from another build or book folder.) The decks live inside the HTML
output, so they are published with the book; every page's header links to their index
(tools/slides_link.py) and each deck's title slide links back to its section.

Each deck is read from the section's MyST notebook, `chapters/<name>.md`, with the
outputs of the book's own execution (its jupyter-cache, `_build/.jupyter_cache`). It
opens with a title slide (the book, the section's number and title, its outline); the
notebook's slide metadata (see tools/notebooks.py; an instructor may set any cell's
`slideshow: slide_type` by hand: `slide`, `subslide`, `fragment`, `skip`, `notes`)
cuts the rest into slides, and every slide and sub-slide carries a title (its own
heading, or that of the section it is in). A slide shows the points of its text and
its key statements: headings, display equations, definitions, theorems and algorithms
whole, and one point per paragraph (its first sentence, shortened, and the sentence
that introduces an equation); proofs and examples are cut to points the same way. The
book's full paragraphs go into the speaker notes (`<aside class="notes">`, shown by
pressing S); sentences about the notebook's cells ("the next cell checks ...") stay
there. A sub-slide of plain text that fits on the text slide before it joins it (the
chapters cut their text at the book's paragraph lengths); text too tall for a slide
continues on a sub-slide of the same title, and the deck sets a slide's text a
little smaller (to at most 70%) when it would still overflow the 1280 x 720 slide.

Code cells: a cell tagged `remove-cell` or skipped is not on a slide; a figure,
pseudocode or animation fills a slide of its own, with its myst-nb caption
(`mystnb: figure: caption`, numbered as in the book) beside it and its alt text
(`mystnb: image: alt`); a cell whose input is hidden or removed shows only its figure;
a table (a markdown output) fills a slide like a figure, with the italic paragraph the
book sets under it as its caption (the deck sets it smaller until it fits); printed
output (streams, plain-text results) never appears.

nbconvert's markdown renderer reads CommonMark, not MyST, so the text is translated:
definitions, theorems, proofs and exercises become titled boxes numbered as in the
book, labelled equations get the book's numbers (`\\tag`), and `{eq}`, `{prf:ref}`,
`{ref}`, `{numref}` and `{cite}` roles become the text the book shows (numbers are read
from the built HTML, citations from references.bib).

The decks load reveal.js and MathJax 3 from copies beside them (npm packages that
`python3 tasks.py` installs into .cache/web), never from a CDN, so they work offline:
open `_build/html/slides/index.html`.
"""
from __future__ import annotations

import argparse
import base64
import html
import json
import math
import os
import re
import shutil
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
import yaml
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / ".cache" / "web" / "node_modules"
TEMPLATES = Path(__file__).resolve().parent / "slides_template"
RICH_OUTPUTS = ("image/png", "image/jpeg", "image/svg+xml", "text/latex", "text/html", "text/markdown", "video/mp4")
# A table's caption in the book: the italic paragraph that opens the markdown cell after it.
TABLE_CAPTION = re.compile(r"\A\s*\*(?!\*)(?P<caption>[^\n](?:.|\n(?!\s*\n))*?)\*\s*(?:\n\s*\n|\Z)")
# A proof's solution and the markers around a coding exercise's solution cells: not on a slide.
SOLUTIONS = ("solution", "solution-start", "solution-end")
DIRECTIVE_NAMES = {
    "prf:proof": "Proof", "solution": "Solution", "note": "Note", "important": "Important",
    "warning": "Warning", "tip": "Tip", "hint": "Hint", "admonition": "",
}


class UnresolvedReference(ValueError):
    """A role names a label that the built book does not define."""


def toc_pages(root: Path = ROOT) -> list[str]:
    """Every page `_toc.yml` lists, in order, without suffix (`chapters/intro`)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return [re.sub(r"\.(md|ipynb)$", "", page) for page in pages]


class References:
    """Numbers and titles of the book's labels, read from its HTML, and its citations."""

    def __init__(self, html_dir: Path, bibfile: Path):
        self.numbers: dict[str, str] = {}   # label -> "Definition 1.1" / "(1.2)" / "Figure 3"
        self.titles: dict[str, str] = {}    # label -> section title
        for page in sorted(html_dir.rglob("*.html")):
            soup = BeautifulSoup(page.read_text(), "html.parser")
            for node in soup.select("[id]"):
                label = node["id"]
                if label.startswith("equation-"):
                    number = node.find("span", class_="eqno")
                    if number is not None:
                        self.numbers[label[len("equation-"):]] = number.get_text(" ", strip=True).rstrip("#").strip()
                    continue
                caption = node.find("span", class_="caption-number")
                if caption is not None and node.name in ("div", "figure", "table"):
                    self.numbers.setdefault(label, caption.get_text(" ", strip=True))
                if node.name == "section":
                    heading = node.find(re.compile("^h[1-6]$"))
                    if heading is not None:
                        self.titles.setdefault(label, heading.get_text(" ", strip=True).rstrip("#").strip())
            for span in soup.select("span[id]"):  # MyST targets `(label)=` become a span before the section
                section = span.parent if span.parent.name == "section" else span.find_next("section")
                heading = section.find(re.compile("^h[1-6]$")) if section is not None else None
                if heading is not None:
                    self.titles.setdefault(span["id"], heading.get_text(" ", strip=True).rstrip("#").strip())
        self.citations = self._read_bib(bibfile)

    @staticmethod
    def _read_bib(bibfile: Path) -> dict[str, tuple[str, str]]:
        from author_year_labels import authors_and_year
        from pybtex.database import parse_file

        return {key: authors_and_year(entry) for key, entry in parse_file(str(bibfile)).entries.items()}

    def number(self, label: str) -> str:
        if label not in self.numbers:
            raise UnresolvedReference(f"no numbered label {label!r} in the built book")
        return self.numbers[label]

    def cite(self, role: str, keys: str) -> str:
        found = []
        for key in [k.strip() for k in keys.split(",") if k.strip()]:
            if key not in self.citations:
                raise UnresolvedReference(f"no entry {key!r} in references.bib")
            found.append(self.citations[key])
        if role in ("cite:t", "cite:ts"):
            return ", ".join(f"{authors} ({year})" for authors, year in found)
        text = "; ".join(f"{authors}, {year}" for authors, year in found)
        return text if role == "cite:ps" or role == "cite:alp" else f"({text})"

    def role(self, name: str, content: str) -> str:
        """The text the book shows for ``{name}`content` ``."""
        explicit = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", content)
        text, label = (explicit.group(1), explicit.group(2)) if explicit else (None, content.strip())
        if name == "eq":
            return self.number(label)
        if name in ("prf:ref", "numref"):
            return text.replace("{number}", self.number(label).split()[-1]) if text else self.number(label)
        if name == "ref":
            if text:
                return text
            if label not in self.titles and label not in self.numbers:
                raise UnresolvedReference(f"no label {label!r} in the built book")
            return self.titles.get(label) or self.numbers[label]
        if name.startswith("cite"):
            return self.cite(name, content)
        if name == "math":
            return f"${content}$"
        if name in ("doc", "download", "term", "abbr", "guilabel", "kbd", "code", "sub", "sup"):
            return text or label
        raise UnresolvedReference(f"the role {{{name}}} has no slide form")


ROLE = re.compile(r"\{(?P<name>[a-z][\w:-]*)\}`(?P<content>[^`]+)`")
TARGET = re.compile(r"^\([^)\s]+\)=\s*$")
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,}|:{3,})\s*\{(?P<name>[^}]+)\}\s*(?P<argument>.*)$")
LABELLED_MATH_END = re.compile(r"^(?P<indent>\s*)\$\$\s*\((?P<label>[^)\s]+)\)\s*$")  # also inside a list item


def myst_to_markdown(text: str, refs: References) -> str:
    """CommonMark with HTML blocks that nbconvert renders as the book shows `text`."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if TARGET.match(line):
            i += 1
            continue
        opened = FENCE.match(line)
        if opened:
            fence = opened.group("fence")
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == fence), len(lines))
            body = lines[i + 1:end]
            options = {}
            while body and re.match(r"^:[\w-]+:", body[0]):
                key, _, value = body.pop(0)[1:].partition(":")
                options[key] = value.strip()
            out.append(directive_html(opened.group("name").strip(), opened.group("argument").strip(),
                                      options, "\n".join(body), refs))
            i = end + 1
            continue
        labelled = LABELLED_MATH_END.match(line)
        if labelled:
            out.append(f"{labelled.group('indent')}\\tag{{{refs.number(labelled.group('label')).strip('()')}}}")
            out.append(f"{labelled.group('indent')}$$")
        else:
            out.append(line)
        i += 1
    converted = "\n".join(out)
    return ROLE.sub(lambda m: html.escape(refs.role(m.group("name"), m.group("content")), quote=False), converted)


def directive_html(name: str, argument: str, options: dict, body: str, refs: References) -> str:
    if name in ("bibliography", "tableofcontents", "glue", "code-cell", "solution-start", "solution-end"):
        return ""
    kind = name.split(":")[-1]
    label = options.get("label")
    if name == "solution":
        title, argument = "Solution", ""
    elif label and label in refs.numbers:
        title = refs.numbers[label]
    else:
        title = DIRECTIVE_NAMES.get(name, kind.capitalize())
    if argument:
        title = f"{title} ({argument})" if title else argument
    inner = myst_to_markdown(body, refs).strip()
    end = ' <span class="pgb-qed">&#8718;</span>' if name == "prf:proof" and "continues" not in options else ""
    title_html = ROLE.sub(lambda m: html.escape(refs.role(m.group("name"), m.group("content")), quote=False), title)
    return (f'<div class="pgb-block pgb-{html.escape(kind)}">\n'
            f'<p class="pgb-title">{title_html}</p>\n\n{inner}{end}\n\n</div>\n')


# --- Slide text: points and equations on the slide, the book's paragraphs in the notes ---

PROTECTED = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|\{[a-z][\w:-]*\}`[^`]+`|`[^`]+`|\[[^\]]*\]\([^)]*\)", re.S)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\x00*_])")
ABBREVIATIONS = re.compile(r"(?:\b(?:e\.g|i\.e|cf|vs|resp|etc|approx|Fig|Eq|Eqs|Sec|al|No)\.|\b[A-Z]\.)$")
LIST_ITEM = re.compile(r"^(\s{0,3})([-*+]|\d+[.)])\s+")
POINT_WORDS = 24
# Sentences about the notebook's cells, which a slide does not show ("The next cell checks ...").
ABOUT_CELLS = re.compile(r"\b(next|following|previous|above|below|this|that) (code )?cells?\b|\bcells? (below|above)\b",
                         re.IGNORECASE)
# Statements a lecture shows whole; the other blocks (proofs, examples, remarks) are cut to points.
WHOLE_BLOCKS = {
    "prf:definition", "prf:theorem", "prf:lemma", "prf:corollary", "prf:proposition", "prf:algorithm",
    "prf:axiom", "prf:conjecture", "prf:property", "prf:observation", "prf:criterion", "exercise",
    "figure", "math", "code-block", "code",
}


def _protect(text: str) -> tuple[str, list[str]]:
    """`text` with inline math, roles, code and links replaced by \\x00N\\x00 (one word each)."""
    kept: list[str] = []

    def hide(match):
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    return PROTECTED.sub(hide, text), kept


def _restore(text: str, kept: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)


def sentences(paragraph: str) -> list[str]:
    """The sentences of a markdown paragraph (never cut inside math, a role or a link)."""
    text, kept = _protect(" ".join(paragraph.split()))
    pieces, start = [], 0
    for match in SENTENCE_END.finditer(text):
        if ABBREVIATIONS.search(text[start:match.start()]):
            continue
        pieces.append(text[start:match.start()])
        start = match.end()
    pieces.append(text[start:])
    return [_restore(p, kept).strip() for p in pieces if p.strip()]


def _balanced(text: str) -> str:
    """Close the emphasis and parentheses that a cut left open."""
    if text.count("**") % 2:
        text += "**"
    if text.replace("**", "").count("*") % 2:
        text += "*"
    return text + ")" * max(0, text.count("(") - text.count(")"))


def shorten(sentence: str, words: int = POINT_WORDS) -> str:
    """A sentence as a slide point: whole when short, else its first clause or first `words` words."""
    text, kept = _protect(sentence)
    if len(text.split()) <= words:
        return sentence.rstrip(":;,")
    for separator in (": ", "; ", " — ", " -- "):
        at = text.find(separator)
        if at > 0 and 5 <= len(text[:at].split()) <= words:
            return _restore(_balanced(text[:at]), kept)
    head = " ".join(text.split()[:words])
    comma = head.rfind(", ")
    if comma > 0 and len(head[:comma].split()) >= words // 3:
        head = head[:comma]
    return _restore(_balanced(head.rstrip(",;:")), kept) + " …"


def _split_block(block: str) -> tuple[str, str, list[str], str]:
    """A fenced directive as (opening line, options, body lines, closing line)."""
    lines = block.splitlines()
    opening, closing, body = lines[0], lines[-1], lines[1:-1]
    options = []
    while body and re.match(r"^:[\w-]+:", body[0]):
        options.append(body.pop(0))
    return opening, "\n".join(options), body, closing


def condense(text: str) -> str:
    """MyST text cut to what a slide shows: headings, display equations, the statements of
    definitions and theorems, and one point per paragraph (its first sentence, shortened,
    and the sentence that introduces an equation right after it)."""
    from notebooks import FENCE, HEADING, TARGET, directive, paragraphs

    blocks = paragraphs(text)
    out: list[tuple[str, str]] = []  # (kind, markdown); consecutive points form one list
    for i, block in enumerate(blocks):
        stripped = block.lstrip()
        following = blocks[i + 1].lstrip() if i + 1 < len(blocks) else ""
        if TARGET.match(stripped) or HEADING.match(stripped) or stripped.startswith(("$$", "\\begin", "<", "|")):
            out.append(("block", block))
        elif FENCE.match(stripped):
            name = directive(stripped)
            if name in SOLUTIONS:
                continue
            if name is None or name in WHOLE_BLOCKS:
                out.append(("block", block))
                continue
            opening, options, body, closing = _split_block(block)
            inner = condense("\n".join(body))
            out.append(("block", "\n".join(x for x in (opening, options, inner, closing) if x)))
        elif LIST_ITEM.match(block):
            items: list[list[str]] = []
            for line in block.splitlines():
                if LIST_ITEM.match(line) and len(LIST_ITEM.match(line).group(1)) == 0:
                    items.append([line])
                elif items:
                    items[-1].append(line)
            for item in items:
                marker = LIST_ITEM.match(item[0]).group(2)
                body = " ".join(" ".join(item)[LIST_ITEM.match(item[0]).end():].split())
                out.append(("point", f"{marker} {list_point(body)}"))
        else:
            said = sentences(block)
            if not said:
                continue
            if said[0][:1].islower():  # "where ...", "and ...": it finishes the equation before it
                out.append(("block", shorten(said[0])))
                continue
            points = [shorten(said[0])]
            if len(said) > 1 and following.startswith(("$$", "\\begin")):
                points.append(shorten(said[-1]))
            out.extend(("point", f"- {p}") for p in points if not ABOUT_CELLS.search(p))
    text_out = ""
    for n, (kind, markdown) in enumerate(out):
        joiner = "\n" if n and kind == "point" and out[n - 1][0] == "point" else "\n\n"
        text_out += (joiner if n else "") + markdown
    return text_out


def list_point(item: str) -> str:
    """A list item as a point: a bold lead-in ("**REINFORCE.** ...") and its first clause."""
    lead = re.match(r"^(\*\*[^*]+\*\*[.:]?)\s*(.*)$", item)
    if lead:
        rest = sentences(lead.group(2))
        return f"{lead.group(1)} {shorten(rest[0], POINT_WORDS // 2)}" if rest else lead.group(1)
    said = sentences(item)
    return shorten(said[0]) if said else item


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


# A statement shown whole (a theorem, an exercise) is cut only when this much taller than a
# slide: up to that, the deck sets it smaller (to 70%, FIT_MIN in deck.html.j2).
WHOLE_BLOCK_SLACK = 1.3
FIGURE_LEAD_LINES = 4
FIGURE_LINES = 6.75  # what a figure counts for in a slide's lines (it shrinks to the room left)
# A sub-slide of plain text (no heading, no block) joins the text slide before it while
# both fit in this many lines: the chapters cut their text at the book's paragraph
# lengths (tools/notebooks.py), and a slide's points are much shorter.
SHORT_SLIDE_LINES = 9  # a sub-slide of at most this much text takes the figure after it, below its points
SLIDE_LINES = 13.5  # lines of slide text (30 px, 1.35 line height) under the title of a 1280 x 720 slide
LINE_CHARS = 80


def text_lines(text: str) -> float:
    """Rough height of condensed MyST on a slide, in lines of text (display math is taller)."""
    from notebooks import FENCE, HEADING, paragraphs

    lines = 0.0
    for block in paragraphs(text):
        stripped = block.strip()
        if stripped.startswith(("$$", "\\begin")):
            rows = [r for r in re.split(r"\\\\", stripped.strip("$")) if r.strip()]
            lines += 0.6 + sum(2.1 if re.search(r"\\(frac|sum|int|prod|max|min|sup|inf|underbrace|binom)", r)
                               else 1.3 for r in rows)
        elif FENCE.match(stripped):
            lines += 1.6 + text_lines("\n".join(_split_block(stripped)[2]))
        elif HEADING.match(stripped):
            lines += 1.5
        else:
            for line in (stripped.splitlines() if LIST_ITEM.match(stripped) else [" ".join(stripped.split())]):
                plain = re.sub(r"\$[^$]*\$", "xxxxx", line)
                lines += math.ceil(max(1, len(plain)) / LINE_CHARS) + (0.15 if LIST_ITEM.match(line) else 0.35)
    return lines


def split_for_slides(text: str, budget: float = SLIDE_LINES) -> list[str]:
    """Condensed MyST cut into pieces that each fit a slide, at block boundaries: a list
    between its points, a proof or an example inside it (its pieces titled "continued")."""
    from notebooks import FENCE, directive, paragraphs

    pieces: list[list[str]] = [[]]

    def add(block: str) -> None:
        if pieces[-1] and text_lines(join_blocks(pieces[-1] + [block])) > budget:
            pieces.append([])
        pieces[-1].append(block)

    for block in paragraphs(text):
        stripped = block.strip()
        if text_lines(stripped) <= budget:
            add(block)
        elif LIST_ITEM.match(stripped):
            for line in stripped.splitlines():
                add(line)
        elif FENCE.match(stripped) and (directive(stripped) not in WHOLE_BLOCKS or
                                        text_lines(stripped) > WHOLE_BLOCK_SLACK * budget):
            opening, options, body, closing = _split_block(stripped)
            parts = split_for_slides("\n".join(body), budget - 2)
            for n, part in enumerate(parts):
                head = opening if n == 0 else f"{opening.split('}')[0]}}} continued"
                more = ":continues:" if n < len(parts) - 1 else ""  # no end-of-proof mark yet
                add("\n".join(x for x in (head, options, more, part, closing) if x))  # the label: its number
        else:
            add(block)  # one statement or one equation taller than a slide: set smaller in the browser
    return [join_blocks(piece) for piece in pieces if piece]


def join_blocks(blocks: list[str]) -> str:
    """Markdown blocks as one text; the points of one list stay one (tight) list."""
    text = blocks[0]
    for before, block in zip(blocks, blocks[1:]):
        tight = LIST_ITEM.match(before.strip().splitlines()[-1]) and LIST_ITEM.match(block.strip())
        text += ("\n" if tight else "\n\n") + block
    return text


# --- Decks: sections with a title, their points, figures and notes ---

@dataclass
class Slide:
    """One reveal.js section: `kind` is "slide" (a new column) or "subslide" (below it)."""
    kind: str
    title: str = ""
    level: int = 2
    body: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figure: bool = False
    lines: float = 0.0  # estimated height of the text so far (text_lines)
    text_only: bool = True  # points only: no figure, code or titled block
    section: bool = False  # a section's title slide (its heading and nothing else)


def render(markdown: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(markdown)


def notebooks_directive(text: str) -> str | None:
    from notebooks import directive

    return directive(text)


def inline_html(markdown: str, refs: References) -> str:
    """One line of MyST (a heading) as HTML without its paragraph."""
    text = render(myst_to_markdown(markdown, refs)).strip()
    return re.sub(r"^<p>(.*)</p>$", r"\1", text, flags=re.S)


def slide_type(cell) -> str:
    return cell.metadata.get("slideshow", {}).get("slide_type", "-") or "-"


def leading_heading(text: str) -> tuple[int, str, str] | None:
    """(level, title, the rest) when `text` starts with a heading (after any target lines)."""
    from notebooks import HEADING, TARGET

    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.strip() or TARGET.match(line):
            continue
        match = HEADING.match(line)
        if match is None:
            return None
        return len(match.group(1)), line[match.end():].strip(), "\n".join(lines[i + 1:])
    return None


def code_outputs(cell) -> list[tuple[str, object]]:
    """The rich outputs a slide shows, as (mime type, data); printed text never."""
    shown = []
    for output in cell.get("outputs", []):
        if output.output_type not in ("display_data", "execute_result"):
            continue  # streams (printed text) and errors
        data = output.get("data", {})
        mime = next((m for m in RICH_OUTPUTS if m in data), None)
        if mime is not None:
            shown.append((mime, data[mime]))
    return shown


# Pseudocode's font size on a slide (em), and how many of its rows fit at that size on the slide
# it has to itself (beside text, a long algorithm had no room); the deck's fitSlide sets it
# smaller still if it does not fit.
PSEUDOCODE_EM, PSEUDOCODE_ROWS = 0.75, 17


# A figure at least this tall for its width (two rows of panels and more) fills a slide of its
# own: beside a lead-in or a point under it, it would be set too small to read.
TALL_ASPECT = 0.6


def is_tall(mime: str, data) -> bool:
    """Whether a PNG output is at least TALL_ASPECT times as high as it is wide (its header)."""
    if mime != "image/png":
        return False
    data = "".join(data) if isinstance(data, list) else data
    header = base64.b64decode(data.strip()[:44])  # the signature and the IHDR chunk
    width, height = struct.unpack(">II", header[16:24])
    return width > 0 and height >= TALL_ASPECT * width


def output_html(mime: str, data, alt: str) -> str:
    data = "".join(data) if isinstance(data, list) else data
    if mime in ("image/png", "image/jpeg"):
        return f'<img src="data:{mime};base64,{data.strip()}" alt="{html.escape(alt)}">'
    if mime == "image/svg+xml":
        return f'<div class="pgb-svg" role="img" aria-label="{html.escape(alt)}">{data}</div>'
    if mime == "text/latex":
        # A long algorithm is set smaller, so that all of its rows fit on one slide.
        rows = data.count("\\\\\n") + 1
        size = PSEUDOCODE_EM * min(1.0, PSEUDOCODE_ROWS / rows)
        return (f'<div class="pgb-pseudocode" style="font-size: {size:.2f}em">'
                f'{html.escape(data, quote=False)}</div>')
    if mime == "video/mp4":
        return f'<video controls src="data:video/mp4;base64,{data.strip()}"></video>'
    if mime == "text/markdown":  # a table (myst-nb renders it as markdown in the book)
        return f'<div class="pgb-table">{render(data)}</div>'
    return f'<div class="pgb-html-output">{data}</div>'


def figure_html(cell, refs: References) -> str | None:
    """A code cell's figure (or pseudocode, animation) with its caption beside it; None
    when the cell shows nothing rich."""
    outputs = code_outputs(cell)
    if not outputs:
        return None
    settings = cell.metadata.get("mystnb", {}) or {}
    figure = settings.get("figure", {}) or {}
    caption, name = figure.get("caption") or cell.metadata.get("pgb_table_caption"), figure.get("name")
    alt = (settings.get("image", {}) or {}).get("alt") or (" ".join(caption.split()) if caption else "")
    media = "\n".join(output_html(mime, data, alt) for mime, data in outputs)
    tall = " pgb-tall" if any(is_tall(mime, data) for mime, data in outputs) else ""
    if not caption:
        return f'<div class="pgb-figure pgb-uncaptioned{tall}"><div class="pgb-media">{media}</div></div>'
    number = refs.numbers.get(name, "") if name else ""
    label = f'<span class="pgb-caption-number">{html.escape(number)}</span> ' if number else ""
    text = render(myst_to_markdown(caption.strip(), refs)).strip()
    text = re.sub(r"^<p>", f"<p>{label}", text, count=1) if text.startswith("<p>") else label + text
    return (f'<figure class="pgb-figure{tall}"><div class="pgb-media">{media}</div>'
            f'<figcaption class="pgb-caption">{text}</figcaption></figure>')


def attach_table_captions(cells: list) -> list:
    """The cells, with each table's caption moved beside it: a code cell whose output is a
    markdown table, followed by a markdown cell that opens with an italic paragraph (the
    book's caption under the table), takes that paragraph as its caption
    (`pgb_table_caption`), and the markdown cell keeps the rest. Copies; `cells` is unchanged."""
    out = [nbformat.from_dict(cell) for cell in cells]
    for cell, after in zip(out, out[1:]):
        if cell.cell_type != "code" or after.cell_type != "markdown" or slide_type(after) == "skip":
            continue
        if not any(mime == "text/markdown" for mime, _ in code_outputs(cell)):
            continue
        match = TABLE_CAPTION.match(after.source)
        if match is not None:
            cell.metadata["pgb_table_caption"] = " ".join(match.group("caption").split())
            after.source = after.source[match.end():]
    return out


def code_html(cell) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return f'<div class="pgb-code">{highlight(cell.source, PythonLexer(), HtmlFormatter(cssclass="highlight"))}</div>'


def deck_slides(nb, refs: References, chapter_title: str) -> list[Slide]:
    """The executed notebook as slides, in order, after its title slide.

    Cells skipped (slide type `skip`) or removed from the page (`remove-cell`) are not
    shown; a cell whose input is hidden or removed (`hide-input`, `remove-input`) shows
    only its figure; printed output never appears. A cell of slide type `notes` goes
    whole into the speaker notes.
    """
    slides: list[Slide] = []
    heading = html.escape(chapter_title)
    cells = attach_table_captions(nb.cells)

    def start(kind: str) -> Slide:  # titled by the section it is in, unless a heading starts it
        slides.append(Slide(kind=kind, title=heading, level=3))
        return slides[-1]

    for cell in cells:
        tags = set(cell.metadata.get("tags", []))
        kind = slide_type(cell)
        if kind == "skip" or "remove-cell" in tags:
            continue
        current = slides[-1] if slides else None
        if cell.cell_type == "markdown":
            source = cell.source
            found = leading_heading(source)
            if kind == "notes":
                if current is not None:
                    current.notes.append(render(myst_to_markdown(source, refs)))
                continue
            short = condense(found[2] if found else source)
            plain = kind == "subslide" and found is None and current is not None and notebooks_directive(source) is None
            joins = plain and (current.text_only and current.lines + text_lines(short) <= SHORT_SLIDE_LINES or
                               # a point or two after a figure: under it
                               current.figure and current.lines - FIGURE_LINES + text_lines(short) <= FIGURE_LEAD_LINES)
            if (kind in ("slide", "subslide") or current is None) and not joins:
                current = start(kind if kind in ("slide", "subslide") else "slide")
            if found is not None:
                level, title, rest = found
                heading = title = inline_html(title, refs)
                if not current.body:
                    current.title, current.level, source = title, level, rest
            short = condense(source)
            current.text_only = current.text_only and notebooks_directive(source) is None
            if source.strip() and not _same_text(short, source):
                current.notes.append(render(myst_to_markdown(source, refs)))
            for n, piece in enumerate(split_for_slides(short) if short.strip() else []):
                height = text_lines(piece)
                if current.body and (n > 0 or current.lines + height > SLIDE_LINES):
                    current = start("subslide")  # the rest of the text, under the same title
                body = render(myst_to_markdown(piece, refs))
                current.body.append(f'<div class="fragment">{body}</div>' if kind == "fragment" else body)
                current.lines += height
        elif cell.cell_type == "code":
            if kind == "notes":
                continue
            shown = figure_html(cell, refs)
            if shown is None and not tags & {"remove-input", "hide-input"}:
                shown = code_html(cell)
            if shown is None:
                continue
            fills = any(kind in shown for kind in ("pgb-pseudocode", "pgb-tall", "pgb-table"))  # the slide to itself
            leads_in = (kind == "subslide" and current is not None and current.body and not current.figure
                        and current.lines <= FIGURE_LEAD_LINES and "pgb-figure" in shown and not fills)
            if (kind in ("slide", "subslide") or current is None) and not leads_in:
                current = start(kind if kind in ("slide", "subslide") else "slide")
            if current.figure or (current.lines > FIGURE_LINES or fills and current.body) and "pgb-figure" in shown:
                current = start("subslide")  # a figure needs the room: one a slide
            current.figure = current.figure or "pgb-figure" in shown
            current.text_only = False
            # Pseudocode, a tall figure and a table are sized to fill the slide: no text joins them.
            current.lines += (SLIDE_LINES if fills else FIGURE_LINES) if "pgb-figure" in shown else \
                text_lines(f"```\n{cell.source}\n```")
            current.body.append(f'<div class="fragment">{shown}</div>' if kind == "fragment" else shown)
    kept = []
    for slide in slides:
        if not slide.body:
            if slide.kind == "subslide":  # a heading with nothing under it: its sub-slides carry it
                continue
            slide.section = True
        kept.append(slide)
    if kept and kept[0].level == 1:  # the chapter's own title: under the title slide
        if kept[0].section:
            kept.pop(0)
        else:
            kept[0].kind = "subslide"
    return kept


def mathjax_macros(config: Path = ROOT / "_config.yml") -> dict:
    settings = yaml.safe_load(config.read_text())
    return settings["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]


def executed_notebook(source: Path, cache_dir: Path):
    """The MyST notebook `source` with the outputs of its execution in the book's cache."""
    from jupyter_cache import get_cache

    if not (cache_dir / "global.db").is_file():
        raise FileNotFoundError(f"no jupyter-cache in {cache_dir}: build the book first (python3 tasks.py book)")
    try:
        # cell_meta=(): keep the source's cell metadata (slide types), not the cached copy's.
        _, nb = get_cache(str(cache_dir)).merge_match_into_notebook(jupytext.read(source), cell_meta=())
    except KeyError:
        raise FileNotFoundError(f"{source} has changed since the book was built: build it again") from None
    return nb


def is_notebook(source: Path) -> bool:
    text = source.read_text()
    return source.suffix == ".ipynb" or (text.startswith("---") and "kernelspec:" in text.split("---", 2)[1])


def chapter_heading(page: Path) -> tuple[str, str] | None:
    """(number, title) of a built page's first heading: ("2.", "Gradient ascent")."""
    if not page.is_file():
        return None
    heading = BeautifulSoup(page.read_text(), "html.parser").find("h1")
    if heading is None:
        return None
    for link in heading.select("a.headerlink"):
        link.decompose()
    number = heading.find("span", class_="section-number")
    number_text = number.get_text(strip=True) if number is not None else ""
    if number is not None:
        number.decompose()
    return number_text, heading.get_text(" ", strip=True)


def relink(text: str, page_dir: Path, out: Path) -> str:
    """Relative links of a book page (in `page_dir`) made relative to the decks' folder `out`."""
    def move(match):
        target = match.group(2)
        if re.match(r"^([a-z][\w+.-]*:|#|/)", target):
            return match.group(0)
        moved = os.path.relpath(os.path.normpath(page_dir / target.split("#")[0]), out)
        anchor = "#" + target.split("#", 1)[1] if "#" in target else ""
        return f'{match.group(1)}="{Path(moved).as_posix()}{anchor}"'

    return re.sub(r'\b(href|src)="([^"]*)"', move, text)


def templates():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=False,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def build(html_dir: Path, cache_dir: Path, out: Path, sources: list[Path] | None = None,
          root: Path = ROOT) -> list[Path]:
    """Write one deck per notebook into `out`, with reveal.js and MathJax beside them, and
    the decks' index, `out/index.html`.

    `sources` are the MyST notebooks (default: every notebook page of `root`'s `_toc.yml`);
    `root` is the book's folder (its `_config.yml`, `_toc.yml` and `references.bib`).
    """
    for name in ("reveal.js", "mathjax"):
        if not (WEB / name / "package.json").is_file():
            sys.exit(f"{WEB / name} is missing: run `python3 tasks.py slides` (it installs reveal.js and MathJax)")
    refs = References(html_dir, root / "references.bib")
    settings = yaml.safe_load((root / "_config.yml").read_text())
    out.mkdir(parents=True, exist_ok=True)
    for name, keep in (("reveal.js", ("dist", "plugin")), ("mathjax", ("es5",))):
        target = out / name
        shutil.rmtree(target, ignore_errors=True)
        for part in keep:
            shutil.copytree(WEB / name / part, target / part)
    shutil.copy(TEMPLATES / "slides.css", out / "slides.css")
    env = templates()
    macros = json.dumps(mathjax_macros(root / "_config.yml"))
    if sources is None:
        sources = [next(p for p in (root / f"{page}.md", root / f"{page}.ipynb", root / page) if p.is_file())
                   for page in toc_pages(root)]
    book = {"title": settings.get("title", ""), "author": settings.get("author", ""),
            "home": Path(os.path.relpath(html_dir / "index.html", out)).as_posix()}
    decks, listed = [], []
    for source in sources:
        if not is_notebook(source):
            continue  # the bibliography
        nb = executed_notebook(source, cache_dir)
        page = source.resolve().relative_to(root.resolve()).with_suffix(".html") \
            if source.resolve().is_relative_to(root.resolve()) else Path(source.stem + ".html")
        first = next((c.source for c in nb.cells if c.cell_type == "markdown" and leading_heading(c.source)), None)
        number, title = chapter_heading(html_dir / page) or ("", leading_heading(first)[1] if first else source.stem)
        slides = deck_slides(nb, refs, title)
        outline = list(dict.fromkeys(s.title for s in slides if s.kind == "slide" and s.level == 2))
        chapter = {"number": number.rstrip("."), "title": title, "outline": outline,
                   "page": Path(os.path.relpath(html_dir / page, out)).as_posix()}
        deck = out / f"{source.stem}.slides.html"
        for slide in slides:
            slide.body = [relink(part, (html_dir / page).parent, out) for part in slide.body]
            slide.notes = [relink(part, (html_dir / page).parent, out) for part in slide.notes]
        deck.write_text(env.get_template("deck.html.j2").render(
            book=book, chapter=chapter, slides=slides, macros=macros, e=html.escape))
        decks.append(deck)
        listed.append(dict(chapter, deck=deck.name, count=1 + len(slides)))
    (out / "index.html").write_text(env.get_template("index.html.j2").render(book=book, decks=listed, e=html.escape))
    return decks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=ROOT / "_build", help="the book's build folder")
    parser.add_argument("--out", type=Path, default=None, help="where the decks go (default: BUILD/html/slides)")
    parser.add_argument("--source", type=Path, default=ROOT,
                        help="the book's folder, with _toc.yml and the chapters (default: this repository)")
    args = parser.parse_args(argv)
    html_dir, cache_dir = args.build / "html", args.build / ".jupyter_cache"
    if not html_dir.is_dir() or not cache_dir.is_dir():
        sys.exit(f"no built book in {args.build}: run `python3 tasks.py book` first")
    if not (args.source / "_toc.yml").is_file():
        sys.exit(f"--source: expected the book's folder (with _toc.yml), got {args.source}")
    try:
        decks = build(html_dir, cache_dir, args.out or html_dir / "slides", root=args.source)
    except (FileNotFoundError, UnresolvedReference) as error:
        sys.exit(str(error))
    for deck in decks:
        print(f"wrote {deck}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
