"""The whole book's build time: cold, then unchanged.

- cold: `tools/execute.py` (the notebooks, one per core at a time, into the
  build's jupyter-cache) and then `jupyter-book build . -W -n --keep-going`, as
  `python3 tasks.py book` runs them (virtual environment already set up), into
  an empty output folder, with an empty jupyter-cache and an empty JAX
  compilation cache, so every notebook executes and every program compiles;
- unchanged: the same command again, on the same output folder and caches,
  as after an edit that changes no cell's code: nothing executes.

It prints both times, each notebook's execution time in the cold build (two
run side by side, so each takes longer than it would alone), and the load
average before and after. Targets (issue "The page, the slides and the PDF, as readers see them",
quiet 2-core machine): cold under 180 s, unchanged under 20 s.

    .venv/bin/python benchmarks/book_build.py

The output and the caches go to a temporary folder, deleted afterwards; the
book's own `_build` and `.cache/jax` are not touched. Figures only; nothing
here is a test.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from utils.cache import book_env  # noqa: E402  (imports no jax)

TARGETS = {"cold": 180.0, "unchanged": 20.0}
# tools/execute.py's line for a notebook, or myst-nb's if the build executed one itself.
EXECUTED = re.compile(r"chapters/(\w+)\.md: (?:executed in|Executed notebook in) ([0-9.]+) s")


def build(output: Path, jax_cache: Path) -> tuple[float, str]:
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    env = {**os.environ, **book_env(jax_cache)}
    log = ""
    start = time.perf_counter()
    for command in ([sys.executable, "tools/execute.py", "--cache", str(output / "_build" / ".jupyter_cache")],
                    [str(jupyter_book), "build", ".", "-W", "-n", "--keep-going", "--path-output", str(output)]):
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        log += result.stdout + result.stderr
        if result.returncode:
            sys.exit(f"{command[1]} failed (exit {result.returncode}):\n{log[-4000:]}")
    return time.perf_counter() - start, log


def main() -> None:
    print(f"load average (1, 5, 15 min) before {tuple(round(x, 2) for x in os.getloadavg())}; cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="book-build-") as folder:
        output, jax_cache = Path(folder) / "out", Path(folder) / "jax"
        cold, log = build(output, jax_cache)
        unchanged, again = build(output, jax_cache)
        if EXECUTED.search(again):
            sys.exit("the unchanged rebuild executed a notebook: " + ", ".join(m[0] for m in EXECUTED.findall(again)))
        shutil.rmtree(output, ignore_errors=True)
    print(f"load average after {tuple(round(x, 2) for x in os.getloadavg())}")
    print("\ncold build, each notebook's execution (s):")
    for name, seconds in sorted(EXECUTED.findall(log), key=lambda m: -float(m[1])):
        print(f"  {name:<16} {float(seconds):6.1f}")
    print()
    for kind, seconds in (("cold", cold), ("unchanged", unchanged)):
        print(f"{kind:<9} build: {seconds:6.1f} s (target < {TARGETS[kind]:.0f} s)")


if __name__ == "__main__":
    main()
