"""Every slide of every deck, as a lecture hall's 1280 x 720 projector shows it.

Builds the book (under the lock of tests/book_build.py; an unchanged book rebuilds in
seconds) and its decks (tools/slides.py, into a folder of this test's own), opens each
deck in headless Chromium (Debian's `chromium`, which `python3 tasks.py test` installs)
and walks through all its slides in the page: each one's content must stay inside the
slide once the deck has set it (text a little too tall is set smaller, to at most
FIT_MIN of its size), keep each figure and algorithm inside its own box and off the
text, carry a title, and show no printed output; the first slide is the
deck's title slide. Nothing may be fetched from another host. Screenshots of the slides
are taken by tests/test_browser.py.
"""
from __future__ import annotations

import re
import sys

import pytest

from book_build import book_lock, build_book
from browser_support import chromium, serve
from conftest import ROOT, is_notebook, toc_files

sys.path.insert(0, str(ROOT / "tools"))
import slides  # noqa: E402

BUILD = ROOT / "_build"
NOTEBOOKS = [p for p in toc_files() if p.suffix == ".md" and is_notebook(p)]

# Visits every slide in the page, lets the deck fit it, and measures it.
WALK = """async () => {
  Reveal.configure({transition: 'none', backgroundTransition: 'none'});
  await MathJax.startup.promise;
  const found = [];
  for (const slide of Reveal.getSlides()) {
    const {h, v} = Reveal.getIndices(slide);
    Reveal.slide(h, v || 0);
    await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
    fitSlide(slide);
    const box = slide.getBoundingClientRect();
    const outside = [];
    for (const element of slide.querySelectorAll('*')) {
      if (element.closest('aside.notes, mjx-assistive-mml')) continue;
      const r = element.getBoundingClientRect();
      if (!r.width && !r.height) continue;
      if (r.left < box.left - 2 || r.top < box.top - 2 || r.right > box.right + 2 || r.bottom > box.bottom + 2)
        outside.push(element.tagName.toLowerCase() + '.' + String(element.className || '').split(' ')[0]);
    }
    // A figure or algorithm drawn past its own box, or over the slide's text.
    const clashes = [];
    const inside = (r, m) => r.top >= m.top - 2 && r.bottom <= m.bottom + 2 && r.left >= m.left - 2 && r.right <= m.right + 2;
    const meets = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 2 &&
                            Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 2;
    const texts = [...slide.querySelectorAll('h1, h2, p, li')].filter((t) => !t.closest('.pgb-figure, aside.notes'));
    for (const media of slide.querySelectorAll('.pgb-media')) {
      const m = media.getBoundingClientRect();
      for (const drawn of media.querySelectorAll(':scope > *, :scope > * > mjx-container')) {
        const r = drawn.getBoundingClientRect();
        if (!r.width && !r.height) continue;
        if (!inside(r, m)) clashes.push(`${drawn.className || drawn.tagName} outside its box`);
        for (const text of texts)
          if (meets(r, text.getBoundingClientRect())) clashes.push(`${drawn.className || drawn.tagName} over "${text.textContent.trim().slice(0, 30)}"`);
      }
    }
    const heading = slide.querySelector(':scope > h1.pgb-heading, :scope > h2.pgb-heading');
    const visible = [...slide.childNodes].filter((n) => !(n.matches && n.matches('aside.notes')));
    found.push({
      at: `${h}/${v || 0}`,
      first: h === 0 && !v,
      titleSlide: slide.classList.contains('pgb-title-slide'),
      title: heading ? heading.textContent.trim() : '',
      overflow: overflow(slide),
      scale: parseFloat(slide.dataset.fitted),
      outside: outside.slice(0, 5),
      clashes: [...new Set(clashes)].slice(0, 3),
      text: visible.map((n) => n.textContent).join(' '),
    });
  }
  return found;
}"""


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    """The book's decks in a folder of their own, served on 127.0.0.1: (base URL, folder)."""
    out = tmp_path_factory.mktemp("slides")
    with book_lock():
        result = build_book()
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
        slides.build(BUILD / "html", BUILD / ".jupyter_cache", out)
    with serve(out) as base:
        yield base, out


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def printed_lines(source) -> set[str]:
    """Lines the chapter's cells print (streams, and results shown only as text)."""
    lines = set()
    for cell in slides.executed_notebook(source, BUILD / ".jupyter_cache").cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                text = output.text
            elif set(output.get("data", {})) == {"text/plain"}:
                text = output.data["text/plain"]
            else:
                continue
            lines.update(" ".join(line.split()) for line in text.splitlines() if len(line.strip()) >= 12)
    return lines


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_slide_fits_has_a_title_and_prints_nothing(decks, browser, source):
    base, out = decks
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    outside, errors = [], []
    page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else outside.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/{source.stem}.slides.html", wait_until="load")
    page.wait_for_function("() => window.Reveal && Reveal.isReady() && window.MathJax && MathJax.startup",
                           timeout=30_000)
    found = page.evaluate(WALK)
    page.close()

    assert not outside and not errors, f"{source.stem}: requests elsewhere {outside}, script errors {errors}"
    assert len(found) >= 3 and found[0]["first"] and found[0]["titleSlide"], f"{source.stem}: no title slide first"
    chapter = slides.chapter_heading(BUILD / "html" / source.relative_to(ROOT).with_suffix(".html"))
    assert chapter and chapter[1] in found[0]["title"], f"{source.stem}: title slide {found[0]['title']!r}"
    untitled = [s["at"] for s in found if not s["title"]]
    assert not untitled, f"{source.stem}: slides without a title: {untitled}"
    over = [(s["at"], s["title"][:40], round(s["overflow"]), s["outside"]) for s in found
            if s["overflow"] > 0 or s["outside"]]
    assert not over, f"{source.stem}: slides whose content leaves the 1280 x 720 slide: {over}"
    clashing = [(s["at"], s["title"][:40], s["clashes"]) for s in found if s["clashes"]]
    assert not clashing, f"{source.stem}: figures or pseudocode drawn past their box or over text: {clashing}"
    assert all(s["scale"] >= 0.7 for s in found)
    printed = printed_lines(source)
    shown = [(s["at"], line) for s in found for line in printed if line in " ".join(s["text"].split())]
    assert not shown, f"{source.stem}: printed output on slides: {shown[:5]}"


def test_the_index_lists_every_deck(decks, browser):
    base, out = decks
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{base}/index.html", wait_until="load")
    links = page.evaluate("() => [...document.querySelectorAll('article.deck h2 a')].map((a) => a.getAttribute('href'))")
    styled = page.evaluate("() => getComputedStyle(document.querySelector('header')).backgroundColor")
    page.close()
    assert links == [f"{p.stem}.slides.html" for p in NOTEBOOKS]
    assert all((out / link).is_file() for link in links)
    assert styled not in ("rgba(0, 0, 0, 0)", "transparent"), "the index is not styled"
    home = re.search(r'<a href="([^"]+)">Read the book</a>', (out / "index.html").read_text()).group(1)
    assert (out / home).resolve() == (BUILD / "html" / "index.html").resolve()
