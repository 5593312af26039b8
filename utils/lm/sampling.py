"""Sampling answers from the model: `K` answers per prompt, token by token (`lax.scan`).

Each step draws `y_t ∼ π_θ(· | x, y_<t)` and feeds it back: the rollout of the
generation MDP, whose next state is the prompt and tokens so far with `y_t`
appended. The answers keep `length` positions; what follows an answer's end
token is drawn too and left out by its mask (`utils.lm.task.answer_mask`).
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import validate
from utils.lm.model import GRUParams, check_params, gru_step, next_token_logits, prompt_state
from utils.lm.task import ANSWER_LENGTH, EOS, answer_mask, check_tokens

__all__ = ["Samples", "sample_answers"]


class Samples(NamedTuple):
    """`K` sampled answers for each of `P` prompts."""

    tokens: Int[Array, "P K T"]
    log_probs: Float[Array, "P K T"]  # log π_θ(y_t | x, y_<t) of the sampled tokens, under the sampling policy
    mask: Bool[Array, "P K T"]  # the answers' own tokens (up to and including the first end token)


def sample_answers(
    params: GRUParams,
    key: PRNGKeyArray,
    prompts: Int[Array, "P Lp"],
    n_samples: int,
    length: int = ANSWER_LENGTH,
    eos: int = EOS,
    greedy: bool = False,
) -> Samples:
    """`n_samples` answers of `length` tokens to each prompt, drawn from `π_θ` (or, with `greedy`,
    the most probable token at each step, the same for every sample).

    The draws use the Gumbel-max trick on noise drawn for all steps before the scan:
    `y_t = argmax_v (logit_v + g_v)`, `g_v` i.i.d. Gumbel, is a draw from the softmax."""
    vocab = check_params(params)
    validate.check_key("key", key)
    prompts = check_tokens("prompts", prompts, vocab, "P Lp")
    n_samples = validate.check_int("n_samples", n_samples, 1)
    length = validate.check_int("length", length, 1)
    validate.check_int("eos", eos, 0, vocab - 1)
    validate.check_instance("greedy", greedy, bool)
    return _sample_answers(params, key, prompts, n_samples, length, eos, greedy)


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6))
def _sample_answers(params, key, prompts, n_samples, length, eos, greedy):
    n_prompts, vocab = prompts.shape[0], params.output.shape[1]
    state = prompt_state(params, prompts)
    state = jnp.broadcast_to(state[:, None], (n_prompts, n_samples, state.shape[-1]))
    noise_shape = (length, n_prompts, n_samples, vocab)
    noise = jnp.zeros(noise_shape) if greedy else jax.random.gumbel(key, noise_shape, params.output.dtype)

    def step(h, g):
        log_p = jax.nn.log_softmax(next_token_logits(params, h))
        token = jnp.argmax(log_p + g, axis=-1)
        return gru_step(params, h, token), (token, jnp.take_along_axis(log_p, token[..., None], axis=-1)[..., 0])

    _, (tokens, log_probs) = jax.lax.scan(step, state, noise)
    tokens, log_probs = jnp.moveaxis(tokens, 0, -1).astype(jnp.int32), jnp.moveaxis(log_probs, 0, -1)
    return Samples(tokens, log_probs, answer_mask(tokens, eos))
