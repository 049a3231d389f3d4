"""Derivatives of a two-player game, all matrix-free.

Notation (Schafer & Anandkumar 2019): for a loss ``f(x, y)``,
``D2xy f`` is the block of its Hessian with rows indexed by ``x`` and columns
by ``y``, so ``D2xy f @ v_y`` has the shape of ``x``; ``D2yx f = (D2xy f)^T``.
The game's vector field is ``xi(x, y) = (grad_x loss_x, grad_y loss_y)`` and
its Jacobian ``H`` is the "game Hessian" of Balduzzi et al. 2018.

Nothing here materialises a Hessian or a Jacobian: mixed Hessian-vector
products are forward-over-reverse (``jax.jvp`` / ``jax.linearize`` of
``jax.grad``) and ``H^T v`` is a VJP. Every function takes ``reduce`` and
applies it to each result (see ``base``).
"""

from __future__ import annotations

from typing import Callable

import jax

from gan_jax.games import base
from gan_jax.games.base import LossFn, Params, Reduce


def player_gradients(
    loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, reduce: Reduce = base.identity,
) -> tuple[jax.Array, jax.Array, Params, Params]:
  """Each player's loss and the gradient of its loss in its own parameters.

  Args:
    loss_x: the loss player x minimises.
    loss_y: the loss player y minimises.
    x: player x's parameters.
    y: player y's parameters.
    reduce: applied to every returned value.

  Returns:
    ``(loss_x(x, y), loss_y(x, y), grad_x loss_x, grad_y loss_y)``, reduced.
  """
  lx, gx = jax.value_and_grad(loss_x, argnums=0)(x, y)
  ly, gy = jax.value_and_grad(loss_y, argnums=1)(x, y)
  return base.reduce_tree(reduce, (lx, ly, gx, gy))


def vector_field(loss_x: LossFn, loss_y: LossFn) -> Callable[[Params, Params], tuple]:
  """The game's vector field as a function for ``jax.vjp`` / ``jax.linearize``.

  Args:
    loss_x: the loss player x minimises.
    loss_y: the loss player y minimises.

  Returns:
    ``(x, y) -> ((grad_x loss_x, grad_y loss_y), (loss_x, loss_y))``; the
    losses are auxiliary outputs (use ``has_aux=True``). Nothing is reduced.
  """

  def field(x, y):
    lx, gx = jax.value_and_grad(loss_x, argnums=0)(x, y)
    ly, gy = jax.value_and_grad(loss_y, argnums=1)(x, y)
    return (gx, gy), (lx, ly)

  return field


def mixed_hvp_xy(loss: LossFn, x: Params, y: Params, v_y: Params,
                 reduce: Reduce = base.identity) -> Params:
  """``D2xy loss @ v_y``: how ``grad_x loss`` moves when ``y`` moves along ``v_y``.

  Args:
    loss: a scalar function of ``(x, y)``.
    x: point at which the Hessian block is taken.
    y: point at which the Hessian block is taken.
    v_y: a pytree shaped like ``y``.
    reduce: applied to the result.

  Returns:
    A pytree shaped like ``x``.
  """
  grad_x = lambda yy: jax.grad(loss, argnums=0)(x, yy)
  return base.reduce_tree(reduce, jax.jvp(grad_x, (y,), (v_y,))[1])


def mixed_hvp_yx(loss: LossFn, x: Params, y: Params, v_x: Params,
                 reduce: Reduce = base.identity) -> Params:
  """``D2yx loss @ v_x``: how ``grad_y loss`` moves when ``x`` moves along ``v_x``.

  Args:
    loss: a scalar function of ``(x, y)``.
    x: point at which the Hessian block is taken.
    y: point at which the Hessian block is taken.
    v_x: a pytree shaped like ``x``.
    reduce: applied to the result.

  Returns:
    A pytree shaped like ``y``.
  """
  grad_y = lambda xx: jax.grad(loss, argnums=1)(xx, y)
  return base.reduce_tree(reduce, jax.jvp(grad_y, (x,), (v_x,))[1])


def linearized_mixed_hvps(
    loss: LossFn, x: Params, y: Params, reduce: Reduce = base.identity,
) -> tuple[Callable[[Params], Params], Callable[[Params], Params]]:
  """Both mixed-Hessian products of ``loss`` at ``(x, y)``, for repeated use.

  ``jax.linearize`` runs the forward-over-reverse pass once and keeps its
  residuals, so each later product (e.g. inside conjugate gradient) only costs
  the linear part, not a fresh forward and backward pass. ``D2yx loss`` is
  the transpose of ``D2xy loss`` (mixed partial derivatives commute), so the
  second product is the transpose of the first linear map
  (``jax.linear_transpose``) and one linearization serves both. With a second
  linearization instead, the seed MLP GAN's CGD step (5 CG iterations, fused
  loop, this project's CPU) ran 87-95 steps/s against 104-107 this way.

  Args:
    loss: a scalar function of ``(x, y)``, twice differentiable.
    x: point at which the Hessian blocks are taken.
    y: point at which the Hessian blocks are taken.
    reduce: applied to every product the returned functions compute.

  Returns:
    ``(hxy, hyx)`` with ``hxy(v_y) = D2xy loss @ v_y`` (shaped like x) and
    ``hyx(v_x) = D2yx loss @ v_x`` (shaped like y).
  """
  _, lin_xy = jax.linearize(lambda yy: jax.grad(loss, argnums=0)(x, yy), y)
  lin_yx = jax.linear_transpose(lin_xy, y)
  hxy = lambda v_y: base.reduce_tree(reduce, lin_xy(v_y))
  hyx = lambda v_x: base.reduce_tree(reduce, lin_yx(v_x)[0])
  return hxy, hyx
