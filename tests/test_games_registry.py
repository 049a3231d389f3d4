"""The game-optimizer registry: names, hyperparameters and their validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gan_jax.games as games
from gan_jax.games.base import GameOptimizer

_EXPECTED = {"simultaneous_gda", "alternating_gda", "extragradient", "extra_adam",
             "optimistic_gda", "consensus", "sga", "unrolled", "lookahead", "cgd", "acgd"}


def _game(x, y):
  return jnp.sum(jnp.tanh(x["a"]) * y) + 0.5 * x["b"] ** 2 - 0.1 * jnp.sum(y ** 2)


def _neg_game(x, y):
  return -_game(x, y)


def test_names_lists_every_optimizer():
  assert set(games.names()) == _EXPECTED
  assert games.names() == sorted(games.names())


@pytest.mark.parametrize("name", sorted(_EXPECTED))
def test_every_name_builds_and_steps_with_defaults(name):
  opt = games.get(name)
  assert isinstance(opt, GameOptimizer)
  assert games.get(name, **games.defaults(name)) is not None  # defaults round-trip
  x = {"a": jnp.array([0.5, -0.2]), "b": jnp.array(0.3)}
  y = jnp.array([0.1, 0.4])
  state = opt.init(x, y)
  # A train step donates params and optimizer state together: no shared buffers.
  param_ids = {id(leaf) for leaf in jax.tree.leaves((x, y))}
  assert not param_ids & {id(leaf) for leaf in jax.tree.leaves(state)}
  new_x, new_y, new_state, metrics = jax.jit(
      lambda x, y, s: opt.step(_game, _neg_game, x, y, s))(x, y, state)
  assert jax.tree.structure(new_x) == jax.tree.structure(x)
  assert jax.tree.structure(new_state) == jax.tree.structure(state)
  assert new_y.shape == y.shape and new_y.dtype == jnp.float32
  assert np.abs(np.asarray(new_y) - np.asarray(y)).max() > 0  # the step moved y
  assert {"loss_x", "loss_y", "grad_norm_x", "grad_norm_y"} <= set(metrics)
  for key, value in metrics.items():
    assert jnp.shape(value) == (), key
    assert np.isfinite(float(value)), key


def test_unknown_name():
  with pytest.raises(ValueError, match=r"unknown game optimizer 'foo'; known: .*cgd"):
    games.get("foo")


def test_unknown_hyperparameter_names_what_is_allowed():
  with pytest.raises(ValueError) as err:
    games.get("cgd", learning_rate=0.1)
  message = str(err.value)
  assert "'learning_rate'" in message and "cgd" in message
  for allowed in games.defaults("cgd"):
    assert allowed in message
  assert "\n" not in message


@pytest.mark.parametrize("name,hparams,fragment", [
    ("simultaneous_gda", dict(lr_x=0.0), "lr_x"),
    ("alternating_gda", dict(lr_y=-1.0), "lr_y"),
    ("extragradient", dict(lr_x="fast"), "lr_x"),
    ("extra_adam", dict(b2=1.0), "b2"),
    ("extra_adam", dict(eps=0.0), "eps"),
    ("optimistic_gda", dict(lr_x=float("nan")), "lr_x"),
    ("consensus", dict(gamma=-0.1), "gamma"),
    ("sga", dict(align="yes"), "align"),
    ("sga", dict(epsilon=-1.0), "epsilon"),
    ("unrolled", dict(unroll_steps=-1), "unroll_steps"),
    ("unrolled", dict(unroll_steps=2.5), "unroll_steps"),
    ("lookahead", dict(k=0), "k"),
    ("lookahead", dict(alpha=0.0), "alpha"),
    ("lookahead", dict(inner="nope"), "unknown game optimizer 'nope'"),
    ("lookahead", dict(inner_hparams=dict(lr=0.1)), "unknown hyperparameter 'lr'"),
    ("lookahead", dict(inner=games.get("cgd"), inner_hparams=dict(lr=0.1)), "inner_hparams"),
    ("lookahead", dict(inner_hparams=[("lr_x", 0.1)]), "inner_hparams"),
    ("cgd", dict(lr=0), "lr"),
    ("cgd", dict(cg_tol=0.0), "cg_tol"),
    ("cgd", dict(cg_max_iters=0), "cg_max_iters"),
    ("cgd", dict(warm_start=1), "warm_start"),
    ("cgd", dict(solve_for="z"), "solve_for"),
    ("acgd", dict(beta2=-0.1), "beta2"),
    ("acgd", dict(zero_sum="no"), "zero_sum"),
])
def test_invalid_hyperparameter_values(name, hparams, fragment):
  with pytest.raises(ValueError) as err:
    games.get(name, **hparams)
  assert fragment in str(err.value)
  assert "\n" not in str(err.value)


def test_register_refuses_to_overwrite():
  with pytest.raises(ValueError, match="already registered"):
    games.register("cgd", games.get)
  assert games.defaults("cgd")["lr"] == pytest.approx(1e-2)  # untouched
