"""A small autoregressive language model: a one-layer GRU over tokens.

The policy of the section: `π_θ(y | x) = Π_t π_θ(y_t | x, y_<t)` (eq-lm-likelihood),
each factor a softmax over the vocabulary of the GRU's state after reading the
prompt `x` and the answer tokens before `t`. Generating an answer is an MDP whose
state is the prompt and the tokens so far, whose action is the next token, and
whose transitions are deterministic (append the token); the reward comes at the end.

The GRU (Cho et al. 2014), with state `h` (zero before the first token) and input token `v`:

    z = σ(E_z[v] + U_z h),   r = σ(E_r[v] + U_r h),
    n = tanh(E_n[v] + r ⊙ (U_n h + b_n)),   h' = (1 − z) ⊙ n + z ⊙ h,
    logits = W h' + c.

`E = embedding` is the token embedding already multiplied by the GRU's input
weights, with their biases: for a one-hot input that product is a row lookup,
so one "V 3H" table stands for both. With the default `hidden = 64` and the
13-token vocabulary the model has 15 693 parameters.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import validate
from utils.lm.task import VOCAB_SIZE, check_tokens

__all__ = [
    "GRUParams",
    "init_params",
    "check_params",
    "n_params",
    "gru_step",
    "next_token_logits",
    "prompt_state",
    "token_log_probs",
    "sequence_log_prob",
]


class GRUParams(NamedTuple):
    """The parameters θ of the GRU language model (V tokens, H hidden units)."""

    embedding: Float[Array, "V 3H"]  # E: input weights times the embedding, with biases (update, reset, candidate)
    recurrent: Float[Array, "H 3H"]  # U
    recurrent_bias: Float[Array, " H"]  # b_n, inside the reset gate
    output: Float[Array, "H V"]  # W
    output_bias: Float[Array, " V"]  # c


def init_params(key: PRNGKeyArray, vocab_size: int = VOCAB_SIZE, hidden: int = 64) -> GRUParams:
    """LeCun-normal recurrent weights, embedding entries N(0, 0.3²), and an output layer at a tenth
    of the LeCun scale, so that the untrained model's next-token distribution is near uniform."""
    validate.check_key("key", key)
    vocab_size = validate.check_int("vocab_size", vocab_size, 2)
    hidden = validate.check_int("hidden", hidden, 1)
    e_key, u_key, w_key = jax.random.split(key, 3)
    dtype = jnp.result_type(float)
    return GRUParams(
        embedding=0.3 * jax.random.normal(e_key, (vocab_size, 3 * hidden), dtype),
        recurrent=jax.random.normal(u_key, (hidden, 3 * hidden), dtype) / math.sqrt(hidden),
        recurrent_bias=jnp.zeros((hidden,), dtype),
        output=0.1 * jax.random.normal(w_key, (hidden, vocab_size), dtype) / math.sqrt(hidden),
        output_bias=jnp.zeros((vocab_size,), dtype),
    )


def check_params(params, name: str = "params") -> int:
    """Raise unless `params` is a `GRUParams` with consistent shapes; returns the vocabulary size."""
    validate.check_instance(name, params, GRUParams, "utils.lm.model.GRUParams (from init_params)")
    for field in GRUParams._fields:
        validate.as_float_array(f"{name}.{field}", getattr(params, field))
    dims = {}
    vocab, three_h = np.shape(params.embedding) if np.ndim(params.embedding) == 2 else (None, None)
    validate.check_shape(f"{name}.embedding", params.embedding, "V G", dims)
    hidden = three_h // 3
    if three_h != 3 * hidden or hidden == 0:
        raise ValueError(f"`{name}.embedding` must have 3 H columns (three gates), got shape {np.shape(params.embedding)}")
    dims["H"] = hidden
    validate.check_shape(f"{name}.recurrent", params.recurrent, "H G", dims)
    validate.check_shape(f"{name}.recurrent_bias", params.recurrent_bias, "H", dims)
    validate.check_shape(f"{name}.output", params.output, "H V", dims)
    validate.check_shape(f"{name}.output_bias", params.output_bias, "V", dims)
    return int(vocab)


def n_params(params: GRUParams) -> int:
    """The number of parameters (scalars) of the model."""
    check_params(params)
    return sum(int(np.size(x)) for x in params)


def _step(params: GRUParams, state, token):
    gates_in = params.embedding[token]
    gates_h = state @ params.recurrent
    z_in, r_in, n_in = jnp.split(gates_in, 3, axis=-1)
    z_h, r_h, n_h = jnp.split(gates_h, 3, axis=-1)
    z = jax.nn.sigmoid(z_in + z_h)
    r = jax.nn.sigmoid(r_in + r_h)
    n = jnp.tanh(n_in + r * (n_h + params.recurrent_bias))
    return (1 - z) * n + z * state


def _logits(params: GRUParams, state):
    return state @ params.output + params.output_bias


def gru_step(params: GRUParams, state: Float[Array, "*B H"], token: Int[Array, "*B"]) -> Float[Array, "*B H"]:
    """The state after reading `token` in `state` (the GRU update of the module docstring)."""
    vocab = check_params(params)
    token = check_tokens("token", token, vocab)
    state = validate.as_float_array("state", state, "*B H", {"H": params.recurrent.shape[0]})
    if np.shape(state)[:-1] != np.shape(token):
        raise ValueError(f"`state` must have shape (*B, H) with *B = {np.shape(token)}, the shape of `token`, "
                         f"got shape {np.shape(state)}")
    return _step(params, state, token)


def next_token_logits(params: GRUParams, state: Float[Array, "*B H"]) -> Float[Array, "*B V"]:
    """The logits of `π_θ(· | x, y_<t)` in the state that has read `x, y_<t`."""
    check_params(params)
    state = validate.as_float_array("state", state, "*B H", {"H": params.recurrent.shape[0]})
    return _logits(params, state)


@jax.jit
def _prompt_state(params: GRUParams, prompts):
    state = jnp.zeros((*prompts.shape[:-1], params.recurrent.shape[0]), params.recurrent.dtype)
    return jax.lax.scan(lambda h, token: (_step(params, h, token), None), state, jnp.moveaxis(prompts, -1, 0))[0]


def prompt_state(params: GRUParams, prompts: Int[Array, "*B Lp"]) -> Float[Array, "*B H"]:
    """The GRU's state after reading each prompt (`lax.scan` over its tokens, from the zero state)."""
    vocab = check_params(params)
    prompts = check_tokens("prompts", prompts, vocab, "*B Lp")
    return _prompt_state(params, prompts)


@jax.jit
def _token_log_probs(params: GRUParams, prompts, answers):
    state = _prompt_state(params, prompts)  # each prompt is read once, for all of its K answers
    state = jnp.broadcast_to(state[:, None], (*answers.shape[:2], state.shape[-1]))

    def step(h, token):
        h = _step(params, h, token)
        return h, h

    # The states before each answer token; the output layer then runs once on all of them.
    _, later = jax.lax.scan(step, state, jnp.moveaxis(answers[..., :-1], -1, 0))
    states = jnp.concatenate([state[..., None, :], jnp.moveaxis(later, 0, -2)], axis=-2)  # P K T H
    log_p = jax.nn.log_softmax(_logits(params, states))
    return jnp.take_along_axis(log_p, answers[..., None], axis=-1)[..., 0]


def token_log_probs(params: GRUParams, prompts: Int[Array, "P Lp"], answers: Int[Array, "P K T"]
                    ) -> Float[Array, "P K T"]:
    """`log π_θ(y_t | x, y_<t)` for every position `t` of the `K` answers `y` to each prompt `x`
    (teacher forcing: the answer's own tokens are fed back). Positions after an answer's end
    token are computed too; `sequence_log_prob` leaves them out."""
    vocab = check_params(params)
    dims = {}
    prompts = check_tokens("prompts", prompts, vocab, "P Lp", dims)
    answers = check_tokens("answers", answers, vocab, "P K T", dims)
    return _token_log_probs(params, prompts, answers)


def sequence_log_prob(token_log_probs: Float[Array, "*B T"], mask: Bool[Array, "*B T"]) -> Float[Array, "*B"]:
    """`log π_θ(y | x) = Σ_{t ≤ |y|} log π_θ(y_t | x, y_<t)` (eq-lm-likelihood), the sum over the
    answer's own tokens (`mask`, from `utils.lm.task.answer_mask`)."""
    token_log_probs = validate.as_float_array("token_log_probs", token_log_probs, "*B T")
    mask = validate.as_bool_array("mask", mask, "*B T")
    validate.check_broadcastable(("token_log_probs", token_log_probs), ("mask", mask))
    return jnp.sum(jnp.where(mask, token_log_probs, 0.0), axis=-1)
