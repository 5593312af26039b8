"""The chapter's checks: each claim the text makes, as a function that can fail.

Every check compares what a cell computed with what the text claims, raises
`CheckFailed` (an `AssertionError`) with a message that says what was expected
and what came back, and otherwise returns a `Check` whose `resolution` says
how large a deviation the check would have caught. A chapter prints
`check.describe()` beside the claim, so that the reader sees what was tested
and how finely ("detects a bias above 2% of the gradient's norm").

One definition of variance is used throughout the book and here: the
*variance* of a vector-valued estimator `g` is the trace of its covariance,
`E‖g − E g‖²` (`total_variance`); its *mean squared error* about a target
`t` is `E‖g − t‖²` (`mean_squared_error`), which adds the squared bias.

Sampled checks use a fixed number `z` of standard errors. With the chapter's
fixed PRNG keys each check is deterministic; `z` sets how far an honest
estimate may stray before the check rejects it, and the resolution is the
deviation that the check rejects even when the sampling error goes against
it by one standard error (so about `(z + 1)` standard errors).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = [
    "Check",
    "CheckFailed",
    "total_variance",
    "mean_squared_error",
    "close",
    "mean_matches",
    "mean_matches_exact",
    "variance_less",
    "less",
    "greater",
    "mean_at_most",
    "fraction_at_least",
    "mean_differs",
    "mean_differs_exact",
    "separated",
    "overlapping",
    "pairwise_wins",
    "rank_sum_p_value",
    "ranks_above",
    "power_law",
    "piecewise_constant",
]


class CheckFailed(AssertionError):
    """A claim of the chapter that the cell's numbers do not support."""


class Check(NamedTuple):
    """What a check measured: `statistic` against `threshold`, and what it can resolve.

    `resolution` is the smallest deviation (in the units of the claim) that
    the check is sure to reject; `relative_to`, when set, is the scale it is
    quoted against (for example ‖∇J‖), and `what` names the claim."""

    what: str
    statistic: float
    threshold: float
    resolution: float
    relative_to: float | None = None
    unit: str = ""

    def describe(self) -> str:
        """One sentence for the page: what was checked and how finely."""
        if self.resolution == 0:
            return f"{self.what}: passed (an exact comparison of computed numbers)."
        if self.relative_to:
            scale = f"{100 * self.resolution / self.relative_to:.2g}% of {self.unit or 'the reference'}"
        else:
            scale = f"{self.resolution:.2g}{(' ' + self.unit) if self.unit else ''}"
        return f"{self.what}: passed; this check detects a deviation above {scale}."


def _array(x, name: str) -> np.ndarray:
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}")
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from error
    if not np.all(np.isfinite(a)):
        raise CheckFailed(f"{name} contains NaN or infinite values")
    return a


def _samples(x, name: str) -> np.ndarray:
    """(N, ...) samples flattened to (N, d)."""
    a = _array(x, name)
    if a.ndim < 1 or a.shape[0] < 2:
        raise ValueError(f"{name} must hold at least two samples along its first axis, got shape {a.shape}")
    return a.reshape(a.shape[0], -1)


def _what(what) -> str:
    if not isinstance(what, str):
        raise TypeError(f"`what` must be a str naming the claim, got {type(what).__name__}")
    return what


def _number(value, name: str, low: float | None = None, *, strict: bool = False, high: float | None = None) -> float:
    """A finite real number at least (above, if `strict`) `low` and at most `high`, else a clear error."""
    if isinstance(value, (bool, str, bytes)) or value is None or np.ndim(value) != 0:
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}") from None
    ok = np.isfinite(x) and (low is None or (x > low if strict else x >= low)) and (high is None or x <= high)
    if not ok:
        bounds = [f"{'>' if strict else '>='} {low:g}"] if low is not None else []
        bounds += [f"<= {high:g}"] if high is not None else []
        raise ValueError(f"`{name}` must be a finite number {' and '.join(bounds)}, got {value!r}".rstrip())
    return x


def _tolerances(value, name: str, shape: tuple) -> float | np.ndarray:
    """A tolerance: one non-negative number, or an array of them broadcastable to `shape` (per element)."""
    if np.ndim(value) == 0:
        return _number(value, name, 0.0)
    t = _array(value, name)
    if not (np.all(np.isfinite(t)) and np.all(t >= 0)):
        raise ValueError(f"`{name}` must hold finite numbers >= 0")
    try:
        np.broadcast_shapes(t.shape, shape)
    except ValueError:
        raise ValueError(f"`{name}` of shape {t.shape} must broadcast to the shape of `expected` {shape}") from None
    return t


def _positive(value: float, name: str) -> float:
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def total_variance(samples) -> float:
    """The variance of a vector estimator: the trace of its covariance, `E‖g − E g‖²`.

    `samples` is (N, ...), one estimate per row; the unbiased (N − 1) form."""
    x = _samples(samples, "samples")
    return float(((x - x.mean(axis=0)) ** 2).sum(axis=1).sum() / (x.shape[0] - 1))


def mean_squared_error(samples, target) -> float:
    """`E‖g − t‖²`, the mean squared error about `target`: the variance plus the squared bias."""
    x = _samples(samples, "samples")
    t = _array(target, "target").reshape(-1)
    if t.shape[0] != x.shape[1]:
        raise ValueError(f"target has {t.shape[0]} entries, the samples {x.shape[1]}")
    return float(((x - t) ** 2).sum(axis=1).mean())


def close(actual, expected, *, what: str, rtol: float = 1e-5, atol: float = 0.0, unit: str = "") -> Check:
    """An identity, to the stated floating-point tolerance: `|actual − expected| ≤ atol + rtol |expected|`
    elementwise. Resolution: the largest tolerance over the elements."""
    _what(what), _number(rtol, "rtol", 0.0)
    a, e = _array(actual, "actual"), _array(expected, "expected")
    if a.shape != e.shape:
        raise ValueError(f"{what}: actual has shape {a.shape}, expected {e.shape}")
    atol = _tolerances(atol, "atol", e.shape)
    tol = atol + rtol * np.abs(e)
    err = np.abs(a - e)
    worst = int(np.argmax(err - tol)) if err.size else 0
    if err.size and np.any(err > tol):
        raise CheckFailed(
            f"{what}: differs by {err.reshape(-1)[worst]:.3g} at element {tuple(int(i) for i in np.unravel_index(worst, e.shape))} "
            f"(got {a.reshape(-1)[worst]:.6g}, expected {e.reshape(-1)[worst]:.6g}, tolerance {tol.reshape(-1)[worst]:.3g})"
        )
    scale = float(np.max(np.abs(e))) if e.size else 0.0
    return Check(what, float(err.max(initial=0.0)), float(tol.max(initial=0.0)), float(tol.max(initial=0.0)),
                 scale if scale > 0 and rtol > 0 else None, unit or ("the largest entry" if scale > 0 and rtol > 0 else ""))


def mean_matches(samples, expected, *, what: str, z: float = 4.0, unit: str = "‖expected‖") -> Check:
    """The sample mean of `samples` (N, ...) equals `expected` (...) up to sampling error.

    Tests the norm of the mean's error against `z` times its standard
    deviation, `sqrt(tr Cov / N)`. A bias `b` is rejected once
    ‖b‖ > (z + 1) sqrt(tr Cov / N), the resolution, quoted relative to ‖expected‖."""
    _what(what), _number(z, "z", 0.0, strict=True)
    x = _samples(samples, "samples")
    e = _array(expected, "expected").reshape(-1)
    if e.shape[0] != x.shape[1]:
        raise ValueError(f"{what}: expected has {e.shape[0]} entries, each sample {x.shape[1]}")
    n = x.shape[0]
    se = np.sqrt(total_variance(x) / n)
    err = float(np.linalg.norm(x.mean(axis=0) - e))
    threshold = z * se
    norm = float(np.linalg.norm(e))
    if err > threshold:
        raise CheckFailed(
            f"{what}: the mean of {n} samples is {err:.3g} from the expected value "
            f"({err / se:.1f} standard errors, more than the {z:g} allowed; ‖expected‖ = {norm:.3g})"
        )
    return Check(what, err, threshold, (z + 1) * se, norm if norm > 0 else None, unit)


def _enumerated_mean(values, probabilities, expected, what: str) -> tuple[np.ndarray, np.ndarray]:
    """`Σ_i p_i values[i]` and `expected`, both flattened, after checking the enumeration."""
    v = _array(values, "values")
    p = _array(probabilities, "probabilities")
    if p.ndim != 1 or p.shape[0] != v.shape[0]:
        raise ValueError(f"{what}: probabilities must be ({v.shape[0]},), got {p.shape}")
    if np.any(p < 0) or abs(p.sum() - 1) > 1e-6:
        raise ValueError(f"{what}: probabilities must be non-negative and sum to 1 (sum {p.sum():.8f})")
    mean = np.tensordot(p, v, axes=1).reshape(-1)
    e = _array(expected, "expected").reshape(-1)
    if e.shape != mean.shape:
        raise ValueError(f"{what}: expected has {e.shape[0]} entries, each value {mean.shape[0]}")
    return mean, e


def mean_matches_exact(values, probabilities, expected, *, what: str, rtol: float = 1e-4, atol: float = 1e-6,
                       unit: str = "‖expected‖") -> Check:
    """An estimator's exact mean, by enumeration: `Σ_i p_i values[i]` equals `expected`.

    `values` is (M, ...) (the estimate for each of the M outcomes), `probabilities`
    (M,) sums to 1. No sampling error: the resolution is the tolerance
    `atol + rtol ‖expected‖` on the norm of the difference."""
    _what(what), _number(rtol, "rtol", 0.0), _number(atol, "atol", 0.0)
    mean, e = _enumerated_mean(values, probabilities, expected, what)
    norm = float(np.linalg.norm(e))
    err = float(np.linalg.norm(mean - e))
    tol = atol + rtol * norm
    if err > tol:
        raise CheckFailed(
            f"{what}: the exact mean is {err:.3g} from the expected value "
            f"({100 * err / norm:.3g}% of ‖expected‖ = {norm:.3g}; tolerance {tol:.3g})" if norm > 0 else
            f"{what}: the exact mean is {err:.3g} from the expected value (tolerance {tol:.3g})"
        )
    return Check(what, err, tol, tol, norm if norm > 0 else None, unit)


def _mean_and_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.shape[0]))


def variance_less(samples_a, samples_b, *, what: str, z: float = 4.0, ratio: float = 1.0) -> Check:
    """The variance (trace of the covariance) of `samples_a` is below `ratio` times that of `samples_b`.

    Each variance is the mean of ‖g − ḡ‖² over its samples; the difference
    `Var_a − ratio·Var_b` must lie `z` standard errors below zero. Resolution:
    a true difference smaller than (z + 1) standard errors may go undetected."""
    _what(what), _number(z, "z", 0.0, strict=True), _number(ratio, "ratio", 0.0, strict=True)
    a, b = _samples(samples_a, "samples_a"), _samples(samples_b, "samples_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{what}: samples_b must have the dimension of samples_a ({a.shape[1]}), got {b.shape[1]}")
    da = ((a - a.mean(axis=0)) ** 2).sum(axis=1)
    db = ((b - b.mean(axis=0)) ** 2).sum(axis=1)
    (va, sa), (vb, sb) = _mean_and_se(da), _mean_and_se(db)
    diff, se = va - ratio * vb, float(np.hypot(sa, ratio * sb))
    if diff > -z * se:
        raise CheckFailed(
            f"{what}: variance {va:.4g} is not clearly below {ratio:g} × {vb:.4g} "
            f"(difference {diff:.3g}, {z:g} standard errors = {z * se:.3g})"
        )
    return Check(what, diff, -z * se, (z + 1) * se, vb, "the larger variance")


def less(a: float, b: float, *, what: str, margin: float = 0.0, unit: str = "") -> Check:
    """`a < b − margin` for two exact (or already averaged) numbers."""
    _what(what), _number(margin, "margin", 0.0)
    a, b = float(_array(a, "a")), float(_array(b, "b"))
    if not a < b - margin:
        raise CheckFailed(f"{what}: expected {a:.6g} < {b:.6g}" + (f" by more than {margin:.3g}" if margin else ""))
    return Check(what, a - b, -margin, margin, None, unit)


def greater(a: float, b: float, *, what: str, margin: float = 0.0, unit: str = "") -> Check:
    """`a > b + margin` for two exact (or already averaged) numbers."""
    _what(what), _number(margin, "margin", 0.0)
    a, b = float(_array(a, "a")), float(_array(b, "b"))
    if not a > b + margin:
        raise CheckFailed(f"{what}: expected {a:.6g} > {b:.6g}" + (f" by more than {margin:.3g}" if margin else ""))
    return Check(what, a - b, margin, margin, None, unit)


def mean_at_most(samples, bound: float, *, what: str, z: float = 3.0, unit: str = "") -> Check:
    """The mean of the scalar `samples` (N,) is at most `bound`, up to sampling error: rejected
    when the sample mean exceeds `bound` by more than `z` standard errors (for example a KL
    measured on fresh samples against the trust region's radius δ). Resolution: a true mean
    above `bound + (z + 1)·SE` is rejected."""
    _what(what), _number(z, "z", 0.0, strict=True), _number(bound, "bound")
    x = _array(samples, "samples").reshape(-1)
    if x.shape[0] < 2:
        raise ValueError(f"{what}: at least two samples are needed, got {x.shape[0]}")
    m, se = _mean_and_se(x)
    bound = float(bound)
    if m > bound + z * se:
        raise CheckFailed(
            f"{what}: mean {m:.4g} exceeds the bound {bound:.4g} by {(m - bound) / max(se, 1e-300):.1f} standard errors "
            f"(allowed: {z:g})"
        )
    return Check(what, m, bound + z * se, (z + 1) * se, abs(bound) if bound else None, unit or "the bound")


def fraction_at_least(mask, fraction: float, *, what: str) -> Check:
    """At least `fraction` of the booleans in `mask` are true (for example the share of updates
    whose KL lies inside the adaptive rule's band). Exact count, so the resolution is one element."""
    _what(what), _number(fraction, "fraction", 0.0, high=1.0)
    raw = np.asarray(mask) if not isinstance(mask, (str, bytes)) and mask is not None else None
    if raw is None or not (raw.dtype == bool or np.issubdtype(raw.dtype, np.integer)):
        raise TypeError(f"`mask` must be an array of booleans, got {type(mask).__name__}"
                        + (f" of dtype {raw.dtype}" if raw is not None else ""))
    m = raw.astype(bool).reshape(-1)
    if m.size == 0:
        raise ValueError(f"{what}: mask is empty")
    got = float(m.mean())
    if got < fraction:
        raise CheckFailed(f"{what}: only {got:.1%} ({int(m.sum())} of {m.size}) hold, at least {fraction:.0%} expected")
    return Check(what, got, fraction, 1.0 / m.size, 1.0, "the elements")


def mean_differs(samples, expected, *, what: str, z: float = 4.0, unit: str = "‖expected‖") -> Check:
    """A bias that the sample resolves: the mean of `samples` (N, ...) lies more than `z`
    standard errors (`sqrt(tr Cov / N)`, on the norm of the difference) from `expected`.

    The counterpart of `mean_matches`, for a claim that an estimator is *biased*
    (for example a baseline fitted on the same batch it is used with). Resolution:
    a bias above (z + 1) standard errors is detected."""
    _what(what), _number(z, "z", 0.0, strict=True)
    x = _samples(samples, "samples")
    e = _array(expected, "expected").reshape(-1)
    if e.shape[0] != x.shape[1]:
        raise ValueError(f"{what}: expected has {e.shape[0]} entries, each sample {x.shape[1]}")
    n = x.shape[0]
    se = np.sqrt(total_variance(x) / n)
    err = float(np.linalg.norm(x.mean(axis=0) - e))
    norm = float(np.linalg.norm(e))
    if not err > z * se:
        raise CheckFailed(
            f"{what}: the mean of {n} samples is only {err:.3g} from the expected value "
            f"({err / max(se, 1e-300):.1f} standard errors, {z:g} needed to show a bias; ‖expected‖ = {norm:.3g})"
        )
    return Check(what, err, z * se, (z + 1) * se, norm if norm > 0 else None, unit)


def mean_differs_exact(values, probabilities, expected, *, what: str, at_least: float,
                       unit: str = "‖expected‖") -> Check:
    """An exact bias, by enumeration: `‖Σ_i p_i values[i] − expected‖ ≥ at_least · ‖expected‖`.

    The counterpart of `mean_matches_exact`, for a claim that an estimator's mean
    is *not* the target (an action-dependent baseline, GAE with λ < 1 and an
    inexact value function). `at_least` is relative to ‖expected‖, which must be
    positive; it is also the resolution."""
    _what(what), _number(at_least, "at_least", 0.0, strict=True)
    mean, e = _enumerated_mean(values, probabilities, expected, what)
    norm = _positive(float(np.linalg.norm(e)), "‖expected‖")
    at_least = _positive(at_least, "at_least")
    err = float(np.linalg.norm(mean - e))
    if not err >= at_least * norm:
        raise CheckFailed(
            f"{what}: the exact mean is only {err:.3g} from the expected value "
            f"({100 * err / norm:.3g}% of ‖expected‖ = {norm:.3g}; at least {100 * at_least:.3g}% expected)"
        )
    return Check(what, err, at_least * norm, at_least * norm, norm, unit)


def _groups(samples, name: str) -> np.ndarray:
    a = _array(samples, name).reshape(-1)
    if a.shape[0] < 2:
        raise ValueError(f"{name} must hold at least two samples (for example one per seed), got {a.shape[0]}")
    return a


def separated(samples_a, samples_b, *, what: str, unit: str = "") -> Check:
    """Every sample of `samples_a` lies above every sample of `samples_b` (for example the
    final returns of the seeds of two methods): the ranges do not overlap, min a > max b.

    If the two groups were exchangeable (the methods equally good), this ordering would arise
    by chance with probability 1 / C(n_a + n_b, n_a), 1/70 for four samples each: it is the
    one-sided exact permutation (Mann–Whitney) test at its smallest p-value. Resolution: a
    difference between the two means larger than the sum of the two ranges (max − min)
    always separates the groups, whatever the samples."""
    _what(what)
    a, b = _groups(samples_a, "samples_a"), _groups(samples_b, "samples_b")
    gap = float(a.min() - b.max())
    spread = float(np.ptp(a) + np.ptp(b))
    if not gap > 0:
        raise CheckFailed(
            f"{what}: the ranges overlap (lowest of the first {a.min():.4g} ≤ highest of the second {b.max():.4g}; "
            f"means {a.mean():.4g} and {b.mean():.4g}, ranges {np.ptp(a):.3g} and {np.ptp(b):.3g}): "
            f"these samples do not resolve the ordering"
        )
    return Check(what, gap, 0.0, spread, None, unit)


def overlapping(groups, *, what: str, unit: str = "") -> Check:
    """No two of `groups` ({name: samples}) are `separated`: for every pair, the ranges of the
    samples overlap, so the samples support no ranking of any two of them.

    Raises `CheckFailed` naming a pair that is separated (a ranking the text could then state).
    Resolution: two groups whose means differ by more than the sum of their ranges would be
    separated, so the largest such sum over the pairs is the smallest difference of means that
    this check is sure to detect."""
    _what(what)
    if isinstance(groups, (str, bytes)) or not hasattr(groups, "__iter__"):
        raise TypeError(f"`groups` must be a dict {{name: samples}} or a sequence of samples, got {type(groups).__name__}")
    if isinstance(groups, dict):
        items = [(str(k), _groups(v, str(k))) for k, v in groups.items()]
    else:
        items = [(str(i), _groups(v, f"groups[{i}]")) for i, v in enumerate(groups)]
    if len(items) < 2:
        raise ValueError(f"{what}: at least two groups are needed, got {len(items)}")
    largest_gap, resolution = -np.inf, 0.0
    for i, (name_a, a) in enumerate(items):
        for name_b, b in items[i + 1:]:
            gap = max(a.min() - b.max(), b.min() - a.max())
            if gap > 0:
                high, low = (name_a, name_b) if a.min() > b.max() else (name_b, name_a)
                raise CheckFailed(
                    f"{what}: every sample of {high!r} lies above every sample of {low!r} "
                    f"(by {gap:.4g}{(' ' + unit) if unit else ''}): the samples do rank these two"
                )
            largest_gap = max(largest_gap, float(gap))
            resolution = max(resolution, float(np.ptp(a) + np.ptp(b)))
    return Check(what, largest_gap, 0.0, resolution, None, unit)


def pairwise_wins(samples_a, samples_b) -> float:
    """The fraction of pairs (one sample of each) in which the sample of `samples_a` is the
    larger, a tie counting one half: the Mann–Whitney U statistic over n_a·n_b. It estimates
    the probability that a run of the first method ends above a run of the second."""
    a, b = _groups(samples_a, "samples_a"), _groups(samples_b, "samples_b")
    wins = (a[:, None] > b[None, :]).sum() + 0.5 * (a[:, None] == b[None, :]).sum()
    return float(wins / (a.shape[0] * b.shape[0]))


def rank_sum_p_value(samples_a, samples_b) -> float:
    """One-sided exact p-value of the rank sum of `a` among the pooled samples (ties get their
    mean rank): the fraction of the C(n_a + n_b, n_a) ways of choosing n_a of the pooled samples
    whose rank sum is at least `a`'s, counted by dynamic programming over the samples."""
    a, b = _groups(samples_a, "samples_a"), _groups(samples_b, "samples_b")
    pooled = np.concatenate([a, b])
    values, inverse, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    before = np.concatenate([[0], np.cumsum(counts)[:-1]])
    twice_rank = (2 * before + counts + 1)[inverse]  # twice the mean rank: an integer
    observed = int(twice_rank[: a.shape[0]].sum())
    n_a, top = a.shape[0], int(twice_rank.sum())
    ways = np.zeros((n_a + 1, top + 1))  # ways[k, s]: subsets of k samples with doubled rank sum s
    ways[0, 0] = 1.0
    for r in twice_rank:
        ways[1:, r:] += ways[:-1, : top + 1 - r].copy()
    return float(ways[n_a, observed:].sum() / ways[n_a].sum())


def ranks_above(samples_a, samples_b, *, what: str, p: float = 0.01, unit: str = "") -> Check:
    """`samples_a` tend to lie above `samples_b` (for example the final returns of the seeds of
    two methods): the one-sided exact rank-sum (Mann–Whitney) test rejects, at level `p`, that
    the two groups are exchangeable (the methods equally good).

    The p-value is the probability, if the labels were assigned at random, of a rank sum for
    `samples_a` at least as large as the one observed. Unlike `separated`, one seed of `a`
    below one of `b` does not fail the check by itself. Resolution: a difference between the
    means larger than the sum of the two ranges separates the groups, the smallest p-value
    1 / C(n_a + n_b, n_a), which must lie below `p` (enough samples for the level asked)."""
    _what(what), _number(p, "p", 0.0, strict=True, high=1.0)
    a, b = _groups(samples_a, "samples_a"), _groups(samples_b, "samples_b")
    smallest = 1.0 / math.comb(a.shape[0] + b.shape[0], a.shape[0])
    if smallest > p:
        raise ValueError(
            f"{what}: {a.shape[0]} and {b.shape[0]} samples cannot reach p = {p:g} "
            f"(the smallest p-value is 1 / C(n_a + n_b, n_a) = {smallest:.3g}): use more samples"
        )
    p_value = rank_sum_p_value(a, b)
    if not p_value <= p:
        raise CheckFailed(
            f"{what}: the rank-sum test gives p = {p_value:.3g} > {p:g} (a sample of the first above one of the "
            f"second in {100 * pairwise_wins(a, b):.0f}% of pairs; means {a.mean():.4g} and {b.mean():.4g}): "
            f"these samples do not resolve the ordering"
        )
    return Check(what, p_value, p, float(np.ptp(a) + np.ptp(b)), None, unit)


def power_law(x, y, exponent: float, *, what: str, atol: float) -> Check:
    """`y` behaves like `C x^exponent`: the least-squares slope of `log y` against `log x` is
    within `atol` of `exponent` (for example a sub-optimality gap that decays like `1/k`,
    exponent −1, or a probability that does). `x` and `y` are positive, with at least three
    points; pass the range of `x` where the claim is meant (its asymptotic part). Resolution:
    an exponent that differs by more than `atol` is rejected."""
    _what(what), _number(exponent, "exponent"), _number(atol, "atol", 0.0, strict=True)
    x, y = _array(x, "x").reshape(-1), _array(y, "y").reshape(-1)
    if x.shape != y.shape or x.shape[0] < 3:
        raise ValueError(f"{what}: x and y must have the same length, at least 3 (got {x.shape[0]} and {y.shape[0]})")
    if np.any(x <= 0) or np.any(y <= 0):
        raise CheckFailed(f"{what}: a power law needs positive x and y (smallest y {y.min():.3g})")
    atol = _positive(atol, "atol")
    slope = float(np.polyfit(np.log(x), np.log(y), 1)[0])
    if abs(slope - exponent) > atol:
        raise CheckFailed(
            f"{what}: the log-log slope is {slope:.4g}, not {exponent:g} within {atol:g} "
            f"(over x from {x.min():.3g} to {x.max():.3g})"
        )
    return Check(what, slope, float(exponent), atol, None, "in the exponent")


def piecewise_constant(base, shifted, *, what: str, flat_fraction: float = 0.99, min_jump: float = 1.0) -> Check:
    """A function is piecewise constant, seen at random points: with `base` = f(x_i) and
    `shifted` = f(x_i + δ v) for a small step δ, the change is exactly zero at no fewer than
    `flat_fraction` of the points, and every nonzero change is a jump of at least `min_jump`
    (for example the return of a deterministic policy from a fixed start state, an integer,
    along a direction in parameter space). A smooth function that is not constant fails the
    first part (its changes are nonzero, if small); a continuous function with flat stretches
    and ramps fails the second. Exact comparison, no sampling error: the resolution is one
    point, 1/N of the fraction."""
    _what(what), _number(flat_fraction, "flat_fraction", 0.0, high=1.0)
    _number(min_jump, "min_jump", 0.0, strict=True)
    a, b = _array(base, "base").reshape(-1), _array(shifted, "shifted").reshape(-1)
    if a.shape != b.shape or a.shape[0] == 0:
        raise ValueError(f"{what}: base and shifted must be non-empty and of the same size ({a.shape[0]} and {b.shape[0]})")
    change = np.abs(b - a)
    flat = float(np.mean(change == 0))
    if flat < flat_fraction:
        raise CheckFailed(
            f"{what}: the function changes at {1 - flat:.2%} of the {a.shape[0]} points "
            f"(at most {1 - flat_fraction:.2%} allowed for a piecewise constant function)"
        )
    jumps = change[change > 0]
    if jumps.size and jumps.min() < min_jump:
        raise CheckFailed(
            f"{what}: {int((jumps < min_jump).sum())} of the {jumps.size} changes are smaller than a jump "
            f"(smallest {jumps.min():.3g} < {min_jump:g}): the function also varies continuously"
        )
    return Check(what, flat, flat_fraction, 1.0 / a.shape[0], 1.0, "the points")
