"""What every JAX environment of `utils.envs` shares: the `TimeStep` that `step`
returns, and the auto-reset that starts a new episode inside `step`."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from utils import validate


class TimeStep(NamedTuple):
    """What `step` returns.

    `state`/`obs` are those the agent acts on next: after an episode ends they
    are already the first state and observation of the new episode.
    `final_obs` is the observation the action led to, before any reset (a value
    baseline bootstraps from it at a truncation).
    """

    state: Any
    obs: Float[Array, " obs_dim"]
    reward: Float[Array, ""]
    terminated: Bool[Array, ""]
    truncated: Bool[Array, ""]
    final_obs: Float[Array, " obs_dim"]


def auto_reset(ts: TimeStep, reset_state: Any, reset_obs: Float[Array, " obs_dim"]) -> TimeStep:
    """`ts` with `state`/`obs` replaced by the fresh episode's where the episode ended
    (`terminated | truncated`); `final_obs` keeps the observation the action led to.

    Both the continued and the reset state are computed and one is selected, which is
    what `vmap` does with a `lax.cond` anyway."""
    validate.check_instance("ts", ts, TimeStep, "utils.envs.core.TimeStep (from step_no_reset)")
    if jax.tree_util.tree_structure(reset_state) != jax.tree_util.tree_structure(ts.state):
        raise TypeError(f"`reset_state` must have the structure of `ts.state` (a fresh state from reset), "
                        f"got {type(reset_state).__name__}")
    reset_obs = validate.as_float_array("reset_obs", reset_obs)
    if jnp.shape(reset_obs) != jnp.shape(ts.obs):
        raise ValueError(f"`reset_obs` must have the shape of `ts.obs` {tuple(jnp.shape(ts.obs))}, "
                         f"got {tuple(jnp.shape(reset_obs))}")
    done = ts.terminated | ts.truncated
    state = jax.tree_util.tree_map(lambda r, s: jnp.where(done, r, s), reset_state, ts.state)
    return ts._replace(state=state, obs=jnp.where(done, reset_obs, ts.obs))
