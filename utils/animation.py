"""Watch a CartPole policy: a JAX rollout without resets, drawn as a matplotlib animation.

    physics, alive = cartpole_episode(act, jax.random.key(0), n_steps=200)
    anim = animate_cartpole(physics)       # matplotlib.animation.FuncAnimation
    anim                                   # in a notebook: plays (utils sets animation.html=jshtml)

`cartpole_episode` runs one episode of the JAX CartPole (`utils.envs.cartpole`)
with `step_no_reset`, so the recorded states are one continuous episode.
`animate_cartpole` draws each state as a cart (rectangle), a pole (line) and
the track with plain matplotlib artists: no renderer or display is needed, so
it runs headlessly, and the small frames (360 x 144 pixels at the defaults)
keep an embedded (jshtml) animation of 200 steps under 2 MB. (For gymnasium's
own drawing of the same states, see `utils.envs.gym_bridge.render_cartpole`.)
"""
from __future__ import annotations

import functools
import io
import numbers
import re
from collections.abc import Callable
from html import escape

import jax
import jax.numpy as jnp
import matplotlib.animation
import matplotlib.patches
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import validate
from utils.envs import cartpole, pendulum
from utils.envs.cartpole import CartPoleParams
from utils.envs.pendulum import PendulumParams
from utils.plotting import plt

__all__ = ["CartPoleAnimation", "cartpole_episode", "animate_cartpole", "pendulum_episode", "animate_pendulum"]


class CartPoleAnimation(matplotlib.animation.FuncAnimation):
    """A `FuncAnimation` saved (and embedded as jshtml) at its figure's dpi.

    matplotlib otherwise saves every frame at `savefig.dpi` (150 in the book's
    style, for sharp static figures), which would make an embedded animation
    several times larger than it needs to be (about 4x at the default 72 dpi).
    """

    #: The frame shown as a still image (`animate_cartpole` sets the episode's last).
    still_frame = 0
    #: The player's alt text, for a reader who cannot see it (`animate_cartpole`'s `alt`).
    alt = ""

    def __init__(self, fig, func, *args, **kwargs):
        validate.check_instance("fig", fig, matplotlib.figure.Figure, "matplotlib Figure")
        validate.check_callable("func", func)
        super().__init__(fig, func, *args, **kwargs)

    def _repr_png_(self) -> bytes:
        """`still_frame` as a PNG, for what cannot play an animation (the book's PDF).
        A notebook and the web book show the jshtml player, which they prefer to a PNG."""
        self._func(self.still_frame)
        buffer = io.BytesIO()
        self._fig.savefig(buffer, format="png", dpi="figure")
        return buffer.getvalue()

    def save(self, filename, writer=None, fps=None, dpi=None, *args, **kwargs):
        return super().save(filename, writer, fps, "figure" if dpi is None else dpi, *args, **kwargs)

    def to_jshtml(self, fps=None, embed_frames=True, default_mode=None):
        """matplotlib's jshtml player, made self-contained: its controls use
        Font Awesome icons from a CDN, which an offline page (or the slides)
        cannot load, so they are drawn as Unicode symbols instead."""
        html = super().to_jshtml(fps, embed_frames, default_mode)
        html = re.sub(r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">', "", html)
        for icon, symbol in _PLAYER_SYMBOLS.items():
            html = html.replace(f'<i class="fa {icon}"></i>', symbol)
        if self.alt:
            html = html.replace('<img id="_anim_img', f'<img alt="{escape(self.alt)}" id="_anim_img', 1)
        return html


# Built from triangles and bars that common fonts have (DejaVu, Noto, Arial), rather
# than the media-control symbols of U+23E9..U+23FA, which many systems draw as boxes.
_PLAYER_SYMBOLS = {
    "fa-minus": "&minus;",
    "fa-plus": "+",
    "fa-fast-backward": "&#x2759;&#x25C0;&#x25C0;",
    "fa-step-backward": "&#x25C0;&#x2759;",
    "fa-play fa-flip-horizontal": "&#x25C0;",
    "fa-play": "&#x25B6;",
    "fa-pause": "&#x2759;&#x2759;",
    "fa-step-forward": "&#x2759;&#x25B6;",
    "fa-fast-forward": "&#x25B6;&#x25B6;&#x2759;",
}


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


@functools.partial(jax.jit, static_argnames=("act", "n_steps", "params", "env"))
def _episode(act, key, n_steps, params, env=cartpole):
    """`n_steps` of `env` (the `cartpole` or `pendulum` module) without resets under `act`."""
    state, obs = env.reset(key, params)

    def one_step(carry, _):
        state, obs, alive = carry
        ts = env.step_no_reset(state, act(obs), params)
        # After a termination, keep the last state: the episode is over.
        next_state = jax.tree_util.tree_map(lambda new, old: jnp.where(alive, new, old), ts.state, state)
        next_alive = alive & ~ts.terminated
        return (next_state, ts.obs, next_alive), (next_state.physics, next_alive)

    _, (physics, alive) = jax.lax.scan(one_step, (state, obs, jnp.ones((), bool)), None, length=n_steps)
    physics = jnp.concatenate([state.physics[None], physics])
    alive = jnp.concatenate([jnp.ones((1,), bool), alive])
    return physics, alive


def _checked_episode(act, key, n_steps, params, env, params_type, action: str):
    if not callable(act):
        raise TypeError(f"act must be a function obs -> {action}, got {type(act).__name__}")
    n_steps = _check_positive_int(n_steps, "n_steps")
    validate.check_key("key", key)
    if not isinstance(params, params_type):
        raise TypeError(f"params must be a {params_type.__name__}, got {type(params).__name__}")
    return _episode(act, key, n_steps, params, env)


def _check_figure_args(interval, figsize, dpi, title, alt) -> tuple[int, int]:
    interval = _check_positive_int(interval, "interval")
    dpi = _check_positive_int(dpi, "dpi")
    if title is not None:
        validate.check_instance("title", title, str)
    if alt is not None:
        validate.check_instance("alt", alt, str)
    if len(figsize) != 2 if hasattr(figsize, "__len__") else True:
        raise TypeError(f"`figsize` must be a pair (width, height) in inches, got {figsize!r}")
    for i, size in enumerate(figsize):
        validate.check_in_range(f"figsize[{i}]", size, 0.0, None, inclusive=(False, True))
    return interval, dpi


def _check_physics(physics, n: int) -> np.ndarray:
    physics = np.asarray(validate.as_float_array("physics", physics), dtype=np.float64)
    if physics.ndim != 2 or physics.shape[1] != n or physics.shape[0] < 1:
        raise ValueError(f"physics must have shape (T, {n}) with T >= 1, got {physics.shape}")
    if not np.all(np.isfinite(physics)):
        raise ValueError("physics must be finite")
    return physics


def cartpole_episode(
    act: Callable[[Float[Array, " 4"]], Int[Array, ""]],
    key: PRNGKeyArray,
    n_steps: int,
    params: CartPoleParams = CartPoleParams(),
) -> tuple[Float[Array, "T+1 4"], Bool[Array, " T+1"]]:
    """One CartPole episode of at most `n_steps` steps under `act(obs) -> action`.

    `act` is a JAX-traceable function of one observation (e.g. the greedy
    action `argmax` of a trained policy's logits); it is a static argument of
    the jitted rollout, so pass the same function object to avoid recompiling.
    Returns the physics rows `(x, x_dot, theta, theta_dot)` of the states
    `s_0, ..., s_T` (`T = n_steps`) and `alive[t]`: the pole is still up at
    `s_t`. After a termination the last state is repeated. The time limit
    `params.max_episode_steps` is not applied: choose `n_steps` yourself.
    """
    return _checked_episode(act, key, n_steps, params, cartpole, CartPoleParams, "action")


def animate_cartpole(
    physics: Float[Array, "T 4"],
    params: CartPoleParams = CartPoleParams(),
    *,
    interval: int = 40,
    figsize: tuple[float, float] = (5.0, 2.0),
    dpi: int = 72,
    title: str | None = None,
    alt: str | None = None,
) -> CartPoleAnimation:
    """A `FuncAnimation` (`CartPoleAnimation`, saved at `dpi`) with one frame
    per row of `physics` ("T 4", e.g. from `cartpole_episode`), `interval` milliseconds apart (CartPole's time step is
    `params.tau` = 20 ms, so the default 40 ms plays at half speed).

    The figure is closed after the animation is made, so a notebook shows the
    animation (as jshtml, the book's setting) and not an extra still image.
    Each frame's title gives the time step and the pole angle in degrees; `alt` is
    the player's alt text (what a reader who cannot see it is told it shows).
    """
    physics = _check_physics(physics, 4)
    if not isinstance(params, CartPoleParams):
        raise TypeError(f"params must be a CartPoleParams, got {type(params).__name__}")
    interval, dpi = _check_figure_args(interval, figsize, dpi, title, alt)

    pole_length = 2 * params.length  # `length` is half the pole, as in gymnasium
    cart_w, cart_h = 0.5, 0.3
    limit = params.x_threshold + cart_w

    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-0.3, pole_length + cart_h + 0.1)
    ax.set_aspect("equal")
    ax.grid(False)
    ax.set_yticks([])
    ax.set_xlabel("cart position $x$")
    for side in (-params.x_threshold, params.x_threshold):
        ax.axvline(side, color="0.6", linestyle=":", linewidth=1)  # the cart must stay between these
    ax.axhline(0.0, color="0.3", linewidth=1)
    cart = matplotlib.patches.Rectangle((0, 0), cart_w, cart_h, color="C0")
    ax.add_patch(cart)
    (pole,) = ax.plot([], [], color="C1", linewidth=4, solid_capstyle="round")
    label = ax.set_title(title or "")

    def draw(t):
        x, _, theta, _ = physics[t]
        cart.set_xy((x - cart_w / 2, 0.0))
        top = cart_h
        pole.set_data([x, x + pole_length * np.sin(theta)], [top, top + pole_length * np.cos(theta)])
        prefix = f"{title}: " if title else ""
        label.set_text(f"{prefix}step {t}, pole angle {np.degrees(theta):+.1f}°")
        return cart, pole, label

    anim = CartPoleAnimation(fig, draw, frames=physics.shape[0], interval=interval, blit=False)
    anim.still_frame = physics.shape[0] - 1  # the state the episode ends in
    anim.alt = alt or ""
    plt.close(fig)
    return anim


def pendulum_episode(
    act: Callable[[Float[Array, " 3"]], Float[Array, " 1"]],
    key: PRNGKeyArray,
    n_steps: int,
    params: PendulumParams = PendulumParams(),
) -> Float[Array, "T+1 2"]:
    """One Pendulum episode of `n_steps` steps under `act(obs) -> torque` ("1"; the environment
    clips it to ±`params.max_torque`). Returns the physics rows `(θ, θ̇)` of `s_0, ..., s_T`
    (θ = 0 upright). Pendulum never terminates; `n_steps` replaces its 200-step time limit."""
    return _checked_episode(act, key, n_steps, params, pendulum, PendulumParams, "torque")[0]


def animate_pendulum(
    physics: Float[Array, "T 2"],
    *,
    interval: int = 50,
    figsize: tuple[float, float] = (3.2, 3.2),
    dpi: int = 72,
    title: str | None = None,
    alt: str | None = None,
) -> CartPoleAnimation:
    """A `FuncAnimation` (saved at `dpi`) with one frame per row of `physics` ("T 2", from
    `pendulum_episode`), `interval` ms apart (Pendulum's time step is 50 ms: real time). The
    rod is drawn from the pivot at angle θ from upright; each frame's title gives the step and
    the angle in degrees. As `animate_cartpole`, the figure is closed and `alt` is the alt text."""
    physics = _check_physics(physics, 2)
    interval, dpi = _check_figure_args(interval, figsize, dpi, title, alt)
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.grid(False)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.plot([0.0], [1.0], marker="x", color="0.6")  # the goal: upright
    (rod,) = ax.plot([], [], color="C1", linewidth=5, solid_capstyle="round")
    ax.plot([0.0], [0.0], marker="o", color="0.3")  # the pivot
    label = ax.set_title(title or "")

    def draw(t):
        theta = physics[t, 0]
        rod.set_data([0.0, np.sin(theta)], [0.0, np.cos(theta)])
        prefix = f"{title}: " if title else ""
        angle = np.degrees((theta + np.pi) % (2 * np.pi) - np.pi)
        label.set_text(f"{prefix}step {t}, {angle:+.0f}°")
        return rod, label

    anim = CartPoleAnimation(fig, draw, frames=physics.shape[0], interval=interval, blit=False)
    anim.still_frame = physics.shape[0] - 1
    anim.alt = alt or ""
    plt.close(fig)
    return anim
