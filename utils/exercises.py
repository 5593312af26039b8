"""Checkers for the chapter's coding exercises: `check(name, fn)`.

    from utils.exercises import check
    check("reward_to_go", my_reward_to_go)    # prints a short success message, or raises

`check` calls the student's `fn` on a list of cases (small exact ones worked by
hand, edge cases, and random inputs drawn with fixed keys) and compares each
answer with a reference computed here in float64 NumPy, independently of the
library. On the first case that fails it raises `ExerciseError` (an
`AssertionError`) naming the case, its input, what was expected and what came
back, and a hint: each exercise knows the usual mistakes (a reward-to-go that
includes past rewards, a missing discount, KL in the wrong direction, clipping
on one side only, ...); when the answer matches one of them, the hint says which,
otherwise it restates the definition. An exception raised by `fn`, an answer that
is not an array of numbers, or one of the wrong shape gets its own message.

Answers are compared with `rtol = 1e-5, atol = 1e-6`: float32 arithmetic
passes, a formula that differs anywhere does not. `EXERCISES` lists the names
and signatures; the book's exercises link each to its equation.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["ExerciseError", "Exercise", "EXERCISES", "check", "reference"]

RTOL, ATOL = 1e-5, 1e-6


class ExerciseError(AssertionError):
    """A case of an exercise failed: the message says which, what was expected, what came back and why."""


class Mistake(NamedTuple):
    """A typical wrong answer: `answer(*args)` computes it; `hint(*args, got, expected)` explains it."""

    answer: Callable[..., Any]
    hint: Callable[..., str]


class Case(NamedTuple):
    name: str
    args: tuple


class Exercise(NamedTuple):
    """One checked exercise: its signature, its reference answer, its cases and its usual mistakes."""

    name: str
    signature: str
    reference: Callable[..., np.ndarray]
    cases: Callable[[], list[Case]]
    mistakes: tuple[Mistake, ...]
    definition: str  # what the answer should be, said when no known mistake matches


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _first_mismatch(got, expected) -> int:
    bad = ~np.isclose(got, expected, rtol=RTOL, atol=ATOL)
    return int(np.argmax(bad.reshape(-1)))


# ---------------------------------------------------------------------------
# Reward-to-go and the discounted return
# ---------------------------------------------------------------------------


def _reward_to_go(rewards):
    r = np.asarray(rewards, np.float64)
    return np.cumsum(r[::-1])[::-1]


def _reward_to_go_cases():
    return [
        Case("three rewards [1, 2, 3]", (np.array([1.0, 2.0, 3.0], np.float32),)),
        Case("one reward", (np.array([5.0], np.float32),)),
        Case("rewards with signs [2, -1, 0, 4]", (np.array([2.0, -1.0, 0.0, 4.0], np.float32),)),
        Case("20 random rewards (seed 0)", (_rng(0).normal(size=20).astype(np.float32),)),
    ]


def _past_hint(rewards, got, expected):
    h = _first_mismatch(got, expected)
    past = {1: "r_0", 2: "r_0 and r_1"}.get(h, f"r_0, ..., r_{h - 1}")
    return f"at h = {h} your value includes {past}: the reward-to-go starts at r_{h} (causality: a later action cannot change earlier rewards)"


_REWARD_TO_GO_MISTAKES = (
    Mistake(lambda r: np.full(len(r), np.sum(np.asarray(r, np.float64))), _past_hint),
    Mistake(lambda r: np.cumsum(np.asarray(r, np.float64)),
            lambda r, got, exp: "your value at h sums r_0, ..., r_h (the rewards up to h); "
                                "the reward-to-go sums r_h, ..., r_{H-1}: accumulate from the end"),
    Mistake(lambda r: _reward_to_go(r) - np.asarray(r, np.float64),
            lambda r, got, exp: f"your value at h = {_first_mismatch(got, exp)} leaves out r_h itself: "
                                "the sum starts at h, not h + 1"),
)


def _discounted_return(rewards, gamma):
    r = np.asarray(rewards, np.float64)
    return np.asarray(np.sum(gamma ** np.arange(len(r)) * r))


def _discounted_return_cases():
    return [
        Case("rewards [1, 2, 4], gamma = 0.5", (np.array([1.0, 2.0, 4.0], np.float32), 0.5)),
        Case("rewards [0, 0, 2], gamma = 0.9", (np.array([0.0, 0.0, 2.0], np.float32), 0.9)),
        Case("one reward, gamma = 0.99", (np.array([3.0], np.float32), 0.99)),
        Case("rewards [1, 2, 3], gamma = 1 (undiscounted)", (np.array([1.0, 2.0, 3.0], np.float32), 1.0)),
        Case("30 random rewards (seed 1), gamma = 0.95", (_rng(1).normal(size=30).astype(np.float32), 0.95)),
    ]


_DISCOUNTED_RETURN_MISTAKES = (
    Mistake(lambda r, g: np.asarray(np.sum(np.asarray(r, np.float64))),
            lambda r, g, got, exp: f"you summed the rewards without discounting: r_t is weighted by gamma^t = {g}^t"),
    Mistake(lambda r, g: np.asarray(np.sum(g ** np.arange(1, len(r) + 1) * np.asarray(r, np.float64))),
            lambda r, g, got, exp: "off by one: the first reward is not discounted (weight gamma^0 = 1), "
                                   "the reward at t has weight gamma^t"),
    Mistake(lambda r, g: np.asarray(np.sum(g ** np.arange(len(r))[::-1] * np.asarray(r, np.float64))),
            lambda r, g, got, exp: "the discount runs the wrong way: the earliest reward gets weight 1 and "
                                   "later rewards are discounted more"),
)


# ---------------------------------------------------------------------------
# Generalised advantage estimation
# ---------------------------------------------------------------------------


def _gae(rewards, values, dones, gamma, lam):
    r, v = np.asarray(rewards, np.float64), np.asarray(values, np.float64)
    d = np.asarray(dones, bool)
    adv, next_adv = np.zeros(len(r)), 0.0
    for t in reversed(range(len(r))):
        live = 0.0 if d[t] else 1.0
        delta = r[t] + gamma * live * v[t + 1] - v[t]
        next_adv = delta + gamma * lam * live * next_adv
        adv[t] = next_adv
    return adv


def _gae_ignoring_dones(rewards, values, dones, gamma, lam):
    return _gae(rewards, values, np.zeros(len(rewards), bool), gamma, lam)


def _gae_cases():
    rng = _rng(2)
    T = 12
    dones = np.zeros(T, bool)
    dones[[4, 9]] = True
    return [
        Case("T = 3, no episode end, gamma = 0.9, lam = 0.8",
             (np.array([1.0, 0.0, 2.0], np.float32), np.array([0.5, 1.0, -1.0, 2.0], np.float32),
              np.zeros(3, bool), 0.9, 0.8)),
        Case("the episode ends at t = 1 of 3 (dones[1]), gamma = 0.9, lam = 0.8",
             (np.array([1.0, 0.0, 2.0], np.float32), np.array([0.5, 1.0, -1.0, 2.0], np.float32),
              np.array([False, True, False]), 0.9, 0.8)),
        Case("lam = 0: the TD errors", (np.array([1.0, 2.0], np.float32), np.array([0.0, 1.0, 3.0], np.float32),
                                         np.zeros(2, bool), 0.5, 0.0)),
        Case("T = 12 random, episodes ending at t = 4 and 9 (seed 2), gamma = 0.99, lam = 0.95",
             (rng.normal(size=T).astype(np.float32), rng.normal(size=T + 1).astype(np.float32), dones, 0.99, 0.95)),
    ]


def _done_hint(rewards, values, dones, gamma, lam, got, expected):
    ends = [int(t) for t in np.flatnonzero(np.asarray(dones))]
    return (f"the episode ends at t = {ends[0]} (dones[{ends[0]}]), but your estimate bootstraps past it: "
            f"after a step with dones[t] set, use no V(s_(t+1)) and no later advantage")


_GAE_MISTAKES = (
    Mistake(_gae_ignoring_dones, _done_hint),
    Mistake(lambda r, v, d, g, lam: _gae(r, v, d, g, 1.0),
            lambda *a: "your estimate ignores lam: each later TD error is weighted by (gamma * lam)^k, not gamma^k"),
    Mistake(lambda r, v, d, g, lam: _gae(r, v, d, g, 0.0),
            lambda *a: "you returned the one-step TD errors delta_t (lam = 0); "
                       "GAE sums (gamma * lam)^k delta_(t+k) along the episode"),
    Mistake(lambda r, v, d, g, lam: -_gae(r, v, d, g, lam),
            lambda *a: "the sign is flipped: delta_t = r_t + gamma V(s_(t+1)) - V(s_t)"),
    Mistake(lambda r, v, d, g, lam: _gae(r, np.concatenate([v[:-1], [0.0]]), d, g, lam),
            lambda *a: "your last step does not bootstrap: values[T] is the value of the state after the "
                       "last step, and it counts unless dones[T-1] is set"),
)


# ---------------------------------------------------------------------------
# The softmax score
# ---------------------------------------------------------------------------


def _softmax(x):
    z = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return z / np.sum(z, axis=-1, keepdims=True)


def _softmax_score(theta, s, a):
    theta = np.asarray(theta, np.float64)
    out = np.zeros_like(theta)
    out[s] = -_softmax(theta[s])
    out[s, a] += 1.0
    return out


def _softmax_score_cases():
    return [
        Case("uniform policy, 2 states x 3 actions, s = 0, a = 1", (np.zeros((2, 3), np.float32), 0, 1)),
        Case("theta = [[1, 0], [0, 2]], s = 1, a = 0", (np.array([[1.0, 0.0], [0.0, 2.0]], np.float32), 1, 0)),
        Case("random theta 4 x 5 (seed 3), s = 2, a = 4", (_rng(3).normal(size=(4, 5)).astype(np.float32), 2, 4)),
    ]


def _all_rows(theta, s, a):
    theta = np.asarray(theta, np.float64)
    out = -_softmax(theta)
    out[:, a] += 1.0
    return out


_SOFTMAX_SCORE_MISTAKES = (
    Mistake(lambda th, s, a: -_softmax_score(th, s, a),
            lambda *a: "the sign is flipped: the score is e_a - pi(.|s), it raises the action taken"),
    Mistake(lambda th, s, a: _softmax_score(th, s, a) + np.where(np.arange(len(th))[:, None] == s,
                                                                 _softmax(np.asarray(th, np.float64)[s]), 0.0),
            lambda th, s, a, got, exp: f"you left out - pi(.|s): the derivative of log sum_a' exp(theta[s, a']) "
                                       f"in row s = {s}"),
    Mistake(_all_rows,
            lambda th, s, a, got, exp: f"only row s = {s} depends on theta[s]: the other rows of the score are zero"),
)


# ---------------------------------------------------------------------------
# Importance weights, the categorical KL, PPO's clipped surrogate
# ---------------------------------------------------------------------------


def _importance_weights(log_p, log_q):
    return np.exp(np.asarray(log_p, np.float64) - np.asarray(log_q, np.float64))


def _importance_weights_cases():
    rng = _rng(4)
    return [
        Case("p = (0.5, 0.25), q = (0.25, 0.5)", (np.log(np.array([0.5, 0.25], np.float32)),
                                                   np.log(np.array([0.25, 0.5], np.float32)))),
        Case("equal log-probabilities", (np.array([-1.0, -2.0, -3.0], np.float32), np.array([-1.0, -2.0, -3.0], np.float32))),
        Case("log-probabilities near -100 (exponentiate the difference, not each)",
             (np.array([-100.0, -101.0], np.float32), np.array([-101.0, -100.0], np.float32))),
        Case("50 random log-probabilities (seed 4)", (rng.normal(size=50).astype(np.float32) - 2,
                                                      rng.normal(size=50).astype(np.float32) - 2)),
    ]


_IMPORTANCE_WEIGHTS_MISTAKES = (
    Mistake(lambda lp, lq: _importance_weights(lq, lp),
            lambda *a: "inverted: the weight is p(x)/q(x), the target density over the sampling density"),
    Mistake(lambda lp, lq: np.asarray(lp, np.float64) - np.asarray(lq, np.float64),
            lambda *a: "you returned log p - log q: exponentiate it"),
    Mistake(lambda lp, lq: _importance_weights(lp, lq) / np.sum(_importance_weights(lp, lq)),
            lambda *a: "these are self-normalised weights (they sum to 1); the plain weights are p(x)/q(x)"),
)


def _categorical_kl(logits_p, logits_q):
    log_p = np.log(_softmax(np.asarray(logits_p, np.float64)))
    log_q = np.log(_softmax(np.asarray(logits_q, np.float64)))
    return np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)


def _categorical_kl_cases():
    rng = _rng(5)
    return [
        Case("p = (0.75, 0.25), q = (0.5, 0.5), as logits", (np.log(np.array([0.75, 0.25], np.float32)), np.zeros(2, np.float32))),
        Case("unnormalised logits [1, 2, 3] against [0, 0, 0]", (np.array([1.0, 2.0, 3.0], np.float32), np.zeros(3, np.float32))),
        Case("a batch of 6 random pairs over 4 actions (seed 5)", (rng.normal(size=(6, 4)).astype(np.float32),
                                                                   rng.normal(size=(6, 4)).astype(np.float32))),
        Case("a (2, 3) batch over 5 actions (seed 6)", (_rng(6).normal(size=(2, 3, 5)).astype(np.float32),
                                                        _rng(7).normal(size=(2, 3, 5)).astype(np.float32))),
    ]


_CATEGORICAL_KL_MISTAKES = (
    Mistake(lambda p, q: _categorical_kl(q, p),
            lambda *a: "wrong direction: you computed KL(q || p); KL(p || q) = sum_a p(a) log(p(a)/q(a)), "
                       "the expectation under p"),
    Mistake(lambda p, q: np.sum(_softmax(np.asarray(p, np.float64)) * (np.asarray(p, np.float64) - np.asarray(q, np.float64)), -1),
            lambda *a: "you used the logits as log-probabilities: normalise them first (log_softmax)"),
    Mistake(lambda p, q: np.sum(np.asarray(p, np.float64) * (np.asarray(p, np.float64) - np.asarray(q, np.float64)), -1),
            lambda *a: "the logits are not probabilities: p(a) = softmax(logits_p)[a] and log p(a) = log_softmax(logits_p)[a]"),
)


def _clipped_surrogate(ratio, advantage, eps):
    w, A = np.asarray(ratio, np.float64), np.asarray(advantage, np.float64)
    return np.minimum(w * A, np.clip(w, 1 - eps, 1 + eps) * A)


def _clipped_surrogate_cases():
    w = np.array([0.5, 0.9, 1.0, 1.1, 1.5, 0.5, 0.9, 1.1, 1.5], np.float32)
    A = np.array([1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0], np.float32)
    rng = _rng(8)
    return [
        Case("A = +1 with ratios [0.5, 0.9, 1.0, 1.1, 1.5], eps = 0.2", (w[:5], A[:5], 0.2)),
        Case("A = -1 with ratios [0.5, 0.9, 1.1, 1.5], eps = 0.2", (w[5:], A[5:], 0.2)),
        Case("ratios and advantages of both signs, eps = 0.2", (w, A * np.arange(1, 10, dtype=np.float32), 0.2)),
        Case("64 random samples (seed 8), eps = 0.1", (np.exp(0.3 * rng.normal(size=64)).astype(np.float32),
                                                       rng.normal(size=64).astype(np.float32), 0.1)),
    ]


_CLIPPED_SURROGATE_MISTAKES = (
    Mistake(lambda w, A, e: np.minimum(np.asarray(w, np.float64) * A, np.minimum(w, 1 + e) * np.asarray(A, np.float64)),
            lambda *a: "you clip the ratio at 1 + eps only: clip it to [1 - eps, 1 + eps] (a negative advantage "
                       "needs the lower end)"),
    Mistake(lambda w, A, e: np.clip(np.asarray(w, np.float64), 1 - e, 1 + e) * np.asarray(A, np.float64),
            lambda *a: "you return clip(w) A alone: take the minimum with w A, so the surrogate is a lower bound"),
    Mistake(lambda w, A, e: np.maximum(np.asarray(w, np.float64) * A, np.clip(w, 1 - e, 1 + e) * np.asarray(A, np.float64)),
            lambda *a: "max instead of min: the clipped surrogate is the pessimistic (smaller) of w A and clip(w) A"),
)


# ---------------------------------------------------------------------------
# Conjugate gradient and the natural step size
# ---------------------------------------------------------------------------


def _conjugate_gradient(matvec, b, n_iters):
    b = np.asarray(b, np.float64)
    x, r = np.zeros_like(b), b.copy()
    p, rr = r.copy(), r @ r
    for _ in range(n_iters):
        if rr <= 1e-30:
            break
        Ap = np.asarray(matvec(p), np.float64)
        alpha = rr / (p @ Ap)
        x, r = x + alpha * p, r - alpha * Ap
        rr_new = r @ r
        p, rr = r + (rr_new / rr) * p, rr_new
    return x


def _spd(seed, D):
    M = _rng(seed).normal(size=(D, D))
    return (M @ M.T + D * np.eye(D)).astype(np.float32)


class _MatVec:
    """`v -> A v` for a fixed matrix, printed as the matrix (the case's input)."""

    def __init__(self, A):
        self.A = A

    def __call__(self, v):
        import jax.numpy as jnp

        return jnp.asarray(self.A) @ jnp.asarray(v, jnp.float32) if not isinstance(v, np.ndarray) else self.A @ v

    def __repr__(self):
        return f"v -> A v with A =\n{np.array2string(self.A, precision=3)}"


def _conjugate_gradient_cases():
    A3 = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]], np.float32)
    return [
        Case("A = diag(1, 2, 4), b = (1, 1, 1), 3 iterations (exact)",
             (_MatVec(np.diag([1.0, 2.0, 4.0]).astype(np.float32)), np.ones(3, np.float32), 3)),
        Case("a 3 x 3 tridiagonal A, b = (1, 2, 3), 1 iteration", (_MatVec(A3), np.array([1.0, 2.0, 3.0], np.float32), 1)),
        Case("the same A and b, 2 iterations", (_MatVec(A3), np.array([1.0, 2.0, 3.0], np.float32), 2)),
        Case("a random 6 x 6 positive definite A (seed 9), 4 iterations",
             (_MatVec(_spd(9, 6)), _rng(10).normal(size=6).astype(np.float32), 4)),
    ]


def _steepest_descent(matvec, b, n_iters):
    b = np.asarray(b, np.float64)
    x = np.zeros_like(b)
    for _ in range(n_iters):
        r = b - np.asarray(matvec(x), np.float64)
        Ar = np.asarray(matvec(r), np.float64)
        x = x + (r @ r) / (r @ Ar) * r
    return x


_CONJUGATE_GRADIENT_MISTAKES = (
    Mistake(_steepest_descent,
            lambda *a: "your iterates are those of steepest descent: the next direction is the new residual "
                       "plus beta times the previous direction, beta = (r_new . r_new) / (r . r)"),
    Mistake(lambda mv, b, n: np.asarray(b, np.float64),
            lambda *a: "you returned b: run n_iters steps from x = 0"),
    Mistake(lambda mv, b, n: _conjugate_gradient(mv, b, max(n - 1, 0)),
            lambda mv, b, n, got, exp: f"off by one: your answer is that of {n - 1} iterations, not {n}"),
)


def _natural_step_size(grad, natural_grad, delta):
    g, x = np.asarray(grad, np.float64), np.asarray(natural_grad, np.float64)
    return np.asarray(math.sqrt(2 * delta / (g @ x)))


def _natural_step_size_cases():
    rng = _rng(11)
    g = rng.normal(size=5)
    F = _spd(12, 5).astype(np.float64)
    return [
        Case("g = (1, 0), F = diag(4, 1), x = F^-1 g = (0.25, 0), delta = 0.01",
             (np.array([1.0, 0.0], np.float32), np.array([0.25, 0.0], np.float32), 0.01)),
        Case("g = (3, 4), x = (3, 4) (F = I), delta = 0.5", (np.array([3.0, 4.0], np.float32), np.array([3.0, 4.0], np.float32), 0.5)),
        Case("a random 5-dimensional g and x = F^-1 g (seeds 11, 12), delta = 0.02",
             (g.astype(np.float32), np.linalg.solve(F, g).astype(np.float32), 0.02)),
    ]


_NATURAL_STEP_SIZE_MISTAKES = (
    Mistake(lambda g, x, d: np.asarray(math.sqrt(d / (np.asarray(g, np.float64) @ x))),
            lambda *a: "you left out the 2: the quadratic model of the KL is (1/2) eta^2 x^T F x = delta"),
    Mistake(lambda g, x, d: np.asarray(2 * d / (np.asarray(g, np.float64) @ x)),
            lambda *a: "take the square root: eta^2 g^T x = 2 delta"),
    Mistake(lambda g, x, d: np.asarray(math.sqrt(2 * d / (np.asarray(x, np.float64) @ x))),
            lambda *a: "you used x . x; the step's KL needs x^T F x = g^T x (x = F^-1 g)"),
    Mistake(lambda g, x, d: np.asarray(math.sqrt(2 * d / (np.asarray(g, np.float64) @ g))),
            lambda *a: "you used g . g, the plain gradient's norm; the natural step needs g^T F^-1 g = g . x"),
)


# ---------------------------------------------------------------------------
# Gradient ascent and the performance difference lemma
# ---------------------------------------------------------------------------


def _gradient_ascent(grad, theta0, step_size, n_steps):
    theta = np.asarray(theta0, np.float64)
    for _ in range(n_steps):
        theta = theta + step_size * np.asarray(grad(theta), np.float64)
    return theta


class _Gradient:
    """The gradient of a concave quadratic `J(θ) = −½ (θ − c)ᵀ diag(w) (θ − c)`, printed as its formula."""

    def __init__(self, c, w):
        self.c, self.w = np.asarray(c, np.float32), np.asarray(w, np.float32)

    def __call__(self, theta):
        return self.w * (self.c - theta)

    def __repr__(self):
        return f"grad J(theta) = w * (c - theta) with c = {self.c.tolist()}, w = {self.w.tolist()}"


def _gradient_ascent_cases():
    return [
        Case("J = -(theta - 1)^2 / 2 in one dimension, from 0, step size 0.5, 1 step",
             (_Gradient([1.0], [1.0]), np.zeros(1, np.float32), 0.5, 1)),
        Case("the same, 3 steps", (_Gradient([1.0], [1.0]), np.zeros(1, np.float32), 0.5, 3)),
        Case("two dimensions, c = (2, -1), w = (1, 4), from (0, 0), step size 0.125, 4 steps",
             (_Gradient([2.0, -1.0], [1.0, 4.0]), np.zeros(2, np.float32), 0.125, 4)),
        Case("zero steps: the initial point", (_Gradient([3.0], [1.0]), np.array([0.5], np.float32), 0.1, 0)),
    ]


_GRADIENT_ASCENT_MISTAKES = (
    Mistake(lambda g, th, eta, n: _gradient_ascent(lambda x: -np.asarray(g(x), np.float64), th, eta, n),
            lambda *a: "your steps go downhill: gradient ascent adds eta * grad J(theta^k)"),
    Mistake(lambda g, th, eta, n: np.asarray(th, np.float64) + n * eta * np.asarray(g(np.asarray(th)), np.float64),
            lambda *a: "you evaluate the gradient only at theta^0: recompute it at every iterate theta^k"),
    Mistake(lambda g, th, eta, n: _gradient_ascent(g, th, eta, max(n - 1, 0)),
            lambda g, th, eta, n, got, exp: f"off by one: your answer is theta^{n - 1}, after {n - 1} steps; "
                                            f"return theta^{n}"),
    Mistake(lambda g, th, eta, n: _gradient_ascent(g, th, eta, n + 1),
            lambda g, th, eta, n, got, exp: f"off by one: your answer is theta^{n + 1}; return theta^{n}, "
                                            f"after {n} steps"),
)


def _performance_difference(d_new, pi_new, advantage):
    d, p, A = (np.asarray(x, np.float64) for x in (d_new, pi_new, advantage))
    return np.asarray(np.sum(d[..., None] * p * A))


def _performance_difference_cases():
    rng = _rng(13)
    H, S, A = 3, 4, 2

    def distribution(shape):
        x = rng.random(shape)
        return (x / x.sum(-1, keepdims=True)).astype(np.float32)

    return [
        Case("one step, one state, two actions: pi~ = (1, 0), A = (1, -1)",
             (np.ones((1, 1), np.float32), np.array([[[1.0, 0.0]]], np.float32), np.array([[[1.0, -1.0]]], np.float32))),
        Case("two steps, two states, a deterministic pi~",
             (np.array([[1.0, 0.0], [0.5, 0.5]], np.float32),
              np.array([[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]], np.float32),
              np.array([[[0.5, 2.0], [1.0, -1.0]], [[-1.0, 3.0], [0.0, 0.25]]], np.float32))),
        Case(f"random d, pi~ and A with H = {H}, S = {S}, A = {A} (seed 13)",
             (distribution((H, S)), distribution((H, S, A)), rng.normal(size=(H, S, A)).astype(np.float32))),
    ]


_PERFORMANCE_DIFFERENCE_MISTAKES = (
    Mistake(lambda d, p, A: np.asarray(np.sum(np.asarray(p, np.float64) * A)),
            lambda *a: "you sum over the states without weighting them: weight state s at step h by d_h(s), "
                       "the probability that pi~ is in s at step h"),
    Mistake(lambda d, p, A: np.asarray(np.sum(np.asarray(d, np.float64)[..., None] * np.asarray(A, np.float64)) / np.shape(A)[-1]),
            lambda *a: "you average the advantages over the actions uniformly: weight action a by pi~_h(a|s), "
                       "the new policy's probability"),
    Mistake(lambda d, p, A: _performance_difference(d[:1], p[:1], A[:1]),
            lambda *a: "you kept only step h = 0: the lemma sums the expected advantage over every step h"),
    Mistake(lambda d, p, A: _performance_difference(d, p, A) / np.shape(A)[0],
            lambda *a: "you average over the steps: the lemma sums over h, it does not divide by H"),
)


# ---------------------------------------------------------------------------
# The pieces together: one REINFORCE step with a baseline, tabular softmax
# ---------------------------------------------------------------------------


def _reinforce_step(theta, states, actions, rewards, baseline, step_size, *, use_baseline=True,
                    to_go=True, average=True, sign=1.0):
    theta = np.asarray(theta, np.float64)
    states, actions = np.asarray(states), np.asarray(actions)
    rewards, baseline = np.asarray(rewards, np.float64), np.asarray(baseline, np.float64)
    N, H = rewards.shape
    grad = np.zeros_like(theta)
    for n in range(N):
        G = np.cumsum(rewards[n, ::-1])[::-1] if to_go else np.full(H, rewards[n].sum())
        for h in range(H):
            s, a = states[n, h], actions[n, h]
            weight = G[h] - (baseline[h, s] if use_baseline else 0.0)
            grad += _softmax_score(theta, s, a) * weight
    return theta + sign * step_size * grad / (N if average else 1)


def _reinforce_step_cases():
    rng = _rng(14)
    N, H, S, A = 8, 4, 3, 2
    return [
        Case("one trajectory of 2 steps, 2 states x 2 actions, zero baseline, step size 1",
             (np.zeros((2, 2), np.float32), np.array([[0, 1]]), np.array([[1, 0]]), np.array([[1.0, 2.0]], np.float32),
              np.zeros((2, 2), np.float32), 1.0)),
        Case("the same trajectory with baseline b = [[1, 0], [0, 1]]",
             (np.zeros((2, 2), np.float32), np.array([[0, 1]]), np.array([[1, 0]]), np.array([[1.0, 2.0]], np.float32),
              np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), 1.0)),
        Case(f"{N} random trajectories, H = {H}, S = {S}, A = {A} (seed 14), step size 0.1",
             (rng.normal(size=(S, A)).astype(np.float32), rng.integers(0, S, (N, H)), rng.integers(0, A, (N, H)),
              rng.normal(size=(N, H)).astype(np.float32), rng.normal(size=(H, S)).astype(np.float32), 0.1)),
    ]


_REINFORCE_STEP_MISTAKES = (
    Mistake(lambda *a: _reinforce_step(*a, use_baseline=False),
            lambda *a: "your step ignores the baseline: weight each score by G_h - b_h(s_h)"),
    Mistake(lambda *a: _reinforce_step(*a, to_go=False),
            lambda *a: "you weight every step by the whole return R(tau): use the reward-to-go G_h from step h on"),
    Mistake(lambda *a: _reinforce_step(*a, average=False),
            lambda *a: "you sum over the trajectories: average over them (divide by N)"),
    Mistake(lambda *a: _reinforce_step(*a, sign=-1.0),
            lambda *a: "your step goes downhill: REINFORCE ascends, theta + eta * (the gradient estimate)"),
)


# ---------------------------------------------------------------------------
# Language models: the leave-one-out advantages and the k3 estimator of the KL
# ---------------------------------------------------------------------------


def _rloo_advantages(rewards):
    r = np.asarray(rewards, np.float64)
    k = r.shape[-1]
    return r - (np.sum(r, axis=-1, keepdims=True) - r) / (k - 1)


def _rloo_cases():
    rng = _rng(11)
    return [
        Case("one prompt, rewards (1, 0, 0, 1)", (np.array([[1.0, 0.0, 0.0, 1.0]], np.float32),)),
        Case("two prompts, K = 2", (np.array([[1.0, 0.0], [0.5, 0.5]], np.float32),)),
        Case("every answer right: all advantages 0", (np.ones((3, 5), np.float32),)),
        Case("8 prompts × 6 random rewards (seed 11)", (rng.uniform(size=(8, 6)).astype(np.float32),)),
    ]


def _group_mean(r):
    r = np.asarray(r, np.float64)
    return r - np.mean(r, axis=-1, keepdims=True)


_RLOO_MISTAKES = (
    Mistake(_group_mean,
            lambda *a: "your baseline includes the answer itself (the group mean): leave it out and average the "
                       "K - 1 others, so that the baseline does not depend on the answer it weights"),
    Mistake(lambda r: np.asarray(r, np.float64) - (np.sum(r, axis=-1, keepdims=True) - r) / r.shape[-1],
            lambda *a: "you divide the sum of the others by K: there are K - 1 others"),
    Mistake(lambda r: np.asarray(r, np.float64) - np.mean(np.asarray(r, np.float64), axis=0, keepdims=True),
            lambda *a: "you averaged over prompts (axis 0): each prompt's K answers are a row, and its baseline "
                       "averages the other answers of the same row"),
    Mistake(lambda r: -_rloo_advantages(r),
            lambda *a: "sign: A_i = r_i minus the mean of the others, positive for an answer better than they are"),
)


def _k3(log_p, log_ref):
    lp, lr = np.asarray(log_p, np.float64), np.asarray(log_ref, np.float64)
    return np.exp(lr - lp) - 1 - (lr - lp)


def _k3_cases():
    rng = _rng(12)
    return [
        Case("equal log-probabilities: 0", (np.log(np.array([0.5, 0.2], np.float32)), np.log(np.array([0.5, 0.2], np.float32)))),
        Case("pi = 0.5, pi_ref = 0.25 and pi = 0.25, pi_ref = 0.5", (np.log(np.array([0.5, 0.25], np.float32)),
                                                                      np.log(np.array([0.25, 0.5], np.float32)))),
        Case("log-probabilities near -100 (use the difference, not each exponential)",
             (np.array([-100.0, -101.0], np.float32), np.array([-101.0, -100.0], np.float32))),
        Case("a (4, 5) batch of random tokens (seed 12)", (rng.normal(size=(4, 5)).astype(np.float32) - 1,
                                                           rng.normal(size=(4, 5)).astype(np.float32) - 1)),
    ]


_K3_MISTAKES = (
    Mistake(lambda lp, lr: _k3(lr, lp),
            lambda *a: "the ratio is upside down: rho = pi_ref(y)/pi_theta(y) for a token sampled from pi_theta; "
                       "with pi_theta/pi_ref the mean is not KL(pi_theta || pi_ref)"),
    Mistake(lambda lp, lr: np.asarray(lp, np.float64) - np.asarray(lr, np.float64),
            lambda *a: "this is k1, the log-ratio log(pi_theta/pi_ref): k3 adds rho - 1 to it"),
    Mistake(lambda lp, lr: np.exp(np.asarray(lr, np.float64) - lp) - 1 + (np.asarray(lr, np.float64) - lp),
            lambda *a: "sign of the log: k3 = rho - 1 - log rho, which is never negative"),
)


EXERCISES: dict[str, Exercise] = {
    ex.name: ex
    for ex in (
        Exercise("reward_to_go", 'fn(rewards: Float[Array, "H"]) -> Float[Array, "H"]', _reward_to_go,
                 _reward_to_go_cases, _REWARD_TO_GO_MISTAKES,
                 "G_h = r_h + r_(h+1) + ... + r_(H-1), the rewards from step h on"),
        Exercise("discounted_return", 'fn(rewards: Float[Array, "H"], gamma: float) -> Float[Array, ""]',
                 _discounted_return, _discounted_return_cases, _DISCOUNTED_RETURN_MISTAKES,
                 "the scalar sum_t gamma^t r_t"),
        Exercise("gae", 'fn(rewards: Float[Array, "T"], values: Float[Array, "T+1"], dones: Bool[Array, "T"], '
                 'gamma: float, lam: float) -> Float[Array, "T"]', _gae, _gae_cases, _GAE_MISTAKES,
                 "A_t = delta_t + gamma lam (1 - dones[t]) A_(t+1), with "
                 "delta_t = r_t + gamma (1 - dones[t]) values[t+1] - values[t] and A_T = 0"),
        Exercise("softmax_score", 'fn(theta: Float[Array, "S A"], s: int, a: int) -> Float[Array, "S A"]',
                 _softmax_score, _softmax_score_cases, _SOFTMAX_SCORE_MISTAKES,
                 "the gradient of log pi_theta(a|s): row s is e_a - softmax(theta[s]), the other rows zero"),
        Exercise("importance_weights", 'fn(log_p: Float[Array, "N"], log_q: Float[Array, "N"]) -> Float[Array, "N"]',
                 _importance_weights, _importance_weights_cases, _IMPORTANCE_WEIGHTS_MISTAKES,
                 "w_i = p(x_i) / q(x_i) = exp(log_p[i] - log_q[i])"),
        Exercise("categorical_kl", 'fn(logits_p: Float[Array, "... A"], logits_q: Float[Array, "... A"]) '
                 '-> Float[Array, "..."]', _categorical_kl, _categorical_kl_cases, _CATEGORICAL_KL_MISTAKES,
                 "KL(p || q) = sum_a p(a) (log p(a) - log q(a)) over the last axis, p = softmax(logits_p)"),
        Exercise("clipped_surrogate", 'fn(ratio: Float[Array, "B"], advantage: Float[Array, "B"], eps: float) '
                 '-> Float[Array, "B"]', _clipped_surrogate, _clipped_surrogate_cases, _CLIPPED_SURROGATE_MISTAKES,
                 "min(w A, clip(w, 1 - eps, 1 + eps) A) for each sample"),
        Exercise("conjugate_gradient", 'fn(matvec: Callable, b: Float[Array, "D"], n_iters: int) -> Float[Array, "D"]',
                 _conjugate_gradient, _conjugate_gradient_cases, _CONJUGATE_GRADIENT_MISTAKES,
                 "the iterate x_n of conjugate gradient for A x = b from x_0 = 0 after n_iters products"),
        Exercise("gradient_ascent", 'fn(grad: Callable, theta0: Float[Array, "D"], step_size: float, '
                 'n_steps: int) -> Float[Array, "D"]', _gradient_ascent, _gradient_ascent_cases,
                 _GRADIENT_ASCENT_MISTAKES, "theta^K after K = n_steps steps theta^(k+1) = theta^k + eta grad J(theta^k)"),
        Exercise("performance_difference", 'fn(d_new: Float[Array, "H S"], pi_new: Float[Array, "H S A"], '
                 'advantage: Float[Array, "H S A"]) -> Float[Array, ""]', _performance_difference,
                 _performance_difference_cases, _PERFORMANCE_DIFFERENCE_MISTAKES,
                 "sum_h sum_s d_h(s) sum_a pi~_h(a|s) A_h(s, a), the right-hand side of the lemma"),
        Exercise("reinforce_baseline_step", 'fn(theta: Float[Array, "S A"], states: Int[Array, "N H"], '
                 'actions: Int[Array, "N H"], rewards: Float[Array, "N H"], baseline: Float[Array, "H S"], '
                 'step_size: float) -> Float[Array, "S A"]', _reinforce_step, _reinforce_step_cases,
                 _REINFORCE_STEP_MISTAKES,
                 "theta + step_size (1/N) sum_n sum_h grad log pi_theta(a_h|s_h) (G_h - baseline[h, s_h]), "
                 "the tabular softmax score and the reward-to-go"),
        Exercise("rloo_advantages", 'fn(rewards: Float[Array, "P K"]) -> Float[Array, "P K"]', _rloo_advantages,
                 _rloo_cases, _RLOO_MISTAKES,
                 "A_i = r_i - (1/(K-1)) sum_(j != i) r_j for the K answers of each prompt (a row)"),
        Exercise("kl_k3", 'fn(log_p: Float[Array, "..."], log_ref: Float[Array, "..."]) -> Float[Array, "..."]',
                 _k3, _k3_cases, _K3_MISTAKES,
                 "k3 = rho - 1 - log rho with rho = pi_ref(y)/pi_theta(y) = exp(log_ref - log_p), elementwise"),
        Exercise("natural_step_size", 'fn(grad: Float[Array, "D"], natural_grad: Float[Array, "D"], delta: float) '
                 '-> Float[Array, ""]', _natural_step_size, _natural_step_size_cases, _NATURAL_STEP_SIZE_MISTAKES,
                 "eta = sqrt(2 delta / (g . x)), so that (1/2) (eta x)^T F (eta x) = delta"),
    )
}


def _describe_args(args: Sequence) -> str:
    def one(x):
        if isinstance(x, np.ndarray):
            return np.array2string(x, precision=4, threshold=12)
        return repr(x)
    return ", ".join(one(x) for x in args)


def _fail(ex: Exercise, case: Case, message: str) -> ExerciseError:
    return ExerciseError(f"{ex.name}: case '{case.name}': {message}\n  input: {_describe_args(case.args)}")


def _as_answer(ex: Exercise, case: Case, got, expected: np.ndarray) -> np.ndarray:
    if got is None:
        raise _fail(ex, case, f"your function returned None: finish it so that it returns the answer "
                              f"(the signature is {ex.signature})")
    try:
        answer = np.asarray(got)
    except Exception as error:  # a tracer, a key, something that is not an array
        raise _fail(ex, case, f"your function returned {type(got).__name__}, which is not an array of numbers "
                              f"({error})") from None
    if answer.dtype == object or not (np.issubdtype(answer.dtype, np.floating) or np.issubdtype(answer.dtype, np.integer)):
        raise _fail(ex, case, f"your function returned an array of dtype {answer.dtype}; expected real numbers "
                              f"(float32 or float64)")
    if answer.shape != expected.shape:
        raise _fail(ex, case, f"your function returned shape {answer.shape}, expected shape {expected.shape} "
                              f"(the signature is {ex.signature})")
    if np.issubdtype(answer.dtype, np.integer) and not np.allclose(expected, np.round(expected)):
        raise _fail(ex, case, f"your function returned integers (dtype {answer.dtype}); the answer is not a whole "
                              f"number: compute in floating point")
    return answer.astype(np.float64)


def _hint(ex: Exercise, case: Case, answer: np.ndarray, expected: np.ndarray) -> str:
    for mistake in ex.mistakes:
        wrong = np.asarray(mistake.answer(*case.args), np.float64)
        if wrong.shape == answer.shape and np.allclose(answer, wrong, rtol=RTOL, atol=ATOL):
            return mistake.hint(*case.args, answer, expected)
    return f"expected {ex.definition}"


def _as_jax(args: tuple) -> tuple:
    """The case's arrays as JAX arrays, as a student's JAX code expects them (the references use NumPy)."""
    import jax.numpy as jnp

    return tuple(jnp.asarray(x) if isinstance(x, np.ndarray) else x for x in args)


def reference(name: str) -> Callable[..., np.ndarray]:
    """The reference answer of exercise `name` (float64 NumPy), as `check` computes it."""
    return _exercise(name).reference


def _exercise(name: str) -> Exercise:
    if not isinstance(name, str) or name not in EXERCISES:
        raise ValueError(f"`name` must be one of the exercises {sorted(EXERCISES)}, got {name!r}")
    return EXERCISES[name]


def check(name: str, fn: Callable) -> None:
    """Run `fn` on every case of exercise `name`; print a short success message, or raise
    `ExerciseError` for the first failing case (what was expected, what came back, a hint)."""
    ex = _exercise(name)
    if not callable(fn):
        raise TypeError(f"`fn` must be your function with the signature {ex.signature}, got {type(fn).__name__}")
    cases = ex.cases()
    for case in cases:
        expected = np.asarray(ex.reference(*case.args), np.float64)
        try:
            got = fn(*_as_jax(case.args))
        except Exception as error:  # the student's code: report it in one line, not as a trace
            raise _fail(ex, case, f"your function raised {type(error).__name__}: "
                                  f"{str(error).splitlines()[0] if str(error) else ''}") from None
        answer = _as_answer(ex, case, got, expected)
        if not np.allclose(answer, expected, rtol=RTOL, atol=ATOL):
            raise _fail(ex, case, f"expected {np.array2string(expected, precision=5, threshold=12)}, "
                                  f"got {np.array2string(answer, precision=5, threshold=12)}.\n"
                                  f"  hint: {_hint(ex, case, answer, expected)}")
    print(f"{name}: all {len(cases)} cases pass.")
