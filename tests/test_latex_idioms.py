"""`utils.latex` on functions nobody tuned it for: each category of the second pass.

The functions below are written the way a textbook author writes pseudocode in Python
(value iteration, policy evaluation, Q-learning, GAE, Adam, a line search, actor-critic,
DQN's loss) plus one small function per idiom. Each test states what a reader must see
(and must not see) in the rendered box; every rendering is also typeset by MathJax 3
(tests/mathjax/check.js, as in tests/test_latex.py).
"""
from __future__ import annotations

import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from test_latex import mathjax  # noqa: F401  (the MathJax 3 fixture)
from utils.latex import INDICES, POLICIES, latex, register_indices, register_policy


# ---- textbook functions ---------------------------------------------------------------

def value_iteration(P, r, gamma, n_iterations, tolerance=1e-6):
    """Value iteration: $V \\gets \\max_a (r + \\gamma P V)$ until the change is below `tolerance`."""
    V = jnp.zeros(P.shape[0], dtype=jnp.float32)
    for k in range(n_iterations):
        Q = r + gamma * P @ V
        V_new = Q.max(axis=1)
        if jnp.max(jnp.abs(V_new - V)) < tolerance:
            break
        V = V_new
    return V


def policy_evaluation(pi, P, r, H):
    """Backward induction for the value of the policy pi over horizon H."""
    V_pi = jnp.zeros((H + 1, P.shape[0]))
    for h in reversed(range(H)):
        Q_pi = r + P @ V_pi[h + 1]
        V_pi = V_pi.at[h].set(jnp.sum(pi * Q_pi, axis=1))
    return V_pi


def q_learning(env, alpha, gamma, epsilon, n_episodes, key):
    """Tabular Q-learning with an epsilon-greedy behaviour policy."""
    Q = jnp.zeros((env.n_states, env.n_actions))
    for episode in range(n_episodes):
        s = env.reset()
        while True:
            key, subkey = jax.random.split(key)
            a = epsilon_greedy(Q[s], epsilon, subkey)
            s_next, reward, done = env.step(s, a)
            target = reward + gamma * (1 - done) * Q[s_next].max()
            Q = Q.at[s, a].add(alpha * (target - Q[s, a]))
            if done:
                break
            s = s_next
    return Q


def epsilon_greedy(q, epsilon, key):
    return jnp.argmax(q) if jax.random.uniform(key) > epsilon else jax.random.randint(key, (), 0, len(q))


def gae(rewards, values, dones, gamma, lam):
    """Generalised advantage estimation, from the last step back to the first."""
    advantages = jnp.zeros_like(rewards)
    A_hat = 0.0
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * (1 - dones[t]) * values[t + 1] - values[t]
        A_hat = delta + gamma * lam * (1 - dones[t]) * A_hat
        advantages = advantages.at[t].set(A_hat)
    return advantages


def adam(grad_f, theta_init, eta=1e-3, beta_1=0.9, beta_2=0.999, eps=1e-8, n_steps=100):
    """Adam: steps along the bias-corrected first moment over the root of the second."""
    theta = theta_init
    m = jnp.zeros_like(theta)
    v = jnp.zeros_like(theta)
    for t in range(1, n_steps + 1):
        g = grad_f(theta)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g ** 2
        m_hat = m / (1 - beta_1 ** t)
        v_hat = v / (1 - beta_2 ** t)
        theta = theta - eta * m_hat / (jnp.sqrt(v_hat) + eps)
    return theta


def backtracking_line_search(f, x, direction, grad_x, c=1e-4, beta=0.5, n_backtracks=20):
    """Armijo backtracking: halve the step until $f$ rises by a fraction `c` of the predicted gain."""
    for j in range(n_backtracks):
        step = beta ** j
        if f(x + step * direction) >= f(x) + c * step * (grad_x @ direction):
            return x + step * direction
    return x


def actor_critic(pi, V, theta, w, env, alpha_theta, alpha_w, gamma, n_steps, key):
    """One-step actor-critic: the TD error weights both the critic's and the actor's step."""
    s = env.reset()
    for t in range(n_steps):
        key, subkey = jax.random.split(key)
        a = sample(subkey, pi(theta, s))
        s_next, reward = env.step(s, a)
        delta = reward + gamma * V(w, s_next) - V(w, s)
        w = w + alpha_w * delta * jax.grad(V)(w, s)
        theta = theta + alpha_theta * delta * jax.grad(log_pi)(theta, s, a)
        s = s_next
    return theta, w


def dqn_loss(q_online, q_target, batch, gamma):
    """DQN's loss: squared TD error against a frozen target network."""
    states, actions, rewards, next_states, dones = batch
    q_next = jnp.max(q_target(next_states), axis=1)
    target = jax.lax.stop_gradient(rewards + gamma * (1 - dones) * q_next)
    q = q_online(states)[jnp.arange(len(actions)), actions]
    return jnp.mean(jnp.square(q - target))


def sample(key, probabilities):
    return jax.random.categorical(key, jnp.log(probabilities))


def log_pi(theta, s, a):
    return jax.nn.log_softmax(theta[s])[a]


# ---- one function per idiom -------------------------------------------------------------

def iteration_idioms(xs, n, a, b, s, f):
    """Loops as a textbook writes them."""
    total = 0.0
    for t in reversed(range(n)):
        total += f(t)
    for i, x in enumerate(xs):
        total += i * x
    for k in range(a, b, s):
        total += k
    for m in range(0, 10, 3):
        total -= m
    draws = [f(n) for _ in range(n)]
    average = sum(f(a) for _ in range(n)) / n
    while True:
        total = total / 2
        if total < 1:
            break
    return total, draws, average


def array_idioms(x, i, v, Q, A, g, h):
    """Functional updates, reductions over an axis, constructors and inner products."""
    x = x.at[i].set(v)
    x = x.at[i].add(v)
    best = jnp.max(Q, axis=1)
    greedy = Q.argmax(axis=-1)
    total = jnp.sum(Q, axis=0)
    zeros = jnp.zeros((3, 4), dtype=jnp.float32)
    identity = jnp.eye(3)
    full = jnp.full((3,), 2.0)
    lowest = float("inf")
    frozen = jax.lax.stop_gradient(g)
    inner = g @ h
    image = A @ g
    cast = x.astype(jnp.float32)
    return x, best, greedy, total, zeros, identity, full, lowest, frozen, inner, image, cast


def names_idioms(grad_J, theta, η_θ, log_prob_old, V_pi, A_hat, n_steps, eps, epsilon, pi_update):
    """Names as a reader expects them."""
    step = grad_J(theta) + η_θ + log_prob_old + V_pi + A_hat + n_steps
    return step + eps + epsilon + pi_update(theta)


def policies_as_the_book_writes_them(pi, log_pi, theta, s, a):
    """Policies in three spellings."""
    p = pi(theta)(s, a) + pi(theta, s, a) + log_pi(theta, s, a)
    distribution = pi(theta, s)
    return p, distribution, pi(theta)


def framing_and_plumbing(mdp, theta, key, N, delta=1e-6):
    """Sample `N` trajectories of `pi(theta_1)` and keep those within `delta`; see $\\rho_\\theta$.

    Only the first paragraph is the caption.
    """
    key, subkey = jax.random.split(key)
    trajectories = sample_trajectories(subkey, mdp, theta, N)
    n = mdp.n_actions
    checked = len(trajectories)  # latex: hide
    return trajectories, n + delta


def sample_trajectories(key, mdp, theta, N):
    return [theta] * N


def docstring_formulas(theta, delta, pi):
    """Move theta within radius delta of `pi(theta_1)`: keep $\\mathrm{KL} \\le \\delta$ with a caption long enough that a narrow column would cut it off at the right edge if it were not wrapped."""
    return theta + delta


def render(fn, **options) -> str:
    return latex(fn, **options).to_latex()


def rows(tex: str) -> list[str]:
    return [line for line in tex.splitlines() if line.startswith(("&", "{\\scriptstyle"))]


# ---- docstring formulas -------------------------------------------------------------------

def test_docstring_formulas_backticks_and_greek_words_in_the_caption():
    tex = render(docstring_formulas)
    caption = "\n".join(rows(tex)[1:4])
    assert r"\mathrm{KL} \le \delta" in caption  # $...$ is mathematics
    assert r"\pi(\theta_{1})" in caption  # `pi(theta_1)` is code, typeset as code is
    assert "theta" not in caption.replace(r"\theta", "") and "delta" not in caption.replace(r"\delta", "")
    assert r"\backslash" not in tex and r"\wedge" not in tex
    caption_rows = [r for r in rows(tex) if r"\textit" in r]
    assert len(caption_rows) >= 2, "a long caption wraps over several lines"
    for row in caption_rows:
        visible = re.sub(r"\\[A-Za-z]+|[{}&\\]", "", row)
        assert len(visible) <= 90, row


def test_only_the_first_paragraph_is_the_caption_and_value_iteration_reads_its_formula():
    assert "Only the first paragraph" not in render(framing_and_plumbing)
    tex = render(value_iteration)
    assert r"V \gets \max_a (r + \gamma P V)" in tex
    assert r"\mathit{tolerance}" in tex


# ---- iteration idioms ----------------------------------------------------------------------

def test_iteration_idioms():
    tex = render(iteration_idioms)
    assert r"\textbf{for } t = n - 1, \ldots, 0 \textbf{ do}" in tex
    assert r"i = 0, \ldots, |\mathit{xs}| - 1,\ x = \mathit{xs}_{i}" in tex
    assert r"k = a, a + s, \ldots\ (\text{below } b)" in tex
    assert r"m = 0, 3, \ldots, 9" in tex
    assert r"n\ \text{samples}" in tex and r"\cdot = 0" not in tex
    assert r"\sum_{n\ \text{samples}}" in tex
    assert r"\textbf{loop}" in tex and r"\mathrm{True}" not in tex
    assert "reversed" not in tex and "enumerate" not in tex and "range" not in tex


def test_textbook_loops_read_without_python():
    gae_tex = render(gae)
    assert r"t = |\mathit{rewards}| - 1, \ldots, 0" in gae_tex
    assert r"\mathit{advantages}_{t} \gets \hat{A}" in gae_tex
    adam_tex = render(adam)
    assert r"t = 1, \ldots, n_{\mathrm{steps}}" in adam_tex
    q_tex = render(q_learning, hide={"key", "subkey"})
    assert r"\textbf{loop}" in q_tex


# ---- array idioms ------------------------------------------------------------------------

def test_array_idioms():
    tex = render(array_idioms)
    assert r"x_{i} \gets v" in tex and r"x_{i} \gets x_{i} + v" in tex
    assert r"\max_{j} Q_{i,j}" in tex and r"\arg\max_{j} Q_{i,j}" in tex and r"\sum_{i} Q_{i,j}" in tex
    assert r"\mathit{zeros} \gets 0" in tex and "float32" not in tex and "dtype" not in tex
    assert r"\mathit{identity} \gets I" in tex and r"\mathit{full} \gets 2" in tex
    assert r"\mathit{lowest} \gets \infty" in tex
    assert r"\operatorname{sg}\left(g\right)" in tex
    assert r"g^{\top} h" in tex and r"A \, g" in tex
    assert r"\mathit{cast} \gets x" in tex
    assert ".at" not in tex and "astype" not in tex and "inf”" not in tex


def test_declared_indices_name_the_reduced_axis():
    tex = render(value_iteration, indices={"Q": ("s", "a")})
    assert r"V_{\mathrm{new}} \gets \max_{a} Q_{s,a}" in tex
    saved = dict(INDICES)
    try:
        register_indices(Q="s a")
        assert r"\max_{a} Q_{s,a}" in render(value_iteration)
    finally:
        INDICES.clear()
        INDICES.update(saved)
    dqn = render(dqn_loss)
    assert r"\operatorname{sg}" in dqn and "stop" not in dqn


# ---- names -------------------------------------------------------------------------------

def test_names_read_as_a_reader_expects():
    tex = render(names_idioms)
    title = rows(tex)[0]
    assert r"\mathrm{names{\_}idioms}" in title and "_{" not in title
    assert r"\nabla J(\theta)" in tex
    assert r"\eta_{\theta}" in tex
    assert r"\log \pi_{\mathrm{old}}" in tex
    assert r"V^{\pi}" in tex and r"\hat{A}" in tex and r"n_{\mathrm{steps}}" in tex
    assert r"\varepsilon + \varepsilon" in tex and r"\epsilon" not in tex
    # No spaced underscores in any function name: a braced \_ is an ordinary symbol.
    assert not re.search(r"(?<!\{)\\_", tex)
    assert r"\varepsilon}\textit{-greedy" in render(q_learning)  # "epsilon-greedy" in the caption


# ---- policies ---------------------------------------------------------------------------

def test_policies_as_the_book_writes_them():
    tex = render(policies_as_the_book_writes_them, policies={"pi": 0})
    assert tex.count(r"\pi_{\theta}(a \mid s)") == 3  # pi(theta)(s, a), pi(theta, s, a), log_pi(...)
    assert r"\log \pi_{\theta}(a \mid s)" in tex
    assert r"\pi_{\theta}(\cdot \mid s)" in tex
    assert r"\textbf{Output: } p, \mathit{distribution}, \pi_{\theta}" in tex
    # Undeclared, the same call reads as a plain function application.
    assert r"\pi(\theta, s, a)" in render(policies_as_the_book_writes_them)


def test_register_policy_applies_book_wide_and_checks_its_arguments():
    saved = dict(POLICIES)
    try:
        register_policy("pi")
        tex = render(actor_critic)
        assert r"\pi_{\theta}(\cdot \mid s)" in tex
        assert r"\nabla \log \pi" not in tex or r"\nabla" in tex
    finally:
        POLICIES.clear()
        POLICIES.update(saved)
    with pytest.raises(ValueError, match="parameter"):
        register_policy("pi", parameter=-1)
    with pytest.raises(ValueError, match="identifier"):
        latex(actor_critic, policies={"not a name": 0})
    with pytest.raises(TypeError, match="hide"):
        latex(actor_critic, hide="key")


# ---- framing --------------------------------------------------------------------------

def test_input_output_lines_with_defaults():
    tex = render(adam)
    assert r"\textbf{Input: } \nabla f, \theta_{\mathrm{init}}, \eta\ (\text{default } 0.001)" in tex
    assert r"\varepsilon\ (\text{default } 10^{-8})" in tex
    assert r"\textbf{Output: } \theta" in tex
    title = rows(tex)[0]
    assert "theta" not in title  # the parameters are on the Input line, not in the title


def test_plumbing_is_hidden_where_the_chapter_says():
    tex = render(framing_and_plumbing, hide={"key", "subkey"}, names={"mdp.n_actions": r"|\A|"})
    assert "key" not in tex and "split" not in tex
    assert r"\operatorname{sample{\_}trajectories}(\mathit{mdp}, \theta, N)" in tex
    assert r"n \gets |\A|" in tex
    assert "checked" not in tex  # the line marked `# latex: hide`
    shown = render(framing_and_plumbing)
    assert "key" in shown and r"\mathit{mdp}.n_{\mathrm{actions}}" in shown


# ---- still a function; still typesets --------------------------------------------------

def test_decorated_functions_run_unchanged_also_under_jit():
    decorated = latex(gae)
    rewards = jnp.array([1.0, 0.0, 2.0])
    values = jnp.array([0.5, 0.2, 0.1, 0.0])
    dones = jnp.array([0.0, 0.0, 1.0])
    expected = gae(rewards, values, dones, 0.9, 0.8)
    np.testing.assert_allclose(decorated(rewards, values, dones, 0.9, 0.8), expected)
    assert decorated.__name__ == "gae" and decorated.__doc__ == gae.__doc__
    assert inspect.signature(decorated) == inspect.signature(gae)
    np.testing.assert_allclose(jax.jit(decorated)(rewards, values, dones, 0.9, 0.8), expected, rtol=1e-6)


TEXTBOOK = [value_iteration, policy_evaluation, q_learning, gae, adam, backtracking_line_search,
            actor_critic, dqn_loss, iteration_idioms, array_idioms, names_idioms,
            policies_as_the_book_writes_them, framing_and_plumbing, docstring_formulas]


def test_textbook_functions_leak_no_python_or_jax():
    for fn in TEXTBOOK:
        tex = "\n".join(r for r in rows(render(fn, policies={"pi": 0}, hide={"key", "subkey"},
                                                   indices={"Q": ("s", "a")})) if not r.startswith("& \\textit"))
        for leak in ("jnp", "jax", "lax", "dtype", ".at", "range(", "enumerate", "reversed", "float32",
                     "True", "stop_gradient", "axis"):
            assert leak not in tex, (fn.__name__, leak)


def test_every_idiom_rendering_typesets_in_mathjax(mathjax):  # noqa: F811
    items = {fn.__name__: render(fn) for fn in TEXTBOOK}
    items.update({fn.__name__ + " (declared)": render(fn, policies={"pi": 0}, hide={"key", "subkey"},
                                                      indices={"Q": ("s", "a")}, names={"mdp.n_actions": r"|\A|"})
                  for fn in TEXTBOOK})
    errors = {name: found for name, found in mathjax(items).items() if found}
    assert not errors
