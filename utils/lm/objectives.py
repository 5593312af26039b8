"""The objectives whose gradients the fine-tuning methods ascend, on a batch of `K` answers per prompt.

- `policy_gradient_surrogate` (REINFORCE, RLOO): `(1/(P K)) Σ_x Σ_i log π_θ(y_i|x) sg(A_i)`,
  whose gradient is the score-function estimator (eq-lm-reinforce) with weights `A_i`: the
  KL-shaped reward (no baseline) or its leave-one-out advantage (eq-lm-rloo).
- `grpo_objective` (eq-lm-grpo; Shao et al. 2024): per token, PPO's clipped surrogate of the
  ratio to the sampling policy with the group-normalised advantage, minus `β k3` to the
  reference, averaged over each answer's tokens and then over answers. At the sampling
  policy the ratio is 1 and unclipped, so its gradient there is the score-function estimator
  with weights `A_i / |y_i|`, plus the gradient of the penalty; the clip acts from the
  second gradient step on the same batch.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from utils import validate
from utils.lm.kl import k3
from utils.lm.model import sequence_log_prob
from utils.ppo import clipped_surrogate, importance_ratio

__all__ = ["policy_gradient_surrogate", "grpo_objective"]


def _check_batch(log_probs, mask, advantages, others=()):
    dims = {}
    log_probs = validate.as_float_array("log_probs", log_probs, "P K T", dims)
    mask = validate.as_bool_array("mask", mask, "P K T", dims)
    advantages = validate.as_float_array("advantages", advantages, "P K", dims)
    for name, x in others:
        validate.as_float_array(name, x, "P K T", dims)
    return log_probs, mask, advantages


def policy_gradient_surrogate(log_probs: Float[Array, "P K T"], mask: Bool[Array, "P K T"],
                              advantages: Float[Array, "P K"]) -> Float[Array, ""]:
    """`(1/(P K)) Σ_x Σ_i log π_θ(y_i | x) · sg(A_i)`: its gradient in θ (through `log_probs`) is
    `(1/(P K)) Σ_x Σ_i A_i ∇_θ log π_θ(y_i | x)` (eq-lm-reinforce). Its value means nothing."""
    log_probs, mask, advantages = _check_batch(log_probs, mask, advantages)
    return jnp.mean(sequence_log_prob(log_probs, mask) * jax.lax.stop_gradient(advantages))


def grpo_objective(
    log_probs: Float[Array, "P K T"],
    old_log_probs: Float[Array, "P K T"],
    ref_log_probs: Float[Array, "P K T"],
    mask: Bool[Array, "P K T"],
    advantages: Float[Array, "P K"],
    clip_eps: float = 0.2,
    kl_coef: float = 0.1,
    normalise_length: bool | Bool[Array, ""] = True,
) -> Float[Array, ""]:
    """GRPO's objective (eq-lm-grpo), maximised:

        (1/(P K)) Σ_x Σ_i (1/|y_i|) Σ_{t ≤ |y_i|} [min(w_t A_i, clip(w_t, 1−ε, 1+ε) A_i) − β k3_t],

    `w_t = π_θ(y_t|·)/π_old(y_t|·)` the ratio to the policy that sampled the answers
    (`old_log_probs`), `k3_t` the estimate of eq-lm-k3 against `π_ref` (`ref_log_probs`).
    `normalise_length=False` divides every answer by the same `T` instead of its own length
    `|y_i|` (Dr. GRPO, which removes the preference for long wrong answers that this creates)."""
    log_probs, mask, advantages = _check_batch(log_probs, mask, advantages,
                                               (("old_log_probs", old_log_probs), ("ref_log_probs", ref_log_probs)))
    validate.check_in_range("clip_eps", clip_eps, 0.0, 1.0, inclusive=False)
    validate.check_in_range("kl_coef", kl_coef, 0.0, None, inclusive=(False, True))
    if not (isinstance(normalise_length, bool) or (jnp.shape(normalise_length) == ()
                                                   and getattr(normalise_length, "dtype", None) == bool)):
        raise TypeError(f"`normalise_length` must be a bool (or a boolean scalar array), got {normalise_length!r}")
    ratio = importance_ratio(log_probs, jax.lax.stop_gradient(old_log_probs))
    per_token = clipped_surrogate(ratio, jax.lax.stop_gradient(advantages)[..., None], clip_eps)
    per_token = per_token - kl_coef * k3(log_probs, jax.lax.stop_gradient(ref_log_probs))
    lengths = jnp.where(normalise_length, jnp.sum(mask, axis=-1), mask.shape[-1])
    return jnp.mean(sequence_log_prob(per_token, mask) / lengths)
