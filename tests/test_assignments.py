"""`python3 tasks.py assignments`: student notebooks with the solutions taken out, which work once filled in.

A student notebook keeps each coding exercise's skeleton and its `check` cell and drops the solution;
filled with the book's solutions it runs through, and left unfilled its first check fails with the
checker's message (not a trace)."""
from __future__ import annotations

import sys

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import assignments  # noqa: E402

SECTIONS = ["gradient_ascent", "pg_ascent", "reinforce", "baselines", "pdl", "trpo", "npg", "ppo", "lm", "summary"]


def solutions(section: str) -> list[str]:
    """The code cells between {solution-start} and {solution-end} in a chapter, in order."""
    cells, inside, found = jupytext.read(ROOT / "chapters" / f"{section}.md").cells, False, []
    for cell in cells:
        if cell.cell_type == "markdown" and "{solution-start}" in cell.source:
            inside = True
        elif cell.cell_type == "markdown" and "{solution-end}" in cell.source:
            inside = False
        elif inside and cell.cell_type == "code":
            found.append(cell.source)
    return found


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments")
    assert assignments.main(["--out", str(out), *(str(ROOT / "chapters" / f"{s}.md") for s in SECTIONS)]) == 0
    return out


@pytest.mark.parametrize("section", SECTIONS)
def test_a_student_notebook_has_skeletons_and_checks_but_no_solutions(written, section):
    nb = nbformat.read(written / f"{section}.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    skeletons = [c for c in nb.cells if "exercise-skeleton" in c.metadata.get("tags", [])]
    assert skeletons and all("# your code here" in c.source for c in skeletons)
    assert sum("check(" in c for c in code) == len(skeletons)
    for solution in solutions(section):
        assert solution not in code  # every coding solution removed
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "{solution-start}" not in text and "{solution}" not in text  # and every proof's solution
    assert any("from utils import plt, Array, Float" in c for c in code)  # it runs on its own


def run(nb, cwd):
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()


@pytest.mark.parametrize("section", SECTIONS)
def test_filled_in_with_the_solutions_a_student_notebook_runs_and_left_empty_it_fails_its_first_check(
        written, tmp_path, section):
    nb = nbformat.read(written / f"{section}.ipynb", as_version=4)
    skeleton_cells = [i for i, c in enumerate(nb.cells) if "exercise-skeleton" in c.metadata.get("tags", [])]
    with pytest.raises(CellExecutionError, match="returned None: finish it"):
        run(nbformat.from_dict(nb), tmp_path)
    for i, solution in zip(skeleton_cells, solutions(section), strict=True):
        nb.cells[i].source = solution
    run(nb, tmp_path)  # every cell, the checks of proofs' solutions removed with them
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    checks = [c.source for c in nb.cells if c.cell_type == "code" and "check(" in c.source]
    assert outputs.count(" cases pass.") == len(checks) > 0
    if section == "reinforce":
        assert "discounted_return: all 5 cases pass." in outputs and "reward_to_go: all 4 cases pass." in outputs


def test_a_proofs_check_cell_goes_with_its_solution(written):
    """The cells that check a proof's solution use the section's earlier cells; the student notebook drops them."""
    nb = nbformat.read(written / "trpo.ipynb", as_version=4)
    assert not any("kl_bernoulli" in c.source for c in nb.cells if c.cell_type == "code")
    assert any("ex-trpo-kl-bernoulli" in c.source or "Bernoulli" in c.source for c in nb.cells)  # the task stays


def test_a_section_without_exercises_gets_no_notebook(tmp_path):
    assert assignments.student_notebook(ROOT / "chapters" / "intro.md") is None
