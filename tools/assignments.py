"""Student notebooks: each section's exercises with the solutions taken out.

    python tools/assignments.py [--out FOLDER] chapters/reinforce.md ...   # default out: _build/assignments

For each section (a MyST notebook) that has an "Exercises" part, this writes
`FOLDER/<section>.ipynb` holding, in order: a title cell; the section's set-up
cells (every code cell up to and including the one with the chapter's import
line, so that the notebook runs on its own, in Colab too); and the exercises,
from the "## Exercises" heading to the next "##" heading. Out of the exercises
it removes every solution: the code cells between `{solution-start}` and
`{solution-end}` (a coding exercise's solution) and every `{solution}` block
(a proof's) with the code cells right after it, which check that solution and
need the section's earlier cells. Skeleton cells (tag `exercise-skeleton`, a function whose body
says `# your code here`) and the `check(...)` cells stay: a student fills in
the skeleton and runs the check below it.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
IMPORT_LINE = "from utils import plt, Array, Float, Callable, jax, jnp, latex, gym"
SKELETON_TAG = "exercise-skeleton"
# A `{solution}` directive block, with three or more backticks (a block nesting code uses four).
SOLUTION_BLOCK = re.compile(r"^(`{3,})\{solution\}.*?^\1\s*$\n?", re.S | re.M)


def _is_heading(cell, level: str) -> bool:
    return cell.cell_type == "markdown" and any(line.startswith(level + " ") for line in cell.source.splitlines())


def student_notebook(path: Path) -> nbformat.NotebookNode | None:
    """The student notebook of section `path` (a chapter's .md), or None if it has no exercises."""
    nb = jupytext.read(path)
    cells = nb.cells
    start = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"
                  and re.search(r"^## Exercises\s*$", c.source, re.M)), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(cells)) if _is_heading(cells[i], "##")), len(cells))
    setup_end = next(i for i, c in enumerate(cells) if c.cell_type == "code" and IMPORT_LINE in c.source)
    setup = [c for c in cells[: setup_end + 1] if c.cell_type == "code"]
    exercises, in_solution, after_proof = [], False, False
    for cell in cells[start:end]:
        if cell.cell_type == "markdown" and "{solution-start}" in cell.source:
            in_solution = True
            continue
        if cell.cell_type == "markdown" and "{solution-end}" in cell.source:
            in_solution = False
            continue
        if in_solution:
            continue
        if cell.cell_type == "markdown":
            text = SOLUTION_BLOCK.sub("", cell.source).strip()
            # The code cells right after a proof's solution check that solution: they go with it.
            after_proof = text != cell.source.strip() or (after_proof and not text)
            if not text:
                continue
            cell = nbformat.v4.new_markdown_cell(text)
        elif after_proof and SKELETON_TAG not in cell.metadata.get("tags", []) and "check(" not in cell.source:
            continue
        else:
            cell = nbformat.v4.new_code_cell(cell.source, metadata={"tags": cell.metadata.get("tags", [])})
        exercises.append(cell)
    section = next((line[2:] for c in cells if c.cell_type == "markdown" for line in c.source.splitlines()
                    if line.startswith("# ")), path.stem)
    header = nbformat.v4.new_markdown_cell(
        f"# Exercises: {section}\n\nRun the first cells (set-up), then, for each coding exercise, fill in the "
        "function marked `# your code here` and run the `check` cell below it: it says what is wrong, or that "
        "every case passes.")
    student = nbformat.v4.new_notebook(
        cells=[header, *[nbformat.v4.new_code_cell(c.source) for c in setup], *exercises],
        metadata={"kernelspec": nb.metadata.get("kernelspec", {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"})})
    return student


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "assignments")
    parser.add_argument("chapters", nargs="+", type=Path)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in args.chapters:
        student = student_notebook(path)
        if student is None:
            continue
        nbformat.write(student, args.out / f"{path.stem}.ipynb")
        written += 1
    print(f"wrote {written} student notebook(s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
