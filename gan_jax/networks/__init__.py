"""Generator and discriminator architectures, selected by ``config.model``.

One registry maps a model name to a ``(make_generator, make_discriminator)``
pair of factories; each factory takes the config and the data's image shape
and returns a Flax linen module. The modules are only ever used through their
pure ``init``/``apply`` functions.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import flax.linen as nn
import ml_collections

from gan_jax.networks import mlp

ModuleFactory = Callable[[ml_collections.ConfigDict, tuple[int, ...]], nn.Module]


class Architecture(NamedTuple):
  make_generator: ModuleFactory
  make_discriminator: ModuleFactory


_REGISTRY: dict[str, Architecture] = {}


def register(name: str, make_generator: ModuleFactory, make_discriminator: ModuleFactory,
             *, overwrite: bool = False) -> None:
  if name in _REGISTRY and not overwrite:
    raise ValueError(f"model {name!r} is already registered; pass overwrite=True to replace it")
  _REGISTRY[name] = Architecture(make_generator, make_discriminator)


def get(name: str) -> Architecture:
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(f"unknown model {name!r}; known models: {', '.join(names())}") from None


def names() -> list[str]:
  return sorted(_REGISTRY)


register(
    "mlp",
    lambda config, image_shape: mlp.MLPGenerator(
        hidden_dims=tuple(config.hidden_dims), image_shape=image_shape,
        negative_slope=config.leaky_relu_slope),
    lambda config, image_shape: mlp.MLPDiscriminator(
        hidden_dims=tuple(config.hidden_dims), negative_slope=config.leaky_relu_slope),
)
