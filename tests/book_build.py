"""One book build at a time: test_build.py and test_browser.py may run on two
xdist workers at once, and two `jupyter-book build` runs in one `_build` folder
would trip over each other."""
from __future__ import annotations

import contextlib
import fcntl
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


@contextlib.contextmanager
def book_lock():
    lock = ROOT / "_build" / ".build.lock"
    lock.parent.mkdir(exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_book() -> subprocess.CompletedProcess:
    """`tools/execute.py` then `jupyter-book build . -W -n --keep-going`, as `python3 tasks.py book`
    runs them.

    Call it inside `book_lock()`. An unchanged book rebuilds in seconds: the
    notebooks' outputs come from jupyter-cache and Sphinx rebuilds no page.
    """
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    # Its failures are the build's to report: the build executes a notebook that failed here again.
    subprocess.run([sys.executable, "tools/execute.py"], cwd=ROOT, capture_output=True, timeout=900)
    result = subprocess.run(
        [str(jupyter_book), "build", ".", "-W", "-n", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    # A successful build that executed a notebook itself did not find what tools/execute.py
    # stored: its notebooks would not be keyed as myst-nb keys them, and the book would build serially.
    executed = re.findall(r"(\S+\.md): Executing notebook", result.stdout + result.stderr)
    assert result.returncode or not executed, f"the build executed {executed} itself: tools/execute.py's cache missed"
    return result
