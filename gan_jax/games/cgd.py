"""Competitive gradient descent (CGD) and its adaptive variant (ACGD).

CGD lets each player respond to the other's anticipated move. Each step is the
Nash equilibrium of the bilinear approximation of the game regularised by the
step sizes (Schafer & Anandkumar 2019, section 2). With player x minimising
``f = loss_x``, player y minimising ``g = loss_y`` and diagonal step sizes
``eta_x``, ``eta_y`` (scalars in CGD, per-coordinate in ACGD), the local game

    min_dx  dx^T grad_x f + dx^T D2xy f dy + dx^T eta_x^{-1} dx / 2
    min_dy  dy^T grad_y g + dy^T D2yx g dx + dy^T eta_y^{-1} dy / 2

has the equilibrium

    dx = -eta_x (grad_x f + D2xy f dy),   dy = -eta_y (grad_y g + D2yx g dx).

Eliminating ``dy`` gives one linear system for ``dx``,

    (I - eta_x D2xy f eta_y D2yx g) dx = -eta_x (grad_x f - D2xy f eta_y grad_y g),

which for a scalar ``eta`` is the general-sum update of Schafer & Anandkumar
2019, section 2. With the substitution ``dx = eta_x^{1/2} u`` this module solves

    M u = -eta_x^{1/2} (grad_x f - D2xy f eta_y grad_y g),
    M = I - eta_x^{1/2} D2xy f eta_y D2yx g eta_x^{1/2},

by conjugate gradient, then gets the other player by back-substitution,
``dy = -eta_y (grad_y g + D2yx g dx)`` (one more mixed Hessian-vector product,
no second solve). Solving for y instead swaps the roles.

In a zero-sum game (``g = -f``), ``D2yx g = -(D2xy f)^T`` and
``M = I + C C^T`` with ``C = eta_x^{1/2} D2xy f eta_y^{1/2}``: symmetric
positive definite, eigenvalues >= 1, so CG applies directly with two mixed
Hessian-vector products per iteration. Otherwise ``M`` is not symmetric; with
``zero_sum=False`` CG runs on the normal equations ``M^T M u = M^T b`` (CGNR),
four mixed products per iteration and a squared condition number.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from gan_jax.games import base
from gan_jax.games.base import GameOptimizer, LearningRate, LossFn, Params, Reduce
from gan_jax.games.cg import CGInfo, conjugate_gradient
from gan_jax.games.derivatives import linearized_mixed_hvps, player_gradients

_SOLVE_FOR = ("auto", "x", "y")


class CGDState(NamedTuple):
  """The previous solution ``u`` of the linear system, for warm starts.

  It has the structure of the player the system is solved for (see
  ``solve_for``).
  """

  solution: Params


class ACGDState(NamedTuple):
  """ACGD's second-moment estimates and the previous linear-system solution."""

  count: jax.Array  # int32 number of steps taken.
  nu_x: Params
  nu_y: Params
  solution: Params


def _solves_for_x(solve_for: str, x: Params, y: Params) -> bool:
  """Which player's system to solve (static). 'auto' picks the smaller one."""
  if solve_for == "auto":
    return base.tree_size(x) <= base.tree_size(y)
  return solve_for == "x"


def competitive_step(
    loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, gx: Params, gy: Params,
    eta_x: Params, eta_y: Params, u0: Any, *, solve_x: bool, zero_sum: bool,
    cg_tol: float, cg_max_iters: int, reduce: Reduce = base.identity,
) -> tuple[Params, Params, Params, CGInfo]:
  """The (A)CGD update ``(dx, dy)`` for given step sizes (see module docstring).

  Args:
    loss_x: f, the loss player x minimises.
    loss_y: g, the loss player y minimises.
    x: player x's parameters.
    y: player y's parameters.
    gx: ``grad_x f`` at ``(x, y)``, already reduced.
    gy: ``grad_y g`` at ``(x, y)``, already reduced.
    eta_x: step sizes for x: a pytree like x whose leaves are scalars or arrays
      of the leaf's shape, all > 0.
    eta_y: step sizes for y, likewise.
    u0: CG's initial guess, shaped like the player solved for, or None (zeros,
      one matvec cheaper).
    solve_x: solve the system for x (True) or for y (False).
    zero_sum: take the curvature from f alone, assuming ``g = -f`` (SPD
      system, plain CG); otherwise CG on the normal equations with the
      curvature of both losses.
    cg_tol: CG's relative residual tolerance.
    cg_max_iters: most CG iterations.
    reduce: applied to every mixed Hessian-vector product.

  Returns:
    ``(dx, dy, u, info)``: the updates, the system's solution (for the next
    warm start) and CG's info.

  References:
    Schafer & Anandkumar 2019, "Competitive Gradient Descent", section 2;
    Schafer, Zheng & Anandkumar 2020, "Implicit competitive regularization in
    GANs" (ACGD), for the diagonal step sizes.
  """
  hxy_f, hyx_f = linearized_mixed_hvps(loss_x, x, y, reduce)
  if zero_sum:
    hxy_g = lambda v: base.tree_neg(hxy_f(v))
    hyx_g = lambda v: base.tree_neg(hyx_f(v))
  else:
    hxy_g, hyx_g = linearized_mixed_hvps(loss_y, x, y, reduce)

  # a: the player solved for; b: the one found by back-substitution.
  # c_ab maps b-shaped vectors to a-shaped ones, c_ba the reverse; *_t are the
  # transposes (Hessian blocks of the same loss, read the other way round).
  if solve_x:
    ga, gb, eta_a, eta_b = gx, gy, eta_x, eta_y
    c_ab, c_ba, c_ab_t, c_ba_t = hxy_f, hyx_g, hyx_f, hxy_g
  else:
    ga, gb, eta_a, eta_b = gy, gx, eta_y, eta_x
    c_ab, c_ba, c_ab_t, c_ba_t = hyx_g, hxy_f, hxy_g, hyx_f
  s_a = jax.tree.map(jnp.sqrt, eta_a)
  mul = base.tree_mul

  def system(u):  # M u: two mixed Hessian-vector products.
    return base.tree_sub(u, mul(s_a, c_ab(mul(eta_b, c_ba(mul(s_a, u))))))

  rhs = base.tree_neg(mul(s_a, base.tree_sub(ga, c_ab(mul(eta_b, gb)))))
  if zero_sum:
    u, info = conjugate_gradient(system, rhs, u0, cg_tol, cg_max_iters)
  else:
    def system_t(v):  # M^T v
      return base.tree_sub(v, mul(s_a, c_ba_t(mul(eta_b, c_ab_t(mul(s_a, v))))))

    u, info = conjugate_gradient(lambda v: system_t(system(v)), system_t(rhs), u0, cg_tol,
                                 cg_max_iters)
  da = mul(s_a, u)
  db = base.tree_neg(mul(eta_b, base.tree_add(gb, c_ba(da))))
  dx, dy = (da, db) if solve_x else (db, da)
  return dx, dy, u, info


def _metrics(lx, ly, gx, gy, dx, dy, info: CGInfo) -> base.Metrics:
  return {"loss_x": lx, "loss_y": ly,
          "grad_norm_x": base.tree_norm(gx), "grad_norm_y": base.tree_norm(gy),
          "step_norm_x": base.tree_norm(dx), "step_norm_y": base.tree_norm(dy),
          "cg_iterations": info.iterations,
          "cg_relative_residual": info.relative_residual,
          "zero_sum_gap": jnp.abs(lx + ly)}


def _check_solver_args(name, cg_tol, cg_max_iters, warm_start, zero_sum, solve_for):
  base.check_positive(name, "cg_tol", cg_tol)
  base.check_int(name, "cg_max_iters", cg_max_iters, 1)
  base.check_bool(name, "warm_start", warm_start)
  base.check_bool(name, "zero_sum", zero_sum)
  base.check_choice(name, "solve_for", solve_for, _SOLVE_FOR)


def _solution_init(solve_for: str, x: Params, y: Params) -> Params:
  return base.tree_zeros_like(x if _solves_for_x(solve_for, x, y) else y)


def cgd(lr: LearningRate = 1e-2, cg_tol: float = 1e-5, cg_max_iters: int = 100,
        warm_start: bool = True, zero_sum: bool = True, solve_for: str = "auto",
        lr_x: Optional[LearningRate] = None,
        lr_y: Optional[LearningRate] = None) -> GameOptimizer:
  """Competitive gradient descent.

  ``dx = -lr (I - lr^2 D2xy f D2yx g)^{-1} (grad_x f - lr D2xy f grad_y g)``
  solved by conjugate gradient (matrix-free, forward-over-reverse mixed
  Hessian-vector products), and ``dy = -lr (grad_y g + D2yx g dx)`` by
  back-substitution; see the module docstring.

  Zero-sum games: with ``zero_sum=True`` (the default) the curvature is taken
  from ``loss_x`` alone (``D2yx g := -D2yx f``), so the system is SPD whatever
  ``loss_y`` is; gradients still come from each player's own loss. This
  matches the paper exactly when ``loss_y = -loss_x`` up to a constant. The
  metric ``zero_sum_gap = |loss_x + loss_y|`` (free: both values are computed
  anyway) shows whether that holds; a nonzero constant gap is harmless.
  General-sum games need ``zero_sum=False``, which uses both losses'
  curvature and solves the non-symmetric system by CG on the normal
  equations (four mixed products per iteration; ``cg_relative_residual`` is
  then the normal equations' residual).

  Args:
    lr: the step size eta of both players: a float > 0 or an optax schedule
      of the step count (then the state is ``ScheduleState(count,
      CGDState)``).
    cg_tol: CG stops when ``||r|| / ||b|| <= cg_tol``.
    cg_max_iters: most CG iterations per step, >= 1.
    warm_start: start CG from the previous step's solution (with the true
      initial residual ``b - M u0``); otherwise from zero.
    zero_sum: see above.
    solve_for: 'x' or 'y', whose system CG solves; 'auto' picks the player
      with fewer parameters (cheaper vectors; the Krylov space is bounded by
      the smaller dimension either way).
    lr_x: player x's own step size eta_x (float or schedule), or None for
      ``lr``. The local game of the module docstring takes one step size per
      player; unequal ones balance players that learn at different speeds.
    lr_y: player y's, likewise.

  Returns:
    A GameOptimizer whose state is a CGDState (in a ``ScheduleState`` when
    a learning rate is a schedule). Metrics: ``loss_x``, ``loss_y``, ``grad_norm_x``,
    ``grad_norm_y``, ``step_norm_x``, ``step_norm_y``, ``cg_iterations``,
    ``cg_relative_residual``, ``zero_sum_gap``.

  References:
    Schafer & Anandkumar 2019, "Competitive Gradient Descent", section 2
    (the general-sum update and its zero-sum special case).
  """
  lr = base.check_learning_rate("cgd", "lr", lr)
  rate_x = lr if lr_x is None else base.check_learning_rate("cgd", "lr_x", lr_x)
  rate_y = lr if lr_y is None else base.check_learning_rate("cgd", "lr_y", lr_y)
  _check_solver_args("cgd", cg_tol, cg_max_iters, warm_start, zero_sum, solve_for)

  def init(x: Params, y: Params) -> CGDState:
    return CGDState(_solution_init(solve_for, x, y))

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: CGDState,
           reduce: Reduce = base.identity, count=None):
    lx, ly, gx, gy = player_gradients(loss_x, loss_y, x, y, reduce)
    now_x, now_y = base.rate_at(rate_x, count, x), base.rate_at(rate_y, count, y)
    eta_x = jax.tree.map(lambda p: jnp.asarray(now_x, p.dtype), x)
    eta_y = jax.tree.map(lambda p: jnp.asarray(now_y, p.dtype), y)
    dx, dy, u, info = competitive_step(
        loss_x, loss_y, x, y, gx, gy, eta_x, eta_y,
        state.solution if warm_start else None,
        solve_x=_solves_for_x(solve_for, x, y), zero_sum=zero_sum, cg_tol=cg_tol,
        cg_max_iters=cg_max_iters, reduce=reduce)
    new_x, new_y = base.tree_add(x, dx), base.tree_add(y, dy)
    return new_x, new_y, CGDState(u), _metrics(lx, ly, gx, gy, dx, dy, info)

  return base.with_step_count(init, step, rate_x, rate_y)


def acgd(lr: LearningRate = 1e-3, beta2: float = 0.99, eps: float = 1e-8,
         cg_tol: float = 1e-5, cg_max_iters: int = 100, warm_start: bool = True,
         zero_sum: bool = True, solve_for: str = "auto") -> GameOptimizer:
  """Adaptive competitive gradient descent (ACGD).

  CGD with per-coordinate step sizes from RMSprop-style second moments:

      nu_x <- beta2 nu_x + (1 - beta2) (grad_x f)^2        (likewise nu_y)
      eta_x = lr / (sqrt(nu_x / (1 - beta2^t)) + eps)      (likewise eta_y)

  and the update of the module docstring with these diagonal ``eta_x``,
  ``eta_y``. The system is solved in the symmetrically scaled variable
  ``u = eta_x^{-1/2} dx`` (for x; likewise for y), so that in the zero-sum
  case the matrix ``I + eta_x^{1/2} D2xy f eta_y D2yx f eta_x^{1/2}`` is SPD
  and well scaled (eigenvalues >= 1). ``zero_sum`` and ``solve_for`` mean
  what they mean for ``cgd``; the paper states ACGD for zero-sum games.

  Args:
    lr: the base step size: a float > 0 or an optax schedule, evaluated at
      the number of steps taken before this one (``ACGDState.count``).
    beta2: second-moment decay, in [0, 1).
    eps: added to the root of the second moment, > 0; bounds the step sizes
      by ``lr / eps``.
    cg_tol: CG stops when ``||r|| / ||b|| <= cg_tol``.
    cg_max_iters: most CG iterations per step, >= 1.
    warm_start: start CG from the previous step's solution ``u``.
    zero_sum: see ``cgd``.
    solve_for: 'x', 'y' or 'auto'; see ``cgd``.

  Returns:
    A GameOptimizer whose state is an ACGDState; metrics as for ``cgd``.

  References:
    Schafer, Zheng & Anandkumar 2020, "Implicit competitive regularization in
    GANs", the ACGD algorithm (adaptive CGD) used in their experiments.
  """
  name = "acgd"
  lr = base.check_learning_rate(name, "lr", lr)
  beta2 = base.check_interval(name, "beta2", beta2, 0.0, 1.0, include_low=True,
                              include_high=False)
  eps = base.check_positive(name, "eps", eps)
  _check_solver_args(name, cg_tol, cg_max_iters, warm_start, zero_sum, solve_for)

  def init(x: Params, y: Params) -> ACGDState:
    return ACGDState(jnp.zeros((), jnp.int32), base.tree_zeros_like(x),
                     base.tree_zeros_like(y), _solution_init(solve_for, x, y))

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: ACGDState,
           reduce: Reduce = base.identity):
    lx, ly, gx, gy = player_gradients(loss_x, loss_y, x, y, reduce)
    lr_t = base.rate_at(lr, state.count, (x, y))
    count = state.count + 1
    second_moment = lambda nu, g: beta2 * nu + (1 - beta2) * g * g
    nu_x = jax.tree.map(second_moment, state.nu_x, gx)
    nu_y = jax.tree.map(second_moment, state.nu_y, gy)
    # The bias correction in the moments' dtype, once per dtype: float64
    # parameters get a float64 correction (a float32 one would cap their
    # precision at ~1e-7).
    correction = {dtype: 1 - beta2 ** count.astype(dtype)
                  for dtype in {leaf.dtype for leaf in jax.tree.leaves((nu_x, nu_y))}}
    step_size = lambda nu: lr_t / (jnp.sqrt(nu / correction[nu.dtype]) + eps)
    eta_x = jax.tree.map(step_size, nu_x)
    eta_y = jax.tree.map(step_size, nu_y)
    dx, dy, u, info = competitive_step(
        loss_x, loss_y, x, y, gx, gy, eta_x, eta_y,
        state.solution if warm_start else None,
        solve_x=_solves_for_x(solve_for, x, y), zero_sum=zero_sum, cg_tol=cg_tol,
        cg_max_iters=cg_max_iters, reduce=reduce)
    new_x, new_y = base.tree_add(x, dx), base.tree_add(y, dy)
    new_state = ACGDState(count, nu_x, nu_y, u)
    return new_x, new_y, new_state, _metrics(lx, ly, gx, gy, dx, dy, info)

  return GameOptimizer(init, step)
