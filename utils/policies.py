"""Parameterised policies, each with `sample`, `log_prob` and its closed-form score.

A policy is a `Policy`: a NamedTuple of pure functions (PureJaxRL style), so
it can be passed into `jax.jit`-ed code as a static argument and its
parameters are an ordinary pytree. For every parameterisation, `score` is the
closed form the chapter derives for the score function `∇_θ log π_θ(a|s)`;
the tests check each one against `jax.grad(log_prob)`.

All functions act on one observation and one action; `jax.vmap` them over a
batch.

- `tabular_softmax`: `π_θ(a|s) = exp(θ_{s,a}) / Σ_{a'} exp(θ_{s,a'})`,
  score `e_s ⊗ (e_a − π_θ(·|s))`.
- `linear_softmax`: `π_θ(a|s) ∝ exp(θᵀφ(s,a))`,
  score `φ(s,a) − E_{a'∼π_θ(s)}[φ(s,a')]`.
- `mlp_softmax`: `π_θ(a|s) ∝ exp(f_θ(s,a))` with `f_θ` a small MLP,
  score `∇f_θ(s,a) − E_{a'∼π_θ(s)}[∇f_θ(s,a')]`.
- `diagonal_gaussian`: `π_θ(·|s) = N(μ_θ(s), diag σ²)`, score with respect to
  the mean parameters `∇μ_θ(s)ᵀ (a − μ_θ(s))/σ²` and, when `σ` is learned,
  with respect to `log σ` `(a − μ_θ(s))²/σ² − 1`.
"""
from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from utils import validate
from utils.envs import Environment

Params = Any  # a pytree of arrays
Obs = Any  # an integer state (tabular) or a float vector
Action = Any  # an integer (discrete) or a float vector (continuous)


class Policy(NamedTuple):
    """A parameterised policy `π_θ(a|s)` as a bundle of pure functions.

    - `init(key) -> params`: initial parameters `θ`.
    - `dist(params, obs)`: the parameters of the action distribution at `obs`:
      the logits `"A"` for softmax policies, `(mean "D", log_std "D")` for the
      Gaussian.
    - `sample(key, params, obs) -> action`.
    - `log_prob(params, obs, action) -> scalar`: `log π_θ(a|s)`.
    - `score(params, obs, action) -> params-shaped pytree`:
      `∇_θ log π_θ(a|s)` in closed form.
    - `name`: what the error messages call it.

    The constructors return the same `Policy` object for the same arguments,
    so passing a policy to a jitted function as a static argument compiles once.
    """

    init: Callable[[PRNGKeyArray], Params]
    dist: Callable[[Params, Obs], Any]
    sample: Callable[[PRNGKeyArray, Params, Obs], Action]
    log_prob: Callable[[Params, Obs, Action], Float[Array, ""]]
    score: Callable[[Params, Obs, Action], Params]
    name: str


# --------------------------------------------------------------------------
# Bad input: checked eagerly, before anything is traced.
# --------------------------------------------------------------------------


def _describe(tree) -> str:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    return ", ".join(
        f"{jax.tree_util.keystr(path) or 'θ'}: {tuple(jnp.shape(leaf))}" for path, leaf in leaves
    )


def check_params(policy: Policy, params: Params, argname: str = "params") -> None:
    """Raise a ValueError naming `argname` unless `params` has the structure and
    shapes of `policy.init(key)`. Call it eagerly, outside `jit`."""
    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
    validate.check_instance("argname", argname, str)
    expected = jax.eval_shape(policy.init, jax.random.key(0))
    exp_def = jax.tree_util.tree_structure(expected)
    try:
        got_def = jax.tree_util.tree_structure(params)
    except Exception as err:  # pragma: no cover - tree_structure accepts anything
        raise ValueError(f"{argname} must be a pytree of arrays for {policy.name}") from err
    ok = got_def == exp_def
    if ok:
        for want, got in zip(jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(params)):
            if not hasattr(got, "shape") or tuple(got.shape) != tuple(want.shape):
                ok = False
                break
            if not jnp.issubdtype(got.dtype, jnp.floating):
                ok = False
                break
    if not ok:
        raise ValueError(
            f"{argname} does not fit the policy {policy.name}: expected float arrays "
            f"{{{_describe(expected)}}}, got {{{_describe(params)}}}"
        )


def _check_positive_int(value, argname: str) -> int:
    try:
        ok = not isinstance(value, bool) and operator.index(value) >= 1
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{argname} must be a positive int, got {value!r}")
    return operator.index(value)


# --------------------------------------------------------------------------
# Softmax policies over discrete actions: the score is (e_a − π) pulled back
# through the logits, which is the closed form of every example in the chapter.
# --------------------------------------------------------------------------


def _softmax_policy(init, logits_fn, name: str) -> Policy:
    def dist(params, obs) -> Float[Array, " A"]:
        return logits_fn(params, obs)

    def sample(key, params, obs) -> Int[Array, ""]:
        return jax.random.categorical(key, logits_fn(params, obs))

    def log_prob(params, obs, action) -> Float[Array, ""]:
        return jax.nn.log_softmax(logits_fn(params, obs))[action]

    def score(params, obs, action) -> Params:
        # ∇ log π(a|s) = Σ_{a'} (1[a'=a] − π(a'|s)) ∇f(s,a') = ∇f(s,a) − E_{a'∼π}[∇f(s,a')]:
        # one vector-Jacobian product of the logits with e_a − π(·|s).
        logits, pullback = jax.vjp(lambda p: logits_fn(p, obs), params)
        pi = jax.nn.softmax(logits)
        (grad,) = pullback(jax.nn.one_hot(action, logits.shape[-1], dtype=logits.dtype) - pi)
        return grad

    return Policy(init=init, dist=dist, sample=sample, log_prob=log_prob, score=score, name=name)


def tabular_softmax(n_states: int, n_actions: int) -> Policy:
    """Tabular softmax `π_θ(a|s) = exp(θ_{s,a}) / Σ_{a'} exp(θ_{s,a'})`, `θ` of shape "S A".

    Observations are integer states. Score: `e_s ⊗ (e_a − π_θ(·|s))`, i.e. row
    `s` of the score is `e_a − π_θ(·|s)` and every other row is zero.
    Initial parameters are zeros (the uniform policy).
    """
    return _tabular_softmax(_check_positive_int(n_states, "n_states"), _check_positive_int(n_actions, "n_actions"))


@functools.lru_cache(maxsize=None)
def _tabular_softmax(S: int, A: int) -> Policy:
    def init(key) -> Float[Array, "S A"]:
        del key
        return jnp.zeros((S, A), jnp.float32)

    def logits(theta, s):
        return theta[s]

    def score(theta, s, a) -> Float[Array, "S A"]:
        pi = jax.nn.softmax(theta[s])
        return jnp.zeros_like(theta).at[s].set(jax.nn.one_hot(a, A, dtype=theta.dtype) - pi)

    policy = _softmax_policy(init, logits, f"tabular_softmax(n_states={S}, n_actions={A})")
    return policy._replace(score=score)


def linear_softmax(
    features: Callable[[Obs, Int[Array, ""]], Float[Array, " d"]], n_features: int, n_actions: int
) -> Policy:
    """Linear-in-features softmax `π_θ(a|s) ∝ exp(θᵀφ(s,a))`, `θ` of shape "d".

    `features(s, a)` returns `φ(s,a)`, a float vector of length `n_features`.
    Score: `φ(s,a) − E_{a'∼π_θ(s)}[φ(s,a')]`. Initial parameters are zeros.
    """
    d = _check_positive_int(n_features, "n_features")
    A = _check_positive_int(n_actions, "n_actions")
    if not callable(features):
        raise TypeError(f"features must be a function (s, a) -> phi, got {type(features).__name__}")
    try:
        hash(features)
    except TypeError:  # an unhashable callable: build the policy without caching it
        return _linear_softmax.__wrapped__(features, d, A)
    return _linear_softmax(features, d, A)


@functools.lru_cache(maxsize=None)
def _linear_softmax(features, d: int, A: int) -> Policy:
    def phi_all(s) -> Float[Array, "A d"]:
        return jax.vmap(lambda a: features(s, a))(jnp.arange(A))

    def init(key) -> Float[Array, " d"]:
        del key
        return jnp.zeros((d,), jnp.float32)

    def logits(theta, s):
        return phi_all(s) @ theta

    def score(theta, s, a) -> Float[Array, " d"]:
        phi = phi_all(s)
        pi = jax.nn.softmax(phi @ theta)
        return phi[a] - pi @ phi

    policy = _softmax_policy(init, logits, f"linear_softmax(n_features={d}, n_actions={A})")
    return policy._replace(score=score)


# A small tanh MLP, CleanRL's choice for policy-gradient agents.
MLPParams = tuple  # ((W_0, b_0), (W_1, b_1), ...)


def mlp_init(key, sizes: Sequence[int], last_scale: float = 1.0) -> MLPParams:
    """Parameters of an MLP with layer widths `sizes` (input first, output last).

    Weights are drawn as `N(0, 1/fan_in)` (LeCun); the last layer is scaled by
    `last_scale` -- a small value makes a softmax head start near uniform, a
    trick named in CleanRL and not part of the chapter's equations.
    """
    validate.check_key("key", key)
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < 2:
        raise ValueError(f"`sizes` must be a sequence of at least two layer widths (input, ..., output), got {sizes!r}")
    sizes = tuple(_check_positive_int(n, f"sizes[{i}]") for i, n in enumerate(sizes))
    validate.check_in_range("last_scale", last_scale, 0.0, None)
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        scale = last_scale if i == len(sizes) - 2 else 1.0
        W = scale * jax.random.normal(k, (n_in, n_out), jnp.float32) / math.sqrt(n_in)
        layers.append((W, jnp.zeros((n_out,), jnp.float32)))
    return tuple(layers)


def mlp_apply(params: MLPParams, x: Float[Array, " n_in"]) -> Float[Array, " n_out"]:
    """The MLP: tanh hidden layers, linear output."""
    # Static checks only: this runs inside every jitted policy and value function.
    if not isinstance(params, (tuple, list)) or not params or not all(
            isinstance(layer, (tuple, list)) and len(layer) == 2 for layer in params):
        raise TypeError(f"`params` must be MLP parameters ((W_0, b_0), (W_1, b_1), ...) from mlp_init, "
                        f"got {type(params).__name__}")
    x = validate.as_float_array("x", x)
    n_in = jnp.shape(params[0][0])[0]
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != n_in:
        raise ValueError(f"`x` must end in an axis of size n_in = {n_in} (the first layer's input), "
                         f"got shape {tuple(jnp.shape(x))}")
    for W, b in params[:-1]:
        x = jnp.tanh(x @ W + b)
    W, b = params[-1]
    return x @ W + b


def _check_hidden(hidden) -> tuple[int, ...]:
    try:
        hidden = tuple(hidden)
    except TypeError:
        raise ValueError(f"hidden must be a sequence of layer widths, got {hidden!r}") from None
    return tuple(_check_positive_int(h, f"hidden[{i}]") for i, h in enumerate(hidden))


def mlp_softmax(obs_dim: int, n_actions: int, hidden: Sequence[int] = (64, 64)) -> Policy:
    """Neural softmax `π_θ(a|s) ∝ exp(f_θ(s,a))`, `f_θ(s,·)` a tanh MLP from "obs_dim" to "A".

    Score: `∇f_θ(s,a) − E_{a'∼π_θ(s)}[∇f_θ(s,a')]`, computed as one
    vector-Jacobian product of the logits with `e_a − π_θ(·|s)`.
    The last layer starts at 1% scale, so the initial policy is near uniform.
    """
    n = _check_positive_int(obs_dim, "obs_dim")
    A = _check_positive_int(n_actions, "n_actions")
    return _mlp_softmax(n, A, _check_hidden(hidden))


@functools.lru_cache(maxsize=None)
def _mlp_softmax(n: int, A: int, hidden: tuple[int, ...]) -> Policy:
    sizes = (n, *hidden, A)

    def init(key) -> MLPParams:
        return mlp_init(key, sizes, last_scale=0.01)

    def logits(params, obs):
        return mlp_apply(params, jnp.asarray(obs, jnp.float32))

    return _softmax_policy(init, logits, f"mlp_softmax(obs_dim={n}, n_actions={A}, hidden={sizes[1:-1]})")


# --------------------------------------------------------------------------
# Continuous actions.
# --------------------------------------------------------------------------


def diagonal_gaussian(
    obs_dim: int,
    action_dim: int,
    hidden: Sequence[int] = (64, 64),
    learn_std: bool = True,
    init_log_std: float = 0.0,
) -> Policy:
    """Diagonal Gaussian `π_θ(·|s) = N(μ_θ(s), diag σ²)`, `μ_θ` a tanh MLP ("obs_dim" -> "D").

    Parameters are `{"mean": MLP params}` plus `"log_std": "D"` when
    `learn_std`; otherwise `log σ = init_log_std` is fixed. `hidden=()` gives a
    linear mean `μ_θ(s) = Wᵀs + b`. Score with respect to the mean parameters:
    `∇μ_θ(s)ᵀ (a − μ_θ(s))/σ²`; with respect to `log σ_i`:
    `(a_i − μ_i)²/σ_i² − 1`.
    """
    n = _check_positive_int(obs_dim, "obs_dim")
    D = _check_positive_int(action_dim, "action_dim")
    try:
        init_log_std = float(init_log_std)
    except (TypeError, ValueError):
        raise ValueError(f"init_log_std must be a number, got {init_log_std!r}") from None
    if not math.isfinite(init_log_std):
        raise ValueError(f"init_log_std must be finite, got {init_log_std}")
    return _diagonal_gaussian(n, D, _check_hidden(hidden), bool(learn_std), init_log_std)


@functools.lru_cache(maxsize=None)
def _diagonal_gaussian(n: int, D: int, hidden: tuple, learn_std: bool, init_log_std: float) -> Policy:
    sizes = (n, *hidden, D)
    fixed_log_std = jnp.full((D,), init_log_std, jnp.float32)

    def init(key):
        params = {"mean": mlp_init(key, sizes, last_scale=0.01)}
        if learn_std:
            params["log_std"] = fixed_log_std
        return params

    def mean_fn(mean_params, obs):
        return mlp_apply(mean_params, jnp.asarray(obs, jnp.float32))

    def dist(params, obs):
        log_std = params["log_std"] if learn_std else fixed_log_std
        return mean_fn(params["mean"], obs), log_std

    def sample(key, params, obs) -> Float[Array, " D"]:
        mean, log_std = dist(params, obs)
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)

    def log_prob(params, obs, action) -> Float[Array, ""]:
        mean, log_std = dist(params, obs)
        z = (action - mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi))

    def score(params, obs, action):
        mean, pullback = jax.vjp(lambda p: mean_fn(p, obs), params["mean"])
        log_std = params["log_std"] if learn_std else fixed_log_std
        var = jnp.exp(2 * log_std)
        (grad_mean,) = pullback((action - mean) / var)
        grad = {"mean": grad_mean}
        if learn_std:
            grad["log_std"] = (action - mean) ** 2 / var - 1.0
        return grad

    name = f"diagonal_gaussian(obs_dim={n}, action_dim={D}, hidden={sizes[1:-1]}, learn_std={learn_std})"
    return Policy(init=init, dist=dist, sample=sample, log_prob=log_prob, score=score, name=name)


# --------------------------------------------------------------------------
# Checks of a closed-form score, and the two gradient estimators of a Gaussian policy.
# --------------------------------------------------------------------------


def _rows(tree, n: int) -> Float[Array, "N P"]:
    """The leaves of a batched pytree (leading axis n), flattened and concatenated per row."""
    return jnp.concatenate([jnp.reshape(leaf, (n, -1)) for leaf in jax.tree_util.tree_leaves(tree)], axis=1)


def _check_batch(obs, actions=None) -> None:
    leaves = jax.tree_util.tree_leaves(obs)
    if not leaves or any(jnp.ndim(x) < 1 for x in leaves):
        raise ValueError(f"`obs` must be a batch of observations (a leading axis N), got {type(obs).__name__}")
    if actions is not None:
        actions = validate.as_int_array("actions", actions) if jnp.issubdtype(jnp.result_type(actions), jnp.integer) \
            else validate.as_float_array("actions", actions)
        if jnp.ndim(actions) < 1 or jnp.shape(actions)[0] != jnp.shape(leaves[0])[0]:
            raise ValueError(f"`actions` must have a leading axis N = {jnp.shape(leaves[0])[0]} (one per observation), "
                             f"got shape {tuple(jnp.shape(actions))}")


def score_matches_autodiff(policy: Policy, params: Params, obs, actions, *, params_axis=None,
                           atol: float = 1e-5, rtol: float = 1e-4, what: str | None = None):
    """`utils.checks.close`: the closed-form `policy.score` equals `jax.grad(policy.log_prob)`
    for a batch of (obs, action) pairs (and of parameters, with `params_axis=0`), elementwise
    to `atol + rtol |autodiff|`. Returns the `Check`; raises `CheckFailed` otherwise."""
    from utils import checks

    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
    if params_axis is None:
        check_params(policy, params)
    _check_batch(obs, actions)
    validate.check_in_range("atol", atol, 0.0, None)
    validate.check_in_range("rtol", rtol, 0.0, None)

    axes = (params_axis, 0, 0)
    closed_form = jax.jit(jax.vmap(policy.score, axes))(params, obs, actions)
    autodiff = jax.jit(jax.vmap(jax.grad(policy.log_prob), axes))(params, obs, actions)
    n = len(jnp.asarray(actions))
    return checks.close(_rows(closed_form, n), _rows(autodiff, n), rtol=rtol, atol=atol,
                        what=what or f"the closed-form score of {policy.name} equals jax.grad of log pi")


def score_mean_is_zero(policy: Policy, params: Params, obs, n_actions: int, *, params_axis=None,
                       atol: float = 1e-6, what: str | None = None):
    """`utils.checks.close`: `E_{a ~ pi_theta(. | s)}[policy.score(theta, s, a)] = 0`
    (eq-pg-score-mean-zero in the book), computed exactly as `sum_a pi_theta(a | s) score`
    for a discrete policy, at every state of the batch `obs`, to `atol`."""
    from utils import checks

    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
    if params_axis is None:
        check_params(policy, params)
    _check_batch(obs)
    _check_positive_int(n_actions, "n_actions")
    validate.check_in_range("atol", atol, 0.0, None)

    def expected_score(params, s):
        probs = jax.nn.softmax(policy.dist(params, s))
        scores = jax.vmap(policy.score, (None, None, 0))(params, s, jnp.arange(n_actions))
        return jax.tree_util.tree_map(lambda g: jnp.tensordot(probs, g, axes=1), scores)

    means = _rows(jax.jit(jax.vmap(expected_score, (params_axis, 0)))(params, obs), len(jnp.asarray(obs)))
    return checks.close(means, jnp.zeros_like(means), atol=atol, rtol=0.0,
                        what=what or f"the score of {policy.name} has mean zero under the policy")


def _check_gaussian_args(policy, params, f, noise) -> None:
    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
    check_params(policy, params)
    validate.check_callable("f", f)
    validate.check_shape("noise", validate.as_float_array("noise", noise), "N D")


def gaussian_score_function_estimates(policy: Policy, params: Params, obs, f, noise) -> Float[Array, "N P"]:
    """Score-function (likelihood-ratio) estimates of `grad_theta E_{a ~ pi_theta(. | s)}[f(a)]`
    for a Gaussian policy (eq-pg-score-function-estimator in the book): `f(a_i) grad log pi_theta(a_i | s)`
    at `a_i = mu_theta(s) + sigma epsilon_i`, one row per row of `noise` (N, D), the parameters
    flattened (as `jax.flatten_util.ravel_pytree` orders them). `f` maps an action (D,) to a
    scalar and is only evaluated."""
    from jax.flatten_util import ravel_pytree

    _check_gaussian_args(policy, params, f, noise)

    def one(eps):
        mean, log_std = policy.dist(params, obs)
        a = mean + jnp.exp(log_std) * eps
        return ravel_pytree(jax.tree_util.tree_map(lambda g: f(a) * g, policy.score(params, obs, a)))[0]

    return jax.jit(jax.vmap(one))(jnp.asarray(noise, jnp.float32))


def gaussian_pathwise_estimates(policy: Policy, params: Params, obs, f, noise) -> Float[Array, "N P"]:
    """Pathwise (reparameterisation) estimates of the same gradient (eq-pg-pathwise-estimator in
    the book): `grad_theta f(mu_theta(s) + sigma_theta epsilon_i)`, differentiating through the
    sampled action, so `f` must be differentiable. Same layout as `gaussian_score_function_estimates`."""
    from jax.flatten_util import ravel_pytree

    _check_gaussian_args(policy, params, f, noise)

    def one(eps):
        def f_of_params(p):
            mean, log_std = policy.dist(p, obs)
            return f(mean + jnp.exp(log_std) * eps)

        return ravel_pytree(jax.grad(f_of_params)(params))[0]

    return jax.jit(jax.vmap(one))(jnp.asarray(noise, jnp.float32))


# --------------------------------------------------------------------------
# A neural softmax on a tabular MDP (NPG section: a policy whose logits are
# nonlinear in θ, on an MDP small enough for exact answers).
# --------------------------------------------------------------------------


def state_mlp_softmax(n_states: int, n_actions: int, hidden: Sequence[int] = (6,)) -> Policy:
    """Neural softmax for integer states: `π_θ(a|s) ∝ exp(f_θ(φ(s))_a)`, with `f_θ` a tanh
    MLP (`mlp_apply`) and `φ(s) ∈ {−1, 1}^b` the `b = ⌈log₂ S⌉` binary digits of `s`.

    Unlike the tabular and linear softmax, its logits are not linear in `θ`, so
    `∇²_θ log π_θ(a|s)` depends on the action `a` (the NPG section's example of a
    log-ratio KL estimator whose Hessian is not the Fisher information). For
    `S = 16`, `A = 4` and `hidden = (6,)` it has 58 parameters. The last layer is
    drawn at full scale (`mlp_init` with `last_scale=1`), so the initial policy is
    not close to uniform. Score: `∇f_θ(s,a) − E_{a'∼π_θ(·|s)}[∇f_θ(s,a')]`.
    """
    S = _check_positive_int(n_states, "n_states")
    A = _check_positive_int(n_actions, "n_actions")
    return _state_mlp_softmax(S, A, _check_hidden(hidden))


@functools.lru_cache(maxsize=None)
def _state_mlp_softmax(S: int, A: int, hidden: tuple[int, ...]) -> Policy:
    n_bits = max(1, (S - 1).bit_length())
    codes = ((jnp.arange(S)[:, None] >> jnp.arange(n_bits)) & 1).astype(jnp.float32) * 2.0 - 1.0
    sizes = (n_bits, *hidden, A)

    def init(key) -> MLPParams:
        return mlp_init(key, sizes, last_scale=1.0)

    def logits(params, s):
        return mlp_apply(params, codes[s])

    return _softmax_policy(init, logits, f"state_mlp_softmax(n_states={S}, n_actions={A}, hidden={hidden})")


# --------------------------------------------------------------------------
# The policy an algorithm trains on an environment.
# --------------------------------------------------------------------------


def mlp_policy_for(env, hidden: Sequence[int] = (64, 64), init_log_std: float = 0.0) -> Policy:
    """The tanh-MLP policy for `env`'s actions (a `utils.envs.Environment`):
    `mlp_softmax` over `Discrete` actions, `diagonal_gaussian` with a learned,
    state-independent `log σ` starting at `init_log_std` over a `Box`. The
    environment clips a Gaussian sample to its bounds; the sample is scored as drawn."""
    validate.check_instance("env", env, Environment, "utils.envs.Environment (from utils.envs.make)")
    if env.continuous:
        return diagonal_gaussian(env.obs_dim, env.action_dim, hidden, learn_std=True, init_log_std=init_log_std)
    return mlp_softmax(env.obs_dim, env.n_actions, hidden)

