"""The pieces of `utils.lm` on hand-checked cases: the task and its tokens, the model, the baselines, k1 and k3."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils.lm import model, task
from utils.lm.advantages import group_mean_advantages, grpo_advantages, rloo_advantages
from utils.lm.kl import k1, k3, kl_shaped_rewards, sequence_kl


@pytest.fixture(scope="module")
def data():
    return task.make_dataset(jax.random.key(0))


# --- task -------------------------------------------------------------------------------------


def test_encode_decode_round_trip():
    for text in ("47+38=", "85.", "133.", "0123456789+=."):
        assert task.decode(task.encode(text)) == text
    assert task.decode(task.encode("85...")) == "85."  # the padding after the end is dropped
    assert task.encode("9+").tolist() == [9, task.PLUS]


def test_every_prompt_and_answer_is_the_arithmetic():
    a, b = np.meshgrid(np.arange(10, 100), np.arange(10, 100))
    a, b = a.ravel(), b.ravel()
    prompts, answers = task.addition_prompts(a, b), task.addition_answers(a, b)
    assert prompts.shape == (8100, task.PROMPT_LENGTH) and answers.shape == (8100, task.ANSWER_LENGTH)
    for i in range(0, 8100, 97):
        assert task.decode(prompts[i]) == f"{a[i]}+{b[i]}="
        assert task.decode(answers[i]) == f"{a[i] + b[i]}."
    # The same under jit (the functions take either NumPy or traced inputs).
    np.testing.assert_array_equal(jax.jit(task.addition_answers)(a, b), answers)


def test_answer_mask_and_exact_match():
    answers = jnp.stack([task.encode(s) for s in ("85..", "85.3", "851.", "8.5.", "133.")])
    np.testing.assert_array_equal(task.answer_mask(answers).sum(-1), [3, 3, 4, 2, 4])
    target = task.encode("85..")
    # What follows the end token does not count; a longer or shorter answer is wrong.
    np.testing.assert_array_equal(task.exact_match(answers, target), [1, 1, 0, 0, 0])


def test_the_corpus_is_corrupted_as_stated(data):
    n = data.train_prompts.shape[0]
    assert n == 8100 - 1000 and data.heldout_prompts.shape[0] == 1000
    train = {tuple(x) for x in np.asarray(data.train_prompts)}
    assert not train & {tuple(x) for x in np.asarray(data.heldout_prompts)}
    wrong = np.asarray(data.train_answers != data.train_targets)
    np.testing.assert_array_equal(wrong.any(axis=1), data.corrupted)
    assert wrong.sum(axis=1).max() == 1  # one digit changed
    np.testing.assert_array_equal(task.answer_mask(data.train_answers), task.answer_mask(data.train_targets))
    rate = float(np.mean(data.corrupted))
    assert abs(rate - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n)
    np.testing.assert_array_equal(task.exact_match(data.train_answers, data.train_targets), ~data.corrupted)
    # Deterministic in the key, different for another key.
    again = task.make_dataset(jax.random.key(0))
    np.testing.assert_array_equal(again.train_answers, data.train_answers)
    assert not np.array_equal(task.make_dataset(jax.random.key(1)).train_prompts, data.train_prompts)


# --- model ------------------------------------------------------------------------------------


def test_model_size_and_log_probabilities(data):
    params = model.init_params(jax.random.key(1))
    assert model.n_params(params) == 15_693 <= 200_000
    prompts = data.train_prompts[:5]
    answers = jnp.stack([data.train_targets[:5], data.train_answers[:5]], axis=1)  # P K T
    log_probs = model.token_log_probs(params, prompts, answers)
    assert log_probs.shape == (5, 2, task.ANSWER_LENGTH) and bool(jnp.all(log_probs < 0))
    # Step by step with the public pieces: the same numbers (teacher forcing is the chain rule).
    @jax.jit
    def step_by_step(params, prompts, answer):
        state, out = model.prompt_state(params, prompts), []
        for t in range(task.ANSWER_LENGTH):
            out.append(jax.nn.log_softmax(model.next_token_logits(params, state))[jnp.arange(5), answer[:, t]])
            state = model.gru_step(params, state, answer[:, t])
        return jnp.stack(out, axis=-1)

    np.testing.assert_allclose(step_by_step(params, prompts, answers[:, 0]), log_probs[:, 0], rtol=1e-5)
    mask = task.answer_mask(answers)
    np.testing.assert_allclose(model.sequence_log_prob(log_probs, mask), jnp.sum(log_probs * mask, -1), rtol=1e-6)


# --- baselines --------------------------------------------------------------------------------


def test_baselines_on_a_hand_worked_group():
    r = jnp.asarray([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.3, 0.3, 0.3]])
    np.testing.assert_allclose(rloo_advantages(r), [[1, -0.5, -0.5], [0.5, 0.5, -1], [0, 0, 0]], atol=1e-7)
    np.testing.assert_allclose(group_mean_advantages(r), [[2 / 3, -1 / 3, -1 / 3], [1 / 3, 1 / 3, -2 / 3], [0, 0, 0]],
                               atol=1e-7)
    s = np.sqrt(1 / 3)  # the sample std of (1, 0, 0) and of (1, 1, 0)
    np.testing.assert_allclose(grpo_advantages(r), np.asarray(group_mean_advantages(r)) / (
        np.array([[s], [s], [0.0]]) + 1e-4), rtol=1e-5)
    np.testing.assert_array_equal(grpo_advantages(r, normalise_std=False), group_mean_advantages(r))
    # The self-including mean is the leave-one-out advantage times (K − 1)/K.
    np.testing.assert_allclose(group_mean_advantages(r), 2 / 3 * rloo_advantages(r), atol=1e-7)


# --- KL estimators ------------------------------------------------------------------------------


def test_k1_and_k3_per_token():
    lp, ref = jnp.log(jnp.asarray([0.5, 0.2, 0.9])), jnp.log(jnp.asarray([0.25, 0.4, 0.9]))
    np.testing.assert_allclose(k1(lp, ref), [np.log(2), np.log(0.5), 0.0], atol=1e-7)
    rho = np.array([0.5, 2.0, 1.0])
    np.testing.assert_allclose(k3(lp, ref), rho - 1 - np.log(rho), atol=1e-6)
    tokens = jnp.stack([lp, lp]), jnp.stack([ref, ref])
    mask = jnp.asarray([[True, True, False], [True, False, False]])
    np.testing.assert_allclose(sequence_kl(*tokens, mask, "k1"), [np.log(2) + np.log(0.5), np.log(2)], atol=1e-6)
    np.testing.assert_allclose(kl_shaped_rewards(jnp.ones(2), *tokens, mask, 0.5),
                               1 - 0.5 * np.array([0.0, np.log(2)]), atol=1e-6)
