#!/usr/bin/env python3
"""Set up and run the book's jobs with nothing but Python 3.10+ and git.

    python3 tasks.py book    # set up .venv, then build the book into _build/html
    python3 tasks.py test    # set up .venv, then run every test (what CI runs)
    python3 tasks.py sync    # rewrite chapters/*.ipynb from their MyST twins

Set-up creates a virtual environment in `.venv` and installs
`requirements.txt` (which installs this repository's `utils` package in
editable mode). It is skipped when `.venv` already holds the installed
requirements of the same content.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".requirements.sha256"


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call([str(a) for a in args], cwd=ROOT)
    if code:
        sys.exit(code)


def setup() -> None:
    if sys.version_info < (3, 10):
        sys.exit(f"Python 3.10 or newer is needed, this is {sys.version.split()[0]}")
    wanted = hashlib.sha256(
        (ROOT / "requirements.txt").read_bytes() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PYTHON.exists():
        print(f"+ creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-r", "requirements.txt")
    STAMP.write_text(wanted)


def book() -> None:
    setup()
    run(BIN / "jupyter-book", "build", ".", "-W", "-n", "--keep-going")
    print(f"\nThe book is in {ROOT / '_build' / 'html' / 'index.html'}")


def test() -> None:
    setup()
    # Two workers: the book build and the notebooks run beside the unit tests.
    run(PYTHON, "-m", "pytest", "-n", "2", "--dist", "loadfile")


def sync() -> None:
    setup()
    notebooks = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "chapters").glob("*.md"))
    # A fresh conversion: the paired notebooks carry no outputs.
    run(BIN / "jupytext", "--to", "ipynb", *notebooks)


if __name__ == "__main__":
    jobs = {"book": book, "test": test, "sync": sync}
    if len(sys.argv) != 2 or sys.argv[1] not in jobs:
        sys.exit(__doc__)
    jobs[sys.argv[1]]()
