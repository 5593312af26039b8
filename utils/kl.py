"""KL divergence between trajectory distributions, estimated from samples (TRPO section).

For policies `pi^k` and `pi_theta` in the same MDP, the initial distribution
and the transition probabilities appear in both `rho_{pi^k}(tau)` and
`rho_{pi_theta}(tau)`, so they cancel in the log-ratio:

    KL(rho_{pi^k} || rho_{pi_theta})
        = E_{tau ~ rho_{pi^k}}[ sum_h log pi^k(a_h | s_h) / pi_theta(a_h | s_h) ].

The estimator averages the inner sum over trajectories sampled with `pi^k`;
it needs only the two policies' log-probabilities of the sampled actions, not
the dynamics. The exact value on a tabular MDP is
`utils.exact.kl_trajectories`.

- `kl_per_trajectory`, `kl_trajectories`: the estimator from log-probabilities.
- `kl_div_trajectories`: the same from a `Policy` and two parameter sets
  (the jitted twin of the chapter's pseudocode
  `utils.pseudocode.trpo.kl_div_trajectories`).
- `categorical_kl`: the exact KL between two action distributions at one
  state; `kl_states_per_trajectory` and `kl_div_states` use it for the
  per-state estimator (eq-trpo-kl-states)
  `E_{tau ~ rho_{theta^k}}[sum_h KL(pi^k(. | s_h) || pi_theta(. | s_h))]`.
  Its Hessian at `theta = theta^k` is the (sampled) Fisher information for
  any softmax policy, which is why TRPO's Fisher-vector products use it; the
  Hessian of the log-ratio estimator is that only when the logits are linear
  in `theta` (tabular and linear softmax).

What is proven and what is observed about the two estimators' variances:
each per-state term `KL(pi^k(.|s_h) || pi_theta(.|s_h))` is the conditional
expectation, given `s_h`, of the log-ratio term `log pi^k(a_h|s_h) / pi_theta(a_h|s_h)`,
so term by term its variance is no larger (law of total variance). The sums
along a trajectory are not conditional expectations of one another (the later
states carry information about the earlier actions), so no theorem orders
their variances; that the per-state sum varies less is an observation, true
on the chapter's MDP and false on others (`utils.trpo.kl_variance_example`,
the TRPO section's exercise `ex-trpo-kl-variance`).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from utils import validate
from utils.policies import Policy, check_params

__all__ = [
    "kl_per_trajectory",
    "kl_trajectories",
    "kl_div_trajectories",
    "categorical_kl",
    "kl_states_per_trajectory",
    "kl_div_states",
    "gaussian_kl",
    "policy_kl",
]


def _check_log_probs(log_prob_old, log_prob_new, mask):
    for name, x in (("log_prob_old", log_prob_old), ("log_prob_new", log_prob_new)):
        if not hasattr(x, "shape") or jnp.ndim(x) != 2:
            raise ValueError(
                f"`{name}` must be an array of shape (N, H): one log-probability per "
                f"trajectory n and step h, got shape {getattr(x, 'shape', type(x).__name__)}"
            )
    if log_prob_old.shape != log_prob_new.shape:
        raise ValueError(
            f"`log_prob_old` and `log_prob_new` must have the same shape (N, H), "
            f"got {tuple(log_prob_old.shape)} and {tuple(log_prob_new.shape)}"
        )
    for name, x in (("log_prob_old", log_prob_old), ("log_prob_new", log_prob_new)):
        validate.as_float_array(name, x)
    if mask is not None:
        validate.as_bool_array("mask", mask)
    if mask is not None and tuple(jnp.shape(mask)) != tuple(log_prob_old.shape):
        raise ValueError(
            f"`mask` must have the shape (N, H) = {tuple(log_prob_old.shape)} of the log-probabilities, "
            f"got {tuple(jnp.shape(mask))}"
        )


def kl_per_trajectory(
    log_prob_old: Float[Array, "N H"],
    log_prob_new: Float[Array, "N H"],
    mask: Bool[Array, "N H"] | None = None,
) -> Float[Array, " N"]:
    """`sum_h [log pi^k(a_h | s_h) - log pi_theta(a_h | s_h)]` for each sampled trajectory.

    Each entry is an unbiased estimate of `KL(rho_{pi^k} || rho_{pi_theta})` when
    the trajectories were sampled with `pi^k` (it can be negative; its mean
    cannot be, in expectation). `mask[n, h]` is False for steps past the end of
    trajectory `n` (when trajectories have different lengths).
    """
    _check_log_probs(log_prob_old, log_prob_new, mask)
    log_ratio = log_prob_old - log_prob_new
    if mask is not None:
        log_ratio = jnp.where(mask, log_ratio, 0.0)
    return jnp.sum(log_ratio, axis=1)


def kl_trajectories(
    log_prob_old: Float[Array, "N H"],
    log_prob_new: Float[Array, "N H"],
    mask: Bool[Array, "N H"] | None = None,
) -> Float[Array, ""]:
    """The sampled `KL(rho_{pi^k} || rho_{pi_theta})`: the mean over trajectories of
    `sum_h log pi^k(a_h | s_h) / pi_theta(a_h | s_h)` (see `kl_per_trajectory`)."""
    return jnp.mean(kl_per_trajectory(log_prob_old, log_prob_new, mask))


def _log_probs(policy: Policy, params, obs, actions) -> Float[Array, "N H"]:
    per_step = lambda o, a: policy.log_prob(params, o, a)  # noqa: E731
    return jax.vmap(jax.vmap(per_step))(obs, actions)


def kl_div_trajectories(
    policy: Policy,
    params_old: Any,
    params: Any,
    obs: Any,
    actions: Int[Array, "N H"] | Float[Array, "N H ..."],
    mask: Bool[Array, "N H"] | None = None,
) -> Float[Array, ""]:
    """Sampled `KL(rho_{pi^k} || rho_{pi_theta})` with `pi^k = policy(params_old)`,
    `pi_theta = policy(params)`, from `N` trajectories of `H` steps sampled with `pi^k`:
    `obs[n, h]` (shape `(N, H, ...)`) and `actions[n, h]`.

    The jitted twin of the chapter's pseudocode `kl_div_trajectories`
    (`utils.pseudocode.trpo`): the same samples give the same number.
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"`policy` must be a utils.policies.Policy, got {type(policy).__name__}")
    if not isinstance(params_old, jax.core.Tracer):
        check_params(policy, params_old, "params_old")
    if not isinstance(params, jax.core.Tracer):
        check_params(policy, params, "params")
    for name, x in (("obs", obs), ("actions", actions)):
        if jnp.ndim(x) < 2:
            raise ValueError(f"`{name}` must have leading shape (N, H), got shape {tuple(jnp.shape(x))}")
    if jnp.shape(obs)[:2] != jnp.shape(actions)[:2]:
        raise ValueError(
            f"`obs` and `actions` must share the leading shape (N, H), got "
            f"{tuple(jnp.shape(obs))[:2]} and {tuple(jnp.shape(actions))[:2]}"
        )
    log_prob_old = _log_probs(policy, params_old, obs, actions)
    log_prob_new = _log_probs(policy, params, obs, actions)
    return kl_trajectories(log_prob_old, log_prob_new, mask)


def categorical_kl(logits_p: Float[Array, "*B A"], logits_q: Float[Array, "*B A"]) -> Float[Array, "*B"]:
    """`KL(p || q) = sum_a p(a) log p(a) / q(a)` for softmax distributions given by their logits.

    Summed over actions exactly, this is the conditional expectation of the
    log-ratio given the state, `E_{a ~ p}[log p(a) / q(a)]`: replacing
    `log pi^k(a_h|s_h) / pi_theta(a_h|s_h)` by `KL(pi^k(.|s_h) || pi_theta(.|s_h))`
    keeps the KL estimator unbiased, makes each term >= 0, and does not raise
    the variance of that term (law of total variance). The variance of the
    sum along a trajectory is another matter: see the module docstring.
    """
    logits_p = validate.as_float_array("logits_p", logits_p)
    logits_q = validate.as_float_array("logits_q", logits_q)
    if jnp.shape(logits_p) != jnp.shape(logits_q) or jnp.ndim(logits_p) < 1:
        raise ValueError(
            f"`logits_p` and `logits_q` must have the same shape (..., A), got "
            f"{tuple(jnp.shape(logits_p))} and {tuple(jnp.shape(logits_q))}"
        )
    log_p = jax.nn.log_softmax(logits_p, axis=-1)
    log_q = jax.nn.log_softmax(logits_q, axis=-1)
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def kl_states_per_trajectory(
    logits_old: Float[Array, "N H A"],
    logits_new: Float[Array, "N H A"],
    mask: Bool[Array, "N H"] | None = None,
) -> Float[Array, " N"]:
    """`sum_h KL(pi^k(. | s_h) || pi_theta(. | s_h))` for each sampled trajectory (eq-trpo-kl-states),
    from the two policies' logits at the visited states. Each entry is >= 0 and,
    for trajectories sampled with `pi^k`, an unbiased estimate of
    `KL(rho_{theta^k} || rho_theta)`. `mask` as in `kl_per_trajectory`."""
    logits_old = validate.as_float_array("logits_old", logits_old)
    logits_new = validate.as_float_array("logits_new", logits_new)
    if jnp.ndim(logits_old) != 3 or jnp.shape(logits_old) != jnp.shape(logits_new):
        raise ValueError(
            f"`logits_old` and `logits_new` must have the same shape (N, H, A), got "
            f"{tuple(jnp.shape(logits_old))} and {tuple(jnp.shape(logits_new))}"
        )
    per_state = categorical_kl(logits_old, logits_new)
    if mask is not None:
        mask = validate.as_bool_array("mask", mask)
        if tuple(jnp.shape(mask)) != tuple(per_state.shape):
            raise ValueError(f"`mask` must have the shape (N, H) = {tuple(per_state.shape)}, got {tuple(jnp.shape(mask))}")
        per_state = jnp.where(mask, per_state, 0.0)
    return jnp.sum(per_state, axis=1)


def kl_div_states(
    policy: Policy,
    params_old: Any,
    params: Any,
    obs: Any,
    mask: Bool[Array, "N H"] | None = None,
) -> Float[Array, ""]:
    """The per-state estimate of `KL(rho_{theta^k} || rho_theta)` (eq-trpo-kl-states) for a
    softmax `policy` (its `dist` returns logits): the mean over the `N` sampled
    trajectories of `sum_h KL(pi^k(. | s_h) || pi_theta(. | s_h))`, `obs[n, h]` of
    shape `(N, H, ...)` sampled with `pi^k = policy(params_old)`.

    The KL that TRPO's step uses (`utils.trpo.trpo_tabular`, the pseudocode
    `utils.pseudocode.trpo.trpo`): its Hessian in `params` at `params_old` is the
    sampled Fisher information `(1/N) sum_n sum_h F(s^n_h)`, positive
    semi-definite for any parameterisation of the logits.
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"`policy` must be a utils.policies.Policy, got {type(policy).__name__}")
    if not isinstance(params_old, jax.core.Tracer):
        check_params(policy, params_old, "params_old")
    if not isinstance(params, jax.core.Tracer):
        check_params(policy, params, "params")
    if jnp.ndim(obs) < 2:
        raise ValueError(f"`obs` must have leading shape (N, H), got shape {tuple(jnp.shape(obs))}")
    logits = jax.vmap(jax.vmap(policy.dist, (None, 0)), (None, 0))
    return jnp.mean(kl_states_per_trajectory(logits(params_old, obs), logits(params, obs), mask))


def gaussian_kl(mean_p: Float[Array, "*B D"], log_std_p: Float[Array, "*B D"],
                mean_q: Float[Array, "*B D"], log_std_q: Float[Array, "*B D"]) -> Float[Array, "*B"]:
    """`KL(N(μ_p, diag σ_p²) ‖ N(μ_q, diag σ_q²)) = Σ_i [log σ_q/σ_p + (σ_p² + (μ_p − μ_q)²)/(2 σ_q²) − 1/2]`."""
    named = [("mean_p", mean_p), ("log_std_p", log_std_p), ("mean_q", mean_q), ("log_std_q", log_std_q)]
    validate.check_broadcastable(*[(name, validate.as_float_array(name, x)) for name, x in named])
    var_p, var_q = jnp.exp(2 * log_std_p), jnp.exp(2 * log_std_q)
    return jnp.sum(log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2 * var_q) - 0.5, axis=-1)


def policy_kl(dist_p, dist_q) -> Float[Array, "*B"]:
    """`KL(π_p(·|s) ‖ π_q(·|s))` from two outputs of `Policy.dist` (batched alike):
    the logits of a softmax policy, or `(mean, log_std)` of a diagonal Gaussian."""
    if isinstance(dist_p, tuple) != isinstance(dist_q, tuple):
        raise TypeError("`dist_p` and `dist_q` must come from the same kind of policy: "
                        "both logits, or both (mean, log_std)")
    if isinstance(dist_p, tuple):
        return gaussian_kl(*dist_p, *dist_q)
    return categorical_kl(dist_p, dist_q)
