"""The summary's claims and the notation page.

The summary ranks one method ahead of another only when the one-sided rank-sum
test over the seeds' final returns gives p <= 0.01 (`utils.checks.ranks_above`),
since a chaotic run's end changes with the CPU's rounding as if the seed had
changed. These tests hand that check, and the stricter `separated` and
`overlapping`, the plausible wrong input (a ranking read off the means of
curves whose seeds overlap) and show that the right input passes.

The notation page (`chapters/notation.md`) must list each symbol once, with one
meaning, follow the book's notation decisions, point only at labels that exist,
and be listed in `_toc.yml`.
"""
from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from conftest import ROOT, is_notebook, toc_files
from utils import checks

NOTATION = ROOT / "chapters" / "notation.md"
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*.md") if p != NOTATION)


# ---------------------------------------------------------------- the summary's ranking checks

def learning_curves(key: int, n_seeds: int, shift: float, spread: float, n_iterations: int = 48) -> np.ndarray:
    """Noisy learning curves ("seeds iterations") of one method: a rise to a plateau near
    350 + shift, with a seed-to-seed offset of standard deviation `spread`, as CartPole runs look."""
    rng = np.random.default_rng(key)
    rise = 350 * (1 - np.exp(-np.arange(1, n_iterations + 1) / 10))
    offset = rng.normal(0, spread, (n_seeds, 1))
    return rise + shift + offset + rng.normal(0, 20, (n_seeds, n_iterations))


def final_returns(curves: np.ndarray) -> np.ndarray:
    """As the summary computes them: the mean over the last 8 iterations, per seed."""
    return curves[:, -8:].mean(axis=1)


def test_a_ranking_by_the_means_is_rejected_when_the_seeds_overlap():
    # Method B is better on average by 30, while its seeds spread by about 100: a ranking of the
    # means says "B beats A", the seeds do not.
    a = final_returns(learning_curves(0, 4, shift=0.0, spread=60.0))
    b = final_returns(learning_curves(1, 4, shift=30.0, spread=60.0))
    assert b.mean() > a.mean()  # what the old summary's `min(names, key=mean)` ranking read
    assert b.min() < a.max()  # ... while the ranges overlap
    with pytest.raises(checks.CheckFailed, match="ranges overlap"):
        checks.separated(b, a, what="B ends above A on every seed")
    # Said the right way round, the claim passes: no ranking of the two.
    check = checks.overlapping({"A": a, "B": b}, what="A and B within the seeds' spread")
    assert check.resolution == pytest.approx(np.ptp(a) + np.ptp(b))


def test_a_real_difference_is_ranked():
    a = final_returns(learning_curves(2, 4, shift=0.0, spread=15.0))
    b = final_returns(learning_curves(3, 4, shift=200.0, spread=15.0))
    check = checks.separated(b, a, what="B ends above A on every seed", unit="in return")
    assert check.statistic == pytest.approx(b.min() - a.max()) and check.statistic > 0
    assert check.resolution == pytest.approx(np.ptp(a) + np.ptp(b))
    assert "passed" in check.describe()
    with pytest.raises(checks.CheckFailed):  # the wrong way round
        checks.separated(a, b, what="A ends above B on every seed")
    with pytest.raises(checks.CheckFailed, match="'B'.*above.*'A'"):  # and not "within the spread"
        checks.overlapping({"A": a, "B": b}, what="A and B within the seeds' spread")


def test_the_rank_test_rejects_a_ranking_read_off_the_means_of_eight_seeds():
    # As in the summary: eight seeds a method. B is better on average by 30, its seeds spread by
    # about 200: the means say "B beats A", the rank-sum test does not.
    a = final_returns(learning_curves(4, 8, shift=0.0, spread=60.0))
    b = final_returns(learning_curves(5, 8, shift=30.0, spread=60.0))
    assert b.mean() > a.mean()
    with pytest.raises(checks.CheckFailed, match="rank-sum test gives p"):
        checks.ranks_above(b, a, p=0.01, what="B ends ahead of A")
    # A real difference, with one seed of B below one of A: ranked, though not `separated`.
    b = final_returns(learning_curves(5, 8, shift=150.0, spread=60.0))
    assert b.min() < a.max()
    check = checks.ranks_above(b, a, p=0.01, what="B ends ahead of A")
    assert check.statistic <= 0.01
    with pytest.raises(checks.CheckFailed):
        checks.ranks_above(a, b, p=0.01, what="A ends ahead of B")


def test_overlapping_rejects_a_group_with_one_separated_pair():
    # Like the summary's numbers: TRPO at the cap on every seed, a PPO variant below it on every
    # seed, REINFORCE with a baseline overlapping both.
    groups = {"TRPO": [500, 500, 500, 500], "REINFORCE + baseline": [402, 461, 489, 500], "PPO-clip": [299, 310, 360, 417]}
    with pytest.raises(checks.CheckFailed, match="'TRPO'.*'PPO-clip'"):
        checks.overlapping(groups, what="no ranking among the three")
    del groups["PPO-clip"]
    checks.overlapping(groups, what="no ranking between the two")  # ties at the cap overlap
    checks.separated([500, 500, 500, 500], [299, 310, 360, 417], what="TRPO above PPO-clip")


def test_the_resolution_is_what_the_docstring_says():
    rng = np.random.default_rng(4)
    for _ in range(200):
        a, b = rng.normal(0, rng.uniform(1, 50), 4), rng.normal(0, rng.uniform(1, 50), 4)
        # shift b above a by more than the sum of the two ranges: always separated
        b = b - b.mean() + a.mean() + np.ptp(a) + np.ptp(b) + 1e-6
        checks.separated(b, a, what="difference above the resolution")
    # Exchangeable samples (two equally good methods): the four of one method lie above the
    # other's four in exactly 1 of the C(8, 4) = 70 equally likely orders.
    values = np.arange(8.0)
    above = sum(1 for picked in itertools.combinations(range(8), 4)
                if values[list(picked)].min() > np.delete(values, list(picked)).max())
    assert above == 1 and math.comb(8, 4) == 70


def test_the_summary_uses_these_checks():
    text = (ROOT / "chapters" / "summary.md").read_text()
    assert 'checks.ranks_above(final[name], final["REINFORCE"], p=level' in text
    assert "checks.separated(" not in text  # every seed above every seed: one CPU's rounding can undo it
    assert "\\binom{16}{8} = 12870" in text and "n_seeds = 8, 128, 48, 8" in text
    # The page prints no timings: the wall-clock time of a run appears only as a ratio to REINFORCE's
    # on the same environment, a figure that does not name the machine.
    assert "compile_time" not in text and text.count("time.perf_counter()") == 2
    uses = re.findall(r"run_time\[[^\]]+\][^\n]*", text)
    assert uses and all(re.search(r"run_time\[[^\]]+\] / run_time\[env_name, 'REINFORCE'\]", u) for u in uses), uses


# ---------------------------------------------------------------- the notation page

def notation_rows(text: str) -> list[tuple[list[str], str, str]]:
    """The rows of every table on the page: (symbols, meaning, where), the symbols being the
    math spans of the first cell with spaces removed. A row whose cells do not split into
    exactly three (a `|` inside the math) is an error."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3:
            raise AssertionError(f"line {number}: expected 3 cells, got {len(cells)} (a '|' in the math?): {line}")
        if cells[0] == "symbol" or set(cells[0]) <= set("-: "):
            continue
        symbols = [re.sub(r"\s+", "", s) for s in re.findall(r"\$([^$]+)\$", cells[0])]
        if not symbols or not cells[1]:
            raise AssertionError(f"line {number}: a row needs a symbol and a meaning: {line}")
        rows.append((symbols, cells[1], cells[2]))
    return rows


def one_meaning_each(rows) -> dict[str, str]:
    """Map each symbol to its meaning; raise if a symbol is listed twice."""
    meaning: dict[str, str] = {}
    for symbols, text, _ in rows:
        for symbol in symbols:
            if symbol in meaning:
                raise AssertionError(f"{symbol!r} is listed twice: {meaning[symbol]!r} and {text!r}")
            meaning[symbol] = text
    return meaning


@pytest.fixture(scope="module")
def notation() -> dict[str, str]:
    return one_meaning_each(notation_rows(NOTATION.read_text()))


def test_the_page_is_listed_in_the_table_of_contents_before_the_bibliography():
    pages = toc_files()
    assert NOTATION in pages
    files = [page.relative_to(ROOT).with_suffix("").as_posix() for page in pages]
    assert files.index("chapters/notation") == files.index("chapters/bibliography") - 1, files
    assert not is_notebook(NOTATION), "the notation page is a plain MyST page, not a notebook"
    assert not NOTATION.with_suffix(".ipynb").exists()


def test_each_symbol_is_listed_once(notation):
    assert len(notation) > 60


def test_a_symbol_listed_twice_is_rejected():
    text = NOTATION.read_text()
    doctored = text + "| $r_h$ | the importance ratio of step $h$ | {eq}`eq-ppo-clip` |\n"
    with pytest.raises(AssertionError, match="listed twice"):
        one_meaning_each(notation_rows(doctored))
    with pytest.raises(AssertionError, match="3 cells"):
        notation_rows(text + "| $\\lvert x \\rvert$, $|x|$ | absolute value | here |\n")


@pytest.mark.parametrize("symbol, words", [
    ("r(s,a)", "reward"), ("r_h", "reward"),
    ("w_h(\\theta)", "ratio"), ("w(x)", "importance weight"),
    ("u_i", "residual"), ("u_{\\mathrm{mach}}", "round-off"),
    ("\\lambda", "GAE"), ("\\beta", "penalty"), ("\\nu", "multiplier"), ("\\zeta", "damping"),
    ("\\eta", "step size"), ("\\alpha", "learning rate"), ("\\epsilon", "clip"),
    ("\\delta", "trust region"), ("\\delta_h", "temporal-difference"),
    ("\\rho^\\pi", "trajectories"), ("d^\\pi_h", "visitation"), ("\\pi(\\cdot\\mids)", "action distribution"),
    ("\\Var[\\hatg]", "trace of its covariance"), ("\\E\\lVert\\hatg-g\\rVert^2", "mean squared error"),
])
def test_the_book_notation(notation, symbol, words):
    assert symbol in notation, f"{symbol} is not on the notation page"
    assert words in notation[symbol], f"{symbol}: {notation[symbol]!r} does not say {words!r}"
    # a reward is only a reward, the ratio is w, and the trust region's radius is never indexed
    assert "ratio" not in notation["r_h"] or "never a ratio" in notation["r_h"]


def test_the_references_exist():
    """Each role points at a target of its kind: {prf:ref} at a prf directive's label, {eq} at a
    numbered equation, {ref} at an exercise or a section target, {doc} at a page."""
    text = NOTATION.read_text()
    targets: dict[str, set[str]] = {"prf:ref": set(), "eq": set(), "ref": set()}
    for chapter in CHAPTERS:
        source = chapter.read_text()
        for directive, label in re.findall(r"`{3,}\{([a-z:]+)\}[^\n]*\n(?::[a-z]+:[^\n]*\n)*?:label:\s*(\S+)", source):
            targets["prf:ref" if directive.startswith("prf:") else "ref"].add(label)
        targets["eq"] |= set(re.findall(r"\$\$\s*\((eq-[A-Za-z0-9-]+)\)", source))
        targets["ref"] |= set(re.findall(r"^\(([A-Za-z0-9-]+)\)=\s*$", source, flags=re.M))
    found = re.findall(r"\{(prf:ref|eq|ref|doc)\}`([^`]+)`", text)
    assert len(found) > 50
    for role, target in found:
        if role == "doc":
            assert (ROOT / "chapters" / f"{target}.md").is_file(), f"{{doc}}`{target}`: no such page"
            continue
        label = re.sub(r"^.*<(.+)>$", r"\1", target)  # {ref}`text <label>`
        assert label in targets[role], f"{{{role}}}`{target}`: no such {role} target in the chapters"


GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau "
         "upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega").split()


def test_every_greek_letter_of_the_chapter_is_listed(notation):
    listed = " ".join(notation)
    used = set()
    for chapter in CHAPTERS:
        used |= set(re.findall(r"\\(" + "|".join(GREEK) + r")(?![A-Za-z])", chapter.read_text()))
    missing = sorted(g for g in used if not re.search(r"\\" + g + r"(?![A-Za-z])", listed))
    assert not missing, f"used in the chapter but not on the notation page: {missing}"
