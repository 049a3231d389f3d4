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

Learning rates. Every hyperparameter that is a learning rate (``lr``,
``lr_x``, ``lr_y``, ``unroll_lr``) takes either a finite float > 0 or an
``optax.Schedule``, a callable from the int32 count of steps this optimizer
has taken (0 at the first step, as in optax) to the learning rate; e.g.
``games.get("cgd", lr=optax.cosine_decay_schedule(1e-2, 10_000))``. A float
runs exactly the computation it always has. With a schedule, the step at
count ``t`` equals the step of the same optimizer given the float
``schedule(t)`` (the value is cast to the parameters' dtype), and an optimizer
that keeps no step count of its own then has a ``ScheduleState(count,
inner)`` around its usual state (see ``with_step_count``).
``check_learning_rate`` validates either form.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp

Params = Any
OptState = Any
Metrics = dict[str, jax.Array]
LossFn = Callable[[Params, Params], jax.Array]
Reduce = Callable[[jax.Array], jax.Array]
# A learning rate: a float, or an optax.Schedule (int32 step count -> rate).
LearningRate = Union[float, Callable[[jax.Array], Any]]


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
# Learning-rate schedules (see the module docstring).


class ScheduleState(NamedTuple):
  """The state of an optimizer that counts steps only for its schedules."""

  count: jax.Array  # int32 number of steps taken.
  inner: OptState   # the optimizer's usual state.


def is_schedule(rate: Any) -> bool:
  """Whether a checked learning rate is a schedule (else it is a float)."""
  return callable(rate)


def rate_at(rate: Any, count: Optional[jax.Array], like: Params) -> Any:
  """A learning rate's value at step ``count``.

  A float is returned unchanged (so a float run's ops are untouched); a
  schedule is evaluated at ``count`` and cast to the dtype of ``like``'s
  leaves (a player's parameters), so the parameters keep their dtype.
  """
  if not is_schedule(rate):
    return rate
  value = jnp.asarray(rate(count))
  leaves = jax.tree.leaves(like)
  return value.astype(jnp.result_type(*leaves)) if leaves else value


def with_step_count(init: Callable[[Params, Params], OptState], step: Callable[..., Any],
                    *rates: Any) -> GameOptimizer:
  """A GameOptimizer from ``init`` and a ``step`` that takes ``count=``.

  ``step(loss_x, loss_y, x, y, state, reduce, count=...)`` is the optimizer's
  step given the number of steps taken so far. When all ``rates`` are floats
  nothing counts steps: the state is ``init``'s and ``count`` is None (the
  float path's state and ops are what they were before schedules existed).
  When any is a schedule, the state is ``ScheduleState(count, init(x, y))``.
  """
  if not any(is_schedule(r) for r in rates):
    def plain_step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: OptState,
                   reduce: Reduce = identity):
      return step(loss_x, loss_y, x, y, state, reduce, count=None)

    return GameOptimizer(init, plain_step)

  def counted_init(x: Params, y: Params) -> ScheduleState:
    return ScheduleState(jnp.zeros((), jnp.int32), init(x, y))

  def counted_step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: ScheduleState,
                   reduce: Reduce = identity):
    new_x, new_y, inner, metrics = step(loss_x, loss_y, x, y, state.inner, reduce,
                                        count=state.count)
    return new_x, new_y, ScheduleState(state.count + 1, inner), metrics

  return GameOptimizer(counted_init, counted_step)


# ----------------------------------------------------------------------------
# Hyperparameter checks. They run when an optimizer is built, outside jit, and
# raise one-line ValueErrors naming what is allowed.


def check_positive(opt: str, name: str, value: Any) -> float:
  """Returns ``value`` as a float if it is a finite number > 0."""
  if (isinstance(value, bool) or not isinstance(value, (int, float))
      or not math.isfinite(value) or value <= 0):
    raise ValueError(f"{opt}: {name} must be a finite number > 0, got {value!r}")
  return float(value)


def check_learning_rate(opt: str, name: str, value: Any) -> Any:
  """Returns a learning rate: a finite number > 0 as a float, or a schedule as is.

  A schedule is any callable (an ``optax.Schedule``: int32 step count ->
  learning rate); its values are not checked.
  """
  if callable(value):
    return value
  if (isinstance(value, bool) or not isinstance(value, (int, float))
      or not math.isfinite(value) or value <= 0):
    raise ValueError(f"{opt}: {name} must be a finite number > 0 or an optax schedule "
                     f"(a callable of the step count), got {value!r}")
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
