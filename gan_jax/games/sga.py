"""Symplectic gradient adjustment (SGA).

Reference: Balduzzi, Racaniere, Martens, Foerster, Tuyls & Graepel 2018,
"The Mechanics of n-Player Differentiable Games", section 3 and Algorithm 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax.games import base
from gan_jax.games.base import GameOptimizer, LearningRate, LossFn, Params, Reduce
from gan_jax.games.derivatives import vector_field


def sga(lr_x: LearningRate = 1e-2, lr_y: LearningRate = 1e-2, lam: float = 1.0,
        align: bool = True, epsilon: float = 0.1) -> GameOptimizer:
  """Symplectic gradient adjustment.

  With the game gradient ``xi = (grad_x loss_x, grad_y loss_y)``, its
  Jacobian ``H`` (the game Hessian) and ``A = (H - H^T) / 2`` the antisymmetric
  part, both players step along ``xi + lambda * A^T xi``. Both products come
  from one ``jax.linearize`` of the vector field: ``H xi`` is the linearized
  map and ``H^T xi`` its transpose, so ``A^T xi = (H^T xi - H xi) / 2``.

  With ``align``, the sign of ``lambda`` follows Algorithm 1 of Balduzzi et
  al.: ``lambda = lam * sign(<xi, grad H> <A^T xi, grad H> / d + epsilon)``
  where ``grad H = H^T xi`` is the gradient of the Hamiltonian
  ``0.5 ||xi||^2`` and ``d`` the number of parameters. This points the
  adjustment towards stable fixed points and away from unstable ones.

  Args:
    lr_x: player x's learning rate: a float > 0 or an optax schedule.
    lr_y: player y's learning rate: a float > 0 or an optax schedule.
    lam: magnitude of the adjustment, >= 0 (0 gives simultaneous GDA).
    align: whether to choose the sign of lambda by the alignment rule
      (otherwise lambda = lam).
    epsilon: the alignment rule's offset, >= 0 (the paper uses 0.1).

  Returns:
    A GameOptimizer with an empty state (``ScheduleState(count, ())`` when a
    learning rate is a schedule). Metrics include ``sga_lambda``.

  References:
    Balduzzi et al. 2018, section 3 (``xi_lambda = xi + lambda A^T xi``) and
    Algorithm 1 (sign alignment).
  """
  lr_x = base.check_learning_rate("sga", "lr_x", lr_x)
  lr_y = base.check_learning_rate("sga", "lr_y", lr_y)
  lam = base.check_nonnegative("sga", "lam", lam)
  align = base.check_bool("sga", "align", align)
  epsilon = base.check_nonnegative("sga", "epsilon", epsilon)

  def init(x: Params, y: Params) -> tuple:
    del x, y
    return ()

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: tuple,
           reduce: Reduce = base.identity, count=None):
    lr_x_t, lr_y_t = base.rate_at(lr_x, count, x), base.rate_at(lr_y, count, y)
    xi, h_jvp, losses = jax.linearize(vector_field(loss_x, loss_y), x, y, has_aux=True)
    xi = base.reduce_tree(reduce, xi)
    lx, ly = base.reduce_tree(reduce, losses)
    h_xi = base.reduce_tree(reduce, h_jvp(*xi))
    ht_xi = base.reduce_tree(reduce, jax.linear_transpose(h_jvp, x, y)(xi))
    at_xi = jax.tree.map(lambda t, h: 0.5 * (t - h), ht_xi, h_xi)
    if align:
      d = base.tree_size((x, y))
      score = base.tree_vdot(xi, ht_xi) * base.tree_vdot(at_xi, ht_xi) / d + epsilon
      lam_t = lam * jnp.sign(score)
    else:
      lam_t = jnp.asarray(lam, jnp.float32)
    gx, gy = xi
    new_x = jax.tree.map(lambda p, g, a: p - lr_x_t * (g + lam_t * a), x, gx, at_xi[0])
    new_y = jax.tree.map(lambda p, g, a: p - lr_y_t * (g + lam_t * a), y, gy, at_xi[1])
    metrics = {"loss_x": lx, "loss_y": ly,
               "grad_norm_x": base.tree_norm(gx), "grad_norm_y": base.tree_norm(gy),
               "sga_lambda": lam_t}
    return new_x, new_y, state, metrics

  return base.with_step_count(init, step, lr_x, lr_y)
