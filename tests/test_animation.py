"""utils.animation: the CartPole rollout without resets and its matplotlib animation."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import matplotlib.animation
import numpy as np
import pytest

from utils.animation import CartPoleAnimation, animate_cartpole, cartpole_episode
from utils.envs import cartpole
from utils.envs.cartpole import CartPoleParams


def balance(obs):
    """Push towards the side the pole falls to: balances CartPole for hundreds of steps."""
    return (obs[2] + 0.5 * obs[3] > 0).astype(jnp.int32)


def always_left(obs):
    return jnp.zeros((), jnp.int32)


def test_episode_matches_step_no_reset():
    key = jax.random.key(3)
    physics, alive = cartpole_episode(balance, key, 50)
    assert physics.shape == (51, 4) and alive.shape == (51,)
    state, obs = cartpole.reset(key)
    np.testing.assert_allclose(physics[0], state.physics)
    for t in range(50):
        ts = cartpole.step_no_reset(state, balance(obs))
        state, obs = ts.state, ts.obs
        np.testing.assert_allclose(physics[t + 1], state.physics, atol=1e-4)  # jit vs op-by-op rounding
    assert bool(alive.all())


def test_balancing_controller_survives_and_bad_one_falls():
    _, alive = cartpole_episode(balance, jax.random.key(0), 300)
    assert bool(alive.all())
    physics, alive = cartpole_episode(always_left, jax.random.key(0), 100)
    assert not bool(alive[-1])
    fell = int(jnp.argmin(alive))  # first state where the pole is down
    assert 5 < fell < 100
    # After the fall the state is frozen, and the fallen state is beyond the limits.
    np.testing.assert_allclose(physics[fell:], jnp.broadcast_to(physics[fell], physics[fell:].shape))
    assert bool(cartpole.is_terminated(physics[fell], CartPoleParams()))


def test_animation_frames_and_size():
    physics, _ = cartpole_episode(balance, jax.random.key(1), 20)
    anim = animate_cartpole(physics, title="test", dpi=40)
    assert isinstance(anim, CartPoleAnimation)
    assert isinstance(anim, matplotlib.animation.FuncAnimation)
    html = anim.to_jshtml()
    assert html.count("frames[") >= 21  # one embedded image per state
    # Saved at the figure's dpi (5 x 2 in at 40 dpi), not the style's savefig.dpi=150.
    assert len(html) < 21 * 8_000
    # Self-contained: the player's controls load nothing from another host.
    assert "https://" not in html and "font-awesome" not in html and 'class="fa ' not in html
    assert "&#x25B6;" in html  # the play button
    assert "&#x23" not in html  # no media-control symbols, which many fonts lack
    assert "alt=" not in html  # no alt text unless one is given
    described = animate_cartpole(physics, dpi=40, alt='A "cart" & pole').to_jshtml()
    assert described.count('<img alt="A &quot;cart&quot; &amp; pole" id="_anim_img') == 1
    # Each frame draws the state: the pole's top moves with theta.
    anim._func(0)
    x, _, theta, _ = np.asarray(physics[0], dtype=float)
    pole = anim._fig.axes[0].lines[-1]
    xs, ys = pole.get_data()
    np.testing.assert_allclose(xs[1] - xs[0], 2 * 0.5 * np.sin(theta), atol=1e-9)
    np.testing.assert_allclose(xs[0], x, atol=1e-9)


def test_still_frame_for_the_pdf():
    """A PNG of the last state for the PDF; notebooks and the web book keep the player."""
    from IPython.core.interactiveshell import InteractiveShell

    physics, _ = cartpole_episode(balance, jax.random.key(1), 20)
    anim = animate_cartpole(physics, title="test", dpi=40)
    bundle, _ = InteractiveShell.instance().display_formatter.format(anim)
    assert {"text/html", "image/png"} <= set(bundle)
    anim._func(0)
    png = anim._repr_png_()
    assert png == bundle["image/png"] and png.startswith(b"\x89PNG")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert 150 < width <= 200 and 50 < height <= 80  # at the figure's dpi (5 x 2 in at 40), cropped to the drawing
    # It shows the last state, whichever frame was drawn before.
    x, _, theta, _ = np.asarray(physics[-1], dtype=float)
    xs, _ = anim._fig.axes[0].lines[-1].get_data()
    np.testing.assert_allclose([xs[0], xs[1] - xs[0]], [x, np.sin(theta)], atol=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="physics"):
        animate_cartpole(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="physics"):
        animate_cartpole(np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="interval"):
        animate_cartpole(np.zeros((3, 4)), interval=0)
    with pytest.raises(TypeError, match="params"):
        animate_cartpole(np.zeros((3, 4)), params=None)
    with pytest.raises(TypeError, match="alt"):
        animate_cartpole(np.zeros((3, 4)), alt=3)
    with pytest.raises(ValueError, match="n_steps"):
        cartpole_episode(balance, jax.random.key(0), 0)
    with pytest.raises(TypeError, match="act"):
        cartpole_episode(None, jax.random.key(0), 5)


def test_pendulum_episode_matches_step_no_reset_and_animates():
    from utils.animation import animate_pendulum, pendulum_episode
    from utils.envs import pendulum

    def push(obs):  # torque along the angular velocity: adds energy (clipped at ±2 by the environment)
        return 3.0 * obs[2:3]

    key = jax.random.key(5)
    physics = pendulum_episode(push, key, 40)
    assert physics.shape == (41, 2)
    state, obs = pendulum.reset(key)
    np.testing.assert_allclose(physics[0], state.physics)
    for t in range(40):
        ts = pendulum.step_no_reset(state, push(obs))
        state, obs = ts.state, ts.obs
        np.testing.assert_allclose(physics[t + 1], state.physics, atol=1e-4)
    anim = animate_pendulum(physics, title="test", dpi=40)
    assert isinstance(anim, CartPoleAnimation) and anim.still_frame == 40
    assert anim.to_jshtml().count("frames[") >= 41
    with pytest.raises(ValueError, match="physics"):
        animate_pendulum(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="params"):
        pendulum_episode(push, key, 10, params=CartPoleParams())
