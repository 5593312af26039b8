"""The section's `grpo` pseudocode runs, and agrees with the jitted `utils.lm` on the same samples."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import latex
from utils.lm.advantages import grpo_advantages
from utils.lm.model import init_params, token_log_probs
from utils.lm.objectives import grpo_objective as jitted_grpo_objective
from utils.lm.sampling import sample_answers as jitted_sample_answers
from utils.lm.task import exact_match, make_dataset
from utils.pseudocode.grpo import (
    flatten,
    group_advantages,
    grpo,
    grpo_objective,
    reward,
    sample_answers,
    unflatten,
)

HIDDEN, K, BETA, EPSILON = 8, 3, 0.1, 0.2


def starts_even(x, y):
    """A reward that a random policy earns about half the time (an answer whose first token has an
    even id), so that the answers of a group disagree and the advantages are not all zero."""
    return 1.0 if y[0] % 2 == 0 else 0.0


@pytest.fixture(scope="module")
def setting():
    data = make_dataset(jax.random.key(0))
    prompts = np.asarray(data.train_prompts[:2]).tolist()
    theta_ref = flatten(init_params(jax.random.key(1), hidden=HIDDEN))
    theta_old = theta_ref + 0.3 * jax.random.normal(jax.random.key(2), theta_ref.shape)
    return data, prompts, theta_ref, theta_old


def padded(groups_of_answers, length=4):
    """The pseudocode's lists as the jitted layout: "P K T" tokens (end tokens after the end) and masks."""
    tokens = [[y + [12] * (length - len(y)) for y in answers] for answers in groups_of_answers]
    mask = [[[t < len(y) for t in range(length)] for y in answers] for answers in groups_of_answers]
    return jnp.asarray(tokens, jnp.int32), jnp.asarray(mask)


def jitted_objective(theta, theta_old, theta_ref, prompts, tokens, mask, advantages):
    """`utils.lm.objectives.grpo_objective` on the arrays, with the GRU's teacher-forced log-probabilities."""
    prompts = jnp.asarray(prompts, jnp.int32)
    log_probs = [token_log_probs(unflatten(t), prompts, tokens) for t in (theta, theta_old, theta_ref)]
    return jitted_grpo_objective(*log_probs, mask, advantages, EPSILON, BETA)


def test_flatten_round_trip():
    params = init_params(jax.random.key(3), hidden=HIDDEN)
    for a, b in zip(unflatten(flatten(params)), params):
        np.testing.assert_array_equal(a, b)


def test_samples_are_the_jitted_sampler_s(setting):
    data, prompts, _, theta_old = setting
    groups = sample_answers(jax.random.key(4), theta_old, prompts, K)
    samples = jitted_sample_answers(unflatten(theta_old), jax.random.key(4), jnp.asarray(prompts), K)
    assert len(groups) == len(prompts) and all(len(answers) == K for answers in groups)
    for p, answers in enumerate(groups):
        for i, y in enumerate(answers):
            length = int(samples.mask[p, i].sum())
            assert y == np.asarray(samples.tokens[p, i, :length]).tolist()
    # The exact-match reward is the library's.
    for p, x in enumerate(data.train_prompts[:2]):
        right = np.asarray(data.train_targets[p]).tolist()
        right = right[: right.index(12) + 1]
        assert reward(np.asarray(x).tolist(), right) == 1.0
        assert reward(np.asarray(x).tolist(), right[:-1] + [0, 12]) == float(exact_match(
            jnp.asarray(right[:-1] + [0, 12] + [12] * (3 - len(right))), data.train_targets[p]))


def test_group_advantages_are_grpo_advantages():
    rewards = [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.5], [0.2, 0.9, 0.4]]
    ours = np.asarray([[float(a) for a in group_advantages(r)] for r in rewards])
    np.testing.assert_allclose(ours, grpo_advantages(jnp.asarray(rewards)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours[2], 0.0)  # equal rewards: no advantage


def test_objective_and_gradient_match_jitted(setting):
    _, prompts, theta_ref, theta_old = setting
    answers = sample_answers(jax.random.key(5), theta_old, prompts, K)
    advantages = [[0.8, -0.3, -0.5], [1.1, 0.0, -1.1]]
    groups = [(x, a, adv) for x, a, adv in zip(prompts, answers, advantages)]
    tokens, mask = padded(answers)
    args = (theta_old, theta_ref, jnp.asarray(prompts), tokens, mask, jnp.asarray(advantages))
    far = theta_old + 0.5 * jax.random.normal(jax.random.key(6), theta_old.shape)
    ratios = jnp.exp(token_log_probs(unflatten(far), jnp.asarray(prompts), tokens)
                     - token_log_probs(unflatten(theta_old), jnp.asarray(prompts), tokens))
    assert bool(jnp.any(jnp.where(mask, jnp.abs(ratios - 1) > EPSILON, False)))  # the clip acts at `far`
    for theta in (theta_old, far):
        ours = grpo_objective(theta, theta_old, theta_ref, groups, BETA, EPSILON)
        np.testing.assert_allclose(ours, jitted_objective(theta, *args), rtol=1e-5, atol=1e-6)
        g_ours = jax.grad(grpo_objective)(theta, theta_old, theta_ref, groups, BETA, EPSILON)
        g_jitted = jax.jit(jax.grad(jitted_objective))(theta, *args)
        np.testing.assert_allclose(g_ours, g_jitted, rtol=1e-4, atol=1e-6)
        assert float(jnp.abs(g_jitted).max()) > 1e-3


def test_grpo_iterates_match_jitted_update(setting):
    """Two rounds of `grpo` equal two rounds of the jitted pieces (sampler, `grpo_advantages`,
    `grpo_objective`) with plain gradient ascent on the same samples."""
    _, prompts, theta_ref, theta_old = setting
    eta, n_epochs, key = 0.5, 2, jax.random.key(7)
    ours = grpo(theta_old, theta_ref, prompts, starts_even, K, BETA, EPSILON, eta, 2, n_epochs, key)

    theta, gradient = theta_old, jax.jit(jax.grad(jitted_objective))
    for _ in range(2):
        key, subkey = jax.random.split(key)
        samples = jitted_sample_answers(unflatten(theta), subkey, jnp.asarray(prompts), K)
        rewards = jnp.where(samples.tokens[..., 0] % 2 == 0, 1.0, 0.0)
        assert 0 < float(rewards.mean()) < 1
        args = (theta, theta_ref, jnp.asarray(prompts), samples.tokens, samples.mask, grpo_advantages(rewards))
        for _ in range(n_epochs):
            theta = theta + eta * gradient(theta, *args)
    np.testing.assert_allclose(ours, theta, rtol=1e-4, atol=1e-5)
    assert float(jnp.abs(ours - theta_old).max()) > 1e-2


def test_pseudocode_renders():
    shown = latex(grpo, hide={"key", "subkey"}).to_latex()
    for piece in ("group{\\_}advantages", "grpo{\\_}objective", "optimize", r"\theta_{\mathrm{old}}"):
        assert piece in shown
    assert "subkey" not in shown
    objective = latex(grpo_objective).to_latex()
    for piece in (r"\min", r"\operatorname{clip}", r"\beta", r"\varepsilon", r"\rho", r"\log \pi"):
        assert piece in objective
    assert r"\sqrt" in latex(group_advantages).to_latex()
