"""The interface every game optimizer implements, and small pytree helpers.

A GAN is a two-player game. Player ``x`` (the generator's parameters, any
pytree) minimises ``loss_x(x, y)``; player ``y`` (the discriminator's
parameters) minimises ``loss_y(x, y)``. In the zero-sum case
``loss_y = -loss_x``. A game optimizer moves both players at once::

    opt = gan_jax.games.get("cgd", lr=1e-2)
    state = opt.init(x, y)
    x, y, state, metrics = opt.step(loss_x, loss_y, x, y, state)

``loss_x`` and ``loss_y`` are closures that already hold the batch and the
noise; each returns a scalar. ``step`` is pure and can be jitted (the losses
are Python callables, so close over them, or pass them as static arguments).

The ``reduce`` argument of ``step`` is applied to every quantity the optimizer
derives from the losses: loss values, gradients, Hessian-vector products,
Jacobian-vector products. Under ``pmap`` the training loop passes
``lambda t: jax.lax.pmean(t, "batch")``. Every such quantity is linear in the
loss, so the mean over devices of each product equals the product computed
from the mean loss, and a step on a batch split over devices matches the step
on the whole batch. ``reduce`` is applied leaf by leaf, so it only has to
accept arrays.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

Params = Any
OptState = Any
Metrics = dict[str, jax.Array]
LossFn = Callable[[Params, Params], jax.Array]
Reduce = Callable[[jax.Array], jax.Array]


def identity(t: jax.Array) -> jax.Array:
  """The default ``reduce``: one device, nothing to average."""
  return t


class GameOptimizer(NamedTuple):
  """A pair of pure functions that train both players of a game.

  Attributes:
    init: ``(x, y) -> state``; the state is a pytree.
    step: ``(loss_x, loss_y, x, y, state, reduce=identity) ->
      (new_x, new_y, new_state, metrics)`` where metrics is a dict of scalar
      arrays.
  """

  init: Callable[[Params, Params], OptState]
  step: Callable[..., tuple[Params, Params, OptState, Metrics]]


# ----------------------------------------------------------------------------
# Pytree arithmetic. Scalars (Python or 0-d arrays) broadcast against leaves.


def tree_add(a: Params, b: Params) -> Params:
  return jax.tree.map(lambda u, v: u + v, a, b)


def tree_sub(a: Params, b: Params) -> Params:
  return jax.tree.map(lambda u, v: u - v, a, b)


def tree_scale(s: Any, a: Params) -> Params:
  """``s * a`` for a scalar ``s``."""
  return jax.tree.map(lambda u: s * u, a)


def tree_axpy(s: Any, a: Params, b: Params) -> Params:
  """``s * a + b`` for a scalar ``s``."""
  return jax.tree.map(lambda u, v: s * u + v, a, b)


def tree_mul(a: Params, b: Params) -> Params:
  """Elementwise product of two pytrees with the same structure."""
  return jax.tree.map(lambda u, v: u * v, a, b)


def tree_neg(a: Params) -> Params:
  return jax.tree.map(lambda u: -u, a)


def tree_zeros_like(a: Params) -> Params:
  return jax.tree.map(jnp.zeros_like, a)


def tree_vdot(a: Params, b: Params) -> jax.Array:
  """The Euclidean inner product of two real pytrees, as a float32 scalar."""
  parts = [jnp.sum(u * v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b))]
  return sum(parts, jnp.zeros((), jnp.float32))


def tree_norm(a: Params) -> jax.Array:
  return jnp.sqrt(tree_vdot(a, a))


def tree_size(a: Params) -> int:
  """The number of scalars in a pytree (static)."""
  return sum(math.prod(jnp.shape(u)) for u in jax.tree.leaves(a))


def tree_where(pred: jax.Array, a: Params, b: Params) -> Params:
  """``a`` where the scalar ``pred`` holds, else ``b``, leaf by leaf."""
  return jax.tree.map(lambda u, v: jnp.where(pred, u, v), a, b)


def reduce_tree(reduce: Reduce, tree: Any) -> Any:
  """Applies ``reduce`` to every leaf of ``tree``."""
  return jax.tree.map(reduce, tree)


# ----------------------------------------------------------------------------
# Hyperparameter checks. They run when an optimizer is built, outside jit, and
# raise one-line ValueErrors naming what is allowed.


def check_positive(opt: str, name: str, value: Any) -> float:
  """Returns ``value`` as a float if it is a finite number > 0."""
  if (isinstance(value, bool) or not isinstance(value, (int, float))
      or not math.isfinite(value) or value <= 0):
    raise ValueError(f"{opt}: {name} must be a finite number > 0, got {value!r}")
  return float(value)


def check_nonnegative(opt: str, name: str, value: Any) -> float:
  """Returns ``value`` as a float if it is a finite number >= 0."""
  if (isinstance(value, bool) or not isinstance(value, (int, float))
      or not math.isfinite(value) or value < 0):
    raise ValueError(f"{opt}: {name} must be a finite number >= 0, got {value!r}")
  return float(value)


def check_real(opt: str, name: str, value: Any) -> float:
  """Returns ``value`` as a float if it is a finite number."""
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
    raise ValueError(f"{opt}: {name} must be a finite number, got {value!r}")
  return float(value)


def check_interval(opt: str, name: str, value: Any, low: float, high: float, *,
                   include_low: bool, include_high: bool) -> float:
  """Returns ``value`` as a float if it lies in the given interval."""
  ok = (not isinstance(value, bool) and isinstance(value, (int, float))
        and math.isfinite(value))
  if ok:
    ok = (value >= low if include_low else value > low) and (
        value <= high if include_high else value < high)
  if not ok:
    interval = f"{'[' if include_low else '('}{low}, {high}{']' if include_high else ')'}"
    raise ValueError(f"{opt}: {name} must be a number in {interval}, got {value!r}")
  return float(value)


def check_int(opt: str, name: str, value: Any, minimum: int) -> int:
  """Returns ``value`` if it is an int >= ``minimum``."""
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ValueError(f"{opt}: {name} must be an integer >= {minimum}, got {value!r}")
  return value


def check_bool(opt: str, name: str, value: Any) -> bool:
  if not isinstance(value, bool):
    raise ValueError(f"{opt}: {name} must be True or False, got {value!r}")
  return value


def check_choice(opt: str, name: str, value: Any, choices: Sequence[str]) -> str:
  if value not in choices:
    raise ValueError(f"{opt}: {name} must be one of {', '.join(map(repr, choices))}, "
                     f"got {value!r}")
  return value
