"""The library behind the executable chapter on policy gradient methods.

Every chapter starts with::

    from utils import plt, Array, Float, Callable, jax, jnp, latex, gym

Importing this package only imports: it trains nothing, downloads nothing and
writes no files. The algorithms live in submodules (`utils.optim`,
`utils.envs`, `utils.policies`, ...), imported where they are used.
"""
from collections.abc import Callable

import gymnasium as gym
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from utils.latex import latex
from utils.plotting import plt

__all__ = ["plt", "Array", "Float", "Callable", "jax", "jnp", "latex", "gym"]
