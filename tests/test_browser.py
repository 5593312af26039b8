"""The built book and its slide decks, as a reader's browser shows them.

Builds the book (under the lock of tests/book_build.py; an unchanged book
rebuilds in seconds) and the decks (tools/slides.py), serves `_build` on
127.0.0.1 and loads every page and deck in headless Chromium (Debian's
`chromium`, which `python3 tasks.py test` installs; without it these tests
fail, they never skip). Nothing may be fetched from any other host: the book
and the decks must work offline.

Every page is loaded once at 1280 px (a laptop) and once at 390 px (a phone);
the page-level checks below read the measurements of those two loads, and the
screenshots of both go to `_build/screenshots/book/<page>-<width>.png` (the
slides' to `_build/screenshots/slides/`).

PGBOOK_SITE=<folder> checks an existing build instead (the `_build` folder of
`jupyter-book build --path-output <dir>`, e.g. of a partial table of contents):
nothing is built but the decks, and only the pages that folder has are checked.
"""
from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from book_build import book_lock, build_book
from browser_support import chromium, serve
from conftest import ROOT, is_notebook, toc_files

sys.path.insert(0, str(ROOT / "tools"))
import slides  # noqa: E402

SITE = Path(os.environ["PGBOOK_SITE"]).resolve() if os.environ.get("PGBOOK_SITE") else None
BUILD = SITE or ROOT / "_build"
SHOTS = BUILD / "screenshots"


def built_page(source: Path) -> str:
    return "html/" + source.relative_to(ROOT).with_suffix(".html").as_posix()


PAGES = [p for p in toc_files() if SITE is None or (BUILD / built_page(p)).is_file()]
NOTEBOOKS = [p for p in PAGES if p.suffix == ".md" and is_notebook(p)]
# Pages whose cells build a slider demo (utils/interactive.py), and how many.
DEMO_CALL = re.compile(r"(?m)^\s*(?:\w+\s*=\s*)?frame_slider\(")
DEMOS = {p: len(DEMO_CALL.findall(p.read_text())) for p in PAGES if DEMO_CALL.search(p.read_text())}
BACK_MATTER = [p for p in PAGES if p.stem in ("notation", "bibliography")]
DESKTOP, PHONE = 1280, 390
# The target: what a reader sees without clicking is mostly prose.
MAX_VISIBLE_CODE_LINES = 60

# Outputs state budgets and seeds, never how long something took or on what machine.
TIMING_OR_MACHINE = re.compile(
    r"\b(?:done|finished|took|elapsed|ran|trained|compiled|compilation|in)\b[^\n.;]{0,30}?"
    r"\d+(?:\.\d+)?\s*(?:s|ms|µs|us|sec|secs|seconds?|minutes?|min|h|hours?)\b"
    r"|\b\d+(?:\.\d+)?\s*(?:ms|µs|secs?|seconds|minutes)\b"
    r"|\b(?:wall[- ]?(?:clock|time)|CPU|GPU|TPU|cores?|hostname|EPYC|Xeon|Ryzen|Intel|AMD)\b"
    r"|\bit/s\b|\d+%\|[█▏▎▍▌▋▊▉ ]*\||CpuDevice|TFRT_CPU|platform=",
    re.IGNORECASE)
RAW_REPR = re.compile(r"\bnp\.(?:float|int)\d+\(|\bArray\([^)]*dtype=|\bDeviceArray\(|<function \w+ at 0x")
DOUBLE_PARENTHESES = re.compile(r"\(\(\d+(?:\.\d+)*\)")

# Run in the page once MathJax has finished: what a reader would see.
BOOK_CHECKS = """() => {
  const text = (e) => (e ? e.textContent : '');
  const maths = [...document.querySelectorAll('.math')];
  const cells = [...document.querySelectorAll('div.cell')];
  return {
    maths: maths.length,
    untypeset: maths.filter((m) => !m.querySelector('mjx-container')).map((m) => text(m).slice(0, 120)),
    mathErrors: [...document.querySelectorAll('mjx-merror')].map((e) => e.getAttribute('data-mjx-error') || text(e)),
    errors: [...document.querySelectorAll('.output.error, .output.traceback, .output.stderr')]
      .map((e) => text(e).slice(0, 300)).filter((t) => /Error|Traceback|Exception/.test(t)),
    traceback: document.body.innerText.includes('Traceback (most recent call last)'),
    brokenImages: [...document.images].filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.src.slice(0, 120)),
    brokenVideos: [...document.querySelectorAll('video')].filter((v) => v.readyState < 1).map((v) => v.src.slice(0, 120)),
    pseudocode: cells.filter((c) => /(^|\\n)\\s*latex\\(/.test(text(c.querySelector('.cell_input'))))
      .map((c) => ({typeset: !!c.querySelector('.cell_output mjx-container'), errors: c.querySelectorAll('mjx-merror').length})),
    widgetViews: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    links: [...document.querySelectorAll('a[href]')].map((a) => a.href).filter((h) => h.startsWith(location.origin)),
    colab: [...document.querySelectorAll('a[href*="colab.research.google.com"]')].map((a) => a.href),
  };
}"""

# The page-level measurements, at the current width.
MEASURE = """() => {
  // checkVisibility() is false inside a closed <details> (a folded cell), whose content Chromium
  // still lays out (content-visibility: hidden), so that getClientRects() alone counts it.
  const visible = (e) => (e.checkVisibility ? e.checkVisibility({visibilityProperty: true})
    : e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden');
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const area = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left))
    * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  const tex = new Map();
  if (window.MathJax && MathJax.startup && MathJax.startup.document) {
    for (const item of MathJax.startup.document.math) tex.set(item.typesetRoot, item.math);
  }
  const equations = [...article.querySelectorAll('mjx-container[display="true"]')].filter(visible).map((c) => {
    const box = c.closest('div.math') || c.parentElement;
    const math = c.querySelector('mjx-math') || c;
    const style = getComputedStyle(box);
    const available = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    let scroller = null;  // the nearest box, from the equation up to its div.math, that scrolls sideways
    for (let e = c; e && e !== box.parentElement; e = e.parentElement) {
      if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) { scroller = e; break; }
    }
    const m = math.getBoundingClientRect();
    const view = scroller ? scroller.getBoundingClientRect() : m;
    const shown = {left: Math.max(m.left, view.left), right: Math.min(m.right, view.right),
                   top: Math.max(m.top, view.top), bottom: Math.min(m.bottom, view.bottom)};
    const eqno = box.querySelector('span.eqno');
    let overlap = 0, number = '';
    if (eqno && visible(eqno) && eqno.firstChild) {
      const range = document.createRange();
      range.selectNodeContents(eqno.firstChild);  // the number's text, not the hover-only permalink
      number = eqno.firstChild.textContent.trim();
      overlap = area(range.getBoundingClientRect(), shown);
    }
    return {
      name: number || (tex.get(c) || c.textContent).replace(/\\s+/g, ' ').trim().slice(0, 70),
      width: m.width, available: available, overlap: overlap,
      scrolls: !!scroller && scroller.scrollWidth > scroller.clientWidth + 1,
      ownBox: !!scroller && scroller.clientWidth <= available + 1 && scroller !== document.scrollingElement,
    };
  });
  const codeLines = [...article.querySelectorAll('div.cell div.cell_input pre')].filter(visible)
    .map((pre) => pre.textContent.replace(/\\n+$/, '').split('\\n').length).reduce((a, b) => a + b, 0);
  const outputText = [...article.querySelectorAll('div.cell_output')].map((o) => {
    const parts = [];
    const walker = document.createTreeWalker(o, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.parentElement.closest('script, style')) parts.push(n.textContent);
    }
    return parts.join('');
  });
  // Printed output cut at the column's edge: a visible output block wider than its box (the
  // start of its longest line, to name it).
  const cutOutputs = [...article.querySelectorAll('div.cell_output pre')].filter(visible)
    .filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
    .map((pre) => pre.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), '').slice(0, 80));
  // Tables wider than the column: each must scroll in its own box, with the fading edge as its cue.
  const wideTables = [...article.querySelectorAll('table')].filter(visible).map((t) => {
    const box = t.closest('.pst-scrollable-table-container');
    const style = box ? getComputedStyle(box) : null;
    const mask = style ? (style.maskImage || style.webkitMaskImage || 'none') : 'none';
    return {name: t.textContent.replace(/\s+/g, ' ').trim().slice(0, 60), width: t.getBoundingClientRect().width,
            available: (box || article).clientWidth, scrolls: !!box && ['auto', 'scroll'].includes(style.overflowX),
            cue: mask !== 'none'};
  }).filter((t) => t.width > t.available + 1);
  const figures = [...article.querySelectorAll('img')].map((img) => {
    const figure = img.closest('figure');
    const caption = figure && figure.querySelector('figcaption');
    return {src: (img.getAttribute('src') || '').slice(0, 60), alt: (img.getAttribute('alt') || '').trim(),
            caption: caption ? caption.textContent.trim() : ''};
  });
  const tocLinks = new Set([...document.querySelectorAll('nav.page-toc a, .bd-toc-nav a')].filter(visible)
    .map((a) => decodeURIComponent(a.hash.slice(1))));
  return {
    equations: equations,
    codeLines: codeLines,
    outputText: outputText,
    cutOutputs: cutOutputs,
    wideTables: wideTables,
    figures: figures,
    pageScrollsSideways: document.scrollingElement.scrollWidth > window.innerWidth + 1,
    thirdLevel: [...article.querySelectorAll('section > h3')].map((h) => h.parentElement.id)
      .filter((id) => id && !tocLinks.has(id)),
    searchBoxes: [...document.querySelectorAll('.search-button__button, form.bd-search')].filter(visible).length,
    articleText: article.innerText,
    equationNumbers: [...article.querySelectorAll('span.eqno')].map((e) => (e.firstChild ? e.firstChild.textContent : '').trim()),
    captionNumbers: [...article.querySelectorAll('span.caption-number')].map((e) => e.textContent.trim()),
    titleNumbered: !!article.querySelector('h1 .section-number'),
    numberedCitations: [...article.querySelectorAll('.citation .label, .citation-list .label')]
      .map((e) => e.textContent.trim()).filter((t) => /^\\[?\\d+\\]?$/.test(t)),
  };
}"""

SLIDE_CHECKS = """() => {
  const slides = document.querySelector('.reveal .slides');
  const raw = [];
  const walker = document.createTreeWalker(slides, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest('mjx-container, pre, code, script, style, .jp-OutputArea-output')) continue;
    if (/\\$|\\\\\\(|\\\\\\[|\\\\begin\\{/.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 120));
  }
  const blocks = [...slides.querySelectorAll('.pgb-definition, .pgb-theorem, .pgb-lemma, .pgb-corollary')];
  return {
    horizontal: Reveal.getHorizontalSlides().length,
    total: Reveal.getTotalSlides(),
    typeset: slides.querySelectorAll('mjx-container').length,
    raw: raw,
    mathErrors: [...slides.querySelectorAll('mjx-merror')].map((e) => e.getAttribute('data-mjx-error') || e.textContent),
    traceback: slides.textContent.includes('Traceback (most recent call last)'),
    stderr: slides.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length,
    brokenImages: [...slides.querySelectorAll('img')].filter((i) => !(i.complete && i.naturalWidth > 0)).length,
    images: slides.querySelectorAll('img').length,
    pseudocode: [...slides.querySelectorAll('.celltag_pseudocode')]
      .map((c) => ({typeset: !!c.querySelector('mjx-container'), errors: c.querySelectorAll('mjx-merror').length})),
    crowded: blocks.filter((b) => b.closest('section').querySelectorAll(
      '.pgb-definition, .pgb-theorem, .pgb-lemma, .pgb-corollary').length > 1).length,
    blocks: blocks.length,
  };
}"""

CONTROL_STATE = """(figure) => {
  const image = figure.querySelector('img.pgb-interactive-frame');
  return image.decode().catch(() => null).then(() => ({
    src: image.src, alt: image.alt, loaded: image.complete && image.naturalWidth > 0,
    shown: figure.querySelector('output.pgb-interactive-value').textContent,
    value: figure.querySelector('input.pgb-interactive-input').value, index: figure.dataset.index,
  }));
}"""
CONTROL_DATA = "(f) => JSON.parse(f.querySelector('script.pgb-interactive-frames').textContent)"


def build_decks() -> dict[Path, Path | str]:
    """Each notebook's deck, or why it could not be built."""
    html_dir, cache_dir, out = BUILD / "html", BUILD / ".jupyter_cache", BUILD / "slides"
    try:
        decks = slides.build(html_dir, cache_dir, out, sources=NOTEBOOKS)
        return {source: out / f"{source.stem}.slides.html" for source in NOTEBOOKS if
                out / f"{source.stem}.slides.html" in decks}
    except (slides.UnresolvedReference, FileNotFoundError) as error:
        if SITE is None:
            raise
        first_error = str(error)
    # A partial build (PGBOOK_SITE) may lack the pages a deck refers to: build one at a time.
    found: dict[Path, Path | str] = {}
    for source in NOTEBOOKS:
        try:
            found[source] = slides.build(html_dir, cache_dir, out, sources=[source])[0]
        except (slides.UnresolvedReference, FileNotFoundError) as error:
            found[source] = f"{first_error}; {source.name}: {error}"
    return found


@pytest.fixture(scope="module")
def site():
    """The built book and decks, served on 127.0.0.1: (base URL, {notebook: deck or error})."""
    if SITE is None:
        with book_lock():
            result = build_book()
            assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
            decks = build_decks()
    else:
        assert (BUILD / "html").is_dir(), f"PGBOOK_SITE={SITE} has no html/ folder"
        decks = build_decks()
    with serve(BUILD) as base:
        yield base, decks


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def open_page(browser, base: str, path: str, width: int, height: int):
    """Load `path` and wait for MathJax; returns (page, requests to other hosts, script errors)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    outside, script_errors = [], []
    page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else outside.append(r.url))
    page.on("pageerror", lambda e: script_errors.append(str(e)))
    page.goto(f"{base}/{path}", wait_until="load")
    if page.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')"):  # pages with math
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
        page.evaluate("() => MathJax.startup.promise")
    return page, outside, script_errors


@pytest.fixture(scope="module")
def visits(site, browser):
    """Each page, loaded once per width: its measurements (cached), with a screenshot of it."""
    base, _ = site
    found: dict[tuple[Path, int], dict] = {}
    SHOTS.joinpath("book").mkdir(parents=True, exist_ok=True)

    def visit(source: Path, width: int) -> dict:
        if (source, width) not in found:
            page, outside, script_errors = open_page(browser, base, built_page(source), width, 900)
            result = page.evaluate(MEASURE)
            if width == DESKTOP:
                result.update(page.evaluate(BOOK_CHECKS))
            page.screenshot(path=str(SHOTS / "book" / f"{source.stem}-{width}.png"), full_page=True)
            if width == DESKTOP:
                result["demos"] = exercise_controls(page, source.name)
            page.close()
            result.update(outside=outside, script_errors=script_errors)
            found[source, width] = result
        return found[source, width]

    return visit


def colab_url(page: Path) -> str | None:
    """The Colab link a notebook page must show; None while no repository is configured,
    when it must show none (tools/launch_buttons.py)."""
    settings = yaml.safe_load((ROOT / "_config.yml").read_text())
    if not (settings["repository"].get("url") or "").strip():
        return None
    repo = urlparse(settings["repository"]["url"]).path.strip("/")
    branch = settings["repository"]["branch"]
    colab = settings["launch_buttons"]["colab_url"].rstrip("/")
    return f"{colab}/github/{repo}/blob/{branch}/{page.relative_to(ROOT).with_suffix('.ipynb').as_posix()}"


@functools.lru_cache(maxsize=None)
def ids_in(path: Path) -> frozenset[str]:
    return frozenset(re.findall(r'\bid="([^"]+)"', path.read_text()))


by_stem = functools.partial(pytest.mark.parametrize, "source", ids=lambda p: p.stem)


@by_stem(PAGES)
def test_book_page(site, visits, source):
    path = built_page(source)
    found = visits(source, DESKTOP)
    assert not found["outside"], f"{path} fetches from other hosts (it must work offline): {found['outside']}"
    assert not found["script_errors"], f"{path}: JavaScript errors {found['script_errors']}"
    assert not found["untypeset"], f"{path}: math left untypeset: {found['untypeset']}"
    assert not found["mathErrors"], f"{path}: MathJax errors: {found['mathErrors']}"
    assert not found["errors"] and not found["traceback"], f"{path} shows an error: {found['errors']}"
    assert not found["brokenImages"] and not found["brokenVideos"], f"{path}: images not loaded: {found}"
    for block in found["pseudocode"]:
        assert block["typeset"] and not block["errors"], f"{path}: pseudocode not typeset: {found['pseudocode']}"
    assert not found["widgetViews"], f"{path} shows an ipywidgets view, which needs a kernel (nb_mime_priority_overrides)"
    for link in set(found["links"]):
        url = urlparse(link)
        target = BUILD / unquote(url.path).lstrip("/")
        target = target / "index.html" if target.is_dir() else target
        assert target.is_file(), f"{path} links to a missing page: {link}"
        if url.fragment and target.suffix == ".html":
            assert unquote(url.fragment) in ids_in(target), f"{path}: link to a missing anchor: {link}"
    if source in NOTEBOOKS:
        assert found["maths"] > 0, f"{path}: no math found, is MathJax loading?"
        expected = colab_url(source)
        assert found["colab"] == ([expected] if expected else []), f"{path}: Colab links {found['colab']}"
        assert source.with_suffix(".ipynb").is_file(), f"the Colab link of {path} points at a missing notebook"
    else:
        assert not found["colab"], f"{path} is not a notebook, yet has a Colab link"


# ---------------------------------------------------------------- the page as a reader sees it


@by_stem(PAGES)
def test_equations_fit_the_column(visits, source):
    """At 1280 px no displayed equation is wider than its column, and no number is drawn over one."""
    equations = visits(source, DESKTOP)["equations"]
    too_wide = [f"{e['name']} ({e['width']:.0f} px in {e['available']:.0f} px)"
                for e in equations if e["width"] > e["available"] + 1]
    covered = [e["name"] for e in equations if e["overlap"] > 1]
    assert not too_wide, f"{source.name}: displayed equations wider than the column at {DESKTOP} px: {too_wide}"
    assert not covered, f"{source.name}: equation numbers drawn over their equation at {DESKTOP} px: {covered}"


@by_stem(PAGES)
def test_equations_on_a_phone(visits, source):
    """At 390 px an equation too wide scrolls in its own box, and its number does not cover it."""
    found = visits(source, PHONE)
    wide = [e for e in found["equations"] if e["width"] > e["available"] + 1]
    stuck = [e["name"] for e in wide if not (e["scrolls"] and e["ownBox"])]
    covered = [e["name"] for e in found["equations"] if e["overlap"] > 1]
    assert not stuck, f"{source.name}: at {PHONE} px these equations are cut off instead of scrolling in their box: {stuck}"
    assert not covered, f"{source.name}: at {PHONE} px equation numbers cover their equation: {covered}"
    assert not found["pageScrollsSideways"], f"{source.name}: at {PHONE} px the whole page scrolls sideways"


@by_stem(PAGES)
def test_visible_code_is_short(visits, source):
    """Set-up, plotting and checking code is folded: what shows is the code that teaches."""
    lines = visits(source, DESKTOP)["codeLines"]
    assert lines <= MAX_VISIBLE_CODE_LINES, (
        f"{source.name} shows {lines} lines of code without a click (at most {MAX_VISIBLE_CODE_LINES}): "
        "fold set-up, plotting and checking cells (hide-input, remove-input, remove-cell)")


@by_stem(PAGES)
def test_outputs_show_no_timings_or_machine(visits, source):
    outputs = visits(source, DESKTOP)["outputText"]
    found = [(m.group(0), text[max(0, m.start() - 40): m.end() + 40].replace("\n", " "))
             for text in outputs for m in TIMING_OR_MACHINE.finditer(text)]
    assert not found, f"{source.name}: outputs state timings or machine details: {found[:8]}"


@by_stem(PAGES)
@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_printed_output_fits_the_column(visits, source, width):
    """A printed line longer than the column wraps inside it; none is cut at the right edge."""
    cut = visits(source, width)["cutOutputs"]
    assert not cut, f"{source.name}: at {width} px printed output is wider than its box and cut off: {cut[:5]}"


@by_stem(PAGES)
def test_wide_tables_scroll_in_their_own_box_on_a_phone(visits, source):
    """At 390 px a table wider than the column scrolls sideways inside its box, edges fading."""
    wide = visits(source, PHONE)["wideTables"]
    stuck = [t["name"] for t in wide if not (t["scrolls"] and t["cue"])]
    assert not stuck, f"{source.name}: at {PHONE} px these tables are wider than the column without a scrolling box and its cue: {stuck}"


@by_stem(PAGES)
def test_outputs_show_no_raw_reprs(visits, source):
    outputs = visits(source, DESKTOP)["outputText"]
    found = [text[max(0, m.start() - 30): m.end() + 30].replace("\n", " ")
             for text in outputs for m in RAW_REPR.finditer(text)]
    assert not found, f"{source.name}: outputs print raw reprs: {found[:8]}"


@by_stem(PAGES)
def test_figures_have_captions_and_alt_text(visits, source):
    problems = []
    for figure in visits(source, DESKTOP)["figures"]:
        alt = figure["alt"]
        if len(alt.split()) < 3 or re.search(r"\.(png|jpe?g|svg|gif)$", alt, re.IGNORECASE):
            problems.append(f"{figure['src']}...: alt text {alt[:60]!r} does not say what it shows")
        if not figure["caption"]:
            problems.append(f"{figure['src']}...: no caption (a numbered figure: mystnb figure metadata or a figure directive)")
    assert not problems, f"{source.name}: {len(problems)} figure problems: {problems[:6]}"


@by_stem(PAGES)
def test_contents_list_shows_third_level_headings(visits, source):
    missing = visits(source, DESKTOP)["thirdLevel"]
    assert not missing, f"{source.name}: the right-hand contents list lacks these subsections: {missing}"


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
@by_stem(PAGES[:1])
def test_one_search_box(visits, source, width):
    count = visits(source, width)["searchBoxes"]
    assert count == 1, f"{source.name} at {width} px shows {count} search boxes"


@by_stem(PAGES)
def test_numbers_read_as_in_the_rest_of_the_book(visits, source):
    """Equation references print one pair of parentheses; every numbered item carries its chapter
    (the introduction's are 0.x); the reference pages after the chapters are not numbered."""
    found = visits(source, DESKTOP)
    doubled = sorted(set(DOUBLE_PARENTHESES.findall(found["articleText"])))
    assert not doubled, f"{source.name}: equation references in double parentheses: {doubled}"
    bare = [n for n in found["equationNumbers"] if not re.fullmatch(r"\(\d+\.\d+\)", n)]
    bare += [n for n in found["captionNumbers"] if not re.search(r"\b\d+\.\d+\b", n)]
    assert not bare, f"{source.name}: numbers without their chapter: {bare}"
    if source in BACK_MATTER:
        assert not found["titleNumbered"], f"{source.name} is numbered like a chapter"
    assert not found["numberedCitations"], (
        f"{source.name}: numbered bibliography entries {found['numberedCitations'][:5]}, against author-year citations")


# ---------------------------------------------------------------- slider demos (utils/interactive.py)


def exercise_controls(page, where: str, before=None) -> tuple[int, list[str]]:
    """Move every slider demo on `page` through all its positions, by keyboard and by mouse;
    returns (number of demos, problems)."""
    problems = []
    figures = page.locator("figure.pgb-interactive")
    for k in range(figures.count()):
        figure = figures.nth(k)
        if before is not None:
            before(figure)
        data = figure.evaluate(CONTROL_DATA)
        frames, name = data["frames"], f"{where}, demo {k + 1}"
        if len(set(frames)) != len(frames):
            problems.append(f"{name}: two positions of the slider show the same frame")
        default = int(figure.get_attribute("data-default"))

        def expect(i: int, action: str) -> None:
            state = figure.evaluate(CONTROL_STATE)
            if not (state["src"] == frames[i] and state["loaded"] and state["shown"] == data["labels"][i]
                    and state["alt"] == data["alts"][i] and state["value"] == str(i)):
                problems.append(f"{name}: after {action} it shows frame {state['index']} "
                                f"({state['shown']!r}), not frame {i} ({data['labels'][i]!r})")

        expect(default, "loading")
        slider = figure.locator("input.pgb-interactive-input")
        slider.scroll_into_view_if_needed()
        slider.focus()
        slider.press("Home")
        expect(0, "Home")
        for i in range(1, len(frames)):
            slider.press("ArrowRight")
            expect(i, f"{i} x ArrowRight")
        box = slider.bounding_box()
        page.mouse.click(box["x"] + 1, box["y"] + box["height"] / 2)
        expect(0, "a click at the left end of the slider")
        page.mouse.click(box["x"] + box["width"] - 1, box["y"] + box["height"] / 2)
        expect(len(frames) - 1, "a click at the right end of the slider")
    return figures.count(), problems


@by_stem(list(DEMOS))
def test_slider_demos_in_the_book(visits, source):
    """Every demo is on the page as the HTML control, and each position shows its own frame."""
    found = visits(source, DESKTOP)
    count, problems = found["demos"]
    assert count == DEMOS[source], (
        f"{source.name} builds {DEMOS[source]} slider demos, the page shows {count} (the HTML control must "
        "win over the widget view: nb_mime_priority_overrides in _config.yml)")
    assert not problems and not found["script_errors"], problems + found["script_errors"]


# ---------------------------------------------------------------- the sidebars on a phone, a tablet, a laptop


@pytest.mark.parametrize("width", [PHONE, 768])
def test_sidebar_toggles_open_the_sidebars(site, browser, width):
    base, _ = site
    page, _, script_errors = open_page(browser, base, built_page(PAGES[0]), width, 844)
    for kind, link in (("primary", "a.reference"), ("secondary", "a.nav-link")):
        toggle = page.locator(f".{kind}-toggle >> visible=true")
        assert toggle.count() == 1, f"{width} px: {toggle.count()} visible {kind} sidebar buttons"
        toggle.click()
        dialog = page.locator(f"#pst-{kind}-sidebar-modal")
        page.wait_for_timeout(300)
        assert dialog.evaluate("(d) => d.open"), f"{width} px: the {kind} sidebar button does not open the sidebar"
        links = dialog.locator(f"{link} >> visible=true")
        assert links.count() > 0, f"{width} px: the {kind} sidebar opens empty"
        page.screenshot(path=str(SHOTS / "book" / f"sidebar-{kind}-{width}.png"))
        page.keyboard.press("Escape")
        page.wait_for_timeout(200)
        assert not dialog.evaluate("(d) => d.open"), f"{width} px: Escape does not close the {kind} sidebar"
    page.close()
    assert not script_errors, script_errors


def test_sidebar_toggle_on_a_laptop(site, browser):
    base, _ = site
    page, _, script_errors = open_page(browser, base, built_page(PAGES[0]), DESKTOP, 900)
    state = """() => {
      const sidebar = getComputedStyle(document.querySelector('#pst-primary-sidebar'));
      return {shown: sidebar.visibility !== 'hidden' && Number(sidebar.opacity) > 0,
              left: document.querySelector('article').getBoundingClientRect().left};
    }"""
    toggle = page.locator(".primary-toggle >> visible=true")
    states = [page.evaluate(state)]
    for _ in range(2):
        toggle.click()
        page.wait_for_timeout(600)  # the theme animates the sidebar away
        states.append(page.evaluate(state))
    page.close()
    folded, unfolded = states[1], states[2]
    assert states[0]["shown"] and not folded["shown"] and unfolded["shown"], (
        f"the primary sidebar button does not fold and unfold the sidebar at {DESKTOP} px: {states}")
    assert folded["left"] < states[0]["left"], f"the text does not take the folded sidebar's room: {states}"
    assert not script_errors, script_errors


# ---------------------------------------------------------------- slides


def test_every_notebook_has_a_deck(site):
    _, decks = site
    assert sorted(decks) == sorted(NOTEBOOKS)


@by_stem(NOTEBOOKS)
def test_slide_deck(site, browser, source):
    base, decks = site
    deck = decks.get(source)
    assert isinstance(deck, Path), f"no deck for {source.name}: {deck}"
    path = f"slides/{source.stem}.slides.html"
    page, outside, script_errors = open_page(browser, base, path, 1280, 800)
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
    found = page.evaluate(SLIDE_CHECKS)
    SHOTS.joinpath("slides").mkdir(parents=True, exist_ok=True)
    page.evaluate("() => Reveal.configure({transition: 'none', backgroundTransition: 'none'})")
    for h, v in page.evaluate("() => Reveal.getSlides().map((s) => Reveal.getIndices(s)).map((i) => [i.h, i.v || 0])"):
        page.evaluate(f"() => Reveal.slide({h}, {v})")
        page.screenshot(path=str(SHOTS / "slides" / f"{source.stem}-{h:02d}-{v:02d}.png"))

    def go_to_slide(figure):
        figure.evaluate("(f) => { const i = Reveal.getIndices(f.closest('section')); Reveal.slide(i.h, i.v); }")
        page.wait_for_timeout(100)

    _, problems = exercise_controls(page, path, before=go_to_slide)
    page.close()

    assert not outside, f"{path} fetches from other hosts (it must work offline): {outside}"
    assert not script_errors, f"{path}: JavaScript errors {script_errors}"
    assert found["horizontal"] >= 2, (
        f"{path} has {found['horizontal']} slide(s): give {source.name} slide metadata (python3 tasks.py notebooks)")
    assert found["typeset"] > 0 and not found["raw"], f"{path}: math left untypeset: {found['raw'][:5]}"
    assert not found["mathErrors"], f"{path}: MathJax errors: {found['mathErrors']}"
    assert not found["traceback"] and not found["stderr"], f"{path} shows an error output"
    assert not found["brokenImages"], f"{path}: {found['brokenImages']} images not loaded"
    for block in found["pseudocode"]:
        assert block["typeset"] and not block["errors"], f"{path}: pseudocode not typeset: {found['pseudocode']}"
    assert not found["crowded"], f"{path}: {found['crowded']} definitions/theorems share a slide"
    assert not problems, f"{path}: slider demos: {problems}"
