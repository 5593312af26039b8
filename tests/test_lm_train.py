"""The section's runs learn: the supervised model is imperfect, and REINFORCE, RLOO and GRPO each
lift its held-out accuracy by at least 10 points for both seeds while the KL to it stays below 0.5 nats."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils.lm import task, train

KL_BOUND = 0.5  # nats: the sequence KL(π_θ ‖ π_ref) on held-out prompts, at every evaluation
MIN_GAIN = 0.10  # held-out accuracy, final minus supervised
N_SEEDS = 2


@pytest.fixture(scope="module")
def runs():
    data = task.make_dataset(jax.random.key(0))
    supervised = jax.jit(train.make_supervised(train.SupervisedConfig(), data))(jax.random.key(1))
    before = jax.jit(train.evaluate)(supervised.params, supervised.params, data, jax.random.key(3))
    outs = train.train_methods(jax.random.key(2), N_SEEDS, list(train.SECTION_CONFIGS), supervised.params, data)
    return data, supervised, before, dict(zip(train.METHODS, outs))


def test_the_supervised_model_imitates_a_corpus_with_wrong_answers(runs):
    data, supervised, before, _ = runs
    assert 0.4 < float(before.accuracy) < 0.8  # sampled answers: clearly imperfect
    assert float(before.greedy_accuracy) > float(before.accuracy) + 0.1  # the right answer is usually the mode
    loss = np.asarray(supervised.loss)
    assert loss[-100:].mean() < 0.5 * loss[:10].mean()
    assert float(before.kl_k1) == 0.0 and float(before.kl_k3) == 0.0  # against itself


@pytest.mark.parametrize("method", train.METHODS)
def test_each_method_lifts_heldout_accuracy_within_the_kl_bound(runs, method):
    _, _, before, outs = runs
    out = outs[method]
    accuracy = np.asarray(out.evals.accuracy)  # "seeds E"
    assert accuracy.shape == (N_SEEDS, train.SECTION_CONFIGS[0].n_updates // train.SECTION_CONFIGS[0].eval_every + 1)
    np.testing.assert_allclose(accuracy[:, 0], float(before.accuracy), rtol=1e-5)  # the run starts at π_ref
    assert accuracy[:, -1].min() >= float(before.accuracy) + MIN_GAIN, accuracy[:, -1]
    for kl in (out.evals.kl_k1, out.evals.kl_k3):
        assert float(jnp.max(kl)) <= KL_BOUND, np.asarray(kl)
    assert float(jnp.min(out.evals.kl_k3)) >= 0.0
    reward = np.asarray(out.metrics.reward)
    assert reward[:, -20:].mean() > reward[:, :20].mean() + 0.05
    np.testing.assert_array_equal(out.eval_updates[0], np.arange(0, 201, 20))


def test_make_train_is_the_shared_program_s_run(runs):
    """`make_train(config)` (its own compiled program, method fixed) gives the run of `train_methods`."""
    data, supervised, _, outs = runs
    config = train.SECTION_CONFIGS[1]._replace(n_updates=20)
    single = jax.jit(jax.vmap(train.make_train(config, supervised.params, data)))(jax.random.split(jax.random.key(2), N_SEEDS))
    np.testing.assert_allclose(single.metrics.reward, outs["rloo"].metrics.reward[:, :20], atol=1e-6)
    np.testing.assert_allclose(single.evals.accuracy[:, 1], outs["rloo"].evals.accuracy[:, 1], rtol=1e-4)
