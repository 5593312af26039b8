"""Environment steps per second: the JAX CartPole, Acrobot and Pendulum against gymnasium's.

    python benchmarks/env_throughput.py                      # every environment, full run
    python benchmarks/env_throughput.py --quick              # fewer steps, for a smoke test
    python benchmarks/env_throughput.py --envs Pendulum-v1   # one environment

For each environment and 1, 64, 1024 and 4096 parallel environments, one
jitted function runs `lax.scan` over time of a `vmap`ped `env.step` with
uniformly random actions (indices, or torques uniform within the bounds) and
auto-reset (the shape of a PureJaxRL rollout). Compilation is timed separately
from execution; execution is the best of a few repeats. In the same run,
gymnasium's own Python loop (one environment, `env.step` / `env.reset`) gives
the reference figure for each, and for CartPole also its NumPy-vectorised
`CartPoleVectorEnv`. Prints a table; it is a benchmark, not a test.

One XLA CPU device runs the whole batch on one core. To use every core, the
script also exposes the cores as XLA devices and runs the same jitted
function with the batch of environments sharded across them (rows marked
"sharded"); this needs `XLA_FLAGS=--xla_force_host_platform_device_count`,
which the script sets before importing JAX unless you set XLA_FLAGS yourself.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

if "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={os.cpu_count() or 1}"

import gymnasium as gym  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402

from utils import envs  # noqa: E402


def random_actions(env: envs.Environment, key, n_envs: int):
    """Uniformly random actions for `n_envs` environments: indices, or vectors within the bounds."""
    if env.continuous:
        low, high = jnp.asarray(env.action_low), jnp.asarray(env.action_high)
        return jax.random.uniform(key, (n_envs, env.action_dim), minval=low, maxval=high)
    return jax.random.randint(key, (n_envs,), 0, env.n_actions)


def make_rollout(env_id: str, n_envs: int, n_steps: int, sharding: NamedSharding | None = None):
    """`rollout(key) -> (total reward, episodes ended)`: n_steps of n_envs copies of `env_id`.

    With `sharding`, the environment axis is split across devices."""
    env = envs.make(env_id)

    def shard(x):
        return x if sharding is None else jax.lax.with_sharding_constraint(x, sharding)

    def rollout(key):
        key, reset_key = jax.random.split(key)
        state, _ = jax.vmap(env.reset)(shard(jax.random.split(reset_key, n_envs)))
        state = shard(state)

        def one_step(carry, step_key):
            state, total_reward, n_ended = carry
            ts = jax.vmap(env.step)(state, shard(random_actions(env, step_key, n_envs)))
            ended = ts.terminated | ts.truncated
            return (ts.state, total_reward + ts.reward.sum(), n_ended + ended.sum()), None

        init = (state, jnp.zeros(()), jnp.zeros((), jnp.int32))
        (state, total_reward, n_ended), _ = jax.lax.scan(
            one_step, init, jax.random.split(key, n_steps)
        )
        return total_reward, n_ended

    return rollout


def time_jax(env_id: str, n_envs: int, n_steps: int, repeats: int, sharding: NamedSharding | None = None) -> dict:
    key = jax.random.key(0)
    start = time.perf_counter()
    compiled = jax.jit(make_rollout(env_id, n_envs, n_steps, sharding)).lower(key).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(key))  # warm-up
    times, cpu_times = [], []
    for i in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        total_reward, n_ended = jax.block_until_ready(compiled(jax.random.key(i + 1)))
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    steps = n_envs * n_steps
    if env_id == "CartPole-v1":
        assert int(total_reward) == steps  # reward 1 on every step
    return {
        "compile_s": compile_s,
        "run_s": min(times),
        "steps_per_s": steps / min(times),
        "steps_per_cpu_s": steps / min(cpu_times),
        "mean_episode_length": steps / max(int(n_ended), 1),
        "mean_reward": float(total_reward) / steps,
    }


def time_gymnasium_loop(env_id: str, n_steps: int) -> float:
    env = gym.make(env_id)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(n_steps)]
    env.reset(seed=0)
    start, cpu_start = time.perf_counter(), time.process_time()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    env.close()
    return n_steps / elapsed, n_steps / cpu


def time_gymnasium_vector(n_envs: int, n_steps: int) -> float:
    envs = gym.make_vec("CartPole-v1", num_envs=n_envs, vectorization_mode="vector_entry_point")
    rng = np.random.default_rng(0)
    envs.reset(seed=0)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(n_steps):
        envs.step(rng.integers(0, 2, n_envs))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    envs.close()
    return n_envs * n_steps / elapsed, n_envs * n_steps / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke test)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--envs", nargs="+", default=list(envs.ENV_IDS), choices=envs.ENV_IDS)
    args = parser.parse_args()
    budget = 2**20 if args.quick else 2**24  # env-steps per timed JAX run (large batches)
    repeats = 2 if args.quick else args.repeats

    print(f"jax {jax.__version__} on {len(jax.devices())} {jax.devices()[0].platform} device(s), "
          f"{os.cpu_count()} CPUs, "
          f"gymnasium {gym.__version__}, python {platform.python_version()}")
    print(f"load average: {os.getloadavg()[0]:.1f} (the machine may be shared: figures are noisy)\n")
    print("env-steps/s is wall-clock. 'per CPU-s' divides by the CPU time the process used")
    print("(all threads): for single-device rows, what one otherwise idle core achieves.\n")
    print(f"{'implementation':<40}{'envs':>6}{'steps/run':>12}{'compile s':>11}{'run s':>9}"
          f"{'env-steps/s':>15}{'per CPU-s':>15}")

    def row(label, n_envs, steps, compile_s, run_s, sps, sps_cpu):
        compile_text = "-" if compile_s is None else f"{compile_s:.2f}"
        print(f"{label:<40}{n_envs:>6}{steps:>12}{compile_text:>11}{run_s:>9.3f}"
              f"{sps:>15,.0f}{sps_cpu:>15,.0f}")

    for env_id in args.envs:
        print(f"\n{env_id}")
        for n_envs in (1, 64, 1024, 4096):
            n_steps = max(budget // n_envs, 2000 if not args.quick else 500)
            if n_envs == 1:
                n_steps = min(n_steps, 20_000 if args.quick else 200_000)
            r = time_jax(env_id, n_envs, n_steps, repeats)
            row("JAX jit(scan(vmap(step)))", n_envs, n_envs * n_steps, r["compile_s"], r["run_s"],
                r["steps_per_s"], r["steps_per_cpu_s"])
            n_devices = len(jax.devices())
            if n_devices > 1 and n_envs >= 1024:
                sharding = NamedSharding(Mesh(jax.devices(), ("envs",)), PartitionSpec("envs"))
                r = time_jax(env_id, n_envs, n_steps, repeats, sharding)
                row(f"  same, sharded over {n_devices} devices", n_envs, n_envs * n_steps,
                    r["compile_s"], r["run_s"], r["steps_per_s"], r["steps_per_cpu_s"])
        n = 20_000 if args.quick else 100_000
        sps, sps_cpu = time_gymnasium_loop(env_id, n)
        row(f"gymnasium {env_id} Python loop", 1, n, None, n / sps, sps, sps_cpu)
        if env_id == "CartPole-v1":
            n_vec_steps = 50 if args.quick else 500
            sps, sps_cpu = time_gymnasium_vector(4096, n_vec_steps)
            row("gymnasium CartPoleVectorEnv (NumPy)", 4096, 4096 * n_vec_steps, None,
                4096 * n_vec_steps / sps, sps, sps_cpu)
        print(f"Random actions: mean episode length {r['mean_episode_length']:.1f} steps, "
              f"mean reward per step {r['mean_reward']:.2f} (auto-resets included).")


if __name__ == "__main__":
    main()
