"""The PPO section's central claims: each check passes for the right implementation
and rejects a plausible wrong one.

The chapter (`chapters/ppo.md`) and these tests run the same checks of `utils.ppo`
(`check_penalty_keeps_policy_near`, `check_holds_under_stress`, `check_early_stopping`,
`check_adaptive_band`) on the same computations: the one-state example, and the
chapter's CartPole runs (`kl_penalty_runs`, `stress_runs`, PRNG key 0 split four ways).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import checks
from utils.checks import CheckFailed
from utils.kl import categorical_kl
from utils.ppo import (
    ONE_STATE_ACTIONS,
    ONE_STATE_PI_K,
    STRESS_BUDGET,
    adaptive_kl_coef,
    check_adaptive_band,
    check_early_stopping,
    check_holds_under_stress,
    check_penalty_keeps_policy_near,
    importance_ratio,
    kl_penalty_objective,
    kl_penalty_runs,
    one_state_maximiser,
    sampled_kl_penalty_objective,
    stress_runs,
)

# The chapter's settings.
BETAS = [0.0, 0.1, 0.3, 1.0, 3.0, 10.0]
KL_TARGET = 0.003  # d_targ of the adaptive run
TARGET_KL = 0.01  # threshold of target-KL early stopping in the stress test


def setting(metrics, i):
    return jax.tree_util.tree_map(lambda x: np.asarray(x[i]), metrics)


# --------------------------------------------------------------------------
# The penalty: the per-state KL keeps π_θ near π^k, the sampled log-ratio does not
# --------------------------------------------------------------------------


def _log_prob(logits, action):
    return jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]


def reversed_sign_penalty(logits, old_logits, action, advantage, kl_coef):
    """A sign slip: + β KL instead of − β KL, a reward for moving away from π^k."""
    ratio = importance_ratio(_log_prob(logits, action), _log_prob(old_logits, action))
    return jnp.mean(ratio * advantage + kl_coef * categorical_kl(old_logits, logits))


def test_sampled_penalty_maximiser_is_the_empirical_frequency_for_every_beta():
    frequency = np.bincount(ONE_STATE_ACTIONS, minlength=2) / len(ONE_STATE_ACTIONS)
    zero = np.zeros(len(ONE_STATE_ACTIONS))
    for beta in (1.0, 10.0, 100.0):
        q_sampled = one_state_maximiser(sampled_kl_penalty_objective, advantages=zero, kl_coef=beta)
        q_state = one_state_maximiser(kl_penalty_objective, advantages=zero, kl_coef=beta)
        checks.close(q_sampled, frequency, atol=1e-5, what=f"sampled form at β = {beta}")
        checks.close(q_state, ONE_STATE_PI_K, atol=1e-5, what=f"per-state form at β = {beta}")
        with pytest.raises(CheckFailed):  # the two are distinguishable at this tolerance
            checks.close(q_sampled, ONE_STATE_PI_K, atol=1e-5, what="sampled form is not π^k")


def test_stays_near_check_passes_the_per_state_kl():
    check = check_penalty_keeps_policy_near(kl_penalty_objective)
    assert check.statistic < 1e-3


@pytest.mark.parametrize("wrong", [sampled_kl_penalty_objective, reversed_sign_penalty],
                         ids=["sampled log-ratio", "reversed sign"])
def test_stays_near_check_rejects_wrong_penalties(wrong):
    with pytest.raises(CheckFailed):
        check_penalty_keeps_policy_near(wrong)


# --------------------------------------------------------------------------
# The stress test: 32 epochs; PPO without clipping collapses, early stopping bounds the KL
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clipped():
    return setting(stress_runs("clip"), 0)


@pytest.fixture(scope="module")
def unclipped():
    """The unclipped surrogate without (setting 0) and with (setting 1) early stopping."""
    return stress_runs("unclipped", (None, TARGET_KL))


def test_stress_check_passes_the_clipped_objective(clipped):
    check_holds_under_stress(clipped)
    # ... whose ratios are nevertheless not bounded by 1 + ε.
    checks.fraction_at_least(np.asarray(clipped.max_ratio) > 1.2, 0.9, what="ratio beyond 1 + ε")


def test_stress_check_rejects_ppo_without_clipping(unclipped):
    with pytest.raises(CheckFailed):
        check_holds_under_stress(setting(unclipped, 0))


def test_early_stopping_check_passes_early_stopping(unclipped):
    stopped = setting(unclipped, 1)
    check_early_stopping(stopped, TARGET_KL, STRESS_BUDGET["update_epochs"])
    # It stopped because the approximate KL of the last epoch run passed the target.
    early = np.asarray(stopped.epochs) < STRESS_BUDGET["update_epochs"]
    assert np.all(np.asarray(stopped.approx_kl)[early] > TARGET_KL)


def test_early_stopping_check_rejects_early_stopping_that_never_stops(unclipped):
    """Early stopping that never stops is the run without it: same program, threshold ∞."""
    never = setting(unclipped, 0)
    assert np.all(np.asarray(never.epochs) == STRESS_BUDGET["update_epochs"])
    with pytest.raises(CheckFailed):
        check_early_stopping(never, TARGET_KL, STRESS_BUDGET["update_epochs"])


# --------------------------------------------------------------------------
# The adaptive rule keeps the KL around its target
# --------------------------------------------------------------------------


def wrong_direction(beta, kl, kl_target):
    """The rule with its directions swapped: double β when the KL is small, halve it when large."""
    return jnp.where(kl < kl_target / 1.5, beta * 2, jnp.where(kl > 1.5 * kl_target, beta / 2, beta))


def test_band_check_passes_the_adaptive_rule():
    runs = kl_penalty_runs(BETAS + [1.0], [0.0] * len(BETAS) + [KL_TARGET])  # the chapter's call
    adaptive = setting(runs, -1)
    check_adaptive_band(adaptive.kl, KL_TARGET)
    # The coefficient followed (eq-ppo-adaptive-kl).
    beta, kl = adaptive.kl_coef, adaptive.kl
    np.testing.assert_allclose(beta[:, 1:], adaptive_kl_coef(beta[:, :-1], kl[:, :-1], KL_TARGET), rtol=1e-6)


def test_band_check_rejects_the_wrong_direction():
    wrong = setting(kl_penalty_runs([1.0], [KL_TARGET], rule=wrong_direction), 0)
    with pytest.raises(CheckFailed):
        check_adaptive_band(wrong.kl, KL_TARGET)
    assert np.asarray(wrong.kl_coef)[:, -1].max() < 1e-6  # β ran away
