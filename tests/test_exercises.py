"""`utils.exercises.check`: every checker accepts a correct solution and rejects the usual mistakes,
each with its own hint; bad answers (shape, dtype, an exception) get their own messages."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils.exercises import EXERCISES, ExerciseError, check

# Solutions as a student would write them, in JAX (not the checker's NumPy references).


def reward_to_go(rewards):
    return jnp.cumsum(rewards[::-1])[::-1]


def discounted_return(rewards, gamma):
    return jnp.sum(gamma ** jnp.arange(rewards.shape[0]) * rewards)


def gae(rewards, values, dones, gamma, lam):
    live = 1.0 - jnp.asarray(dones, jnp.float32)
    deltas = rewards + gamma * live * values[1:] - values[:-1]

    def step(next_adv, x):
        delta, alive = x
        adv = delta + gamma * lam * alive * next_adv
        return adv, adv

    return jax.lax.scan(step, 0.0, (deltas, live), reverse=True)[1]


def softmax_score(theta, s, a):
    return jnp.zeros_like(theta).at[s].set(jax.nn.one_hot(a, theta.shape[1]) - jax.nn.softmax(theta[s]))


def importance_weights(log_p, log_q):
    return jnp.exp(log_p - log_q)


def categorical_kl(logits_p, logits_q):
    log_p, log_q = jax.nn.log_softmax(logits_p), jax.nn.log_softmax(logits_q)
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def clipped_surrogate(ratio, advantage, eps):
    return jnp.minimum(ratio * advantage, jnp.clip(ratio, 1 - eps, 1 + eps) * advantage)


def conjugate_gradient(matvec, b, n_iters):
    x, r = jnp.zeros_like(b), b
    p, rr = r, r @ r
    for _ in range(n_iters):
        Ap = matvec(p)
        alpha = rr / (p @ Ap)
        x, r = x + alpha * p, r - alpha * Ap
        rr_new = r @ r
        p, rr = r + rr_new / rr * p, rr_new
    return x


def natural_step_size(grad, natural_grad, delta):
    return jnp.sqrt(2 * delta / (grad @ natural_grad))


def gradient_ascent(grad, theta0, step_size, n_steps):
    theta = theta0
    for _ in range(n_steps):
        theta = theta + step_size * grad(theta)
    return theta


def performance_difference(d_new, pi_new, advantage):
    return jnp.sum(d_new[..., None] * pi_new * advantage)


def reinforce_baseline_step(theta, states, actions, rewards, baseline, step_size):
    weights = jax.vmap(reward_to_go)(rewards) - baseline[jnp.arange(rewards.shape[1]), states]
    scores = jax.vmap(jax.vmap(softmax_score, (None, 0, 0)), (None, 0, 0))(theta, states, actions)  # "N H S A"
    return theta + step_size * jnp.einsum("nhsa,nh->sa", scores, weights) / rewards.shape[0]


def rloo_advantages(rewards):
    k = rewards.shape[-1]
    return rewards - (jnp.sum(rewards, axis=-1, keepdims=True) - rewards) / (k - 1)


def kl_k3(log_p, log_ref):
    log_rho = log_ref - log_p
    return jnp.exp(log_rho) - 1 - log_rho


SOLUTIONS = {f.__name__: f for f in (reward_to_go, discounted_return, gae, softmax_score, importance_weights,
                                     categorical_kl, clipped_surrogate, conjugate_gradient, natural_step_size,
                                     gradient_ascent, performance_difference, reinforce_baseline_step,
                                     rloo_advantages, kl_k3)}


def test_every_exercise_has_a_solution_here():
    assert set(SOLUTIONS) == set(EXERCISES)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_a_correct_solution_passes(name, capsys):
    check(name, SOLUTIONS[name])
    assert capsys.readouterr().out.strip().startswith(f"{name}: all ")


MISTAKES = [(name, i) for name, ex in sorted(EXERCISES.items()) for i in range(len(ex.mistakes))]


@pytest.mark.parametrize("name, i", MISTAKES)
def test_each_usual_mistake_fails_with_its_own_hint(name, i):
    ex = EXERCISES[name]
    mistake = ex.mistakes[i]
    # The first case on which this mistake gives a different answer is where check stops.
    for case in ex.cases():
        expected = np.asarray(ex.reference(*case.args), np.float64)
        wrong = np.asarray(mistake.answer(*case.args), np.float64)
        if not np.allclose(wrong, expected, rtol=1e-5, atol=1e-6):
            break
    else:
        pytest.fail(f"{name}: mistake {i} gives the right answer on every case: no case can catch it")
    with pytest.raises(ExerciseError) as raised:
        check(name, mistake.answer)
    message = str(raised.value)
    assert f"case '{case.name}'" in message
    assert mistake.hint(*case.args, wrong, expected) in message, message


def test_the_reward_to_go_hint_names_the_step_and_the_past_rewards():
    with pytest.raises(ExerciseError, match=r"at h = 1 your value includes r_0: the reward-to-go starts at r_1"):
        check("reward_to_go", lambda r: jnp.full_like(r, jnp.sum(r)))


def test_gae_that_bootstraps_across_an_episode_end_is_told_where():
    def no_stop(rewards, values, dones, gamma, lam):
        return gae(rewards, values, jnp.zeros_like(dones), gamma, lam)

    with pytest.raises(ExerciseError, match=r"ends at t = 1 \(dones\[1\]\), but your estimate bootstraps past it"):
        check("gae", no_stop)


def test_kl_in_the_wrong_direction_and_one_sided_clipping_are_named():
    with pytest.raises(ExerciseError, match="wrong direction"):
        check("categorical_kl", lambda p, q: categorical_kl(q, p))
    with pytest.raises(ExerciseError, match="1 - eps, 1 \\+ eps"):
        check("clipped_surrogate", lambda w, A, e: jnp.minimum(w * A, jnp.minimum(w, 1 + e) * A))


def test_an_unknown_mistake_gets_the_definition():
    with pytest.raises(ExerciseError, match=r"hint: expected G_h = r_h"):
        check("reward_to_go", lambda r: 2 * reward_to_go(r))


def test_a_wrong_shape_gets_its_own_message():
    with pytest.raises(ExerciseError, match=r"returned shape \(1,\), expected shape \(\)"):
        check("discounted_return", lambda r, g: discounted_return(r, g)[None])
    with pytest.raises(ExerciseError, match=r"returned shape \(\), expected shape \(3,\)"):
        check("reward_to_go", lambda r: jnp.sum(r))


def test_a_wrong_dtype_or_a_non_array_gets_its_own_message():
    with pytest.raises(ExerciseError, match="dtype bool"):
        check("importance_weights", lambda lp, lq: lp > lq)
    with pytest.raises(ExerciseError, match="returned integers"):
        check("importance_weights", lambda lp, lq: jnp.round(jnp.exp(lp - lq)).astype(jnp.int32))
    with pytest.raises(ExerciseError, match="not an array of numbers|dtype"):
        check("reward_to_go", lambda r: "done")


def test_an_unfinished_skeleton_is_told_to_return_something():
    def skeleton(rewards):
        ...  # your code here

    with pytest.raises(ExerciseError, match="returned None: finish it"):
        check("reward_to_go", skeleton)


def test_an_exception_in_the_students_code_is_reported_in_one_line():
    def broken(rewards):
        return rewards @ jnp.ones((2, 2))  # a shape error inside JAX

    with pytest.raises(ExerciseError, match=r"your function raised TypeError") as raised:
        check("reward_to_go", broken)
    assert "Traceback" not in str(raised.value) and raised.value.__cause__ is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="`name` must be one of the exercises"):
        check("reward-to-go", reward_to_go)
    with pytest.raises(TypeError, match="`fn` must be your function"):
        check("reward_to_go", "G")
