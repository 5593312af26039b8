"""REINFORCE on CartPole, with and without a learned value baseline: one jitted training run.

PureJaxRL shape: `make_train(config)` returns `train(key)`, a pure function
that runs the whole training loop (`lax.scan` over updates, each a
`lax.scan` over time of `vmap` over environments) and is `jit`-ed; `vmap` it
over keys for several seeds::

    train = make_train(ReinforceConfig(use_baseline=True))
    out = jax.jit(jax.vmap(train))(jax.random.split(key, n_seeds))
    out.metrics.episode_return        # "seeds n_updates"

One update: collect `n_steps` steps in each of `n_envs` auto-resetting
environments with the current policy; compute the discounted reward-to-go
`G_t` inside each episode; take one Adam step along

    ∇̂J = (1/|B|) Σ_{t ∈ B} ∇_θ log π_θ(a_t|s_t) (G_t − b(s_t))

(eq-reward-to-go without a baseline, eq-baseline with `b = V̂`), written as
the gradient of the surrogate `mean(log π_θ(a_t|s_t) · Â_t)` with `Â_t` held
fixed, which is the same vector.

The end of a rollout cuts episodes. With a value baseline the cut return is
bootstrapped, `G_t = Σ r + γ^k V̂(s_cut)` (and so at CartPole's time limit,
a truncation); `gae_lambda < 1` turns the baseline estimate into GAE
(eq-gae). Without a baseline there is nothing to bootstrap with, so only the
steps whose episode ends inside the rollout are used (`B` excludes the
unfinished tail of each environment's row): every `G_t` used is a complete
Monte Carlo return, as in the chapter.

The baseline used on batch k is the value network fitted on batches before
k, so it is independent of the actions it is used with (the chapter's
"fitted on independent trajectories"); it is then regressed on batch k's
returns for `value_steps` Adam steps.

Tricks not in the chapter's equations, each switchable in `ReinforceConfig`:
discounting with `gamma < 1` (the chapter is undiscounted); gradient
clipping by global norm (`max_grad_norm`); the small initial last layer of
the policy network (near-uniform start, `utils.policies.mlp_softmax`).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from utils.envs import make
from utils.envs.cartpole import N_ACTIONS, OBS_DIM
from utils.estimators import gae
from utils.policies import mlp_apply, mlp_init, mlp_softmax
from utils.rollouts import rollout


class ReinforceConfig(NamedTuple):
    """Hyperparameters; the defaults learn CartPole-v1 in about 200k steps."""

    use_baseline: bool = True  # learned value baseline V̂(s) (eq-baseline)
    n_envs: int = 8  # parallel environments
    n_steps: int = 256  # steps per environment per update
    n_updates: int = 100
    gamma: float = 0.99  # discount (1.0 = the chapter's undiscounted return)
    gae_lambda: float = 1.0  # 1.0 = Monte Carlo reward-to-go minus V̂; < 1 = GAE (eq-gae)
    learning_rate: float = 1e-2  # Adam, policy
    value_learning_rate: float = 1e-2  # Adam, value network
    value_steps: int = 8  # Adam steps on the value regression per update
    hidden: tuple = (32, 32)  # tanh MLP widths, policy and value network
    max_grad_norm: float | None = 1.0  # trick: clip the policy gradient's norm (None = off)
    max_episode_steps: int = 500  # CartPole-v1's time limit


class Metrics(NamedTuple):
    """Per update ("n_updates")."""

    episode_return: Float[Array, " U"]  # mean undiscounted return of the episodes ended in the update (nan if none)
    n_episodes: Float[Array, " U"]  # how many ended
    value_loss: Float[Array, " U"]  # mean squared error of V̂ on the batch's targets (0 without baseline)
    grad_norm: Float[Array, " U"]  # norm of the policy-gradient estimate before clipping
    env_steps: Float[Array, " U"]  # environment steps taken so far, all environments (the x-axis of a learning curve)


class TrainOutput(NamedTuple):
    policy_params: tuple
    value_params: tuple
    metrics: Metrics


class _RunnerState(NamedTuple):
    policy_params: tuple
    value_params: tuple
    policy_opt: optax.OptState
    value_opt: optax.OptState
    env_state: object
    obs: Float[Array, "N 4"]
    running_return: Float[Array, " N"]  # return so far of each environment's current episode
    env_steps: Float[Array, ""]
    key: PRNGKeyArray


def _global_norm(tree) -> Float[Array, ""]:
    return jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(tree)))


def _check_config(config: ReinforceConfig) -> None:
    if not isinstance(config, ReinforceConfig):
        raise TypeError(f"config must be a ReinforceConfig, got {type(config).__name__}")
    for name in ("n_envs", "n_steps", "n_updates", "value_steps", "max_episode_steps"):
        v = getattr(config, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"config.{name} must be a positive int, got {v!r}")
    if not 0.0 < config.gamma <= 1.0:
        raise ValueError(f"config.gamma must be in (0, 1], got {config.gamma}")
    if not 0.0 <= config.gae_lambda <= 1.0:
        raise ValueError(f"config.gae_lambda must be in [0, 1], got {config.gae_lambda}")
    for name in ("learning_rate", "value_learning_rate"):
        if not getattr(config, name) > 0:
            raise ValueError(f"config.{name} must be positive, got {getattr(config, name)}")
    if config.max_grad_norm is not None and not config.max_grad_norm > 0:
        raise ValueError(f"config.max_grad_norm must be positive or None, got {config.max_grad_norm}")


def make_train(config: ReinforceConfig = ReinforceConfig()):
    """Return `train(key) -> TrainOutput`, the whole training run as one pure function.

    Config errors raise here, eagerly. `train` is jittable and vmappable over keys.
    """
    _check_config(config)
    env = make("CartPole-v1", max_episode_steps=config.max_episode_steps)
    policy = mlp_softmax(OBS_DIM, N_ACTIONS, config.hidden)
    value_sizes = (OBS_DIM, *config.hidden, 1)

    def value_fn(value_params, obs):
        return mlp_apply(value_params, obs)[0]

    policy_tx = optax.adam(config.learning_rate)
    if config.max_grad_norm is not None:
        policy_tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), policy_tx)
    value_tx = optax.adam(config.value_learning_rate)

    def advantages_and_targets(value_params, traj):
        """`Â_t` and the value targets `G_t`, "N T", and the mask of usable steps."""
        if config.use_baseline:
            V = jax.vmap(jax.vmap(lambda o: value_fn(value_params, o)))
            values, next_values = V(traj.obs), V(traj.final_obs)
            adv = gae(traj.rewards, values, next_values, traj.terminated, traj.truncated,
                      config.gamma, config.gae_lambda)
            # Value targets: the bootstrapped λ-return (the Monte Carlo return when λ = 1).
            targets = adv + values
            mask = jnp.ones_like(adv)
        else:
            zeros = jnp.zeros_like(traj.rewards)
            # With V ≡ 0 and λ = 1, GAE is the discounted reward-to-go inside each episode.
            adv = gae(traj.rewards, zeros, zeros, traj.terminated, traj.truncated, config.gamma, 1.0)
            targets = adv
            # Only complete returns: steps followed by an episode end within the rollout.
            done = traj.terminated | traj.truncated
            mask = jnp.flip(jnp.cumsum(jnp.flip(done, -1), -1), -1) > 0
            mask = mask.astype(adv.dtype)
        return adv, targets, mask

    def policy_surrogate(policy_params, traj, adv, mask):
        # Its gradient is (1/|B|) Σ_t ∇ log π(a_t|s_t) Â_t: the estimator, not a loss to interpret.
        log_probs = jax.vmap(jax.vmap(policy.log_prob, (None, 0, 0)), (None, 0, 0))(
            policy_params, traj.obs, traj.actions
        )
        return jnp.sum(log_probs * jax.lax.stop_gradient(adv) * mask) / jnp.maximum(mask.sum(), 1.0)

    def value_loss(value_params, obs, targets):
        pred = jax.vmap(jax.vmap(lambda o: value_fn(value_params, o)))(obs)
        return jnp.mean((pred - targets) ** 2)

    def update(runner: _RunnerState, _):
        key, rollout_key = jax.random.split(runner.key)
        traj, env_state, obs = rollout(
            rollout_key, policy, runner.policy_params, env.step, runner.env_state, runner.obs, config.n_steps
        )

        # Undiscounted episode returns for the learning curve, across update boundaries.
        def track(running, x):
            r, done = x
            running = running + r
            return jnp.where(done, 0.0, running), running

        done = traj.terminated | traj.truncated
        running_return, totals = jax.lax.scan(
            track, runner.running_return, (traj.rewards.T, done.T)
        )
        n_episodes = done.sum()
        episode_return = jnp.where(
            n_episodes > 0, jnp.sum(jnp.where(done.T, totals, 0.0)) / jnp.maximum(n_episodes, 1), jnp.nan
        )

        adv, targets, mask = advantages_and_targets(runner.value_params, traj)

        # Gradient *ascent* on J: optax minimises, so hand it −∇̂J.
        grad = jax.grad(policy_surrogate)(runner.policy_params, traj, adv, mask)
        neg_grad = jax.tree_util.tree_map(jnp.negative, grad)
        updates, policy_opt = policy_tx.update(neg_grad, runner.policy_opt, runner.policy_params)
        policy_params = optax.apply_updates(runner.policy_params, updates)

        value_params, value_opt = runner.value_params, runner.value_opt
        if config.use_baseline:
            def value_step(carry, _):
                params, opt = carry
                loss, g = jax.value_and_grad(value_loss)(params, traj.obs, targets)
                u, opt = value_tx.update(g, opt, params)
                return (optax.apply_updates(params, u), opt), loss

            (value_params, value_opt), losses = jax.lax.scan(
                value_step, (value_params, value_opt), None, length=config.value_steps
            )
            v_loss = losses[0]
        else:
            v_loss = jnp.zeros(())

        metrics = Metrics(
            episode_return=episode_return,
            n_episodes=n_episodes.astype(jnp.float32),
            value_loss=v_loss,
            grad_norm=_global_norm(grad),
            env_steps=runner.env_steps + config.n_envs * config.n_steps,
        )
        runner = _RunnerState(
            policy_params, value_params, policy_opt, value_opt, env_state, obs, running_return, metrics.env_steps, key
        )
        return runner, metrics

    def train(key: PRNGKeyArray) -> TrainOutput:
        key, pkey, vkey, ekey = jax.random.split(key, 4)
        policy_params = policy.init(pkey)
        value_params = mlp_init(vkey, value_sizes)
        env_state, obs = jax.vmap(env.reset)(jax.random.split(ekey, config.n_envs))
        runner = _RunnerState(
            policy_params,
            value_params,
            policy_tx.init(policy_params),
            value_tx.init(value_params),
            env_state,
            obs,
            jnp.zeros(config.n_envs, jnp.float32),
            jnp.zeros((), jnp.float32),
            key,
        )
        runner, metrics = jax.lax.scan(update, runner, None, length=config.n_updates)
        return TrainOutput(runner.policy_params, runner.value_params, metrics)

    return train


def train_seeds(key: PRNGKeyArray, n_seeds: int, config: ReinforceConfig = ReinforceConfig()) -> TrainOutput:
    """Train `n_seeds` independent runs at once (`jit` of `vmap` of `train`);
    every output has a leading axis "n_seeds"."""
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds must be a positive int, got {n_seeds!r}")
    train = make_train(config)
    return jax.jit(jax.vmap(train))(jax.random.split(key, n_seeds))


def policy_of(config: ReinforceConfig = ReinforceConfig()):
    """The `utils.policies.Policy` that `make_train(config)` trains (to run or animate it)."""
    return mlp_softmax(OBS_DIM, N_ACTIONS, config.hidden)
