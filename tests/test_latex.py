"""Tests of `utils.latex`: golden LaTeX, MathJax 3 typesetting, and behaviour.

Golden files: tests/golden/latex/<name>.tex hold the expected LaTeX of every function
in `SUITE` (and of every function in `utils.pseudocode`). They are the specification:
after a deliberate change to the renderer, regenerate them with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_latex.py

and read the diff before committing it.

MathJax: every rendered string is typeset by MathJax 3 under Node
(tests/mathjax/check.js); `mathjax-full` is installed into .cache/mathjax on first use.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import pkgutil
import shutil
import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import utils
import utils.pseudocode
from utils.latex import NAMES, LatexFunction, LatexRenderError, latex, register_names

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "latex"
CHECKER = ROOT / "tests" / "mathjax" / "check.js"
MATHJAX_PREFIX = ROOT / ".cache" / "mathjax"


# ---- the chapter's pseudocode, written to run ----------------------------------------

def sgd(theta_init, estimate_gradient, eta, n_steps):
    """Stochastic gradient ascent: step along an unbiased estimate of the gradient."""
    theta = theta_init
    for k in range(n_steps):
        theta = theta + eta * estimate_gradient(theta)
    return theta


def estimate_gradient_reinforce(theta, log_pi, trajectories):
    """REINFORCE: the total reward times the summed score, averaged over trajectories."""
    nabla_hat = jnp.zeros_like(theta)
    for tau in trajectories:
        states, actions, rewards = tau
        R = jnp.sum(rewards)
        for s, a in zip(states, actions):
            nabla_hat += jax.grad(log_pi)(theta, s, a) * R
    return nabla_hat / len(trajectories)


def pg_with_learned_baseline(theta, log_pi, fit_value, baseline_trajectories, trajectories):
    """Policy gradient with a value baseline fitted on independently sampled trajectories."""
    V = fit_value(baseline_trajectories)
    nabla_hat = jnp.zeros_like(theta)
    for states, actions, rewards in trajectories:
        for h in range(len(rewards)):
            G = jnp.sum(rewards[h:])
            nabla_hat += jax.grad(log_pi)(theta, states[h], actions[h]) * (G - V(h, states[h]))
    return nabla_hat / len(trajectories)


def kl_div_trajectories(log_pi, theta_old, theta, trajectories):
    """KL between trajectory distributions, from trajectories of the old policy.

    The dynamics cancel, so only the policies' log-probabilities remain.
    """
    kl = 0.0
    for states, actions, _ in trajectories:
        for s, a in zip(states, actions):
            kl += log_pi(theta_old, s, a) - log_pi(theta, s, a)
    return kl / len(trajectories)


def trpo(theta_init, log_pi, sample_trajectories, estimate_advantage, delta, eta,
         n_iterations, n_inner):
    """Trust region policy optimisation: ascend the approximate gain within a KL radius."""
    theta = theta_init
    for k in range(n_iterations):
        trajectories = sample_trajectories(theta)
        A_hat = estimate_advantage(theta, trajectories)

        def approximate_gain(theta_opt):
            """Importance-weighted advantage of the new policy on the old policy's samples."""
            gain = 0.0
            for states, actions, _ in trajectories:
                for h in range(len(actions)):
                    s, a = states[h], actions[h]
                    gain += jnp.exp(log_pi(theta_opt, s, a) - log_pi(theta, s, a)) * A_hat(h, s, a)
            return gain / len(trajectories)

        theta_opt = theta
        for i in range(n_inner):
            candidate = theta_opt + eta * jax.grad(approximate_gain)(theta_opt)
            if kl_div_trajectories(log_pi, theta, candidate, trajectories) <= delta:
                theta_opt = candidate
            else:
                break
        theta = theta_opt
    return theta


def ppo(theta_init, log_pi, sample_trajectories, estimate_advantage, lam, eta,
        n_iterations, n_epochs):
    """Proximal policy optimisation with a KL penalty, by a few epochs of gradient ascent."""
    theta = theta_init
    for k in range(n_iterations):
        trajectories = sample_trajectories(theta)
        A_hat = estimate_advantage(theta, trajectories)
        theta_k = theta

        def objective(theta_opt):
            return sum(
                jnp.exp(log_pi(theta_opt, s, a) - log_pi(theta_k, s, a)) * A_hat(h, s, a)
                + lam * log_pi(theta_opt, s, a)
                for states, actions, _ in trajectories
                for h, (s, a) in enumerate(zip(states, actions))
            ) / len(trajectories)

        for epoch in range(n_epochs):
            theta = theta + eta * jax.grad(objective)(theta)
    return theta


# ---- one function per group of constructs ---------------------------------------------
# These are read, not run: each exercises the typesetting of a few constructs.

def names_and_accents(x_init, x_k, x1, theta0, n_steps, pi_old, pi_theta, nabla_hat,
                      hat_theta, A_tilde, x_bar, lambda_, lam, eps, batch_size, KL, s_h):
    total = x_init + x_k + x1 + theta0 + n_steps + pi_old + pi_theta
    total = total + nabla_hat + hat_theta + A_tilde + x_bar + lambda_ + lam + eps
    return total + batch_size + KL + s_h


def greek_letters(alpha, beta, gamma, delta, epsilon, mu, sigma, rho, tau, eta, phi, Delta, Omega):
    return alpha + beta + gamma + delta + epsilon + mu + sigma + rho + tau + eta + phi + Delta + Omega


def arithmetic(a, b, x, y, n, A, v):
    """Operators, precedence, powers and fractions."""
    p = (a + b) * x - (x - y) / (n + 1)
    q = A @ v + x ** 2 - (-x) ** 2 - x ** 0.5 + x ** (n - 1) + a ** b ** n
    r = 2 * x + 0.5 * y + 1e-3 * a + 2.5e-6 * b + x * y * n + a * (b * x)
    s = a // b + a % b - (-a) + -(a + b)
    t = (a < b) and not (x >= y or x != 0)
    return p, q, r, s, t


def library_calls(x, y, key, A, b):
    """Library calls read as mathematics; other dotted calls keep only their last name."""
    z = jnp.zeros_like(x) + jnp.ones_like(x)
    u = jnp.log(x) + jnp.log(x + y) + jnp.exp(-x) + jnp.sqrt(x + y) + jnp.square(x)
    w = jnp.sum(x) + jnp.mean(x) + len(x) + abs(y) + jnp.abs(x - y) + jnp.linalg.norm(x)
    m = max(x, y) + jnp.maximum(x, 0) + jnp.max(x) + jnp.argmax(x) + jnp.sum(x, axis=0)
    c = jnp.clip(x, 1 - y, 1 + y) + jax.nn.softmax(x) + jax.random.normal(key, (3,))
    d = jnp.linalg.solve(A, b) + jnp.linalg.inv(A) @ b + A.T @ b + jnp.dot(x, y) + x.sum()
    return z + u + w + m + c + d + jnp.pi + jnp.inf


def more_library_calls(x, y, n, A, B):
    """The remaining library calls, and methods read as the call of the same name."""
    p = jnp.outer(x, y) + jnp.matmul(A, B) + jnp.transpose(A) + jnp.zeros(n) + jnp.ones(n)
    q = jnp.tanh(x) + jnp.sin(x) + jnp.cos(y) + jnp.minimum(x, y) + min(x) + jnp.argmin(x)
    r = x.mean() + x.max() + x.min() + A.transpose() + x.mean(axis=0) + range(n)
    return p + q + r + (jnp.sum(x) + y) / n + jnp.sum(x) * y / n + 1e-3 ** 2


def gradients(f, log_pi, theta, s, a):
    g = jax.grad(f)(theta)
    h = jax.grad(log_pi)(theta, s, a)
    i = jax.grad(log_pi, argnums=1)(theta, s, a)
    grad_theta = jax.grad(f)
    return g + h + i + grad_theta(theta)


def control_flow(x, n, tolerance):
    """While, if / else if / else, break, continue, pass and assert."""
    assert n > 0, "n must be positive"
    k = 0
    while abs(x) > tolerance and k < n:
        if x > 0:
            x = x / 2
        elif x < -1:
            x = -x
            continue
        else:
            pass
        if k == n - 1:
            break
        k += 1
    return x


def unpacking_and_loops(trajectories, values):
    total = 0
    for h, (s, a) in enumerate(zip(values, values)):
        total += h * s * a
    for states, actions, rewards in trajectories:
        first, rest = states[0], states[1:]
        total -= first
    for i in range(1, len(values)):
        total *= values[i] + 1
    for j in range(len(values) + 1):
        total += values[j - 1]
    for m in range(0, 10, 2):
        total -= m
    return total, values


def comprehensions(xs, ys, n, f):
    """List, set, dict and generator comprehensions; sums, means and maxima over them."""
    squares = [x ** 2 for x in xs if x > 0]
    pairs = {(x, y) for x in xs for y in ys}
    table = {x: f(x) for x in xs}
    lazy = (f(k) for k in range(n))
    total = sum(f(x) * y for x, y in zip(xs, ys))
    nested = sum(f(x) + y for x in xs for y in ys if y != x)
    limits = sum(f(k) for k in range(1, n + 1))
    average = jnp.mean(jnp.array([f(x) for x in xs])) + jnp.mean(jnp.array([f(k) for k in range(n)]))
    best = max(f(x) for x in xs) + jnp.mean(f(x) for x in xs for y in ys)
    return squares, pairs, table, lazy, total, nested, limits, average, best


def nested_definitions(theta, data):
    """The docstring is a caption, never a statement."""

    def loss(w):
        """Squared error of the linear model."""
        return jnp.sum((data @ w) ** 2)

    def objective(w):
        "A string statement inside a body is a comment."
        penalty = 0.5 * jnp.sum(w ** 2)
        return -loss(w) - penalty

    square = lambda z: z ** 2
    pair = lambda u, v: u * v
    sign = 1 if theta > 0 else -1
    return objective(theta) + square(theta) + pair(theta, theta) + sign


def constants_and_text(x):
    flag = True
    nothing = None
    label = "50% of #1 & x_y {done}"
    rest = x[...]
    return flag, nothing, label, rest, 1e20, 3


def subscripts_and_slices(x, theta_k, f, i, j, h, a, M):
    p = x[i] + x[i, j] + theta_k[i] + x[h:] + x[:, 0] + f(x)[a] + x[-1] + x[::2]
    q = M[i][j] + x.shape[0] + (x + 1)[i]
    return p, q


def attributes_and_methods(state, env, a, key):
    """Attributes of values keep their base; module paths are dropped."""
    theta = state.theta
    observation = env.step(a)
    keys = jax.random.split(key)
    return theta, observation, keys, state.params.w


def augmented_assignment(x, a, b):
    x += a
    x -= a + b
    x *= a + b
    x /= a
    x **= 2
    return x


def repeat_with_jit(theta, objective, eta, n_steps):
    """`for _ in range(n)` repeats; `jax.jit` is not part of the mathematics."""
    gradient = jax.jit(jax.grad(objective))
    for _ in range(n_steps):
        theta = theta + eta * gradient(theta)
    return theta


def renamed(theta, J_hat, n_steps):
    """Uses per-call name mappings."""
    value = J_hat(theta) + n_steps
    return value


SUITE = {
    fn.__name__: fn
    for fn in [
        sgd, estimate_gradient_reinforce, pg_with_learned_baseline, kl_div_trajectories, trpo,
        ppo, names_and_accents, greek_letters, arithmetic, library_calls, more_library_calls,
        gradients,
        control_flow, unpacking_and_loops, comprehensions, nested_definitions,
        constants_and_text, subscripts_and_slices, attributes_and_methods,
        augmented_assignment, repeat_with_jit,
    ]
}
PER_CALL_NAMES = {"renamed": (renamed, {"J_hat": r"\hat{J}", "n_steps": "K"})}


# The functions of `utils.pseudocode` that the chapter shows, as "module.function".
PSEUDOCODE = [
    "gradient_ascent.sgd",
    "reinforce.estimate_gradient_reinforce_pseudocode",
    "reinforce.pg_with_learned_baseline",
    "ppo.kl_penalised_objective",
    "ppo.ppo",
    "trpo.kl_div_trajectories",
    "trpo.conjugate_gradient",
    "trpo.fisher_vector_product",
    "trpo.trust_region_step",
    "trpo.trpo",
]


def pseudocode_functions() -> dict[str, object]:
    """The shown functions of `utils.pseudocode`, by golden name."""
    found = {}
    for dotted in PSEUDOCODE:
        module_name, name = dotted.split(".")
        module = importlib.import_module(f"utils.pseudocode.{module_name}")
        fn = getattr(module, name)
        found[f"pseudocode_{module_name}_{name}"] = fn.__wrapped__ if isinstance(fn, LatexFunction) else fn
    return found


def test_every_decorated_pseudocode_function_has_a_golden():
    """A function decorated with @latex in utils.pseudocode is shown, so it is in PSEUDOCODE."""
    for module_info in pkgutil.iter_modules(utils.pseudocode.__path__):
        module = importlib.import_module(f"utils.pseudocode.{module_info.name}")
        for name, value in vars(module).items():
            if isinstance(value, LatexFunction) and value.__module__ == module.__name__:
                assert f"{module_info.name}.{name}" in PSEUDOCODE


def golden_suite() -> dict[str, tuple[object, dict[str, str] | None]]:
    """Every function of the golden suite, with its per-call names, by golden name."""
    suite = {name: (fn, None) for name, fn in SUITE.items()}
    suite.update(PER_CALL_NAMES)
    suite.update({name: (fn, None) for name, fn in pseudocode_functions().items()})
    return suite


def render(name: str) -> str:
    fn, names = golden_suite()[name]
    return latex(fn, names=names).to_latex()


@functools.lru_cache(maxsize=1)
def rendered() -> dict[str, str]:
    """The LaTeX of every function in the golden suite, by golden name."""
    return {name: render(name) for name in golden_suite()}


# ---- golden files -----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SUITE) + sorted(PER_CALL_NAMES) + sorted(pseudocode_functions()))
def test_golden(name):
    source = render(name)
    path = GOLDEN / f"{name}.tex"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source + "\n")
    assert path.exists(), f"no golden file {path}; create it with UPDATE_GOLDEN=1 and review it"
    assert source + "\n" == path.read_text(), f"{name} renders differently from {path}"


def test_every_golden_file_belongs_to_a_rendered_function():
    stale = {path.stem for path in GOLDEN.glob("*.tex")} - set(rendered())
    assert not stale, f"golden files without a function: {sorted(stale)}"


# ---- MathJax 3 --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mathjax():
    """Run tests/mathjax/check.js on {name: tex}; return {name: [errors]}."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js >= 18) is needed to typeset the pseudocode with MathJax 3")
    if not (MATHJAX_PREFIX / "node_modules" / "mathjax-full" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install mathjax-full into .cache/mathjax")
        subprocess.run([npm, "install", "--prefix", str(MATHJAX_PREFIX), "mathjax-full@3",
                        "--no-audit", "--no-fund", "--silent"], check=True, timeout=300)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    macros = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]

    def check(items: dict[str, str]) -> dict[str, list[str]]:
        request = {"macros": macros,
                   "items": [{"name": name, "tex": tex, "display": True} for name, tex in items.items()]}
        result = subprocess.run([node, str(CHECKER)], input=json.dumps(request), text=True,
                                capture_output=True, timeout=120,
                                env={**os.environ, "MATHJAX_PREFIX": str(MATHJAX_PREFIX)})
        assert result.returncode == 0, result.stderr
        return {entry["name"]: entry["errors"] for entry in json.loads(result.stdout)}

    return check


def as_sphinx_renders(source: str) -> str:
    """What Sphinx puts between \\[ and \\] for a myst-nb text/latex output with line breaks."""
    return r"\begin{split}" + source + r"\end{split}"


def test_every_rendering_typesets_in_mathjax(mathjax):
    sources = rendered()
    items = {**sources, **{f"{name} (sphinx)": as_sphinx_renders(tex) for name, tex in sources.items()}}
    errors = {name: found for name, found in mathjax(items).items() if found}
    assert not errors
    assert len(items) == 2 * len(sources)


def test_mathjax_checker_reports_errors(mathjax):
    """The checker fails on what a browser would show in red: it is not a no-op."""
    errors = mathjax({
        "undefined": r"\notamacro x",
        "algorithmic": r"\begin{algorithmic}\State x\end{algorithmic}",
        "double superscript": r"x^{2}^{3}",
        "unbalanced": r"\frac{1}{2",
        "book macro": r"\KL{p}{q} + \R",
        "fine": r"\begin{array}{r l} 1 & x \gets 0 \\ \end{array}",
    })
    assert errors["undefined"] and errors["algorithmic"]
    assert errors["double superscript"] and errors["unbalanced"]
    assert errors["book macro"] == [] and errors["fine"] == []


def test_no_blank_lines_algorithmic_environments_or_control_characters():
    """A blank line would split the Sphinx math block; MathJax has no algorithmic."""
    for name, source in rendered().items():
        assert "\n\n" not in source, name
        assert "algorithmic" not in source and "algpseudocode" not in source, name
        # A control character (a `\t` from an unescaped "\top") typesets silently wrong.
        assert not any(ord(char) < 32 and char != "\n" for char in source), name


# ---- the chapter's pseudocode runs -------------------------------------------------------

def log_pi(theta, s, a):
    return jax.nn.log_softmax(theta[s])[a]


TRAJECTORIES = [
    (jnp.array([0, 1, 1]), jnp.array([0, 1, 0]), jnp.array([1.0, 0.0, 2.0])),
    (jnp.array([1, 0, 1]), jnp.array([1, 1, 0]), jnp.array([0.5, 1.0, 0.0])),
]
THETA = jnp.array([[0.1, -0.2], [0.3, 0.0]])


def sample_trajectories(theta):
    return TRAJECTORIES


def estimate_advantage(theta, trajectories):
    return lambda h, s, a: jnp.where(a == 0, 1.0, -1.0)


def score(theta, s, a):
    return jax.grad(log_pi)(theta, s, a)


def test_sgd_runs_and_ascends():
    theta = sgd(jnp.array([3.0, -1.0]), lambda theta: -2 * theta, 0.25, 10)
    np.testing.assert_allclose(theta, jnp.array([3.0, -1.0]) * 0.5 ** 10, rtol=1e-6)


def test_reinforce_matches_the_surrogate_gradient():
    surrogate = lambda theta: sum(
        jnp.sum(rewards) * sum(log_pi(theta, s, a) for s, a in zip(states, actions))
        for states, actions, rewards in TRAJECTORIES) / len(TRAJECTORIES)
    np.testing.assert_allclose(estimate_gradient_reinforce(THETA, log_pi, TRAJECTORIES),
                               jax.grad(surrogate)(THETA), rtol=1e-5, atol=1e-6)


def test_learned_baseline_subtracts_the_fitted_value():
    def baseline(value):
        return pg_with_learned_baseline(THETA, log_pi, lambda _: (lambda h, s: value),
                                        TRAJECTORIES, TRAJECTORIES)

    zero, constant = baseline(0.0), baseline(1.0)
    expected_shift = sum(score(THETA, s, a) for states, actions, _ in TRAJECTORIES
                         for s, a in zip(states, actions)) / len(TRAJECTORIES)
    np.testing.assert_allclose(zero - constant, expected_shift, rtol=1e-5, atol=1e-6)
    reward_to_go = sum(score(THETA, states[h], actions[h]) * jnp.sum(rewards[h:])
                       for states, actions, rewards in TRAJECTORIES
                       for h in range(3)) / len(TRAJECTORIES)
    np.testing.assert_allclose(zero, reward_to_go, rtol=1e-5, atol=1e-6)


def test_kl_between_trajectory_distributions():
    assert float(kl_div_trajectories(log_pi, THETA, THETA, TRAJECTORIES)) == 0.0
    other = THETA + jnp.array([[1.0, 0.0], [0.0, -1.0]])
    expected = sum(log_pi(THETA, s, a) - log_pi(other, s, a)
                   for states, actions, _ in TRAJECTORIES for s, a in zip(states, actions)) / 2
    np.testing.assert_allclose(kl_div_trajectories(log_pi, THETA, other, TRAJECTORIES), expected, rtol=1e-6)


def test_trpo_stays_within_the_trust_region_and_improves():
    delta = 0.05
    theta = trpo(THETA, log_pi, sample_trajectories, estimate_advantage, delta, 0.05, 1, 10)
    kl = kl_div_trajectories(log_pi, THETA, theta, TRAJECTORIES)
    assert 0.0 < float(kl) <= delta
    # The advantage favours action 0 in both states.
    assert bool(jnp.all(theta[:, 0] - theta[:, 1] > THETA[:, 0] - THETA[:, 1]))


def test_ppo_improves_the_favoured_action():
    theta = ppo(THETA, log_pi, sample_trajectories, estimate_advantage, 0.01, 0.5, 2, 2)
    assert bool(jnp.all(jnp.isfinite(theta)))
    assert bool(jnp.all(theta[:, 0] - theta[:, 1] > THETA[:, 0] - THETA[:, 1]))


# ---- the decorated object is still the function ------------------------------------------

def test_decorated_function_keeps_name_docstring_signature_and_results():
    wrapped = latex(sgd)
    assert wrapped.__name__ == "sgd" and wrapped.__doc__ == sgd.__doc__
    assert wrapped.__module__ == sgd.__module__ and wrapped.__wrapped__ is sgd
    assert inspect.signature(wrapped) == inspect.signature(sgd)
    arguments = (jnp.array([1.0, 2.0]), lambda theta: -theta, 0.1, 3)
    np.testing.assert_array_equal(wrapped(*arguments), sgd(*arguments))
    assert wrapped(theta_init=2.0, estimate_gradient=lambda t: 1.0, eta=0.5, n_steps=2) == 3.0


def test_decorated_function_under_jit():
    wrapped = latex(sgd)
    gradient = lambda theta: -theta
    jitted = jax.jit(wrapped, static_argnums=(1, 3))
    theta = jnp.array([1.0, -2.0])
    np.testing.assert_allclose(jitted(theta, gradient, 0.5, 4), sgd(theta, gradient, 0.5, 4))

    @jax.jit
    def inside(theta):
        return wrapped(theta, gradient, 0.5, 4) * 2

    np.testing.assert_allclose(inside(theta), 2 * sgd(theta, gradient, 0.5, 4))


def test_a_jitted_function_renders_its_source_and_calls_the_jitted_version():
    jitted = jax.jit(sgd, static_argnums=(1, 3))
    wrapped = latex(jitted)
    assert wrapped.source == latex(sgd).source
    assert wrapped.__wrapped__ is jitted
    assert inspect.signature(wrapped) == inspect.signature(sgd)
    gradient = lambda theta: -theta
    np.testing.assert_allclose(wrapped(jnp.ones(2), gradient, 0.5, 2), jnp.full(2, 0.25))


def test_decorator_forms_and_jupyter_display():
    @latex
    def double(x):
        """Twice x."""
        return 2 * x

    @latex(names={"x": r"\xi"})
    def triple(x):
        return 3 * x

    assert isinstance(double, LatexFunction) and double(4) == 8 and triple(2) == 6
    assert double._repr_latex_() == "$$\n" + double.to_latex() + "\n$$"
    assert double.source == double.to_latex()
    assert r"\textit{Twice x.}" in double.source
    assert r"\textbf{return } 3 \xi" in triple.source
    assert "sgd" in repr(latex(sgd))

    class Model:
        scale = 5

        @latex
        def apply(self, x):
            return self.scale * x

    assert Model().apply(2) == 10
    # Re-rendering a rendered function with other names starts from the original.
    again = latex(triple, names={"x": "y"})
    assert again.__wrapped__ is triple.__wrapped__ and r"3 y" in again.source


def test_jupyter_displays_the_algorithm_as_latex():
    from IPython.core.formatters import format_display_data

    data, _ = format_display_data(latex(sgd))
    assert data["text/latex"] == "$$\n" + latex(sgd).source + "\n$$"
    assert data["text/plain"].startswith("<pseudocode of <function sgd")


def test_closures_and_methods_resolve_module_paths():
    import numpy as onp

    def outer():
        module = onp

        def inner(x):
            return module.log(x) + module.exp(x)
        return inner

    assert r"\log x + \exp(x)" in latex(outer()).source

    def unresolved(x):
        return lax.stop_gradient(x)  # `lax` is not imported here: a known module alias

    assert r"\textbf{return } \operatorname{sg}\left(x\right)" in latex(unresolved).source


def test_register_names_applies_book_wide(monkeypatch):
    monkeypatch.setattr(importlib.import_module("utils.latex._names"), "NAMES", dict(NAMES))

    def value(J, J_k):
        return J + J_k

    assert r"\mathcal{J}" not in latex(value).source
    latex.register_names(J=r"\mathcal{J}")
    register_names({"k": r"\kappa"})
    assert r"\mathcal{J} + \mathcal{J}_{\kappa}" in latex(value).source
    assert r"\mathcal{J}" in latex(value, names={"k": "i"}).source
    assert r"\mathcal{J}_{i}" in latex(value, names={"k": "i"}).source


def test_utils_exports_the_renderer():
    assert utils.latex is latex
    from utils.latex import latex as same
    assert same is latex


# ---- errors ------------------------------------------------------------------------------

def with_try(x):
    y = x
    try:
        y = 1 / x
    except ZeroDivisionError:
        y = 0
    return y


def with_context(path):
    with open(path) as handle:
        return handle.read()


def with_raise(x):
    if x < 0:
        raise ValueError("negative")
    return x


def with_fstring(x):
    return f"{x}"


def with_import(x):
    import math
    return math.sqrt(x)


def with_nested_decorator(x):
    @jax.jit
    def f(y):
        return y
    return f(x)


def with_for_else(xs):
    for x in xs:
        pass
    else:
        return 0


@pytest.mark.parametrize("fn, construct, offset", [
    (with_try, "a try statement", 2),
    (with_context, "a with statement", 1),
    (with_raise, "a raise statement", 2),
    (with_fstring, "an f-string", 1),
    (with_import, "an import statement", 1),
    (with_nested_decorator, "a decorator on a nested function", 1),
    (with_for_else, "the else clause of a for loop", 4),
])
def test_unsupported_syntax_names_the_construct_and_line(fn, construct, offset):
    line = fn.__code__.co_firstlineno + offset
    with pytest.raises(LatexRenderError) as error:
        latex(fn)
    assert isinstance(error.value, ValueError)
    assert error.value.construct == construct and error.value.lineno == line
    assert construct in str(error.value) and f"line {line}" in str(error.value)
    assert Path(__file__).name in str(error.value)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="function defined with def"):
        latex(len)
    with pytest.raises(ValueError, match="lambda"):
        latex(lambda x: x)
    with pytest.raises(TypeError, match="names must be a mapping"):
        latex(sgd, names=["theta"])
    with pytest.raises(ValueError, match="not a Python identifier"):
        latex(sgd, names={"two words": "x"})
    with pytest.raises(TypeError, match=r"names\['theta'\] must be a non-empty LaTeX string"):
        latex(sgd, names={"theta": 3})
    with pytest.raises(ValueError, match="not a Python identifier"):
        register_names({"x-y": "z"})
    namespace = {}
    exec("def made_up(x):\n    return x\n", namespace)
    with pytest.raises(ValueError, match="needs the source code of made_up"):
        latex(namespace["made_up"])
