"""Trust region policy optimisation (Schulman et al. 2015), in the PureJaxRL shape.

Read top to bottom: the config, the surrogate objective, one trust-region
step (`trpo_step`: conjugate gradient on Fisher-vector products, the step
scaled to the KL radius, backtracking line search), TRPO on a tabular MDP
(`trpo_tabular`, the jitted twin of the chapter's pseudocode
`utils.pseudocode.trpo.trpo`), the monotonic improvement bound on a tabular
MDP (`improvement_bound_terms`, `thm-trpo-monotonic-improvement`), the checks
of the chapter's claims about the trust region, and the CartPole training loop
(`make_train`)::

    train = jax.jit(make_train(TRPOConfig()))
    out = train(jax.random.key(0))               # the whole run is one jit
    out.metrics.episode_return                    # "n_iterations"
    outs = train_seeds(jax.random.key(0), 4)      # vmap over seeds

One iteration: collect `n_steps` steps in each of `n_envs` auto-resetting
CartPoles with `pi^k = pi_{theta^k}`; estimate advantages `A_t` by GAE
(eq-gae) with a value network; then solve the TRPO problem (TRPO section)

    maximise  L(theta) = mean_t [ pi_theta(a_t|s_t) / pi^k(a_t|s_t) A_t ]
    subject to  mean_t KL(pi^k(.|s_t) || pi_theta(.|s_t)) <= delta

by one natural step and a line search (`trpo_step`); finally regress the
value network on the batch's returns, separately from the policy.

The chapter writes the gain as `E_{tau ~ rho_{theta^k}}[sum_h E_{a ~ pi_theta(.|s_h)} A(s_h, a)]`;
with only the sampled actions' advantages, the inner expectation is
importance-sampled with `pi^k` (Schulman et al. 2015, eq. 14), which is `L`.
The KL is the per-state form (eq-trpo-kl-states): the exact KL between the two
action distributions at each visited state (`utils.kl.policy_kl`: softmax or,
for continuous actions, diagonal Gaussian, both in closed form). Its
Hessian at `theta^k` is the sampled Fisher information for any network, so
the Fisher-vector products are Hessian-vector products of this KL; the
Hessian of the log-ratio estimator `mean_t log pi^k(a_t|s_t) / pi_theta(a_t|s_t)`
is not (for a nonlinear network it is indefinite, and its gradient at
`theta^k` is not zero).

`config.line_search=False` gives the natural policy gradient step with the
same radius (Kakade 2001; `utils.npg` builds its CartPole trainer that way).

Tricks not in the chapter's equations, each switchable in `TRPOConfig`:
- `kl_per_step=True`: constrain the KL averaged over visited states, as in
  Schulman et al. 2015's practical algorithm, instead of the chapter's
  trajectory KL `E_tau[sum_h KL_h]` (which grows with the episode length,
  so a fixed `delta` would shrink the steps as the policy improves);
- `cg_damping`: the Fisher-vector products use `F + zeta I` (damping `zeta`);
- `normalize_advantages`: advantages standardised in each batch;
- `gamma < 1`: discounting (the chapter is undiscounted), and GAE's `lambda`.
Measurement only (changes nothing in the update): `fresh_kl=True` records,
after each update, the constrained KL of the step on a fresh batch sampled with
`pi^k` (`Metrics.fresh_kl`), which the line search has not seen.
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
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from utils import checks, exact, seeds, validate
from utils.policies import Policy, check_params
from utils.envs import Environment, env_or_cartpole
from utils.envs.tabular import TabularMDP, tabular_mdp
from utils.estimators import gae
from utils.kl import categorical_kl, kl_div_states, policy_kl
from utils.natural import (
    check_damping,
    check_delta,
    check_positive_int,
    conjugate_gradient,
    fisher_vector_product,
    natural_step_size,
)
from utils.policies import mlp_apply, mlp_init, mlp_policy_for, tabular_softmax
from utils.rollouts import rollout, sample_trajectories

__all__ = [
    "TRPOConfig",
    "PENDULUM_CONFIG",
    "StepInfo",
    "Metrics",
    "TrainOutput",
    "surrogate_objective",
    "trpo_step",
    "TabularRun",
    "trpo_tabular",
    "ImprovementBoundTerms",
    "improvement_bound_terms",
    "improvement_bound_coefficient",
    "monotonic_improvement_bound",
    "check_improvement_bound",
    "improvement_bound_example",
    "exact_natural_step",
    "BoundAlongStep",
    "bound_maximising_fraction",
    "check_bound_forces_small_steps",
    "KLCurvature",
    "sampled_kl_curvature",
    "kl_variance_example",
    "KLEstimatorDistributions",
    "kl_estimator_distributions",
    "check_tabular_trust_region",
    "check_fresh_batch_kl",
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
    cg_damping: float = 0.1  # trick: F + zeta I with zeta = cg_damping (0 = off)
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
    max_episode_steps: int = 500  # CartPole-v1's time limit (the default environment's; others keep their own)
    init_log_std: float = 0.0  # a Gaussian policy's initial log σ (Box actions only)
    reward_scale: float = 1.0  # trick: rewards × this in the advantages and value targets (1: off)
    fresh_kl: bool = False  # measurement: the step's KL on a fresh batch of pi^k (one more rollout)


# Pendulum-v1 (a continuous torque): 16 environments × one whole 200-step episode per
# iteration, γ = 0.95, rewards scaled by 0.1 (they reach −16 a step), a (64, 64) network, the
# default radius δ = 0.02. From about −1150, seeds 0–3 (key 0 split four ways) reached −150 to
# −160 (mean return of the iteration's episodes) after 50 iterations (160 000 steps).
PENDULUM_CONFIG = TRPOConfig(n_envs=16, n_steps=200, n_iterations=50, gamma=0.95, reward_scale=0.1,
                             hidden=(64, 64))


class StepInfo(NamedTuple):
    """What one trust-region step did."""

    kl: Float[Array, ""]  # sampled KL of the step taken, as the line search saw it (0 if none was accepted)
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
    fresh_kl: Float[Array, " K"]  # the step's KL on a fresh batch of pi^k (config.fresh_kl; nan if off)


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
    # Static checks only: this is the loss inside the jitted trainer.
    validate.check_same_shape(("log_prob_new", validate.as_float_array("log_prob_new", log_prob_new)),
                              ("log_prob_old", validate.as_float_array("log_prob_old", log_prob_old)),
                              ("advantages", validate.as_float_array("advantages", advantages)))
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

    1. `g = grad L(theta^k)`; `x ~ (F + zeta I)^{-1} g` (`zeta = damping`) by
       `cg_iters` steps of conjugate gradient, `F v` being the Hessian of
       `kl_fn` at `theta^k` times `v`; that Hessian is the Fisher information
       when `kl_fn` is the per-state KL (eq-trpo-kl-states), for any policy;
    2. full step `s = sqrt(2 delta / g^T x) x`, the maximiser of `g^T s` subject to
       `1/2 s^T F s <= delta` (Lagrange multiplier `nu = sqrt(g^T x / (2 delta))`);
    3. backtracking: the first `theta^k + coef^j s`, `j < n_backtracks`, with
       `L(theta') > L(theta^k)` and `kl_fn(theta') <= delta`; `theta^k` if none.

    With `line_search=False`, returns `theta^k + s` (the natural policy
    gradient step). Jittable when the functions are.
    """
    for name, fn in (("surrogate_fn", surrogate_fn), ("kl_fn", kl_fn)):
        if not callable(fn):
            raise TypeError(f"`{name}` must be a function of the flat parameters, got {type(fn).__name__}")
    theta = validate.as_float_array("theta", theta)
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
    exact_kl: Float[Array, " K"]  # exact KL(rho_{theta^k} || rho_{theta^{k+1}}) of the step taken
    info: StepInfo  # each field "K"; info.kl is the sampled KL the line search saw


@functools.partial(jax.jit, static_argnames=("n_iterations", "n_trajectories", "cg_iters", "n_backtracks"))
def _trpo_tabular(mdp, theta_init, delta, n_iterations, n_trajectories, key, cg_iters, backtrack_coef,
                  n_backtracks, damping, kl_multiplier):
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
            # (1/N) sum_tau sum_h KL(pi^k(.|s_h) || pi_theta(.|s_h)): eq-trpo-kl-states on the samples.
            return kl_multiplier * kl_div_states(policy, theta_k, theta.reshape(shape), traj.obs)

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
    kl_multiplier: float = 1.0,
) -> TabularRun:
    """TRPO for the tabular softmax policy, the jitted twin of the chapter's
    pseudocode `utils.pseudocode.trpo.trpo` (same key, same samples, same iterates).

    Each round samples `n_trajectories` trajectories with `pi^k`
    (`utils.rollouts.sample_trajectories`), takes the exact advantages
    `A^{pi^k}` (`utils.exact.advantages`), and takes one `trpo_step` on

        gain(theta) = (1/N) sum_tau sum_h sum_a pi_theta(a | s_h) A^{pi^k}_h(s_h, a),
        KL(theta)   = (1/N) sum_tau sum_h KL(pi^k(. | s_h) || pi_theta(. | s_h))

    (`utils.kl.kl_div_states`, eq-trpo-kl-states on the samples; its Hessian at
    `theta^k` is the sampled Fisher information). The sampled KL is unbiased
    but noisy with few trajectories, so the exact KL of a step, `run.exact_kl`,
    can exceed `delta` while the sampled KL the line search checked does not:
    the constraint is enforced only approximately (`check_tabular_trust_region`).

    `kl_multiplier` scales the KL the constraint uses; it is 1 for TRPO and
    exists so that tests can hand the chapter's checks a TRPO whose KL has the
    wrong scale (0.5: half the KL; N H: a sum where a mean belongs).
    """
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"`mdp` must be a TabularMDP (utils.envs.tabular), got {type(mdp).__name__}")
    shape = (mdp.n_states, mdp.n_actions)
    validate.as_float_array("theta_init", theta_init)
    if tuple(jnp.shape(theta_init)) != shape:
        raise ValueError(
            f"`theta_init` must have shape (S, A) = {shape} for the tabular softmax, got {tuple(jnp.shape(theta_init))}"
        )
    check_delta(delta)
    check_damping(damping)
    _check_fraction(backtrack_coef, "backtrack_coef")
    validate.check_key("key", key)
    validate.check_in_range("kl_multiplier", kl_multiplier, 0.0, None, inclusive=(False, True))
    return _trpo_tabular(
        mdp, jnp.asarray(theta_init, jnp.float32), delta,
        check_positive_int(n_iterations, "n_iterations"), check_positive_int(n_trajectories, "n_trajectories"),
        key, check_positive_int(cg_iters, "cg_iters"), backtrack_coef,
        check_positive_int(n_backtracks, "n_backtracks"), damping, kl_multiplier,
    )


# ---------------------------------------------------------------------------
# The monotonic improvement bound (thm-trpo-monotonic-improvement), exactly
# ---------------------------------------------------------------------------


class ImprovementBoundTerms(NamedTuple):
    """The quantities of `thm-trpo-monotonic-improvement` for a pair of policies
    `pi -> pi_new` on a tabular MDP, all exact (each field may carry batch axes)."""

    improvement: Float[Array, "*B"]  # J(pi_new) - J(pi)
    surrogate: Float[Array, "*B"]  # L_pi(pi_new), eq-pdl-surrogate (states of pi, actions of pi_new)
    tv_max: Float[Array, "*B"]  # D^max_TV = max_{h,s} TV(pi_h(.|s), pi_new_h(.|s))
    kl_max: Float[Array, "*B"]  # D^max_KL = max_{h,s} KL(pi_h(.|s) || pi_new_h(.|s))
    advantage_max: Float[Array, "*B"]  # ||A^pi||_inf = max_{h,s,a} |A^pi_h(s, a)|
    horizon: Float[Array, "*B"]  # H


def improvement_bound_terms(mdp: TabularMDP, pi: Float[Array, "*H S A"], pi_new: Float[Array, "*H S A"]
                            ) -> ImprovementBoundTerms:
    """Everything `thm-trpo-monotonic-improvement` (eq-trpo-monotonic-improvement) is
    about, for the policy tables `pi` (old) and `pi_new` (stationary "S A" or
    time-dependent "H S A"), by backward and forward induction (`utils.exact`).

    The maxima run over every time step and every state, reachable or not, as
    in the theorem. Jittable and `vmap`-able over pairs of policies."""
    _check_policy_tables(mdp, pi=pi, pi_new=pi_new)
    return _improvement_bound_terms(mdp, pi, pi_new)


def _check_policy_tables(mdp, **tables) -> None:
    validate.check_instance("mdp", mdp, TabularMDP, "utils.envs.tabular.TabularMDP")
    for name, table in tables.items():
        validate.as_float_array(name, table, f"*H {mdp.n_states} {mdp.n_actions}")


def _check_terms(terms) -> None:
    validate.check_instance("terms", terms, ImprovementBoundTerms, "ImprovementBoundTerms (improvement_bound_terms)")


def _check_theta(mdp, theta, name: str):
    _check_policy_tables(mdp)
    theta = validate.as_float_array(name, theta, f"{mdp.n_states} {mdp.n_actions}")
    validate.check_finite(name, theta)
    return theta


@jax.jit
def _improvement_bound_terms(mdp, pi, pi_new):
    A = exact.advantages(mdp, pi)  # "H S A"; checks the MDP and the table
    shape = A.shape
    pi_b = jnp.broadcast_to(jnp.asarray(pi, A.dtype), shape)
    new_b = jnp.broadcast_to(jnp.asarray(pi_new, A.dtype), shape)
    surrogate = jnp.sum(exact.state_visitation(mdp, pi_b) * jnp.sum(new_b * A, axis=-1))
    improvement = exact.expected_return(mdp, new_b) - exact.expected_return(mdp, pi_b)
    tv = 0.5 * jnp.sum(jnp.abs(pi_b - new_b), axis=-1)
    kl = jnp.sum(jax.scipy.special.xlogy(pi_b, pi_b) - jax.scipy.special.xlogy(pi_b, new_b), axis=-1)
    return ImprovementBoundTerms(improvement, surrogate, jnp.max(tv), jnp.max(kl), jnp.max(jnp.abs(A)),
                                 jnp.asarray(mdp.H, A.dtype))


def improvement_bound_coefficient(terms: ImprovementBoundTerms, form: str = "kl") -> Float[Array, "*B"]:
    """The penalty coefficient of eq-trpo-monotonic-improvement: `2 H (H - 1) ||A^pi||_inf`
    for the squared total variation (`form="tv"`), half that, `H (H - 1) ||A^pi||_inf`,
    for the KL divergence (`form="kl"`, by Pinsker's inequality)."""
    _check_terms(terms)
    if form not in ("tv", "kl"):
        raise ValueError(f"`form` must be 'tv' or 'kl', got {form!r}")
    c = terms.horizon * (terms.horizon - 1) * terms.advantage_max
    return 2 * c if form == "tv" else c


def monotonic_improvement_bound(terms: ImprovementBoundTerms, form: str = "kl",
                                coefficient: Callable[[ImprovementBoundTerms], Array] | None = None
                                ) -> Float[Array, "*B"]:
    """The right side of eq-trpo-monotonic-improvement, a lower bound on `J(pi_new) - J(pi)`:

        L_pi(pi_new) - C (D^max_TV)^2   (form="tv"),   L_pi(pi_new) - C D^max_KL   (form="kl"),

    with `C = coefficient(terms)`, by default `improvement_bound_coefficient(terms, form)`.
    (Tests pass other coefficients to show that a smaller one is not a bound.)"""
    _check_terms(terms)
    if form not in ("tv", "kl"):
        raise ValueError(f"`form` must be 'tv' or 'kl', got {form!r}")
    if coefficient is not None:
        validate.check_callable("coefficient", coefficient)
    c = improvement_bound_coefficient(terms, form) if coefficient is None else coefficient(terms)
    distance = terms.tv_max ** 2 if form == "tv" else terms.kl_max
    return terms.surrogate - c * distance


def check_improvement_bound(terms: ImprovementBoundTerms, bound: Float[Array, "*B"], *, what: str,
                            atol: float = 1e-5) -> checks.Check:
    """`J(pi_new) - J(pi) >= bound - atol` for every pair in `terms` (exact numbers, so the
    tolerance `atol` covers only float32 rounding). One violated pair fails the check."""
    _check_terms(terms)
    bound = validate.as_float_array("bound", bound)
    if np.shape(bound) != np.shape(terms.improvement):
        raise ValueError(f"`bound` must have the shape of `terms.improvement` {np.shape(terms.improvement)}, "
                         f"got shape {np.shape(bound)}")
    validate.check_instance("what", what, str)
    validate.check_in_range("atol", atol, 0.0, None)
    improvement = np.asarray(terms.improvement).reshape(-1)
    bound = np.asarray(bound).reshape(-1)
    return checks.fraction_at_least(improvement >= bound - atol, 1.0, what=what)


def improvement_bound_example(H: int, advantage_max: float = 1.0):
    """A two-state MDP on which eq-trpo-monotonic-improvement is tight up to a factor
    close to 2, so that no coefficient much smaller than `H (H - 1) ||A||_inf` (TV form)
    can be a bound.

    State 0 ("on track"): action 0 stays, action 1 leaves for state 1 with reward
    `advantage_max`. State 1 (absorbing): action 0 is worth 0, action 1 costs
    `advantage_max`. The old policy `pi` always takes action 0, so `V^pi = 0`,
    `A^pi_h(0, 1) = +advantage_max` and `A^pi_h(1, 1) = -advantage_max`; the new
    policy takes action 1 with probability `d` in both states (`d` = `D^max_TV`). The surrogate,
    which uses `pi`'s states (always state 0), counts only the gain; the new policy
    drifts into state 1 with probability `1 - (1 - d)^h` by step `h` and loses
    there, so `L - (J(pi_new) - J(pi)) = 2 d ||A|| sum_h (1 - (1 - d)^h)`,
    about `H (H - 1) ||A|| d^2` for small `d`, while `D^max_TV = d`.

    Returns `(mdp, policies)`, `policies(d) -> (pi, pi_new)` as "S A" tables.
    """
    H = check_positive_int(H, "H")
    validate.check_in_range("advantage_max", advantage_max, 0.0, None, inclusive=(False, True))
    P = [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]]
    r = [[0.0, float(advantage_max)], [0.0, -float(advantage_max)]]
    mdp = tabular_mdp([1.0, 0.0], P, r, H=H)

    def policies(d):
        pi = jnp.array([[1.0, 0.0], [1.0, 0.0]], jnp.float32)
        d = jnp.asarray(d, jnp.float32)
        row = jnp.stack([1.0 - d, d])
        return pi, jnp.stack([row, row])

    return mdp, policies


def exact_natural_step(mdp: TabularMDP, theta_k: Float[Array, "S A"], delta: float) -> Float[Array, "S A"]:
    """TRPO's full step for the tabular softmax with exact quantities: `x = F^+ g` with the
    exact gradient and Fisher information at `theta_k` (pseudo-inverse: the softmax is
    unchanged by adding a constant to a state's logits), scaled to `1/2 s^T F s = delta`,
    `s = sqrt(2 delta / g^T x) x` (eq-trpo-natural-step)."""
    theta_k = _check_theta(mdp, theta_k, "theta_k")
    check_delta(delta)
    g = exact.exact_gradient(mdp, theta_k).ravel()
    F = exact.fisher_information(mdp, theta_k)
    x = jnp.linalg.pinv(F, hermitian=True) @ g
    return (jnp.sqrt(2 * delta / (g @ x)) * x).reshape(jnp.shape(theta_k))


class BoundAlongStep(NamedTuple):
    """The lower bound and the truth along `theta^k + t s`, `t` in `fractions`."""

    fractions: Float[Array, " T"]
    bound: Float[Array, " T"]  # eq-trpo-monotonic-improvement (KL form)
    improvement: Float[Array, " T"]  # J(theta^k + t s) - J(theta^k)
    trajectory_kl: Float[Array, " T"]  # KL(rho_{theta^k} || rho_{theta^k + t s})
    best: Float[Array, ""]  # the fraction t* that maximises the bound


def bound_maximising_fraction(mdp: TabularMDP, theta_k: Float[Array, "S A"], step: Float[Array, "S A"],
                              n_grid: int = 1001,
                              coefficient: Callable[[ImprovementBoundTerms], Array] | None = None
                              ) -> BoundAlongStep:
    """The step that maximises the lower bound eq-trpo-monotonic-improvement (KL form),
    as a fraction `t*` of `step`, found on a grid of `n_grid` fractions in [0, 1]; with the
    bound, the true improvement and the trajectory KL along the way (all exact)."""
    theta_k = _check_theta(mdp, theta_k, "theta_k")
    step = _check_theta(mdp, step, "step")
    n_grid = check_positive_int(n_grid, "n_grid")
    if coefficient is not None:
        validate.check_callable("coefficient", coefficient)
    return _bound_along_step(mdp, jnp.asarray(theta_k), jnp.asarray(step), n_grid, coefficient)


@functools.partial(jax.jit, static_argnames=("n_grid", "coefficient"))
def _bound_along_step(mdp, theta_k, step, n_grid, coefficient):
    fractions = jnp.linspace(0.0, 1.0, n_grid)
    pi_k = exact.softmax_policy(theta_k)

    def at(t):
        pi_t = exact.softmax_policy(theta_k + t * step)
        terms = _improvement_bound_terms(mdp, pi_k, pi_t)
        return monotonic_improvement_bound(terms, "kl", coefficient), terms.improvement, exact.kl_trajectories(mdp, pi_k, pi_t)

    bound, improvement, kl = jax.vmap(at)(fractions)
    return BoundAlongStep(fractions, bound, improvement, kl, fractions[jnp.argmax(bound)])


def check_bound_forces_small_steps(along: BoundAlongStep, *, at_most: float = 0.1, factor: float = 10.0
                                   ) -> tuple[checks.Check, checks.Check, checks.Check]:
    """The chapter's claims about the step that maximises eq-trpo-monotonic-improvement,
    for one or a batch (leading axis) of `bound_maximising_fraction` results along TRPO's
    full step from several policies:

    1. the bound-maximising step is at most `at_most` of TRPO's step, for every policy
       (a coefficient without the horizon factor `H (H - 1)` fails this);
    2. at TRPO's full step the bound is negative: it certifies no improvement;
    3. yet TRPO's step improves `J` by more than `factor` times what the bound guarantees
       at its own best step."""
    validate.check_instance("along", along, BoundAlongStep, "BoundAlongStep (bound_maximising_fraction)")
    validate.check_in_range("at_most", at_most, 0.0, 1.0, inclusive=(False, True))
    validate.check_in_range("factor", factor, 0.0, None, inclusive=(False, True))
    best = np.atleast_1d(np.asarray(along.best))
    bound = np.asarray(along.bound).reshape(best.size, -1)
    improvement = np.asarray(along.improvement).reshape(best.size, -1)
    small = checks.less(float(best.max()), at_most,
                        what=f"the bound-maximising step is at most {at_most:g} of TRPO's step from each of {best.size} policies")
    nothing = checks.less(float(bound[:, -1].max()), 0.0,
                          what="at TRPO's full step the lower bound is negative (it certifies nothing)")
    gains = improvement[:, -1] / np.maximum(bound.max(axis=1), 1e-12)
    better = checks.greater(float(gains.min()), factor,
                            what=f"TRPO's step improves J by more than {factor:g} times the bound's best guarantee")
    return small, nothing, better


# ---------------------------------------------------------------------------
# Which sampled KL has the Fisher information as its Hessian
# ---------------------------------------------------------------------------


class KLCurvature(NamedTuple):
    """Derivatives at `theta^k` of the two sampled KL estimators of the TRPO section, as dense
    matrices over the flattened parameters (`ravel_pytree` order; small networks only)."""

    gradient_log_ratio: Float[Array, " D"]  # grad of mean_i log pi^k(a_i|s_i) / pi_theta(a_i|s_i)
    hessian_log_ratio: Float[Array, "D D"]  # its Hessian (eq-trpo-kl-estimator)
    hessian_per_state: Float[Array, "D D"]  # Hessian of mean_i KL(pi^k(.|s_i) || pi_theta(.|s_i)) (eq-trpo-kl-states)
    fisher: Float[Array, "D D"]  # mean_i E_{a ~ pi^k(.|s_i)}[grad log pi grad log pi^T], the sampled Fisher


def sampled_kl_curvature(policy, params, obs, actions) -> KLCurvature:
    """For a softmax `policy` at `params = theta^k`, `n` sampled states `obs` ("n ...") and
    actions `actions` ("n") drawn from `pi^k`: the gradient and Hessian of the log-ratio
    estimate of the KL, the Hessian of the per-state estimate, and the sampled Fisher matrix
    with the expectation over actions taken exactly. The per-state Hessian equals the
    Fisher matrix for every policy; the log-ratio Hessian does only when the logits are
    linear in the parameters, and its gradient is zero only on average."""
    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
    check_params(policy, params)
    actions = validate.as_int_array("actions", actions, " n")
    if jnp.ndim(obs) < 1 or jnp.shape(obs)[0] != actions.shape[0]:
        raise ValueError(f"`obs` must have a leading axis n = {actions.shape[0]} (one state per action), "
                         f"got shape {tuple(jnp.shape(obs))}")
    return _sampled_kl_curvature(policy, params, obs, actions)


@functools.partial(jax.jit, static_argnums=0)
def _sampled_kl_curvature(policy, params, obs, actions):
    flat, unravel = ravel_pytree(params)
    logits = jax.vmap(lambda th, o: policy.dist(unravel(th), o), (None, 0))
    logits_k = logits(flat, obs)
    idx = jnp.arange(jnp.shape(actions)[0])

    def kl_log_ratio(th):
        return jnp.mean(jax.nn.log_softmax(logits_k)[idx, actions] - jax.nn.log_softmax(logits(th, obs))[idx, actions])

    def kl_per_state(th):
        return jnp.mean(categorical_kl(logits_k, logits(th, obs)))

    def log_pi(th):  # "n A": log pi_theta(a | s_i) for every action
        return jax.nn.log_softmax(logits(th, obs))

    scores = jax.jacobian(log_pi)(flat)  # "n A D"
    fisher = jnp.einsum("na,nad,nae->de", jax.nn.softmax(logits_k), scores, scores) / idx.size
    return KLCurvature(jax.grad(kl_log_ratio)(flat), jax.hessian(kl_log_ratio)(flat),
                       jax.hessian(kl_per_state)(flat), fisher)


# ---------------------------------------------------------------------------
# The variances of the two KL estimators, exactly
# ---------------------------------------------------------------------------


def kl_variance_example(p: float = 1e-3):
    """The MDP of the TRPO section's exercise `ex-trpo-kl-variance`, on which the per-state
    sum `sum_h KL(pi^k(.|s_h) || pi_theta(.|s_h))` has a *larger* variance than the log-ratio
    sum `sum_h log pi^k(a_h|s_h) / pi_theta(a_h|s_h)`, though each per-state term is the
    conditional expectation of the log-ratio term given its state.

    H = 2; from state 0, action 1 leads to state 1, where the policies differ (`pi^k` takes
    action 1 with probability `p`, `pi_theta` is uniform), and action 0 to state 2, where
    they agree. At state 0, `pi^k` is uniform and `pi_theta` is chosen so that the log-ratio
    of action 1 is that of action 0 minus `KL(pi^k(.|1) || pi_theta(.|1))`: the first
    log-ratio cancels the second on average. Returns `(mdp, theta_k, theta)`, "S A" logits."""
    validate.check_in_range("p", p, 0.0, 0.5, inclusive=False)
    if not 0.0 < p < 0.5:
        raise ValueError(f"`p` must be in (0, 0.5), got {p!r}")
    P = np.zeros((3, 2, 3))
    P[0, 1, 1] = P[0, 0, 2] = 1.0
    P[1, :, 1] = P[2, :, 2] = 1.0
    mdp = tabular_mdp([1.0, 0.0, 0.0], P, np.zeros((3, 2)), H=2)
    kappa = (1 - p) * math.log((1 - p) / 0.5) + p * math.log(p / 0.5)
    # log pi^k(1|0)/pi_theta(1|0) - log pi^k(0|0)/pi_theta(0|0) = theta_0[0] - theta_0[1] = -kappa.
    theta_k = jnp.array([[0.0, 0.0], [math.log(1 - p), math.log(p)], [0.0, 0.0]], jnp.float32)
    theta = jnp.array([[0.0, kappa], [0.0, 0.0], [0.0, 0.0]], jnp.float32)
    return mdp, theta_k, theta


class KLEstimatorDistributions(NamedTuple):
    """Every trajectory of a small MDP under `pi^k`, with the value of each KL estimator on it."""

    probs: Float[Array, " M"]  # rho_{theta^k}(tau)
    log_ratio: Float[Array, " M"]  # sum_h log pi^k(a_h|s_h) / pi_theta(a_h|s_h)
    per_state: Float[Array, " M"]  # sum_h KL(pi^k(.|s_h) || pi_theta(.|s_h))
    log_ratio_terms: Float[Array, "M H"]
    per_state_terms: Float[Array, "M H"]


def kl_estimator_distributions(mdp: TabularMDP, theta_k: Float[Array, "S A"], theta: Float[Array, "S A"]
                               ) -> KLEstimatorDistributions:
    """The exact distributions of the log-ratio (eq-trpo-kl-estimator) and per-state
    (eq-trpo-kl-states) single-trajectory estimators, by enumerating every trajectory
    (`utils.exact.enumerate_trajectories`; very small MDPs only)."""
    theta_k = _check_theta(mdp, theta_k, "theta_k")
    theta = _check_theta(mdp, theta, "theta")
    traj = exact.enumerate_trajectories(mdp, exact.softmax_policy(theta_k))
    log_pk, log_pt = jax.nn.log_softmax(theta_k, axis=-1), jax.nn.log_softmax(theta, axis=-1)
    log_ratio_terms = log_pk[traj.states, traj.actions] - log_pt[traj.states, traj.actions]
    per_state_terms = categorical_kl(theta_k, theta)[traj.states]
    return KLEstimatorDistributions(traj.probs, log_ratio_terms.sum(axis=1), per_state_terms.sum(axis=1),
                                    log_ratio_terms, per_state_terms)


# ---------------------------------------------------------------------------
# The chapter's claims about the trust region, as checks
# ---------------------------------------------------------------------------


def _accepted_kls(name: str, kl, accepted) -> np.ndarray:
    kl = validate.as_float_array(name, kl)
    accepted = validate.as_bool_array("accepted", accepted)
    validate.check_same_shape((name, kl), ("accepted", accepted))
    return np.asarray(kl)[np.asarray(accepted)]


def check_tabular_trust_region(exact_kl, accepted, delta: float, *, within: float = 1.25,
                               quantile: float = 0.9, at_least: float = 0.5) -> tuple[checks.Check, checks.Check]:
    """What holds for the exact KL `KL(rho_{theta^k} || rho_{theta^{k+1}})` of the accepted steps
    of tabular TRPO runs (`TabularRun.exact_kl`, `TabularRun.info.accepted`), where the line
    search saw only a sampled KL:

    1. at least a fraction `quantile` of them have an exact KL of at most `within * delta`
       (the sampled constraint holds approximately; a KL of half the right scale in the
       constraint lets the steps grow to about twice the radius and fails this);
    2. their median exact KL is at least `at_least * delta` (the steps use the trust
       region; a KL summed where it should be averaged shrinks them and fails this).

    Exact numbers for each step: the first check's resolution is one step."""
    kl = _accepted_kls("exact_kl", exact_kl, accepted)
    check_delta(delta)
    validate.check_in_range("within", within, 0.0, None, inclusive=(False, True))
    validate.check_in_range("quantile", quantile, 0.0, 1.0)
    validate.check_in_range("at_least", at_least, 0.0, None)
    if kl.size == 0:
        raise checks.CheckFailed("no step was accepted: nothing to check")
    inside = checks.fraction_at_least(
        kl <= within * delta, quantile,
        what=f"at least {quantile:.0%} of the {kl.size} accepted steps have an exact KL of at most {within:g} δ")
    used = checks.greater(float(np.median(kl)), at_least * delta,
                          what=f"the median exact KL of the accepted steps exceeds {at_least:g} δ")
    return inside, used


def check_fresh_batch_kl(fresh_kl, accepted, delta: float, *, z: float = 3.0,
                         at_least: float = 0.25) -> tuple[checks.Check, checks.Check]:
    """What holds for the KL of TRPO's accepted CartPole steps measured on a fresh batch of
    `pi^k` that the line search did not see (`Metrics.fresh_kl` with `config.fresh_kl`):

    1. their mean is at most `delta` up to sampling error (`checks.mean_at_most`, `z`
       standard errors of the spread over updates; a constraint with half the KL fails);
    2. their median exceeds `at_least * delta` (a KL summed where it should be averaged
       makes the steps tiny and fails)."""
    kl = _accepted_kls("fresh_kl", fresh_kl, accepted)
    check_delta(delta)
    validate.check_in_range("z", z, 0.0, None, inclusive=(False, True))
    validate.check_in_range("at_least", at_least, 0.0, None)
    if kl.size < 2:
        raise checks.CheckFailed(f"only {kl.size} accepted steps: too few to check")
    mean = checks.mean_at_most(kl, delta, z=z, unit="δ",
                               what=f"the mean fresh-batch KL of the {kl.size} accepted steps is at most δ")
    used = checks.greater(float(np.median(kl)), at_least * delta,
                          what=f"the median fresh-batch KL of the accepted steps exceeds {at_least:g} δ")
    return mean, used


# ---------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------


class _RunnerState(NamedTuple):
    policy_params: tuple
    value_params: tuple
    value_opt: optax.OptState
    env_state: object
    obs: Float[Array, "N obs_dim"]
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
    validate.check_in_range(f"{name}.reward_scale", config.reward_scale, 0.0, None, inclusive=(False, True))
    if isinstance(config.init_log_std, bool) or not (isinstance(config.init_log_std, (int, float))
                                                     and math.isfinite(config.init_log_std)):
        raise ValueError(f"{name}.init_log_std must be a finite number, got {config.init_log_std!r}")
    return config


def policy_of(config: TRPOConfig = TRPOConfig(), env: Environment | None = None):
    """The `utils.policies.Policy` that `make_train(config, env)` trains (to run or animate it):
    a softmax MLP for discrete actions, a diagonal Gaussian MLP for a Box (`mlp_policy_for`)."""
    check_config(config)
    env = env_or_cartpole(env, config.max_episode_steps)
    return mlp_policy_for(env, tuple(config.hidden), config.init_log_std)


def make_train(config: TRPOConfig = TRPOConfig(), kl_multiplier: float = 1.0, env: Environment | None = None):
    """Return `train(key) -> TrainOutput`, the whole training run on `env` (default
    CartPole-v1, with `config.max_episode_steps`; any `utils.envs.make(...)`
    environment, discrete or continuous) as one pure function.

    Config errors raise here, eagerly. `train` is jittable and vmappable over keys.
    `kl_multiplier` scales the KL that the constraint (and so the Fisher) uses; it is 1
    for TRPO and exists so that tests can hand the chapter's checks a TRPO whose KL has
    the wrong scale (it may be traced, so one compilation serves several scales).
    `Metrics.fresh_kl` always measures the KL at its right scale.
    """
    check_config(config)
    validate.check_in_range("kl_multiplier", kl_multiplier, 0.0, None, inclusive=(False, True))
    env = env_or_cartpole(env, config.max_episode_steps)
    policy = policy_of(config, env)
    value_sizes = (env.obs_dim, *config.hidden, 1)
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
        advantages = gae(traj.rewards * config.reward_scale, values, next_values, traj.terminated,
                         traj.truncated, config.gamma, config.gae_lambda)
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
            return kl_scale * jnp.sum(policy_kl(logits_k, batch_logits(unravel(theta), traj.obs)))

        def constraint_kl(theta):
            return kl_multiplier * kl_fn(theta)

        theta, info = _trpo_step(
            surrogate_fn, constraint_kl, theta_k, config.delta, config.cg_iters, config.cg_damping,
            config.backtrack_coef, config.n_backtracks, config.line_search,
        )
        policy_params = unravel(theta)

        if config.fresh_kl:
            # Measurement: the same KL estimator on an independent batch of pi^k, collected
            # from the same environment states with new random actions (the line search
            # never saw it). The environments then continue from the training batch.
            fresh, _, _ = rollout(
                jax.random.fold_in(rollout_key, 1), policy, runner.policy_params, env.step,
                runner.env_state, runner.obs, config.n_steps,
            )
            fresh_done = fresh.terminated | fresh.truncated
            fresh_scale = (1.0 / fresh_done.size if config.kl_per_step
                           else 1.0 / (config.n_envs + fresh_done[:, :-1].sum()))
            fresh_kl = fresh_scale * jnp.sum(policy_kl(
                batch_logits(runner.policy_params, fresh.obs), batch_logits(policy_params, fresh.obs)))
        else:
            fresh_kl = jnp.full((), jnp.nan, jnp.float32)

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
            fresh_kl=fresh_kl,
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


def train_seeds(key: PRNGKeyArray, n_seeds: int, config: TRPOConfig = TRPOConfig(),
                env: Environment | None = None) -> TrainOutput:
    """Train `n_seeds` independent runs at once (`jit` of `vmap` of `train`, the seeds sharded
    over the devices: `utils.seeds`); every output has a leading axis "n_seeds"."""
    validate.check_key("key", key)
    n_seeds = check_positive_int(n_seeds, "n_seeds")
    return seeds.train_seeds(make_train(config, env=env), key, n_seeds)
