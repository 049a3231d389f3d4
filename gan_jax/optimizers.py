"""Per-player optax optimizers, selected by ``config.optimizer``.

Each player gets its own optimizer built from the shared config keys
(``g_learning_rate``/``d_learning_rate``, ``adam_b1``, ``adam_b2``); the
learning rates follow ``config.lr_schedule`` (``gan_jax.schedules``). Adam with
lr 2e-4 and beta1 0.5 is the DCGAN setting (Radford et al. 2016) that the seed
MLP GAN uses too.
"""

from __future__ import annotations

from typing import Callable, Optional

import ml_collections
import optax

from gan_jax import schedules
from gan_jax.registry import Registry

# (learning rate: a float or an optax schedule, config) -> optimizer.
Factory = Callable[[optax.ScalarOrSchedule, ml_collections.ConfigDict],
                   optax.GradientTransformation]

_REGISTRY: Registry[Factory] = Registry("optimizer")


def register(name: str, factory: Optional[Factory] = None, *, overwrite: bool = False):
  """Adds ``factory(learning_rate, config) -> optax.GradientTransformation`` as ``name``.

  Without ``factory`` it returns a decorator (``@optimizers.register(name)``).

  ``config.optimizer=name`` then builds each player's optimizer with it (the
  learning rate is a float or an optax schedule, see ``for_player``).
  """
  return _REGISTRY.register(name, factory, overwrite=overwrite)


def names() -> list[str]:
  """The registered optimizer names, sorted."""
  return _REGISTRY.names()


def get(name: str) -> Factory:
  """The factory ``name``; ValueError listing the known optimizers otherwise."""
  return _REGISTRY.get(name)


register("adam", lambda lr, c: optax.adam(lr, b1=c.adam_b1, b2=c.adam_b2))
register("sgd", lambda lr, c: optax.sgd(lr))
register("rmsprop", lambda lr, c: optax.rmsprop(lr))


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
