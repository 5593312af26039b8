"""`utils.seeds`: the seeds of a run sharded over several devices give the single-device results.

The sharded runs need several devices, which JAX's CPU backend makes only at start-up
(`--xla_force_host_platform_device_count`), so they run in a child process."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import pytest

from conftest import ROOT
from utils import seeds

CHILD = textwrap.dedent(
    """
    import jax
    import numpy as np
    from utils import ppo, reinforce, trpo
    from utils.envs import make

    assert len(jax.devices()) == 4, jax.devices()
    key = jax.random.key(7)
    pendulum = make("Pendulum-v1")
    runs = {
        "ppo CartPole": (ppo.train_seeds, ppo.make_train, ppo.PPOConfig(
            hidden=(8,), num_envs=4, num_steps=8, total_timesteps=4 * 8 * 3,
            update_epochs=2, num_minibatches=2, eval_every=0), None),
        "ppo Pendulum": (ppo.train_seeds, ppo.make_train, ppo.PPOConfig(
            hidden=(8,), num_envs=4, num_steps=8, total_timesteps=4 * 8 * 3,
            update_epochs=2, num_minibatches=2, eval_every=0), pendulum),
        "reinforce Pendulum": (reinforce.train_seeds, reinforce.make_train,
                               reinforce.ReinforceConfig(hidden=(8,), n_envs=2, n_steps=16, n_updates=3), pendulum),
        "trpo CartPole": (trpo.train_seeds, lambda c, e: trpo.make_train(c, env=e),
                          trpo.TRPOConfig(hidden=(8,), n_envs=2, n_steps=16, n_iterations=3), None),
    }
    for name, (train_seeds, make_train, config, env) in runs.items():
        sharded = train_seeds(key, 4, config, env=env)
        devices = {len(leaf.sharding.device_set) for leaf in jax.tree_util.tree_leaves(sharded)}
        assert devices == {4}, (name, devices)
        # The same seeds, every one on the first device.
        single = jax.jit(jax.vmap(make_train(config, env)))(jax.random.split(key, 4))
        for a, b in zip(jax.tree_util.tree_leaves(sharded), jax.tree_util.tree_leaves(single)):
            if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
                a, b = jax.random.key_data(a), jax.random.key_data(b)
            a, b = np.asarray(a), np.asarray(b)
            if np.issubdtype(a.dtype, np.floating):
                # Each device runs the same per-seed program. PPO's agree bit for bit; REINFORCE's
                # and TRPO's differ in the last bits where XLA reorders a sum over the smaller
                # per-device batch (seen: at most 5e-7 relative after three updates).
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)
            else:
                np.testing.assert_array_equal(a, b, err_msg=name)
        print("same", name)
    # Six seeds on four devices: the largest count that divides six, three devices.
    six = ppo.train_seeds(key, 6, runs["ppo CartPole"][2])
    assert {len(x.sharding.device_set) for x in jax.tree_util.tree_leaves(six)} == {3}
    print("ok")
    """
)


def test_sharded_seeds_equal_single_device_runs():
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.splitlines()[-1] == "ok", result.stdout


def test_one_device_is_the_plain_vmapped_run():
    sharding = seeds.seed_sharding(5)
    assert len(sharding.device_set) == 1 == len(jax.devices())


def test_wrong_key_per_seed_would_differ():
    """The comparison above can fail: a sharding that reused one key per device would not
    match the single-device seeds (each seed's result depends on its key)."""
    train = lambda key: jax.random.normal(key, (3,))  # noqa: E731
    out = seeds.train_seeds(train, jax.random.key(0), 4)
    reused = jax.vmap(train)(jax.numpy.stack([jax.random.split(jax.random.key(0), 4)[0]] * 4))
    assert not jax.numpy.allclose(out, reused)
    assert jax.numpy.array_equal(out, jax.vmap(train)(jax.random.split(jax.random.key(0), 4)))


@pytest.mark.parametrize("n_seeds", [0, 2.0, True])
def test_bad_n_seeds(n_seeds):
    with pytest.raises((TypeError, ValueError), match="n_seeds"):
        seeds.seed_sharding(n_seeds)
