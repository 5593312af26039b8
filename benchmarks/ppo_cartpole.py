"""PPO (clipped surrogate) on the JAX CartPole-v1: seconds from launch to a solved policy.

Each seed (0, 1, 2 by default) runs in a fresh Python process, twice:

- cold: with an empty persistent compilation cache (`utils.cache`), so the
  process pays its imports and the whole XLA compile (and writes the cache);
- warm: a second process with the cache the cold run filled, as a reader's
  second run: JAX still traces and lowers the programs, then reads the compiled
  programs from disk instead of compiling them.

For each run it prints, in seconds from process start (the first line of this
file, before any import): when the imports were done, when the training
program was traced and lowered, when it was compiled (or read from the cache),
and when the first evaluation with mean return >= 475 finished (greedy policy,
32 fresh episodes every `eval_every` updates; see `run_seed`); then the same from launch (the parent's clock, so the
interpreter's start-up is included), the training time alone, and the training
throughput in env-steps/s (the same run without evaluations, compiled
separately and timed after the measurement, median of three runs). The start
program compiles in a second thread while the training chunk is traced and
compiled, so "compiled" is when both are ready. The summary gives the medians
over seeds and the targets:

- cold, launch to return >= 475: at most 3.5 s (median, quiet 2-core machine);
- warm (cache filled): at most 2 s;
- training throughput: at least 375,000 env-steps/s.

    python benchmarks/ppo_cartpole.py                 # seeds 0-2, cold then warm
    python benchmarks/ppo_cartpole.py --seeds 0       # one seed
    python benchmarks/ppo_cartpole.py --xla-flags ""  # XLA's default flags (the default is -O1 LLVM)

The caches are folders under `.cache/benchmarks/ppo_cartpole/` (one per seed,
emptied before each cold run). The machine may be shared: the script prints
the load average before and after, and each process's CPU time at the same
points, which load inflates far less than wall-clock time. Figures only;
nothing here is a test.
"""
import time

START = time.perf_counter()  # before any import: "process start" for the timings below
START_WALL = time.time()
START_CPU = time.process_time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from typing import NamedTuple  # noqa: E402

from utils.ppo import PENDULUM_CONFIG  # noqa: E402  (after START: the children count it in their imports)

ROOT = Path(__file__).resolve().parents[1]
# Measured on the 2-core machine: LLVM at -O1 instead of XLA's default cuts compile time by
# about a quarter and runs these small kernels no slower; single-threaded Eigen avoids thread
# hand-offs on tiny matmuls. `--xla-flags ""` runs with XLA's defaults.
DEFAULT_XLA_FLAGS = (
    "--xla_backend_optimization_level=1 --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
SEEDS = (0, 1, 2)


class Benchmark(NamedTuple):
    """One launch-to-target benchmark: PPO with `config` (PPOConfig fields) on `env_id`, timed
    to the first evaluation with mean return >= `target`, against `targets` (seconds, env-steps/s)."""

    name: str
    env_id: str
    config: dict
    target: float
    targets: dict


CARTPOLE = Benchmark(
    name="ppo_cartpole",
    env_id="CartPole-v1",
    config=dict(
        loss="clip",
        hidden=(32, 32),
        num_envs=32,
        num_steps=16,
        update_epochs=4,
        num_minibatches=2,
        total_timesteps=262_144,
        eval_every=8,
        eval_episodes=32,
    ),
    target=475.0,
    targets=dict(cold_s=3.5, warm_s=2.0, steps_per_s=375_000),
)
# `utils.ppo.PENDULUM_CONFIG`, evaluated every 5 iterations (20 480 steps): Pendulum-v1's
# continuous torque with a diagonal Gaussian policy (benchmarks/ppo_pendulum.py).
PENDULUM = Benchmark(
    name="ppo_pendulum",
    env_id="Pendulum-v1",
    config=PENDULUM_CONFIG._replace(eval_every=5)._asdict(),
    target=-200.0,
    targets=dict(cold_s=10.0),
)
BENCHMARKS = {b.name: b for b in (CARTPOLE, PENDULUM)}


def since_start() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) since the process started."""
    return time.perf_counter() - START, time.process_time() - START_CPU


def run_seed(bench: Benchmark, seed: int, cache_dir: str, launched_at: float) -> dict:
    """Train one seed in this process; the timings of its phases.

    The run is `make_train`'s, cut at its evaluations: one jitted program starts it
    (`ppo.init`), another runs `eval_every` updates and the evaluation, called once per
    evaluation from here, so that the host reads the clock when each evaluation's
    result is ready. (A host callback inside one jitted run would time it as well,
    but JAX does not cache programs with host callbacks.)"""
    import jax
    import numpy as np

    from utils.cache import enable_compilation_cache
    from utils.envs import make
    from utils.ppo import PPOConfig, make_ppo, make_train

    imports = since_start()
    enable_compilation_cache(cache_dir)
    config = PPOConfig(**bench.config)
    env = make(bench.env_id)
    ppo = make_ppo(config, env)
    n_chunks = config.num_updates // config.eval_every

    def start(key):
        init_key, eval_key = jax.random.split(key)
        return ppo.init(init_key), jax.random.split(eval_key, n_chunks)

    def chunk(state, eval_key):
        state, _ = jax.lax.scan(lambda s, _: ppo.update(s), state, None, length=config.eval_every)
        return state, ppo.evaluate(state.params, eval_key)

    key = jax.random.key(seed)
    start_lowered = jax.jit(start).lower(key)
    # XLA compiles without holding the GIL: the small start program compiles on the second
    # core while Python traces the training chunk and XLA compiles that.
    with ThreadPoolExecutor(max_workers=1) as pool:
        start_compiling = pool.submit(start_lowered.compile)
        state_shape, keys_shape = jax.eval_shape(start, key)
        one_key = jax.ShapeDtypeStruct(keys_shape.shape[1:], keys_shape.dtype)
        chunk_lowered = jax.jit(chunk).lower(state_shape, one_key)
        lowered_at = since_start()
        chunk_compiled = chunk_lowered.compile()
        start_compiled = start_compiling.result()
    compiled_at = since_start()
    t = time.perf_counter()
    state, eval_keys = start_compiled(key)
    stamps = []  # (wall since start, CPU, update, return) at each evaluation
    for j in range(n_chunks):
        state, eval_return = chunk_compiled(state, eval_keys[j])
        stamps.append((*since_start(), (j + 1) * config.eval_every, float(eval_return)))
    run_s = time.perf_counter() - t

    # Training throughput without evaluations: the whole run, `make_train` with eval_every=0.
    # The median of three runs: one run of under a second scatters by about 5%.
    plain = jax.jit(make_train(config._replace(eval_every=0), env)).lower(key).compile()
    plain_times = []
    for _ in range(3):
        t = time.perf_counter()
        jax.block_until_ready(plain(key))
        plain_times.append(time.perf_counter() - t)
    plain_s = statistics.median(plain_times)

    hit = next((s for s in stamps if s[3] >= bench.target), None)
    steps = config.num_updates * config.batch_size
    launch_offset = START_WALL - launched_at  # the interpreter's start-up, before START
    return dict(
        seed=seed,
        import_s=imports[0],
        lowered_s=lowered_at[0],
        compiled_s=compiled_at[0],
        target_s=None if hit is None else hit[0],
        target_from_launch_s=None if hit is None else hit[0] + launch_offset,
        training_s=None if hit is None else hit[0] - compiled_at[0],
        target_env_steps=None if hit is None else hit[2] * config.batch_size,
        import_cpu_s=imports[1],
        compile_cpu_s=compiled_at[1] - lowered_at[1],
        target_cpu_s=None if hit is None else hit[1],
        steps_per_s=steps / plain_s,
        run_steps_per_s=steps / run_s,
        final_return=stamps[-1][3],
        cache_files=sum(1 for _ in Path(cache_dir).iterdir()),
    )


def launch(bench: Benchmark, seed: int, cache_dir: Path, xla_flags: str) -> dict:
    env = dict(os.environ, XLA_FLAGS=xla_flags)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # the child enables its own folder
    launched_at = time.time()
    cmd = [sys.executable, __file__, "--child", bench.name, str(seed), str(cache_dir), repr(launched_at)]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if proc.returncode:
        raise RuntimeError(f"benchmark child process (seed {seed}) failed with exit code {proc.returncode}")
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


def fmt(x, spec=".2f", width=6):
    return format("n/a", f">{width}") if x is None else format(x, f">{width}{spec}")


def table(bench: Benchmark, kind: str, results: list[dict]) -> None:
    print(f"\n{kind}: seconds from process start (CPU-s of the process in brackets)")
    hit = f">={bench.target:g}"
    print(f"seed  imports  lowered  compiled  {hit:>6}  from launch  training  env-steps  train env-steps/s  "
          f"final  cache files | CPU-s: imports  compile  {hit}")
    for r in results:
        print(
            f"{r['seed']:>4}  {fmt(r['import_s'], width=7)}  {fmt(r['lowered_s'], width=7)}  "
            f"{fmt(r['compiled_s'], width=8)}  {fmt(r['target_s'])}  {fmt(r['target_from_launch_s'], width=11)}  "
            f"{fmt(r['training_s'], width=8)}  {fmt(r['target_env_steps'], 'd', 9)}  {r['steps_per_s']:>17,.0f}  "
            f"{r['final_return']:5.0f}  {r['cache_files']:>11} | "
            f"{fmt(r['import_cpu_s'], width=14)}  {fmt(r['compile_cpu_s'], width=7)}  {fmt(r['target_cpu_s'], width=5)}"
        )


def median(results: list[dict], field: str):
    values = [r[field] for r in results]
    return None if any(v is None for v in values) else statistics.median(values)


def main(bench: Benchmark = CARTPOLE, description: str = __doc__) -> None:
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument(
        "--xla-flags", default=DEFAULT_XLA_FLAGS, help=f"XLA_FLAGS for the child processes (default {DEFAULT_XLA_FLAGS!r})"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, seed, cache_dir, launched_at = args.child
        print("RESULT " + json.dumps(run_seed(BENCHMARKS[name], int(seed), cache_dir, float(launched_at))), flush=True)
        return

    load_before = os.getloadavg()
    cold, warm = [], []
    for seed in args.seeds:
        cache_dir = ROOT / ".cache" / "benchmarks" / bench.name / f"seed-{seed}"
        shutil.rmtree(cache_dir, ignore_errors=True)
        cold.append(launch(bench, seed, cache_dir, args.xla_flags))
        warm.append(launch(bench, seed, cache_dir, args.xla_flags))
    load_after = os.getloadavg()

    print(f"PPO-{bench.config.get('loss', 'clip')} on JAX {bench.env_id}, XLA_FLAGS={args.xla_flags!r}")
    print(f"config: {bench.config}")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}; cores: {os.cpu_count()}")
    table(bench, "cold (empty compilation cache)", cold)
    table(bench, "warm (the cache the cold run of the same seed filled)", warm)
    hit = f"'>={bench.target:g}'"
    print(
        "\n'lowered': traced and lowered to XLA; 'compiled': XLA compile done (warm: read from the cache);\n"
        f"{hit}: the evaluation that first reached a mean return >= {bench.target:g} finished; "
        f"'training': {hit} - 'compiled'."
    )
    print(f"\nmedians over seeds {args.seeds}:")
    targets = bench.targets
    for kind, results, target in (("cold", cold, targets.get("cold_s")), ("warm", warm, targets.get("warm_s"))):
        parts = {f: median(results, f) for f in ("import_s", "lowered_s", "compiled_s", "training_s",
                                                   "target_from_launch_s")}
        if parts["target_from_launch_s"] is None:
            print(f"  {kind}: some seeds never reached a mean return >= {bench.target:g}")
            continue
        print(
            f"  {kind}: launch to return >= {bench.target:g} {parts['target_from_launch_s']:.2f} s"
            + (f" (target <= {target:g} s); " if target is not None else "; ") +
            f"imports {parts['import_s']:.2f}, trace+lower {parts['lowered_s'] - parts['import_s']:.2f}, "
            f"compile {parts['compiled_s'] - parts['lowered_s']:.2f}, training {parts['training_s']:.2f}"
        )
    print(
        f"  training env-steps/s (cold runs): {median(cold, 'steps_per_s'):,.0f} "
        + (f"(target >= {targets['steps_per_s']:,})" if "steps_per_s" in targets else "")
    )
    ended = all(r["final_return"] >= bench.target for r in cold + warm)
    print(f"  every run ending at a mean return >= {bench.target:g}: {ended}")


if __name__ == "__main__":
    main()
