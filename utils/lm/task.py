"""The synthetic task: adding two two-digit numbers, as text, with a checkable answer.

A prompt is `"a+b="` with `a, b` in 10..99, six tokens; its answer is the digits
of `a + b` followed by the end-of-sequence token `"."`: `"47+38="` → `"85."`,
`"93+40="` → `"133."`. Answers are stored in `ANSWER_LENGTH = 4` positions
(three digits at most, then the end token), padded with end tokens; the tokens
of an answer are those up to and including its first end token (`answer_mask`),
so answers have two lengths, 3 and 4 tokens.

The supervised corpus (`make_dataset`) pairs each training prompt with one answer,
of which a fraction `corruption` are wrong: one digit replaced by another
(`corrupt_answers`). A model fitted to it by maximum likelihood learns to say
wrong answers about as often as the corpus does; the exact-match reward
(`exact_match`), which knows the arithmetic, tells it which ones.

The held-out prompts never appear in the corpus, so accuracy on them measures
what the model learned about addition, not what it memorised.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import validate

__all__ = [
    "VOCAB",
    "VOCAB_SIZE",
    "PLUS",
    "EQUALS",
    "EOS",
    "PROMPT_LENGTH",
    "ANSWER_LENGTH",
    "check_tokens",
    "encode",
    "decode",
    "answer_mask",
    "addition_prompts",
    "addition_answers",
    "corrupt_answers",
    "Dataset",
    "make_dataset",
    "exact_match",
]

VOCAB = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "=", ".")
VOCAB_SIZE = len(VOCAB)
PLUS, EQUALS, EOS = VOCAB.index("+"), VOCAB.index("="), VOCAB.index(".")
PROMPT_LENGTH = 6  # "a+b=" with two-digit a and b
ANSWER_LENGTH = 4  # up to three digits, then the end token
_LOW, _HIGH = 10, 99  # the two-digit numbers


def check_tokens(name: str, tokens, vocab_size: int, shape: str | None = None, dims: dict | None = None):
    """`tokens` as an int array, after checking it holds token ids in `0 .. vocab_size − 1`
    (the range is checked on concrete arrays; under `jit` only the dtype and shape are)."""
    vocab_size = validate.check_int("vocab_size", vocab_size, 1)
    tokens = validate.as_int_array(name, tokens, shape, dims)
    if not validate.is_traced(tokens) and np.size(tokens):
        values = np.asarray(tokens)  # NumPy, so that nothing is staged while tracing a concrete array
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"`{name}` must hold token ids in 0 .. {vocab_size - 1} (a vocabulary of {vocab_size} "
                             f"tokens), got the id {bad}")
    return tokens


def encode(text: str) -> Int[Array, " L"]:
    """The token ids of `text`, one token per character of `VOCAB` ("0"–"9", "+", "=", ".")."""
    validate.check_instance("text", text, str)
    unknown = [(i, c) for i, c in enumerate(text) if c not in VOCAB]
    if unknown:
        i, c = unknown[0]
        raise ValueError(f"`text` must be written with the tokens {''.join(VOCAB)!r}, got the unknown "
                         f"character {c!r} at position {i} of {text!r}")
    return jnp.asarray([VOCAB.index(c) for c in text], jnp.int32)


def decode(tokens: Int[Array, " L"]) -> str:
    """The text of a 1-D array of token ids, up to and including its first end token (the padding
    after it is dropped): the inverse of `encode` on prompts and answers."""
    tokens = check_tokens("tokens", tokens, VOCAB_SIZE, "L")
    text = "".join(VOCAB[int(t)] for t in np.asarray(tokens))
    end = text.find(VOCAB[EOS])
    return text if end < 0 else text[: end + 1]


def answer_mask(answers: Int[Array, "*B T"], eos: int = EOS) -> Bool[Array, "*B T"]:
    """Which positions belong to each answer: those up to and including its first end token
    (all of them if it has none). The sums over an answer (log-likelihood, KL) run over these."""
    answers = validate.as_int_array("answers", answers, "*B T")
    validate.check_int("eos", eos, 0)
    is_end = answers == eos
    return jnp.cumsum(is_end, axis=-1) - is_end == 0


def _check_numbers(a, b):
    dims = {}
    a = validate.as_int_array("a", a, "N", dims)
    b = validate.as_int_array("b", b, "N", dims)
    for name, x in (("a", a), ("b", b)):
        values = None if validate.is_traced(x) else np.asarray(x)
        if values is not None and values.size and not (_LOW <= values.min() and values.max() <= _HIGH):
            raise ValueError(f"`{name}` must hold two-digit numbers ({_LOW} .. {_HIGH}), got values from "
                             f"{values.min()} to {values.max()}")
    return a, b


def _array_module(*xs):
    """NumPy for concrete arrays (data made on the host, with nothing to compile), jnp under `jit`."""
    return jnp if any(validate.is_traced(x) for x in xs) else np


def addition_prompts(a: Int[Array, " N"], b: Int[Array, " N"]) -> Int[Array, "N 6"]:
    """The prompts `"a+b="` as token ids, one row per pair."""
    a, b = _check_numbers(a, b)
    xp = _array_module(a, b)
    a, b = xp.asarray(a), xp.asarray(b)
    const = lambda token: xp.full_like(a, token)  # noqa: E731
    return jnp.asarray(xp.stack([a // 10, a % 10, const(PLUS), b // 10, b % 10, const(EQUALS)], axis=-1))


def addition_answers(a: Int[Array, " N"], b: Int[Array, " N"]) -> Int[Array, "N 4"]:
    """The right answers: the digits of `a + b`, then the end token, padded with end tokens."""
    a, b = _check_numbers(a, b)
    xp = _array_module(a, b)
    s = xp.asarray(a) + xp.asarray(b)
    end = xp.full_like(s, EOS)
    three = xp.stack([s // 100, s // 10 % 10, s % 10, end], axis=-1)
    two = xp.stack([s // 10, s % 10, end, end], axis=-1)
    return jnp.asarray(xp.where((s >= 100)[:, None], three, two))


def _host_rng(key: PRNGKeyArray) -> np.random.Generator:
    """A NumPy generator seeded with the bits of `key`: the data are made once, on the host,
    where NumPy takes milliseconds and a jitted JAX version would first compile for a second."""
    bits = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return np.random.default_rng(np.asarray(bits).tolist())


def corrupt_answers(key: PRNGKeyArray, answers: Int[Array, "N T"], rate: float
                    ) -> tuple[Int[Array, "N T"], Bool[Array, " N"]]:
    """Make a fraction `rate` of the answers wrong, each independently: one of its digits,
    chosen uniformly, is replaced by one of the nine other digits, chosen uniformly (so the
    answer keeps its length and is certainly wrong). Returns the answers and which were changed.
    (On the host, with NumPy draws seeded by `key`.)"""
    validate.check_key("key", key)
    answers = check_tokens("answers", answers, VOCAB_SIZE, "N T")
    validate.check_in_range("rate", rate, 0.0, 1.0)
    return _corrupt(_host_rng(key), np.array(answers), rate)


def _corrupt(rng: np.random.Generator, answers: np.ndarray, rate: float):
    is_end = answers == EOS
    n_digits = np.where(is_end.any(axis=-1), is_end.argmax(axis=-1), answers.shape[-1])  # before the end token
    changed = (rng.random(answers.shape[0]) < rate) & (n_digits > 0)
    rows = np.flatnonzero(changed)
    position = rng.integers(0, n_digits[rows])
    answers[rows, position] = (answers[rows, position] + rng.integers(1, 10, rows.size)) % 10
    return jnp.asarray(answers), jnp.asarray(changed)


class Dataset(NamedTuple):
    """The prompts, split into training and held-out prompts (disjoint), and the corpus.

    `train_answers` is the supervised corpus (a fraction of it corrupted, `corrupted`);
    `train_targets` and `heldout_targets` are the right answers, which only the reward sees."""

    train_prompts: Int[Array, "N 6"]
    train_answers: Int[Array, "N 4"]
    train_targets: Int[Array, "N 4"]
    corrupted: Bool[Array, " N"]
    heldout_prompts: Int[Array, "M 6"]
    heldout_targets: Int[Array, "M 4"]


def make_dataset(key: PRNGKeyArray, corruption: float = 0.25, n_heldout: int = 1000) -> Dataset:
    """All 90 × 90 = 8100 prompts `"a+b="` in a random order; the first `n_heldout` are held out,
    the others form the corpus, with a fraction `corruption` of its answers made wrong."""
    validate.check_key("key", key)
    validate.check_in_range("corruption", corruption, 0.0, 1.0)
    n_pairs = (_HIGH - _LOW + 1) ** 2
    validate.check_int("n_heldout", n_heldout, 1, n_pairs - 1)
    rng = _host_rng(key)
    a, b = np.divmod(rng.permutation(n_pairs), _HIGH - _LOW + 1)
    a, b = a + _LOW, b + _LOW
    prompts, targets = addition_prompts(a, b), addition_answers(a, b)
    answers, corrupted = _corrupt(rng, np.array(targets[n_heldout:]), corruption)
    return Dataset(prompts[n_heldout:], answers, targets[n_heldout:], corrupted, prompts[:n_heldout],
                   targets[:n_heldout])


def exact_match(answers: Int[Array, "*B T"], targets: Int[Array, "*B T"], eos: int = EOS) -> Float[Array, "*B"]:
    """The reward `R(x, y)`: 1.0 where the answer's tokens, up to and including the target's end
    token, are the target's (so the answer ends where the target does), else 0.0.
    `targets` broadcasts against `answers` (e.g. "P 1 T" against "P K T")."""
    answers = validate.as_int_array("answers", answers, "*B T")
    targets = validate.as_int_array("targets", targets, "*B T")
    validate.check_broadcastable(("answers", answers), ("targets", targets))
    same = jnp.where(answer_mask(targets, eos), answers == targets, True)
    return jnp.all(same, axis=-1).astype(jnp.result_type(float))
