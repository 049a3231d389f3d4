"""The one registry of game optimizers, selected by name::

    opt = gan_jax.games.get("cgd", lr=1e-2, cg_tol=1e-6)

Hyperparameters are the keyword arguments of each factory; ``defaults(name)``
lists them with their default values.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

from gan_jax.games.base import GameOptimizer
from gan_jax.games.cgd import acgd, cgd
from gan_jax.games.consensus import consensus
from gan_jax.games.first_order import (alternating_gda, extra_adam, extragradient,
                                       optimistic_gda, simultaneous_gda)
from gan_jax.games.lookahead import lookahead
from gan_jax.games.sga import sga
from gan_jax.games.unrolled import unrolled
from gan_jax.registry import Registry

Factory = Callable[..., GameOptimizer]

_REGISTRY: Registry[Factory] = Registry("game optimizer")


def register(name: str, factory: Optional[Factory] = None, *, overwrite: bool = False):
  """Adds ``factory`` (keyword hyperparameters -> GameOptimizer) under ``name``.

  Without ``factory`` it returns a decorator (``@games.register(name)``).
  """
  return _REGISTRY.register(name, factory, overwrite=overwrite)


def names() -> list[str]:
  """The registered names, sorted."""
  return _REGISTRY.names()


def _factory(name: str) -> Factory:
  return _REGISTRY.get(name)


def defaults(name: str) -> dict[str, Any]:
  """The hyperparameters of ``name`` with their default values."""
  params = inspect.signature(_factory(name)).parameters.values()
  return {p.name: p.default for p in params}


def get(name: str, **hparams: Any) -> GameOptimizer:
  """Builds the game optimizer registered as ``name``.

  Args:
    name: one of ``names()``.
    **hparams: hyperparameters; the rest keep their defaults.

  Returns:
    The GameOptimizer.

  Raises:
    ValueError: for an unknown name, an unknown hyperparameter or an invalid
      value.
  """
  allowed = defaults(name)
  unknown = sorted(set(hparams) - set(allowed))
  if unknown:
    raise ValueError(
        f"unknown hyperparameter{'s' if len(unknown) > 1 else ''} "
        f"{', '.join(map(repr, unknown))} for game optimizer {name!r}; "
        f"allowed: {', '.join(allowed) or '(none)'}")
  return _factory(name)(**hparams)


register("simultaneous_gda", simultaneous_gda)
register("alternating_gda", alternating_gda)
register("extragradient", extragradient)
register("extra_adam", extra_adam)
register("optimistic_gda", optimistic_gda)
register("consensus", consensus)
register("sga", sga)
register("unrolled", unrolled)
register("lookahead", lookahead)
register("cgd", cgd)
register("acgd", acgd)
