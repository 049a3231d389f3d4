"""Model families: what the training engine needs from a kind of model.

``gan_jax.train.train_and_evaluate`` runs every family the same way: it
builds the family's modules and state, compiles its pure step into the
fused loop, checkpoints the state, and samples and evaluates through the
family's inference view (``gan_jax.state.Inference``). A network
(``gan_jax.networks.register``) names the family that trains it.

Two are registered: ``gan`` (the generator and discriminator, updated by
per-player optax optimizers or a game optimizer; ``gan_jax.train_step``) and
``vae`` (the VAE baseline's decoder and encoder on the ELBO;
``gan_jax.vae``). A new family is one ``register`` call.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import ml_collections

from gan_jax import augment, games, losses, networks, optimizers, regularizers, schedules
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from gan_jax import vae
from gan_jax.errors import UserError
from gan_jax.registry import Registry


@dataclasses.dataclass(frozen=True)
class Family:
  """A model family's parts.

  Attributes:
    init_state: ``(config, generator, discriminator, image_shape) -> state``,
      the initial state pytree (its step at ``state.step``).
    make_step: ``(config, generator, discriminator, axis_name) -> step``,
      the pure ``step(state, batch) -> (state, metrics)``.
    inference: ``state -> Inference``, what samplers and evaluators read.
    params_sha256: ``state -> str``, the hash of the trained parameters.
    has_critic: whether ``Inference.discriminator`` exists (D's metrics).
    loss_keys: the step metrics a run reports as its losses: the progress
      line, the non-finite error, ``summary.json`` and ``losses.png``.
    neutral_settings: config keys that do not apply, with the values that
      switch them off (``gan_jax.config`` refuses others).
  """

  init_state: Callable[..., Any]
  make_step: Callable[..., train_step_lib.TrainStep]
  inference: Callable[[Any], state_lib.Inference]
  params_sha256: Callable[[Any], str]
  has_critic: bool = True
  loss_keys: tuple[str, ...] = ("d_loss", "g_loss")
  neutral_settings: dict = dataclasses.field(default_factory=dict)


_REGISTRY: Registry[Family] = Registry("model family")


def register(name: str, family: Family, *, overwrite: bool = False) -> Family:
  """Adds the family ``name`` (named by networks' ``register(..., family=name)``)."""
  return _REGISTRY.register(name, family, overwrite=overwrite)


def get(name: str) -> Family:
  return _REGISTRY.get(name)


def for_config(config: ml_collections.ConfigDict) -> Family:
  """The family that trains ``config.model``.

  Raises:
    UserError: the model names a family that is not registered.
  """
  name = networks.get(config.model).family
  try:
    return get(name)
  except ValueError as e:
    raise UserError(f"config.model={config.model!r} is trained by model family {name!r}: "
                    f"{e}") from None


def game_optimizer(config: ml_collections.ConfigDict) -> Optional[games.GameOptimizer]:
  """The config's game-aware optimizer, or None for per-player optax optimizers."""
  if config.game_optimizer == "none":
    return None
  # The learning rates under config.lr_schedule (unchanged for 'constant').
  return games.get(config.game_optimizer, **schedules.game_hparams(config))


def step_options(config: ml_collections.ConfigDict) -> train_step_lib.StepOptions:
  """The config's regularizer, augmentation, conditioning and EMA settings."""
  return train_step_lib.StepOptions(
      num_classes=networks.num_classes(config),
      aux_classifier=networks.has_aux_classifier(config),
      aux_classifier_weight=config.aux_classifier_weight,
      aux_classifier_on_fakes=config.aux_classifier_on_fakes,
      regularizer=None if config.regularizer == "none" else regularizers.get(config.regularizer),
      regularizer_weight=config.regularizer_weight,
      regularizer_every=config.regularizer_every,
      augment=augment.parse_policy(config.diffaugment),
      ema_decay=config.g_ema_decay)


def _init_key(config: ml_collections.ConfigDict) -> jax.Array:
  return jax.random.fold_in(jax.random.PRNGKey(config.seed), 0)


def _gan_state(config: ml_collections.ConfigDict, generator: nn.Module,
               discriminator: nn.Module, image_shape: tuple[int, ...]) -> state_lib.GANState:
  return state_lib.create(
      rng=_init_key(config), generator=generator, discriminator=discriminator,
      g_tx=optimizers.for_player(config, "g"), d_tx=optimizers.for_player(config, "d"),
      latent_dim=config.latent_dim, image_shape=image_shape, game=game_optimizer(config),
      num_classes=networks.num_classes(config), ema=config.g_ema_decay > 0)


def _gan_step(config: ml_collections.ConfigDict, generator: nn.Module, discriminator: nn.Module,
              axis_name: Optional[str]) -> train_step_lib.TrainStep:
  return train_step_lib.make_train_step(
      generator=generator, discriminator=discriminator,
      loss=losses.get(config.loss, label_smoothing=config.label_smoothing, axis_name=axis_name),
      latent_dim=config.latent_dim, axis_name=axis_name, game=game_optimizer(config),
      options=step_options(config))


def _vae_state(config: ml_collections.ConfigDict, decoder: nn.Module, encoder: nn.Module,
               image_shape: tuple[int, ...]) -> vae.VAEState:
  return vae.create_state(
      rng=_init_key(config), decoder=decoder, encoder=encoder,
      decoder_tx=optimizers.for_player(config, "g"), encoder_tx=optimizers.for_player(config, "d"),
      latent_dim=config.latent_dim, image_shape=image_shape)


def _vae_step(config: ml_collections.ConfigDict, decoder: nn.Module, encoder: nn.Module,
              axis_name: Optional[str]) -> train_step_lib.TrainStep:
  return vae.make_train_step(encoder=encoder, decoder=decoder, latent_dim=config.latent_dim,
                             axis_name=axis_name)


register("gan", Family(init_state=_gan_state, make_step=_gan_step,
                       inference=state_lib.for_inference, params_sha256=state_lib.params_sha256))
register("vae", Family(init_state=_vae_state, make_step=_vae_step, inference=vae.inference,
                       params_sha256=vae.params_sha256, has_critic=False, loss_keys=("loss",),
                       neutral_settings=vae.NEUTRAL_SETTINGS))
