"""Exact answers on problems small enough to list every answer (a few tokens, short answers).

`enumerate_answers(V, T, eos)` lists every answer of at most `T` tokens over a
vocabulary of `V`. A policy is given by the per-token log-probabilities of every
answer to each of `P` prompts, "P M T" (`tabular_log_probs` for a table of logits
per prompt and prefix; `utils.lm.model.token_log_probs` for the GRU), and as a
function `log_probs_fn(params) -> "P M T"` where a gradient is wanted. Rewards are
a table `R(x, y)`, "P M". Every expectation over answers is then a finite sum:

- `answer_probs`: `π_θ(y|x) = exp Σ_t log π_θ(y_t|x, y_<t)` (eq-lm-likelihood);
- `exact_objective`, `exact_kl`: `E_{y∼π_θ(·|x)} R(x, y)` and `KL(π_θ(·|x) ‖ π_ref(·|x))`,
  per prompt; `exact_gradient` is the gradient of their average over prompts,
  `J_β = mean_x [E R − β KL]` (eq-lm-kl-objective), by autodiff of the sums, and
  `kl_gradient` that of the average KL;
- `expected_kl_estimate`: the mean and variance of `Σ_t k1` or `Σ_t k3` (eq-lm-k1,
  eq-lm-k3) for an answer drawn from `π_θ`;
- `expected_weights`, `expected_estimator`: the expectation, over `K` i.i.d. answers
  per prompt, of the estimator `(1/P) Σ_x (1/K) Σ_i A_i ∇ log π_θ(y_i|x)` (eq-lm-reinforce)
  for advantages `A = advantages(rewards of the K answers)` (`utils.lm.advantages`), found
  by listing all `M^K` groups of answers (729 for 9 answers and K = 3). Since the estimator
  is linear in the scores, its mean is `(1/P) Σ_x Σ_y w(x, y) ∇ log π_θ(y|x)` with the
  expected weight `w(x, y) = E[(1/K) Σ_i A_i 1{y_i = y}]` of each answer; `expected_estimator`
  is the gradient of `(1/P) Σ_x Σ_y sg(w(x, y)) log π_θ(y|x)`.

What these show, exactly (to float64 rounding; `tests/test_lm_exact.py`): the leave-one-out
estimator's mean is `∇J`; the self-including group mean's is `(K−1)/K ∇J`; GRPO's is in
general not parallel to `∇J`. With binary rewards each prompt's part of it is `c_x ∇J_x`,
where `c_x` grows as the spread `sqrt(J_x (1 − J_x))` of that prompt's rewards shrinks (about
`1/std` for many samples) from K = 4 on, so prompts are reweighted; for K ≤ 3 the factor
`c_x` is the same for all prompts (1/√2 for K = 2, 2/√3 for K = 3), so they are not. With real-valued rewards, and with the division by the answer's
length, the direction changes within a prompt too. The means of `Σ_t k1` and `Σ_t k3` are
the KL.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from utils import validate
from utils.lm.kl import ESTIMATORS, sequence_kl
from utils.lm.model import sequence_log_prob
from utils.lm.task import answer_mask, check_tokens

__all__ = [
    "Enumeration",
    "MAX_GROUPS",
    "enumerate_answers",
    "n_prefixes",
    "tabular_log_probs",
    "answer_probs",
    "exact_objective",
    "exact_kl",
    "exact_gradient",
    "kl_gradient",
    "expected_kl_estimate",
    "expected_weights",
    "expected_estimator",
]

MAX_GROUPS = 1_000_000  # the most groups of K answers `expected_weights` lists (M^K)


class Enumeration(NamedTuple):
    """Every answer of a small problem, in a fixed order."""

    answers: Int[Array, "M T"]  # padded with the end token after it (or all T tokens when none)
    mask: Bool[Array, "M T"]  # the answers' own tokens
    lengths: Int[Array, " M"]  # |y|, the end token included


def enumerate_answers(vocab_size: int, length: int, eos: int | None = None) -> Enumeration:
    """Every answer of at most `length` tokens from a vocabulary of `vocab_size`.

    Without `eos`: all `V^T` sequences of exactly `T = length` tokens. With an end token `eos`:
    for each `l ≤ T`, the `l − 1` other tokens followed by the end token, and the `T` other tokens
    that reach the length limit without it: `Σ_{n<T} (V−1)^n + (V−1)^T` answers in all (7 for
    V = 3 and T = 2, 15 for T = 3)."""
    vocab_size = validate.check_int("vocab_size", vocab_size, 2)
    length = validate.check_int("length", length, 1)
    if eos is None:
        rows = list(itertools.product(range(vocab_size), repeat=length))
    else:
        eos = validate.check_int("eos", eos, 0, vocab_size - 1)
        others = [v for v in range(vocab_size) if v != eos]
        rows = [(*body, *([eos] * (length - n))) for n in range(length)
                for body in itertools.product(others, repeat=n)]
        rows += list(itertools.product(others, repeat=length))
    answers = jnp.asarray(rows, jnp.int32)
    mask = answer_mask(answers, eos) if eos is not None else jnp.ones(answers.shape, bool)
    return Enumeration(answers, mask, jnp.sum(mask, axis=-1))


def n_prefixes(vocab_size: int, length: int) -> int:
    """The number of prefixes `y_<t` of answers of `length` tokens, `Σ_{t<T} V^t`: the rows per
    prompt of a tabular policy."""
    vocab_size = validate.check_int("vocab_size", vocab_size, 2)
    length = validate.check_int("length", length, 1)
    return sum(vocab_size**t for t in range(length))


def tabular_log_probs(theta: Float[Array, "P N V"], answers: Int[Array, "M T"]) -> Float[Array, "P M T"]:
    """The tabular softmax policy `π_θ(v | x, y_<t) = softmax(θ[x, y_<t])_v`, one row of logits for
    every prompt and prefix (`N = n_prefixes(V, T)`, the prefixes of length t numbered after
    the shorter ones, each read as a base-V number): `log π_θ(y_t | x, y_<t)` for every answer."""
    theta = validate.as_float_array("theta", theta, "P N V")
    _, n, vocab = theta.shape
    answers = check_tokens("answers", answers, vocab, "M T")
    length = answers.shape[1]
    if vocab < 2 or n != n_prefixes(vocab, length):
        raise ValueError(f"`theta` must have N = n_prefixes(V, T) = {n_prefixes(max(vocab, 2), length)} rows per "
                         f"prompt (one per prefix of answers of T = {length} tokens), got shape {theta.shape}")
    offsets = np.cumsum([0] + [vocab**t for t in range(length - 1)])
    prefix = [jnp.full(answers.shape[:1], offsets[0], jnp.int32)]
    code = jnp.zeros(answers.shape[:1], jnp.int32)
    for t in range(1, length):
        code = code * vocab + answers[:, t - 1]
        prefix.append(offsets[t] + code)
    log_pi = jax.nn.log_softmax(theta, axis=-1)[:, jnp.stack(prefix, axis=1)]  # P M T V
    return jnp.take_along_axis(log_pi, answers[None, :, :, None], axis=-1)[..., 0]


def _tables(token_log_probs, mask, ref_token_log_probs=None):
    token_log_probs = validate.as_float_array("token_log_probs", token_log_probs, "P M T")
    mask = validate.as_bool_array("mask", mask, "M T", {"M": token_log_probs.shape[1], "T": token_log_probs.shape[2]})
    if ref_token_log_probs is not None:
        ref_token_log_probs = validate.as_float_array("ref_token_log_probs", ref_token_log_probs)
        validate.check_same_shape(("token_log_probs", token_log_probs), ("ref_token_log_probs", ref_token_log_probs))
    return token_log_probs, mask, ref_token_log_probs


def answer_probs(token_log_probs: Float[Array, "P M T"], mask: Bool[Array, "M T"]) -> Float[Array, "P M"]:
    """`π_θ(y | x) = Π_t π_θ(y_t | x, y_<t)` over each answer's tokens (eq-lm-likelihood)."""
    token_log_probs, mask, _ = _tables(token_log_probs, mask)
    return jnp.exp(sequence_log_prob(token_log_probs, mask))


def _rewards(rewards, token_log_probs):
    return validate.as_float_array("rewards", rewards, "P M", {"P": token_log_probs.shape[0],
                                                              "M": token_log_probs.shape[1]})


def exact_objective(token_log_probs: Float[Array, "P M T"], mask: Bool[Array, "M T"],
                    rewards: Float[Array, "P M"]) -> Float[Array, " P"]:
    """`J_x = E_{y∼π_θ(·|x)} R(x, y) = Σ_y π_θ(y|x) R(x, y)` for each prompt."""
    token_log_probs, mask, _ = _tables(token_log_probs, mask)
    rewards = _rewards(rewards, token_log_probs)
    return jnp.sum(answer_probs(token_log_probs, mask) * rewards, axis=1)


def exact_kl(token_log_probs: Float[Array, "P M T"], ref_token_log_probs: Float[Array, "P M T"],
             mask: Bool[Array, "M T"]) -> Float[Array, " P"]:
    """`KL(π_θ(·|x) ‖ π_ref(·|x)) = Σ_y π_θ(y|x) log π_θ(y|x)/π_ref(y|x)` for each prompt."""
    token_log_probs, mask, ref_token_log_probs = _tables(token_log_probs, mask, ref_token_log_probs)
    log_ratio = sequence_log_prob(token_log_probs - ref_token_log_probs, mask)
    return jnp.sum(answer_probs(token_log_probs, mask) * log_ratio, axis=1)


def _check_fn(log_probs_fn, params):
    validate.check_callable("log_probs_fn", log_probs_fn)
    table = jax.eval_shape(log_probs_fn, params)
    if len(table.shape) != 3:
        raise ValueError(f"`log_probs_fn(params)` must return the per-token log-probabilities of every answer, "
                         f"shape (P, M, T), got shape {table.shape}")


def exact_gradient(log_probs_fn: Callable[[Any], Float[Array, "P M T"]], params: Any, mask: Bool[Array, "M T"],
                   rewards: Float[Array, "P M"], kl_coef: float = 0.0,
                   ref_token_log_probs: Float[Array, "P M T"] | None = None) -> Any:
    """`∇_θ mean_x [J_x − β KL(π_θ(·|x) ‖ π_ref(·|x))]` (eq-lm-kl-objective; β = `kl_coef`, 0 by
    default, when `ref_token_log_probs` may be left out), by autodiff of the enumerated sums."""
    _check_fn(log_probs_fn, params)
    validate.check_in_range("kl_coef", kl_coef, 0.0, None)
    if kl_coef and ref_token_log_probs is None:
        raise ValueError("`ref_token_log_probs` must be given when `kl_coef` > 0: the KL is to the reference policy")

    def objective(p):
        table = log_probs_fn(p)
        value = jnp.mean(exact_objective(table, mask, rewards))
        return value - kl_coef * jnp.mean(exact_kl(table, ref_token_log_probs, mask)) if kl_coef else value

    return jax.grad(objective)(params)


def kl_gradient(log_probs_fn: Callable[[Any], Float[Array, "P M T"]], params: Any,
                ref_token_log_probs: Float[Array, "P M T"], mask: Bool[Array, "M T"]) -> Any:
    """`∇_θ mean_x KL(π_θ(·|x) ‖ π_ref(·|x))`, by autodiff of the enumerated sum."""
    _check_fn(log_probs_fn, params)
    return jax.grad(lambda p: jnp.mean(exact_kl(log_probs_fn(p), ref_token_log_probs, mask)))(params)


def expected_kl_estimate(token_log_probs: Float[Array, "P M T"], ref_token_log_probs: Float[Array, "P M T"],
                         mask: Bool[Array, "M T"], estimator: str = "k1"
                         ) -> tuple[Float[Array, " P"], Float[Array, " P"]]:
    """The mean and the variance, over `y ∼ π_θ(·|x)`, of the estimate `Σ_t k_t(y)` of the sequence
    KL (`utils.lm.kl.sequence_kl` with `estimator` "k1" or "k3"), for each prompt."""
    token_log_probs, mask, ref_token_log_probs = _tables(token_log_probs, mask, ref_token_log_probs)
    if estimator not in ESTIMATORS:
        raise ValueError(f"`estimator` must be one of {ESTIMATORS}, got {estimator!r}")
    probs = answer_probs(token_log_probs, mask)
    estimate = sequence_kl(token_log_probs, ref_token_log_probs, mask, estimator)
    mean = jnp.sum(probs * estimate, axis=1)
    return mean, jnp.sum(probs * (estimate - mean[:, None]) ** 2, axis=1)


def expected_weights(probs: Float[Array, "P M"], rewards: Float[Array, "P M"],
                     advantages: Callable[[Float[Array, "G K"]], Float[Array, "G K"]], n_samples: int,
                     lengths: Int[Array, " M"] | None = None) -> Float[Array, "P M"]:
    """`w(x, y) = E[(1/K) Σ_i A_i 1{y_i = y}]` over `K = n_samples` answers `y_i ∼ π(·|x)` i.i.d.,
    with `A = advantages(r)` for their rewards `r_i = R(x, y_i)` (one group a row), by listing
    every group. With `lengths`, each `A_i` is divided by `|y_i|` (GRPO's per-token average).

    The expected estimator is `(1/P) Σ_x Σ_y w(x, y) ∇ log π_θ(y|x)` (`expected_estimator`);
    the exact gradient of `mean_x J_x` has weights `π(y|x) (R(x, y) − J_x)`."""
    dims = {}
    probs = validate.as_float_array("probs", probs, "P M", dims)
    validate.check_probabilities("probs", probs)
    rewards = validate.as_float_array("rewards", rewards, "P M", dims)
    validate.check_callable("advantages", advantages)
    n_samples = validate.check_int("n_samples", n_samples, 1)
    n_prompts, n_answers = probs.shape
    if n_answers**n_samples > MAX_GROUPS:
        raise ValueError(f"`n_samples` = {n_samples} gives M^K = {n_answers}^{n_samples} groups of answers to list, "
                         f"more than MAX_GROUPS = {MAX_GROUPS:,}: take fewer samples or a smaller problem")
    groups = jnp.asarray(list(itertools.product(range(n_answers), repeat=n_samples)), jnp.int32)  # G K
    group_prob = jnp.prod(probs[:, groups], axis=-1)  # P G
    group_rewards = rewards[:, groups]  # P G K
    adv = advantages(group_rewards.reshape(-1, n_samples)).reshape(group_rewards.shape)
    if lengths is not None:
        lengths = validate.as_int_array("lengths", lengths, "M", dims)
        adv = adv / lengths[groups]
    per_sample = group_prob[..., None] * adv / n_samples  # P G K
    return jnp.zeros_like(probs).at[:, groups.reshape(-1)].add(per_sample.reshape(n_prompts, -1))


def expected_estimator(log_probs_fn: Callable[[Any], Float[Array, "P M T"]], params: Any, mask: Bool[Array, "M T"],
                       rewards: Float[Array, "P M"], advantages: Callable[[Float[Array, "G K"]], Float[Array, "G K"]],
                       n_samples: int, normalise_length: bool = False) -> Any:
    """The mean of the score-function estimator `(1/P) Σ_x (1/K) Σ_i A_i ∇_θ log π_θ(y_i|x)`
    (eq-lm-reinforce) over `K = n_samples` answers per prompt drawn from `π_θ` at `params`, with
    `A = advantages(rewards)`; `normalise_length` divides each `A_i` by `|y_i|`. Exact (every
    group of answers listed, `expected_weights`); a pytree like `params`."""
    _check_fn(log_probs_fn, params)
    validate.check_instance("normalise_length", normalise_length, bool)
    mask = validate.as_bool_array("mask", mask, "M T")
    probs = answer_probs(log_probs_fn(params), mask)
    lengths = jnp.sum(mask, axis=-1) if normalise_length else None
    weights = jax.lax.stop_gradient(expected_weights(probs, rewards, advantages, n_samples, lengths))
    return jax.grad(lambda p: jnp.sum(weights * sequence_log_prob(log_probs_fn(p), mask)) / probs.shape[0])(params)
