"""First-order game optimizers: each player follows the gradient of its loss.

``simultaneous_gda`` and ``alternating_gda`` are the baselines. On the bilinear
game ``min_x max_y x*y`` simultaneous GDA spirals outwards (Mescheder et al.
2017, section 3); ``extragradient``, ``extra_adam`` and ``optimistic_gda``
correct for the rotation with a look-ahead or a look-back gradient.

Learning rates are floats or optax schedules of the step count (see
``base``); every step uses the batch held by the loss closures (the
extrapolation and update steps of the extragradient family use the same batch
and the same learning rate).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gan_jax.games import base
from gan_jax.games.base import GameOptimizer, LearningRate, LossFn, Params, Reduce
from gan_jax.games.derivatives import player_gradients


def _metrics(lx, ly, gx, gy) -> base.Metrics:
  return {"loss_x": lx, "loss_y": ly,
          "grad_norm_x": base.tree_norm(gx), "grad_norm_y": base.tree_norm(gy)}


def _empty_init(x: Params, y: Params) -> tuple:
  del x, y
  return ()


def simultaneous_gda(lr_x: LearningRate = 1e-2, lr_y: LearningRate = 1e-2) -> GameOptimizer:
  """Simultaneous gradient descent: both players step from the same point.

  ``x' = x - lr_x grad_x loss_x(x, y)``, ``y' = y - lr_y grad_y loss_y(x, y)``.

  Args:
    lr_x: player x's learning rate: a float > 0 or an optax schedule.
    lr_y: player y's learning rate: a float > 0 or an optax schedule.

  Returns:
    A GameOptimizer with an empty state (``ScheduleState(count, ())`` when a
    learning rate is a schedule).
  """
  lr_x = base.check_learning_rate("simultaneous_gda", "lr_x", lr_x)
  lr_y = base.check_learning_rate("simultaneous_gda", "lr_y", lr_y)

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: tuple,
           reduce: Reduce = base.identity, count=None):
    lr_x_t, lr_y_t = base.rate_at(lr_x, count, x), base.rate_at(lr_y, count, y)
    lx, ly, gx, gy = player_gradients(loss_x, loss_y, x, y, reduce)
    new_x = base.tree_axpy(-lr_x_t, gx, x)
    new_y = base.tree_axpy(-lr_y_t, gy, y)
    return new_x, new_y, state, _metrics(lx, ly, gx, gy)

  return base.with_step_count(_empty_init, step, lr_x, lr_y)


def alternating_gda(lr_x: LearningRate = 1e-2, lr_y: LearningRate = 1e-2) -> GameOptimizer:
  """Alternating gradient descent: player y moves first, then x sees the new y.

  ``y' = y - lr_y grad_y loss_y(x, y)``, then
  ``x' = x - lr_x grad_x loss_x(x, y')`` (discriminator first, as in
  Goodfellow et al. 2014, Algorithm 1 with one discriminator step).

  Args:
    lr_x: player x's learning rate: a float > 0 or an optax schedule.
    lr_y: player y's learning rate: a float > 0 or an optax schedule.

  Returns:
    A GameOptimizer with an empty state (``ScheduleState(count, ())`` when a
    learning rate is a schedule). The metrics report ``loss_y`` and
    ``grad_norm_y`` at ``(x, y)`` and ``loss_x`` and ``grad_norm_x`` at
    ``(x, y')``.
  """
  lr_x = base.check_learning_rate("alternating_gda", "lr_x", lr_x)
  lr_y = base.check_learning_rate("alternating_gda", "lr_y", lr_y)

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: tuple,
           reduce: Reduce = base.identity, count=None):
    lr_x_t, lr_y_t = base.rate_at(lr_x, count, x), base.rate_at(lr_y, count, y)
    ly, gy = base.reduce_tree(reduce, jax.value_and_grad(loss_y, argnums=1)(x, y))
    new_y = base.tree_axpy(-lr_y_t, gy, y)
    lx, gx = base.reduce_tree(reduce, jax.value_and_grad(loss_x, argnums=0)(x, new_y))
    new_x = base.tree_axpy(-lr_x_t, gx, x)
    return new_x, new_y, state, _metrics(lx, ly, gx, gy)

  return base.with_step_count(_empty_init, step, lr_x, lr_y)


def extragradient(lr_x: LearningRate = 1e-2, lr_y: LearningRate = 1e-2) -> GameOptimizer:
  """The extragradient method: step from the current point with the gradient
  taken at a look-ahead point.

  ``z_half = z - lr * xi(z)``; ``z' = z - lr * xi(z_half)`` where
  ``z = (x, y)`` and ``xi = (grad_x loss_x, grad_y loss_y)``. Two gradient
  evaluations per step.

  Args:
    lr_x: player x's learning rate (extrapolation and update): a float > 0 or
      an optax schedule.
    lr_y: player y's learning rate (extrapolation and update), likewise.

  Returns:
    A GameOptimizer with an empty state (``ScheduleState(count, ())`` when a
    learning rate is a schedule); metrics are taken at ``(x, y)``.

  References:
    Korpelevich 1976, "The extragradient method for finding saddle points and
    other problems"; Gidel et al. 2019, "A Variational Inequality Perspective
    on Generative Adversarial Networks" (the extrapolation method, without
    iterate averaging).
  """
  lr_x = base.check_learning_rate("extragradient", "lr_x", lr_x)
  lr_y = base.check_learning_rate("extragradient", "lr_y", lr_y)

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: tuple,
           reduce: Reduce = base.identity, count=None):
    lr_x_t, lr_y_t = base.rate_at(lr_x, count, x), base.rate_at(lr_y, count, y)
    lx, ly, gx, gy = player_gradients(loss_x, loss_y, x, y, reduce)
    x_half = base.tree_axpy(-lr_x_t, gx, x)
    y_half = base.tree_axpy(-lr_y_t, gy, y)
    _, _, gx_half, gy_half = player_gradients(loss_x, loss_y, x_half, y_half, reduce)
    new_x = base.tree_axpy(-lr_x_t, gx_half, x)
    new_y = base.tree_axpy(-lr_y_t, gy_half, y)
    return new_x, new_y, state, _metrics(lx, ly, gx, gy)

  return base.with_step_count(_empty_init, step, lr_x, lr_y)


class ExtraAdamState(NamedTuple):
  """Adam moments for both players and the number of moment updates made."""

  count: jax.Array  # int32; two moment updates per step.
  mu_x: Params
  nu_x: Params
  mu_y: Params
  nu_y: Params


def _adam_direction(g: Params, mu: Params, nu: Params, count: jax.Array, b1: float,
                    b2: float, eps: float) -> tuple[Params, Params, Params]:
  """Updates Adam's moments with ``g`` and returns the bias-corrected step.

  ``count`` is the number of moment updates including this one.
  """
  mu = jax.tree.map(lambda m, u: b1 * m + (1 - b1) * u, mu, g)
  nu = jax.tree.map(lambda v, u: b2 * v + (1 - b2) * u * u, nu, g)
  t = count.astype(jnp.float32)
  c1 = 1 - b1 ** t
  c2 = 1 - b2 ** t
  direction = jax.tree.map(lambda m, v: (m / c1) / (jnp.sqrt(v / c2) + eps), mu, nu)
  return direction, mu, nu


def extra_adam(lr_x: LearningRate = 1e-4, lr_y: LearningRate = 1e-4, b1: float = 0.5,
               b2: float = 0.9, eps: float = 1e-8) -> GameOptimizer:
  """Extra-Adam: extragradient whose extrapolation and update are Adam steps.

  Both half-steps update the same Adam moments (so the moments see two
  gradients per step, with bias corrections ``1 - b^(2t-1)`` and
  ``1 - b^(2t)``), and both start from the current point.

  Args:
    lr_x: player x's learning rate: a float > 0 or an optax schedule.
    lr_y: player y's learning rate: a float > 0 or an optax schedule.
    b1: decay of the first moment, in [0, 1).
    b2: decay of the second moment, in [0, 1).
    eps: added to the root of the second moment, > 0.

  Returns:
    A GameOptimizer whose state is an ExtraAdamState. A schedule is evaluated
    at the number of steps taken, ``count // 2``.

  References:
    Gidel et al. 2019, "A Variational Inequality Perspective on Generative
    Adversarial Networks", Algorithm 4 (Extra-Adam). Their GAN experiments use
    b1 = 0.5, b2 = 0.9.
  """
  name = "extra_adam"
  lr_x = base.check_learning_rate(name, "lr_x", lr_x)
  lr_y = base.check_learning_rate(name, "lr_y", lr_y)
  b1 = base.check_interval(name, "b1", b1, 0.0, 1.0, include_low=True, include_high=False)
  b2 = base.check_interval(name, "b2", b2, 0.0, 1.0, include_low=True, include_high=False)
  eps = base.check_positive(name, "eps", eps)

  def init(x: Params, y: Params) -> ExtraAdamState:
    z = base.tree_zeros_like
    return ExtraAdamState(jnp.zeros((), jnp.int32), z(x), z(x), z(y), z(y))

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: ExtraAdamState,
           reduce: Reduce = base.identity):
    lx, ly, gx, gy = player_gradients(loss_x, loss_y, x, y, reduce)
    steps = state.count // 2 if base.is_schedule(lr_x) or base.is_schedule(lr_y) else None
    lr_x_t, lr_y_t = base.rate_at(lr_x, steps, x), base.rate_at(lr_y, steps, y)
    count = state.count + 1
    dx, mu_x, nu_x = _adam_direction(gx, state.mu_x, state.nu_x, count, b1, b2, eps)
    dy, mu_y, nu_y = _adam_direction(gy, state.mu_y, state.nu_y, count, b1, b2, eps)
    x_half = base.tree_axpy(-lr_x_t, dx, x)
    y_half = base.tree_axpy(-lr_y_t, dy, y)
    _, _, gx_half, gy_half = player_gradients(loss_x, loss_y, x_half, y_half, reduce)
    count = count + 1
    dx, mu_x, nu_x = _adam_direction(gx_half, mu_x, nu_x, count, b1, b2, eps)
    dy, mu_y, nu_y = _adam_direction(gy_half, mu_y, nu_y, count, b1, b2, eps)
    new_x = base.tree_axpy(-lr_x_t, dx, x)
    new_y = base.tree_axpy(-lr_y_t, dy, y)
    new_state = ExtraAdamState(count, mu_x, nu_x, mu_y, nu_y)
    return new_x, new_y, new_state, _metrics(lx, ly, gx, gy)

  return GameOptimizer(init, step)


class OptimisticState(NamedTuple):
  """The previous step's gradients and the number of steps taken."""

  count: jax.Array  # int32
  prev_gx: Params
  prev_gy: Params


def optimistic_gda(lr_x: LearningRate = 1e-2, lr_y: LearningRate = 1e-2) -> GameOptimizer:
  """Optimistic gradient descent: ``z_{t+1} = z_t - 2 lr g_t + lr g_{t-1}``.

  The first step has no previous gradient and takes ``g_{-1} = g_0``, i.e. a
  plain gradient step.

  Args:
    lr_x: player x's learning rate: a float > 0 or an optax schedule.
    lr_y: player y's learning rate: a float > 0 or an optax schedule.

  Returns:
    A GameOptimizer whose state is an OptimisticState.

  References:
    Daskalakis, Ilyas, Syrgkanis & Zeng 2018, "Training GANs with Optimism";
    Popov 1980, "A modification of the Arrow-Hurwicz method for search of
    saddle points".
  """
  lr_x = base.check_learning_rate("optimistic_gda", "lr_x", lr_x)
  lr_y = base.check_learning_rate("optimistic_gda", "lr_y", lr_y)

  def init(x: Params, y: Params) -> OptimisticState:
    return OptimisticState(jnp.zeros((), jnp.int32), base.tree_zeros_like(x),
                           base.tree_zeros_like(y))

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: OptimisticState,
           reduce: Reduce = base.identity):
    lx, ly, gx, gy = player_gradients(loss_x, loss_y, x, y, reduce)
    first = state.count == 0
    lr_x_t, lr_y_t = base.rate_at(lr_x, state.count, x), base.rate_at(lr_y, state.count, y)
    prev_gx = base.tree_where(first, gx, state.prev_gx)
    prev_gy = base.tree_where(first, gy, state.prev_gy)
    new_x = jax.tree.map(lambda p, g, h: p - 2 * lr_x_t * g + lr_x_t * h, x, gx, prev_gx)
    new_y = jax.tree.map(lambda p, g, h: p - 2 * lr_y_t * g + lr_y_t * h, y, gy, prev_gy)
    new_state = OptimisticState(state.count + 1, gx, gy)
    return new_x, new_y, new_state, _metrics(lx, ly, gx, gy)

  return GameOptimizer(init, step)
