#!/usr/bin/env python3
"""Build a reveal.js slide deck for every section of the built book.

    python tools/slides.py        # after `jupyter-book build .`; decks in _build/slides

(`python3 tasks.py slides` builds the book, then runs this.) Each deck is
nbconvert's reveal.js export (`jupyter nbconvert --to slides`) of the section's
MyST notebook, `chapters/<name>.md`, with the outputs of the book's own
execution (its jupyter-cache, `_build/.jupyter_cache`), so it shows the figures
and pseudocode the book shows; its slide, sub-slide, fragment and skip metadata
are the MyST notebook's (see tools/notebooks.py).

nbconvert renders CommonMark, not MyST, so before export the markdown cells are
translated: definitions, theorems, proofs and exercises become titled boxes
numbered as in the book, labelled equations get the book's numbers (`\\tag`),
and `{eq}`, `{prf:ref}`, `{ref}`, `{numref}` and `{cite}` roles become the text
the book shows (numbers are read from the built HTML, citations from
references.bib). Code cells with a figure or pseudocode show only their output.

The decks load reveal.js and MathJax 3 from copies beside them (npm packages
that `python3 tasks.py` installs into .cache/web), never from a CDN, so they
work offline: open `_build/slides/index.html`.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / ".cache" / "web" / "node_modules"
TEMPLATES = Path(__file__).resolve().parent / "slides_template"
RICH_OUTPUTS = ("image/png", "image/jpeg", "image/svg+xml", "text/latex", "text/html", "video/mp4")
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
        from pybtex.database import parse_file

        def plain(text: str) -> str:
            text = re.sub(r"\\[`'^\"~=.]\{?(\w)\}?", r"\1", text)  # accents: {\"o} -> o
            return re.sub(r"[{}]", "", text)

        entries = {}
        for key, entry in parse_file(str(bibfile)).entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [plain(" ".join(p.prelast_names + p.last_names)) for p in people]
            if not names:
                authors = plain(entry.fields.get("organization", entry.fields.get("title", key)))
            elif len(names) == 1:
                authors = names[0]
            elif len(names) == 2:
                authors = f"{names[0]} and {names[1]}"
            else:
                authors = f"{names[0]} et al."
            entries[key] = (authors, plain(entry.fields.get("year", "n.d.")))
        return entries

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
LABELLED_MATH_END = re.compile(r"^\$\$\s*\((?P<label>[^)\s]+)\)\s*$")


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
            out.append(f"\\tag{{{refs.number(labelled.group('label')).strip('()')}}}")
            out.append("$$")
        else:
            out.append(line)
        i += 1
    converted = "\n".join(out)
    return ROLE.sub(lambda m: html.escape(refs.role(m.group("name"), m.group("content")), quote=False), converted)


def directive_html(name: str, argument: str, options: dict, body: str, refs: References) -> str:
    if name in ("bibliography", "tableofcontents", "glue", "code-cell"):
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
    end = ' <span class="pgb-qed">&#8718;</span>' if name == "prf:proof" else ""
    title_html = ROLE.sub(lambda m: html.escape(refs.role(m.group("name"), m.group("content")), quote=False), title)
    return (f'<div class="pgb-block pgb-{html.escape(kind)}">\n'
            f'<p class="pgb-title">{title_html}</p>\n\n{inner}{end}\n\n</div>\n')


def slide_notebook(nb, refs: References):
    """The executed notebook, ready for nbconvert's reveal.js export."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.metadata.pop("widgets", None)  # no widget manager: it would load from a CDN
    cells = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.metadata.get("slideshow", {}).get("slide_type") == "skip" or "remove-cell" in tags:
            continue
        if cell.cell_type == "markdown":
            cell.source = myst_to_markdown(cell.source, refs)
        elif cell.cell_type == "code":
            if re.search(r"(^|\n)\s*latex\(", cell.source):
                cell.metadata.setdefault("tags", []).append("pseudocode")
            outputs = []
            for output in cell.get("outputs", []):
                if output.output_type == "stream" and output.name == "stderr":
                    continue
                data = output.get("data", {})
                data.pop("application/vnd.jupyter.widget-view+json", None)
                if output.output_type in ("display_data", "execute_result") and not data:
                    continue
                outputs.append(output)
            cell.outputs = [] if "remove-output" in tags else outputs
            rich = any(set(o.get("data", {})) & set(RICH_OUTPUTS) for o in cell.outputs)
            if rich or "remove-input" in tags:
                cell.metadata.setdefault("tags", []).append("slides-output-only")
        cells.append(cell)
    nb.cells = cells
    return nb


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


def build(html_dir: Path, cache_dir: Path, out: Path, sources: list[Path] | None = None) -> list[Path]:
    """Write one deck per notebook into `out`, with reveal.js and MathJax beside them.

    `sources` are the MyST notebooks (default: every notebook page of `_toc.yml`).
    """
    from nbconvert import SlidesExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    for name in ("reveal.js", "mathjax"):
        if not (WEB / name / "package.json").is_file():
            sys.exit(f"{WEB / name} is missing: run `python3 tasks.py slides` (it installs reveal.js and MathJax)")
    refs = References(html_dir, ROOT / "references.bib")
    config = Config()
    config.TagRemovePreprocessor.remove_input_tags = {"slides-output-only"}
    config.TagRemovePreprocessor.enabled = True
    exporter = SlidesExporter(config=config, extra_template_basedirs=[str(TEMPLATES)], template_name="pgbook")
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    exporter.reveal_url_prefix = "reveal.js"
    exporter.reveal_theme = "white"
    exporter.reveal_number = "c/t"
    exporter.reveal_width = "1280"
    exporter.reveal_height = "800"

    out.mkdir(parents=True, exist_ok=True)
    for name, keep in (("reveal.js", ("dist", "plugin")), ("mathjax", ("es5",))):
        target = out / name
        shutil.rmtree(target, ignore_errors=True)
        for part in keep:
            shutil.copytree(WEB / name / part, target / part)
    macros = json.dumps(mathjax_macros())
    decks = []
    if sources is None:
        sources = [next(p for p in (ROOT / f"{page}.md", ROOT / f"{page}.ipynb", ROOT / page) if p.is_file())
                   for page in toc_pages()]
    for source in sources:
        if not is_notebook(source):
            continue  # the bibliography
        nb = slide_notebook(executed_notebook(source, cache_dir), refs)
        title = next((c.source.lstrip("# ").splitlines()[0] for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("# ")), source.stem)
        body, _ = exporter.from_notebook_node(nb, resources={
            "metadata": {"name": title}, "pgbook": {"macros": macros, "mathjax": "mathjax/es5/tex-chtml.js"}})
        deck = out / f"{source.stem}.slides.html"
        deck.write_text(body)
        decks.append(deck)
    links = "\n".join(f'<li><a href="{d.name}">{html.escape(d.name.removesuffix(".slides.html"))}</a></li>'
                      for d in decks)
    (out / "index.html").write_text(
        f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Lecture slides</title></head>\n"
        f"<body><h1>Lecture slides</h1>\n<ul>\n{links}\n</ul></body></html>\n")
    return decks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=ROOT / "_build", help="the book's build folder")
    parser.add_argument("--out", type=Path, default=None, help="where the decks go (default: BUILD/slides)")
    args = parser.parse_args(argv)
    html_dir, cache_dir = args.build / "html", args.build / ".jupyter_cache"
    if not html_dir.is_dir() or not cache_dir.is_dir():
        sys.exit(f"no built book in {args.build}: run `python3 tasks.py book` first")
    try:
        decks = build(html_dir, cache_dir, args.out or args.build / "slides")
    except (FileNotFoundError, UnresolvedReference) as error:
        sys.exit(str(error))
    for deck in decks:
        print(f"wrote {deck}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
