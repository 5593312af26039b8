"""Shims over the JAX versions the package supports (jax >= 0.4.30, as declared).

Colab preinstalls a jax whose accelerator build an upgrade can break, so the
package works with older releases instead of requiring the newest.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax


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
