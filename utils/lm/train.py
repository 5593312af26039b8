"""Supervised fit, then fine-tuning with a reward: each one jitted run, in the PureJaxRL shape.

    data = make_dataset(jax.random.key(0))
    fit = jax.jit(make_supervised(SupervisedConfig(), data))
    reference = fit(jax.random.key(1)).params                  # π_ref, the supervised model
    out = train_seeds(jax.random.key(2), 2, FinetuneConfig(method="rloo"), reference, data)
    out.evals.accuracy                                          # "seeds E", held out
    outs = train_methods(jax.random.key(2), 2, [FinetuneConfig(method=m) for m in METHODS],
                         reference, data)                       # one compile for all three

**Supervised phase** (`make_supervised`): Adam on the cross-entropy of the corpus's answers
given their prompts (teacher forcing), batches drawn with replacement. The corpus has wrong
answers, and maximum likelihood imitates them: the fitted model says a wrong answer about as
often as the corpus does, and more often on prompts it has not seen.

**Fine-tuning** (`make_train`), from `π_θ = π_ref` on the KL-regularised objective
`E[R] − β KL(π_θ ‖ π_ref)` (eq-lm-kl-objective) with the exact-match reward. Each update draws
`P` training prompts, samples `K` answers to each from the current policy (`lax.scan` over
tokens), scores them, and takes Adam steps (gradient norm clipped) on the whole batch along
the gradient of the method's objective:

- "reinforce": `policy_gradient_surrogate` with the KL-shaped reward `R − β Σ_t k1_t` as the
  weight (eq-lm-reinforce, eq-lm-k1), no baseline;
- "rloo": the same with the leave-one-out advantage of the KL-shaped rewards (eq-lm-rloo);
- "grpo": `grpo_objective`, GRPO's group-normalised advantages of the raw rewards, the
  clipped ratio and `β k3` in the objective (eq-lm-grpo, eq-lm-k3), for `update_epochs`
  steps on the same batch (the clip acts from the second); `normalise_std=False` and
  `normalise_length=False` give Dr. GRPO.

Everything else is shared. The first two ascend an unbiased estimate of `∇J_β` at every
step; GRPO's direction is another one (`utils.lm.exact`). The method and the other fields
that set no shape are arrays inside the run, not Python constants, so `train_methods` runs
several configs with one compiled program (a run compiles in longer than it trains).

Evaluations (before the first update and every `eval_every` updates) measure, on the held-out
prompts: `accuracy`, the mean probability `π_θ(y*|x)` of the right answer — the expected exact
match of an answer sampled from the policy, computed without sampling noise by teacher-forcing
`y*`; `greedy_accuracy`, the exact match of the most probable token at each step; and the
sequence KL to `π_ref`, `Σ_t k1` and `Σ_t k3` averaged over one sampled answer per prompt.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import seeds, validate
from utils.lm.advantages import group_mean_advantages, grpo_advantages, rloo_advantages
from utils.lm.kl import kl_shaped_rewards, sequence_kl
from utils.lm.model import GRUParams, check_params, init_params, sequence_log_prob, token_log_probs
from utils.lm.objectives import grpo_objective, policy_gradient_surrogate
from utils.lm.sampling import sample_answers
from utils.lm.task import ANSWER_LENGTH, VOCAB_SIZE, Dataset, answer_mask, exact_match

__all__ = [
    "SupervisedConfig",
    "SupervisedOutput",
    "cross_entropy",
    "check_supervised_config",
    "make_supervised",
    "METHODS",
    "FinetuneConfig",
    "SECTION_CONFIGS",
    "check_config",
    "Metrics",
    "EvalMetrics",
    "TrainOutput",
    "evaluate",
    "make_train",
    "train_seeds",
    "train_methods",
]


def _check_dataset(dataset) -> Dataset:
    validate.check_instance("dataset", dataset, Dataset, "utils.lm.task.Dataset (from make_dataset)")
    return dataset


def _positive_ints(config, names, prefix: str = "config"):
    for name in names:
        validate.check_int(f"{prefix}.{name}", getattr(config, name), 1)


# ---------------------------------------------------------------------------
# Supervised phase
# ---------------------------------------------------------------------------


class SupervisedConfig(NamedTuple):
    """The supervised fit; on a corpus with a quarter of its answers wrong the defaults reach about
    60% held-out accuracy for sampled answers (near 90% for greedy ones) in 2000 steps."""

    hidden: int = 64  # GRU units
    n_steps: int = 2000  # Adam steps
    batch_size: int = 64  # answers per step, drawn with replacement from the corpus
    learning_rate: float = 1.5e-2


class SupervisedOutput(NamedTuple):
    params: GRUParams
    loss: Float[Array, " S"]  # the batch's cross-entropy per answer token, at each step


def check_supervised_config(config: SupervisedConfig) -> SupervisedConfig:
    """Raise a TypeError/ValueError naming the field unless `config` is usable."""
    validate.check_instance("config", config, SupervisedConfig)
    _positive_ints(config, ("hidden", "n_steps", "batch_size"))
    validate.check_in_range("config.learning_rate", config.learning_rate, 0.0, None, inclusive=(False, True))
    return config


def cross_entropy(params: GRUParams, prompts: Int[Array, "B Lp"], answers: Int[Array, "B T"]) -> Float[Array, ""]:
    """`−(1/Σ_b |y_b|) Σ_b log π_θ(y_b | x_b)`: the negative log-likelihood (eq-lm-likelihood) of
    the answers given their prompts, per answer token (the end token included)."""
    dims = {}
    validate.as_int_array("prompts", prompts, "B Lp", dims)
    answers = validate.as_int_array("answers", answers, "B T", dims)
    mask = answer_mask(answers)
    log_likelihood = sequence_log_prob(token_log_probs(params, prompts, answers[:, None])[:, 0], mask)
    return -jnp.sum(log_likelihood) / jnp.sum(mask)


def make_supervised(config: SupervisedConfig = SupervisedConfig(),
                    dataset: Dataset | None = None) -> Callable[[PRNGKeyArray], SupervisedOutput]:
    """`fit(key) -> SupervisedOutput`: the whole supervised fit on `dataset`'s corpus, one pure
    function to `jax.jit` (`lax.scan` over the Adam steps)."""
    config = check_supervised_config(config)
    if dataset is None:
        raise TypeError("`dataset` must be a utils.lm.task.Dataset (from make_dataset), got None")
    data = _check_dataset(dataset)
    optimizer = optax.adam(config.learning_rate)
    n = data.train_prompts.shape[0]

    def step(carry, key):
        params, opt_state = carry
        rows = jax.random.randint(key, (config.batch_size,), 0, n)
        loss, grads = jax.value_and_grad(cross_entropy)(params, data.train_prompts[rows], data.train_answers[rows])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    def fit(key: PRNGKeyArray) -> SupervisedOutput:
        validate.check_key("key", key)
        init_key, steps_key = jax.random.split(key)
        params = init_params(init_key, VOCAB_SIZE, config.hidden)
        (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)),
                                           jax.random.split(steps_key, config.n_steps))
        return SupervisedOutput(params, losses)

    return fit


# ---------------------------------------------------------------------------
# Fine-tuning
# ---------------------------------------------------------------------------

METHODS = ("reinforce", "rloo", "grpo")


class FinetuneConfig(NamedTuple):
    """Fine-tuning hyperparameters; from the default supervised model, the defaults lift held-out
    accuracy by about 20 points in 200 updates for each method (GRPO with `update_epochs=2`),
    at a KL to `π_ref` of about 0.3 nats."""

    method: str = "rloo"  # "reinforce", "rloo" or "grpo"
    n_updates: int = 200
    n_prompts: int = 32  # P, training prompts per update
    n_samples: int = 4  # K, answers sampled per prompt
    kl_coef: float = 0.1  # β of eq-lm-kl-objective (> 0)
    learning_rate: float = 1e-3  # Adam
    max_grad_norm: float = 1.0  # clip the gradient's global norm
    update_epochs: int = 1  # gradient steps on each batch (GRPO's μ; 1 for the others)
    clip_eps: float = 0.2  # ε of GRPO's clipped ratio
    normalise_std: bool = True  # GRPO: divide by the group's std (False: Dr. GRPO)
    normalise_length: bool = True  # GRPO: average over each answer's tokens (False: divide by T, Dr. GRPO)
    eval_every: int = 20  # updates between evaluations (must divide n_updates)


# The section's runs: each method with the defaults, GRPO with two gradient steps per batch
# (with one, its clip never acts). From the default supervised model (data key 0, fit key 1),
# the two seeds of key 2: held-out accuracy from 60% to 82–85%, a KL to π_ref of 0.26–0.35
# nats (tests/test_lm_train.py: a gain of at least 10 points, a KL of at most 0.5 nats).
SECTION_CONFIGS = tuple(FinetuneConfig(method=m, update_epochs=2 if m == "grpo" else 1) for m in METHODS)


def check_config(config: FinetuneConfig) -> FinetuneConfig:
    """Raise a TypeError/ValueError naming the field unless `config` is usable (called by `make_train`)."""
    validate.check_instance("config", config, FinetuneConfig)
    if config.method not in METHODS:
        raise ValueError(f"`config.method` must be one of {METHODS}, got {config.method!r}")
    _positive_ints(config, ("n_updates", "n_prompts", "n_samples", "update_epochs", "eval_every"))
    if config.method != "reinforce" and config.n_samples < 2:
        raise ValueError(f"`config.n_samples` must be at least 2 for {config.method!r}, whose baseline compares "
                         f"the K answers to each prompt, got {config.n_samples}")
    if config.method != "grpo" and config.update_epochs != 1:
        raise ValueError(f"`config.update_epochs` must be 1 for {config.method!r}: its surrogate's gradient is the "
                         f"policy gradient only at the policy that sampled the batch, got {config.update_epochs}")
    if config.n_updates % config.eval_every:
        raise ValueError(f"`config.eval_every` = {config.eval_every} must divide config.n_updates = {config.n_updates}")
    for name in ("kl_coef", "learning_rate", "max_grad_norm"):
        validate.check_in_range(f"config.{name}", getattr(config, name), 0.0, None, inclusive=(False, True))
    validate.check_in_range("config.clip_eps", config.clip_eps, 0.0, 1.0, inclusive=False)
    for name in ("normalise_std", "normalise_length"):
        validate.check_instance(f"config.{name}", getattr(config, name), bool)
    return config


class Metrics(NamedTuple):
    """Per update ("U"), on the batch sampled from the policy before the update."""

    reward: Float[Array, " U"]  # mean exact-match reward of the P K answers
    kl_k1: Float[Array, " U"]  # mean of Σ_t k1 over the answers: the sampled KL(π_θ ‖ π_ref)
    kl_k3: Float[Array, " U"]  # mean of Σ_t k3
    answer_length: Float[Array, " U"]  # mean |y|, the end token included


class EvalMetrics(NamedTuple):
    """On the held-out prompts; in `TrainOutput`, one entry per evaluation ("E")."""

    accuracy: Float[Array, ""]  # mean π_θ(y*|x): the expected exact match of a sampled answer
    greedy_accuracy: Float[Array, ""]  # exact match of greedy decoding
    kl_k1: Float[Array, ""]  # mean Σ_t k1 over one sampled answer per prompt
    kl_k3: Float[Array, ""]  # mean Σ_t k3 over the same answers


class TrainOutput(NamedTuple):
    params: GRUParams
    metrics: Metrics
    evals: EvalMetrics  # each field "E": before the first update, then every eval_every updates
    eval_updates: Int[Array, " E"]  # the number of updates done at each evaluation


def evaluate(params: GRUParams, reference: GRUParams, dataset: Dataset, key: PRNGKeyArray) -> EvalMetrics:
    """The held-out metrics of the policy `params` against the reference `reference` (`EvalMetrics`)."""
    check_params(params)
    check_params(reference, "reference")
    data = _check_dataset(dataset)
    validate.check_key("key", key)
    prompts, targets = data.heldout_prompts, data.heldout_targets
    right = sequence_log_prob(token_log_probs(params, prompts, targets[:, None])[:, 0], answer_mask(targets))
    greedy = sample_answers(params, key, prompts, 1, ANSWER_LENGTH, greedy=True)
    sampled = sample_answers(params, key, prompts, 1, ANSWER_LENGTH)
    ref = token_log_probs(reference, prompts, sampled.tokens)
    return EvalMetrics(
        accuracy=jnp.mean(jnp.exp(right)),
        greedy_accuracy=jnp.mean(exact_match(greedy.tokens, targets[:, None])),
        kl_k1=jnp.mean(sequence_kl(sampled.log_probs, ref, sampled.mask, "k1")),
        kl_k3=jnp.mean(sequence_kl(sampled.log_probs, ref, sampled.mask, "k3")),
    )


class _Batch(NamedTuple):
    """What the objective needs from one update's samples."""

    prompts: Int[Array, "P Lp"]
    tokens: Int[Array, "P K T"]
    mask: Bool[Array, "P K T"]
    log_probs: Float[Array, "P K T"]  # under the sampling policy
    ref_log_probs: Float[Array, "P K T"]
    advantages: Float[Array, "P K"]


class _Settings(NamedTuple):
    """The config's fields that change no shape, as arrays: runs that differ only in these (the
    method among them) share one compiled program (`train_methods`)."""

    method: Int[Array, ""]  # index into METHODS
    kl_coef: Float[Array, ""]
    learning_rate: Float[Array, ""]
    max_grad_norm: Float[Array, ""]
    update_epochs: Int[Array, ""]
    clip_eps: Float[Array, ""]
    normalise_std: Bool[Array, ""]
    normalise_length: Bool[Array, ""]


# The fields that set shapes or loop lengths: they must agree between runs of one program.
_STATIC_FIELDS = ("n_updates", "n_prompts", "n_samples", "eval_every")


def _settings(config: FinetuneConfig) -> _Settings:
    as_float = lambda name: jnp.asarray(getattr(config, name), jnp.result_type(float))  # noqa: E731
    return _Settings(jnp.asarray(METHODS.index(config.method), jnp.int32), as_float("kl_coef"),
                     as_float("learning_rate"), as_float("max_grad_norm"), jnp.asarray(config.update_epochs, jnp.int32),
                     as_float("clip_eps"), jnp.asarray(config.normalise_std), jnp.asarray(config.normalise_length))


class _State(NamedTuple):
    params: GRUParams
    opt_state: optax.OptState
    key: PRNGKeyArray


def _make_run(config: FinetuneConfig, reference, dataset) -> Callable[[PRNGKeyArray, _Settings], TrainOutput]:
    """`run(key, settings)`: the fine-tuning run with `config`'s shapes and `settings`' numbers."""
    c = check_config(config)
    if reference is None:
        raise TypeError("`reference` must be the supervised model's GRUParams (make_supervised(...)(key).params), got None")
    check_params(reference, "reference")
    if dataset is None:
        raise TypeError("`dataset` must be a utils.lm.task.Dataset (from make_dataset), got None")
    data = _check_dataset(dataset)
    n_train = data.train_prompts.shape[0]
    n_chunks = c.n_updates // c.eval_every

    def run(key: PRNGKeyArray, settings: _Settings) -> TrainOutput:
        validate.check_key("key", key)
        optimizer = optax.chain(optax.clip_by_global_norm(settings.max_grad_norm), optax.adam(settings.learning_rate))

        def advantages(rewards, log_probs, ref_log_probs, mask):
            shaped = kl_shaped_rewards(rewards, log_probs, ref_log_probs, mask, settings.kl_coef)
            if c.n_samples < 2:  # only REINFORCE takes a single answer per prompt (check_config)
                return shaped
            grpo = jnp.where(settings.normalise_std, grpo_advantages(rewards), group_mean_advantages(rewards))
            return jax.lax.switch(settings.method, [lambda: shaped, lambda: rloo_advantages(shaped), lambda: grpo])

        def loss(params, batch: _Batch):
            log_probs = token_log_probs(params, batch.prompts, batch.tokens)
            objective = jax.lax.cond(
                settings.method == METHODS.index("grpo"),
                lambda: grpo_objective(log_probs, batch.log_probs, batch.ref_log_probs, batch.mask, batch.advantages,
                                       settings.clip_eps, settings.kl_coef, settings.normalise_length),
                lambda: policy_gradient_surrogate(log_probs, batch.mask, batch.advantages),
            )
            return -objective  # optax minimises

        def update(state: _State, _):
            key, prompt_key, sample_key = jax.random.split(state.key, 3)
            rows = jax.random.randint(prompt_key, (c.n_prompts,), 0, n_train)
            prompts, targets = data.train_prompts[rows], data.train_targets[rows]
            samples = sample_answers(state.params, sample_key, prompts, c.n_samples, ANSWER_LENGTH)
            rewards = exact_match(samples.tokens, targets[:, None])
            ref_log_probs = token_log_probs(reference, prompts, samples.tokens)
            batch = _Batch(prompts, samples.tokens, samples.mask, samples.log_probs, ref_log_probs,
                           advantages(rewards, samples.log_probs, ref_log_probs, samples.mask))

            def gradient_step(_, carry):  # on the whole batch; GRPO takes update_epochs of them
                params, opt_state = carry
                updates, opt_state = optimizer.update(jax.grad(loss)(params, batch), opt_state, params)
                return optax.apply_updates(params, updates), opt_state

            params, opt_state = jax.lax.fori_loop(0, settings.update_epochs, gradient_step,
                                                  (state.params, state.opt_state))
            metrics = Metrics(
                reward=jnp.mean(rewards),
                kl_k1=jnp.mean(sequence_kl(samples.log_probs, ref_log_probs, samples.mask, "k1")),
                kl_k3=jnp.mean(sequence_kl(samples.log_probs, ref_log_probs, samples.mask, "k3")),
                answer_length=jnp.mean(jnp.sum(samples.mask, axis=-1).astype(rewards.dtype)),
            )
            return _State(params, opt_state, key), metrics

        def chunk(state, _):
            state, metrics = jax.lax.scan(update, state, None, length=c.eval_every)
            return state, (metrics, state.params)

        key, eval_key = jax.random.split(key)
        params = jax.tree_util.tree_map(jnp.asarray, reference)
        state, (metrics, snapshots) = jax.lax.scan(chunk, _State(params, optimizer.init(params), key), None,
                                                   length=n_chunks)
        metrics = jax.tree_util.tree_map(lambda x: x.reshape(-1), metrics)
        # The evaluations after the run, vmapped over the snapshots: one evaluation to trace and compile.
        snapshots = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), params, snapshots)
        evals = jax.vmap(evaluate, (0, None, None, 0))(snapshots, reference, data,
                                                       jax.random.split(eval_key, n_chunks + 1))
        return TrainOutput(state.params, metrics, evals, jnp.arange(n_chunks + 1) * c.eval_every)

    return run


def make_train(config: FinetuneConfig = FinetuneConfig(), reference: GRUParams | None = None,
               dataset: Dataset | None = None) -> Callable[[PRNGKeyArray], TrainOutput]:
    """PureJaxRL's `make_train`: `train(key) -> TrainOutput`, the whole fine-tuning run of
    `reference` (the supervised model, also the KL's `π_ref`) on `dataset`'s training prompts,
    one pure function to `jax.jit` and `jax.vmap` over keys. Config errors raise here."""
    run = _make_run(config, reference, dataset)
    settings = _settings(config)

    def train(key: PRNGKeyArray) -> TrainOutput:
        return run(key, settings)

    return train


def train_seeds(key: PRNGKeyArray, n_seeds: int, config: FinetuneConfig = FinetuneConfig(),
                reference: GRUParams | None = None, dataset: Dataset | None = None) -> TrainOutput:
    """`n_seeds` independent fine-tuning runs at once (`jit` of `vmap` of `make_train(config, reference,
    dataset)`, the seeds sharded over the devices: `utils.seeds`); every output has a leading axis "n_seeds"."""
    validate.check_key("key", key)
    validate.check_int("n_seeds", n_seeds, 1)
    return seeds.train_seeds(make_train(config, reference, dataset), key, n_seeds)


def train_methods(key: PRNGKeyArray, n_seeds: int, configs, reference: GRUParams | None = None,
                  dataset: Dataset | None = None) -> list[TrainOutput]:
    """`train_seeds(key, n_seeds, config, reference, dataset)` for each of `configs`, compiled once.

    The configs may differ in every field but those that set shapes (`n_updates`, `n_prompts`,
    `n_samples`, `eval_every`), the method included: those are arguments of one compiled program
    (on the book's 2-core machine compiling a run takes longer than running it). Each run uses
    the same seeds' keys. Returns one `TrainOutput` per config, each with leading axis "n_seeds"."""
    validate.check_key("key", key)
    validate.check_int("n_seeds", n_seeds, 1)
    if isinstance(configs, FinetuneConfig) or not isinstance(configs, (list, tuple)) or not configs:
        raise TypeError(f"`configs` must be a non-empty list of FinetuneConfig, got {type(configs).__name__}")
    for i, config in enumerate(configs):
        validate.check_instance(f"configs[{i}]", config, FinetuneConfig)
        check_config(config)
        for name in _STATIC_FIELDS:
            if getattr(config, name) != getattr(configs[0], name):
                raise ValueError(f"`configs[{i}].{name}` must equal configs[0].{name} = {getattr(configs[0], name)} "
                                 f"(it sets a shape of the shared program), got {getattr(config, name)}")
    run = jax.jit(jax.vmap(_make_run(configs[0], reference, dataset), (0, None)))
    keys = jax.device_put(jax.random.split(key, n_seeds), seeds.seed_sharding(n_seeds))
    return [run(keys, _settings(config)) for config in configs]
