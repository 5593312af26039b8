"""Shims over the JAX versions the package supports (jax >= 0.4.30, as declared).

Colab preinstalls a jax whose accelerator build an upgrade can break, so the
package works with older releases instead of requiring the newest.

Importing `utils` makes jax < 0.5 draw the random numbers that jax >= 0.5 draws
from the same key (`use_partitionable_threefry`), so that the chapters' fixed
keys give the same draws, and the same figures, under every supported jax.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax

PARTITIONABLE_THREEFRY_DEFAULT = (0, 5, 0)  # the first jax whose jax_threefry_partitionable defaults to True


def jax_version() -> tuple[int, ...]:
    """The installed jax's version as integers, e.g. (0, 4, 30)."""
    return tuple(int(part) for part in jax.__version__.split(".")[:3] if part.isdigit())


def use_partitionable_threefry() -> bool:
    """Under jax < 0.5, switch on `jax_threefry_partitionable`, the default from 0.5 on:
    with it off, `jax.random` derives other bits from the same key (for example
    `jax.random.normal(jax.random.key(0), (3,))`), so that every fixed key of the
    chapters would draw other samples, initial parameters and training runs. Newer
    jax is left as it is (a user's own setting included). Returns whether it switched."""
    if jax_version() >= PARTITIONABLE_THREEFRY_DEFAULT or jax.config.jax_threefry_partitionable:
        return False
    jax.config.update("jax_threefry_partitionable", True)
    return True


@contextlib.contextmanager
def enable_x64(new_val: bool = True) -> Iterator[None]:
    """Compute in 64-bit floats (and ints) inside the block, as `jax.enable_x64`.

    `jax.enable_x64` is top-level from jax 0.8.0; before, it is
    `jax.experimental.enable_x64`, deprecated since.
    """
    if not isinstance(new_val, bool):
        raise TypeError(f"enable_x64: new_val must be a bool, got {new_val!r}")
    manager = getattr(jax, "enable_x64", None)
    if manager is None:
        from jax.experimental import enable_x64 as manager
    with manager(new_val):
        yield
