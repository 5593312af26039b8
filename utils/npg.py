"""The natural policy gradient (Kakade 2001): exactly on tabular MDPs, by conjugate gradient on CartPole.

Every update is the closed form of the NPG section,

    theta^{k+1} = theta^k + eta F^{-1} g,   eta = sqrt(2 delta / (g^T F^{-1} g)),

with `g = grad J(theta^k)` and `F` the Fisher information at `theta^k`: the
maximiser of the linearised objective `g^T (theta - theta^k)` on the
quadratic KL ellipse `1/2 (theta - theta^k)^T F (theta - theta^k) <= delta`.

- `npg_tabular(mdp, theta_init, delta, n_iterations)`: the tabular softmax
  policy with the *exact* gradient and Fisher matrix (`utils.exact`), the
  linear system solved densely (the pseudo-inverse: the tabular Fisher is
  singular). Everything is computed exactly, so the curves show the method,
  not sampling noise. `gradient_ascent_tabular` is vanilla gradient ascent on
  the same problem, for comparison.
- `check_natural_gradient(mdp, theta, x)`: the chapter's natural-gradient
  check, exact on a tabular MDP: `F x = grad J` (eq-npg-update), the normal
  equations of the compatible regression (thm-npg-compatible).
- `compatible_weights(mdp, theta)`: the least-squares weights of the advantage
  regressed on the score features (thm-npg-compatible), computed directly.
- `multiplicative_weights(mdp, theta, eta)`: the tabular NPG step written as a
  multiplicative-weights update of the policy (eq-npg-multiplicative-weights).
- `check_multiplicative_weights(mdp, theta, delta)`: the chapter's check that
  one step of eq-npg-update is that update.
- `reparameterisation_gaps(...)`: how far a step taken in other coordinates
  lands from the step in `theta` (ex-npg-invariance).
- `sampled_pg_tabular(...)`: NPG and vanilla policy gradient from the same
  sampled estimates, on the same keys, with the same step rule; only `F^{-1}`
  differs (NPG section, "A sampled comparison").
- `NPGConfig`, `make_train(config)`: CartPole with an MLP policy; `g` and
  the Fisher-vector products are estimated from each batch and `F^{-1} g` is
  found by conjugate gradient, never forming `F`. This is TRPO
  (`utils.trpo`) without the line search: the same batch, advantages, value
  fit and tricks (named there), so the two differ only in step 3 of
  `utils.trpo.trpo_step`.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from utils import checks, exact, seeds, validate
from utils.envs import Environment
from utils.envs.tabular import TabularMDP
from utils.estimators import reward_to_go, score_weighted_sum
from utils.natural import check_damping, check_delta, check_positive_int, npg_step, sampled_fisher_information
from utils.policies import tabular_softmax
from utils.rollouts import sample_trajectories
from utils.trpo import TRPOConfig, TrainOutput, policy_of as _trpo_policy_of
from utils.trpo import make_train as _trpo_make_train

__all__ = [
    "TabularRun",
    "npg_tabular",
    "gradient_ascent_tabular",
    "check_natural_gradient",
    "compatible_weights",
    "multiplicative_weights",
    "check_multiplicative_weights",
    "reparameterisation_gaps",
    "sampled_pg_tabular",
    "NPGConfig",
    "PENDULUM_CONFIG",
    "make_train",
    "train_seeds",
    "policy_of",
]


# ---------------------------------------------------------------------------
# Tabular MDPs: exact gradient, exact Fisher
# ---------------------------------------------------------------------------


class TabularRun(NamedTuple):
    """The iterates of a tabular run ("K" = n_iterations)."""

    thetas: Float[Array, "K+1 S A"]  # theta^0, ..., theta^K
    objective: Float[Array, " K+1"]  # J(theta^k), exact
    kl: Float[Array, " K"]  # exact KL(rho_{theta^k} || rho_{theta^{k+1}})


def _check_tabular(mdp, theta_init, n_iterations):
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"`mdp` must be a TabularMDP (utils.envs.tabular), got {type(mdp).__name__}")
    shape = (mdp.n_states, mdp.n_actions)
    validate.as_float_array("theta_init", theta_init)
    if tuple(jnp.shape(theta_init)) != shape:
        raise ValueError(
            f"`theta_init` must have shape (S, A) = {shape} for the tabular softmax, got {tuple(jnp.shape(theta_init))}"
        )
    return check_positive_int(n_iterations, "n_iterations")


def _check_theta(mdp, theta, name: str = "theta"):
    validate.check_instance("mdp", mdp, TabularMDP, "utils.envs.tabular.TabularMDP")
    theta = validate.as_float_array(name, theta, f"{mdp.n_states} {mdp.n_actions}")
    validate.check_finite(name, theta)
    return jnp.asarray(theta, jnp.float32)


def _tabular_run(mdp, theta_init, n_iterations, update):
    def one(theta, _):
        theta_next = update(theta)
        kl = exact.kl_trajectories(mdp, exact.softmax_policy(theta), exact.softmax_policy(theta_next))
        return theta_next, (theta_next, kl)

    _, (thetas, kls) = jax.lax.scan(one, theta_init, None, length=n_iterations)
    thetas = jnp.concatenate([theta_init[None], thetas])
    objective = jax.vmap(exact.exact_objective, (None, 0))(mdp, thetas)
    return TabularRun(thetas, objective, kls)


@functools.partial(jax.jit, static_argnames=("n_iterations",))
def _npg_tabular(mdp, theta_init, delta, n_iterations, damping):
    def update(theta):
        g = exact.exact_gradient(mdp, theta).ravel()
        F = exact.fisher_information(mdp, theta)
        return theta + npg_step(g, F, delta, damping).reshape(theta.shape)

    return _tabular_run(mdp, theta_init, n_iterations, update)


def npg_tabular(
    mdp: TabularMDP,
    theta_init: Float[Array, "S A"],
    delta: float,
    n_iterations: int,
    damping: float = 0.0,
) -> TabularRun:
    """`n_iterations` natural policy gradient steps for the tabular softmax policy,
    with the exact `grad J` (`utils.exact.exact_gradient`) and the exact Fisher
    matrix (`utils.exact.fisher_information`), the step solved densely.

    Each step's exact KL is `delta` up to third-order terms (the closed form
    matches the second-order model of the KL). `damping` adds `damping * I`
    to the Fisher (0 = the chapter's update).
    """
    n_iterations = _check_tabular(mdp, theta_init, n_iterations)
    check_delta(delta)
    check_damping(damping)
    return _npg_tabular(mdp, jnp.asarray(theta_init, jnp.float32), delta, n_iterations, damping)


@functools.partial(jax.jit, static_argnames=("n_iterations",))
def _gradient_ascent_tabular(mdp, theta_init, eta, n_iterations):
    def update(theta):
        return theta + eta * exact.exact_gradient(mdp, theta)

    return _tabular_run(mdp, theta_init, n_iterations, update)


def gradient_ascent_tabular(
    mdp: TabularMDP, theta_init: Float[Array, "S A"], eta: float, n_iterations: int
) -> TabularRun:
    """Vanilla gradient ascent `theta <- theta + eta grad J(theta)` with the exact
    gradient, on the same problem as `npg_tabular` (for comparison)."""
    n_iterations = _check_tabular(mdp, theta_init, n_iterations)
    check_delta(eta, "eta")
    return _gradient_ascent_tabular(mdp, jnp.asarray(theta_init, jnp.float32), eta, n_iterations)


# ---------------------------------------------------------------------------
# The natural gradient on a tabular MDP: the check, compatible function
# approximation, multiplicative weights
# ---------------------------------------------------------------------------


def check_natural_gradient(
    mdp: TabularMDP, theta: Float[Array, "S A"], x: Float[Array, " D"], *, what: str = "a natural gradient",
    rtol: float = 1e-3,
) -> checks.Check:
    """The chapter's natural-gradient check: `x` (flat, "D" = S * A) solves `F_theta x = grad J(theta)`
    for the tabular softmax, with the exact Fisher matrix and gradient of `utils.exact`.

    This is the equation behind eq-npg-update, and the normal equations of the
    compatible regression (thm-npg-compatible): `grad J − F x = E[sum_h psi_h (A_h − psi_h^T x)]`
    with `psi_h = grad log pi_theta(a_h | s_h)`, so it holds exactly when `x` is the
    least-squares weights of the advantage on the score features. Every solution
    is `F^+ grad J` plus a null direction of `F`, which changes no probability.
    Rejects `x` when an entry of `F x − grad J` exceeds `rtol` times the largest
    entry of `grad J` (the resolution, in units of ‖∇J‖∞). A "natural" gradient
    computed with the identity (`x = grad J`), with a Fisher matrix that drops
    the visitation weights, or with a wrong linear solve, fails it.
    """
    theta = _check_theta(mdp, theta)
    validate.check_instance("what", what, str)
    validate.check_in_range("rtol", rtol, 0.0, None, inclusive=(False, True))
    x = validate.as_float_array("x", x)
    g = exact.exact_gradient(mdp, theta).ravel()
    F = exact.fisher_information(mdp, theta)
    x = jnp.asarray(x, jnp.float32).reshape(-1)
    if x.shape != g.shape:
        raise ValueError(f"{what}: x must have S * A = {g.shape[0]} entries, got {x.shape[0]}")
    scale = float(jnp.max(jnp.abs(g)))
    if scale == 0:
        raise ValueError(f"{what}: the gradient is zero at theta, so every x is a natural gradient")
    return checks.close(F @ x / scale, g / scale, rtol=0.0, atol=rtol, what=what, unit="× ‖∇J‖∞")


def compatible_weights(
    mdp: TabularMDP, theta: Float[Array, "S A"], target: str = "advantage"
) -> Float[Array, " D"]:
    """The minimum-norm least-squares weights of compatible function approximation (thm-npg-compatible):

        x = argmin_x  E_{tau ~ rho_theta}[ sum_h (A_h(s_h, a_h) − x^T psi(s_h, a_h))^2 ],
        psi(s, a) = grad log pi_theta(a | s)   (eq-npg-compatible-loss),

    solved directly as a weighted least-squares problem over all `(h, s, a)`
    with weights `d_h(s, a) = P(s_h = s, a_h = a)` (exact enumeration of the
    expectation; `jnp.linalg.lstsq`). `target="q"` regresses `Q_h` instead of
    `A_h`, which gives the same weights because the score has mean zero in each
    state. The theorem says `x = F^+ grad J`.
    """
    if target not in ("advantage", "q"):
        raise ValueError(f"target must be 'advantage' or 'q', got {target!r}")
    theta = _check_theta(mdp, theta)
    S, A = theta.shape
    pi = jnp.broadcast_to(exact.softmax_policy(theta), (mdp.H, S, A))
    d = exact.state_action_visitation(mdp, pi)  # "H S A"
    y = exact.advantages(mdp, pi) if target == "advantage" else exact.q_values(mdp, pi)
    features = jnp.broadcast_to(exact.score_table(theta).reshape(S, A, S * A), (mdp.H, S, A, S * A))
    root = jnp.sqrt(d).reshape(-1, 1)
    x, *_ = jnp.linalg.lstsq(root * features.reshape(-1, S * A), root[:, 0] * y.reshape(-1), rcond=1e-5)
    return x


def multiplicative_weights(mdp: TabularMDP, theta: Float[Array, "S A"], eta: float) -> Float[Array, "S A"]:
    """The policy after one tabular NPG step of size `eta`, as multiplicative weights
    (eq-npg-multiplicative-weights in the NPG section):

        pi^{k+1}(a | s) = pi^k(a | s) exp(eta A_bar^k(s, a)) / Z_k(s),
        A_bar^k(s, a) = sum_h d^k_h(s) A^k_h(s, a) / sum_h d^k_h(s),

    with `pi^k = softmax(theta)`, `d^k_h(s) = P(s_h = s)` and `A^k_h` its
    advantages; states `pi^k` never visits keep `pi^k`. (In the discounted
    setting of Agarwal et al. (2021) the exponent is `eta A^k(s, a) / (1 − gamma)`.)
    """
    theta = _check_theta(mdp, theta)
    validate.check_in_range("eta", eta, 0.0, None)
    S, A = theta.shape
    pi = jnp.broadcast_to(exact.softmax_policy(theta), (mdp.H, S, A))
    d = exact.state_visitation(mdp, pi)  # "H S"
    visits = d.sum(axis=0)
    average = jnp.einsum("hs,hsa->sa", d, exact.advantages(mdp, pi)) / jnp.where(visits > 0, visits, 1.0)[:, None]
    return jax.nn.softmax(jax.nn.log_softmax(theta, axis=-1) + eta * average, axis=-1)


def check_multiplicative_weights(
    mdp: TabularMDP, theta: Float[Array, "S A"], delta: float, *, update=multiplicative_weights, what: str | None = None,
    atol: float = 1e-5,
) -> checks.Check:
    """The chapter's check of prop-npg-multiplicative-weights: one step of eq-npg-update with radius
    `delta` from `theta` (exact gradient and Fisher matrix, the pseudo-inverse) gives the policy
    `update(mdp, theta, eta)`, with `eta = sqrt(2 delta / (g^T F^+ g))` the step's own `eta`.
    Compares the two policy tables entrywise to `atol` (the resolution, in probability)."""
    check_delta(delta)
    theta = _check_theta(mdp, theta)
    validate.check_callable("update", update)
    validate.check_in_range("atol", atol, 0.0, None, inclusive=(False, True))
    g, F = exact.exact_gradient(mdp, theta).ravel(), exact.fisher_information(mdp, theta)
    x = jnp.linalg.pinv(F, hermitian=True, rtol=1e-5) @ g
    eta = float(jnp.sqrt(2 * delta / (g @ x)))
    after_step = exact.softmax_policy(theta + npg_step(g, F, delta).reshape(theta.shape))
    return checks.close(after_step, update(mdp, theta, eta), atol=atol, rtol=0.0, unit="in probability",
                        what=what or f"one NPG step (eta = {eta:.3f}) is the multiplicative-weights update")


def reparameterisation_gaps(
    objective, kl, to_theta, omega_k: Float[Array, " D"], etas, direction: str = "natural"
) -> Float[Array, " E"]:
    """ex-npg-invariance: for each step size in `etas`, the distance
    `|| to_theta(omega_k + eta u_omega) - (theta_k + eta u_theta) ||` between a step taken in the
    coordinates `omega` (with `theta = to_theta(omega)`, `theta_k = to_theta(omega_k)`) and the same
    rule's step taken in `theta`.

    `objective(theta)` is `J`; `kl(theta_k, theta)` is the exact `KL(rho_{theta_k} || rho_theta)`.
    With `direction="natural"`, `u = F^{-1} grad J` in each coordinate system, `F` the Hessian of
    the KL computed afresh in that system (not by the chain rule); with `"gradient"`, `u = grad J`.
    For the natural direction the gap is at rounding level when `to_theta` is linear and
    `O(eta^2)` when it is smooth and nonlinear; for the gradient it is `O(eta)` in general.
    """
    if direction not in ("natural", "gradient"):
        raise ValueError(f"direction must be 'natural' or 'gradient', got {direction!r}")
    for name, fn in (("objective", objective), ("kl", kl), ("to_theta", to_theta)):
        validate.check_callable(name, fn)
    omega_k = validate.as_float_array("omega_k", omega_k, "D")
    validate.check_finite("etas", validate.as_float_array("etas", etas))
    theta_k = to_theta(omega_k)

    def step_direction(coordinates, point):
        g = jax.grad(lambda p: objective(coordinates(p)))(point)
        if direction == "gradient":
            return g
        F = jax.hessian(lambda p: kl(coordinates(point), coordinates(p)))(point)
        return jnp.linalg.solve(F, g)

    u_omega = step_direction(to_theta, omega_k)
    u_theta = step_direction(lambda t: t, theta_k)
    etas = jnp.asarray(etas, jnp.float32)
    return jax.vmap(lambda eta: jnp.linalg.norm(to_theta(omega_k + eta * u_omega) - (theta_k + eta * u_theta)))(etas)


# ---------------------------------------------------------------------------
# A sampled comparison: NPG and vanilla PG with the same estimates
# ---------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("n_iterations", "n_trajectories"))
def _sampled_pg_tabular(mdp, theta_init, delta, n_iterations, n_trajectories, key, natural):
    S, A = theta_init.shape
    policy = tabular_softmax(S, A)
    steps = jnp.arange(mdp.H)[None, :]

    def one(theta, k):
        batch = sample_trajectories(jax.random.fold_in(key, k), mdp, policy, theta, n_trajectories)
        pi = exact.softmax_policy(theta)
        # The estimator: reward-to-go minus the exact value V^{pi^k}_h(s_h) (eq-advantage-pg).
        weights = reward_to_go(batch.rewards) - exact.v_values(mdp, pi)[steps, batch.obs]
        g = score_weighted_sum(policy, theta, batch, weights).ravel()
        F = sampled_fisher_information(policy, theta, batch.obs, batch.actions)  # per-step form
        direction = jnp.where(natural, jnp.linalg.pinv(F, rtol=1e-5, hermitian=True) @ g, g)  # the only difference
        # The same step rule for both: scale the direction to the sampled quadratic KL model, 1/2 s^T F s = delta.
        curvature = direction @ F @ direction
        positive = curvature > 0
        step = jnp.where(positive, jnp.sqrt(2 * delta / jnp.where(positive, curvature, 1.0)), 0.0) * direction
        theta_next = theta + step.reshape(S, A)
        kl = exact.kl_trajectories(mdp, pi, exact.softmax_policy(theta_next))
        return theta_next, (theta_next, kl)

    _, (thetas, kls) = jax.lax.scan(one, theta_init, jnp.arange(n_iterations))
    thetas = jnp.concatenate([theta_init[None], thetas])
    objective = jax.vmap(exact.exact_objective, (None, 0))(mdp, thetas)
    return TabularRun(thetas, objective, kls)


def sampled_pg_tabular(
    mdp: TabularMDP,
    theta_init: Float[Array, "S A"],
    delta: float,
    n_iterations: int,
    n_trajectories: int,
    key: PRNGKeyArray,
    natural: bool = True,
) -> TabularRun:
    """Sampled NPG (`natural=True`) or vanilla policy gradient (`natural=False`) for the tabular
    softmax, differing only in `F^{-1}` (NPG section, "A sampled comparison").

    Iteration `k` samples `n_trajectories` trajectories of `pi_{theta^k}` with the
    key `fold_in(key, k)` (so two runs with the same `key` use the same random
    numbers, and the same batch at `k = 0`), and from them estimates

        g_hat = (1/N) sum_n sum_h grad log pi(a_h | s_h) (G_h − V^{pi^k}_h(s_h)),
        F_hat = (1/N) sum_n sum_h grad log pi(a_h | s_h) grad log pi(a_h | s_h)^T,

    (reward-to-go `G_h`, the exact value as baseline, the per-step Fisher
    eq-npg-fisher-steps). The direction is `x = F_hat^+ g_hat` (NPG) or
    `x = g_hat` (vanilla), and both take the step `sqrt(2 delta / x^T F_hat x) x`,
    whose sampled quadratic KL model is `delta`: eq-npg-update for NPG, the
    gradient direction scaled to the same KL budget for vanilla. Returns the
    iterates with the exact `J` and the exact KL of each step. `natural` may be
    a traced boolean: vmap over `key` and `natural` to run several seeds of both
    methods in one compiled function.
    """
    n_iterations = _check_tabular(mdp, theta_init, n_iterations)
    n_trajectories = check_positive_int(n_trajectories, "n_trajectories")
    check_delta(delta)
    validate.check_key("key", key)
    return _sampled_pg_tabular(mdp, jnp.asarray(theta_init, jnp.float32), delta, n_iterations, n_trajectories, key,
                               jnp.asarray(natural, bool))


# ---------------------------------------------------------------------------
# CartPole: sampled gradient, Fisher-vector products, conjugate gradient
# ---------------------------------------------------------------------------


class NPGConfig(NamedTuple):
    """Hyperparameters of NPG on CartPole; the defaults learn CartPole-v1 in a
    few dozen iterations. The fields mean what they mean in `utils.trpo.TRPOConfig`."""

    delta: float = 0.02  # the KL radius of each step (second-order model)
    n_envs: int = 8
    n_steps: int = 128
    n_iterations: int = 40
    cg_iters: int = 10
    cg_damping: float = 0.1  # trick: damping, F + zeta I with zeta = cg_damping (0 = off)
    kl_per_step: bool = True  # trick: KL averaged over states (False: trajectory KL)
    normalize_advantages: bool = True  # trick
    gamma: float = 0.99  # trick: discount
    gae_lambda: float = 0.95  # GAE (eq-gae)
    value_learning_rate: float = 1e-2
    value_steps: int = 20
    hidden: tuple = (32, 32)
    max_episode_steps: int = 500
    init_log_std: float = 0.0
    reward_scale: float = 1.0  # trick


# Pendulum-v1: `utils.trpo.PENDULUM_CONFIG` without the line search (the natural step of KL
# radius δ taken as is). Seeds 0–3 reached −150 to −165 after 50 iterations (160 000 steps).
PENDULUM_CONFIG = NPGConfig(n_envs=16, n_steps=200, n_iterations=50, gamma=0.95, reward_scale=0.1, hidden=(64, 64))


def _as_trpo_config(config: NPGConfig) -> TRPOConfig:
    if not isinstance(config, NPGConfig):
        raise TypeError(f"config must be an NPGConfig, got {type(config).__name__}")
    return TRPOConfig(line_search=False, **config._asdict())


def make_train(config: NPGConfig = NPGConfig(), env: Environment | None = None):
    """Return `train(key) -> utils.trpo.TrainOutput` for NPG on `env` (default CartPole-v1;
    any `utils.envs.make(...)` environment, discrete or continuous): each
    iteration takes the closed-form natural step `theta^k + eta x`, with
    `x ~ F^{-1} g` by conjugate gradient on Fisher-vector products, and no
    line search. Jittable and vmappable over keys; config errors raise here."""
    return _trpo_make_train(_as_trpo_config(config), env=env)


def train_seeds(key: PRNGKeyArray, n_seeds: int, config: NPGConfig = NPGConfig(),
                env: Environment | None = None) -> TrainOutput:
    """Train `n_seeds` independent runs at once (`jit` of `vmap` of `train`, the seeds sharded
    over the devices: `utils.seeds`)."""
    validate.check_key("key", key)
    n_seeds = check_positive_int(n_seeds, "n_seeds")
    return seeds.train_seeds(make_train(config, env), key, n_seeds)


def policy_of(config: NPGConfig = NPGConfig(), env: Environment | None = None):
    """The `utils.policies.Policy` that `make_train(config, env)` trains."""
    return _trpo_policy_of(_as_trpo_config(config), env)
