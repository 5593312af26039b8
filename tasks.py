#!/usr/bin/env python3
"""Set up and run the book's jobs with nothing but Python 3.10+ and git.

    python3 tasks.py book       # set up, then build the book into _build/html
    python3 tasks.py test       # set up (and install Chromium), then run every test (what CI runs)
    python3 tasks.py slides     # set up, build the book, then a reveal.js deck per section
    python3 tasks.py sync       # rewrite chapters/*.ipynb from their MyST twins
    python3 tasks.py notebooks  # standard first cell and slide metadata in chapters/*.md, then sync

Set-up creates a virtual environment in `.venv` and installs
`requirements.txt` (which installs this repository's `utils` package in
editable mode), and installs MathJax 3 and reveal.js from the npm registry
into `.cache/web` (the book and the slides load them from local copies, so
they work offline). Each step is skipped when it is already done.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".requirements.sha256"

# Front-end packages, pinned: MathJax for the book and the slides, reveal.js for the slides.
WEB = ROOT / ".cache" / "web"
WEB_PACKAGES = {"mathjax": "3.2.2", "reveal.js": "4.6.1"}
# Sphinx copies this folder into _build/html/_static (html_static_path in _config.yml).
STATIC = ROOT / ".cache" / "static"


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call([str(a) for a in args], cwd=ROOT)
    if code:
        sys.exit(code)


def setup(web_optional: bool = False) -> bool:
    """Set up .venv and the local web packages; returns whether those are there.

    With `web_optional`, a machine without npm still gets the virtual
    environment (the book then loads MathJax from its CDN)."""
    if sys.version_info < (3, 10):
        sys.exit(f"Python 3.10 or newer is needed, this is {sys.version.split()[0]}")
    wanted = hashlib.sha256(
        (ROOT / "requirements.txt").read_bytes() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    if not (PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted):
        if not PYTHON.exists():
            print(f"+ creating {VENV}", flush=True)
            venv.EnvBuilder(with_pip=True).create(VENV)
        run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(PYTHON, "-m", "pip", "install", "--quiet", "-r", "requirements.txt")
        STAMP.write_text(wanted)
    if web_optional and shutil.which("npm") is None and installed_web_version("mathjax") is None:
        return False
    setup_web()
    return True


def installed_web_version(name: str) -> str | None:
    manifest = WEB / "node_modules" / name / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


def setup_web() -> None:
    """MathJax and reveal.js from the npm registry into .cache/web; MathJax into .cache/static."""
    if any(installed_web_version(name) != version for name, version in WEB_PACKAGES.items()):
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("npm (Node.js) is needed to install MathJax and reveal.js: install Node.js and npm")
        WEB.mkdir(parents=True, exist_ok=True)
        specs = [f"{name}@{version}" for name, version in WEB_PACKAGES.items()]
        run(npm, "install", "--prefix", WEB, "--no-audit", "--no-fund", "--silent", "--no-save", *specs)
    mathjax = STATIC / "mathjax"
    version_file = mathjax / ".version"
    if not (version_file.is_file() and version_file.read_text() == WEB_PACKAGES["mathjax"]):
        shutil.rmtree(mathjax, ignore_errors=True)
        shutil.copytree(WEB / "node_modules" / "mathjax" / "es5", mathjax)
        version_file.write_text(WEB_PACKAGES["mathjax"])


def setup_browser() -> None:
    """Chromium for tests/test_browser.py: Debian's package, installed when it is missing."""
    if shutil.which("chromium"):
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        sys.exit("The browser test needs Chromium: install Debian's `chromium` package "
                 "(as root: apt-get update && apt-get install -y chromium)")
    os.environ["DEBIAN_FRONTEND"] = "noninteractive"
    run(apt, "update", "-qq")
    run(apt, "install", "-y", "-qq", "chromium")


MATHJAX_CDN = f"https://cdn.jsdelivr.net/npm/mathjax@{WEB_PACKAGES['mathjax']}/es5/tex-mml-chtml.js"


def book() -> None:
    config = []
    if not setup(web_optional=True):
        # No npm here: the same configuration, with MathJax from its CDN (the
        # pages then need a network to typeset; the tests use the local copy).
        print("+ npm not found: the book will load MathJax from " + MATHJAX_CDN, flush=True)
        (STATIC).mkdir(parents=True, exist_ok=True)
        cdn_config = ROOT / ".cache" / "_config.cdn.yml"
        text = (ROOT / "_config.yml").read_text()
        cdn_config.write_text(text.replace("mathjax_path: mathjax/tex-mml-chtml.js", f"mathjax_path: {MATHJAX_CDN}"))
        config = ["--config", cdn_config]
    run(BIN / "jupyter-book", "build", ".", "-W", "-n", "--keep-going", *config)
    print(f"\nThe book is in {ROOT / '_build' / 'html' / 'index.html'}")


def slides() -> None:
    book()
    run(PYTHON, "tools/slides.py")


def test() -> None:
    setup()
    setup_browser()
    # Two workers: the book build and the notebooks run beside the unit tests.
    run(PYTHON, "-m", "pytest", "-n", "2", "--dist", "loadfile")


def chapter_notebooks() -> list[str]:
    """chapters/*.md that are notebooks (a kernelspec in the front matter; not the bibliography)."""
    found = []
    for path in sorted((ROOT / "chapters").glob("*.md")):
        text = path.read_text()
        if text.startswith("---") and "kernelspec:" in text.split("---", 2)[1]:
            found.append(str(path.relative_to(ROOT)))
    return found


def sync() -> None:
    setup()
    # A fresh conversion: the paired notebooks carry no outputs.
    run(BIN / "jupytext", "--to", "ipynb", *chapter_notebooks())


def notebooks() -> None:
    setup()
    run(PYTHON, "tools/notebooks.py", *chapter_notebooks())
    sync()


if __name__ == "__main__":
    jobs = {"book": book, "test": test, "slides": slides, "sync": sync, "notebooks": notebooks}
    if len(sys.argv) != 2 or sys.argv[1] not in jobs:
        sys.exit(__doc__)
    jobs[sys.argv[1]]()
