"""Every notebook in the book has an in-sync, output-free `.ipynb` twin.

Colab opens the twins, and nbval executes those of the floors job (it reads
`.ipynb` only), so a twin that is missing or stale would show readers old code
or test other code than the book's. Because every twin holds exactly the
cells of its `.md`, the main run executes each chapter once, in the book build
(which fails on any failing cell), not a second time through nbval.
`python3 tasks.py sync` rewrites the twins.
"""
from __future__ import annotations

import jupytext
import pytest

from conftest import ROOT, is_notebook, toc_files

NOTEBOOKS = [p for p in toc_files() if p.suffix == ".md" and is_notebook(p)]


def test_the_book_has_notebooks():
    assert len(NOTEBOOKS) >= 2, NOTEBOOKS


def test_nbval_runs_the_floors_sections_and_the_build_runs_every_chapter():
    import tasks

    config = (ROOT / "pyproject.toml").read_text()
    assert 'testpaths = ["tests"]' in config  # the build executes the chapters in the main run
    assert "--nbval-lax" in config and "--nbval-current-env" in config
    assert tasks.FLOORS_CHAPTERS == ["chapters/reinforce.ipynb", "chapters/ppo.ipynb", "chapters/lm.ipynb"]
    assert all((ROOT / path).is_file() for path in tasks.FLOORS_CHAPTERS)
    assert "-W" in (ROOT / "tests" / "book_build.py").read_text()


@pytest.mark.parametrize("md", NOTEBOOKS, ids=lambda p: p.stem)
def test_twin_is_in_sync_and_has_no_outputs(md):
    twin = md.with_suffix(".ipynb")
    assert twin.is_file(), f"{twin.name} is missing: run `python3 tasks.py sync`"
    text = jupytext.read(md)
    paired = jupytext.read(twin)
    as_pairs = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert as_pairs(paired) == as_pairs(text), f"{twin.name} is out of sync with {md.name}: run `python3 tasks.py sync`"
    for cell in paired.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{twin.name} carries outputs"


def test_every_twin_belongs_to_a_listed_section():
    listed = {p.with_suffix(".ipynb") for p in NOTEBOOKS}
    orphans = sorted(p.name for p in (ROOT / "chapters").glob("*.ipynb") if p not in listed)
    assert not orphans, f"notebooks not in _toc.yml (unfinished sections do not belong in chapters/): {orphans}"


@pytest.mark.parametrize("md", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_starts_with_the_setup_import(md):
    code = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
    assert code, f"{md.name} has no code cell"
    first = [line for line in code[0].source.splitlines() if line.strip() and not line.startswith("#")]
    assert "from utils import plt, Array, Float, Callable, jax, jnp, latex, gym" in first, first
