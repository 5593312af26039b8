"""The built book and its slide decks, as a reader's browser shows them.

Builds the book (under the lock of tests/book_build.py; an unchanged book
rebuilds in seconds) and the decks (tools/slides.py), serves `_build` on
127.0.0.1 and loads every page and deck in headless Chromium (Debian's
`chromium`, which `python3 tasks.py test` installs; without it these tests
fail, they never skip). Nothing may be fetched from any other host: the book
and the decks must work offline. Screenshots go to `_build/screenshots/`.
"""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from book_build import book_lock, build_book
from conftest import ROOT, is_notebook, toc_files

sys.path.insert(0, str(ROOT / "tools"))
import slides  # noqa: E402

BUILD = ROOT / "_build"
SHOTS = BUILD / "screenshots"
PAGES = toc_files()
NOTEBOOKS = [p for p in PAGES if p.suffix == ".md" and is_notebook(p)]
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

# Run in the page once MathJax has finished: what a reader would see.
BOOK_CHECKS = """() => {
  const text = (e) => (e ? e.textContent : '');
  const maths = [...document.querySelectorAll('.math')];
  const cells = [...document.querySelectorAll('div.cell')];
  const imageOf = (cell) => cell.querySelector('.cell_output img');
  const widgets = cells.filter((c) => /\\binteract(ive)?\\(/.test(text(c.querySelector('.cell_input'))));
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
    widgets: widgets.map((w) => {
      const before = cells.slice(0, cells.indexOf(w)).reverse().find(imageOf);
      const image = before && imageOf(before);
      return image ? {loaded: image.complete && image.naturalWidth > 0, shown: !!image.offsetParent} : null;
    }),
    links: [...document.querySelectorAll('a[href]')].map((a) => a.href).filter((h) => h.startsWith(location.origin)),
    colab: [...document.querySelectorAll('a[href*="colab.research.google.com"]')].map((a) => a.href),
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

# sphinx-thebe 0.3.1 (which jupyter-book loads on every page) registers its one-line
# config script twice under Sphinx 7, so the second `const` declaration throws; the
# first has set everything, and thebe is not used by the book.
KNOWN_SCRIPT_ERROR = "Identifier 'THEBE_JS_URL' has already been declared"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    """The built book and decks, served on 127.0.0.1: (base URL, deck files)."""
    with book_lock():
        result = build_book()
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
        decks = slides.build(BUILD / "html", BUILD / ".jupyter_cache", BUILD / "slides")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(BUILD)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", decks
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Chromium is missing: `python3 tasks.py test` installs Debian's `chromium` package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


def open_page(browser, base: str, path: str, width: int, height: int):
    """Load `path` and wait for MathJax; returns (page, requests to other hosts, script errors)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    outside, script_errors = [], []
    page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else outside.append(r.url))
    page.on("pageerror", lambda e: None if KNOWN_SCRIPT_ERROR in str(e) else script_errors.append(str(e)))
    page.goto(f"{base}/{path}", wait_until="load")
    if page.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')"):  # pages with math
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
        page.evaluate("() => MathJax.startup.promise")
    return page, outside, script_errors


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


@pytest.mark.parametrize("source", PAGES, ids=lambda p: p.stem)
def test_book_page(site, browser, source):
    base, _ = site
    path = "html/" + source.relative_to(ROOT).with_suffix(".html").as_posix()
    page, outside, script_errors = open_page(browser, base, path, 1280, 900)
    found = page.evaluate(BOOK_CHECKS)
    SHOTS.joinpath("book").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "book" / f"{source.stem}.png"), full_page=True)
    page.close()

    assert not outside, f"{path} fetches from other hosts (it must work offline): {outside}"
    assert not script_errors, f"{path}: JavaScript errors {script_errors}"
    assert not found["untypeset"], f"{path}: math left untypeset: {found['untypeset']}"
    assert not found["mathErrors"], f"{path}: MathJax errors: {found['mathErrors']}"
    assert not found["errors"] and not found["traceback"], f"{path} shows an error: {found['errors']}"
    assert not found["brokenImages"] and not found["brokenVideos"], f"{path}: images not loaded: {found}"
    for block in found["pseudocode"]:
        assert block["typeset"] and not block["errors"], f"{path}: pseudocode not typeset: {found['pseudocode']}"
    for widget in found["widgets"]:
        assert widget and widget["loaded"] and widget["shown"], f"{path}: a widget demo has no static figure before it"
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


def test_every_notebook_has_a_deck(site):
    _, decks = site
    assert sorted(d.name for d in decks) == sorted(f"{p.stem}.slides.html" for p in NOTEBOOKS)


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_slide_deck(site, browser, source):
    base, _ = site
    path = f"slides/{source.stem}.slides.html"
    page, outside, script_errors = open_page(browser, base, path, 1280, 800)
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
    found = page.evaluate(SLIDE_CHECKS)
    SHOTS.joinpath("slides").mkdir(parents=True, exist_ok=True)
    page.evaluate("() => Reveal.configure({transition: 'none', backgroundTransition: 'none'})")
    for h, v in page.evaluate("() => Reveal.getSlides().map((s) => Reveal.getIndices(s)).map((i) => [i.h, i.v || 0])"):
        page.evaluate(f"() => Reveal.slide({h}, {v})")
        page.screenshot(path=str(SHOTS / "slides" / f"{source.stem}-{h:02d}-{v:02d}.png"))
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
