"""The conjugate gradient method over pytrees, as one ``lax.while_loop``.

Reference: Hestenes & Stiefel 1952, "Methods of Conjugate Gradients for
Solving Linear Systems"; the loop below is Algorithm 6.18 of Saad 2003,
"Iterative Methods for Sparse Linear Systems".
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from gan_jax.games import base
from gan_jax.games.base import Params


class CGInfo(NamedTuple):
  """What the solver did.

  Attributes:
    iterations: int32 number of CG iterations (one ``matvec`` each; the
      initial residual of a warm start costs one more).
    relative_residual: ``||r|| / ||b||`` with the recursively updated
      residual ``r``; 0 when ``b = 0``.
    converged: whether ``relative_residual <= tol``.
  """

  iterations: jax.Array
  relative_residual: jax.Array
  converged: jax.Array


class _Carry(NamedTuple):
  x: Params
  r: Params
  p: Params
  rs: jax.Array       # <r, r>
  it: jax.Array       # iterations done
  broke: jax.Array    # p^T A p was not positive: stop, A is not SPD along p


def conjugate_gradient(
    matvec: Callable[[Params], Params],
    b: Params,
    x0: Optional[Params] = None,
    tol: float = 1e-5,
    max_iters: int = 100,
) -> tuple[Params, CGInfo]:
  """Solves ``A x = b`` for a symmetric positive definite operator ``A``.

  The loop stops when ``||r|| <= tol * ||b||`` or after ``max_iters``
  iterations. A warm start uses the true initial residual ``r0 = b - A x0``.
  Degenerate cases give finite results: ``b = 0`` returns ``x = 0`` after no
  iterations (the unique solution when ``A`` is SPD), and a direction with
  ``p^T A p <= 0`` (or NaN) ends the loop without taking that step, instead
  of dividing by it.

  Args:
    matvec: ``v -> A v`` on pytrees shaped like ``b``; must be linear and
      symmetric positive definite for the usual guarantees. Called once per
      iteration (and once more for a warm start).
    b: right-hand side, a pytree of float arrays.
    x0: initial guess shaped like ``b``; ``None`` means zeros and saves the
      ``matvec`` that ``r0 = b - A x0`` would cost.
    tol: relative tolerance on ``||r|| / ||b||``.
    max_iters: most iterations to run (static).

  Returns:
    ``(x, info)``.

  References:
    Hestenes & Stiefel 1952; Saad 2003, Algorithm 6.18.
  """
  b_norm = base.tree_norm(b)
  b_zero = b_norm == 0
  if x0 is None:
    x0 = base.tree_zeros_like(b)
    r0 = b
  else:
    r0 = base.tree_sub(b, matvec(x0))
    # With b = 0 the answer is 0; start there so nothing is iterated.
    x0 = base.tree_where(b_zero, base.tree_zeros_like(b), x0)
    r0 = base.tree_where(b_zero, base.tree_zeros_like(b), r0)
  threshold = tol * b_norm

  def cond(c: _Carry) -> jax.Array:
    return (c.it < max_iters) & ~c.broke & (jnp.sqrt(c.rs) > threshold)

  def body(c: _Carry) -> _Carry:
    ap = matvec(c.p)
    p_ap = base.tree_vdot(c.p, ap)
    ok = p_ap > 0  # False for 0, negative and NaN curvature.
    alpha = jnp.where(ok, c.rs / jnp.where(ok, p_ap, 1.0), 0.0)
    x = base.tree_axpy(alpha, c.p, c.x)
    r = base.tree_axpy(-alpha, ap, c.r)
    rs = jnp.where(ok, base.tree_vdot(r, r), c.rs)
    beta = jnp.where(c.rs > 0, rs / jnp.where(c.rs > 0, c.rs, 1.0), 0.0)
    p = base.tree_axpy(beta, c.p, r)
    return _Carry(x, r, p, rs, c.it + 1, ~ok)

  rs0 = base.tree_vdot(r0, r0)
  init = _Carry(x0, r0, r0, rs0, jnp.zeros((), jnp.int32), jnp.zeros((), bool))
  final = jax.lax.while_loop(cond, body, init)
  rel = jnp.where(b_zero, 0.0, jnp.sqrt(final.rs) / jnp.where(b_zero, 1.0, b_norm))
  return final.x, CGInfo(final.it, rel, rel <= tol)
