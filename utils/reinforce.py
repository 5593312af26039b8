"""REINFORCE, with and without a learned value baseline: one jitted training run
(on CartPole-v1 unless told another environment).

PureJaxRL shape: `make_train(config)` returns `train(key)`, a pure function
that runs the whole training loop (`lax.scan` over updates, each a
`lax.scan` over time of `vmap` over environments) and is `jit`-ed; `vmap` it
over keys for several seeds::

    train = make_train(ReinforceConfig(use_baseline=True))
    out = jax.jit(jax.vmap(train))(jax.random.split(key, n_seeds))
    out.metrics.episode_return        # "seeds n_updates"

**The estimator.** One update collects a window of `T = n_steps` steps in
each of `N = n_envs` auto-resetting environments with the current policy
(the environments carry on across updates, so a window starts in the middle
of an episode), computes one weight `Â_t` per collected step, and takes one
Adam step along

    ∇̂J = (1/(N T)) Σ_{n < N} Σ_{t < T} ∇_θ log π_θ(a_t|s_t) Â_t,

the gradient of the surrogate `mean(log π_θ(a_t|s_t) · stop_gradient(Â_t))`
(`surrogate`, divided by `T`). Every collected step is in the sum. The
weights (`gradient_weights`) are those of eq-reward-to-go and eq-baseline:

- without a baseline, `Â_t = G_t = Σ_{t' = t}^{c} γ^{t'−t} r_{t'}`, the
  reward-to-go inside the episode up to its cut `c`: the episode's last step
  if the episode ends inside the window (termination, or CartPole's time limit,
  which is the horizon `H` of the finite-horizon objective), else the
  window's last step;
- with a value baseline, `Â_t = G_t + γ^{c+1−t} V̂(s_{c+1}) − V̂(s_t)`
  at a cut by the window or by the time limit (bootstrapping), with no
  bootstrap after a termination; `gae_lambda < 1` turns it into GAE
  (eq-gae). The variant without a baseline is exactly this with `V̂ ≡ 0`.

Both variants use the same keys, so the same initial policy and the same
first batch, and the same budget of `N T` steps per update.

**Which bias remains.** For a step whose episode ends inside the window,
`G_t` is the complete (undiscounted when `γ = 1`) reward-to-go, an unbiased
weight. For a step of an episode still running at the window's end, `G_t`
is the reward-to-go *truncated at the window's end*: its mean is the value
of the rewards up to the cut only, below `Q_h(s_t, a_t)` when rewards are
positive (CartPole's are all 1), most so for the last steps of the window;
with a baseline the bootstrap `V̂(s_{c+1})` replaces the missing rewards
and is biased unless `V̂ = V`. At the time limit the baseline variant also
bootstraps, so it treats the limit as a cut of an unending task and adds
an estimate of rewards beyond the horizon `H`; without a baseline the
return stops there, as the finite-horizon objective does. No step is dropped, so the batch is not
tilted towards short episodes: every step of every episode contributes
exactly once, in the window where it was taken. Two further departures
from the chapter's on-policy average over whole trajectories: an episode
continued from earlier windows reached its current state under earlier
parameters, and the sum is normalised by the number of steps `N T` rather
than by a number of trajectories (a constant positive factor: Adam's step
does not depend on it, up to Adam's small denominator constant, but the
gradient-norm clipping does).

The baseline used on batch k is the value network fitted on batches before
k; it does not depend on batch k's actions, though it does depend on the
earlier batches, as `θ_k` does (conditionally unbiased given the past). It
is then regressed on batch k's targets `Â_t + V̂(s_t)` for `value_steps`
Adam steps.

Tricks not in the chapter's equations, each switchable in `ReinforceConfig`:
discounting with `gamma < 1` (the chapter is undiscounted); gradient
clipping by global norm (`max_grad_norm`); reward scaling (`reward_scale`,
the estimator's and the value targets' rewards only, so that returns are
reported unscaled); the small initial last layer of the policy network
(near-uniform start, `utils.policies.mlp_softmax`).

**Continuous actions.** On a `Box` environment (`make_train(config, env)`
with, e.g., `utils.envs.make("Pendulum-v1")`) the policy is a diagonal
Gaussian with a tanh-MLP mean and a learned, state-independent `log σ`
starting at `config.init_log_std` (`utils.policies.diagonal_gaussian`); the
environment clips the sampled action to its bounds and the estimator scores
the sample as drawn, so `∇ log π_θ(a|s)` is the Gaussian's.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from utils import seeds, validate
from utils.envs import Environment, env_or_cartpole
from utils.estimators import gae
from utils.policies import Policy, check_params, mlp_apply, mlp_init, mlp_policy_for
from utils.rollouts import Trajectory, rollout


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
    max_episode_steps: int = 500  # CartPole-v1's time limit (the default environment's; others keep their own)
    init_log_std: float = 0.0  # a Gaussian policy's initial log σ (Box actions only)
    reward_scale: float = 1.0  # trick: rewards × this in the estimator and the value targets (1: off)


# Pendulum-v1 (a continuous torque, 200-step episodes): 16 environments × one whole episode per
# update, γ = 0.95 and GAE λ = 0.95 with the learned baseline, rewards scaled by 0.1 (they reach
# −16 a step), Adam at 1e-2, a (64, 64) network. From about −1200, seeds 0–3 (key 0 split four
# ways) reached −160 to −220 after 100 updates (320 000 steps). Without the baseline the same
# budget barely moves (about +50 at Adam 1e-3): every reward-to-go is negative.
PENDULUM_CONFIG = ReinforceConfig(n_envs=16, n_steps=200, n_updates=100, gamma=0.95, gae_lambda=0.95,
                                  learning_rate=1e-2, value_steps=20, hidden=(64, 64), reward_scale=0.1)


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
    obs: Float[Array, "N obs_dim"]
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
    validate.check_in_range("config.reward_scale", config.reward_scale, 0.0, None, inclusive=(False, True))
    if isinstance(config.init_log_std, bool) or not (isinstance(config.init_log_std, (int, float))
                                                     and math.isfinite(config.init_log_std)):
        raise ValueError(f"config.init_log_std must be a finite number, got {config.init_log_std!r}")


def gradient_weights(
    config: ReinforceConfig,
    traj: Trajectory,
    values: Float[Array, "N T"],
    next_values: Float[Array, "N T"],
) -> tuple[Float[Array, "N T"], Float[Array, "N T"]]:
    """The weight `Â_t` of every step of a rollout window, and the value targets (both "N T").

    `values[n, t] = V̂(s_t)` and `next_values[n, t] = V̂(s'_t)` (the observation
    step t led to, before any reset); pass zeros for the variant without a
    baseline. The weight is `utils.estimators.gae` with `λ = config.gae_lambda`
    (with a baseline) or `λ = 1` (without): the reward-to-go `G_t` inside the
    episode up to its cut by a termination, the time limit or the window's end
    (eq-reward-to-go), plus `γ^k V̂` of the state after a cut that is not a
    termination, minus `V̂(s_t)` (eq-baseline). With `V̂ ≡ 0` it is the
    reward-to-go truncated at the window's end for the steps of an unfinished
    episode; no step gets weight 0 for being unfinished. The value targets are
    `Â_t + V̂(s_t)`, the bootstrapped λ-return.
    """
    _check_config(config)
    validate.check_instance("traj", traj, Trajectory, "utils.rollouts.Trajectory")
    lam = config.gae_lambda if config.use_baseline else 1.0
    adv = gae(traj.rewards, values, next_values, traj.terminated, traj.truncated, config.gamma, lam)
    return adv, adv + values


def surrogate(policy: Policy, params, traj: Trajectory, weights: Float[Array, "N T"]) -> Float[Array, ""]:
    """`(1/N) Σ_n Σ_t log π_θ(a_t|s_t) · stop_gradient(w_t)`: a device whose gradient is the estimator.

    Its gradient in `params` is `(1/N) Σ_n Σ_t ∇_θ log π_θ(a_t|s_t) w_t`, the
    score-weighted sum of eq-reinforce-estimator (`w_t = R(τ)`), eq-reward-to-go
    and eq-baseline (`utils.estimators.score_weighted_sum`), because the weights
    are held fixed. Its value is not `J(θ)` and is not comparable between
    batches: it is not a loss whose value means anything.
    """
    # Static checks (types, structure, shapes): this runs inside the jitted trainer.
    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
    check_params(policy, params)
    validate.check_instance("traj", traj, Trajectory, "utils.rollouts.Trajectory")
    weights = validate.as_float_array("weights", weights)
    if jnp.shape(weights) != jnp.shape(traj.rewards):
        raise ValueError(f"`weights` must have shape (N, T) = {jnp.shape(traj.rewards)}, one per step of `traj`, "
                         f"got shape {jnp.shape(weights)}")
    log_probs = jax.vmap(jax.vmap(policy.log_prob, (None, 0, 0)), (None, 0, 0))(params, traj.obs, traj.actions)
    return jnp.sum(log_probs * jax.lax.stop_gradient(weights)) / log_probs.shape[0]


def make_train(config: ReinforceConfig = ReinforceConfig(), env: Environment | None = None):
    """Return `train(key) -> TrainOutput`, the whole training run on `env` as one pure function.

    `env` defaults to CartPole-v1 (with `config.max_episode_steps`); any
    `utils.envs.make(...)` environment works, discrete or continuous (`policy_of`).
    Config errors raise here, eagerly. `train` is jittable and vmappable over keys.
    """
    _check_config(config)
    env = env_or_cartpole(env, config.max_episode_steps)
    policy = policy_of(config, env)
    value_sizes = (env.obs_dim, *config.hidden, 1)

    def value_fn(value_params, obs):
        return mlp_apply(value_params, obs)[0]

    policy_tx = optax.adam(config.learning_rate)
    if config.max_grad_norm is not None:
        policy_tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), policy_tx)
    value_tx = optax.adam(config.value_learning_rate)

    def value_table(value_params, obs):
        return jax.vmap(jax.vmap(lambda o: value_fn(value_params, o)))(obs)

    def value_loss(value_params, obs, targets):
        pred = value_table(value_params, obs)
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

        if config.use_baseline:
            values = value_table(runner.value_params, traj.obs)
            next_values = value_table(runner.value_params, traj.final_obs)
        else:
            values = next_values = jnp.zeros_like(traj.rewards)
        adv, targets = gradient_weights(config, traj._replace(rewards=traj.rewards * config.reward_scale),
                                        values, next_values)

        # Gradient *ascent* on J: optax minimises, so hand it −∇̂J. Every step of the
        # window is in the average (1/(N T)) Σ ∇ log π(a_t|s_t) Â_t.
        grad = jax.grad(lambda p: surrogate(policy, p, traj, adv) / config.n_steps)(runner.policy_params)
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


def train_seeds(key: PRNGKeyArray, n_seeds: int, config: ReinforceConfig = ReinforceConfig(),
                env: Environment | None = None) -> TrainOutput:
    """Train `n_seeds` independent runs at once (`jit` of `vmap` of `train`, the seeds sharded
    over the devices: `utils.seeds`); every output has a leading axis "n_seeds"."""
    validate.check_key("key", key)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds must be a positive int, got {n_seeds!r}")
    return seeds.train_seeds(make_train(config, env), key, n_seeds)


def improvement(episode_return: Float[Array, "seeds U"], n: int = 5) -> Float[Array, " seeds"]:
    """Each seed's mean episode return over its last `n` updates divided by that over its first `n`
    (updates in which no episode ended, nan, are skipped): the chapter's "every seed improves
    several times over" is `improvement(out.metrics.episode_return).min() > 3`."""
    r = validate.as_float_array("episode_return", episode_return)
    validate.check_int("n", n, 1)
    if r.ndim != 2 or not 1 <= n <= r.shape[1]:
        raise ValueError(f"episode_return must be (seeds, updates) with at least n = {n} updates, got shape {r.shape}")
    return jnp.nanmean(r[:, -n:], axis=1) / jnp.nanmean(r[:, :n], axis=1)


def policy_of(config: ReinforceConfig = ReinforceConfig(), env: Environment | None = None):
    """The `utils.policies.Policy` that `make_train(config, env)` trains (to run or animate it):
    a softmax MLP for discrete actions, a diagonal Gaussian MLP for a Box (`mlp_policy_for`)."""
    _check_config(config)
    env = env_or_cartpole(env, config.max_episode_steps)
    return mlp_policy_for(env, config.hidden, config.init_log_std)
