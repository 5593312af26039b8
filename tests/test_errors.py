"""Bad input gets a clear error from every public function of `utils`.

One table, one row per public function: each row lists calls with a wrong type
or dtype, a wrong shape and an out-of-range hyperparameter (where the function
has one), each with the argument the error must name. The test calls every
one and asserts a `TypeError` or `ValueError` whose message names that
argument (as a word) and says what was expected (`must`, or the row's own
pattern).

The functions are found by walking the package, so a new public function
without a row fails `test_every_public_function_has_a_row`, saying which row
to add. What counts as public:

- every module under `utils` found by `pkgutil.walk_packages`, except private
  modules (a dotted component starting with `_`; their public names are
  covered where a public package re-exports them in `__all__`) and
  `utils.pseudocode` (runnable listings typeset as algorithms by
  `utils.latex`: a `raise` cannot be typeset, and the listings are checked
  against the library functions they mirror);
- in each module, every callable whose name does not start with `_` and that
  is defined there (`obj.__module__ == module.__name__`), plus names in the
  module's `__all__` defined in one of its private submodules;
- except data containers: NamedTuple and dataclass types (states, results,
  configs, `TabularMDP`) and exception types. JAX rebuilds NamedTuples and
  registered dataclasses with arbitrary leaves (tracers, `None`, axis specs),
  so their constructors must not validate; the configs are validated by the
  functions that take them (`check_config`, `make_train`, ...), which have
  rows here that pass an out-of-range config field.

Extending: add a row `"module.function": [bad(arg, call), ...]` to `TABLE`,
where `call` receives the function and calls it with one bad argument; `bad`
takes an optional regex the message must match besides the argument's name.
A function without arguments gets `no_arguments(reason)` (the test checks that
it has none); a predicate that accepts every value, `accepts_anything(reason)`.
Every call here fails at the boundary, before anything is compiled, so the
test is fast.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import utils

SKIP_PACKAGES = ("utils.pseudocode",)


def _is_container(obj) -> bool:
    import dataclasses
    return inspect.isclass(obj) and (
        (issubclass(obj, tuple) and hasattr(obj, "_fields"))
        or dataclasses.is_dataclass(obj)
        or issubclass(obj, BaseException)
    )


def public_functions() -> dict[str, Callable]:
    """`{"module.name": obj}` (module relative to `utils`) for every public callable, as the docstring says."""
    found = {}
    for info in pkgutil.walk_packages(utils.__path__, "utils."):
        name = info.name
        if any(part.startswith("_") for part in name.split(".")) or name.startswith(SKIP_PACKAGES):
            continue
        module = importlib.import_module(name)
        exported = set(getattr(module, "__all__", ()))
        for attr, obj in vars(module).items():
            if attr.startswith("_") or not callable(obj) or inspect.ismodule(obj) or _is_container(obj):
                continue
            defined = getattr(obj, "__module__", None)
            here = defined == module.__name__
            reexported = attr in exported and isinstance(defined, str) and defined.startswith(module.__name__ + "._")
            if here or reexported:
                found[f"{name.removeprefix('utils.')}.{attr}"] = obj
    return found


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------


class Bad(NamedTuple):
    arg: str  # the argument the message must name
    call: Callable[[Callable], Any]  # receives the function, calls it with the bad argument
    expected: str  # a regex the message must match too: what was expected


def bad(arg: str, call: Callable[[Callable], Any], expected: str = r"must|expected") -> Bad:
    return Bad(arg, call, expected)


class NoArguments(NamedTuple):
    reason: str


def no_arguments(reason: str) -> NoArguments:
    return NoArguments(reason)


class AcceptsAnything(NamedTuple):
    reason: str


def accepts_anything(reason: str) -> AcceptsAnything:
    """For a function with no invalid input (a predicate such as `validate.is_traced`)."""
    return AcceptsAnything(reason)


# Cheap shared inputs, built on first use.
@functools.cache
def mdp():
    from utils.envs.tabular import example_mdp
    return example_mdp()


@functools.cache
def tab_policy():
    from utils.policies import tabular_softmax
    m = mdp()
    return tabular_softmax(m.n_states, m.n_actions)


@functools.cache
def theta():
    m = mdp()
    return jnp.zeros((m.n_states, m.n_actions))


@functools.cache
def pi():
    from utils.exact import softmax_policy
    return softmax_policy(theta())


@functools.cache
def traj():
    from utils.rollouts import sample_trajectories
    return sample_trajectories(jax.random.key(0), mdp(), tab_policy(), theta(), 4)


def V():
    """A value table (H, S) of the example MDP."""
    return jnp.zeros((mdp().H, mdp().n_states))


def W():
    """Weights (N, H), one per step of `traj()`."""
    return jnp.zeros(traj().rewards.shape)


def key():
    return jax.random.key(0)


def vec(n: int = 3):
    return jnp.ones(n)


def nan_vec(n: int = 3):
    return jnp.ones(n).at[0].set(jnp.nan)


F = jnp.zeros(4)  # float (4,)
B = jnp.zeros(4, bool)  # bool (4,)


TABLE: dict[str, list[Bad] | NoArguments | AcceptsAnything] = {
    # --- checks -------------------------------------------------------------
    "checks.total_variance": [
        bad("samples", lambda f: f("abc")),
        bad("samples", lambda f: f(jnp.ones(1)), r"two samples"),
    ],
    "checks.mean_squared_error": [
        bad("samples", lambda f: f(None, 0.0)),
        bad("target", lambda f: f(jnp.ones((4, 2)), jnp.ones(3)), r"entries"),
    ],
    "checks.close": [
        bad("actual", lambda f: f("a", 1.0, what="x")),
        bad("actual", lambda f: f(jnp.ones(2), jnp.ones(3), what="x"), r"shape"),
        bad("rtol", lambda f: f(1.0, 1.0, what="x", rtol=-1.0)),
        bad("what", lambda f: f(1.0, 1.0, what=None)),
    ],
    "checks.mean_matches": [
        bad("samples", lambda f: f("s", 0.0, what="x")),
        bad("expected", lambda f: f(jnp.ones((4, 2)), jnp.ones(3), what="x"), r"entries"),
        bad("z", lambda f: f(jnp.ones((4, 2)), jnp.ones(2), what="x", z=0.0)),
    ],
    "checks.mean_matches_exact": [
        bad("values", lambda f: f("v", jnp.ones(2) / 2, 0.0, what="x")),
        bad("probabilities", lambda f: f(jnp.ones(3), jnp.ones(2) / 2, 1.0, what="x"), r"\(3,\)"),
        bad("atol", lambda f: f(jnp.ones(2), jnp.ones(2) / 2, 1.0, what="x", atol=float("nan"))),
    ],
    "checks.variance_less": [
        bad("samples_a", lambda f: f(None, jnp.ones((3, 2)), what="x")),
        bad("samples_b", lambda f: f(jnp.ones((3, 2)), jnp.ones((3, 3)), what="x"), r"dimension"),
        bad("ratio", lambda f: f(jnp.ones((3, 2)), jnp.ones((3, 2)), what="x", ratio=-1.0)),
    ],
    "checks.less": [
        bad("a", lambda f: f("a", 1.0, what="x")),
        bad("margin", lambda f: f(0.0, 1.0, what="x", margin=-0.5)),
    ],
    "checks.greater": [
        bad("b", lambda f: f(1.0, "b", what="x")),
        bad("margin", lambda f: f(1.0, 0.0, what="x", margin="0")),
    ],
    "checks.mean_at_most": [
        bad("samples", lambda f: f("s", 1.0, what="x")),
        bad("z", lambda f: f(jnp.ones(3), 1.0, what="x", z=-1.0)),
        bad("bound", lambda f: f(jnp.ones(3), jnp.nan, what="x")),
    ],
    "checks.fraction_at_least": [
        bad("mask", lambda f: f("mask", 0.5, what="x")),
        bad("mask", lambda f: f(jnp.ones(3), 0.5, what="x"), r"boolean"),
        bad("fraction", lambda f: f(jnp.ones(3, bool), 1.5, what="x")),
    ],
    "checks.mean_differs": [
        bad("samples", lambda f: f(None, 0.0, what="x")),
        bad("expected", lambda f: f(jnp.ones((4, 2)), jnp.ones(3), what="x"), r"entries"),
        bad("z", lambda f: f(jnp.ones((4, 2)), jnp.ones(2), what="x", z=float("inf"))),
    ],
    "checks.mean_differs_exact": [
        bad("values", lambda f: f("v", jnp.ones(2) / 2, 1.0, what="x", at_least=0.1)),
        bad("probabilities", lambda f: f(jnp.ones(3), jnp.ones(2) / 2, 1.0, what="x", at_least=0.1), r"\(3,\)"),
        bad("at_least", lambda f: f(jnp.ones(2), jnp.ones(2) / 2, 1.0, what="x", at_least=0.0)),
    ],
    "checks.separated": [
        bad("samples_a", lambda f: f("a", jnp.ones(3), what="x")),
        bad("samples_b", lambda f: f(jnp.ones(3), jnp.ones(1), what="x"), r"two samples"),
        bad("what", lambda f: f(jnp.ones(3), jnp.ones(3), what=1)),
    ],
    "checks.overlapping": [
        bad("groups", lambda f: f(3, what="x")),
        bad("groups", lambda f: f([jnp.ones(3)], what="x"), r"two groups"),
    ],
    "checks.pairwise_wins": [
        bad("samples_a", lambda f: f("a", jnp.ones(3))),
        bad("samples_b", lambda f: f(jnp.ones(3), jnp.ones(1)), r"two samples"),
    ],
    "checks.rank_sum_p_value": [
        bad("samples_a", lambda f: f(None, jnp.ones(3))),
        bad("samples_b", lambda f: f(jnp.ones(3), "b")),
    ],
    "checks.ranks_above": [
        bad("samples_a", lambda f: f("a", jnp.ones(3), what="x")),
        bad("p", lambda f: f(jnp.ones(8), jnp.zeros(8), what="x", p=0.0)),
        bad("p", lambda f: f(jnp.ones(3), jnp.zeros(3), what="x", p=0.01), r"cannot reach"),
        bad("what", lambda f: f(jnp.ones(8), jnp.zeros(8), what=None)),
    ],
    "checks.power_law": [
        bad("x", lambda f: f("x", jnp.ones(3), -1.0, what="w", atol=0.1)),
        bad("x", lambda f: f(jnp.ones(3), jnp.ones(4), -1.0, what="w", atol=0.1), r"same length"),
        bad("atol", lambda f: f(jnp.ones(3), jnp.ones(3), -1.0, what="w", atol=0.0)),
        bad("exponent", lambda f: f(jnp.ones(3), jnp.ones(3), "1", what="w", atol=0.1)),
    ],
    "checks.piecewise_constant": [
        bad("base", lambda f: f("b", jnp.ones(3), what="x")),
        bad("base", lambda f: f(jnp.ones(3), jnp.ones(2), what="x"), r"same size"),
        bad("flat_fraction", lambda f: f(jnp.ones(3), jnp.ones(3), what="x", flat_fraction=2.0)),
        bad("min_jump", lambda f: f(jnp.ones(3), jnp.ones(3), what="x", min_jump=-1.0)),
    ],
    # --- exact --------------------------------------------------------------
    **{f"exact.{name}": [
        bad("mdp", lambda f: f("mdp", pi())),
        bad("pi", lambda f: f(mdp(), jnp.ones((3, 3)) / 3), r"shape"),
        bad("pi", lambda f: f(mdp(), "pi")),
        bad("pi", lambda f: f(mdp(), jnp.ones((4, 2))), r"probabilities"),
    ] for name in ("q_values", "v_values", "advantages", "state_action_visitation", "state_visitation",
                   "expected_return", "enumerate_trajectories")},
    **{f"exact.{name}": [
        bad("mdp", lambda f: f(None, theta())),
        bad("theta", lambda f: f(mdp(), jnp.zeros((2, 2))), r"shape"),
        bad("theta", lambda f: f(mdp(), "theta")),
        bad("theta", lambda f: f(mdp(), jnp.full((4, 2), jnp.nan)), r"finite"),
    ] for name in ("exact_objective", "exact_gradient", "exact_gradient_pg", "fisher_information")},
    "exact.optimal_q_values": [
        bad("mdp", lambda f: f(jnp.zeros(3))),
    ],
    "exact.softmax_policy": [
        bad("theta", lambda f: f("theta")),
        bad("theta", lambda f: f(jnp.zeros(3)), r"shape"),
        bad("theta", lambda f: f(jnp.zeros((2, 2), bool)), r"real"),
        bad("theta", lambda f: f(jnp.full((2, 2), jnp.nan)), r"finite"),
    ],
    "exact.softmax_policy_float64": [
        bad("theta", lambda f: f(None)),
        bad("theta", lambda f: f(np.zeros(3)), r"shape"),
        bad("theta", lambda f: f(np.full((2, 2), np.inf)), r"finite"),
    ],
    "exact.greedy_policy": [
        bad("q", lambda f: f("q")),
        bad("q", lambda f: f(jnp.zeros(3)), r"shape"),
    ],
    "exact.score_table": [
        bad("theta", lambda f: f("theta")),
        bad("theta", lambda f: f(jnp.zeros((2, 2, 2))), r"shape"),
    ],
    "exact.kl_trajectories": [
        bad("mdp", lambda f: f(1, pi(), pi())),
        bad("pi_tilde", lambda f: f(mdp(), pi(), jnp.ones(3)), r"shape"),
        bad("pi_tilde", lambda f: f(mdp(), pi(), "p")),
    ],
    "exact.performance_difference": [
        bad("mdp", lambda f: f(1, pi(), pi())),
        bad("pi_new", lambda f: f(mdp(), pi(), jnp.ones(3)), r"shape"),
        bad("pi_new", lambda f: f(mdp(), pi(), 2 * pi()), r"probabilities"),
    ],
    "exact.exact_policy_gradient_ascent": [
        bad("mdp", lambda f: f("m", theta(), 0.1, 3)),
        bad("theta", lambda f: f(mdp(), jnp.zeros(3), 0.1, 3), r"shape"),
        bad("eta", lambda f: f(mdp(), theta(), -0.1, 3)),
        bad("n_steps", lambda f: f(mdp(), theta(), 0.1, 0)),
        bad("n_steps", lambda f: f(mdp(), theta(), 0.1, 2.5)),
    ],
    "exact.expected_return_float64": [
        bad("mdp", lambda f: f("m", pi())),
        bad("pi", lambda f: f(mdp(), np.ones(3)), r"shape"),
        bad("pi", lambda f: f(mdp(), "pi")),
    ],
    "exact.best_stationary_policy": [
        bad("mdp", lambda f: f("m")),
        bad("tol", lambda f: f(mdp(), tol=0.0)),
        bad("max_boxes", lambda f: f(mdp(), max_boxes=0)),
    ],
    "exact.exact_gradient_from_score": [
        bad("mdp", lambda f: f("m", theta(), tab_policy().score)),
        bad("theta", lambda f: f(mdp(), jnp.zeros(2), tab_policy().score), r"shape"),
        bad("score", lambda f: f(mdp(), theta(), "score")),
    ],
    # --- kl -----------------------------------------------------------------
    "kl.gaussian_kl": [
        bad("mean_p", lambda f: f("m", jnp.zeros(2), jnp.zeros(2), jnp.zeros(2))),
        bad("log_std_q", lambda f: f(jnp.zeros(2), jnp.zeros(2), jnp.zeros(2), jnp.zeros(3)), r"broadcast|shape"),
    ],
    "kl.policy_kl": [
        bad("dist_p", lambda f: f(jnp.zeros(2), (jnp.zeros(1), jnp.zeros(1))), r"same kind"),
        bad("logits_p", lambda f: f("x", jnp.zeros(2))),
    ],
    **{f"kl.{name}": [
        bad("log_prob_old", lambda f: f("x", jnp.zeros((2, 3)))),
        bad("log_prob_old", lambda f: f(jnp.zeros(3), jnp.zeros((2, 3))), r"shape"),
        bad("log_prob_new", lambda f: f(jnp.zeros((2, 3)), jnp.zeros((2, 3), bool)), r"real"),
        bad("mask", lambda f: f(jnp.zeros((2, 3)), jnp.zeros((2, 3)), jnp.ones((2, 2), bool)), r"shape"),
        bad("mask", lambda f: f(jnp.zeros((2, 3)), jnp.zeros((2, 3)), jnp.ones((2, 3)) * 0.5), r"bool"),
    ] for name in ("kl_per_trajectory", "kl_trajectories")},
    "kl.kl_div_trajectories": [
        bad("policy", lambda f: f("p", theta(), theta(), jnp.zeros((2, 3), int), jnp.zeros((2, 3), int))),
        bad("params", lambda f: f(tab_policy(), theta(), jnp.zeros(3), jnp.zeros((2, 3), int), jnp.zeros((2, 3), int))),
        bad("actions", lambda f: f(tab_policy(), theta(), theta(), jnp.zeros((2, 3), int), jnp.zeros((3, 3), int)),
            r"shape"),
        bad("obs", lambda f: f(tab_policy(), theta(), theta(), jnp.zeros(3, int), jnp.zeros(3, int)), r"shape"),
    ],
    "kl.categorical_kl": [
        bad("logits_p", lambda f: f("p", jnp.zeros(3))),
        bad("logits_p", lambda f: f(jnp.zeros(3), jnp.zeros(4)), r"shape"),
    ],
    "kl.kl_states_per_trajectory": [
        bad("logits_old", lambda f: f(None, jnp.zeros((2, 3, 2)))),
        bad("logits_old", lambda f: f(jnp.zeros((2, 3)), jnp.zeros((2, 3))), r"shape"),
        bad("mask", lambda f: f(jnp.zeros((2, 3, 2)), jnp.zeros((2, 3, 2)), jnp.ones(3, bool)), r"shape"),
    ],
    "kl.kl_div_states": [
        bad("policy", lambda f: f(3, theta(), theta(), jnp.zeros((2, 3), int))),
        bad("params_old", lambda f: f(tab_policy(), jnp.zeros(2), theta(), jnp.zeros((2, 3), int))),
        bad("obs", lambda f: f(tab_policy(), theta(), theta(), jnp.zeros(3, int)), r"shape"),
    ],
    # --- importance_sampling ------------------------------------------------
    "importance_sampling.importance_weights": [
        bad("log_p", lambda f: f("p", jnp.zeros(3))),
        bad("log_q", lambda f: f(jnp.zeros(3), jnp.zeros(4)), r"shape"),
        bad("log_p", lambda f: f(jnp.zeros((3, 2)), jnp.zeros((3, 2))), r"shape"),
        bad("log_p", lambda f: f(nan_vec(), jnp.zeros(3)), r"NaN"),
    ],
    **{f"importance_sampling.{name}": [
        bad("f_values", lambda f: f("f", jnp.zeros(3), jnp.zeros(3))),
        bad("f_values", lambda f: f(jnp.zeros(2), jnp.zeros(3), jnp.zeros(3)), r"shape"),
        bad("log_q", lambda f: f(jnp.zeros(3), jnp.zeros(3), jnp.zeros(2)), r"shape"),
        bad("log_q", lambda f: f(jnp.zeros(3), jnp.zeros(3), nan_vec()), r"finite"),
    ] for name in ("importance_sampling_estimate", "self_normalised_estimate")},
    "importance_sampling.effective_sample_size": [
        bad("weights", lambda f: f(None)),
        bad("weights", lambda f: f(jnp.ones((2, 2))), r"shape"),
        bad("weights", lambda f: f(-jnp.ones(3)), r"non-negative"),
    ],
    "importance_sampling.gaussian_shift_sweep": [
        bad("key", lambda f: f(0, [0.0, 1.0], 8, 2)),
        bad("shifts", lambda f: f(key(), "0", 8, 2)),
        bad("shifts", lambda f: f(key(), [jnp.nan], 8, 2), r"finite"),
        bad("n", lambda f: f(key(), [0.0], 0, 2)),
        bad("n_repeats", lambda f: f(key(), [0.0], 8, 2.5)),
        bad("estimator", lambda f: f(key(), [0.0], 8, 2, estimator="is")),
    ],
    "importance_sampling.gaussian_shift_weight_moment": [
        bad("k", lambda f: f("2", 1.0)),
        bad("shift", lambda f: f(2, "1")),
        bad("shift", lambda f: f(2, jnp.nan), r"finite"),
    ],
    **{f"importance_sampling.{name}": [
        bad("shift", lambda f: f(None)),
        bad("shift", lambda f: f(jnp.inf), r"finite"),
    ] for name in ("gaussian_shift_term_variance", "gaussian_shift_term_variance_quadrature")},
    "importance_sampling.gaussian_shift_ess_fraction_se": [
        bad("shift", lambda f: f("1", 10)),
        bad("n_samples", lambda f: f(1.0, 0)),
        bad("n_samples", lambda f: f(1.0, 1.5)),
    ],
    # --- natural ------------------------------------------------------------
    "natural.check_delta": [
        bad("delta", lambda f: f("0.1")),
        bad("delta", lambda f: f(0.0), r"> 0"),
        bad("delta", lambda f: f(jnp.ones(2)), r"scalar"),
    ],
    "natural.check_damping": [
        bad("damping", lambda f: f(None)),
        bad("damping", lambda f: f(-0.1), r">= 0"),
    ],
    "natural.check_positive_int": [
        bad("n", lambda f: f(1.5, "n")),
        bad("n", lambda f: f(0, "n")),
    ],
    "natural.fisher_vector_product": [
        bad("kl_fn", lambda f: f("kl", vec(), vec())),
        bad("v", lambda f: f(jnp.sum, vec(), vec(2)), r"shapes"),
        bad("damping", lambda f: f(jnp.sum, vec(), vec(), damping=-1.0)),
    ],
    "natural.score_fisher_vector_product": [
        bad("log_prob_fn", lambda f: f(3, vec(), vec())),
        bad("v", lambda f: f(lambda t: t, vec(), vec(2)), r"shapes"),
        bad("damping", lambda f: f(lambda t: t, vec(), vec(), damping=jnp.nan)),
    ],
    "natural.per_state_kl": [
        bad("policy", lambda f: f("p", theta(), theta(), jnp.zeros((2, 3), int))),
        bad("params", lambda f: f(tab_policy(), theta(), jnp.zeros(3), jnp.zeros((2, 3), int))),
        bad("obs", lambda f: f(tab_policy(), theta(), theta(), jnp.zeros(3, int)), r"shape"),
    ],
    "natural.action_averaged_fisher": [
        bad("policy", lambda f: f(None, theta(), jnp.zeros((2, 3), int))),
        bad("params", lambda f: f(tab_policy(), jnp.zeros(3), jnp.zeros((2, 3), int))),
        bad("obs", lambda f: f(tab_policy(), theta(), jnp.zeros(3, int)), r"shape"),
    ],
    "natural.sampled_kl_derivatives": [
        bad("policy", lambda f: f(None, theta(), jnp.zeros((2, 3), int), jnp.zeros((2, 3), int))),
        bad("params_old", lambda f: f(tab_policy(), jnp.zeros(3), jnp.zeros((2, 3), int), jnp.zeros((2, 3), int))),
        bad("actions", lambda f: f(tab_policy(), theta(), jnp.zeros((2, 3), int), jnp.zeros((2, 2), int)), r"shape"),
    ],
    "natural.sampled_fisher_information": [
        bad("policy", lambda f: f("p", theta(), jnp.zeros((2, 3), int), jnp.zeros((2, 3), int))),
        bad("params", lambda f: f(tab_policy(), jnp.zeros(3), jnp.zeros((2, 3), int), jnp.zeros((2, 3), int))),
        bad("actions", lambda f: f(tab_policy(), theta(), jnp.zeros((2, 3), int), jnp.zeros((2, 2), int)), r"shape"),
    ],
    "natural.conjugate_gradient": [
        bad("matvec", lambda f: f("A", vec())),
        bad("b", lambda f: f(lambda x: x, jnp.ones((2, 2))), r"shape"),
        bad("b", lambda f: f(lambda x: x, jnp.ones(2, int)), r"floating"),
        bad("n_iters", lambda f: f(lambda x: x, vec(), n_iters=0)),
        bad("tol", lambda f: f(lambda x: x, vec(), tol=-1.0)),
    ],
    "natural.natural_step_size": [
        bad("grad", lambda f: f("g", vec(), 0.1)),
        bad("natural_grad", lambda f: f(vec(), vec(2), 0.1), r"shape"),
        bad("delta", lambda f: f(vec(), vec(), -0.1)),
    ],
    "natural.npg_step": [
        bad("grad", lambda f: f(None, jnp.eye(3), 0.1)),
        bad("fisher", lambda f: f(vec(), jnp.eye(2), 0.1), r"shape"),
        bad("fisher", lambda f: f(vec(), "F", 0.1)),
        bad("delta", lambda f: f(vec(), jnp.eye(3), 0.0)),
        bad("damping", lambda f: f(vec(), jnp.eye(3), 0.1, damping=-1.0)),
    ],
    # --- npg ----------------------------------------------------------------
    "npg.npg_tabular": [
        bad("mdp", lambda f: f("m", theta(), 0.1, 2)),
        bad("theta_init", lambda f: f(mdp(), jnp.zeros(3), 0.1, 2), r"shape"),
        bad("theta_init", lambda f: f(mdp(), "t", 0.1, 2)),
        bad("delta", lambda f: f(mdp(), theta(), -0.1, 2)),
        bad("n_iterations", lambda f: f(mdp(), theta(), 0.1, 0)),
        bad("damping", lambda f: f(mdp(), theta(), 0.1, 2, damping=-1.0)),
    ],
    "npg.gradient_ascent_tabular": [
        bad("mdp", lambda f: f(None, theta(), 0.1, 2)),
        bad("theta_init", lambda f: f(mdp(), jnp.zeros(3), 0.1, 2), r"shape"),
        bad("eta", lambda f: f(mdp(), theta(), 0.0, 2)),
        bad("n_iterations", lambda f: f(mdp(), theta(), 0.1, 1.5)),
    ],
    "npg.check_natural_gradient": [
        bad("mdp", lambda f: f("m", theta(), jnp.zeros(8))),
        bad("theta", lambda f: f(mdp(), jnp.zeros(3), jnp.zeros(8)), r"shape"),
        bad("x", lambda f: f(mdp(), theta(), "x")),
        bad("x", lambda f: f(mdp(), theta(), jnp.zeros(3)), r"entries"),
        bad("rtol", lambda f: f(mdp(), theta(), jnp.zeros(8), rtol=0.0)),
    ],
    "npg.compatible_weights": [
        bad("mdp", lambda f: f("m", theta())),
        bad("theta", lambda f: f(mdp(), jnp.zeros(3)), r"shape"),
        bad("target", lambda f: f(mdp(), theta(), target="v")),
    ],
    "npg.multiplicative_weights": [
        bad("mdp", lambda f: f("m", theta(), 0.1)),
        bad("theta", lambda f: f(mdp(), "t", 0.1)),
        bad("eta", lambda f: f(mdp(), theta(), -1.0)),
    ],
    "npg.check_multiplicative_weights": [
        bad("mdp", lambda f: f("m", theta(), 0.1)),
        bad("theta", lambda f: f(mdp(), jnp.zeros(2), 0.1), r"shape"),
        bad("delta", lambda f: f(mdp(), theta(), 0.0)),
        bad("update", lambda f: f(mdp(), theta(), 0.1, update=None)),
    ],
    "npg.reparameterisation_gaps": [
        bad("objective", lambda f: f("J", jnp.dot, jnp.exp, vec(), [0.1])),
        bad("omega_k", lambda f: f(jnp.sum, jnp.dot, jnp.exp, jnp.ones((2, 2)), [0.1]), r"shape"),
        bad("etas", lambda f: f(jnp.sum, jnp.dot, jnp.exp, vec(), "0.1")),
        bad("direction", lambda f: f(jnp.sum, jnp.dot, jnp.exp, vec(), [0.1], direction="newton")),
    ],
    "npg.sampled_pg_tabular": [
        bad("mdp", lambda f: f("m", theta(), 0.1, 2, 4, key())),
        bad("theta_init", lambda f: f(mdp(), jnp.zeros(2), 0.1, 2, 4, key()), r"shape"),
        bad("delta", lambda f: f(mdp(), theta(), jnp.inf, 2, 4, key())),
        bad("n_trajectories", lambda f: f(mdp(), theta(), 0.1, 2, 0, key())),
        bad("key", lambda f: f(mdp(), theta(), 0.1, 2, 4, 0)),
    ],
    "npg.make_train": [
        bad("config", lambda f: f("config")),
        bad("config.delta", lambda f: f(_npg_config(delta=-0.1))),
        bad("config.gamma", lambda f: f(_npg_config(gamma=2.0))),
        bad("config.n_envs", lambda f: f(_npg_config(n_envs=0))),
    ],
    "npg.train_seeds": [
        bad("env", lambda f: f(key(), 2, env="CartPole-v1")),
        bad("key", lambda f: f("key", 2)),
        bad("n_seeds", lambda f: f(key(), 0)),
        bad("config", lambda f: f(key(), 2, config={})),
        bad("config.gae_lambda", lambda f: f(key(), 2, config=_npg_config(gae_lambda=-0.1))),
    ],
    "npg.policy_of": [
        bad("config", lambda f: f(None)),
        bad("config.hidden[0]", lambda f: f(_npg_config(hidden=(0,)))),
    ],
    # --- trpo ---------------------------------------------------------------
    "trpo.surrogate_objective": [
        bad("log_prob_new", lambda f: f("x", F, F)),
        bad("advantages", lambda f: f(F, F, jnp.zeros(3)), r"shape"),
        bad("log_prob_old", lambda f: f(F, B, F), r"real"),
    ],
    "trpo.trpo_step": [
        bad("surrogate_fn", lambda f: f("L", jnp.sum, vec(), 0.1)),
        bad("theta", lambda f: f(jnp.sum, jnp.sum, jnp.ones((2, 2)), 0.1), r"shape"),
        bad("theta", lambda f: f(jnp.sum, jnp.sum, "theta", 0.1)),
        bad("delta", lambda f: f(jnp.sum, jnp.sum, vec(), -0.1)),
        bad("backtrack_coef", lambda f: f(jnp.sum, jnp.sum, vec(), 0.1, backtrack_coef=1.5)),
        bad("cg_iters", lambda f: f(jnp.sum, jnp.sum, vec(), 0.1, cg_iters=0)),
    ],
    "trpo.trpo_tabular": [
        bad("mdp", lambda f: f("m", theta(), 0.1, 2, 4, key())),
        bad("theta_init", lambda f: f(mdp(), jnp.zeros(3), 0.1, 2, 4, key()), r"shape"),
        bad("theta_init", lambda f: f(mdp(), "t", 0.1, 2, 4, key())),
        bad("delta", lambda f: f(mdp(), theta(), 0.0, 2, 4, key())),
        bad("key", lambda f: f(mdp(), theta(), 0.1, 2, 4, 7)),
        bad("n_trajectories", lambda f: f(mdp(), theta(), 0.1, 2, 0, key())),
        bad("kl_multiplier", lambda f: f(mdp(), theta(), 0.1, 2, 4, key(), kl_multiplier=-1.0)),
    ],
    "trpo.improvement_bound_terms": [
        bad("mdp", lambda f: f("m", pi(), pi())),
        bad("pi_new", lambda f: f(mdp(), pi(), jnp.ones(3)), r"shape"),
        bad("pi", lambda f: f(mdp(), "pi", pi())),
    ],
    "trpo.improvement_bound_coefficient": [
        bad("terms", lambda f: f("terms")),
        bad("form", lambda f: f(_terms(), form="l2")),
    ],
    "trpo.monotonic_improvement_bound": [
        bad("terms", lambda f: f(None)),
        bad("form", lambda f: f(_terms(), form="l2")),
        bad("coefficient", lambda f: f(_terms(), coefficient=2.0)),
    ],
    "trpo.check_improvement_bound": [
        bad("terms", lambda f: f(3, 0.0, what="x")),
        bad("bound", lambda f: f(_terms(), jnp.zeros(3), what="x"), r"shape"),
        bad("bound", lambda f: f(_terms(), "b", what="x")),
        bad("atol", lambda f: f(_terms(), 0.0, what="x", atol=-1.0)),
    ],
    "trpo.improvement_bound_example": [
        bad("H", lambda f: f(0)),
        bad("H", lambda f: f("3")),
        bad("advantage_max", lambda f: f(3, advantage_max=-1.0)),
    ],
    "trpo.exact_natural_step": [
        bad("mdp", lambda f: f("m", theta(), 0.1)),
        bad("theta_k", lambda f: f(mdp(), jnp.zeros(3), 0.1), r"shape"),
        bad("delta", lambda f: f(mdp(), theta(), -0.1)),
    ],
    "trpo.bound_maximising_fraction": [
        bad("mdp", lambda f: f("m", theta(), theta())),
        bad("step", lambda f: f(mdp(), theta(), jnp.zeros(2)), r"shape"),
        bad("theta_k", lambda f: f(mdp(), "t", theta())),
        bad("n_grid", lambda f: f(mdp(), theta(), theta(), n_grid=0)),
        bad("coefficient", lambda f: f(mdp(), theta(), theta(), coefficient=1.0)),
    ],
    "trpo.check_bound_forces_small_steps": [
        bad("along", lambda f: f("along")),
        bad("at_most", lambda f: f(_along(), at_most=0.0)),
        bad("factor", lambda f: f(_along(), factor=-1.0)),
    ],
    "trpo.sampled_kl_curvature": [
        bad("policy", lambda f: f("p", theta(), jnp.zeros(3, int), jnp.zeros(3, int))),
        bad("params", lambda f: f(tab_policy(), jnp.zeros(2), jnp.zeros(3, int), jnp.zeros(3, int))),
        bad("actions", lambda f: f(tab_policy(), theta(), jnp.zeros(3, int), jnp.zeros(3)), r"int"),
        bad("obs", lambda f: f(tab_policy(), theta(), jnp.zeros(2, int), jnp.zeros(3, int)), r"leading axis"),
    ],
    "trpo.kl_variance_example": [
        bad("p", lambda f: f("0.1")),
        bad("p", lambda f: f(0.6), r"\(0, 0.5\)"),
    ],
    "trpo.kl_estimator_distributions": [
        bad("mdp", lambda f: f("m", theta(), theta())),
        bad("theta", lambda f: f(mdp(), theta(), jnp.zeros(3)), r"shape"),
        bad("theta_k", lambda f: f(mdp(), "t", theta())),
    ],
    "trpo.check_tabular_trust_region": [
        bad("exact_kl", lambda f: f("kl", B, 0.1)),
        bad("accepted", lambda f: f(F, jnp.zeros(3, bool), 0.1), r"shape"),
        bad("delta", lambda f: f(F, B, -0.1)),
        bad("quantile", lambda f: f(F, B, 0.1, quantile=1.5)),
    ],
    "trpo.check_fresh_batch_kl": [
        bad("fresh_kl", lambda f: f(None, B, 0.1)),
        bad("accepted", lambda f: f(F, F + 0.5, 0.1), r"bool"),
        bad("delta", lambda f: f(F, B, 0.0)),
        bad("z", lambda f: f(F, B, 0.1, z=0.0)),
    ],
    "trpo.check_config": [
        bad("config", lambda f: f("config")),
        bad("config.delta", lambda f: f(_trpo_config(delta=0.0))),
        bad("config.gamma", lambda f: f(_trpo_config(gamma=1.5))),
        bad("config.backtrack_coef", lambda f: f(_trpo_config(backtrack_coef=1.0))),
        bad("config.n_steps", lambda f: f(_trpo_config(n_steps=2.5))),
    ],
    "trpo.policy_of": [
        bad("config", lambda f: f(3)),
        bad("config.hidden[1]", lambda f: f(_trpo_config(hidden=(4, -1)))),
    ],
    "trpo.make_train": [
        bad("config", lambda f: f(None)),
        bad("config.gae_lambda", lambda f: f(_trpo_config(gae_lambda=1.5))),
        bad("kl_multiplier", lambda f: f(kl_multiplier=0.0)),
    ],
    "trpo.train_seeds": [
        bad("env", lambda f: f(key(), 2, env=3)),
        bad("config.reward_scale", lambda f: f(key(), 2, _trpo_config(reward_scale=0.0))),
        bad("key", lambda f: f(1, 2)),
        bad("n_seeds", lambda f: f(key(), -1)),
        bad("config.value_learning_rate", lambda f: f(key(), 2, _trpo_config(value_learning_rate=-1.0))),
    ],
    # --- ppo ----------------------------------------------------------------
    "ppo.check_config": [
        bad("config", lambda f: f({})),
        bad("PPOConfig.loss", lambda f: f(_ppo_config(loss="ppo")), r"one of"),
        bad("PPOConfig.clip_eps", lambda f: f(_ppo_config(clip_eps=1.5)), r"\(0, 1\)"),
        bad("PPOConfig.gamma", lambda f: f(_ppo_config(gamma=2.0)), r"\[0, 1\]"),
        bad("PPOConfig.num_envs", lambda f: f(_ppo_config(num_envs=2.5))),
    ],
    "ppo.importance_ratio": [
        bad("log_prob", lambda f: f("x", F)),
        bad("old_log_prob", lambda f: f(F, jnp.zeros(3)), r"shape"),
    ],
    "ppo.clipped_surrogate": [
        bad("ratio", lambda f: f(None, 1.0)),
        bad("advantage", lambda f: f(F, jnp.zeros(3)), r"broadcast"),
        bad("clip_eps", lambda f: f(F, 1.0, clip_eps=0.0), r"\(0, 1\)"),
    ],
    "ppo.ppo_clip_objective": [
        bad("log_prob", lambda f: f("x", F, F)),
        bad("advantage", lambda f: f(F, F, jnp.zeros(3)), r"shape"),
        bad("clip_eps", lambda f: f(F, F, F, clip_eps=-0.2)),
    ],
    **{f"ppo.{name}": [
        bad("logits", lambda f: f("l", jnp.zeros((4, 2)), jnp.zeros(4, int), F, 1.0)),
        bad("old_logits", lambda f: f(jnp.zeros((4, 2)), jnp.zeros((4, 3)), jnp.zeros(4, int), F, 1.0), r"A = 2"),
        bad("action", lambda f: f(jnp.zeros((4, 2)), jnp.zeros((4, 2)), F, F, 1.0), r"int"),
        bad("advantage", lambda f: f(jnp.zeros((4, 2)), jnp.zeros((4, 2)), jnp.zeros(4, int), jnp.zeros(3), 1.0),
            r"B = 4"),
        bad("kl_coef", lambda f: f(jnp.zeros((4, 2)), jnp.zeros((4, 2)), jnp.zeros(4, int), F, -1.0)),
    ] for name in ("kl_penalty_objective", "sampled_kl_penalty_objective")},
    "ppo.unclipped_objective": [
        bad("log_prob", lambda f: f(B, F, F), r"real"),
        bad("advantage", lambda f: f(F, F, jnp.zeros(2)), r"shape"),
    ],
    "ppo.approx_kl": [
        bad("old_log_prob", lambda f: f(F, "x")),
        bad("old_log_prob", lambda f: f(F, jnp.zeros(2)), r"shape"),
    ],
    "ppo.clip_fraction": [
        bad("log_prob", lambda f: f(None, F, 0.2)),
        bad("old_log_prob", lambda f: f(F, jnp.zeros(2), 0.2), r"shape"),
        bad("clip_eps", lambda f: f(F, F, -0.1)),
    ],
    "ppo.adaptive_kl_coef": [
        bad("kl_coef", lambda f: f("b", 0.01, 0.01)),
        bad("kl", lambda f: f(F, jnp.zeros(3), 0.01), r"broadcast"),
        bad("kl_target", lambda f: f(1.0, 0.01, 0.0)),
    ],
    "ppo.in_kl_band": [
        bad("kl", lambda f: f("kl", 0.01)),
        bad("kl_target", lambda f: f(0.01, -0.01)),
    ],
    "ppo.gae": [
        bad("rewards", lambda f: f("r", F, F, B, B, 0.9, 0.9)),
        bad("values", lambda f: f(F, jnp.zeros(3), F, B, B, 0.9, 0.9), r"shape"),
        bad("done", lambda f: f(F, F, F, B, F, 0.9, 0.9), r"bool"),
        bad("gamma", lambda f: f(F, F, F, B, B, 2.0, 0.9), r"\[0, 1\]"),
        bad("gae_lambda", lambda f: f(F, F, F, B, B, 0.9, -0.1), r"\[0, 1\]"),
        bad("rewards", lambda f: f(nan_vec(4), F, F, B, B, 0.9, 0.9), r"finite"),
    ],
    "ppo.ppo_epochs": [
        bad("key", lambda f: f(F, (), {"x": F}, 0, lambda p, b: (0.0, ()), _sgd(), 1, 1)),
        bad("loss_fn", lambda f: f(F, (), {"x": F}, key(), "loss", _sgd(), 1, 1)),
        bad("optimizer", lambda f: f(F, (), {"x": F}, key(), lambda p, b: (0.0, ()), "adam", 1, 1)),
        bad("num_epochs", lambda f: f(F, (), {"x": F}, key(), lambda p, b: (0.0, ()), _sgd(), 0, 1)),
        bad("num_minibatches", lambda f: f(F, (), {"x": F}, key(), lambda p, b: (0.0, ()), _sgd(), 1, 3), r"divide"),
        bad("batch", lambda f: f(F, (), {"x": F, "y": jnp.zeros(3)}, key(), lambda p, b: (0.0, ()), _sgd(), 1, 1),
            r"leading axis"),
    ],
    "ppo.make_ppo": [
        bad("config", lambda f: f("config")),
        bad("PPOConfig.learning_rate", lambda f: f(_ppo_config(learning_rate=-1.0))),
        bad("env", lambda f: f(env="CartPole-v1")),
    ],
    "ppo.make_train": [
        bad("config", lambda f: f(None)),
        bad("PPOConfig.gae_lambda", lambda f: f(_ppo_config(gae_lambda=1.5))),
        bad("on_eval", lambda f: f(on_eval="print")),
    ],
    "ppo.train_seeds": [
        bad("key", lambda f: f(0, 2)),
        bad("n_seeds", lambda f: f(key(), 0)),
        bad("env", lambda f: f(key(), 2, env="Pendulum-v1")),
    ],
    "ppo.one_state_maximiser": [
        bad("objective", lambda f: f("objective")),
        bad("pi_k", lambda f: f(_ppo_fn("kl_penalty_objective"), pi_k=(0.2, 0.3, 0.5)), r"shape"),
        bad("pi_k", lambda f: f(_ppo_fn("kl_penalty_objective"), pi_k=(0.2, 0.3)), r"sum to 1"),
        bad("advantages", lambda f: f(_ppo_fn("kl_penalty_objective"), advantages=(1.0, 0.0)), r"N = 10"),
        bad("actions", lambda f: f(_ppo_fn("kl_penalty_objective"), actions=(0.5,) * 10), r"int"),
        bad("kl_coef", lambda f: f(_ppo_fn("kl_penalty_objective"), kl_coef=-1.0)),
    ],
    "ppo.penalty_maximiser": [
        bad("weights", lambda f: f("w", [1.0, 0.0], 1.0)),
        bad("gains", lambda f: f([0.5, 0.5], [1.0, 0.0, 2.0], 1.0), r"A = 2"),
        bad("weights", lambda f: f([0.5, 0.6], [1.0, 0.0], 1.0), r"sum to 1"),
        bad("kl_coef", lambda f: f([0.5, 0.5], [1.0, 0.0], 0.0)),
    ],
    "ppo.check_penalty_keeps_policy_near": [
        bad("objective", lambda f: f(None)),
        bad("kl_coefs", lambda f: f(_ppo_fn("kl_penalty_objective"), kl_coefs=(1.0, -1.0)), r"positive"),
        bad("kl_coefs", lambda f: f(_ppo_fn("kl_penalty_objective"), kl_coefs="1"),),
        bad("tolerance", lambda f: f(_ppo_fn("kl_penalty_objective"), tolerance=0.0)),
    ],
    "ppo.kl_penalty_runs": [
        bad("kl_coefs", lambda f: f("1", [0.01])),
        bad("kl_targets", lambda f: f([1.0, 2.0], [0.01]), r"K = 2"),
        bad("kl_coefs", lambda f: f([-1.0], [0.01]), r"non-negative"),
        bad("n_seeds", lambda f: f([1.0], [0.01], n_seeds=0)),
        bad("rule", lambda f: f([1.0], [0.01], rule="double")),
        bad("budget", lambda f: f([1.0], [0.01], budget=3)),
    ],
    "ppo.stress_runs": [
        bad("loss", lambda f: f("ppo")),
        bad("target_kls", lambda f: f("clip", target_kls=(0.0,))),
        bad("n_seeds", lambda f: f("clip", n_seeds=1.5)),
    ],
    "ppo.final_return": [
        bad("metrics", lambda f: f("m")),
        bad("last", lambda f: f(_ppo_metrics(), last=0)),
    ],
    "ppo.check_holds_under_stress": [
        bad("metrics", lambda f: f({})),
        bad("max_approx_kl", lambda f: f(_ppo_metrics(), max_approx_kl=-0.1)),
        bad("min_return", lambda f: f(_ppo_metrics(), min_return="400")),
    ],
    "ppo.check_early_stopping": [
        bad("metrics", lambda f: f(None, 0.01, 4)),
        bad("target_kl", lambda f: f(_ppo_metrics(), 0.0, 4)),
        bad("update_epochs", lambda f: f(_ppo_metrics(), 0.01, 0)),
        bad("fraction", lambda f: f(_ppo_metrics(), 0.01, 4, fraction=1.5)),
    ],
    "ppo.check_adaptive_band": [
        bad("kl", lambda f: f("kl", 0.01)),
        bad("kl_target", lambda f: f(F, 0.0)),
        bad("in_band", lambda f: f(F, 0.01, in_band=-0.5)),
    ],
    # --- optim --------------------------------------------------------------
    "optim.himmelblau": [
        bad("theta", lambda f: f("theta")),
        bad("theta", lambda f: f(jnp.zeros(3)), r"shape"),
    ],
    "optim.gradient_ascent": [
        bad("J", lambda f: f("J", jnp.zeros(2), 0.1, 3)),
        bad("theta_init", lambda f: f(jnp.sum, [0.0, 0.0], 0.1, 3)),
        bad("theta_init", lambda f: f(jnp.sum, jnp.zeros((2, 2, 2)), 0.1, 3), r"D"),
        bad("eta", lambda f: f(jnp.sum, jnp.zeros(2), -0.1, 3)),
        bad("n_steps", lambda f: f(jnp.sum, jnp.zeros(2), 0.1, 0)),
    ],
    "optim.directional_finite_difference": [
        bad("J", lambda f: f(None, vec(), vec(), 0.1)),
        bad("v", lambda f: f(jnp.sum, vec(), vec(2), 0.1), r"shape"),
        bad("eps", lambda f: f(jnp.sum, vec(), vec(), 0.0)),
    ],
    "optim.finite_difference_gradient": [
        bad("J", lambda f: f(3, vec(), 0.1)),
        bad("theta", lambda f: f(jnp.sum, jnp.ones((2, 2)), 0.1), r"1-D"),
        bad("eps", lambda f: f(jnp.sum, vec(), -1e-3)),
    ],
    "optim.stochastic_gradient_ascent": [
        bad("estimate_gradient", lambda f: f(vec(), "g", 0.1, 3)),
        bad("theta_init", lambda f: f(jnp.ones((2, 2)), lambda t, k: t, 0.1, 3), r"1-D"),
        bad("eta", lambda f: f(vec(), lambda t, k: t, jnp.nan, 3)),
        bad("n_steps", lambda f: f(vec(), lambda t, k: t, 0.1, 1.5)),
    ],
    "optim.make_least_squares": [
        bad("key", lambda f: f(0, 6, 2)),
        bad("n_samples", lambda f: f(key(), 0, 2)),
        bad("dim", lambda f: f(key(), 6, "2")),
        bad("noise", lambda f: f(key(), 6, 2, noise=-1.0)),
    ],
    "optim.least_squares_objective": [
        bad("theta", lambda f: f(jnp.zeros(3), _data()), r"shape"),
        bad("data", lambda f: f(jnp.zeros(2), (1, 2))),
        bad("theta", lambda f: f("t", _data())),
    ],
    "optim.least_squares_solution": [
        bad("data", lambda f: f("data")),
        bad("data.y", lambda f: f(_data(y=jnp.ones(5))), r"length"),
    ],
    "optim.minibatch_gradient": [
        bad("theta", lambda f: f(jnp.zeros(3), _data(), key(), 2), r"shape"),
        bad("key", lambda f: f(jnp.zeros(2), _data(), "key", 2)),
        bad("batch_size", lambda f: f(jnp.zeros(2), _data(), key(), 0)),
    ],
    "optim.make_minibatch_gradient": [
        bad("data", lambda f: f(None, 2, key())),
        bad("batch_size", lambda f: f(_data(), 2.5, key())),
        bad("key", lambda f: f(_data(), 2, 1)),
    ],
    "optim.sgd_least_squares": [
        bad("data", lambda f: f("d", jnp.zeros(2), 0.1, 3, 2, key())),
        bad("theta_init", lambda f: f(_data(), jnp.zeros(3), 0.1, 3, 2, key()), r"shape"),
        bad("eta", lambda f: f(_data(), jnp.zeros(2), 0.0, 3, 2, key())),
        bad("batch_size", lambda f: f(_data(), jnp.zeros(2), 0.1, 3, -2, key())),
    ],
    "optim.curvature_on_segments": [
        bad("J", lambda f: f("J", jnp.zeros((3, 2)))),
        bad("path", lambda f: f(jnp.sum, jnp.zeros((1, 2))), r"two iterates"),
        bad("path", lambda f: f(jnp.sum, [[0.0]])),
    ],
    "optim.rate_excess": [
        bad("path", lambda f: f("p", jnp.zeros(2), 0.5)),
        bad("theta_star", lambda f: f(jnp.ones((3, 2)), jnp.zeros(3), 0.5), r"shape"),
        bad("factor", lambda f: f(jnp.ones((3, 2)), jnp.zeros(2), 0.0)),
    ],
    "optim.per_sample_gradients": [
        bad("theta", lambda f: f(jnp.zeros(3), _data()), r"shape"),
        bad("data", lambda f: f(jnp.zeros(2), "d")),
    ],
    "optim.minibatch_gradient_variance": [
        bad("theta", lambda f: f(jnp.zeros(3), _data()), r"size 2"),
        bad("data", lambda f: f(jnp.zeros(2), None)),
        bad("batch_size", lambda f: f(jnp.zeros(2), _data(), batch_size=0)),
    ],
    "optim.max_variance_on_box": [
        bad("data", lambda f: f("d", jnp.zeros(2), 1.0)),
        bad("center", lambda f: f(_data(), jnp.zeros(3), 1.0), r"shape"),
        bad("half_width", lambda f: f(_data(), jnp.zeros(2), -1.0)),
    ],
    "optim.squared_gradient_norms": [
        bad("thetas", lambda f: f("t", _data())),
        bad("thetas", lambda f: f(jnp.zeros((4, 3)), _data()), r"size 2"),
        bad("data", lambda f: f(jnp.zeros(2), [1])),
    ],
    "optim.sgd_final_iterates": [
        bad("data", lambda f: f(1, jnp.zeros(2), 0.1, 3, 2, key(), 4)),
        bad("theta_init", lambda f: f(_data(), jnp.zeros(1), 0.1, 3, 2, key(), 4), r"shape"),
        bad("n_runs", lambda f: f(_data(), jnp.zeros(2), 0.1, 3, 2, key(), 0)),
        bad("eta", lambda f: f(_data(), jnp.zeros(2), -0.1, 3, 2, key(), 4)),
    ],
    "optim.sgd_noise_floor": [
        bad("data", lambda f: f("d", 0.1, 2, 3)),
        bad("eta", lambda f: f(_data(), 0.0, 2, 3)),
        bad("batch_size", lambda f: f(_data(), 0.1, 0, 3)),
        bad("n_steps", lambda f: f(_data(), 0.1, 2, -1)),
    ],
    "optim.sgd_convergence_bound": [
        bad("initial_gap", lambda f: f(-1.0, 0.1, 3, 1.0, 1.0)),
        bad("eta", lambda f: f(1.0, "0.1", 3, 1.0, 1.0)),
        bad("n_steps", lambda f: f(1.0, 0.1, 0, 1.0, 1.0)),
        bad("variance", lambda f: f(1.0, 0.1, 3, 1.0, jnp.nan)),
    ],
    "optim.cartpole_start_states": [
        bad("key", lambda f: f(None, 3)),
        bad("n", lambda f: f(key(), 0)),
    ],
    "optim.threshold_policy_returns": [
        bad("thetas", lambda f: f("t", jnp.zeros(4))),
        bad("thetas", lambda f: f(jnp.zeros(3), jnp.zeros(4)), r"size 4"),
        bad("starts", lambda f: f(jnp.zeros(4), B), r"real"),
        bad("starts", lambda f: f(jnp.zeros((2, 4)), jnp.zeros((3, 4))), r"broadcast"),
    ],
    # --- reinforce ----------------------------------------------------------
    "reinforce.gradient_weights": [
        bad("config", lambda f: f("c", traj(), W(), W())),
        bad("config.gamma", lambda f: f(_reinforce_config(gamma=0.0), traj(), W(), W())),
        bad("traj", lambda f: f(_reinforce_config(), "t", W(), W())),
        bad("values", lambda f: f(_reinforce_config(), traj(), jnp.zeros(3), W()), r"shape"),
        bad("next_values", lambda f: f(_reinforce_config(), traj(), W(), "v")),
    ],
    "reinforce.surrogate": [
        bad("policy", lambda f: f("p", theta(), traj(), W())),
        bad("params", lambda f: f(tab_policy(), jnp.zeros(3), traj(), W())),
        bad("traj", lambda f: f(tab_policy(), theta(), None, W())),
        bad("weights", lambda f: f(tab_policy(), theta(), traj(), jnp.zeros(3)), r"shape"),
    ],
    "reinforce.make_train": [
        bad("config", lambda f: f(None)),
        bad("config.gae_lambda", lambda f: f(_reinforce_config(gae_lambda=1.5))),
        bad("config.n_steps", lambda f: f(_reinforce_config(n_steps=0))),
    ],
    "reinforce.train_seeds": [
        bad("env", lambda f: f(key(), 2, env="Pendulum-v1")),
        bad("key", lambda f: f(3, 2)),
        bad("n_seeds", lambda f: f(key(), 0)),
        bad("config.learning_rate", lambda f: f(key(), 2, _reinforce_config(learning_rate=0.0))),
    ],
    "reinforce.improvement": [
        bad("episode_return", lambda f: f("r")),
        bad("episode_return", lambda f: f(jnp.zeros(8)), r"seeds, updates"),
        bad("n", lambda f: f(jnp.zeros((2, 8)), n=0)),
    ],
    "reinforce.policy_of": [
        bad("env", lambda f: f(env="Pendulum-v1")),
        bad("config.init_log_std", lambda f: f(_reinforce_config(init_log_std=float("inf")))),
        bad("config", lambda f: f(1)),
        bad("config.n_envs", lambda f: f(_reinforce_config(n_envs=-1))),
    ],
    # --- rollouts -----------------------------------------------------------
    "rollouts.rollout": [
        bad("key", lambda f: f(0, tab_policy(), theta(), lambda s, a: None, None, None, 3)),
        bad("policy", lambda f: f(key(), "p", theta(), lambda s, a: None, None, None, 3)),
        bad("step_fn", lambda f: f(key(), tab_policy(), theta(), "step", None, None, 3)),
        bad("n_steps", lambda f: f(key(), tab_policy(), theta(), lambda s, a: None, None, None, 0)),
    ],
    "rollouts.sample_trajectories": [
        bad("key", lambda f: f("key", mdp(), tab_policy(), theta(), 4)),
        bad("mdp", lambda f: f(key(), "mdp", tab_policy(), theta(), 4)),
        bad("policy", lambda f: f(key(), mdp(), None, theta(), 4)),
        bad("params", lambda f: f(key(), mdp(), tab_policy(), jnp.zeros(3), 4)),
        bad("n", lambda f: f(key(), mdp(), tab_policy(), theta(), 0)),
    ],
    "rollouts.sample_env": [
        bad("key", lambda f: f(1, _env(), _mlp_policy(), _mlp_params(), 2, 3)),
        bad("env", lambda f: f(key(), "CartPole-v1", _mlp_policy(), _mlp_params(), 2, 3)),
        bad("params", lambda f: f(key(), _env(), _mlp_policy(), theta(), 2, 3)),
        bad("n_envs", lambda f: f(key(), _env(), _mlp_policy(), _mlp_params(), 0, 3)),
        bad("n_steps", lambda f: f(key(), _env(), _mlp_policy(), _mlp_params(), 2, 1.5)),
    ],
    "rollouts.episode_returns": [
        bad("traj", lambda f: f({"rewards": W()})),
        bad("traj.rewards", lambda f: f(traj()._replace(rewards=jnp.zeros(3))), r"shape"),
    ],
    # --- seeds --------------------------------------------------------------
    "seeds.seed_sharding": [
        bad("n_seeds", lambda f: f(0)),
        bad("n_seeds", lambda f: f(2.5)),
    ],
    "seeds.train_seeds": [
        bad("train", lambda f: f("train", key(), 2)),
        bad("key", lambda f: f(lambda k: k, 3, 2)),
        bad("n_seeds", lambda f: f(lambda k: k, key(), 0)),
    ],
    # --- policies -----------------------------------------------------------
    "policies.mlp_policy_for": [
        bad("env", lambda f: f("Pendulum-v1")),
        bad("hidden", lambda f: f(_make_env("CartPole-v1"), hidden=(0,))),
        bad("init_log_std", lambda f: f(_make_env("Pendulum-v1"), init_log_std=float("nan"))),
    ],
    "policies.check_params": [
        bad("policy", lambda f: f("policy", theta())),
        bad("params", lambda f: f(tab_policy(), jnp.zeros(3)), r"expected"),
        bad("params", lambda f: f(tab_policy(), jnp.zeros((4, 2), int)), r"float"),
        bad("argname", lambda f: f(tab_policy(), theta(), argname=3)),
    ],
    "policies.tabular_softmax": [
        bad("n_states", lambda f: f(0, 2)),
        bad("n_actions", lambda f: f(2, 1.5)),
    ],
    "policies.linear_softmax": [
        bad("features", lambda f: f("phi", 3, 2)),
        bad("n_features", lambda f: f(lambda s, a: jnp.zeros(3), 0, 2)),
        bad("n_actions", lambda f: f(lambda s, a: jnp.zeros(3), 3, "2")),
    ],
    "policies.mlp_softmax": [
        bad("obs_dim", lambda f: f(0, 2)),
        bad("n_actions", lambda f: f(4, None)),
        bad("hidden[1]", lambda f: f(4, 2, (8, 0))),
        bad("hidden", lambda f: f(4, 2, 8)),
    ],
    "policies.state_mlp_softmax": [
        bad("n_states", lambda f: f(-1, 2)),
        bad("hidden[0]", lambda f: f(4, 2, (2.5,))),
    ],
    "policies.diagonal_gaussian": [
        bad("obs_dim", lambda f: f("4", 1)),
        bad("action_dim", lambda f: f(4, 0)),
        bad("init_log_std", lambda f: f(4, 1, init_log_std=jnp.inf), r"finite"),
    ],
    "policies.mlp_init": [
        bad("key", lambda f: f(None, (4, 2))),
        bad("sizes", lambda f: f(key(), (4,))),
        bad("sizes[1]", lambda f: f(key(), (4, 0))),
        bad("last_scale", lambda f: f(key(), (4, 2), last_scale=-1.0)),
    ],
    "policies.mlp_apply": [
        bad("params", lambda f: f("params", jnp.zeros(4))),
        bad("x", lambda f: f(_mlp_params(), jnp.zeros(3)), r"n_in = 4"),
        bad("x", lambda f: f(_mlp_params(), "x")),
    ],
    "policies.score_matches_autodiff": [
        bad("policy", lambda f: f(None, theta(), jnp.zeros(3, int), jnp.zeros(3, int))),
        bad("params", lambda f: f(tab_policy(), jnp.zeros(2), jnp.zeros(3, int), jnp.zeros(3, int))),
        bad("actions", lambda f: f(tab_policy(), theta(), jnp.zeros(3, int), jnp.zeros(2, int)), r"N = 3"),
        bad("obs", lambda f: f(tab_policy(), theta(), jnp.zeros((), int), jnp.zeros(2, int)), r"batch"),
        bad("atol", lambda f: f(tab_policy(), theta(), jnp.zeros(3, int), jnp.zeros(3, int), atol=-1.0)),
    ],
    "policies.score_mean_is_zero": [
        bad("policy", lambda f: f("p", theta(), jnp.zeros(3, int), 2)),
        bad("params", lambda f: f(tab_policy(), jnp.zeros(2), jnp.zeros(3, int), 2)),
        bad("n_actions", lambda f: f(tab_policy(), theta(), jnp.zeros(3, int), 0)),
        bad("atol", lambda f: f(tab_policy(), theta(), jnp.zeros(3, int), 2, atol=jnp.nan)),
    ],
    **{f"policies.{name}": [
        bad("policy", lambda f: f("p", _gauss_params(), jnp.zeros(3), jnp.sum, jnp.zeros((4, 1)))),
        bad("params", lambda f: f(_gauss(), theta(), jnp.zeros(3), jnp.sum, jnp.zeros((4, 1)))),
        bad("f", lambda f: f(_gauss(), _gauss_params(), jnp.zeros(3), "f", jnp.zeros((4, 1)))),
        bad("noise", lambda f: f(_gauss(), _gauss_params(), jnp.zeros(3), jnp.sum, jnp.zeros(4)), r"shape"),
        bad("noise", lambda f: f(_gauss(), _gauss_params(), jnp.zeros(3), jnp.sum, "noise")),
    ] for name in ("gaussian_score_function_estimates", "gaussian_pathwise_estimates")},
    # --- distributions ------------------------------------------------------
    "distributions.categorical": [
        bad("n_actions", lambda f: f(0)),
        bad("n_actions", lambda f: f("2")),
    ],
    "distributions.diagonal_gaussian": [
        bad("action_dim", lambda f: f(-1)),
        bad("action_dim", lambda f: f(1.5)),
    ],
    "distributions.for_env": [
        bad("env", lambda f: f("Pendulum-v1")),
    ],
    # --- envs ---------------------------------------------------------------
    "exercises.check": [
        bad("name", lambda f: f("reward-to-go", lambda r: r)),
        bad("fn", lambda f: f("reward_to_go", None)),
    ],
    "exercises.reference": [
        bad("name", lambda f: f(3)),
    ],
    "envs.env_or_cartpole": [
        bad("env", lambda f: f("CartPole-v1", 500)),
        bad("max_episode_steps", lambda f: f(None, 0)),
    ],
    "envs.make": [
        bad("name", lambda f: f("CartPole-v9"), r"unknown environment id"),
        bad("max_episode_steps", lambda f: f("CartPole-v1", max_episode_steps=0)),
        bad("mass_cart", lambda f: f("CartPole-v1", mass_cart=1.0), r"unknown CartPole-v1 parameter"),
    ],
    "envs.cartpole.reset": [
        bad("key", lambda f: f(0)),
        bad("params", lambda f: f(key(), params={"gravity": 9.8})),
    ],
    "envs.cartpole.dynamics": [
        bad("physics", lambda f: f("p", 1)),
        bad("physics", lambda f: f(jnp.zeros(3), 1), r"shape"),
        bad("action", lambda f: f(jnp.zeros(4), 0.5)),
        bad("action", lambda f: f(jnp.zeros(4), jnp.zeros(2, int)), r"scalar"),
        bad("params", lambda f: f(jnp.zeros(4), 1, params=None)),
    ],
    "envs.cartpole.is_terminated": [
        bad("physics", lambda f: f(None)),
        bad("physics", lambda f: f(jnp.zeros((2, 4))), r"shape"),
        bad("params", lambda f: f(jnp.zeros(4), params=(9.8,))),
    ],
    **{f"envs.cartpole.{name}": [
        bad("state", lambda f: f(jnp.zeros(4), 1)),
        bad("action", lambda f: f(_cart_state(), "left")),
        bad("action", lambda f: f(_cart_state(), jnp.ones(3, int)), r"scalar"),
        bad("params", lambda f: f(_cart_state(), 1, params="CartPole")),
    ] for name in ("step", "step_no_reset")},
    "envs.core.auto_reset": [
        bad("ts", lambda f: f((1, 2), _cart_state(), jnp.zeros(4))),
        bad("reset_state", lambda f: f(_cart_timestep(), "state", jnp.zeros(4))),
        bad("reset_obs", lambda f: f(_cart_timestep(), _cart_state(), jnp.zeros(3)), r"shape"),
    ],
    "envs.acrobot.reset": [
        bad("key", lambda f: f("key")),
        bad("params", lambda f: f(key(), params={"dt": 0.2})),
    ],
    "envs.acrobot.observation": [
        bad("physics", lambda f: f("p")),
        bad("physics", lambda f: f(jnp.zeros(6)), r"shape"),
    ],
    "envs.acrobot.derivatives": [
        bad("physics", lambda f: f(jnp.zeros(3), 1.0), r"shape"),
        bad("torque", lambda f: f(jnp.zeros(4), "up")),
        bad("params", lambda f: f(jnp.zeros(4), 1.0, params=0.2)),
    ],
    "envs.acrobot.dynamics": [
        bad("physics", lambda f: f(None, 1)),
        bad("action", lambda f: f(jnp.zeros(4), 1.0)),
        bad("action", lambda f: f(jnp.zeros(4), jnp.zeros(2, int)), r"scalar"),
        bad("params", lambda f: f(jnp.zeros(4), 1, params=None)),
    ],
    "envs.acrobot.is_terminated": [
        bad("physics", lambda f: f(jnp.zeros((2, 4))), r"shape"),
        bad("params", lambda f: f(jnp.zeros(4), params="Acrobot")),
    ],
    **{f"envs.acrobot.{name}": [
        bad("state", lambda f: f(jnp.zeros(4), 1)),
        bad("action", lambda f: f(_acrobot_state(), "left")),
        bad("params", lambda f: f(_acrobot_state(), 1, params="Acrobot")),
    ] for name in ("step", "step_no_reset")},
    "envs.pendulum.reset": [
        bad("key", lambda f: f(1.5)),
        bad("params", lambda f: f(key(), params=(8.0,))),
    ],
    "envs.pendulum.observation": [
        bad("physics", lambda f: f(jnp.zeros(3)), r"shape"),
    ],
    "envs.pendulum.angle_normalize": [
        bad("x", lambda f: f("angle")),
    ],
    "envs.pendulum.dynamics": [
        bad("physics", lambda f: f(jnp.zeros(3), jnp.zeros(1)), r"shape"),
        bad("action", lambda f: f(jnp.zeros(2), jnp.zeros(2)), r"shape"),
        bad("action", lambda f: f(jnp.zeros(2), "push")),
        bad("params", lambda f: f(jnp.zeros(2), jnp.zeros(1), params=None)),
    ],
    "envs.pendulum.is_terminated": [
        bad("physics", lambda f: f(jnp.zeros(4)), r"shape"),
    ],
    **{f"envs.pendulum.{name}": [
        bad("state", lambda f: f(jnp.zeros(2), jnp.zeros(1))),
        bad("action", lambda f: f(_pendulum_state(), jnp.zeros(())), r"shape"),
        bad("params", lambda f: f(_pendulum_state(), jnp.zeros(1), params="Pendulum")),
    ] for name in ("step", "step_no_reset")},
    "envs.tabular.tabular_mdp": [
        bad("mu", lambda f: f("mu", jnp.ones((1, 1, 1)), jnp.zeros((1, 1)), 2)),
        bad("P", lambda f: f(jnp.ones(1), jnp.ones((1, 1)), jnp.zeros((1, 1)), 2), r"shape"),
        bad("r", lambda f: f(jnp.ones(1), jnp.ones((1, 1, 1)), jnp.full((1, 1), jnp.nan), 2), r"finite"),
        bad("H", lambda f: f(jnp.ones(1), jnp.ones((1, 1, 1)), jnp.zeros((1, 1)), 0)),
        bad("mu", lambda f: f(jnp.full(1, 0.5), jnp.ones((1, 1, 1)), jnp.zeros((1, 1)), 2), r"sum to 1"),
    ],
    "envs.tabular.example_mdp": no_arguments("the chapter's fixed MDP: nothing to get wrong"),
    "envs.tabular.one_state_mdp": [
        bad("rewards", lambda f: f("r")),
        bad("rewards", lambda f: f(jnp.zeros((2, 2))), r"shape"),
        bad("H", lambda f: f(H=0)),
    ],
    "envs.tabular.random_mdp": [
        bad("key", lambda f: f("k", 2, 2, 3)),
        bad("n_states", lambda f: f(key(), 0, 2, 3)),
        bad("H", lambda f: f(key(), 2, 2, 1.5)),
    ],
    "envs.tabular.reset": [
        bad("mdp", lambda f: f("mdp", key())),
        bad("key", lambda f: f(mdp(), 0)),
    ],
    "envs.tabular.step": [
        bad("mdp", lambda f: f(None, key(), 0, 1)),
        bad("key", lambda f: f(mdp(), "k", 0, 1)),
        bad("s", lambda f: f(mdp(), key(), 0.5, 1), r"int"),
        bad("a", lambda f: f(mdp(), key(), 0, jnp.zeros(2, int)), r"shape"),
    ],
    "envs.gym_bridge.make_gym": [
        bad("env_id", lambda f: f(3)),
        bad("env_id", lambda f: f("CartPole-v9"), r"unknown gymnasium environment id"),
    ],
    "envs.gym_bridge.run_episode_gym": [
        bad("env_id", lambda f: f(None, lambda k, o: 0, key())),
        bad("policy_fn", lambda f: f("CartPole-v1", "policy", key())),
        bad("key", lambda f: f("CartPole-v1", lambda k, o: 0, 0)),
        bad("max_steps", lambda f: f("CartPole-v1", lambda k, o: 0, key(), max_steps=0)),
        bad("render_mode", lambda f: f("CartPole-v1", lambda k, o: 0, key(), render_mode="human")),
    ],
    "envs.gym_bridge.render_cartpole": [
        bad("physics", lambda f: f("p")),
        bad("physics", lambda f: f(np.zeros((3, 2))), r"shape"),
        bad("physics", lambda f: f(np.full((3, 4), np.nan)), r"finite"),
        bad("params", lambda f: f(np.zeros((3, 4)), params=1)),
    ],
    # --- animation ----------------------------------------------------------
    "animation.CartPoleAnimation": [
        bad("fig", lambda f: f("fig", lambda i: ())),
        bad("func", lambda f: f(_figure(), "draw")),
    ],
    "animation.cartpole_episode": [
        bad("act", lambda f: f("act", key(), 10)),
        bad("key", lambda f: f(lambda o: 0, 1, 10)),
        bad("n_steps", lambda f: f(lambda o: 0, key(), 0)),
        bad("params", lambda f: f(lambda o: 0, key(), 10, params={})),
    ],
    "animation.pendulum_episode": [
        bad("act", lambda f: f("act", key(), 10)),
        bad("key", lambda f: f(lambda o: o[:1], 1, 10)),
        bad("n_steps", lambda f: f(lambda o: o[:1], key(), 0)),
        bad("params", lambda f: f(lambda o: o[:1], key(), 10, params={})),
    ],
    "animation.animate_pendulum": [
        bad("physics", lambda f: f("p")),
        bad("physics", lambda f: f(np.zeros((3, 4))), r"shape"),
        bad("interval", lambda f: f(np.zeros((3, 2)), interval=0)),
        bad("figsize", lambda f: f(np.zeros((3, 2)), figsize=3)),
        bad("alt", lambda f: f(np.zeros((3, 2)), alt=3)),
    ],
    "animation.animate_cartpole": [
        bad("physics", lambda f: f("p")),
        bad("physics", lambda f: f(np.zeros((3, 3))), r"shape"),
        bad("physics", lambda f: f(np.full((3, 4), np.inf)), r"finite"),
        bad("interval", lambda f: f(np.zeros((3, 4)), interval=0)),
        bad("dpi", lambda f: f(np.zeros((3, 4)), dpi=7.5)),
        bad("figsize[0]", lambda f: f(np.zeros((3, 4)), figsize=(-1.0, 2.0))),
    ],
    # --- interactive --------------------------------------------------------
    "interactive.frame_slider": [
        bad("draw", lambda f: f("draw", [1, 2], 1, "x", alt="a")),
        bad("values", lambda f: f(lambda v: None, "12", 1, "x", alt="a")),
        bad("values", lambda f: f(lambda v: None, list(range(100)), 1, "x", alt="a"), r"between 1 and"),
        bad("default", lambda f: f(lambda v: None, [1, 2], 3, "x", alt="a"), r"one of"),
        bad("image_format", lambda f: f(lambda v: None, [1, 2], 1, "x", alt="a", image_format="gif")),
        bad("dpi", lambda f: f(lambda v: None, [1, 2], 1, "x", alt="a", dpi=1)),
    ],
    "interactive.FrameSlider": [
        bad("values", lambda f: f(3, 0, "x", [b""], ["a"], "", "png", 10)),
        bad("default_index", lambda f: f([1], 1, "x", [b""], ["a"], "", "png", 10)),
        bad("frames", lambda f: f([1], 0, "x", [b"", b""], ["a"], "", "png", 10), r"one per value"),
        bad("image_format", lambda f: f([1], 0, "x", [b""], ["a"], "", "jpeg", 10)),
        bad("width", lambda f: f([1], 0, "x", [b""], ["a"], "", "png", 0)),
    ],
    # --- plotting -----------------------------------------------------------
    "plotting.figure": [
        bad("ncols", lambda f: f(3), r"expected"),
        bad("nrows", lambda f: f(1, 0), r"expected"),
        bad("height", lambda f: f(height=100.0), r"expected"),
        bad("sharex", lambda f: f(sharex="yes"), r"expected"),
    ],
    "plotting.legend_below": [
        bad("fig", lambda f: f("fig"), r"expected"),
        bad("fig", lambda f: f(_figure()), r"labelled line"),
    ],
    # --- latex --------------------------------------------------------------
    "latex.latex": [
        bad("names", lambda f: f(_plain_function, names=["theta"])),
        bad("hide", lambda f: f(_plain_function, hide="key")),
        bad("policies", lambda f: f(_plain_function, policies={"pi": -1})),
        bad("latex", lambda f: f(lambda x: x), r"lambda"),
    ],
    "latex.LatexFunction": [
        bad("fn", lambda f: f("fn")),
        bad("names", lambda f: f(_plain_function, names={"x": 3})),
        bad("hide", lambda f: f(_plain_function, hide=[1])),
    ],
    "latex.assemble": [
        bad("title", lambda f: f(None, None, [])),
        bad("header", lambda f: f("T", 3, [])),
        bad("rows", lambda f: f("T", None, ["x"])),
    ],
    "latex.register_names": [
        bad("mapping", lambda f: f({"not an identifier": "x"}), r"identifier"),
        bad("names", lambda f: f(theta=3), r"LaTeX string"),
    ],
    "latex.register_policy": [
        bad("name", lambda f: f("not a name")),
        bad("parameter", lambda f: f("pi", -1)),
    ],
    "latex.register_indices": [
        bad("Q", lambda f: f(Q=3), r"tuple of index names"),
        bad("Q", lambda f: f(Q=()), r"tuple of index names"),
    ],
    # --- cache --------------------------------------------------------------
    "cache.default_cache_dir": no_arguments("reads the environment: nothing to get wrong"),
    "cache.installed_jaxlib": no_arguments("reads the installed packages: nothing to get wrong"),
    "cache.cache_env": [
        bad("path", lambda f: f(3)),
        bad("path", lambda f: f("")),
    ],
    "cache.book_env": [
        bad("path", lambda f: f(3)),
        bad("environ", lambda f: f(None, ["XLA_FLAGS"])),
    ],
    "cache.book_xla_flags": [
        bad("jaxlib_version", lambda f: f((0, 10))),
        bad("jaxlib_version", lambda f: f("latest")),
    ],
    "cache.enable_compilation_cache": [
        bad("path", lambda f: f(["/tmp"])),
    ],
    # --- compat -------------------------------------------------------------
    "compat.jax_version": no_arguments("reads the installed jax's version"),
    "compat.use_partitionable_threefry": no_arguments("switches a jax setting by jax's version"),
    "compat.enable_x64": [
        bad("new_val", lambda f: f("yes").__enter__()),
    ],
    # --- validate: the checkers themselves name the argument they are given --
    "validate.is_traced": accepts_anything("a predicate: every value is a valid argument"),
    "validate.as_float_array": [
        bad("x", lambda f: f("x", "abc")),
        bad("x", lambda f: f("x", [[1.0], [2.0, 3.0]])),
        bad("x", lambda f: f("x", B), r"real"),
        bad("x", lambda f: f("x", F, "N H"), r"shape"),
        bad("y", lambda f: f("y", F, "N", {"N": 3}), r"N = 3"),
    ],
    "validate.as_int_array": [
        bad("a", lambda f: f("a", F), r"int"),
        bad("a", lambda f: f("a", jnp.zeros(2, int), "3"), r"3"),
    ],
    "validate.as_bool_array": [
        bad("done", lambda f: f("done", F), r"bool"),
        bad("done", lambda f: f("done", jnp.array([0, 2])), r"0/1"),
        bad("done", lambda f: f("done", B, "N H"), r"shape"),
    ],
    "validate.check_shape": [
        bad("x", lambda f: f("x", F, "*N H T"), r"shape"),
        bad("x", lambda f: f("x", F, "5"), r"5"),
    ],
    "validate.check_same_shape": [
        bad("b", lambda f: f(("a", F), ("b", jnp.zeros(3))), r"same shape"),
    ],
    "validate.check_broadcastable": [
        bad("b", lambda f: f(("a", F), ("b", jnp.zeros(3))), r"broadcast"),
    ],
    "validate.check_in_range": [
        bad("gamma", lambda f: f("gamma", 2.0, 0.0, 1.0), r"\[0, 1\]"),
        bad("eps", lambda f: f("eps", 0.0, 0.0, None, inclusive=(False, True)), r"\(0, inf\)"),
        bad("gamma", lambda f: f("gamma", "0.9", 0.0, 1.0)),
        bad("gamma", lambda f: f("gamma", jnp.nan, 0.0, 1.0)),
        bad("gamma", lambda f: f("gamma", jnp.ones(2), 0.0, 1.0), r"scalar"),
    ],
    "validate.check_int": [
        bad("n", lambda f: f("n", 2.0)),
        bad("n", lambda f: f("n", True)),
        bad("n", lambda f: f("n", 0, 1), r"positive int"),
    ],
    "validate.check_finite": [
        bad("rewards", lambda f: f("rewards", nan_vec()), r"NaN"),
        bad("rewards", lambda f: f("rewards", jnp.inf), r"infinity"),
    ],
    "validate.check_probabilities": [
        bad("p", lambda f: f("p", jnp.ones(2)), r"sum to 1"),
        bad("p", lambda f: f("p", jnp.array([1.5, -0.5])), r"probabilities"),
        bad("p", lambda f: f("p", 1.0), r"scalar"),
    ],
    "validate.check_callable": [
        bad("f", lambda f: f("f", 3)),
    ],
    "validate.check_key": [
        bad("key", lambda f: f("key", 0)),
        bad("key", lambda f: f("key", jnp.zeros(2)), r"PRNG key"),
        bad("key", lambda f: f("key", jax.random.split(key(), 2)), r"single"),
    ],
    "validate.check_instance": [
        bad("mdp", lambda f: f("mdp", 3, str)),
    ],
    "validate.check_pytree_like": [
        bad("v", lambda f: f("v", (F,), (F, F), "theta"), r"theta"),
    ],
    # --- estimators ---------------------------------------------------------
    "estimators.reward_to_go": [
        bad("rewards", lambda f: f("abc")),
        bad("rewards", lambda f: f(jnp.float32(1.0)), r"shape"),
        bad("gamma", lambda f: f(F, gamma=2.0), r"\[0, 1\]"),
        bad("gamma", lambda f: f(F, gamma="0.9")),
        bad("dones", lambda f: f(F, dones=jnp.zeros(3, bool)), r"shape"),
        bad("rewards", lambda f: f(nan_vec()), r"finite"),
    ],
    "estimators.total_return": [
        bad("rewards", lambda f: f(None)),
        bad("rewards", lambda f: f(jnp.float32(1.0)), r"shape"),
        bad("rewards", lambda f: f(jnp.zeros(3, bool)), r"real"),
    ],
    "estimators.gae": [
        bad("rewards", lambda f: f("r", F, F, B, B, 0.9, 0.9)),
        bad("values", lambda f: f(F, jnp.zeros(3), F, B, B, 0.9, 0.9), r"shape"),
        bad("next_values", lambda f: f(F, F, jnp.zeros(5), B, B, 0.9, 0.9), r"shape"),
        bad("terminated", lambda f: f(F, F, F, F + 0.5, B, 0.9, 0.9), r"bool"),
        bad("truncated", lambda f: f(F, F, F, B, jnp.zeros(2, bool), 0.9, 0.9), r"shape"),
        bad("gamma", lambda f: f(F, F, F, B, B, 2.0, 0.9), r"\[0, 1\]"),
        bad("lam", lambda f: f(F, F, F, B, B, 0.9, -0.1), r"\[0, 1\]"),
        bad("rewards", lambda f: f(nan_vec(4), F, F, B, B, 0.9, 0.9), r"finite"),
    ],
    "estimators.gae_by_definition": [
        bad("rewards", lambda f: f("r", F, F, B, B, 0.9, 0.9)),
        bad("values", lambda f: f(F, jnp.zeros(3), F, B, B, 0.9, 0.9), r"shape"),
        bad("gamma", lambda f: f(F, F, F, B, B, 1.5, 0.9), r"\[0, 1\]"),
        bad("lam", lambda f: f(F, F, F, B, B, 0.9, 2.0), r"\[0, 1\]"),
    ],
    "estimators.score_weighted_sum": [
        bad("policy", lambda f: f("policy", theta(), traj(), jnp.zeros((4, 3)))),
        bad("traj", lambda f: f(tab_policy(), theta(), "traj", jnp.zeros((4, 3)))),
        bad("params", lambda f: f(tab_policy(), jnp.zeros(2), traj(), jnp.zeros((4, 3)))),
        bad("weights", lambda f: f(tab_policy(), theta(), traj(), jnp.zeros((4, 2))), r"shape"),
        bad("weights", lambda f: f(tab_policy(), theta(), traj(), "w")),
    ],
    "estimators.reinforce_gradient": [
        bad("traj", lambda f: f(tab_policy(), theta(), "traj")),
        bad("params", lambda f: f(tab_policy(), jnp.zeros(2), traj())),
        bad("policy", lambda f: f(None, theta(), traj())),
    ],
    "estimators.reinforce_gradient_reward_to_go": [
        bad("traj", lambda f: f(tab_policy(), theta(), 3)),
        bad("params", lambda f: f(tab_policy(), jnp.zeros((1, 2)), traj())),
    ],
    "estimators.baseline_gradient": [
        bad("traj", lambda f: f(tab_policy(), theta(), None, 0.0)),
        bad("baseline", lambda f: f(tab_policy(), theta(), traj(), jnp.zeros(7)), r"shape"),
        bad("baseline", lambda f: f(tab_policy(), theta(), traj(), "b")),
        bad("baseline", lambda f: f(tab_policy(), theta(), traj(), jnp.nan), r"finite"),
    ],
    "estimators.mean_reward_to_go": [
        bad("traj", lambda f: f(jnp.zeros((2, 3)))),
    ],
    "estimators.fit_value": [
        bad("traj", lambda f: f("traj", 3)),
        bad("n_states", lambda f: f(traj(), 0)),
        bad("n_states", lambda f: f(traj(), 2.5)),
    ],
    "estimators.learned_baseline_gradient": [
        bad("traj", lambda f: f(tab_policy(), theta(), "t", jnp.zeros((3, 2)))),
        bad("values", lambda f: f(tab_policy(), theta(), traj(), jnp.zeros(3)), r"shape"),
        bad("values", lambda f: f(tab_policy(), theta(), traj(), "v")),
    ],
    "estimators.exact_advantage_gradient": [
        bad("traj", lambda f: f(tab_policy(), theta(), "t", jnp.zeros((3, 2, 2)))),
        bad("advantages", lambda f: f(tab_policy(), theta(), traj(), jnp.zeros((3, 2))), r"shape"),
        bad("advantages", lambda f: f(tab_policy(), theta(), traj(), "a")),
    ],
    "estimators.enumerated_batch": [
        bad("mdp", lambda f: f("mdp", pi())),
        bad("pi", lambda f: f(mdp(), jnp.zeros((5, 5))), r"shape"),
        bad("pi", lambda f: f(mdp(), "pi")),
        bad("values", lambda f: f(mdp(), pi(), jnp.zeros(3)), r"shape"),
    ],
    "estimators.exact_mean": [
        bad("probs", lambda f: f(jnp.zeros((4, 2)), "p")),
        bad("probs", lambda f: f(jnp.zeros((4, 2)), jnp.ones((4, 1)) / 4), r"shape"),
        bad("per_traj", lambda f: f(jnp.zeros((3, 2)), jnp.ones(4) / 4), r"leading axis"),
        bad("probs", lambda f: f(jnp.zeros((4, 2)), jnp.ones(4)), r"sum to 1"),
    ],
    "estimators.exact_variance": [
        bad("probs", lambda f: f(jnp.zeros((4, 2)), None)),
        bad("per_traj", lambda f: f(jnp.zeros((3, 2)), jnp.ones(4) / 4), r"leading axis"),
        bad("probs", lambda f: f(jnp.zeros((4, 2)), -jnp.ones(4) / 4), r"probabilities"),
    ],
    "estimators.tabular_gae": [
        bad("traj", lambda f: f("t", V(), 0.9, 0.9)),
        bad("values", lambda f: f(traj(), jnp.zeros(3), 0.9, 0.9), r"shape"),
        bad("gamma", lambda f: f(traj(), V(), 2.0, 0.9), r"\[0, 1\]"),
        bad("lam", lambda f: f(traj(), V(), 0.9, -0.1), r"\[0, 1\]"),
        bad("gae_fn", lambda f: f(traj(), V(), 0.9, 0.9, gae_fn="gae")),
    ],
    "estimators.conditional_mean": [
        bad("weights", lambda f: f("w", traj(), jnp.ones(4) / 4, 2, 2)),
        bad("weights", lambda f: f(jnp.zeros((4, 2)), traj(), jnp.ones(4) / 4, 2, 2), r"shape"),
        bad("probs", lambda f: f(W(), traj(), jnp.ones(3) / 3, 2, 2), r"shape"),
        bad("n_states", lambda f: f(W(), traj(), jnp.ones(4) / 4, 0, 2)),
        bad("n_actions", lambda f: f(W(), traj(), jnp.ones(4) / 4, 2, "2")),
    ],
    "estimators.discounted_gradient": [
        bad("mdp", lambda f: f(None, theta(), 0.9)),
        bad("theta", lambda f: f(mdp(), jnp.zeros(3), 0.9), r"shape"),
        bad("theta", lambda f: f(mdp(), "theta", 0.9)),
        bad("gamma", lambda f: f(mdp(), theta(), 1.5), r"\[0, 1\]"),
    ],
    "estimators.window_gradient": [
        bad("traj", lambda f: f(tab_policy(), theta(), "t", V(), 1)),
        bad("values", lambda f: f(tab_policy(), theta(), traj(), jnp.zeros(3), 1), r"shape"),
        bad("cut", lambda f: f(tab_policy(), theta(), traj(), V(), 5)),
        bad("gamma", lambda f: f(tab_policy(), theta(), traj(), V(), 1, gamma=-1.0), r"\[0, 1\]"),
    ],
    "estimators.window_target": [
        bad("mdp", lambda f: f("m", theta(), 1)),
        bad("theta", lambda f: f(mdp(), jnp.zeros(2), 1), r"shape"),
        bad("cut", lambda f: f(mdp(), theta(), 0)),
        bad("cut", lambda f: f(mdp(), theta(), 1.5)),
    ],
    "estimators.learned_baseline_estimates": [
        bad("key", lambda f: f(0, mdp(), tab_policy(), theta(), 4, 2)),
        bad("mdp", lambda f: f(key(), "m", tab_policy(), theta(), 4, 2)),
        bad("params", lambda f: f(key(), mdp(), tab_policy(), jnp.zeros(3), 4, 2)),
        bad("n", lambda f: f(key(), mdp(), tab_policy(), theta(), 0, 2)),
        bad("n_batches", lambda f: f(key(), mdp(), tab_policy(), theta(), 4, 1.5)),
    ],
    "estimators.check_unbiased_exact": [
        bad("probs", lambda f: f(jnp.zeros((4, 2)), "p", jnp.zeros(2), what="x")),
        bad("per_traj", lambda f: f(jnp.zeros((3, 2)), jnp.ones(4) / 4, jnp.zeros(2), what="x"), r"leading axis"),
        bad("what", lambda f: f(jnp.zeros((4, 2)), jnp.ones(4) / 4, jnp.zeros(2), what=3)),
    ],
    "estimators.check_biased_exact": [
        bad("probs", lambda f: f(jnp.zeros((4, 2)), "p", jnp.zeros(2), what="x")),
        bad("at_least", lambda f: f(jnp.zeros((4, 2)), jnp.ones(4) / 4, jnp.zeros(2), what="x", at_least=-1.0)),
    ],
    "estimators.compare_baseline_runs": [
        bad("without", lambda f: f("m", "m", 4)),
        bad("window", lambda f: f(_metrics(), _metrics(), 0)),
        bad("last", lambda f: f(_metrics(), _metrics(), 4, last=0)),
        bad("episode_return", lambda f: f(_metrics(), _metrics(shape=(3, 4)), 4), r"seeds updates"),
    ],
    # --- lm (policy gradients for language models) --------------------------
    "lm.task.check_tokens": [
        bad("tokens", lambda f: f("tokens", jnp.zeros(3), 13), r"int"),
        bad("tokens", lambda f: f("tokens", jnp.array([0, 13]), 13), r"0 \.\. 12"),
        bad("vocab_size", lambda f: f("tokens", jnp.zeros(3, int), 0)),
    ],
    "lm.task.encode": [
        bad("text", lambda f: f("12+3x="), r"unknown character 'x'"),
        bad("text", lambda f: f(12)),
    ],
    "lm.task.decode": [
        bad("tokens", lambda f: f(jnp.array([1, 13])), r"token ids in 0 \.\. 12"),
        bad("tokens", lambda f: f(jnp.zeros((2, 3), int)), r"shape"),
    ],
    "lm.task.answer_mask": [
        bad("answers", lambda f: f(F), r"int"),
        bad("eos", lambda f: f(jnp.zeros((2, 4), int), eos=-1)),
    ],
    "lm.task.addition_prompts": [
        bad("a", lambda f: f(jnp.array([5, 12]), jnp.array([10, 11])), r"two-digit"),
        bad("b", lambda f: f(jnp.array([10, 11]), jnp.array([10, 11, 12])), r"N = 2"),
    ],
    "lm.task.addition_answers": [
        bad("b", lambda f: f(jnp.array([10]), jnp.array([100])), r"two-digit"),
        bad("a", lambda f: f(F, F), r"int"),
    ],
    "lm.task.corrupt_answers": [
        bad("key", lambda f: f(0, jnp.zeros((2, 4), int), 0.2)),
        bad("answers", lambda f: f(key(), jnp.full((2, 4), 20), 0.2), r"token ids"),
        bad("rate", lambda f: f(key(), jnp.zeros((2, 4), int), 1.5)),
    ],
    "lm.task.make_dataset": [
        bad("key", lambda f: f(None)),
        bad("corruption", lambda f: f(key(), corruption=-0.1)),
        bad("n_heldout", lambda f: f(key(), n_heldout=8100)),
    ],
    "lm.task.exact_match": [
        bad("answers", lambda f: f(F, jnp.zeros(4, int)), r"int"),
        bad("targets", lambda f: f(jnp.zeros((2, 4), int), jnp.zeros((3, 4), int)), r"broadcast"),
    ],
    "lm.model.init_params": [
        bad("key", lambda f: f(1)),
        bad("vocab_size", lambda f: f(key(), 1)),
        bad("hidden", lambda f: f(key(), 13, 0)),
    ],
    "lm.model.check_params": [
        bad("params", lambda f: f({"embedding": F})),
        bad("params.recurrent", lambda f: f(_gru()._replace(recurrent=jnp.zeros((3, 24)))), r"H = 8"),
        bad("params.output_bias", lambda f: f(_gru()._replace(output_bias=jnp.zeros(12))), r"V = 13"),
    ],
    "lm.model.n_params": [
        bad("params", lambda f: f((F,))),
    ],
    "lm.model.gru_step": [
        bad("params", lambda f: f(None, jnp.zeros(8), 1)),
        bad("token", lambda f: f(_gru(), jnp.zeros(8), 13), r"token ids"),
        bad("state", lambda f: f(_gru(), jnp.zeros(5), 1), r"H = 8"),
    ],
    "lm.model.next_token_logits": [
        bad("state", lambda f: f(_gru(), jnp.zeros((2, 5))), r"H = 8"),
        bad("params", lambda f: f("params", jnp.zeros(8))),
    ],
    "lm.model.prompt_state": [
        bad("prompts", lambda f: f(_gru(), jnp.full((2, 6), 14)), r"token ids"),
        bad("prompts", lambda f: f(_gru(), jnp.zeros((2, 6))), r"int"),
    ],
    "lm.model.token_log_probs": [
        bad("answers", lambda f: f(_gru(), jnp.zeros((2, 6), int), jnp.zeros((3, 4, 4), int)), r"P = 2"),
        bad("answers", lambda f: f(_gru(), jnp.zeros((2, 6), int), jnp.full((2, 4, 4), -1)), r"token ids"),
        bad("prompts", lambda f: f(_gru(), jnp.zeros(6, int), jnp.zeros((2, 4, 4), int)), r"shape"),
    ],
    "lm.model.sequence_log_prob": [
        bad("token_log_probs", lambda f: f("x", B)),
        bad("mask", lambda f: f(jnp.zeros((2, 4)), jnp.zeros((3, 4), bool)), r"broadcast"),
    ],
    "lm.sampling.sample_answers": [
        bad("key", lambda f: f(_gru(), 0, jnp.zeros((2, 6), int), 4)),
        bad("n_samples", lambda f: f(_gru(), key(), jnp.zeros((2, 6), int), 0)),
        bad("prompts", lambda f: f(_gru(), key(), jnp.full((2, 6), 99), 4), r"token ids"),
        bad("length", lambda f: f(_gru(), key(), jnp.zeros((2, 6), int), 4, length=0)),
        bad("eos", lambda f: f(_gru(), key(), jnp.zeros((2, 6), int), 4, eos=13)),
    ],
    "lm.advantages.rloo_advantages": [
        bad("rewards", lambda f: f(jnp.ones((4, 1))), r"K >= 2"),
        bad("rewards", lambda f: f(jnp.ones(4)), r"shape"),
        bad("rewards", lambda f: f(jnp.full((2, 3), jnp.nan)), r"finite"),
    ],
    "lm.advantages.group_mean_advantages": [
        bad("rewards", lambda f: f(jnp.ones((2, 3, 4))), r"shape"),
        bad("rewards", lambda f: f("r")),
    ],
    "lm.advantages.grpo_advantages": [
        bad("rewards", lambda f: f(jnp.ones((4, 1))), r"K >= 2"),
        bad("normalise_std", lambda f: f(jnp.ones((2, 3)), normalise_std="yes")),
        bad("eps", lambda f: f(jnp.ones((2, 3)), eps=-1.0)),
    ],
    "lm.kl.k1": [
        bad("ref_log_probs", lambda f: f(F, jnp.zeros(3)), r"shape"),
        bad("log_probs", lambda f: f("lp", F)),
    ],
    "lm.kl.k3": [
        bad("ref_log_probs", lambda f: f(F, jnp.zeros(3)), r"shape"),
        bad("ref_log_probs", lambda f: f(F, B), r"real"),
    ],
    "lm.kl.sequence_kl": [
        bad("estimator", lambda f: f(jnp.zeros((2, 4)), jnp.zeros((2, 4)), jnp.ones((2, 4), bool), "k2"), r"one of"),
        bad("mask", lambda f: f(jnp.zeros((2, 4)), jnp.zeros((2, 4)), jnp.ones((3, 4), bool)), r"broadcast"),
    ],
    "lm.kl.kl_shaped_rewards": [
        bad("kl_coef", lambda f: f(jnp.zeros(2), jnp.zeros((2, 4)), jnp.zeros((2, 4)), jnp.ones((2, 4), bool), 0.0)),
        bad("rewards", lambda f: f(jnp.zeros(3), jnp.zeros((2, 4)), jnp.zeros((2, 4)), jnp.ones((2, 4), bool), 0.1),
            r"one entry per answer"),
    ],
    "lm.objectives.policy_gradient_surrogate": [
        bad("advantages", lambda f: f(jnp.zeros((2, 3, 4)), jnp.ones((2, 3, 4), bool), jnp.zeros((2, 4))), r"K = 3"),
        bad("mask", lambda f: f(jnp.zeros((2, 3, 4)), jnp.zeros((2, 3, 4)), jnp.zeros((2, 3))), r"bool"),
    ],
    "lm.objectives.grpo_objective": [
        bad("old_log_probs", lambda f: f(jnp.zeros((2, 3, 4)), jnp.zeros((2, 3, 5)), jnp.zeros((2, 3, 4)),
                                         jnp.ones((2, 3, 4), bool), jnp.zeros((2, 3))), r"T = 4"),
        bad("clip_eps", lambda f: f(*_grpo_batch(), clip_eps=1.0)),
        bad("kl_coef", lambda f: f(*_grpo_batch(), kl_coef=-0.1)),
        bad("normalise_length", lambda f: f(*_grpo_batch(), normalise_length=1)),
    ],
    "lm.exact.enumerate_answers": [
        bad("vocab_size", lambda f: f(1, 2)),
        bad("length", lambda f: f(3, 0)),
        bad("eos", lambda f: f(3, 2, eos=3)),
    ],
    "lm.exact.n_prefixes": [
        bad("vocab_size", lambda f: f(1.5, 2)),
        bad("length", lambda f: f(3, -1)),
    ],
    "lm.exact.tabular_log_probs": [
        bad("theta", lambda f: f(jnp.zeros((2, 3, 3)), jnp.zeros((9, 2), int)), r"N = n_prefixes"),
        bad("answers", lambda f: f(jnp.zeros((2, 4, 3)), jnp.full((9, 2), 3)), r"token ids"),
        bad("theta", lambda f: f(jnp.zeros((4, 3)), jnp.zeros((9, 2), int)), r"shape"),
    ],
    "lm.exact.answer_probs": [
        bad("mask", lambda f: f(jnp.zeros((2, 9, 2)), jnp.ones((7, 2), bool)), r"M = 9"),
        bad("token_log_probs", lambda f: f(jnp.zeros((9, 2)), jnp.ones((9, 2), bool)), r"shape"),
    ],
    "lm.exact.exact_objective": [
        bad("rewards", lambda f: f(jnp.zeros((2, 9, 2)), jnp.ones((9, 2), bool), jnp.zeros((3, 9))), r"P = 2"),
        bad("rewards", lambda f: f(jnp.zeros((2, 9, 2)), jnp.ones((9, 2), bool), "r")),
    ],
    "lm.exact.exact_kl": [
        bad("ref_token_log_probs", lambda f: f(jnp.zeros((2, 9, 2)), jnp.zeros((2, 7, 2)), jnp.ones((9, 2), bool)),
            r"shape"),
        bad("mask", lambda f: f(jnp.zeros((2, 9, 2)), jnp.zeros((2, 9, 2)), jnp.ones((9, 3), bool)), r"T = 2"),
    ],
    "lm.exact.exact_gradient": [
        bad("log_probs_fn", lambda f: f("fn", jnp.zeros(3), jnp.ones((9, 2), bool), jnp.zeros((2, 9)))),
        bad("log_probs_fn", lambda f: f(lambda t: jnp.zeros((9, 2)), jnp.zeros(3), jnp.ones((9, 2), bool),
                                        jnp.zeros((2, 9))), r"shape \(P, M, T\)"),
        bad("kl_coef", lambda f: f(_tab_fn, _tab_theta(), jnp.ones((9, 2), bool), jnp.zeros((2, 9)), kl_coef=-1.0)),
        bad("ref_token_log_probs", lambda f: f(_tab_fn, _tab_theta(), jnp.ones((9, 2), bool), jnp.zeros((2, 9)),
                                               kl_coef=0.1)),
    ],
    "lm.exact.kl_gradient": [
        bad("log_probs_fn", lambda f: f(None, _tab_theta(), jnp.zeros((2, 9, 2)), jnp.ones((9, 2), bool))),
        bad("ref_token_log_probs", lambda f: f(_tab_fn, _tab_theta(), jnp.zeros((2, 7, 2)), jnp.ones((9, 2), bool)),
            r"shape"),
    ],
    "lm.exact.expected_kl_estimate": [
        bad("estimator", lambda f: f(jnp.zeros((2, 9, 2)), jnp.zeros((2, 9, 2)), jnp.ones((9, 2), bool), "k2"),
            r"one of"),
        bad("token_log_probs", lambda f: f(jnp.zeros((9, 2)), jnp.zeros((9, 2)), jnp.ones((9, 2), bool)), r"shape"),
    ],
    "lm.exact.expected_weights": [
        bad("probs", lambda f: f(jnp.ones((2, 9)), jnp.zeros((2, 9)), _rloo(), 2), r"sum to 1"),
        bad("rewards", lambda f: f(jnp.ones((2, 9)) / 9, jnp.zeros((2, 7)), _rloo(), 2), r"M = 9"),
        bad("advantages", lambda f: f(jnp.ones((2, 9)) / 9, jnp.zeros((2, 9)), "rloo", 2)),
        bad("n_samples", lambda f: f(jnp.ones((2, 9)) / 9, jnp.zeros((2, 9)), _rloo(), 9), r"MAX_GROUPS"),
        bad("lengths", lambda f: f(jnp.ones((2, 9)) / 9, jnp.zeros((2, 9)), _rloo(), 2, jnp.ones(7, int)), r"M = 9"),
    ],
    "lm.exact.expected_estimator": [
        bad("log_probs_fn", lambda f: f(3, _tab_theta(), jnp.ones((9, 2), bool), jnp.zeros((2, 9)), _rloo(), 2)),
        bad("normalise_length", lambda f: f(_tab_fn, _tab_theta(), jnp.ones((9, 2), bool), jnp.zeros((2, 9)),
                                            _rloo(), 2, normalise_length="yes")),
        bad("n_samples", lambda f: f(_tab_fn, _tab_theta(), jnp.ones((9, 2), bool), jnp.zeros((2, 9)), _rloo(), 0)),
    ],
    "lm.train.check_supervised_config": [
        bad("config", lambda f: f({"n_steps": 10})),
        bad("config.n_steps", lambda f: f(_lm_train().SupervisedConfig(n_steps=0))),
        bad("config.learning_rate", lambda f: f(_lm_train().SupervisedConfig(learning_rate=-1.0))),
    ],
    "lm.train.cross_entropy": [
        bad("answers", lambda f: f(_gru(), jnp.zeros((2, 6), int), jnp.zeros((3, 4), int)), r"B = 2"),
        bad("prompts", lambda f: f(_gru(), jnp.zeros((2, 6)), jnp.zeros((2, 4), int)), r"int"),
    ],
    "lm.train.make_supervised": [
        bad("dataset", lambda f: f(_lm_train().SupervisedConfig(), None)),
        bad("dataset", lambda f: f(_lm_train().SupervisedConfig(), "data")),
        bad("config.batch_size", lambda f: f(_lm_train().SupervisedConfig(batch_size=0), _lm_data())),
    ],
    "lm.train.check_config": [
        bad("config", lambda f: f(_lm_train().SupervisedConfig())),
        bad("config.method", lambda f: f(_finetune(method="ppo")), r"one of"),
        bad("config.kl_coef", lambda f: f(_finetune(kl_coef=0.0))),
        bad("config.n_samples", lambda f: f(_finetune(method="rloo", n_samples=1)), r"at least 2"),
        bad("config.update_epochs", lambda f: f(_finetune(method="rloo", update_epochs=2)), r"must be 1"),
        bad("config.eval_every", lambda f: f(_finetune(n_updates=50, eval_every=20)), r"divide"),
        bad("config.clip_eps", lambda f: f(_finetune(clip_eps=1.0))),
        bad("config.normalise_std", lambda f: f(_finetune(normalise_std=1))),
    ],
    "lm.train.evaluate": [
        bad("params", lambda f: f(None, _gru(13, 64), _lm_data(), key())),
        bad("reference", lambda f: f(_gru(13, 64), "ref", _lm_data(), key())),
        bad("dataset", lambda f: f(_gru(13, 64), _gru(13, 64), {}, key())),
        bad("key", lambda f: f(_gru(13, 64), _gru(13, 64), _lm_data(), 0)),
    ],
    "lm.train.make_train": [
        bad("config.kl_coef", lambda f: f(_finetune(kl_coef=-0.1), _gru(), _lm_data())),
        bad("reference", lambda f: f(_finetune(), None, _lm_data())),
        bad("reference", lambda f: f(_finetune(), {"embedding": F}, _lm_data())),
        bad("dataset", lambda f: f(_finetune(), _gru(), None)),
    ],
    "lm.train.train_seeds": [
        bad("key", lambda f: f(0, 2, _finetune(), _gru(), _lm_data())),
        bad("n_seeds", lambda f: f(key(), 0, _finetune(), _gru(), _lm_data())),
        bad("config.method", lambda f: f(key(), 2, _finetune(method="dpo"), _gru(), _lm_data()), r"one of"),
    ],
    "lm.train.train_methods": [
        bad("configs", lambda f: f(key(), 2, _finetune(), _gru(), _lm_data())),
        bad("configs[1]", lambda f: f(key(), 2, [_finetune(), "grpo"], _gru(), _lm_data())),
        bad("configs[1].n_samples", lambda f: f(key(), 2, [_finetune(), _finetune(n_samples=8)], _gru(), _lm_data()),
            r"shape"),
        bad("config.learning_rate", lambda f: f(key(), 2, [_finetune(learning_rate=0.0)], _gru(), _lm_data())),
        bad("n_seeds", lambda f: f(key(), -1, [_finetune()], _gru(), _lm_data())),
    ],
}


@functools.cache
def _gru(vocab_size: int = 13, hidden: int = 8):
    from utils.lm.model import init_params
    return init_params(key(), vocab_size, hidden)


@functools.cache
def _lm_data():
    from utils.lm.task import make_dataset
    return make_dataset(key())


def _lm_train():
    import utils.lm.train
    return utils.lm.train


def _finetune(**fields):
    return _lm_train().FinetuneConfig(**fields)


def _grpo_batch():
    """Log-probabilities, old and reference log-probabilities, mask and advantages of a (2, 3, 4) batch."""
    z = jnp.zeros((2, 3, 4))
    return z, z, z, jnp.ones((2, 3, 4), bool), jnp.zeros((2, 3))


def _tab_fn(theta):
    from utils.lm.exact import enumerate_answers, tabular_log_probs
    return tabular_log_probs(theta, enumerate_answers(3, 2).answers)


def _tab_theta():
    return jnp.zeros((2, 4, 3))


def _rloo():
    from utils.lm.advantages import rloo_advantages
    return rloo_advantages


def _npg_config(**fields):
    from utils.npg import NPGConfig
    return NPGConfig(**fields)


def _trpo_config(**fields):
    from utils.trpo import TRPOConfig
    return TRPOConfig(**fields)


@functools.cache
def _terms():
    from utils.trpo import improvement_bound_terms
    return improvement_bound_terms(mdp(), pi(), pi())


def _along():
    from utils.trpo import BoundAlongStep
    z = jnp.zeros(3)
    return BoundAlongStep(z, z, z, z, jnp.zeros(()))


def _ppo_config(**fields):
    from utils.ppo import PPOConfig
    return PPOConfig(**fields)


def _ppo_fn(name):
    import utils.ppo
    return getattr(utils.ppo, name)


def _ppo_metrics():
    from utils.ppo import UpdateMetrics
    z = jnp.zeros((2, 4))
    return UpdateMetrics(**{field: z for field in UpdateMetrics._fields})


def _sgd():
    import optax
    return optax.sgd(0.1)


def _data(X=None, y=None):
    from utils.optim import LeastSquares
    return LeastSquares(jnp.ones((6, 2)) if X is None else X, jnp.ones(6) if y is None else y)


def _reinforce_config(**fields):
    from utils.reinforce import ReinforceConfig
    return ReinforceConfig(**fields)


@functools.cache
def _env():
    from utils.envs import make
    return make("CartPole-v1")


@functools.cache
def _mlp_policy():
    from utils.policies import mlp_softmax
    return mlp_softmax(4, 2, (8,))


@functools.cache
def _mlp_params():
    return _mlp_policy().init(key())


@functools.cache
def _gauss():
    from utils.policies import diagonal_gaussian
    return diagonal_gaussian(3, 1, (4,))


@functools.cache
def _gauss_params():
    return _gauss().init(key())


def _cart_state():
    from utils.envs import cartpole
    return cartpole.reset(key())[0]


def _make_env(name):
    from utils.envs import make
    return make(name)


def _cart_timestep():
    from utils.envs import cartpole
    return cartpole.step_no_reset(_cart_state(), 1)


def _acrobot_state():
    from utils.envs import acrobot
    return acrobot.reset(key())[0]


def _pendulum_state():
    from utils.envs import pendulum
    return pendulum.reset(key())[0]


def _figure():
    import matplotlib.figure
    return matplotlib.figure.Figure()


def _plain_function(x):
    """A function to render."""
    return x


def _metrics(shape=(2, 4)):
    from utils.reinforce import Metrics
    z = jnp.zeros(shape)
    return Metrics(**{field: z for field in Metrics._fields})


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------

FUNCTIONS = public_functions()


def test_every_public_function_has_a_row():
    missing = sorted(set(FUNCTIONS) - set(TABLE))
    assert not missing, (
        "public functions without a row in tests/test_errors.py TABLE (add a row of bad calls for each, "
        "see the module docstring): " + ", ".join(missing)
    )


def test_no_row_for_a_function_that_is_gone():
    stale = sorted(set(TABLE) - set(FUNCTIONS))
    assert not stale, f"rows in TABLE for functions that are not public any more (remove them): {stale}"


def test_discovery_finds_the_functions_the_issue_names():
    # The walk itself must work: if it found nothing, every other test would pass vacuously.
    for name in ("estimators.reward_to_go", "estimators.gae", "ppo.gae", "exact.q_values", "latex.register_names"):
        assert name in FUNCTIONS, name
    assert not any(name.startswith("pseudocode.") for name in FUNCTIONS)


CASES = [
    pytest.param(name, i, case, id=f"{name}-{i}-{case.arg}")
    for name, cases in TABLE.items() if not isinstance(cases, (NoArguments, AcceptsAnything))
    for i, case in enumerate(cases)
]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_row_is_complete(name):
    row = TABLE[name]
    if isinstance(row, AcceptsAnything):
        assert row.reason, name
        return
    if isinstance(row, NoArguments):
        assert row.reason, name
        if name in FUNCTIONS:
            params = inspect.signature(FUNCTIONS[name]).parameters
            assert not params, f"{name} takes arguments {list(params)}: give it bad calls, not no_arguments"
        return
    assert row, f"{name}: a row needs at least one bad call"


@pytest.mark.parametrize("name, i, case", CASES)
def test_bad_argument_gets_a_clear_error(name, i, case):
    if name not in FUNCTIONS:
        pytest.skip(f"{name} is not public any more (test_no_row_for_a_function_that_is_gone fails)")
    f = FUNCTIONS[name]
    with pytest.raises((TypeError, ValueError)) as info:
        case.call(f)
    message = str(info.value)
    assert re.search(rf"(?<![\w.]){re.escape(case.arg)}(?!\w)", message), (
        f"{name}: the {type(info.value).__name__} does not name the argument `{case.arg}`: {message!r}"
    )
    assert re.search(case.expected, message), (
        f"{name}: the message does not say what was expected (/{case.expected}/): {message!r}"
    )
