"""Exact identities of the language-model section, by listing every answer of tiny problems, in float64.

Each identity is checked for the right implementation and shown to fail for a plausible
wrong one: a leave-one-out mean that includes the sample, the group mean taken as unbiased,
GRPO with and without the std division, the KL in the wrong direction, k3 with the ratio
upside down. The problems: 3 tokens, answers of at most 2 tokens (with an end token: 7
answers of length 1 or 2) or of exactly 2 (9 answers), 3 prompts, a tabular softmax policy
over prompts and prefixes and the section's GRU at 4 hidden units.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils.compat import enable_x64
from utils.lm import exact as E
from utils.lm.advantages import group_mean_advantages, grpo_advantages, rloo_advantages
from utils.lm.kl import k1, k3, kl_shaped_rewards
from utils.lm.model import init_params, token_log_probs
from utils.lm.objectives import grpo_objective, policy_gradient_surrogate
from utils.lm.sampling import sample_answers

V, T, EOS, P = 3, 2, 2, 3
RTOL = 1e-11  # float64: sums of a few thousand terms agree to about 1e-14 relative


@pytest.fixture(autouse=True)
def float64():
    with enable_x64():
        yield


def close(actual, expected, rtol=RTOL):
    """The identity, to float64 precision (an AssertionError otherwise)."""
    a = jnp.concatenate([jnp.ravel(x) for x in jax.tree_util.tree_leaves(actual)])
    e = jnp.concatenate([jnp.ravel(x) for x in jax.tree_util.tree_leaves(expected)])
    np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol, atol=rtol * float(jnp.max(jnp.abs(e))))


def identity(rewards):
    """No baseline: REINFORCE's weights are the rewards themselves."""
    return rewards


def loo_including_the_sample(rewards):
    """A wrong leave-one-out baseline: the sum of all K rewards, the answer's own included, over K − 1."""
    return rewards - jnp.sum(rewards, axis=1, keepdims=True) / (rewards.shape[1] - 1)


class Problem:
    """Every answer, a tabular policy, a reference and rewards for `P` prompts."""

    def __init__(self, eos=EOS, seed=0, binary=True):
        self.enum = E.enumerate_answers(V, T, eos)
        keys = jax.random.split(jax.random.key(seed), 4)
        shape = (P, E.n_prefixes(V, T), V)
        self.theta = jax.random.normal(keys[0], shape, jnp.float64)
        self.theta_ref = self.theta + 0.8 * jax.random.normal(keys[1], shape, jnp.float64)
        m = self.enum.answers.shape[0]
        if binary:  # exact match against one target answer per prompt
            self.rewards = jax.nn.one_hot(jax.random.randint(keys[2], (P,), 0, m), m, dtype=jnp.float64)
        else:
            self.rewards = jax.random.uniform(keys[2], (P, m), jnp.float64)
        self.log_probs_fn = lambda theta: E.tabular_log_probs(theta, self.enum.answers)

    @property
    def mask(self):
        return self.enum.mask

    def table(self, theta=None):
        return self.log_probs_fn(self.theta if theta is None else theta)

    def gradient(self, **kwargs):
        return E.exact_gradient(self.log_probs_fn, self.theta, self.mask, self.rewards, **kwargs)

    def expected(self, advantages, n_samples, rewards=None, **kwargs):
        rewards = self.rewards if rewards is None else rewards
        return E.expected_estimator(self.log_probs_fn, self.theta, self.mask, rewards, advantages, n_samples, **kwargs)


@pytest.fixture()
def problem():
    return Problem()


# --- the enumeration and the policies -----------------------------------------------------


def test_enumeration_lists_every_answer_once():
    with_end = E.enumerate_answers(3, 3, eos=2)
    assert with_end.answers.shape == (1 + 2 + 4 + 8, 3)
    assert len({tuple(np.asarray(a)[: n]) for a, n in zip(with_end.answers, with_end.lengths)}) == 15
    assert sorted(np.asarray(with_end.lengths).tolist()) == [1] + [2] * 2 + [3] * 4 + [3] * 8
    fixed = E.enumerate_answers(3, 2)
    assert fixed.answers.shape == (9, 2) and bool(jnp.all(fixed.mask))
    assert E.n_prefixes(3, 2) == 4 and E.n_prefixes(3, 3) == 13


@pytest.mark.parametrize("eos", [EOS, None])
def test_probabilities_of_all_answers_sum_to_one(eos):
    """eq-lm-likelihood over the enumeration, for the tabular policy and for the GRU."""
    p = Problem(eos)
    close(jnp.sum(E.answer_probs(p.table(), p.mask), axis=1), jnp.ones(P))
    params = init_params(jax.random.key(3), vocab_size=V, hidden=4)
    prompts = jnp.arange(P)[:, None]  # a one-token prompt each
    answers = jnp.broadcast_to(p.enum.answers, (P, *p.enum.answers.shape))
    close(jnp.sum(E.answer_probs(token_log_probs(params, prompts, answers), p.mask), axis=1), jnp.ones(P))


def test_the_sampler_draws_from_the_model():
    """Frequencies of 40 000 sampled answers against the exact `π_θ(y|x)` of the same GRU: within
    4.5 standard errors for each answer (and the check rejects the probabilities of another model)."""
    enum = E.enumerate_answers(V, T, EOS)
    params = init_params(jax.random.key(4), vocab_size=V, hidden=4)
    params = params._replace(output=10 * params.output)  # far from uniform
    prompts = jnp.arange(2)[:, None]
    probs = E.answer_probs(token_log_probs(params, prompts, jnp.broadcast_to(enum.answers, (2, 7, T))), enum.mask)
    n = 40_000
    samples = sample_answers(params, jax.random.key(5), prompts, n, T, EOS)
    # An answer is its tokens up to its end; after it the enumeration pads with end tokens.
    padded = jnp.where(samples.mask, samples.tokens, EOS)
    matches = jnp.all(padded[:, :, None, :] == enum.answers, axis=-1)  # P n M
    assert bool(jnp.all(jnp.sum(matches, axis=-1) == 1))
    ids = jnp.argmax(matches, axis=-1)
    freq = jax.vmap(lambda i: jnp.bincount(i, length=7))(ids) / n

    def within(p):
        np.testing.assert_array_less(np.abs(freq - p), 4.5 * np.sqrt(p * (1 - p) / n) + 1e-12)

    within(probs)
    other = init_params(jax.random.key(6), vocab_size=V, hidden=4)
    with pytest.raises(AssertionError):
        within(E.answer_probs(token_log_probs(other, prompts, jnp.broadcast_to(enum.answers, (2, 7, T))), enum.mask))
    # The sampler's log-probabilities are the teacher-forced ones.
    close(jnp.where(samples.mask, samples.log_probs, 0.0),
          jnp.where(samples.mask, token_log_probs(params, prompts, samples.tokens), 0.0), rtol=1e-10)


# --- the gradient of E[R] and the estimators' means ------------------------------------------


def test_exact_gradient_by_finite_differences(problem):
    """The autodiff of the enumerated sum is the derivative of E[R] (central differences, float64)."""
    g = problem.gradient()
    for index in [(0, 0, 1), (1, 2, 0), (2, 3, 2)]:
        step = jnp.zeros_like(problem.theta).at[index].set(1e-6)
        value = lambda t: jnp.mean(E.exact_objective(problem.table(t), problem.mask, problem.rewards))  # noqa: E731
        fd = (value(problem.theta + step) - value(problem.theta - step)) / 2e-6
        np.testing.assert_allclose(float(g[index]), float(fd), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("n_samples", [1, 3])
def test_reinforce_is_unbiased(problem, n_samples):
    """eq-lm-reinforce: E[(1/K) Σ_i R(x, y_i) ∇ log π(y_i|x)] = ∇J."""
    close(problem.expected(identity, n_samples), problem.gradient())


@pytest.mark.parametrize("eos", [EOS, None])
@pytest.mark.parametrize("n_samples", [2, 3])
def test_rloo_is_unbiased_and_a_self_including_mean_is_not(eos, n_samples):
    """eq-lm-rloo: the leave-one-out estimator's mean is ∇J (3^2 = 9 answers, K = 3: 729 groups listed)."""
    p = Problem(eos)
    close(p.expected(rloo_advantages, n_samples), p.gradient())
    with pytest.raises(AssertionError):
        close(p.expected(loo_including_the_sample, n_samples), p.gradient())


@pytest.mark.parametrize("n_samples", [2, 3, 4])
def test_group_mean_scales_the_gradient_by_k_minus_1_over_k(problem, n_samples):
    """eq-lm-group-mean: E = ((K−1)/K) ∇J, which is not ∇J."""
    expected = problem.expected(group_mean_advantages, n_samples)
    scale = (n_samples - 1) / n_samples
    close(expected, jax.tree_util.tree_map(lambda g: scale * g, problem.gradient()))
    with pytest.raises(AssertionError):
        close(expected, problem.gradient())


def test_the_gradients_of_the_estimators_in_code_are_the_formulas():
    """On a sampled batch, ∇ policy_gradient_surrogate = (1/(P K)) Σ A_i ∇ log π(y_i|x), and at
    θ = θ_old = θ_ref, ∇ grpo_objective = (1/(P K)) Σ (A_i/|y_i|) ∇ log π(y_i|x): the weights that
    `expected_estimator` averages."""
    params = init_params(jax.random.key(7), vocab_size=V, hidden=4)
    prompts, n_samples = jnp.arange(2)[:, None], 3
    samples = sample_answers(params, jax.random.key(8), prompts, n_samples, T, EOS)
    adv = jax.random.normal(jax.random.key(9), (2, n_samples), jnp.float64)

    def log_prob(p):  # log π(y_ik | x_i), "P K"
        return jnp.sum(jnp.where(samples.mask, token_log_probs(p, prompts, samples.tokens), 0.0), axis=-1)

    scores = jax.jit(jax.jacrev(log_prob))(params)  # each leaf "P K ...": ∇ log π(y_ik | x_i)
    lengths = jnp.sum(samples.mask, axis=-1)

    def formula(weights):
        return jax.tree_util.tree_map(lambda s: jnp.tensordot(weights, s, axes=2) / weights.size, scores)

    surrogate = jax.jit(jax.grad(lambda p: policy_gradient_surrogate(token_log_probs(p, prompts, samples.tokens),
                                                                     samples.mask, adv)))(params)
    close(surrogate, formula(adv), rtol=1e-10)
    old = token_log_probs(params, prompts, samples.tokens)
    grpo = jax.jit(jax.grad(lambda p: grpo_objective(token_log_probs(p, prompts, samples.tokens), old, old,
                                                     samples.mask, adv, 0.2, 0.5)))(params)
    close(grpo, formula(adv / lengths), rtol=1e-10)
    with pytest.raises(AssertionError):
        close(grpo, formula(adv), rtol=1e-10)


def _per_prompt_scale(expected, gradient):
    """For a tabular policy each prompt has its own rows of θ: `c_x` with `expected[x] = c_x ∇J_x`,
    and the part of `expected[x]` not along `∇J_x` (relative)."""
    c = jnp.sum(expected * gradient, axis=(1, 2)) / jnp.sum(gradient**2, axis=(1, 2))
    residual = jnp.linalg.norm((expected - c[:, None, None] * gradient).reshape(P, -1), axis=1)
    return c, residual / jnp.linalg.norm(expected.reshape(P, -1), axis=1)


def _cosine(a, b):
    return float(jnp.vdot(a, b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b)))


def test_grpo_reweights_prompts_by_the_spread_of_their_rewards():
    """eq-lm-grpo with binary rewards, K = 4: each prompt's part of the expected direction is
    exactly `c_x ∇J_x`, with `c_x` larger for a prompt whose rewards spread less (σ_x = sqrt(J_x(1 − J_x))),
    so the sum is not along ∇J. Without the std division (Dr. GRPO) every `c_x` is (K−1)/K."""
    p = Problem(None)  # fixed length: the length normalisation plays no part here
    gradient, n_samples = p.gradient(), 4
    grpo = p.expected(grpo_advantages, n_samples)
    c, residual = _per_prompt_scale(grpo, gradient)
    np.testing.assert_array_less(np.asarray(residual), 1e-12)
    sigma = np.sqrt(np.asarray(E.exact_objective(p.table(), p.mask, p.rewards)) * (1 - np.asarray(
        E.exact_objective(p.table(), p.mask, p.rewards))))
    assert np.argsort(np.asarray(c)).tolist() == np.argsort(-sigma).tolist()
    assert float(jnp.max(c) - jnp.min(c)) > 1e-3
    assert _cosine(grpo, gradient) < 1 - 1e-6

    dr_grpo = p.expected(functools.partial(grpo_advantages, normalise_std=False), n_samples)
    close(dr_grpo, (n_samples - 1) / n_samples * gradient)
    # The check that Dr. GRPO passes, GRPO fails.
    with pytest.raises(AssertionError):
        close(grpo, (n_samples - 1) / n_samples * gradient)


def test_binary_rewards_with_three_samples_are_not_reweighted():
    """With binary rewards and K ≤ 3 a right answer's normalised advantage is (1 − p) times that of
    a lone right answer, whatever the success rate p, so `c_x` is that advantage for every prompt
    (about 1/√2 for K = 2, 2/√3 for K = 3): the std division shows from K = 4 on."""
    p = Problem(None)
    for n_samples in (2, 3):
        lone = float(grpo_advantages(jax.nn.one_hot(jnp.array([0]), n_samples, dtype=jnp.float64))[0, 0])
        c, residual = _per_prompt_scale(p.expected(grpo_advantages, n_samples), p.gradient())
        np.testing.assert_allclose(np.asarray(c), lone, rtol=RTOL)
        np.testing.assert_array_less(np.asarray(residual), 1e-12)
    np.testing.assert_allclose(lone, 2 / np.sqrt(3), rtol=1e-3)


def test_grpo_changes_the_direction_within_a_prompt():
    """With real-valued rewards (K = 3), or with its division by the answer's length (variable
    lengths, even without the std), GRPO's expected direction for one prompt is not along ∇J_x."""
    real = Problem(None, binary=False)
    _, residual = _per_prompt_scale(real.expected(grpo_advantages, 3), real.gradient())
    assert float(jnp.min(residual)) > 1e-2
    _, residual = _per_prompt_scale(real.expected(group_mean_advantages, 3), real.gradient())
    np.testing.assert_array_less(np.asarray(residual), 1e-12)

    varied = Problem(EOS)  # answers of 1 and 2 tokens
    dr = functools.partial(grpo_advantages, normalise_std=False)
    _, residual = _per_prompt_scale(varied.expected(dr, 3, normalise_length=True), varied.gradient())
    assert float(jnp.max(residual)) > 1e-2
    _, residual = _per_prompt_scale(varied.expected(dr, 3), varied.gradient())
    np.testing.assert_array_less(np.asarray(residual), 1e-12)


def test_the_gru_policy_too(problem):
    """The same machinery on the section's model: RLOO's mean is the exact gradient in every weight."""
    params = init_params(jax.random.key(10), vocab_size=V, hidden=4)
    prompts = jnp.arange(P)[:, None]
    answers = jnp.broadcast_to(problem.enum.answers, (P, *problem.enum.answers.shape))
    fn = lambda p: token_log_probs(p, prompts, answers)  # noqa: E731
    gradient = E.exact_gradient(fn, params, problem.mask, problem.rewards)
    close(E.expected_estimator(fn, params, problem.mask, problem.rewards, rloo_advantages, 3), gradient)
    assert float(jnp.max(jnp.abs(gradient.recurrent))) > 1e-4


# --- the KL penalty -------------------------------------------------------------------------


def test_k1_and_k3_are_unbiased_for_the_kl(problem):
    """eq-lm-k1, eq-lm-k3: E_{y∼π_θ} Σ_t k(y_t) = KL(π_θ ‖ π_ref), and every k3 is non-negative."""
    table, ref = problem.table(), problem.table(problem.theta_ref)
    kl = E.exact_kl(table, ref, problem.mask)
    assert float(jnp.min(kl)) > 1e-2
    for estimator in ("k1", "k3"):
        close(E.expected_kl_estimate(table, ref, problem.mask, estimator)[0], kl)
    assert float(jnp.min(jnp.where(problem.mask, k3(table, ref), 0.0))) >= 0.0
    assert float(jnp.min(jnp.where(problem.mask, k1(table, ref), 0.0))) < 0.0  # k1 takes both signs


def test_k1_and_k3_are_unbiased_per_token(problem):
    """At every state (prompt and prefix), E_{v∼π_θ(·|s)} k(v) = KL(π_θ(·|s) ‖ π_ref(·|s))
    (`utils.kl.categorical_kl`), for k1 and k3; k3 with ρ = π_θ/π_ref is not."""
    from utils.kl import categorical_kl

    log_p = jax.nn.log_softmax(problem.theta)  # P N V: every state's next-token distribution
    log_ref = jax.nn.log_softmax(problem.theta_ref)
    per_state = categorical_kl(problem.theta, problem.theta_ref)
    for estimate in (k1(log_p, log_ref), k3(log_p, log_ref)):
        close(jnp.sum(jnp.exp(log_p) * estimate, axis=-1), per_state)
    with pytest.raises(AssertionError):
        close(jnp.sum(jnp.exp(log_p) * k3(log_ref, log_p), axis=-1), per_state)


def test_the_wrong_kl_estimators_are_biased(problem):
    """The KL in the wrong direction, and k3 with ρ = π_θ/π_ref, miss KL(π_θ ‖ π_ref)."""
    table, ref = problem.table(), problem.table(problem.theta_ref)
    kl = E.exact_kl(table, ref, problem.mask)
    with pytest.raises(AssertionError):
        close(E.exact_kl(ref, table, problem.mask), kl)
    probs = E.answer_probs(table, problem.mask)
    for wrong in (k1(ref, table), k3(ref, table)):  # log π_ref/π_θ; ρ = π_θ/π_ref
        mean = jnp.sum(probs * jnp.sum(jnp.where(problem.mask, wrong, 0.0), axis=-1), axis=1)
        with pytest.raises(AssertionError):
            close(mean, kl)


def test_k3_varies_less_when_the_policies_are_close_and_more_when_far():
    p = Problem()
    ref = p.table(p.theta_ref)
    for scale, k3_less in ((0.05, True), (3.0, False)):
        theta = p.theta_ref + scale * jax.random.normal(jax.random.key(11), p.theta.shape, jnp.float64)
        _, var_k1 = E.expected_kl_estimate(p.table(theta), ref, p.mask, "k1")
        _, var_k3 = E.expected_kl_estimate(p.table(theta), ref, p.mask, "k3")
        assert bool(jnp.all(var_k3 < var_k1)) == k3_less
        assert bool(jnp.all(var_k3 > var_k1)) == (not k3_less)
    # Close, k3 ≈ δ²/2 against k1 ≈ −δ: the variance ratio is tiny.
    theta = p.theta_ref + 0.05 * jax.random.normal(jax.random.key(11), p.theta.shape, jnp.float64)
    ratio = (E.expected_kl_estimate(p.table(theta), ref, p.mask, "k3")[1]
             / E.expected_kl_estimate(p.table(theta), ref, p.mask, "k1")[1])
    assert float(jnp.max(ratio)) < 0.01


def test_the_kl_shaped_reward_gives_the_gradient_of_the_regularised_objective(problem):
    """eq-lm-kl-objective: with R̃ = R − β Σ_t k1, REINFORCE and RLOO are unbiased for
    ∇(E[R] − β KL); the score-function form of the KL's gradient is `kl_gradient`."""
    beta = 0.3
    table, ref = problem.table(), problem.table(problem.theta_ref)
    shaped = kl_shaped_rewards(problem.rewards, table, ref, problem.mask, beta)
    target = problem.gradient(kl_coef=beta, ref_token_log_probs=ref)
    close(problem.expected(identity, 1, shaped), target)
    close(problem.expected(rloo_advantages, 3, shaped), target)
    log_ratio = kl_shaped_rewards(jnp.zeros_like(problem.rewards), table, ref, problem.mask, 1.0)
    close(problem.expected(identity, 1, -log_ratio), E.kl_gradient(problem.log_probs_fn, problem.theta, ref,
                                                                   problem.mask))
    # The penalty in the wrong direction, R − β log(π_ref/π_θ), gives another gradient.
    wrong = kl_shaped_rewards(problem.rewards, ref, table, problem.mask, beta)
    with pytest.raises(AssertionError):
        close(problem.expected(identity, 1, wrong), target)
