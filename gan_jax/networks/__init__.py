"""Generator and discriminator architectures, selected by ``config.model``.

One registry maps a model name to a ``(make_generator, make_discriminator)``
pair of factories; each factory takes the config and the data's image shape
and returns a Flax linen module, or raises ValueError for a config or shape
it cannot build (``check`` turns that into a one-line error before a run
starts). The modules are only ever used through their pure ``init``/``apply``
functions. The calling convention (``gan_jax.train_step`` passes each keyword
only to modules that need it):

- G: ``(z, labels=None, train=False) -> images``. ``labels`` for a
  conditional run; ``train`` for a generator with batch norm (then its
  ``batch_stats`` are updated in train mode). A field ``axis_name`` is set to
  the pmap axis so batch statistics are computed over all devices.
- D: ``(x, labels=None, update_stats=False, with_class_logits=False) ->
  logits [B]``. ``update_stats`` for spectral norm (store the power
  iteration), ``with_class_logits`` for ACGAN (then it returns
  ``(logits, class_logits)``).

Models: ``mlp`` (the seed's), ``dcgan`` (Radford et al. 2016),
``sngan_resnet`` (Miyato et al. 2018), ``vae`` (the VAE baseline's decoder
and encoder, trained by ``gan_jax.vae``).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import flax.linen as nn
import ml_collections

from gan_jax.networks import dcgan, layers, mlp, resnet, toy2d, vae
from gan_jax.registry import Registry

ModuleFactory = Callable[[ml_collections.ConfigDict, tuple[int, ...]], nn.Module]


class Architecture(NamedTuple):
  make_generator: ModuleFactory
  make_discriminator: ModuleFactory
  family: str = "gan"  # The gan_jax.families entry that trains it.


_REGISTRY: Registry[Architecture] = Registry("model")


def register(name: str, make_generator: ModuleFactory, make_discriminator: ModuleFactory,
             family: str = "gan", *, overwrite: bool = False) -> None:
  """Adds the model ``name`` (``config.model``).

  Args:
    name: the ``config.model`` that selects it.
    make_generator: ``(config, image_shape) -> module``, the sampler (z -> x).
    make_discriminator: ``(config, image_shape) -> module``, the second
      network (the VAE's encoder).
    family: the model family that trains the pair (``gan_jax.families``).
    overwrite: replace an existing entry of that name.
  """
  _REGISTRY.register(name, Architecture(make_generator, make_discriminator, family),
                     overwrite=overwrite)


def get(name: str) -> Architecture:
  """The factories of model ``name``; ValueError listing the known models otherwise."""
  return _REGISTRY.get(name)


def names() -> list[str]:
  """The registered model names, sorted."""
  return _REGISTRY.names()


def check(config: ml_collections.ConfigDict, image_shape: tuple[int, ...]) -> None:
  """Raises ValueError if ``config.model`` cannot be built for ``image_shape``."""
  architecture = get(config.model)
  architecture.make_generator(config, image_shape)
  architecture.make_discriminator(config, image_shape)


def _unconditional(name: str, config: ml_collections.ConfigDict) -> None:
  if config.conditioning != "none":
    raise ValueError(f"model {name!r} is unconditional; config.conditioning="
                     f"{config.conditioning!r} needs 'dcgan' or 'sngan_resnet'")


def _image_shape(name: str, image_shape) -> None:
  if len(image_shape) != 3:
    raise ValueError(f"model {name!r} needs [H, W, C] images, got examples of shape "
                     f"{tuple(image_shape)}; points need config.model='toy2d'")


def _mlp_generator(config, image_shape):
  _unconditional("mlp", config)
  _image_shape("mlp", image_shape)
  return mlp.MLPGenerator(hidden_dims=tuple(config.hidden_dims), image_shape=image_shape,
                          negative_slope=config.leaky_relu_slope)


def _mlp_discriminator(config, image_shape):
  _unconditional("mlp", config)
  return mlp.MLPDiscriminator(hidden_dims=tuple(config.hidden_dims),
                              negative_slope=config.leaky_relu_slope,
                              spectral_norm=config.spectral_norm)


def _points(config, image_shape) -> None:
  _unconditional("toy2d", config)
  if len(image_shape) != 1:
    raise ValueError(f"model 'toy2d' takes points (e.g. config.dataset='mixture:grid'), got "
                     f"examples of shape {tuple(image_shape)}; images need 'mlp' or 'dcgan'")
  if config.spectral_norm:
    raise ValueError("model 'toy2d' has no spectral normalisation; set config.spectral_norm=False")


def _toy2d_generator(config, image_shape):
  _points(config, image_shape)
  return toy2d.Toy2DGenerator(hidden_dims=tuple(config.hidden_dims), out_dim=image_shape[0],
                              negative_slope=config.leaky_relu_slope)


def _toy2d_discriminator(config, image_shape):
  _points(config, image_shape)
  return toy2d.Toy2DDiscriminator(hidden_dims=tuple(config.hidden_dims),
                                  negative_slope=config.leaky_relu_slope)


def num_classes(config: ml_collections.ConfigDict) -> int:
  """The classes G and D are conditioned on; 0 for an unconditional run."""
  return 0 if config.conditioning == "none" else config.num_classes


def has_aux_classifier(config: ml_collections.ConfigDict) -> bool:
  """Whether D has an auxiliary class head (ACGAN) the step must train."""
  return config.conditioning == "acgan"


def _conv_shape(image_shape) -> tuple[int, int, int]:
  if len(image_shape) != 3:
    raise ValueError(f"convolutional models need [H, W, C] images, got shape {image_shape}")
  return tuple(image_shape)


def _dcgan_generator(config, image_shape):
  image_shape = _conv_shape(image_shape)
  dcgan.num_upsamplings(*image_shape[:2])
  return dcgan.DCGANGenerator(image_shape=image_shape, width=config.width,
                              upsample=config.upsample, num_classes=num_classes(config),
                              conv_impl=config.conv_impl)


def _dcgan_discriminator(config, image_shape):
  dcgan.num_upsamplings(*_conv_shape(image_shape)[:2])
  return dcgan.DCGANDiscriminator(width=config.width, spectral_norm=config.spectral_norm,
                                  conditioning=config.conditioning,
                                  num_classes=num_classes(config),
                                  negative_slope=config.leaky_relu_slope,
                                  conv_impl=config.conv_impl)


def _resnet_generator(config, image_shape):
  image_shape = _conv_shape(image_shape)
  resnet.check_shape(image_shape)
  return resnet.ResNetGenerator(image_shape=image_shape, width=config.width,
                                upsample=config.upsample, num_classes=num_classes(config),
                                conv_impl=config.conv_impl)


def _resnet_discriminator(config, image_shape):
  resnet.check_shape(_conv_shape(image_shape))
  return resnet.ResNetDiscriminator(width=config.width, spectral_norm=config.spectral_norm,
                                    conditioning=config.conditioning,
                                    num_classes=num_classes(config), conv_impl=config.conv_impl)


def _vae_decoder(config, image_shape):
  _unconditional("vae", config)
  return vae.VAEDecoder(hidden_dims=tuple(config.hidden_dims), image_shape=image_shape,
                        negative_slope=config.leaky_relu_slope)


def _vae_encoder(config, image_shape):
  _unconditional("vae", config)
  return vae.VAEEncoder(hidden_dims=tuple(config.hidden_dims), latent_dim=config.latent_dim,
                        negative_slope=config.leaky_relu_slope)


register("mlp", _mlp_generator, _mlp_discriminator)
register("dcgan", _dcgan_generator, _dcgan_discriminator)
register("sngan_resnet", _resnet_generator, _resnet_discriminator)
register("vae", _vae_decoder, _vae_encoder, family="vae")
register("toy2d", _toy2d_generator, _toy2d_discriminator)

CONDITIONING = layers.CONDITIONING
