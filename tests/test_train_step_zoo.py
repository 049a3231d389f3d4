"""The one jitted step with the zoo's features switched on: stats, lazy penalties, labels, EMA.

A module-scoped fixture compiles one fused loop of a class-conditional DCGAN
(synced-BN G, spectrally normalised projection D, a gradient penalty every 2
D steps, DiffAugment, an EMA generator, clipping) once and runs three steps;
the tests read its states and metrics.
"""

import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import tiny
from gan_jax import state as state_lib
from gan_jax import train, train_step, vae

SHAPE = (12, 12, 1)


def _leaves_changed(a, b):
  return [not np.allclose(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))]


@pytest.fixture(scope="module")
def zoo():
  config = tiny.get_config()
  config.update(dict(model="dcgan", width=4, latent_dim=8, batch_size=8, loss="hinge",
                     conditioning="projection", num_classes=3, spectral_norm=True,
                     regularizer="gp", regularizer_weight=1.0, regularizer_every=2,
                     diffaugment="color,translation,cutout", g_ema_decay=0.5, grad_clip_norm=1.0))
  generator, discriminator, state = train.build(config, SHAPE)
  loop = train_step.make_train_loop(train.make_step(config, generator, discriminator),
                                    global_batch=8, d_steps=1, steps_per_call=1)
  loop = jax.jit(chex.assert_max_traces(loop, n=1))
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (40,) + SHAPE, np.uint8))
  labels = jnp.asarray(rng.integers(0, 3, 40), jnp.int32)
  key = jax.random.PRNGKey(1)
  states, metrics = [state], []
  for _ in range(3):
    new_state, m = loop(states[-1], {"image": images, "label": labels}, key)
    states.append(new_state)
    metrics.append(jax.tree.map(lambda v: float(v[0]), m))
  return types.SimpleNamespace(config=config, generator=generator, loop=loop, images=images,
                               labels=labels, key=key, states=states, metrics=metrics)


def test_stats_live_in_the_state_and_move(zoo):
  first, second = zoo.states[0], zoo.states[1]
  assert sorted(first.g_stats) == ["batch_stats"] and sorted(first.d_stats) == ["spectral"]
  assert int(zoo.states[-1].step) == 3 and all(m["finite"] == 1.0 for m in zoo.metrics)
  assert all(_leaves_changed(first.g.params, second.g.params)[:1])
  assert any(_leaves_changed(first.g_stats, second.g_stats))  # BN running averages.
  u_before = [v for k, v in jax.tree_util.tree_leaves_with_path(first.d_stats)
              if jax.tree_util.keystr(k).endswith("/u']")]
  u_after = [v for k, v in jax.tree_util.tree_leaves_with_path(second.d_stats)
             if jax.tree_util.keystr(k).endswith("/u']")]
  assert u_before and all(_leaves_changed(u_before, u_after))  # One power iteration per D step.


def test_lazy_penalty_runs_every_second_d_step(zoo):
  penalties = [m["d_penalty"] for m in zoo.metrics]
  assert penalties[0] > 0 and penalties[1] == 0 and penalties[2] > 0


def test_ema_follows_the_generator(zoo):
  for before, after in zip(zoo.states, zoo.states[1:]):
    expected = jax.tree.map(lambda e, p: 0.5 * e + 0.5 * p, before.g_ema, after.g.params)
    chex.assert_trees_all_close(after.g_ema, expected, rtol=1e-6)
  variables = state_lib.generator_variables(zoo.states[-1])
  assert variables["params"] is zoo.states[-1].g_ema["params"]
  assert sorted(variables) == ["batch_stats", "params"]


def test_labels_reach_both_players(zoo):
  _, same = zoo.loop(zoo.states[1], {"image": zoo.images, "label": zoo.labels}, zoo.key)
  _, other = zoo.loop(zoo.states[1], {"image": zoo.images, "label": (zoo.labels + 1) % 3},
                      zoo.key)
  assert float(same["d_loss"][0]) == zoo.metrics[1]["d_loss"]  # Deterministic.
  assert float(other["d_loss"][0]) != float(same["d_loss"][0])


def test_conditional_samples_one_class_per_row(zoo):
  state = zoo.states[-1]
  labels = train_step.grid_labels(3, 2)
  np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 2])
  z = jnp.tile(train_step.latents(jax.random.PRNGKey(2), 2, 8), (3, 1))
  sample = jax.jit(lambda v, z, y: train_step.generate(zoo.generator, v, z, y))
  images = np.asarray(sample(state_lib.generator_variables(state), z, labels))
  assert images.shape == (6,) + SHAPE
  assert not np.allclose(images[0:2], images[2:4])  # Same z, another class.
  view = state_lib.for_inference(state)  # What evaluators get: complete variables dicts.
  assert sorted(view.generator) == ["batch_stats", "params"]
  assert sorted(view.discriminator) == ["params", "spectral"]


def _blow_up_run(**overrides):
  """Max gradient norm over 20 steps of an unconstrained WGAN with SGD(lr=1): unstable."""
  config = tiny.get_config()
  config.update(dict(hidden_dims=(16, 16), latent_dim=4, batch_size=8, loss="wasserstein",
                     optimizer="sgd", g_learning_rate=1.0, d_learning_rate=1.0, **overrides))
  generator, discriminator, state = train.build(config, (6, 6, 1))
  loop = jax.jit(train_step.make_train_loop(train.make_step(config, generator, discriminator),
                                            global_batch=8, d_steps=1, steps_per_call=20))
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (32, 6, 6, 1), np.uint8))
  _, metrics = loop(state, {"image": images}, jax.random.PRNGKey(0))
  norms = np.maximum(np.asarray(metrics["d_grad_norm"]), np.asarray(metrics["g_grad_norm"]))
  return np.where(np.isfinite(norms), norms, np.inf).max()


def test_clipping_and_spectral_norm_keep_gradients_bounded():
  assert _blow_up_run() > 1e6  # Grows past 1e9, then NaN.
  assert _blow_up_run(grad_clip_norm=1.0) < 100  # Updates of norm <= lr * 1.
  assert _blow_up_run(spectral_norm=True) < 10  # D is 1-Lipschitz per layer.


def test_vae_terms_match_numpy():
  rng = np.random.default_rng(0)
  mean, log_var = rng.normal(size=(2, 4, 3)).astype(np.float32)
  np.testing.assert_allclose(
      vae.gaussian_kl(mean, log_var),
      0.5 * (np.exp(log_var) + mean ** 2 - 1 - log_var).sum(-1), rtol=1e-5)
  logits = rng.normal(size=(4, 2, 2, 1)).astype(np.float32) * 3
  images = rng.uniform(-1, 1, (4, 2, 2, 1)).astype(np.float32)
  t, p = (images + 1) / 2, 1 / (1 + np.exp(-logits.astype(np.float64)))
  expected = -(t * np.log(p) + (1 - t) * np.log(1 - p)).reshape(4, -1).sum(-1)
  np.testing.assert_allclose(jax.jit(vae.bernoulli_nll)(logits, images), expected, rtol=1e-5)


def test_vae_step_lowers_the_negative_elbo():
  config = tiny.get_config()
  config.update(dict(model="vae", hidden_dims=(32,), latent_dim=4, batch_size=16,
                     g_learning_rate=3e-3, d_learning_rate=3e-3))
  decoder, encoder, state = train.build(config, (6, 6, 1))
  loop = jax.jit(train_step.make_train_loop(train.make_step(config, decoder, encoder),
                                            global_batch=16, d_steps=1, steps_per_call=60))
  images = np.zeros((64, 6, 6, 1), np.uint8)
  images[::2, 1:5, 2:4] = 255  # Two kinds of images: a bar, or blank.
  _, metrics = loop(state, {"image": jnp.asarray(images)}, jax.random.PRNGKey(0))
  loss = np.asarray(metrics["loss"])
  assert np.all(np.isfinite(loss)) and loss[-10:].mean() < 0.5 * loss[:10].mean()
  np.testing.assert_allclose(loss, metrics["reconstruction"] + metrics["kl"], rtol=1e-5)
  # Its own names: no GAN slot names for the encoder's and decoder's gradients.
  assert {"decoder_grad_norm", "encoder_grad_norm"} <= set(metrics)
  assert not {"g_grad_norm", "d_grad_norm"} & set(metrics)


def test_game_optimizer_step_with_stats_penalty_and_ema():
  # The joint step of a game optimizer reads the same options as the alternating one.
  config = tiny.get_config()
  config.update(dict(hidden_dims=(8,), latent_dim=4, batch_size=8,
                     game_optimizer="simultaneous_gda",
                     spectral_norm=True, regularizer="r1", regularizer_weight=1.0,
                     regularizer_every=2, g_ema_decay=0.9))
  generator, discriminator, state = train.build(config, (4, 4, 1))
  loop = jax.jit(train_step.make_train_loop(train.make_step(config, generator, discriminator),
                                            global_batch=8, d_steps=1, steps_per_call=2))
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (16, 4, 4, 1), np.uint8))
  new_state, metrics = loop(state, {"image": images}, jax.random.PRNGKey(0))
  assert np.all(np.asarray(metrics["finite"]) == 1.0) and int(new_state.step) == 2
  assert any(_leaves_changed(state.d_stats, new_state.d_stats))
  assert any(_leaves_changed(state.g_ema, new_state.g_ema))
  # The lazy penalty is reported on the steps that apply it, 0 on the others.
  penalty = np.asarray(metrics["d_penalty"])
  assert penalty[0] > 0 and penalty[1] == 0
