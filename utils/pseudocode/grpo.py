"""Pseudocode for the "Policy gradients for language models" section: GRPO.

Shown in the book with `latex(grpo, hide={"key", "subkey"})`, `latex(grpo_objective)` and
`latex(group_advantages)`. It runs as it reads, on the section's addition task
(`utils.lm.task`) with the GRU language model of `utils.lm.model`, whose weights are one
vector `theta` here (`flatten`). A prompt `x` and an answer `y` are lists of tokens; `y`
ends with its end token; the state before token `t` is `s = x + y[:t]`, the prompt and the
answer so far. Each iteration samples `K` answers to every prompt from `π_old = π_θ`,
scores them with `reward` (the section's is the exact match, `reward` here), turns each
group's rewards into advantages `(r_i − mean)/std`, and takes `n_epochs` gradient-ascent
steps of size `eta` on the sample objective (eq-lm-grpo)

    (1/(P K)) Σ_x Σ_i (1/|y_i|) Σ_t [min(w_t A_i, clip(w_t, 1−ε, 1+ε) A_i) − β (ρ_t − 1 − log ρ_t)],

`w_t = π_θ(y_t|x, y_<t)/π_old(y_t|x, y_<t)`, `ρ_t = π_ref(y_t|x, y_<t)/π_θ(y_t|x, y_<t)`.

Its jitted twins are `utils.lm.advantages.grpo_advantages` (of `group_advantages`),
`utils.lm.objectives.grpo_objective` (of `grpo_objective`, on padded arrays with masks) and
the GRPO update of `utils.lm.train`, which ascends that objective with Adam;
`tests/test_lm_pseudocode_grpo.py` checks that they give the same advantages, objective,
gradient and iterates (with plain gradient ascent) on the same samples. The loops run op by
op; `log_pi` is compiled once (for states padded to one length), which keeps them quick.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.numpy import clip, exp, log, minimum, sqrt
from jax.random import split

from utils.lm.advantages import GRPO_STD_EPS
from utils.lm.model import GRUParams, gru_step, next_token_logits
from utils.lm.sampling import sample_answers as _sample_answers
from utils.lm.task import ANSWER_LENGTH, EOS, PROMPT_LENGTH, VOCAB_SIZE, addition_answers

__all__ = [
    "flatten",
    "unflatten",
    "log_pi",
    "sample_answers",
    "reward",
    "group_advantages",
    "grpo_objective",
    "optimize",
    "grpo",
]

epsilon_std = GRPO_STD_EPS  # added to the group's std, so that a group of equal rewards has advantages 0


def flatten(params: GRUParams):
    """The GRU's weights as one vector θ."""
    return ravel_pytree(params)[0]


def unflatten(theta) -> GRUParams:
    """The GRU's weights from the vector θ of `flatten` (its length fixes the number of hidden units H,
    `3H² + (4V + 1)H + V` with V tokens)."""
    b, c = 4 * VOCAB_SIZE + 1, VOCAB_SIZE - theta.shape[0]
    hidden = round((-b + math.sqrt(b * b - 12 * c)) / 6)
    shapes = GRUParams(jnp.zeros((VOCAB_SIZE, 3 * hidden)), jnp.zeros((hidden, 3 * hidden)), jnp.zeros(hidden),
                       jnp.zeros((hidden, VOCAB_SIZE)), jnp.zeros(VOCAB_SIZE))
    return ravel_pytree(shapes)[1](theta)


def log_pi(theta, s, a):
    """`log π_θ(a | s)`: the log-probability of the next token a in the state s, the tokens of the
    prompt and of the answer so far."""
    padded = jnp.zeros(PROMPT_LENGTH + ANSWER_LENGTH, jnp.int32).at[: len(s)].set(jnp.asarray(s, jnp.int32))
    return _log_pi(theta, padded, len(s), a)


@jax.jit  # one compiled program for every state (padded), so that the plain loops run quickly
def _log_pi(theta, padded, n, a):
    params = unflatten(theta)

    def step(state, token):
        state = gru_step(params, state, token)
        return state, state

    _, states = jax.lax.scan(step, jnp.zeros(params.recurrent.shape[0], theta.dtype), padded)
    return jax.nn.log_softmax(next_token_logits(params, states[n - 1]))[a]


def _cut(tokens) -> list[int]:
    tokens = [int(t) for t in tokens]
    return tokens[: tokens.index(EOS) + 1] if EOS in tokens else tokens


def sample_answers(key, theta, prompts, K: int) -> list[list[list[int]]]:
    """K answers to each prompt, drawn from π_θ token by token, each a list of tokens up to its end token.

    The same samples as `utils.lm.sampling.sample_answers(unflatten(theta), key, prompts, K)`."""
    samples = _sample_answers(unflatten(theta), key, jnp.asarray(prompts, jnp.int32), K)
    return [[_cut(y) for y in group] for group in np.asarray(samples.tokens)]


def reward(x, y) -> float:
    """The exact-match reward of the section: 1 if y is the right answer to x (the digits of the sum
    of its two numbers, then the end token), else 0. `grpo` takes the reward as an argument."""
    a, b = 10 * x[0] + x[1], 10 * x[3] + x[4]
    right = _cut(np.asarray(addition_answers(np.asarray([a]), np.asarray([b])))[0])
    return 1.0 if list(y) == right else 0.0


def group_advantages(rewards):
    """The rewards of one group of answers, minus their mean, divided by their standard deviation."""
    mean = sum(rewards) / len(rewards)
    std = sqrt(sum((r - mean) ** 2 for r in rewards) / (len(rewards) - 1))
    return [(r - mean) / (std + epsilon_std) for r in rewards]


def grpo_objective(theta, theta_old, theta_ref, groups, beta, epsilon):
    """The GRPO objective of theta on groups of answers sampled from the old policy, each token's clipped ratio less the k3 estimate of the KL divergence to the reference policy."""
    total = 0.0
    n_answers = 0
    for x, answers, advantages in groups:
        for y, A in zip(answers, advantages):
            for t in range(len(y)):
                s = x + y[:t]
                log_p = log_pi(theta, s, y[t])
                w = exp(log_p - log_pi(theta_old, s, y[t]))
                rho = exp(log_pi(theta_ref, s, y[t]) - log_p)
                clipped = minimum(w * A, clip(w, 1 - epsilon, 1 + epsilon) * A)
                total = total + (clipped - beta * (rho - 1 - log(rho))) / len(y)
            n_answers = n_answers + 1
    return total / n_answers


def optimize(objective, theta, eta, n_steps):
    """Gradient ascent on `objective`: `n_steps` steps `θ ← θ + η ∇objective(θ)`."""
    for _ in range(n_steps):
        theta = theta + eta * jax.grad(objective)(theta)
    return theta


def grpo(theta_init, theta_ref, prompts, reward, K, beta, epsilon, eta, n_iterations, n_epochs, key):
    """Group relative policy optimisation: in each of n_iterations rounds, K answers to every prompt, each scored relative to its group."""
    theta = theta_init
    for k in range(n_iterations):
        key, subkey = split(key)
        groups = []
        for x, answers in zip(prompts, sample_answers(subkey, theta, prompts, K)):
            rewards = [reward(x, y) for y in answers]
            groups.append((x, answers, group_advantages(rewards)))
        theta_old = theta

        def objective(theta_opt):
            return grpo_objective(theta_opt, theta_old, theta_ref, groups, beta, epsilon)

        theta = optimize(objective, theta, eta, n_epochs)
    return theta
