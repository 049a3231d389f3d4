"""Per-player optax optimizers, selected by ``config.optimizer``.

Each player gets its own optimizer built from the shared config keys
(``g_learning_rate``/``d_learning_rate``, ``adam_b1``, ``adam_b2``); the
learning rates follow ``config.lr_schedule`` (``gan_jax.schedules``). Adam with
lr 2e-4 and beta1 0.5 is the DCGAN setting (Radford et al. 2016) that the seed
MLP GAN uses too.
"""

from __future__ import annotations

from typing import Callable

import ml_collections
import optax

from gan_jax import schedules

# (learning rate: a float or an optax schedule, config) -> optimizer.
Factory = Callable[[optax.ScalarOrSchedule, ml_collections.ConfigDict],
                   optax.GradientTransformation]

_REGISTRY: dict[str, Factory] = {
    "adam": lambda lr, c: optax.adam(lr, b1=c.adam_b1, b2=c.adam_b2),
    "sgd": lambda lr, c: optax.sgd(lr),
    "rmsprop": lambda lr, c: optax.rmsprop(lr),
}


def names() -> list[str]:
  return sorted(_REGISTRY)


def get(name: str) -> Factory:
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(f"unknown optimizer {name!r}; known optimizers: {', '.join(names())}") from None


def for_player(config: ml_collections.ConfigDict, player: str) -> optax.GradientTransformation:
  """The optax optimizer of ``player`` ('g' or 'd').

  With ``config.grad_clip_norm`` > 0 the gradient is first rescaled so its
  global norm is at most that value (Pascanu et al. 2013, "On the difficulty
  of training recurrent neural networks", Algorithm 1). Under pmap the step
  clips the device-averaged gradient, so every device clips alike.
  """
  learning_rate = {"g": config.g_learning_rate, "d": config.d_learning_rate}[player]
  # D takes d_steps_per_g_step optax updates per generator step.
  learning_rate = schedules.make(config, learning_rate,
                                 config.d_steps_per_g_step if player == "d" else 1)
  tx = get(config.optimizer)(learning_rate, config)
  if config.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)
  return tx
