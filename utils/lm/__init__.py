"""Policy gradients for language models: the chapter's estimators on a sequence model.

Generating an answer `y = (y_1, …, y_T)` to a prompt `x` is an MDP: the state is the
prompt and the tokens so far, the action is the next token, the transition appends it,
and the reward `R(x, y)` comes at the end. With `π_θ(y|x) = Π_t π_θ(y_t|x, y_<t)`
(eq-lm-likelihood), REINFORCE is `∇_θ log π_θ(y|x) R(x, y)` (eq-lm-reinforce).

One module a job:

- `task`: the tokeniser, the synthetic task (two-digit addition), the corpus with
  corrupted answers, the exact-match reward;
- `model`: a GRU language model (init, next-token logits, log-probabilities of answers);
- `sampling`: `K` answers per prompt, token by token (`lax.scan`);
- `advantages`: leave-one-out (RLOO), self-including group mean, GRPO's normalised advantages;
- `kl`: the per-token estimators `k1`, `k3` of `KL(π_θ ‖ π_ref)`, the KL-shaped reward;
- `objectives`: the score-function surrogate and GRPO's clipped objective;
- `exact`: exact gradients, KLs and estimator means by listing every answer of a tiny problem;
- `train`: the supervised fit and the fine-tuning runs ("reinforce", "rloo", "grpo"), each one jit.

The readable GRPO update is `utils.pseudocode.grpo`. The names below are re-exported here.
"""
from utils.lm import advantages, exact, kl, model, objectives, sampling, task, train
from utils.lm.advantages import group_mean_advantages, grpo_advantages, rloo_advantages
from utils.lm.kl import k1, k3, kl_shaped_rewards, sequence_kl
from utils.lm.model import GRUParams, init_params, sequence_log_prob, token_log_probs
from utils.lm.objectives import grpo_objective, policy_gradient_surrogate
from utils.lm.sampling import Samples, sample_answers
from utils.lm.task import Dataset, decode, encode, exact_match, make_dataset
from utils.lm.train import (
    METHODS,
    SECTION_CONFIGS,
    EvalMetrics,
    FinetuneConfig,
    Metrics,
    SupervisedConfig,
    SupervisedOutput,
    TrainOutput,
    evaluate,
    make_supervised,
    make_train,
    train_methods,
    train_seeds,
)

__all__ = [
    "advantages", "exact", "kl", "model", "objectives", "sampling", "task", "train",
    "rloo_advantages", "group_mean_advantages", "grpo_advantages",
    "k1", "k3", "sequence_kl", "kl_shaped_rewards",
    "GRUParams", "init_params", "token_log_probs", "sequence_log_prob",
    "policy_gradient_surrogate", "grpo_objective",
    "Samples", "sample_answers",
    "Dataset", "make_dataset", "encode", "decode", "exact_match",
    "METHODS", "SECTION_CONFIGS", "SupervisedConfig", "SupervisedOutput", "FinetuneConfig", "Metrics", "EvalMetrics", "TrainOutput",
    "make_supervised", "make_train", "train_seeds", "train_methods", "evaluate",
]
