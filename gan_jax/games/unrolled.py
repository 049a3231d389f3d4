"""Unrolled GAN updates: the generator anticipates the discriminator's response.

Reference: Metz, Poole, Pfau & Sohl-Dickstein 2017, "Unrolled Generative
Adversarial Networks", sections 2.2-2.3.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from gan_jax.games import base
from gan_jax.games.base import GameOptimizer, LearningRate, LossFn, Params, Reduce


def unrolled(lr_x: LearningRate = 1e-2, lr_y: LearningRate = 1e-2, unroll_steps: int = 5,
             unroll_lr: Optional[LearningRate] = None) -> GameOptimizer:
  """Unrolled gradient descent for player x; plain gradient descent for y.

  Player y's response is unrolled for K gradient-descent steps,
  ``y_0 = y``, ``y_{k+1} = y_k - eta grad_y loss_y(x, y_k)``, and player x
  descends the surrogate ``loss_x(x, y_K(x))``, differentiating through all K
  steps. Player y takes its ordinary step ``y' = y - lr_y grad_y loss_y(x, y)``.

  The unroll runs in a ``lax.scan``; the derivative through it is taken by a
  reverse ``lax.scan`` over the stored iterates (reverse-mode differentiation
  written out): with ``lambda_K = grad_y loss_x(x, y_K)``, each step back
  applies the VJP of ``(x, y) -> grad_y loss_y(x, y)`` at ``(x, y_k)``,
  ``lambda_k = lambda_{k+1} - eta D2yy loss_y lambda_{k+1}`` and adds
  ``-eta D2xy loss_y lambda_{k+1}`` to x's gradient. Writing it out lets
  ``reduce`` act on each inner gradient and each VJP, so a pmapped step equals
  the whole-batch step. With identity ``reduce`` it equals ``jax.grad``
  through the unrolled loop.

  Args:
    lr_x: player x's learning rate: a float > 0 or an optax schedule.
    lr_y: player y's learning rate: a float > 0 or an optax schedule.
    unroll_steps: K >= 0; 0 gives simultaneous GDA.
    unroll_lr: eta, the step size of the unrolled steps (a float > 0 or an
      optax schedule); None means lr_y (its schedule too, if it has one).
      (Metz et al. unroll the discriminator's own optimizer, Adam in their
      experiments; here the unrolled steps are plain gradient descent.)

  Returns:
    A GameOptimizer with an empty state (``ScheduleState(count, ())`` when a
    learning rate is a schedule). Metrics: ``loss_x`` and ``loss_y``
    at ``(x, y)``, ``loss_x_unrolled`` at ``(x, y_K)``, and the norms of the
    two gradients used.

  References:
    Metz et al. 2017, sections 2.2 (unrolling) and 2.3 (parameter updates).
  """
  name = "unrolled"
  lr_x = base.check_learning_rate(name, "lr_x", lr_x)
  lr_y = base.check_learning_rate(name, "lr_y", lr_y)
  k_steps = base.check_int(name, "unroll_steps", unroll_steps, 0)
  eta = lr_y if unroll_lr is None else base.check_learning_rate(name, "unroll_lr", unroll_lr)

  def init(x: Params, y: Params) -> tuple:
    del x, y
    return ()

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: tuple,
           reduce: Reduce = base.identity, count=None):
    lr_x_t, lr_y_t = base.rate_at(lr_x, count, x), base.rate_at(lr_y, count, y)
    eta_t = base.rate_at(eta, count, y)
    ly, gy = base.reduce_tree(reduce, jax.value_and_grad(loss_y, argnums=1)(x, y))
    grad_y = lambda xx, yy: jax.grad(loss_y, argnums=1)(xx, yy)

    # Forward: y_1 from the gradient above, then y_2 .. y_K in a scan.
    def forward(yk, _):
      g = base.reduce_tree(reduce, grad_y(x, yk))
      return base.tree_axpy(-eta_t, g, yk), yk

    if k_steps > 0:
      y1 = base.tree_axpy(-eta_t, gy, y)
      y_k, ys_rest = jax.lax.scan(forward, y1, None, length=k_steps - 1)
      # ys[k] = y_k for k = 0 .. K-1: the points whose gradients were taken.
      ys = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), y, ys_rest)
    else:
      y_k = y

    lx_k, (gx, lam) = base.reduce_tree(
        reduce, jax.value_and_grad(loss_x, argnums=(0, 1))(x, y_k))

    # Backward through y_{k+1} = y_k - eta grad_y loss_y(x, y_k).
    def backward(carry, yk):
      lam, acc = carry
      _, vjp = jax.vjp(grad_y, x, yk)
      cx, cy = base.reduce_tree(reduce, vjp(lam))
      return (base.tree_axpy(-eta_t, cy, lam), base.tree_axpy(-eta_t, cx, acc)), None

    if k_steps > 0:
      (_, acc), _ = jax.lax.scan(backward, (lam, base.tree_zeros_like(x)), ys, reverse=True)
      gx = base.tree_add(gx, acc)
      lx = reduce(loss_x(x, y))
    else:
      lx = lx_k

    new_x = base.tree_axpy(-lr_x_t, gx, x)
    new_y = base.tree_axpy(-lr_y_t, gy, y)
    metrics = {"loss_x": lx, "loss_y": ly, "loss_x_unrolled": lx_k,
               "grad_norm_x": base.tree_norm(gx), "grad_norm_y": base.tree_norm(gy)}
    return new_x, new_y, state, metrics

  return base.with_step_count(init, step, lr_x, lr_y, eta)
