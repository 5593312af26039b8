"""Wall time and environment steps per second of REINFORCE training on the JAX CartPole.

    python benchmarks/reinforce_cartpole.py [--seeds 4] [--updates 100] [--repeats 3]

For each variant (with and without a value baseline) it compiles the whole
training run (`jit` of `vmap` over seeds of `make_train(config)`), then times
`--repeats` complete runs and prints the compile time, the best and median
run time, env-steps/s over all seeds, and the final mean episode return.
Figures only; nothing here is a test.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import jax
import numpy as np

from utils.reinforce import ReinforceConfig, make_train


def benchmark(config: ReinforceConfig, n_seeds: int, repeats: int) -> dict:
    keys = jax.random.split(jax.random.key(0), n_seeds)
    train = jax.jit(jax.vmap(make_train(config)))
    t0 = time.perf_counter()
    compiled = train.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(keys))
        times.append(time.perf_counter() - t0)
    steps = n_seeds * config.n_updates * config.n_envs * config.n_steps
    final = float(np.nanmean(np.asarray(out.metrics.episode_return)[:, -10:]))
    return dict(
        compile_s=compile_s,
        best_s=min(times),
        median_s=statistics.median(times),
        steps=steps,
        steps_per_s=steps / min(times),
        final_return=final,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--updates", type=int, default=ReinforceConfig().n_updates)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.default_backend()} ({platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores visible)")
    base = ReinforceConfig(n_updates=args.updates)
    print(f"config: {base.n_envs} envs x {base.n_steps} steps x {base.n_updates} updates, "
          f"hidden={base.hidden}, seeds={args.seeds}")
    header = f"{'variant':<16}{'compile s':>10}{'best s':>9}{'median s':>10}{'env steps':>12}{'steps/s':>12}{'return':>9}"
    print(header)
    for name, use_baseline in (("value baseline", True), ("no baseline", False)):
        r = benchmark(base._replace(use_baseline=use_baseline), args.seeds, args.repeats)
        print(f"{name:<16}{r['compile_s']:>10.2f}{r['best_s']:>9.2f}{r['median_s']:>10.2f}"
              f"{r['steps']:>12,}{r['steps_per_s']:>12,.0f}{r['final_return']:>9.1f}")


if __name__ == "__main__":
    main()
