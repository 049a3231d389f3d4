"""ACGD in float64: a step matches a dense float64 solve of its update to 1e-10.

The reference builds the gradients and Hessian blocks densely with
``jax.hessian`` in float64, forms ACGD's diagonal step sizes from the
bias-corrected second moments, and solves the block system of the
competitive step with ``numpy.linalg.solve``; see gan_jax/games/cgd.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import gan_jax.games as games
from gan_jax.games.cgd import ACGDState

LR, BETA2, EPS, COUNT = 1.0, 0.999, 1e-8, 4


def _game(seed):
  """A tiny non-quadratic game over pytree players, float64, and its state."""
  rng = np.random.default_rng(seed)
  a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
  c, p, q = rng.normal(size=4), rng.normal(size=(3, 3)), rng.normal(size=(4, 4))

  def f(x, y):
    u = jnp.concatenate([x["w"], x["s"][None]])
    return (u @ a @ y + jnp.sum(jnp.sin(u) * (b @ y)) + 0.5 * u @ (p @ p.T) @ u
            + jnp.tanh(u @ a @ c) - 0.3 * jnp.sum(y ** 2))

  def g(x, y):  # Not -f: its own coupling and curvature.
    u = jnp.concatenate([x["w"], x["s"][None]])
    return -f(x, y) + jnp.cos(u) @ b @ y + 0.5 * y @ (q @ q.T) @ y

  x = {"w": jnp.asarray(rng.normal(size=2)), "s": jnp.asarray(rng.normal())}
  y = jnp.asarray(rng.normal(size=4))
  nu = lambda t: jax.tree.map(lambda leaf: jnp.asarray(rng.uniform(0.1, 2.0, np.shape(leaf))), t)
  return f, g, x, y, nu(x), nu(y)


def _reference(f, g, x, y, nu_x, nu_y):
  """The ACGD step (dx, dy) by a dense float64 solve, and x's step without interaction."""
  fx, unravel_x = ravel_pytree(x)
  nx = fx.shape[0]
  z = np.concatenate([np.asarray(fx), np.asarray(y)])
  flat = lambda loss: (lambda z: loss(unravel_x(z[:nx]), z[nx:]))
  grad_f, hess_f = jax.grad(flat(f))(z), jax.hessian(flat(f))(z)
  grad_g, hess_g = jax.grad(flat(g))(z), jax.hessian(flat(g))(z)
  gx, gy = np.asarray(grad_f[:nx]), np.asarray(grad_g[nx:])
  dxy_f, dyx_g = np.asarray(hess_f[:nx, nx:]), np.asarray(hess_g[nx:, :nx])
  correction = 1 - BETA2 ** (COUNT + 1)
  eta = lambda nu, grad: LR / (np.sqrt((BETA2 * nu + (1 - BETA2) * grad ** 2) / correction) + EPS)
  ex = np.diag(eta(np.asarray(ravel_pytree(nu_x)[0]), gx))
  ey = np.diag(eta(np.asarray(nu_y), gy))
  # dx = -eta_x (gx + D2xy f dy), dy = -eta_y (gy + D2yx g dx), as one block system.
  ny = gy.shape[0]
  system = np.block([[np.eye(nx), ex @ dxy_f], [ey @ dyx_g, np.eye(ny)]])
  d = np.linalg.solve(system, -np.concatenate([ex @ gx, ey @ gy]))
  return d[:nx], d[nx:], -ex @ gx


def _relative_error(a, b):
  return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("solve_for", ["x", "y"])
@pytest.mark.parametrize("zero_sum", [True, False])
def test_float64_acgd_step_matches_dense_solve(zero_sum, solve_for):
  with jax.enable_x64(True):
    f, g, x, y, nu_x, nu_y = _game(seed=3)
    loss_y = (lambda xx, yy: -f(xx, yy)) if zero_sum else g
    opt = games.get("acgd", lr=LR, beta2=BETA2, eps=EPS, cg_tol=1e-13, cg_max_iters=200,
                    zero_sum=zero_sum, solve_for=solve_for)
    solution = opt.init(x, y).solution
    assert {leaf.dtype for leaf in jax.tree.leaves((x, y, solution))} == {jnp.dtype("float64")}
    state = ACGDState(jnp.asarray(COUNT, jnp.int32), nu_x, nu_y, solution)
    new_x, new_y, new_state, metrics = jax.jit(
        lambda x, y, s: opt.step(f, loss_y, x, y, s))(x, y, state)
    dx_ref, dy_ref, dx_alone = _reference(f, loss_y, x, y, nu_x, nu_y)
    assert new_y.dtype == jnp.float64
    dx = np.asarray(ravel_pytree(new_x)[0] - ravel_pytree(x)[0])
    dy = np.asarray(new_y - y)
    assert float(metrics["cg_relative_residual"]) <= 1e-12
    assert int(new_state.count) == COUNT + 1
  assert _relative_error(dx, dx_ref) < 1e-10, _relative_error(dx, dx_ref)
  assert _relative_error(dy, dy_ref) < 1e-10, _relative_error(dy, dy_ref)
  # The interaction matters: the step is not the diagonal gradient step.
  assert _relative_error(dx_alone, dx_ref) > 1e-2
