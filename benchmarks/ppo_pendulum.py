"""PPO (clipped surrogate) on the JAX Pendulum-v1: seconds from launch to a mean return >= -200.

The benchmark of `benchmarks/ppo_cartpole.py` (read its docstring for what each
column means: fresh processes per seed, cold with an empty compilation cache,
then warm, imports / trace and lower / compile / training timed from process
start), run with `utils.ppo.PENDULUM_CONFIG` (a diagonal Gaussian policy over
the torque, evaluated every 5 iterations with its mean action over 32 fresh
episodes). Target: a mean return of at least -200, cold, in under 10 s from
launch on the 2-core machine (median over seeds 0-2); the training env-steps/s
are printed beside it.

    python benchmarks/ppo_pendulum.py               # seeds 0-2, cold then warm
    python benchmarks/ppo_pendulum.py --seeds 0     # one seed
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ppo_cartpole  # noqa: E402

if __name__ == "__main__":
    ppo_cartpole.main(ppo_cartpole.PENDULUM, __doc__)
