"""Proximal policy optimisation (Schulman et al. 2017), in the PureJaxRL shape.

Read top to bottom: the config, the two objectives (the chapter's KL-penalty
form and the clipped surrogate), the adaptive KL rule, generalised advantage
estimation, the minibatch-epoch update, and the training loop. The two forms
share everything except the policy objective (`PPOConfig.loss`).

    config = PPOConfig(loss="clip")                 # or loss="kl_penalty"
    train = jax.jit(make_train(config))
    out = train(jax.random.key(0))                  # the whole run is one jit
    outs = jax.jit(jax.vmap(make_train(config)))(jax.random.split(key, 3))  # seeds

`make_train(config, on_eval=f)` calls `f(update, eval_return)` from inside
the compiled run after each evaluation (progress, timing). For a loop of your
own (e.g. training in chunks), `make_ppo(config)` gives the pure pieces:
`init(key)`, `update(state)` (one PPO iteration: rollout, GAE, epochs of
minibatch gradient steps) and `evaluate(params, key)`.

`kl_penalty_objective` is the chapter's ℓ^k(θ) per sample (divided by H);
`utils.pseudocode.ppo` is the chapter's readable `ppo`, tested against it.

The policy is `utils.policies.mlp_softmax` (a tanh MLP over the logits); the
value baseline is a separate tanh MLP of the same widths. Every trick that is
not in the chapter's equations is named in a comment and can be switched off
in `PPOConfig`: advantage normalisation, clipped value loss, entropy bonus,
gradient-norm clipping, learning-rate annealing, greedy evaluation.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import estimators
from utils.envs import Environment, make
from utils.kl import categorical_kl
from utils.policies import mlp_apply, mlp_softmax

__all__ = [
    "PPOConfig",
    "ActorCriticParams",
    "Transition",
    "Batch",
    "TrainState",
    "UpdateMetrics",
    "TrainOutput",
    "PPO",
    "importance_ratio",
    "clipped_surrogate",
    "ppo_clip_objective",
    "kl_penalty_objective",
    "categorical_kl",
    "adaptive_kl_coef",
    "gae",
    "ppo_epochs",
    "check_config",
    "make_ppo",
    "make_train",
]


# ---------------------------------------------------------------------------
# Config: one NamedTuple; the defaults solve CartPole-v1 (greedy return >= 475)
# within about 5e4 env steps for most seeds, and stay there to the end of the budget.
# ---------------------------------------------------------------------------


class PPOConfig(NamedTuple):
    """Hyperparameters. One PPO iteration collects `num_steps` steps from each
    of `num_envs` environments, then takes `update_epochs` passes over that
    batch in `num_minibatches` minibatches."""

    loss: str = "clip"  # "clip": clipped surrogate; "kl_penalty": the chapter's ℓ^k(θ)
    num_envs: int = 32
    num_steps: int = 16
    total_timesteps: int = 262_144
    update_epochs: int = 4
    num_minibatches: int = 2
    learning_rate: float = 3e-3
    anneal_lr: bool = True  # trick: linear learning-rate decay to 0 (not in the chapter)
    gamma: float = 0.99  # discount of the GAE returns (the chapter's H-step sum has γ = 1)
    gae_lambda: float = 0.95  # λ of generalised advantage estimation
    clip_eps: float = 0.2  # ε of the clipped surrogate
    kl_coef: float = 1.0  # λ of the chapter's penalty (β in Schulman et al. 2017); initial value if adaptive
    adaptive_kl: bool = True  # halve/double the coefficient when the KL is below/above the target band
    kl_target: float = 0.01  # d_targ of the adaptive rule
    vf_coef: float = 0.5  # weight of the value loss in the joint loss
    ent_coef: float = 0.0  # trick: entropy bonus (not in the chapter's objective)
    max_grad_norm: float = 0.5  # trick: global gradient-norm clipping; math.inf switches it off
    norm_adv: bool = True  # trick: advantage normalisation per minibatch
    clip_vloss: bool = False  # trick: clipped value loss (PPO2 / CleanRL)
    hidden: tuple[int, ...] = (64, 64)
    eval_every: int = 0  # evaluate every this many updates inside `train` (0: never)
    eval_episodes: int = 32
    eval_greedy: bool = True  # trick: evaluate the greedy (argmax) policy, not the stochastic one

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size


LOSSES = ("clip", "kl_penalty")


def _positive_int(value, name: str, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"PPOConfig.{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"PPOConfig.{name} must be a {kind} int, got {value}")


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise TypeError(f"PPOConfig.{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def _check_key(key, name: str = "key") -> None:
    """A PRNG key: typed (`jax.random.key`) or raw uint32[2] (`jax.random.PRNGKey`).
    Checked on shapes and dtypes only, so it also works while tracing."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key) and key.shape == ():
        return
    if dtype == jnp.uint32 and getattr(key, "shape", None) == (2,):
        return
    raise TypeError(
        f"{name} must be one PRNG key (jax.random.key(seed)); for several seeds, jax.vmap over "
        f"jax.random.split(key, n). Got {type(key).__name__} with shape {getattr(key, 'shape', None)} "
        f"and dtype {dtype}"
    )


def check_config(config: PPOConfig) -> PPOConfig:
    """Raise a ValueError/TypeError naming the field unless `config` is usable.
    Called eagerly by `make_ppo`/`make_train`, before anything is traced."""
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a PPOConfig, got {type(config).__name__}")
    if config.loss not in LOSSES:
        raise ValueError(f"PPOConfig.loss must be one of {LOSSES}, got {config.loss!r}")
    for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches", "eval_episodes"):
        _positive_int(getattr(config, name), name)
    _positive_int(config.total_timesteps, "total_timesteps")
    _positive_int(config.eval_every, "eval_every", allow_zero=True)
    if config.batch_size % config.num_minibatches:
        raise ValueError(
            f"PPOConfig.num_minibatches={config.num_minibatches} must divide the batch size "
            f"num_envs * num_steps = {config.num_envs} * {config.num_steps} = {config.batch_size}"
        )
    if config.total_timesteps < config.batch_size:
        raise ValueError(
            f"PPOConfig.total_timesteps={config.total_timesteps} is less than one batch "
            f"(num_envs * num_steps = {config.batch_size})"
        )
    if _real(config.learning_rate, "learning_rate") <= 0:
        raise ValueError(f"PPOConfig.learning_rate must be positive, got {config.learning_rate}")
    for name in ("gamma", "gae_lambda"):
        v = _real(getattr(config, name), name)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"PPOConfig.{name} must be in [0, 1], got {v}")
    if not 0.0 < _real(config.clip_eps, "clip_eps") < 1.0:
        raise ValueError(f"PPOConfig.clip_eps must be in the open interval (0, 1), got {config.clip_eps}")
    if _real(config.kl_coef, "kl_coef") < 0:
        raise ValueError(f"PPOConfig.kl_coef must be non-negative, got {config.kl_coef}")
    if config.adaptive_kl and config.loss == "kl_penalty" and config.kl_coef == 0:
        raise ValueError("PPOConfig.kl_coef must be positive when adaptive_kl=True (0 stays 0 when doubled)")
    if _real(config.kl_target, "kl_target") <= 0:
        raise ValueError(f"PPOConfig.kl_target must be positive, got {config.kl_target}")
    for name in ("vf_coef", "ent_coef"):
        if _real(getattr(config, name), name) < 0:
            raise ValueError(f"PPOConfig.{name} must be non-negative, got {getattr(config, name)}")
    if _real(config.max_grad_norm, "max_grad_norm") <= 0:
        raise ValueError(
            f"PPOConfig.max_grad_norm must be positive (math.inf switches clipping off), got {config.max_grad_norm}"
        )
    hidden = tuple(config.hidden)
    for i, h in enumerate(hidden):
        _positive_int(h, f"hidden[{i}]")
    return config._replace(hidden=hidden)


# ---------------------------------------------------------------------------
# The two policy objectives (both maximised), on flat batches of samples.
# ---------------------------------------------------------------------------


def importance_ratio(
    log_prob: Float[Array, " B"], old_log_prob: Float[Array, " B"]
) -> Float[Array, " B"]:
    """`r_h = π_θ(a_h|s_h) / π^k(a_h|s_h)`, from log-probabilities."""
    return jnp.exp(log_prob - old_log_prob)


def clipped_surrogate(
    ratio: Float[Array, "*B"], advantage: Float[Array, "*B"], clip_eps: float = 0.2
) -> Float[Array, "*B"]:
    """Per-sample clipped surrogate `min(r A, clip(r, 1−ε, 1+ε) A)` (Schulman et al. 2017).

    For `A > 0` it equals `r A` up to `r = 1+ε` and is flat beyond; for `A < 0`
    it equals `r A` down to `r = 1−ε` and is flat below.
    """
    return jnp.minimum(ratio * advantage, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantage)


def ppo_clip_objective(
    log_prob: Float[Array, " B"],
    old_log_prob: Float[Array, " B"],
    advantage: Float[Array, " B"],
    clip_eps: float = 0.2,
) -> Float[Array, ""]:
    """Sample mean of the clipped surrogate over a batch of `(s_h, a_h)` drawn from `π^k`."""
    return jnp.mean(clipped_surrogate(importance_ratio(log_prob, old_log_prob), advantage, clip_eps))


def kl_penalty_objective(
    log_prob: Float[Array, " B"],
    old_log_prob: Float[Array, " B"],
    advantage: Float[Array, " B"],
    kl_coef: float | Float[Array, ""],
) -> Float[Array, ""]:
    """The chapter's KL-penalised surrogate, per sample:
    `mean_h [π_θ(a_h|s_h)/π^k(a_h|s_h) · A_h + λ log π_θ(a_h|s_h)]`.

    `λ log π_θ` is `−λ KL(ρ_{π^k} ‖ ρ_{π_θ})` up to a constant in `θ`, estimated
    on samples from `π^k` (the chapter's ℓ^k(θ) divided by H).
    """
    ratio = importance_ratio(log_prob, old_log_prob)
    return jnp.mean(ratio * advantage + kl_coef * log_prob)


def adaptive_kl_coef(
    kl_coef: Float[Array, ""], kl: Float[Array, ""], kl_target: float
) -> Float[Array, ""]:
    """Schulman et al. (2017)'s rule: halve the coefficient when the measured KL
    is below `kl_target/1.5`, double it when above `1.5 * kl_target`, else keep it."""
    return jnp.where(
        kl < kl_target / 1.5, kl_coef / 2, jnp.where(kl > kl_target * 1.5, kl_coef * 2, kl_coef)
    )


# ---------------------------------------------------------------------------
# Generalised advantage estimation (eq-gae in the book), with time limits.
# ---------------------------------------------------------------------------


def gae(
    rewards: Float[Array, "T *N"],
    values: Float[Array, "T *N"],
    next_values: Float[Array, "T *N"],
    terminated: Bool[Array, "T *N"],
    done: Bool[Array, "T *N"],
    gamma: float,
    gae_lambda: float,
) -> tuple[Float[Array, "T *N"], Float[Array, "T *N"]]:
    """GAE advantages (eq-gae, `utils.estimators.gae`) for time-major rollouts, and
    the value targets `A + V`.

    `next_values` are the values of the states the actions led to (before any
    reset), so the estimate bootstraps at a time-limit truncation but not at a
    termination, and is cut at every episode end (`done`) and after the last step.
    """
    time_last = lambda x: jnp.moveaxis(jnp.asarray(x), 0, -1)  # noqa: E731
    advantages = estimators.gae(
        *map(time_last, (rewards, values, next_values, terminated, done)), gamma, gae_lambda
    )
    advantages = jnp.moveaxis(advantages, -1, 0)
    return advantages, advantages + values


# ---------------------------------------------------------------------------
# The update: epochs of minibatch gradient steps on a fixed batch.
# ---------------------------------------------------------------------------


class Transition(NamedTuple):
    """One environment step of the rollout, as stored for the update (leading axes "T N")."""

    obs: Float[Array, "*B obs_dim"]
    action: Int[Array, "*B"]
    log_prob: Float[Array, "*B"]  # log π^k(a|s), the behaviour policy's
    logits: Float[Array, "*B A"]  # π^k's logits, for the exact KL of the adaptive rule
    reward: Float[Array, "*B"]
    terminated: Bool[Array, "*B"]
    done: Bool[Array, "*B"]  # terminated or truncated
    final_obs: Float[Array, "*B obs_dim"]  # the observation the action led to, before auto-reset


class Batch(NamedTuple):
    """What the loss needs, one row per sample (leading axis "B"): the rollout,
    flattened over time and environments, with its advantages and value targets."""

    obs: Float[Array, "B obs_dim"]
    action: Int[Array, " B"]
    old_log_prob: Float[Array, " B"]  # log π^k(a|s)
    advantage: Float[Array, " B"]
    target: Float[Array, " B"]  # value target A + V
    old_value: Float[Array, " B"]  # V(s) under the critic that collected the batch


def ppo_epochs(
    params: Any,
    opt_state: optax.OptState,
    batch: Any,
    key: PRNGKeyArray,
    loss_fn: Callable[[Any, Any], tuple[Float[Array, ""], Any]],
    optimizer: optax.GradientTransformation,
    num_epochs: int,
    num_minibatches: int,
):
    """`num_epochs` passes over `batch` (a pytree with leading axis "B"), each a
    fresh shuffle split into `num_minibatches` minibatches, one optimiser step
    on `loss_fn(params, minibatch) -> (loss, aux)` per minibatch.

    Returns `(params, opt_state, aux)` with `aux` stacked over "epochs minibatches".
    With `num_minibatches=1` and `optax.sgd(η)` this is plain gradient descent
    on the loss: `num_epochs` steps `θ ← θ − η ∇loss(θ)`.
    """
    batch_size = jax.tree_util.tree_leaves(batch)[0].shape[0]
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        (_, aux), grads = grad_fn(params, minibatch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), aux

    def epoch(carry, perm):
        if num_minibatches == 1:
            minibatches = jax.tree_util.tree_map(lambda x: x[None], batch)
        else:
            minibatches = jax.tree_util.tree_map(
                lambda x: x[perm].reshape(num_minibatches, -1, *x.shape[1:]), batch
            )
        return jax.lax.scan(minibatch_step, carry, minibatches)

    # A fresh shuffle per epoch: the ranks of uniform noise, drawn for all epochs at once.
    perms = jnp.argsort(jax.random.uniform(key, (num_epochs, batch_size)), axis=-1)
    (params, opt_state), aux = jax.lax.scan(epoch, (params, opt_state), perms)
    return params, opt_state, aux


# ---------------------------------------------------------------------------
# The agent: actor-critic, rollout, update, evaluation, training loop.
# ---------------------------------------------------------------------------


class ActorCriticParams(NamedTuple):
    """The policy `π_θ` (logits MLP, `utils.policies.mlp_softmax`) and the value baseline `V_φ`."""

    actor: Any
    critic: Any


class TrainState(NamedTuple):
    """Everything that changes during training: a pytree, carried by `lax.scan`."""

    params: ActorCriticParams
    opt_state: optax.OptState
    env_state: Any  # the environments' states, leading axis "N"
    obs: Float[Array, "N obs_dim"]
    episode_return: Float[Array, " N"]  # running return of each environment's current episode
    kl_coef: Float[Array, ""]  # λ (β) of the KL-penalty form; unused by the clipped form
    key: PRNGKeyArray
    update: Int[Array, ""]  # number of PPO iterations done


class UpdateMetrics(NamedTuple):
    """Per PPO iteration. `episode_return` is the mean return of the training
    episodes that ended during this rollout (NaN if none did)."""

    episode_return: Float[Array, ""]
    episodes: Int[Array, ""]
    objective: Float[Array, ""]  # the policy objective (clipped surrogate or ℓ^k/H), last epoch mean
    value_loss: Float[Array, ""]
    entropy: Float[Array, ""]
    kl: Float[Array, ""]  # mean exact KL(π^k(·|s) ‖ π^{k+1}(·|s)) over the batch's states
    kl_coef: Float[Array, ""]  # the coefficient used in this iteration


class TrainOutput(NamedTuple):
    """What `train(key)` returns. `eval_return` has one entry per `eval_every`
    updates (shape "0" when `eval_every=0`); `metrics` has leading axis "num_updates"."""

    state: TrainState
    metrics: UpdateMetrics
    eval_return: Float[Array, " E"]


class PPO(NamedTuple):
    """The pure pieces of a PPO run, from `make_ppo`."""

    config: PPOConfig
    env: Environment
    init: Callable[[PRNGKeyArray], TrainState]
    update: Callable[[TrainState], tuple[TrainState, UpdateMetrics]]
    evaluate: Callable[[ActorCriticParams, PRNGKeyArray], Float[Array, ""]]
    logits: Callable[[Any, Float[Array, "*B obs_dim"]], Float[Array, "*B A"]]
    value: Callable[[Any, Float[Array, "*B obs_dim"]], Float[Array, "*B"]]
    loss: Callable[..., tuple[Float[Array, ""], Any]]


def make_ppo(config: PPOConfig = PPOConfig(), env: Environment | None = None) -> PPO:
    """Build the pure functions of a PPO run on `env` (default: JAX CartPole-v1).

    `update(state)` is one PPO iteration: roll out `num_steps` steps in each of
    `num_envs` environments with `π^k`, compute GAE advantages, then run
    `ppo_epochs` on the joint loss `−objective + vf_coef·value_loss − ent_coef·entropy`
    with Adam (and gradient clipping), and adapt λ when `adaptive_kl`.
    """
    config = check_config(config)
    env = make("CartPole-v1") if env is None else env
    if not isinstance(env, Environment):
        raise TypeError(f"env must be a utils.envs.Environment (e.g. make('CartPole-v1')), got {type(env).__name__}")
    c = config
    actor = mlp_softmax(env.obs_dim, env.n_actions, c.hidden)
    critic_sizes = (env.obs_dim, *c.hidden, 1)
    max_steps = int(getattr(env.params, "max_episode_steps", 500))
    n_grad_steps = c.num_updates * c.update_epochs * c.num_minibatches

    # trick: linear learning-rate annealing (CleanRL `anneal_lr`).
    lr = optax.linear_schedule(c.learning_rate, 0.0, n_grad_steps) if c.anneal_lr else c.learning_rate
    transforms = [optax.adam(lr, eps=1e-5)]
    if math.isfinite(c.max_grad_norm):
        transforms.insert(0, optax.clip_by_global_norm(c.max_grad_norm))  # trick: gradient clipping
    # One flat parameter vector for the optimiser: the same Adam, compiled once instead of per layer.
    optimizer = optax.flatten(optax.chain(*transforms))

    def logits_fn(actor_params, obs):
        return actor.dist(actor_params, obs)

    def value_fn(critic_params, obs):
        return mlp_apply(critic_params, obs)[..., 0]

    actor_sizes = (env.obs_dim, *c.hidden, env.n_actions)
    layer_shapes = [(m, n) for m, n in zip(actor_sizes[:-1], actor_sizes[1:])]
    layer_shapes += [(m, n) for m, n in zip(critic_sizes[:-1], critic_sizes[1:])]
    n_weights = sum(m * n for m, n in layer_shapes)

    def init_params(key: PRNGKeyArray) -> ActorCriticParams:
        # The initialisation of `utils.policies.mlp_init` (LeCun normal weights, zero
        # biases; the policy's last layer at 1% scale so it starts near uniform), drawn
        # as one normal vector: every `jax.random` call compiles its own copy of the
        # generator, and compile time is most of a short CartPole run.
        noise = jax.random.normal(key, (n_weights,), jnp.float32)
        n_actor = len(actor_sizes) - 1
        layers, start = [], 0
        for i, (m, n) in enumerate(layer_shapes):
            scale = 0.01 if i == n_actor - 1 else 1.0
            W = scale * noise[start : start + m * n].reshape(m, n) / math.sqrt(m)
            layers.append((W, jnp.zeros((n,), jnp.float32)))
            start += m * n
        return ActorCriticParams(tuple(layers[:n_actor]), tuple(layers[n_actor:]))

    def init(key: PRNGKeyArray) -> TrainState:
        _check_key(key)
        key, params_key, env_key = jax.random.split(key, 3)
        params = init_params(params_key)
        env_state, obs = jax.vmap(env.reset)(jax.random.split(env_key, c.num_envs))
        return TrainState(
            params=params,
            opt_state=optimizer.init(params),
            env_state=env_state,
            obs=obs,
            episode_return=jnp.zeros(c.num_envs, jnp.float32),
            kl_coef=jnp.asarray(c.kl_coef, jnp.float32),
            key=key,
            update=jnp.zeros((), jnp.int32),
        )

    def loss(params: ActorCriticParams, minibatch, kl_coef):
        mb = minibatch
        logits = logits_fn(params.actor, mb.obs)
        log_probs = jax.nn.log_softmax(logits)
        log_prob = jnp.take_along_axis(log_probs, mb.action[:, None], axis=-1)[:, 0]
        advantage = mb.advantage
        if c.norm_adv:  # trick: advantage normalisation (per minibatch, as in CleanRL)
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        if c.loss == "clip":
            objective = ppo_clip_objective(log_prob, mb.old_log_prob, advantage, c.clip_eps)
        else:
            objective = kl_penalty_objective(log_prob, mb.old_log_prob, advantage, kl_coef)
        value = value_fn(params.critic, mb.obs)
        value_loss = (value - mb.target) ** 2
        if c.clip_vloss:  # trick: clipped value loss (PPO2), the value moves at most ε per update
            clipped = mb.old_value + jnp.clip(value - mb.old_value, -c.clip_eps, c.clip_eps)
            value_loss = jnp.maximum(value_loss, (clipped - mb.target) ** 2)
        value_loss = 0.5 * jnp.mean(value_loss)
        entropy = -jnp.mean(jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1))
        total = -objective + c.vf_coef * value_loss
        if c.ent_coef:  # trick: entropy bonus
            total = total - c.ent_coef * entropy
        return total, (objective, value_loss, entropy)

    def env_step(carry, gumbel):
        actor_params, env_state, obs, episode_return = carry
        logits = logits_fn(actor_params, obs)
        # a ~ softmax(logits) by the Gumbel-max trick (what `jax.random.categorical`
        # does), with the noise for the whole rollout drawn once, before the scan.
        action = jnp.argmax(logits + gumbel, axis=-1)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
        ts = jax.vmap(env.step)(env_state, action)
        done = ts.terminated | ts.truncated
        episode_return = episode_return + ts.reward
        finished = jnp.where(done, episode_return, 0.0)
        transition = Transition(
            obs, action, log_prob, logits, ts.reward, ts.terminated, done, ts.final_obs
        )
        carry = (actor_params, ts.state, ts.obs, jnp.where(done, 0.0, episode_return))
        return carry, (transition, finished)

    def update(state: TrainState) -> tuple[TrainState, UpdateMetrics]:
        key, rollout_key, epoch_key = jax.random.split(state.key, 3)
        carry = (state.params.actor, state.env_state, state.obs, state.episode_return)
        gumbel = jax.random.gumbel(rollout_key, (c.num_steps, c.num_envs, env.n_actions))
        (_, env_state, obs, episode_return), (traj, finished) = jax.lax.scan(env_step, carry, gumbel)
        # Values are computed once for the whole rollout, not inside the step loop.
        values = value_fn(state.params.critic, traj.obs)
        next_values = value_fn(state.params.critic, traj.final_obs)
        advantages, targets = gae(
            traj.reward, values, next_values, traj.terminated, traj.done, c.gamma, c.gae_lambda
        )
        # Only what the loss reads is shuffled into minibatches (each field is a gather).
        batch = Batch(traj.obs, traj.action, traj.log_prob, advantages, targets, values)
        batch = jax.tree_util.tree_map(lambda x: x.reshape(c.batch_size, *x.shape[2:]), batch)
        params, opt_state, (objective, value_loss, entropy) = ppo_epochs(
            state.params,
            state.opt_state,
            batch,
            epoch_key,
            lambda p, mb: loss(p, mb, state.kl_coef),
            optimizer,
            c.update_epochs,
            c.num_minibatches,
        )
        kl = jnp.mean(categorical_kl(traj.logits, logits_fn(params.actor, traj.obs)))
        kl_coef = state.kl_coef
        if c.loss == "kl_penalty" and c.adaptive_kl:
            kl_coef = adaptive_kl_coef(kl_coef, kl, c.kl_target)
        episodes = jnp.sum(traj.done)
        metrics = UpdateMetrics(
            episode_return=jnp.sum(finished) / episodes,
            episodes=episodes,
            objective=objective[-1].mean(),
            value_loss=value_loss[-1].mean(),
            entropy=entropy[-1].mean(),
            kl=kl,
            kl_coef=state.kl_coef,
        )
        new_state = TrainState(
            params, opt_state, env_state, obs, episode_return, kl_coef, key, state.update + 1
        )
        return new_state, metrics

    def evaluate(params: ActorCriticParams, key: PRNGKeyArray) -> Float[Array, ""]:
        """Mean undiscounted return over `eval_episodes` fresh episodes (one
        `max_episode_steps` scan, vmapped over episodes, with done masks)."""
        gumbel = None
        if not c.eval_greedy:
            key, noise_key = jax.random.split(key)
            gumbel = jax.random.gumbel(noise_key, (max_steps, c.eval_episodes, env.n_actions))
        env_state, obs = jax.vmap(env.reset)(jax.random.split(key, c.eval_episodes))

        def step(carry, gumbel):
            env_state, obs, alive, total = carry
            logits = logits_fn(params.actor, obs)
            action = jnp.argmax(logits if gumbel is None else logits + gumbel, axis=-1)
            ts = jax.vmap(env.step)(env_state, action)
            total = total + alive * ts.reward
            alive = alive & ~(ts.terminated | ts.truncated)
            return (ts.state, ts.obs, alive, total), None

        init_carry = (env_state, obs, jnp.ones(c.eval_episodes, bool), jnp.zeros(c.eval_episodes))
        (_, _, _, total), _ = jax.lax.scan(step, init_carry, gumbel, length=max_steps)
        return jnp.mean(total)

    return PPO(c, env, init, update, evaluate, logits_fn, value_fn, loss)


def make_train(
    config: PPOConfig = PPOConfig(),
    env: Environment | None = None,
    on_eval: Callable[[Int[Array, ""], Float[Array, ""]], None] | None = None,
) -> Callable[[PRNGKeyArray], TrainOutput]:
    """PureJaxRL's `make_train`: returns `train(key) -> TrainOutput`, the whole
    run (`config.num_updates` PPO iterations, evaluated every `eval_every`) as
    one pure function to `jax.jit` (and `jax.vmap` over keys for seeds).

    `on_eval(update, eval_return)`, if given, is called from inside the
    compiled run (`jax.debug.callback`) as each evaluation finishes, e.g. to
    print progress or to time the run (`benchmarks/ppo_cartpole.py`).
    """
    ppo = make_ppo(config, env)
    c = ppo.config
    if on_eval is not None and not callable(on_eval):
        raise TypeError(f"on_eval must be a function (update, eval_return) -> None, got {type(on_eval).__name__}")
    if on_eval is not None and not c.eval_every:
        raise ValueError("on_eval needs evaluations: set PPOConfig.eval_every to a positive int")
    chunk = c.eval_every if c.eval_every else c.num_updates
    n_chunks, rest = divmod(c.num_updates, chunk)

    def train(key: PRNGKeyArray) -> TrainOutput:
        _check_key(key)
        init_key, eval_key = jax.random.split(key)
        state = ppo.init(init_key)

        def run_chunk(state, chunk_key):
            state, metrics = jax.lax.scan(lambda s, _: ppo.update(s), state, None, length=chunk)
            eval_return = ppo.evaluate(state.params, chunk_key) if c.eval_every else jnp.zeros(())
            if on_eval is not None:
                jax.debug.callback(on_eval, state.update, eval_return)
            return state, (metrics, eval_return)

        state, (metrics, eval_return) = jax.lax.scan(
            run_chunk, state, jax.random.split(eval_key, n_chunks)
        )
        metrics = jax.tree_util.tree_map(lambda x: x.reshape(-1, *x.shape[2:]), metrics)
        if rest:
            state, last = jax.lax.scan(lambda s, _: ppo.update(s), state, None, length=rest)
            metrics = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), metrics, last)
        if not c.eval_every:
            eval_return = jnp.zeros((0,))
        return TrainOutput(state, metrics, eval_return)

    return train
