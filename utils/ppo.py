"""Proximal policy optimisation (Schulman et al. 2017), in the PureJaxRL shape.

Read top to bottom: the config, the objectives (the clipped surrogate, the
chapter's KL-penalty form and, for comparison, the unclipped surrogate), the
adaptive KL rule, generalised advantage estimation, the minibatch-epoch update,
and the training loop. The forms share everything except the policy objective
(`PPOConfig.loss`).

    config = PPOConfig(loss="clip")                 # or loss="kl_penalty", "unclipped"
    train = jax.jit(make_train(config))
    out = train(jax.random.key(0))                  # the whole run is one jit
    outs = train_seeds(jax.random.key(0), 3, config)  # seeds, sharded over the devices

`make_train(config, on_eval=f)` calls `f(update, eval_return)` from inside
the compiled run after each evaluation (progress, timing). For a loop of your
own (e.g. training in chunks), `make_ppo(config)` gives the pure pieces:
`init(key)`, `update(state)` (one PPO iteration: rollout, GAE, epochs of
minibatch gradient steps) and `evaluate(params, key)`.

`kl_penalty_objective` is the chapter's ℓ^k(θ) per sample (divided by H), with
the per-state KL as penalty; `sampled_kl_penalty_objective` is the sampled form
that does not keep π_θ near π^k (`one_state_maximiser` shows why);
`utils.pseudocode.ppo` is the chapter's readable `ppo`, tested against it.

The policy is a tanh MLP: over the logits of a softmax for discrete actions
(as `utils.policies.mlp_softmax`), over the mean of a diagonal Gaussian with a
learned state-independent log σ (initially `init_log_std`) for `Box` actions
(`utils.distributions`; the environment clips the sample to its bounds and the
loss scores the sample as drawn). The value baseline is a separate tanh MLP of
the same widths. The same `make_train` trains both:

    make_train(PENDULUM_CONFIG, env=make("Pendulum-v1"))   # the settings that learn Pendulum

Every trick that is not in the chapter's equations is named in a comment and
can be switched off in `PPOConfig`: advantage normalisation, clipped value
loss, entropy bonus, gradient-norm clipping, learning-rate annealing, target-KL
early stopping, reward scaling, greedy evaluation. Each update logs, as CleanRL does, the approximate KL
`mean((w − 1) − log w)` and the clip fraction `mean(|w − 1| > ε)`, and also the
exact per-state KL and the largest ratio after the update.
"""
from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import checks, distributions, estimators, seeds, validate
from utils.envs import Environment, make
from utils.kl import categorical_kl
from utils.policies import mlp_apply

__all__ = [
    "PPOConfig",
    "PENDULUM_CONFIG",
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
    "sampled_kl_penalty_objective",
    "unclipped_objective",
    "approx_kl",
    "clip_fraction",
    "categorical_kl",
    "adaptive_kl_coef",
    "in_kl_band",
    "gae",
    "ppo_epochs",
    "check_config",
    "make_ppo",
    "make_train",
    "train_seeds",
    "ONE_STATE_PI_K",
    "ONE_STATE_ACTIONS",
    "ONE_STATE_ADVANTAGES",
    "one_state_maximiser",
    "penalty_maximiser",
    "check_penalty_keeps_policy_near",
    "CHAPTER_BUDGET",
    "STRESS_BUDGET",
    "kl_penalty_runs",
    "stress_runs",
    "final_return",
    "check_holds_under_stress",
    "check_early_stopping",
    "check_adaptive_band",
]


# ---------------------------------------------------------------------------
# Config: one NamedTuple; the defaults solve CartPole-v1 (greedy return >= 475)
# within about 5e4 env steps for most seeds, and stay there to the end of the budget.
# ---------------------------------------------------------------------------


class PPOConfig(NamedTuple):
    """Hyperparameters. One PPO iteration collects `num_steps` steps from each
    of `num_envs` environments, then takes `update_epochs` passes over that
    batch in `num_minibatches` minibatches."""

    loss: str = "clip"  # "clip": clipped surrogate; "kl_penalty": the chapter's ℓ^k(θ); "unclipped": neither
    num_envs: int = 32
    num_steps: int = 16
    total_timesteps: int = 262_144
    update_epochs: int = 4
    num_minibatches: int = 2
    learning_rate: float = 3e-3
    anneal_lr: bool = True  # trick: linear learning-rate decay to 0 (not in the chapter)
    gamma: float = 0.99  # discount of the GAE returns (the chapter's H-step sum has γ = 1)
    gae_lambda: float = 0.95  # λ of generalised advantage estimation
    clip_eps: float = 0.2  # ε of the clipped surrogate (also the threshold of the logged clip fraction)
    kl_coef: float = 1.0  # β of the chapter's penalty (Schulman et al. 2017); initial value if adaptive
    adaptive_kl: bool = True  # halve/double β when the KL is below/above the target band (kl_penalty only)
    kl_target: float = 0.01  # d_targ of the adaptive rule
    # trick: target-KL early stopping (CleanRL `target_kl`): end the update's epochs after the
    # first epoch whose last minibatch had approx_kl > target_kl. None (CleanRL's default): off.
    target_kl: float | None = None
    vf_coef: float = 0.5  # weight of the value loss in the joint loss
    ent_coef: float = 0.0  # trick: entropy bonus (not in the chapter's objective)
    max_grad_norm: float = 0.5  # trick: global gradient-norm clipping; math.inf switches it off
    norm_adv: bool = True  # trick: advantage normalisation per minibatch
    clip_vloss: bool = False  # trick: clipped value loss (PPO2 / CleanRL)
    hidden: tuple[int, ...] = (64, 64)
    init_log_std: float = 0.0  # log σ_0 of a Gaussian policy (Box actions): σ_0 = 1
    reward_scale: float = 1.0  # trick: rewards times this constant in the advantages and value targets (1: off)
    eval_every: int = 0  # evaluate every this many updates inside `train` (0: never)
    eval_episodes: int = 32
    eval_greedy: bool = True  # trick: evaluate the greedy policy (argmax, or the Gaussian's mean), not the stochastic one

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size


LOSSES = ("clip", "kl_penalty", "unclipped")

# Pendulum-v1 (a continuous torque): 64 environments × 64 steps per iteration, 5 epochs of 32
# minibatches, Adam at 2e-3 annealed, γ = 0.95 (Pendulum's reward is immediate: the optimum
# looks a few seconds ahead), rewards scaled by 0.1 (they reach −16 a step). After 60
# iterations (245 760 steps) the mean action's return, over 512 fresh episodes, was between
# about −155 and −190 for seeds 0–2 (key 0 split three ways; where in that range a seed ends
# depends on the CPU's rounding); 10 epochs at 1e-3, or 100 iterations, did no better. The
# optimum is near −140.
PENDULUM_CONFIG = PPOConfig(num_envs=64, num_steps=64, total_timesteps=64 * 64 * 60, update_epochs=5,
                            num_minibatches=32, learning_rate=2e-3, gamma=0.95, reward_scale=0.1, eval_every=10)


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
    if config.target_kl is not None and _real(config.target_kl, "target_kl") <= 0:
        raise ValueError(f"PPOConfig.target_kl must be positive (None switches early stopping off), got {config.target_kl}")
    for name in ("vf_coef", "ent_coef"):
        if _real(getattr(config, name), name) < 0:
            raise ValueError(f"PPOConfig.{name} must be non-negative, got {getattr(config, name)}")
    if _real(config.max_grad_norm, "max_grad_norm") <= 0:
        raise ValueError(
            f"PPOConfig.max_grad_norm must be positive (math.inf switches clipping off), got {config.max_grad_norm}"
        )
    if not math.isfinite(_real(config.init_log_std, "init_log_std")):
        raise ValueError(f"PPOConfig.init_log_std must be finite, got {config.init_log_std}")
    if not 0 < _real(config.reward_scale, "reward_scale") < math.inf:
        raise ValueError(f"PPOConfig.reward_scale must be positive and finite (1 switches scaling off), got {config.reward_scale}")
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
    """The ratio `w_h(θ) = π_θ(a_h|s_h) / π^k(a_h|s_h)`, from log-probabilities."""
    validate.check_same_shape(("log_prob", validate.as_float_array("log_prob", log_prob)),
                              ("old_log_prob", validate.as_float_array("old_log_prob", old_log_prob)))
    return jnp.exp(log_prob - old_log_prob)


def clipped_surrogate(
    ratio: Float[Array, "*B"], advantage: Float[Array, "*B"], clip_eps: float = 0.2
) -> Float[Array, "*B"]:
    """Per-sample clipped surrogate `min(w A, clip(w, 1−ε, 1+ε) A)` (eq-ppo-clip; Schulman et al. 2017).

    For `A > 0` it equals `w A` up to `w = 1+ε` and is flat beyond; for `A < 0`
    it equals `w A` down to `w = 1−ε` and is flat below.
    """
    ratio, advantage = validate.as_float_array("ratio", ratio), validate.as_float_array("advantage", advantage)
    validate.check_broadcastable(("ratio", ratio), ("advantage", advantage))
    validate.check_in_range("clip_eps", clip_eps, 0.0, 1.0, inclusive=False)
    return jnp.minimum(ratio * advantage, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantage)


def ppo_clip_objective(
    log_prob: Float[Array, " B"],
    old_log_prob: Float[Array, " B"],
    advantage: Float[Array, " B"],
    clip_eps: float = 0.2,
) -> Float[Array, ""]:
    """Sample mean of the clipped surrogate (eq-ppo-clip) over a batch of `(s_h, a_h)` drawn from `π^k`."""
    validate.check_same_shape(("log_prob", validate.as_float_array("log_prob", log_prob)),
                              ("old_log_prob", validate.as_float_array("old_log_prob", old_log_prob)),
                              ("advantage", validate.as_float_array("advantage", advantage)))
    validate.check_in_range("clip_eps", clip_eps, 0.0, 1.0, inclusive=False)
    return jnp.mean(clipped_surrogate(importance_ratio(log_prob, old_log_prob), advantage, clip_eps))


def _log_prob_of(logits: Float[Array, "B A"], action: Int[Array, " B"]) -> Float[Array, " B"]:
    return jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]


def _check_penalty_args(logits, old_logits, action, advantage, kl_coef) -> None:
    """The penalty objectives' arguments: logits (B, A), actions and advantages (B,), β ≥ 0."""
    dims = {}
    validate.as_float_array("logits", logits, "B A", dims)
    validate.as_float_array("old_logits", old_logits, "B A", dims)
    validate.as_int_array("action", action, "B", dims)
    validate.as_float_array("advantage", advantage, "B", dims)
    validate.check_in_range("kl_coef", kl_coef, 0.0, None)


def kl_penalty_objective(
    logits: Float[Array, "B A"],
    old_logits: Float[Array, "B A"],
    action: Int[Array, " B"],
    advantage: Float[Array, " B"],
    kl_coef: float | Float[Array, ""],
) -> Float[Array, ""]:
    """The chapter's KL-penalised surrogate ℓ^k(θ) (eq-ppo-kl-objective) divided by H, per sample:
    `mean_h [w_h(θ) A_h − β KL(π^k(·|s_h) ‖ π_θ(·|s_h))]`.

    The penalty is the per-state KL (eq-trpo-kl-states), summed over the actions
    exactly, as in Schulman et al. (2017). On any batch it is minimised by
    `π_θ(·|s_h) = π^k(·|s_h)` at every visited state, so a large β keeps the new
    policy near `π^k` however many epochs are taken. (Its expectation equals that
    of the sampled log-ratio; the sampled form, `sampled_kl_penalty_objective`,
    does not have this property.) `logits`/`old_logits` are those of `π_θ`/`π^k`
    at the sampled states.
    """
    _check_penalty_args(logits, old_logits, action, advantage, kl_coef)
    ratio = importance_ratio(_log_prob_of(logits, action), _log_prob_of(old_logits, action))
    return jnp.mean(ratio * advantage - kl_coef * categorical_kl(old_logits, logits))


def sampled_kl_penalty_objective(
    logits: Float[Array, "B A"],
    old_logits: Float[Array, "B A"],
    action: Int[Array, " B"],
    advantage: Float[Array, " B"],
    kl_coef: float | Float[Array, ""],
) -> Float[Array, ""]:
    """The penalty with the KL replaced by its sampled log-ratio (a wrong form, kept to show why):
    `mean_h [w_h(θ) A_h + β log π_θ(a_h|s_h)]`, which is `mean_h [w_h A_h − β log(π^k/π_θ)(a_h|s_h)]`
    up to a constant in θ.

    It has the same expectation as `kl_penalty_objective` (up to that constant) and
    the same expected gradient at θ^k, but on a batch its penalty term is a
    maximum-likelihood fit to the sampled actions: in a state visited n times it
    is maximised by the empirical frequencies of the actions taken there, whatever
    β is (`one_state_maximiser`). A large β then pulls `π_θ` towards those
    frequencies, not towards `π^k`. Same signature as `kl_penalty_objective`.
    """
    _check_penalty_args(logits, old_logits, action, advantage, kl_coef)
    log_prob = _log_prob_of(logits, action)
    ratio = importance_ratio(log_prob, _log_prob_of(old_logits, action))
    return jnp.mean(ratio * advantage + kl_coef * log_prob)


def unclipped_objective(
    log_prob: Float[Array, " B"], old_log_prob: Float[Array, " B"], advantage: Float[Array, " B"]
) -> Float[Array, ""]:
    """`mean_h w_h(θ) A_h`: the importance-sampled surrogate of TRPO (eq-trpo-importance-surrogate)
    with neither clip nor penalty (`loss="unclipped"`; the penalty form with β = 0)."""
    validate.check_same_shape(("log_prob", validate.as_float_array("log_prob", log_prob)),
                              ("old_log_prob", validate.as_float_array("old_log_prob", old_log_prob)),
                              ("advantage", validate.as_float_array("advantage", advantage)))
    return jnp.mean(importance_ratio(log_prob, old_log_prob) * advantage)


def approx_kl(log_prob: Float[Array, " B"], old_log_prob: Float[Array, " B"]) -> Float[Array, ""]:
    """CleanRL's `approx_kl`: `mean((w − 1) − log w)` over the batch, an estimate of
    `KL(π^k ‖ π_θ)` on samples from `π^k` that is non-negative term by term
    (Schulman's "k3" estimator, http://joschu.net/blog/kl-approx.html)."""
    validate.check_same_shape(("log_prob", validate.as_float_array("log_prob", log_prob)),
                              ("old_log_prob", validate.as_float_array("old_log_prob", old_log_prob)))
    log_ratio = log_prob - old_log_prob
    return jnp.mean(jnp.expm1(log_ratio) - log_ratio)


def clip_fraction(
    log_prob: Float[Array, " B"], old_log_prob: Float[Array, " B"], clip_eps: float
) -> Float[Array, ""]:
    """CleanRL's `clipfrac`: the share of samples with `|w_h(θ) − 1| > ε`."""
    validate.check_in_range("clip_eps", clip_eps, 0.0, None)
    return jnp.mean(jnp.abs(importance_ratio(log_prob, old_log_prob) - 1.0) > clip_eps)


def adaptive_kl_coef(
    kl_coef: Float[Array, ""], kl: Float[Array, ""], kl_target: float
) -> Float[Array, ""]:
    """Schulman et al. (2017)'s rule (eq-ppo-adaptive-kl): halve β when the measured KL
    is below `kl_target/1.5`, double it when above `1.5 * kl_target`, else keep it."""
    validate.check_broadcastable(("kl_coef", validate.as_float_array("kl_coef", kl_coef)),
                                 ("kl", validate.as_float_array("kl", kl)))
    validate.check_in_range("kl_target", kl_target, 0.0, None, inclusive=(False, True))
    return jnp.where(
        kl < kl_target / 1.5, kl_coef / 2, jnp.where(kl > kl_target * 1.5, kl_coef * 2, kl_coef)
    )


def in_kl_band(kl, kl_target: float):
    """Whether each KL lies in the adaptive rule's band `[d_targ/1.5, 1.5 d_targ]`, where β is kept."""
    kl = validate.as_float_array("kl", kl)
    validate.check_in_range("kl_target", kl_target, 0.0, None, inclusive=(False, True))
    return (kl >= kl_target / 1.5) & (kl <= 1.5 * kl_target)


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
    validate.check_same_shape(*((name, convert(name, x)) for name, x, convert in (
        ("rewards", rewards, validate.as_float_array), ("values", values, validate.as_float_array),
        ("next_values", next_values, validate.as_float_array), ("terminated", terminated, validate.as_bool_array),
        ("done", done, validate.as_bool_array))))
    validate.check_in_range("gamma", gamma, 0.0, 1.0)
    validate.check_in_range("gae_lambda", gae_lambda, 0.0, 1.0)
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
    action: Int[Array, "*B"] | Float[Array, "*B D"]
    log_prob: Float[Array, "*B"]  # log π^k(a|s), the behaviour policy's
    logits: Float[Array, "*B K"]  # π^k's distribution parameters (logits, or [μ, log σ]), for the exact KL
    reward: Float[Array, "*B"]
    terminated: Bool[Array, "*B"]
    done: Bool[Array, "*B"]  # terminated or truncated
    final_obs: Float[Array, "*B obs_dim"]  # the observation the action led to, before auto-reset


class Batch(NamedTuple):
    """What the loss needs, one row per sample (leading axis "B"): the rollout,
    flattened over time and environments, with its advantages and value targets."""

    obs: Float[Array, "B obs_dim"]
    action: Int[Array, " B"] | Float[Array, "B D"]
    old_log_prob: Float[Array, " B"]  # log π^k(a|s)
    old_logits: Float[Array, "B K"]  # π^k(·|s)'s parameters, for the per-state KL of the penalty form
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
    stop: Callable[[Any], Bool[Array, ""]] | None = None,
):
    """`num_epochs` passes over `batch` (a pytree with leading axis "B"), each a
    fresh shuffle split into `num_minibatches` minibatches, one optimiser step
    on `loss_fn(params, minibatch) -> (loss, aux)` per minibatch.

    `stop(aux)`, if given, is evaluated on the `aux` of each epoch (stacked over
    its minibatches) after the epoch; once it is true the remaining epochs leave
    `params` and `opt_state` unchanged (CleanRL's `break`; target-KL early stopping).

    Returns `(params, opt_state, aux, ran)`: `aux` stacked over "epochs minibatches"
    (computed for every epoch, also the skipped ones) and `ran` ("epochs", bool),
    which epochs were applied. With `num_minibatches=1` and `optax.sgd(η)` this is
    plain gradient descent on the loss: `num_epochs` steps `θ ← θ − η ∇loss(θ)`.
    """
    validate.check_key("key", key)
    validate.check_callable("loss_fn", loss_fn)
    if not hasattr(optimizer, "update"):
        raise TypeError(f"`optimizer` must be an optax.GradientTransformation, got {type(optimizer).__name__}")
    validate.check_int("num_epochs", num_epochs, 1)
    validate.check_int("num_minibatches", num_minibatches, 1)
    if stop is not None:
        validate.check_callable("stop", stop)
    leaves = jax.tree_util.tree_leaves(batch)
    if not leaves or any(jnp.ndim(x) == 0 or jnp.shape(x)[0] != jnp.shape(leaves[0])[0] for x in leaves):
        raise ValueError("`batch` must be a pytree of arrays sharing a leading axis B, got leading sizes "
                         f"{[jnp.shape(x)[:1] for x in leaves]}")
    if jnp.shape(leaves[0])[0] % num_minibatches:
        raise ValueError(f"`num_minibatches` = {num_minibatches} must divide the batch size {jnp.shape(leaves[0])[0]}")
    batch_size = jax.tree_util.tree_leaves(batch)[0].shape[0]
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        (_, aux), grads = grad_fn(params, minibatch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), aux

    def epoch(carry, perm):
        params, opt_state, stopped = carry
        if num_minibatches == 1:
            minibatches = jax.tree_util.tree_map(lambda x: x[None], batch)
        else:
            minibatches = jax.tree_util.tree_map(
                lambda x: x[perm].reshape(num_minibatches, -1, *x.shape[1:]), batch
            )
        (new_params, new_opt_state), aux = jax.lax.scan(minibatch_step, (params, opt_state), minibatches)
        if stop is None:
            return (new_params, new_opt_state, stopped), (aux, ~stopped)
        # Once stopped, an epoch is computed (shapes are static under jit) but not applied.
        keep = lambda old, new: jax.tree_util.tree_map(lambda a, b: jnp.where(stopped, a, b), old, new)  # noqa: E731
        params, opt_state = keep(params, new_params), keep(opt_state, new_opt_state)
        return (params, opt_state, stopped | stop(aux)), (aux, ~stopped)

    # A fresh shuffle per epoch: the ranks of uniform noise, drawn for all epochs at once.
    perms = jnp.argsort(jax.random.uniform(key, (num_epochs, batch_size)), axis=-1)
    (params, opt_state, _), (aux, ran) = jax.lax.scan(epoch, (params, opt_state, jnp.array(False)), perms)
    return params, opt_state, aux, ran


# ---------------------------------------------------------------------------
# The agent: actor-critic, rollout, update, evaluation, training loop.
# ---------------------------------------------------------------------------


class ActorCriticParams(NamedTuple):
    """The policy `π_θ` (an MLP's layers; for a Gaussian, `{"mean": layers, "log_std": "D"}`) and the value baseline `V_φ`."""

    actor: Any
    critic: Any


class TrainState(NamedTuple):
    """Everything that changes during training: a pytree, carried by `lax.scan`."""

    params: ActorCriticParams
    opt_state: optax.OptState
    env_state: Any  # the environments' states, leading axis "N"
    obs: Float[Array, "N obs_dim"]
    episode_return: Float[Array, " N"]  # running return of each environment's current episode
    kl_coef: Float[Array, ""]  # β of the KL-penalty form; unused by the other forms
    target_kl: Float[Array, ""]  # threshold of target-KL early stopping (used only if config.target_kl is set)
    key: PRNGKeyArray
    update: Int[Array, ""]  # number of PPO iterations done


class UpdateMetrics(NamedTuple):
    """Per PPO iteration. `episode_return` is the mean return of the training
    episodes that ended during this rollout (NaN if none did)."""

    episode_return: Float[Array, ""]
    episodes: Int[Array, ""]
    objective: Float[Array, ""]  # the policy objective (clipped surrogate or ℓ^k/H), last epoch run, mean
    value_loss: Float[Array, ""]
    entropy: Float[Array, ""]
    kl: Float[Array, ""]  # mean exact KL(π^k(·|s) ‖ π^{k+1}(·|s)) over the batch's states
    kl_coef: Float[Array, ""]  # the coefficient β used in this iteration
    approx_kl: Float[Array, ""]  # CleanRL's: mean((w − 1) − log w) on the last minibatch run, before its step
    clipfrac: Float[Array, ""]  # CleanRL's: mean over the minibatches run of mean(|w − 1| > ε), before each step
    max_ratio: Float[Array, ""]  # max_h w_h(θ^{k+1}) over the batch, after the update
    epochs: Int[Array, ""]  # epochs run (fewer than update_epochs when target-KL early stopping fired)


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
    with Adam (and gradient clipping; early stopping when `target_kl` is set), and
    adapt β when `adaptive_kl`.
    """
    config = check_config(config)
    env = make("CartPole-v1") if env is None else env
    if not isinstance(env, Environment):
        raise TypeError(f"env must be a utils.envs.Environment (e.g. make('CartPole-v1')), got {type(env).__name__}")
    c = config
    dist = distributions.for_env(env)  # softmax over Discrete actions, diagonal Gaussian over a Box
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
        """The distribution parameters of π_θ(·|s): logits, or [μ_θ(s), log σ] for a Gaussian."""
        if not env.continuous:
            return mlp_apply(actor_params, jnp.asarray(obs, jnp.float32))
        mean = mlp_apply(actor_params["mean"], jnp.asarray(obs, jnp.float32))
        return jnp.concatenate([mean, jnp.broadcast_to(actor_params["log_std"], mean.shape)], axis=-1)

    def value_fn(critic_params, obs):
        return mlp_apply(critic_params, obs)[..., 0]

    actor_sizes = (env.obs_dim, *c.hidden, env.action_dim if env.continuous else env.n_actions)
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
        actor_params = tuple(layers[:n_actor])
        if env.continuous:  # a state-independent log σ, one per action dimension
            actor_params = {"mean": actor_params, "log_std": jnp.full((env.action_dim,), c.init_log_std, jnp.float32)}
        return ActorCriticParams(actor_params, tuple(layers[n_actor:]))

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
            target_kl=jnp.asarray(jnp.inf if c.target_kl is None else c.target_kl, jnp.float32),
            key=key,
            update=jnp.zeros((), jnp.int32),
        )

    def loss(params: ActorCriticParams, minibatch, kl_coef):
        mb = minibatch
        logits = logits_fn(params.actor, mb.obs)
        log_prob = dist.log_prob(logits, mb.action)
        advantage = mb.advantage
        if c.norm_adv:  # trick: advantage normalisation (per minibatch, as in CleanRL)
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        if c.loss == "clip":
            objective = ppo_clip_objective(log_prob, mb.old_log_prob, advantage, c.clip_eps)
        elif c.loss == "kl_penalty" and not env.continuous:
            objective = kl_penalty_objective(logits, mb.old_logits, mb.action, advantage, kl_coef)
        elif c.loss == "kl_penalty":  # the same objective, with the Gaussians' exact per-state KL
            ratio = importance_ratio(log_prob, mb.old_log_prob)
            objective = jnp.mean(ratio * advantage - kl_coef * dist.kl(mb.old_logits, logits))
        else:
            objective = unclipped_objective(log_prob, mb.old_log_prob, advantage)
        # Diagnostics, as CleanRL logs them (no gradient flows through them).
        lp, old_lp = jax.lax.stop_gradient(log_prob), mb.old_log_prob
        diagnostics = (approx_kl(lp, old_lp), clip_fraction(lp, old_lp, c.clip_eps))
        value = value_fn(params.critic, mb.obs)
        value_loss = (value - mb.target) ** 2
        if c.clip_vloss:  # trick: clipped value loss (PPO2), the value moves at most ε per update
            clipped = mb.old_value + jnp.clip(value - mb.old_value, -c.clip_eps, c.clip_eps)
            value_loss = jnp.maximum(value_loss, (clipped - mb.target) ** 2)
        value_loss = 0.5 * jnp.mean(value_loss)
        entropy = jnp.mean(dist.entropy(logits))
        total = -objective + c.vf_coef * value_loss
        if c.ent_coef:  # trick: entropy bonus
            total = total - c.ent_coef * entropy
        return total, (objective, value_loss, entropy, *diagnostics)

    def env_step(carry, noise):
        actor_params, env_state, obs, episode_return = carry
        logits = logits_fn(actor_params, obs)
        # a ~ π^k(·|s) from noise drawn once for the whole rollout, before the scan (for a
        # softmax, the Gumbel-max trick, which is what `jax.random.categorical` does). A
        # Gaussian sample is scored as drawn; the environment clips it to its bounds.
        action = dist.sample(logits, noise)
        log_prob = dist.log_prob(logits, action)
        ts = jax.vmap(env.step)(env_state, action)
        done = ts.terminated | ts.truncated
        episode_return = episode_return + ts.reward
        finished = jnp.where(done, episode_return, 0.0)
        reward = ts.reward * c.reward_scale  # trick: reward scaling (1: off); returns are reported unscaled
        transition = Transition(
            obs, action, log_prob, logits, reward, ts.terminated, done, ts.final_obs
        )
        carry = (actor_params, ts.state, ts.obs, jnp.where(done, 0.0, episode_return))
        return carry, (transition, finished)

    def update(state: TrainState) -> tuple[TrainState, UpdateMetrics]:
        key, rollout_key, epoch_key = jax.random.split(state.key, 3)
        carry = (state.params.actor, state.env_state, state.obs, state.episode_return)
        noise = dist.noise(rollout_key, (c.num_steps, c.num_envs))
        (_, env_state, obs, episode_return), (traj, finished) = jax.lax.scan(env_step, carry, noise)
        # Values are computed once for the whole rollout, not inside the step loop.
        values = value_fn(state.params.critic, traj.obs)
        next_values = value_fn(state.params.critic, traj.final_obs)
        advantages, targets = gae(
            traj.reward, values, next_values, traj.terminated, traj.done, c.gamma, c.gae_lambda
        )
        # Only what the loss reads is shuffled into minibatches (each field is a gather).
        batch = Batch(traj.obs, traj.action, traj.log_prob, traj.logits, advantages, targets, values)
        batch = jax.tree_util.tree_map(lambda x: x.reshape(c.batch_size, *x.shape[2:]), batch)
        # trick: target-KL early stopping, checked after each epoch on its last minibatch (CleanRL).
        # The threshold is read from the state, so that runs with different thresholds can share
        # one compiled program (`jnp.inf`: never stop).
        stop = None if c.target_kl is None else (lambda aux: aux[3][-1] > state.target_kl)
        params, opt_state, aux, ran = ppo_epochs(
            state.params,
            state.opt_state,
            batch,
            epoch_key,
            lambda p, mb: loss(p, mb, state.kl_coef),
            optimizer,
            c.update_epochs,
            c.num_minibatches,
            stop,
        )
        objective, value_loss, entropy, approx_kls, clipfracs = aux  # each "epochs minibatches"
        last = jnp.sum(ran) - 1  # the last epoch that was applied
        new_logits = logits_fn(params.actor, traj.obs)
        kl = jnp.mean(dist.kl(traj.logits, new_logits))
        new_log_prob = dist.log_prob(new_logits, traj.action)
        kl_coef = state.kl_coef
        if c.loss == "kl_penalty" and c.adaptive_kl:
            kl_coef = adaptive_kl_coef(kl_coef, kl, c.kl_target)
        episodes = jnp.sum(traj.done)
        metrics = UpdateMetrics(
            episode_return=jnp.sum(finished) / episodes,
            episodes=episodes,
            objective=objective[last].mean(),
            value_loss=value_loss[last].mean(),
            entropy=entropy[last].mean(),
            kl=kl,
            kl_coef=state.kl_coef,
            approx_kl=approx_kls[last, -1],
            clipfrac=jnp.sum(jnp.where(ran[:, None], clipfracs, 0.0)) / (jnp.sum(ran) * c.num_minibatches),
            max_ratio=jnp.max(importance_ratio(new_log_prob, traj.log_prob)),
            epochs=jnp.sum(ran).astype(jnp.int32),
        )
        new_state = TrainState(
            params, opt_state, env_state, obs, episode_return, kl_coef, state.target_kl, key, state.update + 1
        )
        return new_state, metrics

    def evaluate(params: ActorCriticParams, key: PRNGKeyArray) -> Float[Array, ""]:
        """Mean undiscounted return over `eval_episodes` fresh episodes (one
        `max_episode_steps` scan, vmapped over episodes, with done masks)."""
        noise = None
        if not c.eval_greedy:
            key, noise_key = jax.random.split(key)
            noise = dist.noise(noise_key, (max_steps, c.eval_episodes))
        env_state, obs = jax.vmap(env.reset)(jax.random.split(key, c.eval_episodes))

        def step(carry, noise):
            env_state, obs, alive, total = carry
            logits = logits_fn(params.actor, obs)
            action = dist.mode(logits) if noise is None else dist.sample(logits, noise)
            ts = jax.vmap(env.step)(env_state, action)
            total = total + alive * ts.reward
            alive = alive & ~(ts.terminated | ts.truncated)
            return (ts.state, ts.obs, alive, total), None

        init_carry = (env_state, obs, jnp.ones(c.eval_episodes, bool), jnp.zeros(c.eval_episodes))
        (_, _, _, total), _ = jax.lax.scan(step, init_carry, noise, length=max_steps)
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


def train_seeds(key: PRNGKeyArray, n_seeds: int, config: PPOConfig = PPOConfig(),
                env: Environment | None = None) -> TrainOutput:
    """Train `n_seeds` independent runs at once (`jit` of `vmap` of `make_train(config, env)`,
    the seeds sharded over the devices: `utils.seeds`); every output has a leading axis "n_seeds"."""
    _check_key(key)
    validate.check_int("n_seeds", n_seeds, 1)
    return seeds.train_seeds(make_train(config, env), key, n_seeds)


# ---------------------------------------------------------------------------
# The chapter's claims about PPO, as checks that can fail (`utils.checks`).
# ---------------------------------------------------------------------------

# The one-state example of the chapter: π^k = (1/2, 1/2) over two actions, and a
# batch of ten actions from it in which action 0 came up three times.
ONE_STATE_PI_K = (0.5, 0.5)
ONE_STATE_ACTIONS = (0, 1, 1, 0, 1, 1, 1, 0, 1, 1)
# Advantages of the batch's samples: action 0 did better (1 against 0).
ONE_STATE_ADVANTAGES = tuple(1.0 if a == 0 else 0.0 for a in ONE_STATE_ACTIONS)


def one_state_maximiser(
    objective: Callable[..., Float[Array, ""]],
    pi_k=ONE_STATE_PI_K,
    actions=ONE_STATE_ACTIONS,
    advantages=ONE_STATE_ADVANTAGES,
    kl_coef: float = 1.0,
) -> Float[Array, " 2"]:
    """The action distribution `π_θ(·|s)` that maximises a penalised objective with the
    signature of `kl_penalty_objective` on a batch of samples from one state with two
    actions: where many epochs of gradient ascent on that batch end up.

    The softmax policy on one state with two actions is `π_θ = (σ(z), 1 − σ(z))`
    with `z` the difference of the logits, so the maximisation is over `z`: a
    grid on [−12, 12] locates the maximum, then 40 bisection steps on the
    derivative (`jax.grad`) pin it down to float32 precision. Compiled once per
    `objective`.
    """
    validate.check_callable("objective", objective)
    pi_k = validate.as_float_array("pi_k", pi_k, "2")
    validate.check_probabilities("pi_k", pi_k)
    dims = {}
    actions = jnp.asarray(validate.as_int_array("actions", actions, "N", dims), jnp.int32)
    advantages = jnp.asarray(validate.as_float_array("advantages", advantages, "N", dims), jnp.float32)
    validate.check_in_range("kl_coef", kl_coef, 0.0, None)
    if pi_k.shape != (2,) or actions.ndim != 1 or advantages.shape != actions.shape:
        raise ValueError("one_state_maximiser needs pi_k of shape (2,) and actions, advantages of the same shape (N,)")
    return _one_state_maximiser(objective, pi_k, actions, advantages, jnp.float32(kl_coef))


@functools.partial(jax.jit, static_argnums=0)
def _one_state_maximiser(objective, pi_k, actions, advantages, kl_coef):
    old_logits = jnp.broadcast_to(jnp.log(pi_k), (actions.shape[0], 2))

    def value(z):
        logits = jnp.broadcast_to(jnp.stack([z, jnp.zeros_like(z)]), (actions.shape[0], 2))
        return objective(logits, old_logits, actions, advantages, kl_coef)

    grid = jnp.linspace(-12.0, 12.0, 2401)
    i = jnp.argmax(jax.vmap(value)(grid))
    lo, hi = grid[jnp.maximum(i - 1, 0)], grid[jnp.minimum(i + 1, grid.shape[0] - 1)]

    def bisect(_, bracket):  # the slope is positive at lo and negative at hi
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        up = jax.grad(value)(mid) > 0
        return jnp.where(up, mid, lo), jnp.where(up, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 40, bisect, (lo, hi))
    return jax.nn.softmax(jnp.stack([0.5 * (lo + hi), 0.0]))


def penalty_maximiser(weights, gains, kl_coef: float):
    """The closed form of the exercise on the penalised problem in one state:
    the maximiser of `Σ_a q(a) g(a) + β Σ_a w(a) log q(a)` over distributions `q`
    (weights `w` > 0 summing to 1) is `q(a) = β w(a) / (c − g(a))`, with `c > max g`
    fixed by `Σ_a q(a) = 1` (found here by bisection, in float64).

    With `w = π^k(·|s)` this is the maximiser of the per-state form
    `Σ_a q(a) g(a) − β KL(π^k(·|s) ‖ q)`; with `w` the empirical frequencies of
    the sampled actions it is that of the sampled form. On a batch,
    `g(a) = (1/N) Σ_{i: a_i = a} A_i / π^k(a)`.
    """
    dims = {}
    validate.check_probabilities("weights", validate.as_float_array("weights", weights, "A", dims))
    validate.as_float_array("gains", gains, "A", dims)
    validate.check_in_range("kl_coef", kl_coef, 0.0, None, inclusive=(False, True))
    w, g = np.asarray(weights, np.float64), np.asarray(gains, np.float64)
    if kl_coef <= 0 or np.any(w <= 0) or abs(w.sum() - 1) > 1e-9:
        raise ValueError("penalty_maximiser needs kl_coef > 0 and positive weights summing to 1")
    total = lambda c: np.sum(kl_coef * w / (c - g))  # noqa: E731  decreasing in c on (max g, ∞)
    lo, hi = g.max(), g.max() + kl_coef + 1.0  # total(hi) < 1 since c − g(a) > β for every a
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if total(mid) > 1 else (lo, mid)
    return kl_coef * w / (0.5 * (lo + hi) - g)


def check_penalty_keeps_policy_near(
    objective: Callable[..., Float[Array, ""]],
    kl_coefs=(1.0, 10.0, 100.0),
    tolerance: float = 1e-3,
    what: str = "a large β keeps the maximiser near π^k",
) -> checks.Check:
    """The claim that the penalty keeps `π_θ` near `π^k` however many epochs are taken,
    checked on the chapter's one-state example (action 0 did better in the batch): the
    maximiser of `objective` (where gradient ascent on the batch ends) has
    `KL(π^k ‖ π_θ)` decreasing in β, and below `tolerance` at the largest β.

    `kl_penalty_objective` passes; `sampled_kl_penalty_objective` is rejected: its
    maximiser tends to the batch's action frequencies (0.3, 0.7), at a KL of 0.087
    from π^k, as β grows. Resolution: a KL from π^k above `tolerance` at the largest β.
    """
    validate.check_callable("objective", objective)
    coefs = validate.as_float_array("kl_coefs", kl_coefs, "K")
    if not validate.is_traced(coefs) and not bool(jnp.all(coefs > 0)):
        raise ValueError(f"`kl_coefs` must be positive, got {list(map(float, coefs))}")
    validate.check_in_range("tolerance", tolerance, 0.0, None, inclusive=(False, True))
    validate.check_instance("what", what, str)
    p = np.asarray(ONE_STATE_PI_K, np.float64)
    kls = []
    for beta in kl_coefs:
        q = np.asarray(one_state_maximiser(objective, kl_coef=beta), np.float64)
        kls.append(float(np.sum(p * (np.log(p) - np.log(q)))))
    for beta, a, b in zip(kl_coefs[1:], kls[1:], kls[:-1]):
        checks.less(a, b, what=f"{what}: KL(π^k ‖ maximiser) at β = {beta:g} below that at the previous β")
    checks.less(kls[-1], tolerance, what=f"{what}: KL(π^k ‖ maximiser) at β = {kl_coefs[-1]:g}")
    return checks.Check(f"{what} (KL from π^k {', '.join(f'{k:.2g}' for k in kls)} at β = "
                        f"{', '.join(f'{b:g}' for b in kl_coefs)})", kls[-1], tolerance, tolerance, None, "nats")


# The chapter's CartPole budget: 48 iterations of 8 environments × 128 steps, tanh MLPs
# with two hidden layers of 32 units, a constant learning rate (3e-3, the default).
CHAPTER_BUDGET = dict(num_envs=8, num_steps=128, total_timesteps=8 * 128 * 48, hidden=(32, 32), anneal_lr=False)
# The stress test: eight times the epochs (32 instead of 4) on the same budget.
STRESS_BUDGET = dict(CHAPTER_BUDGET, update_epochs=32)


def _grid_runs(run: Callable, seeds: PRNGKeyArray, *settings: Array):
    """`run(seed, *setting)` for every setting (the rows of `settings`) and every seed, as one
    `jax.vmap` over the flattened grid, reshaped to "settings seeds ...". (Two nested vmaps
    give the same numbers, but jaxlib 0.4.30's CPU backend runs the KL penalty's gradient
    with two batch dimensions about 30 times slower.)"""
    n_settings, n_seeds = settings[0].shape[0], seeds.shape[0]
    keys = seeds[jnp.tile(jnp.arange(n_seeds), n_settings)]
    flat = [jnp.repeat(x, n_seeds, axis=0) for x in settings]
    out = jax.vmap(run)(keys, *flat)
    return jax.tree_util.tree_map(lambda x: x.reshape(n_settings, n_seeds, *x.shape[1:]), out)


def kl_penalty_runs(
    kl_coefs,
    kl_targets,
    n_seeds: int = 4,
    rule: Callable[[Float[Array, ""], Float[Array, ""], float], Float[Array, ""]] = adaptive_kl_coef,
    budget: dict | None = None,
) -> UpdateMetrics:
    """The chapter's KL-penalty runs (eq-ppo-kl-objective) on CartPole, one compiled function
    for every setting: setting `i` starts at β = `kl_coefs[i]` and, when `kl_targets[i] > 0`,
    applies `rule(β, KL, d_targ)` (eq-ppo-adaptive-kl, `adaptive_kl_coef`) after each
    iteration; with `kl_targets[i] = 0`, β stays fixed. β lives in the training state,
    so `jax.vmap` runs all settings and `n_seeds` seeds (key 0 split) at once.

    Returns the per-update metrics with leading axes "settings seeds updates";
    `metrics.kl_coef` is the β used in each iteration (β_k) and `metrics.kl` the exact
    per-state KL between consecutive policies (KL_k)."""
    dims = {}
    coefs = validate.as_float_array("kl_coefs", kl_coefs, "K", dims)
    targets = validate.as_float_array("kl_targets", kl_targets, "K", dims)
    if not bool(jnp.all(coefs >= 0)) or not bool(jnp.all(targets >= 0)):
        raise ValueError("`kl_coefs` and `kl_targets` must be non-negative (a target of 0 keeps β fixed)")
    validate.check_int("n_seeds", n_seeds, 1)
    validate.check_callable("rule", rule)
    if budget is not None:
        validate.check_instance("budget", budget, dict, "dict of PPOConfig fields")
    budget = CHAPTER_BUDGET if budget is None else budget
    ppo = make_ppo(PPOConfig(loss="kl_penalty", adaptive_kl=False, **budget))
    n_updates = ppo.config.num_updates

    def run(key, beta, kl_target):
        state = ppo.init(key)._replace(kl_coef=beta)

        def iteration(state, _):
            state, metrics = ppo.update(state)
            new_beta = jnp.where(kl_target > 0, rule(state.kl_coef, metrics.kl, kl_target), state.kl_coef)
            return state._replace(kl_coef=new_beta), metrics

        return jax.lax.scan(iteration, state, None, length=n_updates)[1]

    seeds = jax.random.split(jax.random.key(0), n_seeds)
    settings = jnp.asarray(kl_coefs, jnp.float32), jnp.asarray(kl_targets, jnp.float32)
    return jax.jit(functools.partial(_grid_runs, run))(seeds, *settings)


def stress_runs(loss: str, target_kls=(None,), n_seeds: int = 4) -> UpdateMetrics:
    """The chapter's stress test: `n_seeds` seeds (key 0 split) of PPO with `loss` on
    `STRESS_BUDGET`, once for each early-stopping threshold in `target_kls` (None: no
    early stopping), all in one compiled program (the threshold lives in the training state).

    Returns the per-update metrics with leading axes "settings seeds updates"."""
    if loss not in LOSSES:
        raise ValueError(f"`loss` must be one of {LOSSES}, got {loss!r}")
    for t in target_kls:
        if t is not None:
            validate.check_in_range("target_kls", t, 0.0, None, inclusive=(False, True))
    validate.check_int("n_seeds", n_seeds, 1)
    ppo = make_ppo(PPOConfig(loss=loss, target_kl=math.inf, **STRESS_BUDGET))
    n_updates = ppo.config.num_updates
    thresholds = jnp.asarray([math.inf if t is None else t for t in target_kls], jnp.float32)

    def run(key, target_kl):
        state = ppo.init(key)._replace(target_kl=target_kl)
        return jax.lax.scan(lambda s, _: ppo.update(s), state, None, length=n_updates)[1]

    seeds = jax.random.split(jax.random.key(0), n_seeds)
    return jax.jit(functools.partial(_grid_runs, run))(seeds, thresholds)


def final_return(metrics: UpdateMetrics, last: int = 8) -> np.ndarray:
    """Per seed: the mean training return over the last `last` iterations (NaN-aware)."""
    if not hasattr(metrics, "episode_return"):
        raise TypeError(f"`metrics` must be UpdateMetrics (with an episode_return field), got {type(metrics).__name__}")
    validate.check_int("last", last, 1)
    return np.nanmean(np.asarray(metrics.episode_return)[..., -last:], axis=-1)


def check_holds_under_stress(metrics: UpdateMetrics, *, min_return: float = 400.0,
                             max_approx_kl: float = 0.02, what: str = "PPO holds under stress") -> checks.Check:
    """The claim that an objective holds when the number of epochs is raised: every seed's
    final return (mean over the last 8 iterations) is at least `min_return`, and the median
    over updates and seeds of CleanRL's approx_kl is at most `max_approx_kl`.

    The clipped objective passes on `stress_runs("clip")`; the unclipped surrogate
    (`stress_runs("unclipped")`), PPO without clipping, is rejected on both counts.
    Resolution: a seed ending below `min_return`, or a median approx_kl above `max_approx_kl`."""
    validate.check_instance("metrics", metrics, UpdateMetrics, "UpdateMetrics")
    validate.check_in_range("min_return", min_return)
    validate.check_in_range("max_approx_kl", max_approx_kl, 0.0, None, inclusive=(False, True))
    validate.check_instance("what", what, str)
    final = final_return(metrics)
    checks.greater(final.min(), min_return, what=f"{what}: every seed's final return at least {min_return:g}")
    median_kl = float(np.median(np.asarray(metrics.approx_kl)))
    checks.less(median_kl, max_approx_kl, what=f"{what}: median approx_kl per update at most {max_approx_kl:g}")
    return checks.Check(f"{what} (lowest final return {final.min():.0f} ≥ {min_return:g}; median approx_kl "
                        f"{median_kl:.2g} ≤ {max_approx_kl:g})", median_kl, max_approx_kl, max_approx_kl, None, "nats")


def check_early_stopping(metrics: UpdateMetrics, target_kl: float, update_epochs: int, *,
                         factor: float = 10.0, fraction: float = 0.8,
                         what: str = "target-KL early stopping") -> checks.Check:
    """The claim that target-KL early stopping ends the epochs once the approximate KL passes
    `target_kl` and so keeps the KL per update near the target: it fired (fewer than
    `update_epochs` epochs) in at least half of the updates, and at least `fraction` of the
    updates have an exact per-state KL at most `factor × target_kl`. (The stop is tested once
    per epoch, on the approx_kl of its last minibatch before that minibatch's step, so the
    update's KL overshoots the target by what the last epoch adds.)

    Early stopping that never stops is rejected on both counts. Resolution: one update."""
    validate.check_instance("metrics", metrics, UpdateMetrics, "UpdateMetrics")
    validate.check_in_range("target_kl", target_kl, 0.0, None, inclusive=(False, True))
    validate.check_int("update_epochs", update_epochs, 1)
    validate.check_in_range("factor", factor, 0.0, None, inclusive=(False, True))
    validate.check_in_range("fraction", fraction, 0.0, 1.0)
    validate.check_instance("what", what, str)
    epochs = np.asarray(metrics.epochs)
    checks.fraction_at_least(epochs < update_epochs, 0.5, what=f"{what}: fired (fewer than {update_epochs} epochs)")
    kl = np.asarray(metrics.kl)
    return checks.fraction_at_least(kl <= factor * target_kl, fraction,
                                    what=f"{what}: KL per update at most {factor:g} × target {target_kl:g} "
                                         f"in at least {fraction:.0%} of the updates (here {np.mean(kl <= factor * target_kl):.0%}; "
                                         f"stopped early in {np.mean(epochs < update_epochs):.0%})")


def check_adaptive_band(kl, kl_target: float, *, in_band: float = 0.15,
                        what: str = "the adaptive rule") -> checks.Check:
    """The claim that the adaptive rule (eq-ppo-adaptive-kl) keeps the per-update KL around
    its target: at least `in_band` of the updates have their KL inside the band
    `[d_targ/1.5, 1.5 d_targ]`, and neither side of the band holds a majority (at least
    half the updates are not below it, at least half not above it).

    A rule with the wrong direction (doubling β when the KL is small) drives β to an
    extreme, and the KL stays on one side: rejected. So is the annealed-learning-rate
    artefact, where the KL is below the band in most updates whatever β is.
    Resolution: one update."""
    kl = validate.as_float_array("kl", kl)
    validate.check_in_range("kl_target", kl_target, 0.0, None, inclusive=(False, True))
    validate.check_in_range("in_band", in_band, 0.0, 1.0)
    validate.check_instance("what", what, str)
    kl = np.asarray(kl)
    below, above = float(np.mean(kl < kl_target / 1.5)), float(np.mean(kl > 1.5 * kl_target))
    checks.fraction_at_least(kl >= kl_target / 1.5, 0.5, what=f"{what}: at least half the updates not below the band")
    checks.fraction_at_least(kl <= 1.5 * kl_target, 0.5, what=f"{what}: at least half the updates not above the band")
    inside = np.asarray(in_kl_band(kl, kl_target))
    return checks.fraction_at_least(inside, in_band, what=(
        f"{what}: KL inside the band in {inside.mean():.0%} of the updates (at least {in_band:.0%}), "
        f"below it in {below:.0%}, above it in {above:.0%} (each at most 50%)"))
