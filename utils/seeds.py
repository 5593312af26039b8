"""Many independent seeds of one training run at once, sharded over JAX's devices.

`train_seeds(train, key, n_seeds)` splits `key` into one key per seed and runs
`jax.jit(jax.vmap(train))` on them, with the seed axis laid out over the
devices (`jax.sharding`, a one-axis mesh named "seeds"): on a machine with
several GPUs (or a CPU run with
`XLA_FLAGS=--xla_force_host_platform_device_count=4`) each device trains its
share of the seeds; with one device it is the plain vmapped run. Every output
has a leading axis "n_seeds", sharded the same way.

The seeds never interact, so the layout changes where a seed is computed, not
what it computes.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PRNGKeyArray

from utils import validate

__all__ = ["seed_sharding", "train_seeds"]


def seed_sharding(n_seeds: int) -> NamedSharding:
    """The layout of "n_seeds"-leading arrays over the most devices that divide `n_seeds`
    evenly (all of them when the device count divides it; one device at the least)."""
    n_seeds = validate.check_int("n_seeds", n_seeds, 1)
    devices = jax.devices()
    n_devices = max(d for d in range(1, len(devices) + 1) if n_seeds % d == 0)
    mesh = Mesh(np.array(devices[:n_devices]), ("seeds",))
    return NamedSharding(mesh, PartitionSpec("seeds"))


def train_seeds(train: Callable[[PRNGKeyArray], Any], key: PRNGKeyArray, n_seeds: int) -> Any:
    """`jax.jit(jax.vmap(train))` on `jax.random.split(key, n_seeds)`, the seeds sharded over
    the devices (`seed_sharding`). `train(key)` is one whole training run."""
    validate.check_callable("train", train)
    validate.check_key("key", key)
    sharding = seed_sharding(n_seeds)
    keys = jax.device_put(jax.random.split(key, n_seeds), sharding)
    return jax.jit(jax.vmap(train))(keys)
