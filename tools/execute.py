"""Execute the book's notebooks side by side, into the cache the book build reads.

    python tools/execute.py [--jobs N] [--cache FOLDER] [chapters/ppo.md ...]   # default: every chapter

Jupyter Book 1 executes the notebooks one after another while Sphinx reads them,
and a notebook's kernel keeps about one core busy (most of its time is XLA
compiling), so on the 2-core machine half of it idles. This runs the notebooks
whose code has changed `--jobs` at a time (default: one per core), the longest
first, each in its own folder as the build does, and stores each executed
notebook in `_build/.jupyter_cache` exactly as myst-nb's `execute_notebooks:
cache` mode would (jupyter-cache keys a notebook by its code cells and
kernelspec). The build that follows finds every notebook there and executes
none.

A notebook that fails here is reported and left out of the cache: the build
then executes it again and reports the failure with its own message (and, with
`-W`, fails). Exit status 0 either way; the build is the judge.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"
# How myst-nb registers a MyST text notebook in the cache (myst_nb.core.read.create_nb_reader).
MYST_READER = {"type": "plugin", "name": "myst_nb_md"}


@functools.lru_cache(maxsize=None)
def _config() -> dict:
    import yaml
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def read_notebook(path: Path):
    """The notebook as myst-nb reads a MyST text notebook in the build (with the book's MyST
    extensions): the same code cells and metadata, so the same jupyter-cache key."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig
    extensions = _config().get("parse", {}).get("myst_enable_extensions", [])
    config = MdParserConfig(enable_extensions=set(extensions))
    return read_myst_markdown_notebook(path.read_text(), config=config, add_source_map=True, path=str(path))


def execute(path: str, timeout: int) -> tuple[str, object, float, str | None]:
    """Run one notebook in its folder (in a worker process); (path, notebook, seconds, error)."""
    from jupyter_cache.executors.utils import single_nb_execution
    notebook = read_notebook(Path(path))
    result = single_nb_execution(notebook, cwd=str(Path(path).parent), timeout=timeout,
                                 allow_errors=False, meta_override=True)
    error = None if result.err is None else f"{type(result.err).__name__}: {result.err}"
    return path, notebook, result.time, error


# The order to start them in: longest first (as benchmarks/book_build.py measures them on the
# 2-core machine), so that no long notebook is left to run alone at the end; one not listed starts first.
_LONGEST_FIRST = ["summary", "ppo", "trpo", "npg", "baselines", "gradient_ascent", "pg_ascent",
                  "reinforce", "lm", "pdl", "intro"]


def _order(path: Path) -> int:
    return _LONGEST_FIRST.index(path.stem) if path.stem in _LONGEST_FIRST else -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: chapters/*.md")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help="the build's jupyter-cache folder (<output>/_build/.jupyter_cache)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer, got {args.jobs}")

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    settings = _config().get("execute", {})
    if settings.get("execute_notebooks", "cache") != "cache":
        return 0  # the build executes (or not) by itself
    timeout = int(settings.get("timeout", 30))
    cache = get_cache(str(args.cache))
    from myst_nb.core.read import is_myst_markdown_notebook
    todo = []
    paths = args.notebooks or sorted((ROOT / "chapters").glob("*.md"))
    for path in sorted((p.resolve() for p in paths), key=_order):
        if not is_myst_markdown_notebook(path.read_text()):
            continue  # a page of text (the notation, the bibliography): nothing to execute
        try:
            cache.match_cache_notebook(read_notebook(path))
        except KeyError:
            todo.append(path)
    if not todo:
        return 0
    print(f"executing {len(todo)} notebook(s), {args.jobs} at a time", flush=True)
    start = time.perf_counter()
    failed = []
    with ProcessPoolExecutor(max_workers=min(args.jobs, len(todo))) as pool:
        futures = [pool.submit(execute, str(path), timeout) for path in todo]
        for future in as_completed(futures):
            path, notebook, seconds, error = future.result()
            name = Path(path).relative_to(ROOT)
            if error is not None:
                failed.append(name)
                print(f"  {name}: failed ({error.splitlines()[0][:200]}); the build will run it again", flush=True)
                continue
            # The database is written from this process only: one writer, no lock contention.
            record = cache.add_nb_to_project(path, read_data=MYST_READER)
            cache.cache_notebook_bundle(CacheBundleIn(notebook, record.uri, data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"  {name}: executed in {seconds:.1f} s", flush=True)
    print(f"executed {len(todo) - len(failed)} of {len(todo)} in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
