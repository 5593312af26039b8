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
        if self.relative_to:
            scale = f"{100 * self.resolution / self.relative_to:.2g}% of {self.unit or 'the reference'}"
        else:
            scale = f"{self.resolution:.2g}{(' ' + self.unit) if self.unit else ''}"
        return f"{self.what}: passed; this check detects a deviation above {scale}."


def _array(x, name: str) -> np.ndarray:
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
    a, e = _array(actual, "actual"), _array(expected, "expected")
    if a.shape != e.shape:
        raise ValueError(f"{what}: actual has shape {a.shape}, expected {e.shape}")
    tol = atol + rtol * np.abs(e)
    err = np.abs(a - e)
    worst = int(np.argmax(err - tol)) if err.size else 0
    if err.size and np.any(err > tol):
        raise CheckFailed(
            f"{what}: differs by {err.reshape(-1)[worst]:.3g} at element {np.unravel_index(worst, e.shape)} "
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


def mean_matches_exact(values, probabilities, expected, *, what: str, rtol: float = 1e-4, atol: float = 1e-6,
                       unit: str = "‖expected‖") -> Check:
    """An estimator's exact mean, by enumeration: `Σ_i p_i values[i]` equals `expected`.

    `values` is (M, ...) (the estimate for each of the M outcomes), `probabilities`
    (M,) sums to 1. No sampling error: the resolution is the tolerance
    `atol + rtol ‖expected‖` on the norm of the difference."""
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
    a, b = _samples(samples_a, "samples_a"), _samples(samples_b, "samples_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{what}: samples of different dimension ({a.shape[1]} and {b.shape[1]})")
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
    a, b = float(_array(a, "a")), float(_array(b, "b"))
    if not a < b - margin:
        raise CheckFailed(f"{what}: expected {a:.6g} < {b:.6g}" + (f" by more than {margin:.3g}" if margin else ""))
    return Check(what, a - b, -margin, margin, None, unit)


def greater(a: float, b: float, *, what: str, margin: float = 0.0, unit: str = "") -> Check:
    """`a > b + margin` for two exact (or already averaged) numbers."""
    a, b = float(_array(a, "a")), float(_array(b, "b"))
    if not a > b + margin:
        raise CheckFailed(f"{what}: expected {a:.6g} > {b:.6g}" + (f" by more than {margin:.3g}" if margin else ""))
    return Check(what, a - b, margin, margin, None, unit)


def mean_at_most(samples, bound: float, *, what: str, z: float = 3.0, unit: str = "") -> Check:
    """The mean of the scalar `samples` (N,) is at most `bound`, up to sampling error: rejected
    when the sample mean exceeds `bound` by more than `z` standard errors (for example a KL
    measured on fresh samples against the trust region's radius δ). Resolution: a true mean
    above `bound + (z + 1)·SE` is rejected."""
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
    m = np.asarray(mask, dtype=bool).reshape(-1)
    if m.size == 0:
        raise ValueError(f"{what}: mask is empty")
    got = float(m.mean())
    if got < fraction:
        raise CheckFailed(f"{what}: only {got:.1%} ({int(m.sum())} of {m.size}) hold, at least {fraction:.0%} expected")
    return Check(what, got, fraction, 1.0 / m.size, 1.0, "the elements")
