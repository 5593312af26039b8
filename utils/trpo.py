"""Trust region policy optimisation (Schulman et al. 2015), in the PureJaxRL shape.

Read top to bottom: the config, the surrogate objective, one trust-region
step (`trpo_step`: conjugate gradient on Fisher-vector products, the step
scaled to the KL radius, backtracking line search), TRPO on a tabular MDP
(`trpo_tabular`, the jitted twin of the chapter's pseudocode
`utils.pseudocode.trpo.trpo`), and the CartPole training loop (`make_train`)::

    train = jax.jit(make_train(TRPOConfig()))
    out = train(jax.random.key(0))               # the whole run is one jit
    out.metrics.episode_return                    # "n_iterations"
    outs = train_seeds(jax.random.key(0), 4)      # vmap over seeds

One iteration: collect `n_steps` steps in each of `n_envs` auto-resetting
CartPoles with `pi^k = pi_{theta^k}`; estimate advantages `A_t` by GAE
(eq-gae) with a value network; then solve the TRPO problem (TRPO section)

    maximise  L(theta) = mean_t [ pi_theta(a_t|s_t) / pi^k(a_t|s_t) A_t ]
    subject to  KL(pi^k || pi_theta) <= delta

by one natural step and a line search (`trpo_step`); finally regress the
value network on the batch's returns, separately from the policy.

The chapter writes the gain as `E_{s_h ~ rho_{pi^k}}[sum_h E_{a ~ pi_theta(s_h)} A(s_h, a)]`;
with only the sampled actions' advantages, the inner expectation is
importance-sampled with `pi^k` (Schulman et al. 2015, eq. 14), which is `L`.
The KL is estimated on the visited states with the exact KL between the two
action distributions at each state (`utils.kl.categorical_kl`, an unbiased,
lower-variance version of the chapter's log-ratio estimator).

`config.line_search=False` gives the natural policy gradient step with the
same radius (Kakade 2001; `utils.npg` builds its CartPole trainer that way).

Tricks not in the chapter's equations, each switchable in `TRPOConfig`:
- `kl_per_step=True`: constrain the KL averaged over visited states, as in
  Schulman et al. 2015's practical algorithm, instead of the chapter's
  trajectory KL `E_tau[sum_h KL_h]` (which grows with the episode length,
  so a fixed `delta` would shrink the steps as the policy improves);
- `cg_damping`: the Fisher-vector products use `F + lambda I`;
- `normalize_advantages`: advantages standardised in each batch;
- `gamma < 1`: discounting (the chapter is undiscounted), and GAE's `lambda`.
Also not in the equations, and fixed by `utils.policies.mlp_softmax`: the
policy network's small initial last layer (a near-uniform first policy).
"""
from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from utils import exact
from utils.envs import make
from utils.envs.tabular import TabularMDP
from utils.envs.cartpole import N_ACTIONS, OBS_DIM
from utils.estimators import gae
from utils.kl import categorical_kl, kl_div_trajectories
from utils.natural import (
    check_damping,
    check_delta,
    check_positive_int,
    conjugate_gradient,
    fisher_vector_product,
    natural_step_size,
)
from utils.policies import mlp_apply, mlp_init, mlp_softmax, tabular_softmax
from utils.rollouts import rollout, sample_trajectories

__all__ = [
    "TRPOConfig",
    "StepInfo",
    "Metrics",
    "TrainOutput",
    "surrogate_objective",
    "trpo_step",
    "TabularRun",
    "trpo_tabular",
    "check_config",
    "make_train",
    "train_seeds",
    "policy_of",
]


class TRPOConfig(NamedTuple):
    """Hyperparameters; the defaults learn CartPole-v1 in a few dozen iterations."""

    delta: float = 0.02  # the trust-region radius (KL)
    n_envs: int = 8  # parallel environments
    n_steps: int = 128  # steps per environment per iteration
    n_iterations: int = 40
    cg_iters: int = 10  # conjugate-gradient steps (Fisher-vector products) per iteration
    cg_damping: float = 0.1  # trick: F + cg_damping * I (0 = off)
    line_search: bool = True  # False: take the natural step as is (NPG)
    backtrack_coef: float = 0.5  # the line search tries steps of size coef^j, j = 0, 1, ...
    n_backtracks: int = 10
    kl_per_step: bool = True  # trick: KL averaged over states (False: the trajectory KL)
    normalize_advantages: bool = True  # trick: standardise advantages per batch
    gamma: float = 0.99  # trick: discount (1.0 = the chapter's undiscounted return)
    gae_lambda: float = 0.95  # GAE (eq-gae); 1.0 = Monte Carlo return minus V
    value_learning_rate: float = 1e-2  # Adam, value network
    value_steps: int = 20  # full-batch Adam steps on the value regression per iteration
    hidden: tuple = (32, 32)  # tanh MLP widths, policy and value network
    max_episode_steps: int = 500  # CartPole-v1's time limit


class StepInfo(NamedTuple):
    """What one trust-region step did."""

    kl: Float[Array, ""]  # sampled KL of the step taken (0 if none was accepted)
    surrogate_gain: Float[Array, ""]  # L(theta^{k+1}) - L(theta^k)
    expected_gain: Float[Array, ""]  # g^T s for the full natural step s (first-order prediction)
    accepted: Bool[Array, ""]  # a step was taken
    step_fraction: Float[Array, ""]  # the fraction coef^j of the full step taken (0 if none)
    grad_norm: Float[Array, ""]  # ||g||


class Metrics(NamedTuple):
    """Per iteration ("n_iterations"); `StepInfo`'s fields for the policy step."""

    episode_return: Float[Array, " K"]  # mean undiscounted return of the episodes ended (nan if none)
    n_episodes: Float[Array, " K"]
    kl: Float[Array, " K"]
    surrogate_gain: Float[Array, " K"]
    expected_gain: Float[Array, " K"]
    accepted: Bool[Array, " K"]
    step_fraction: Float[Array, " K"]
    grad_norm: Float[Array, " K"]
    value_loss: Float[Array, " K"]  # mean squared error of V on the batch's targets, before fitting


class TrainOutput(NamedTuple):
    policy_params: tuple
    value_params: tuple
    metrics: Metrics


# ---------------------------------------------------------------------------
# The surrogate objective and one trust-region step
# ---------------------------------------------------------------------------


def surrogate_objective(
    log_prob_new: Float[Array, "*B"], log_prob_old: Float[Array, "*B"], advantages: Float[Array, "*B"]
) -> Float[Array, ""]:
    """`L(theta) = mean_t [ pi_theta(a_t|s_t) / pi^k(a_t|s_t) A_t ]`: the gain
    `E_{a ~ pi_theta(s_t)}[A(s_t, a)]` importance-sampled with the actions of `pi^k`.
    Its gradient at `theta^k` is the policy gradient estimate."""
    return jnp.mean(jnp.exp(log_prob_new - log_prob_old) * advantages)


def _trpo_step(surrogate_fn, kl_fn, theta, delta, cg_iters, damping, backtrack_coef, n_backtracks, line_search):
    L_old, g = jax.value_and_grad(surrogate_fn)(theta)

    def fvp(v):
        return fisher_vector_product(kl_fn, theta, v, damping)

    # Natural direction x ~ F^{-1} g with a few Fisher-vector products, then the
    # step that puts the quadratic KL model on the boundary: 1/2 s^T F s = delta.
    # CG's iterates satisfy x^T F x = g^T x exactly, so no further product is needed.
    x = conjugate_gradient(fvp, g, cg_iters)
    full_step = natural_step_size(g, x, delta) * x
    expected_gain = jnp.vdot(g, full_step)

    if line_search:
        # Backtracking: try coef^0, coef^1, ... of the full step (all at once,
        # vmapped) and take the first that improves the surrogate and keeps the
        # sampled KL within delta; if none does, stay at theta^k.
        fractions = backtrack_coef ** jnp.arange(n_backtracks, dtype=theta.dtype)
        candidates = theta + fractions[:, None] * full_step
        gains = jax.vmap(surrogate_fn)(candidates) - L_old
        kls = jax.vmap(kl_fn)(candidates)
        acceptable = (gains > 0) & (kls <= delta)
        first = jnp.argmax(acceptable)
        accepted = acceptable[first]
        theta_new = jnp.where(accepted, candidates[first], theta)
        info = StepInfo(
            kl=jnp.where(accepted, kls[first], 0.0),
            surrogate_gain=jnp.where(accepted, gains[first], 0.0),
            expected_gain=expected_gain,
            accepted=accepted,
            step_fraction=jnp.where(accepted, fractions[first], 0.0),
            grad_norm=jnp.linalg.norm(g),
        )
    else:
        theta_new = theta + full_step
        info = StepInfo(
            kl=kl_fn(theta_new),
            surrogate_gain=surrogate_fn(theta_new) - L_old,
            expected_gain=expected_gain,
            accepted=jnp.ones((), bool),
            step_fraction=jnp.ones((), theta.dtype),
            grad_norm=jnp.linalg.norm(g),
        )
    return theta_new, info


def _check_fraction(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise ValueError(f"`{name}` must be a number in (0, 1), got {value!r}")


def trpo_step(
    surrogate_fn: Callable[[Float[Array, " D"]], Float[Array, ""]],
    kl_fn: Callable[[Float[Array, " D"]], Float[Array, ""]],
    theta: Float[Array, " D"],
    delta: float,
    cg_iters: int = 10,
    damping: float = 0.1,
    backtrack_coef: float = 0.5,
    n_backtracks: int = 10,
    line_search: bool = True,
) -> tuple[Float[Array, " D"], StepInfo]:
    """One TRPO update of the flat parameters `theta = theta^k` (TRPO section).

    `surrogate_fn(theta')` is the estimated objective (e.g. `surrogate_objective`
    on a batch) and `kl_fn(theta')` the estimated `KL(pi^k || pi_theta')` on the
    same batch, both as functions of flat parameters. Steps:

    1. `g = grad L(theta^k)`; `x ~ (F + damping I)^{-1} g` by `cg_iters` steps
       of conjugate gradient, `F v` being the Hessian of `kl_fn` at `theta^k`
       times `v`;
    2. full step `s = sqrt(2 delta / g^T x) x` (the NPG closed form);
    3. backtracking: the first `theta^k + coef^j s`, `j < n_backtracks`, with
       `L(theta') > L(theta^k)` and `kl_fn(theta') <= delta`; `theta^k` if none.

    With `line_search=False`, returns `theta^k + s` (the natural policy
    gradient step). Jittable when the functions are.
    """
    for name, fn in (("surrogate_fn", surrogate_fn), ("kl_fn", kl_fn)):
        if not callable(fn):
            raise TypeError(f"`{name}` must be a function of the flat parameters, got {type(fn).__name__}")
    if not hasattr(theta, "ndim") or theta.ndim != 1:
        raise ValueError(
            f"`theta` must be a flat parameter vector (D,), got shape {getattr(theta, 'shape', None)} "
            "(flatten with jax.flatten_util.ravel_pytree)"
        )
    check_delta(delta)
    check_damping(damping)
    cg_iters = check_positive_int(cg_iters, "cg_iters")
    n_backtracks = check_positive_int(n_backtracks, "n_backtracks")
    _check_fraction(backtrack_coef, "backtrack_coef")
    return _trpo_step(surrogate_fn, kl_fn, theta, delta, cg_iters, damping, backtrack_coef, n_backtracks, line_search)


# ---------------------------------------------------------------------------
# Tabular MDPs: the jitted twin of the chapter's pseudocode
# ---------------------------------------------------------------------------


class TabularRun(NamedTuple):
    """The iterates of `trpo_tabular` ("K" = n_iterations)."""

    thetas: Float[Array, "K+1 S A"]  # theta^0, ..., theta^K
    objective: Float[Array, " K+1"]  # J(theta^k), exact
    exact_kl: Float[Array, " K"]  # exact KL(rho_{theta^k} || rho_{theta^{k+1}})
    info: StepInfo  # each field "K"; info.kl is the sampled KL the line search saw


@functools.partial(jax.jit, static_argnames=("n_iterations", "n_trajectories", "cg_iters", "n_backtracks"))
def _trpo_tabular(mdp, theta_init, delta, n_iterations, n_trajectories, key, cg_iters, backtrack_coef,
                  n_backtracks, damping):
    policy = tabular_softmax(mdp.n_states, mdp.n_actions)
    shape = theta_init.shape
    H = mdp.H

    def one_round(carry, _):
        theta_k, key = carry
        key, subkey = jax.random.split(key)
        traj = sample_trajectories(subkey, mdp, policy, theta_k, n_trajectories)
        A = exact.advantages(mdp, exact.softmax_policy(theta_k))
        A_visited = A[jnp.arange(H)[None, :], traj.obs]  # "N H A": A_h(s_h, .)

        def gain(theta):
            # (1/N) sum_tau sum_h sum_a pi_theta(a | s_h) A_h(s_h, a): the chapter's form.
            pi_visited = exact.softmax_policy(theta.reshape(shape))[traj.obs]
            return jnp.sum(pi_visited * A_visited) / n_trajectories

        def kl(theta):
            return kl_div_trajectories(policy, theta_k, theta.reshape(shape), traj.obs, traj.actions)

        theta, info = _trpo_step(gain, kl, theta_k.ravel(), delta, cg_iters, damping, backtrack_coef,
                                 n_backtracks, True)
        theta = theta.reshape(shape)
        exact_kl = exact.kl_trajectories(mdp, exact.softmax_policy(theta_k), exact.softmax_policy(theta))
        return (theta, key), (theta, exact_kl, info)

    _, (thetas, exact_kl, info) = jax.lax.scan(one_round, (theta_init, key), None, length=n_iterations)
    thetas = jnp.concatenate([theta_init[None], thetas])
    objective = jax.vmap(exact.exact_objective, (None, 0))(mdp, thetas)
    return TabularRun(thetas, objective, exact_kl, info)


def trpo_tabular(
    mdp: TabularMDP,
    theta_init: Float[Array, "S A"],
    delta: float,
    n_iterations: int,
    n_trajectories: int,
    key: PRNGKeyArray,
    cg_iters: int = 10,
    backtrack_coef: float = 0.5,
    n_backtracks: int = 10,
    damping: float = 0.0,
) -> TabularRun:
    """TRPO for the tabular softmax policy, the jitted twin of the chapter's
    pseudocode `utils.pseudocode.trpo.trpo` (same key, same samples, same iterates).

    Each round samples `n_trajectories` trajectories with `pi^k`
    (`utils.rollouts.sample_trajectories`), takes the exact advantages
    `A^{pi^k}` (`utils.exact.advantages`), and takes one `trpo_step` on

        gain(theta) = (1/N) sum_tau sum_h sum_a pi_theta(a | s_h) A^{pi^k}_h(s_h, a),
        KL: the sampled estimator `utils.kl.kl_div_trajectories`.

    That KL estimator is the chapter's: unbiased, but noisy with few
    trajectories (it can even be negative), so `run.exact_kl` can exceed
    `delta` while the sampled KL the line search checked does not.
    """
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"`mdp` must be a TabularMDP (utils.envs.tabular), got {type(mdp).__name__}")
    shape = (mdp.n_states, mdp.n_actions)
    if tuple(jnp.shape(theta_init)) != shape:
        raise ValueError(
            f"`theta_init` must have shape (S, A) = {shape} for the tabular softmax, got {tuple(jnp.shape(theta_init))}"
        )
    check_delta(delta)
    check_damping(damping)
    _check_fraction(backtrack_coef, "backtrack_coef")
    return _trpo_tabular(
        mdp, jnp.asarray(theta_init, jnp.float32), delta,
        check_positive_int(n_iterations, "n_iterations"), check_positive_int(n_trajectories, "n_trajectories"),
        key, check_positive_int(cg_iters, "cg_iters"), backtrack_coef,
        check_positive_int(n_backtracks, "n_backtracks"), damping,
    )


# ---------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------


class _RunnerState(NamedTuple):
    policy_params: tuple
    value_params: tuple
    value_opt: optax.OptState
    env_state: object
    obs: Float[Array, "N 4"]
    running_return: Float[Array, " N"]  # return so far of each environment's current episode
    key: PRNGKeyArray


def check_config(config: TRPOConfig, name: str = "config") -> TRPOConfig:
    """Raise a ValueError naming the first bad field of `config`."""
    if not isinstance(config, TRPOConfig):
        raise TypeError(f"{name} must be a TRPOConfig, got {type(config).__name__}")
    for field in ("n_envs", "n_steps", "n_iterations", "cg_iters", "n_backtracks", "value_steps", "max_episode_steps"):
        check_positive_int(getattr(config, field), f"{name}.{field}")
    check_delta(config.delta, f"{name}.delta")
    check_damping(config.cg_damping, f"{name}.cg_damping")
    _check_fraction(config.backtrack_coef, f"{name}.backtrack_coef")
    if not 0.0 < config.gamma <= 1.0:
        raise ValueError(f"{name}.gamma must be in (0, 1], got {config.gamma}")
    if not 0.0 <= config.gae_lambda <= 1.0:
        raise ValueError(f"{name}.gae_lambda must be in [0, 1], got {config.gae_lambda}")
    if not (isinstance(config.value_learning_rate, numbers.Real) and math.isfinite(config.value_learning_rate)
            and config.value_learning_rate > 0):
        raise ValueError(f"{name}.value_learning_rate must be a finite number > 0, got {config.value_learning_rate}")
    for i, h in enumerate(config.hidden):
        check_positive_int(h, f"{name}.hidden[{i}]")
    return config


def policy_of(config: TRPOConfig = TRPOConfig()):
    """The `utils.policies.Policy` that `make_train(config)` trains (to run or animate it)."""
    return mlp_softmax(OBS_DIM, N_ACTIONS, tuple(config.hidden))


def make_train(config: TRPOConfig = TRPOConfig()):
    """Return `train(key) -> TrainOutput`, the whole training run as one pure function.

    Config errors raise here, eagerly. `train` is jittable and vmappable over keys.
    """
    check_config(config)
    env = make("CartPole-v1", max_episode_steps=config.max_episode_steps)
    policy = policy_of(config)
    value_sizes = (OBS_DIM, *config.hidden, 1)
    value_tx = optax.adam(config.value_learning_rate)

    def value_fn(value_params, obs):
        return mlp_apply(value_params, obs)[0]

    batch_value = jax.vmap(jax.vmap(value_fn, (None, 0)), (None, 0))
    batch_logits = jax.vmap(jax.vmap(policy.dist, (None, 0)), (None, 0))
    batch_log_prob = jax.vmap(jax.vmap(policy.log_prob, (None, 0, 0)), (None, 0, 0))

    def value_loss(value_params, obs, targets):
        return jnp.mean((batch_value(value_params, obs) - targets) ** 2)

    def iteration(runner: _RunnerState, _):
        key, rollout_key = jax.random.split(runner.key)
        traj, env_state, obs = rollout(
            rollout_key, policy, runner.policy_params, env.step, runner.env_state, runner.obs, config.n_steps
        )
        done = traj.terminated | traj.truncated

        # Undiscounted episode returns for the learning curve, across iterations.
        def track(running, x):
            r, d = x
            running = running + r
            return jnp.where(d, 0.0, running), running

        running_return, totals = jax.lax.scan(track, runner.running_return, (traj.rewards.T, done.T))
        n_episodes = done.sum()
        episode_return = jnp.where(
            n_episodes > 0, jnp.sum(jnp.where(done.T, totals, 0.0)) / jnp.maximum(n_episodes, 1), jnp.nan
        )

        # GAE (eq-gae): bootstrap with V(final_obs) on truncation and at the
        # end of the rollout, never after a termination.
        values = batch_value(runner.value_params, traj.obs)
        next_values = batch_value(runner.value_params, traj.final_obs)
        advantages = gae(traj.rewards, values, next_values, traj.terminated, traj.truncated,
                         config.gamma, config.gae_lambda)
        targets = advantages + values
        if config.normalize_advantages:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

        # The trust-region problem on this batch, in flat parameters.
        theta_k, unravel = ravel_pytree(runner.policy_params)
        logits_k = batch_logits(runner.policy_params, traj.obs)
        if config.kl_per_step:
            kl_scale = 1.0 / done.size
        else:
            # Trajectory KL: the sum over the batch divided by the number of
            # (possibly partial) trajectories in it.
            kl_scale = 1.0 / (config.n_envs + done[:, :-1].sum())

        def surrogate_fn(theta):
            log_prob = batch_log_prob(unravel(theta), traj.obs, traj.actions)
            return surrogate_objective(log_prob, traj.log_probs, advantages)

        def kl_fn(theta):
            return kl_scale * jnp.sum(categorical_kl(logits_k, batch_logits(unravel(theta), traj.obs)))

        theta, info = _trpo_step(
            surrogate_fn, kl_fn, theta_k, config.delta, config.cg_iters, config.cg_damping,
            config.backtrack_coef, config.n_backtracks, config.line_search,
        )
        policy_params = unravel(theta)

        # The value function is fitted separately, after the policy step.
        def value_step(carry, _):
            params, opt = carry
            loss, grad = jax.value_and_grad(value_loss)(params, traj.obs, targets)
            updates, opt = value_tx.update(grad, opt, params)
            return (optax.apply_updates(params, updates), opt), loss

        (value_params, value_opt), losses = jax.lax.scan(
            value_step, (runner.value_params, runner.value_opt), None, length=config.value_steps
        )

        metrics = Metrics(
            episode_return=episode_return,
            n_episodes=n_episodes.astype(jnp.float32),
            value_loss=losses[0],
            **info._asdict(),
        )
        runner = _RunnerState(policy_params, value_params, value_opt, env_state, obs, running_return, key)
        return runner, metrics

    def train(key: PRNGKeyArray) -> TrainOutput:
        key, pkey, vkey, ekey = jax.random.split(key, 4)
        policy_params = policy.init(pkey)
        value_params = mlp_init(vkey, value_sizes)
        env_state, obs = jax.vmap(env.reset)(jax.random.split(ekey, config.n_envs))
        runner = _RunnerState(
            policy_params, value_params, value_tx.init(value_params), env_state, obs,
            jnp.zeros(config.n_envs, jnp.float32), key,
        )
        runner, metrics = jax.lax.scan(iteration, runner, None, length=config.n_iterations)
        return TrainOutput(runner.policy_params, runner.value_params, metrics)

    return train


def train_seeds(key: PRNGKeyArray, n_seeds: int, config: TRPOConfig = TRPOConfig()) -> TrainOutput:
    """Train `n_seeds` independent runs at once (`jit` of `vmap` of `train`);
    every output has a leading axis "n_seeds"."""
    n_seeds = check_positive_int(n_seeds, "n_seeds")
    train = make_train(config)
    return jax.jit(jax.vmap(train))(jax.random.split(key, n_seeds))
