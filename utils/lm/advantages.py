"""Baselines from the group of `K` answers sampled for each prompt, as advantages `A_i`.

For `P` prompts with `K` answers each and rewards `r` ("P K"), the score-function
estimator `(1/(P K)) Σ_x Σ_i A_i ∇_θ log π_θ(y_i | x)` (eq-lm-reinforce) takes:

- `rloo_advantages` (eq-lm-rloo; Ahmadian et al. 2024): `A_i = r_i − (1/(K−1)) Σ_{j≠i} r_j`.
  The baseline of answer `i` does not depend on `y_i`, so the estimator stays unbiased.
- `group_mean_advantages` (eq-lm-group-mean): `A_i = r_i − (1/K) Σ_j r_j`. The mean includes
  `r_i` itself: `A_i = ((K−1)/K) × the leave-one-out advantage`, so the expected estimate is
  `(K−1)/K` times the gradient (the direction is right, the length shrinks).
- `grpo_advantages` (eq-lm-grpo; Shao et al. 2024): `(r_i − mean)/(std + ε)`, the group mean
  and standard deviation. Dividing by the group's std weights a prompt more the less its
  rewards spread (by about one over their std when K is large), which changes the expected
  direction (Liu et al. 2025, "Dr. GRPO"; `utils.lm.exact` computes it);
  `normalise_std=False` is Dr. GRPO's fix, the group mean alone.
"""
from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from utils import validate

__all__ = ["rloo_advantages", "group_mean_advantages", "grpo_advantages", "GRPO_STD_EPS"]

# Added to the group's std before dividing (as TRL's GRPOTrainer does): a group whose answers
# all got the same reward has advantages 0, not 0/0.
GRPO_STD_EPS = 1e-4


def _rewards(rewards, min_samples: int, method: str):
    rewards = validate.as_float_array("rewards", rewards, "P K")
    if rewards.shape[1] < min_samples:
        raise ValueError(f"`rewards` must have K >= {min_samples} samples per prompt (shape (P, K)) for {method}, "
                         f"got K = {rewards.shape[1]}")
    validate.check_finite("rewards", rewards)
    return rewards


def rloo_advantages(rewards: Float[Array, "P K"]) -> Float[Array, "P K"]:
    """Leave-one-out advantages `A_i = r_i − (1/(K−1)) Σ_{j≠i} r_j` (eq-lm-rloo), per prompt (row)."""
    rewards = _rewards(rewards, 2, "the leave-one-out baseline (it averages the K − 1 other answers)")
    k = rewards.shape[1]
    others = (jnp.sum(rewards, axis=1, keepdims=True) - rewards) / (k - 1)
    return rewards - others


def group_mean_advantages(rewards: Float[Array, "P K"]) -> Float[Array, "P K"]:
    """`A_i = r_i − (1/K) Σ_j r_j` (eq-lm-group-mean): the group mean, the answer's own reward included."""
    rewards = _rewards(rewards, 1, "the group mean")
    return rewards - jnp.mean(rewards, axis=1, keepdims=True)


def grpo_advantages(rewards: Float[Array, "P K"], normalise_std: bool = True,
                    eps: float = GRPO_STD_EPS) -> Float[Array, "P K"]:
    """GRPO's group-normalised advantages `(r_i − mean_j r_j) / (std_j r_j + eps)` (eq-lm-grpo),
    with the sample standard deviation (divisor K − 1, as TRL's GRPOTrainer computes it).
    `normalise_std=False`: the group mean alone (Dr. GRPO), `group_mean_advantages`."""
    validate.check_instance("normalise_std", normalise_std, bool)
    if not normalise_std:
        return group_mean_advantages(rewards)
    rewards = _rewards(rewards, 2, "GRPO's std normalisation (the sample std of K = 1 reward is undefined)")
    validate.check_in_range("eps", eps, 0.0, None)
    return group_mean_advantages(rewards) / (jnp.std(rewards, axis=1, ddof=1, keepdims=True) + eps)
