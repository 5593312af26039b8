"""The library behind the executable chapter on policy gradient methods.

Every chapter starts with::

    from utils import plt, Array, Float, Callable, jax, jnp, latex, gym

Importing this package only imports: it trains nothing, downloads nothing and
writes no files (under jax < 0.5 it switches on the random-number
implementation that newer jax uses by default:
`utils.compat.use_partitionable_threefry`). `plt` (pyplot with the book's
style) and `gym` are loaded on first use, so that a script importing only an
algorithm module (`import utils.ppo`) does not pay for matplotlib. The
algorithms live in submodules (`utils.optim`, `utils.envs`, `utils.policies`,
...), imported where they are used.
"""
from collections.abc import Callable
from importlib import import_module

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from utils.compat import use_partitionable_threefry

use_partitionable_threefry()  # jax < 0.5: the same draws from the same keys as newer jax

# Eager, and bound after the submodule import: `utils.latex` must stay the
# function even when a chapter also imports `utils.latex.register_names`.
from utils.latex import latex

__all__ = ["plt", "Array", "Float", "Callable", "jax", "jnp", "latex", "gym"]

_LAZY = {"plt": ("utils.plotting", "plt"), "gym": ("gymnasium", None)}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'utils' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
