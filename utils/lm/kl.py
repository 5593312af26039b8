"""Per-token estimators of `KL(π_θ ‖ π_ref)` from answers sampled from `π_θ`, and the KL-shaped reward.

The KL-regularised objective (eq-lm-kl-objective) is

    J_β(θ) = E_x [ E_{y∼π_θ(·|x)} R(x, y) − β KL(π_θ(·|x) ‖ π_ref(·|x)) ],

and by eq-lm-likelihood the sequence KL is the expected sum of per-token log-ratios,
`KL(π_θ(·|x) ‖ π_ref(·|x)) = E_{y∼π_θ} Σ_t log π_θ(y_t|x, y_<t)/π_ref(y_t|x, y_<t)`.
Summed over an answer's tokens, each of these per-token estimates, evaluated at
answers sampled from `π_θ`, is unbiased for the sequence KL:

- `k1 = log π_θ(y_t|·) / π_ref(y_t|·)` (eq-lm-k1), the log-ratio: it is negative
  whenever the sampled token is likelier under `π_ref`;
- `k3 = ρ − 1 − log ρ` with `ρ = π_ref(y_t|·) / π_θ(y_t|·)` (eq-lm-k3; Schulman 2020,
  http://joschu.net/blog/kl-approx.html): non-negative, since `log ρ ≤ ρ − 1`, and of
  mean `KL(π_θ(·|s_t) ‖ π_ref(·|s_t))` at each state `s_t`, because `E_{π_θ}[ρ] = 1`. When
  the policies are close, `ρ = 1 + δ` with small `δ`, `k3 ≈ δ²/2` while `k1 ≈ −δ`, so
  `k3` varies much less; far apart, `ρ` can be large and `k3` varies more.

(`utils.kl` estimates `KL(π^k ‖ π_θ)` for trajectories sampled from the old policy
`π^k`: the other direction, with samples from the other policy.)
"""
from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from utils import validate
from utils.lm.model import sequence_log_prob

__all__ = ["k1", "k3", "ESTIMATORS", "sequence_kl", "kl_shaped_rewards"]

ESTIMATORS = ("k1", "k3")


def _log_probs(log_probs, ref_log_probs):
    log_probs = validate.as_float_array("log_probs", log_probs)
    ref_log_probs = validate.as_float_array("ref_log_probs", ref_log_probs)
    validate.check_same_shape(("log_probs", log_probs), ("ref_log_probs", ref_log_probs))
    return log_probs, ref_log_probs


def k1(log_probs: Float[Array, "*B"], ref_log_probs: Float[Array, "*B"]) -> Float[Array, "*B"]:
    """`log π_θ(y_t|·) − log π_ref(y_t|·)` (eq-lm-k1), per token sampled from `π_θ`."""
    log_probs, ref_log_probs = _log_probs(log_probs, ref_log_probs)
    return log_probs - ref_log_probs


def k3(log_probs: Float[Array, "*B"], ref_log_probs: Float[Array, "*B"]) -> Float[Array, "*B"]:
    """`ρ − 1 − log ρ` with `ρ = π_ref(y_t|·) / π_θ(y_t|·)` (eq-lm-k3), per token sampled from `π_θ`."""
    log_probs, ref_log_probs = _log_probs(log_probs, ref_log_probs)
    log_rho = ref_log_probs - log_probs
    return jnp.expm1(log_rho) - log_rho  # expm1: exact near ρ = 1, where the two terms cancel


def sequence_kl(log_probs: Float[Array, "*B T"], ref_log_probs: Float[Array, "*B T"], mask: Bool[Array, "*B T"],
                estimator: str = "k1") -> Float[Array, "*B"]:
    """The per-token estimate `estimator` ("k1" or "k3") summed over each answer's tokens (`mask`):
    an unbiased estimate of `KL(π_θ(·|x) ‖ π_ref(·|x))` for an answer sampled from `π_θ`."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"`estimator` must be one of {ESTIMATORS}, got {estimator!r}")
    per_token = (k1 if estimator == "k1" else k3)(log_probs, ref_log_probs)
    return sequence_log_prob(per_token, mask)


def kl_shaped_rewards(rewards: Float[Array, "*B"], log_probs: Float[Array, "*B T"], ref_log_probs: Float[Array, "*B T"],
                      mask: Bool[Array, "*B T"], kl_coef: float) -> Float[Array, "*B"]:
    """`R̃(x, y) = R(x, y) − β Σ_t k1_t`, the reward with the KL penalty folded in (eq-lm-kl-objective).

    With it in eq-lm-reinforce, `E[∇ log π_θ(y|x) R̃(x, y)] = ∇_θ J_β(θ)`: the penalty's
    gradient is `β E[∇ log π_θ(y|x) (log π_θ(y|x)/π_ref(y|x) + 1)]`, and the `+ 1` has mean 0."""
    rewards = validate.as_float_array("rewards", rewards, "*B")
    validate.check_in_range("kl_coef", kl_coef, 0.0, None, inclusive=(False, True))
    kl = sequence_kl(log_probs, ref_log_probs, mask, "k1")
    if jnp.shape(rewards) != jnp.shape(kl):
        raise ValueError(f"`rewards` must have one entry per answer, the shape {tuple(jnp.shape(kl))} of `log_probs` "
                         f"without its last axis T, got shape {tuple(jnp.shape(rewards))}")
    return rewards - kl_coef * kl
