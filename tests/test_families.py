"""Model families: the VAE in its own state; a family a user registers runs through the engine."""

import dataclasses

import jax
import numpy as np
import pytest

from experiments.configs import vae as vae_config
from gan_jax import config as config_lib, evaluation, families, networks, train, vae
from gan_jax.errors import UserError
from gan_jax.data import Dataset


def _small_vae():
  config = vae_config.get_config()
  config.update(dict(hidden_dims=(16,), latent_dim=4, batch_size=8))
  return config


def test_vae_state_names_its_networks_and_has_no_critic():
  config = _small_vae()
  assert families.for_config(config) is families.get("vae")
  decoder, encoder, state = train.build(config, (6, 6, 1))
  assert isinstance(state, vae.VAEState)
  assert {f.name for f in dataclasses.fields(state)} == {"step", "rng", "decoder", "encoder"}
  view = families.get("vae").inference(state)
  assert view.discriminator is None and view.generator is state.decoder.params
  images = decoder.apply(view.generator, np.zeros((2, 4), np.float32))
  assert images.shape == (2, 6, 6, 1)
  means, _ = encoder.apply(state.encoder.params, images)
  assert means.shape == (2, 4)
  # Without a critic the evaluation has no d_real/d_fake (the encoder is not one).
  dataset = Dataset("npz:blobs.npz", np.random.default_rng(0).integers(
      0, 256, (40, 6, 6, 1), dtype=np.uint8))
  config.eval_features = "pixels"
  evaluate = evaluation.make_evaluator(config, generator=decoder, discriminator=encoder,
                                       dataset=dataset, key=jax.random.PRNGKey(0), num_samples=16)
  assert not set(evaluation.D_METRICS) & set(evaluate(view))


@pytest.fixture
def restore_registries(monkeypatch):
  for reg in (families._REGISTRY, networks._REGISTRY):  # pylint: disable=protected-access
    monkeypatch.setattr(reg, "_entries", dict(reg._entries))  # pylint: disable=protected-access


def test_a_registered_family_trains_through_the_engine(tiny_config, tmp_path, restore_registries):
  # A GAN variant whose step also reports how far G moved: one Family, one
  # network entry naming it, and train_and_evaluate runs it unchanged.
  gan = families.get("gan")

  def make_step(config, generator, discriminator, axis_name):
    step = gan.make_step(config, generator, discriminator, axis_name)

    def counted(state, batch):
      new_state, metrics = step(state, batch)
      moved = jax.tree.map(lambda a, b: jax.numpy.sum(jax.numpy.abs(a - b)),
                           new_state.g.params, state.g.params)
      return new_state, dict(metrics, g_moved=sum(jax.tree.leaves(moved)))

    return counted

  # It also names g_moved as one of its losses: the summary then holds it.
  families.register("user_gan", dataclasses.replace(
      gan, make_step=make_step, loss_keys=("d_loss", "g_loss", "g_moved")))
  mlp = networks.get("mlp")
  networks.register("user_mlp", mlp.make_generator, mlp.make_discriminator, family="user_gan")
  tiny_config.model = "user_mlp"
  tiny_config.num_steps = 10
  tiny_config.eval_every = 0
  summary = train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert summary["step"] == 10 and summary["g_moved"] > 0
  log = open(tmp_path / "run" / "metrics.jsonl").read()
  assert '"g_moved"' in log
  assert train.progress_line(10, 20, {"d_loss": 1.0, "g_moved": 0.5, "steps_per_sec": 2.0},
                             ("d_loss", "g_loss", "g_moved")) == (
                                 "step 10/20  d_loss 1  g_moved 0.5  2.0 steps/s  ETA 0:00:05")


def test_unknown_family_is_named(tiny_config, restore_registries):
  with pytest.raises(ValueError, match="model family 'nope'"):
    families.get("nope")
  mlp = networks.get("mlp")
  networks.register("orphan_mlp", mlp.make_generator, mlp.make_discriminator, family="nope")
  tiny_config.model = "orphan_mlp"
  with pytest.raises(UserError, match="config.model='orphan_mlp' is trained by model family "
                                      "'nope': unknown model family 'nope'"):
    config_lib.validate(tiny_config)


def test_vae_run_samples_from_its_decoder(tmp_path):
  from experiments import sample  # pylint: disable=g-import-not-at-top
  config = _small_vae()
  config.update(dict(dataset="mnist_5k", num_steps=4, steps_per_call=2, log_every=2,
                     eval_every=0, sample_every=0, checkpoint_every=0, progress_bar=False))
  workdir = str(tmp_path / "vae")
  summary = train.train_and_evaluate(config, workdir)
  assert summary["step"] == 4 and summary["loss"] > 0
  done = sample.sample(workdir, "latest", 6, str(tmp_path / "s.npz"), 0, None)
  assert done["step"] == 4 and done["ema"] is False and done["shape"] == (6, 28, 28, 1)
  images = np.load(tmp_path / "s.npz")["images"]
  assert images.dtype == np.uint8 and images.std() > 0
