"""The language-model section's runs: seconds per phase, compile included, and peak memory.

Runs, in one process and in order, what the section runs: the corpus (`make_dataset`), the
supervised fit (`make_supervised`, 2000 Adam steps), then REINFORCE, RLOO and GRPO fine-tuning
(`SECTION_CONFIGS`, 200 updates each, `--seeds` seeds vmapped) as one compiled program
(`train_methods`). Each phase's time is wall-clock from the end of the previous one, so the
first fine-tuning method carries the shared program's trace and compile; the CPU seconds of
the process are printed beside it (on a loaded machine they inflate far less than wall time).
Then the held-out accuracy of the supervised model and of each method's seeds, the KL to the
supervised model, and the process's peak resident memory (`resource.getrusage`).

By default nothing is read from JAX's persistent compilation cache (the variable
JAX_COMPILATION_CACHE_DIR is ignored), so every program is compiled: the cold cost, as in a
first book build. `--cache DIR` uses DIR as the cache (run twice for the warm figures);
`--separate` compiles each method's run on its own (`train_seeds`), as three programs.
The XLA flags are the book's (`utils.cache.BOOK_XLA_FLAGS`) unless XLA_FLAGS is set.

    python benchmarks/lm.py                      # cold, 2 seeds
    python benchmarks/lm.py --separate           # one program per method
    python benchmarks/lm.py --cache .cache/benchmarks/lm   # twice: cold, then warm

Targets: the whole section in about 40 s on the 2-core machine (90 s at most), under 2 GB.
Figures only; nothing here is a test (tests/test_lm_train.py asserts the accuracies and KLs).
"""
import time

START = time.perf_counter()  # before any import: "process start" for the timings below
START_CPU = time.process_time()

import argparse  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="fine-tuning seeds per method (default 2)")
    parser.add_argument("--cache", type=Path, default=None, help="persistent compilation cache folder (default: none)")
    parser.add_argument("--separate", action="store_true", help="compile each method's run on its own")
    args = parser.parse_args()
    os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
    sys.path.insert(0, str(ROOT))
    from utils.cache import BOOK_XLA_FLAGS, enable_compilation_cache

    os.environ.setdefault("XLA_FLAGS", BOOK_XLA_FLAGS)
    import jax
    import numpy as np

    from utils.lm import task, train

    if args.cache is not None:
        enable_compilation_cache(args.cache)
    rows = []
    last = [START, START_CPU]

    def phase(name: str) -> None:
        now = [time.perf_counter(), time.process_time()]
        rows.append((name, now[0] - last[0], now[1] - last[1]))
        last[:] = now

    phase("imports")
    data = task.make_dataset(jax.random.key(0))
    jax.block_until_ready(data)
    phase("corpus")
    supervised = jax.jit(train.make_supervised(train.SupervisedConfig(), data))(jax.random.key(1))
    before = jax.jit(train.evaluate)(supervised.params, supervised.params, data, jax.random.key(3))
    jax.block_until_ready(before)
    phase("supervised fit (and its evaluation)")
    configs = list(train.SECTION_CONFIGS)
    if args.separate:
        outs = []
        for config in configs:
            outs.append(jax.block_until_ready(train.train_seeds(jax.random.key(2), args.seeds, config,
                                                                supervised.params, data)))
            phase(f"{config.method} (its own program)")
    else:
        outs = train.train_methods(jax.random.key(2), args.seeds, configs, supervised.params, data)
        for config, out in zip(configs, outs):
            jax.block_until_ready(out)
            phase(config.method + (" (shared program's compile included)" if config is configs[0] else ""))
    total, total_cpu = time.perf_counter() - START, time.process_time() - START_CPU
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} cores, XLA_FLAGS={os.environ['XLA_FLAGS']!r}, "
          f"compilation cache: {args.cache or 'none (cold)'}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'phase':<45}{'wall s':>8}{'CPU s':>8}")
    for name, wall, cpu in rows:
        print(f"{name:<45}{wall:>8.2f}{cpu:>8.2f}")
    print(f"{'total from process start':<45}{total:>8.2f}{total_cpu:>8.2f}")
    print(f"peak resident memory: {peak_mb:.0f} MB")
    print(f"\nheld-out accuracy (expected exact match of a sampled answer; greedy in brackets), "
          f"KL(π_θ ‖ π_ref) in nats (k1 / k3, final; max over evaluations):")
    print(f"  supervised           {float(before.accuracy):.3f} ({float(before.greedy_accuracy):.3f})")
    for config, out in zip(configs, outs):
        acc, greedy = np.asarray(out.evals.accuracy)[:, -1], np.asarray(out.evals.greedy_accuracy)[:, -1]
        k1, k3 = np.asarray(out.evals.kl_k1), np.asarray(out.evals.kl_k3)
        seeds = ", ".join(f"{a:.3f} ({g:.3f})" for a, g in zip(acc, greedy))
        print(f"  {config.method:<10} seeds: {seeds};  KL {', '.join(f'{a:.2f}/{b:.2f}' for a, b in zip(k1[:, -1], k3[:, -1]))}"
              f"; max {k1.max():.2f}/{k3.max():.2f}")


if __name__ == "__main__":
    main()
