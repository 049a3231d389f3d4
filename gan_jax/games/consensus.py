"""Consensus optimization: descend the game gradient plus the gradient of its
squared norm.

Reference: Mescheder, Nowozin & Geiger 2017, "The Numerics of GANs",
Algorithm 1 (written there for two maximising players; here both minimise).
"""

from __future__ import annotations

import jax

from gan_jax.games import base
from gan_jax.games.base import GameOptimizer, LearningRate, LossFn, Params, Reduce
from gan_jax.games.derivatives import vector_field


def consensus(lr_x: LearningRate = 1e-2, lr_y: LearningRate = 1e-2,
              gamma: float = 0.1) -> GameOptimizer:
  """Consensus optimization.

  With the game gradient ``xi = (grad_x loss_x, grad_y loss_y)`` and
  ``L = 0.5 ||xi||^2``, both players step along ``xi + gamma * grad L``.
  ``grad L = J^T xi`` (``J`` the Jacobian of ``xi``) is computed as one VJP of
  the vector field with cotangent ``xi``; under ``reduce`` the cotangent is the
  reduced ``xi`` and the VJP is reduced afterwards, which is exactly the
  gradient of ``0.5 ||xi||^2`` for the reduced (whole-batch) ``xi``.

  Args:
    lr_x: player x's learning rate: a float > 0 or an optax schedule.
    lr_y: player y's learning rate: a float > 0 or an optax schedule.
    gamma: weight of the consensus term, >= 0 (0 gives simultaneous GDA).

  Returns:
    A GameOptimizer with an empty state (``ScheduleState(count, ())`` when a
    learning rate is a schedule). Metrics include ``hamiltonian``
    (``0.5 ||xi||^2``).

  References:
    Mescheder et al. 2017, section 4 and Algorithm 1.
  """
  lr_x = base.check_learning_rate("consensus", "lr_x", lr_x)
  lr_y = base.check_learning_rate("consensus", "lr_y", lr_y)
  gamma = base.check_nonnegative("consensus", "gamma", gamma)

  def init(x: Params, y: Params) -> tuple:
    del x, y
    return ()

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: tuple,
           reduce: Reduce = base.identity, count=None):
    lr_x_t, lr_y_t = base.rate_at(lr_x, count, x), base.rate_at(lr_y, count, y)
    xi, vjp, losses = jax.vjp(vector_field(loss_x, loss_y), x, y, has_aux=True)
    xi = base.reduce_tree(reduce, xi)
    lx, ly = base.reduce_tree(reduce, losses)
    jt_xi = base.reduce_tree(reduce, vjp(xi))
    gx, gy = xi
    new_x = jax.tree.map(lambda p, g, c: p - lr_x_t * (g + gamma * c), x, gx, jt_xi[0])
    new_y = jax.tree.map(lambda p, g, c: p - lr_y_t * (g + gamma * c), y, gy, jt_xi[1])
    metrics = {"loss_x": lx, "loss_y": ly,
               "grad_norm_x": base.tree_norm(gx), "grad_norm_y": base.tree_norm(gy),
               "hamiltonian": 0.5 * base.tree_vdot(xi, xi)}
    return new_x, new_y, state, metrics

  return base.with_step_count(init, step, lr_x, lr_y)
