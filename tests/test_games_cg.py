"""Tests for the conjugate gradient solver and the matrix-free mixed HVPs."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gan_jax.games import cg, derivatives


def _spd(n: int, seed: int, cond: float = 50.0) -> np.ndarray:
  rng = np.random.default_rng(seed)
  q, _ = np.linalg.qr(rng.normal(size=(n, n)))
  return (q * np.geomspace(1.0, cond, n)) @ q.T


def _pytree_problem(seed: int):
  """An SPD system over the pytree {'a': (3,), 'b': (2, 2)} (7 unknowns)."""
  a = _spd(7, seed)
  b = np.random.default_rng(seed + 1).normal(size=7)
  template = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2))}
  _, unravel = ravel_pytree(template)
  a32 = jnp.asarray(a, jnp.float32)
  matvec = lambda v: unravel(a32 @ ravel_pytree(v)[0])
  return a, b, unravel, matvec


def _flat(tree) -> np.ndarray:
  return np.asarray(ravel_pytree(tree)[0])


def test_cg_matches_dense_solve_on_array():
  a = _spd(12, seed=0)
  b = np.random.default_rng(1).normal(size=12)
  a32 = jnp.asarray(a, jnp.float32)
  x, info = jax.jit(lambda b: cg.conjugate_gradient(lambda v: a32 @ v, b, None, 1e-6, 100))(
      jnp.asarray(b, jnp.float32))
  np.testing.assert_allclose(np.asarray(x), np.linalg.solve(a, b), rtol=1e-4, atol=1e-4)
  assert 0 < int(info.iterations) <= 2 * 12  # n in exact arithmetic; float32 needs a few more
  assert float(info.relative_residual) <= 1e-6
  assert bool(info.converged)
  true_res = np.linalg.norm(b - a @ np.asarray(x, np.float64)) / np.linalg.norm(b)
  assert true_res < 1e-4


def test_cg_pytree_and_warm_start():
  a, b, unravel, matvec = _pytree_problem(seed=3)
  solve = jax.jit(lambda b, x0: cg.conjugate_gradient(matvec, b, x0, 1e-6, 50))
  zeros = unravel(jnp.zeros(7))
  x_cold, info_cold = solve(unravel(jnp.asarray(b, jnp.float32)), zeros)
  assert jax.tree.structure(x_cold) == jax.tree.structure(zeros)
  np.testing.assert_allclose(_flat(x_cold), np.linalg.solve(a, b), rtol=1e-4, atol=1e-4)

  # A nearby right-hand side, warm started from the old solution: same answer
  # as a cold solve, in fewer iterations (the warm start's initial residual
  # must be b - A x0, or the answer would be wrong). The step is small enough
  # that the warm start needs far fewer than the 7 iterations CG needs from
  # zero; at 1e-3 both took 8 in float32 under some XLA options.
  b2 = b + 1e-5 * np.random.default_rng(9).normal(size=7)
  x_warm, info_warm = solve(unravel(jnp.asarray(b2, jnp.float32)), x_cold)
  x_cold2, info_cold2 = solve(unravel(jnp.asarray(b2, jnp.float32)), zeros)
  expected = np.linalg.solve(a, b2)
  np.testing.assert_allclose(_flat(x_warm), expected, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(_flat(x_cold2), expected, rtol=1e-4, atol=1e-4)
  assert int(info_warm.iterations) < int(info_cold2.iterations)


def test_cg_zero_rhs_gives_zero_without_nan():
  _, _, unravel, matvec = _pytree_problem(seed=5)
  zeros = unravel(jnp.zeros(7))
  x0 = unravel(jnp.arange(7.0))  # a nonzero warm start must not leak through
  for start in (None, x0):
    x, info = cg.conjugate_gradient(matvec, zeros, start, 1e-6, 20)
    assert np.all(_flat(x) == 0.0)
    assert int(info.iterations) == 0
    assert float(info.relative_residual) == 0.0


def test_cg_stops_on_zero_curvature():
  # A = 0 is not SPD: the first direction has p^T A p = 0; the solver must stop
  # with finite values instead of dividing by zero.
  b = jnp.array([1.0, -2.0])
  x, info = cg.conjugate_gradient(lambda v: 0.0 * v, b, None, 1e-6, 10)
  assert np.all(np.isfinite(np.asarray(x)))
  assert int(info.iterations) == 1
  assert not bool(info.converged)


def test_cg_scalar_unknown():
  x, info = cg.conjugate_gradient(lambda v: 4.0 * v, jnp.array(2.0), jnp.array(0.0), 1e-6, 10)
  np.testing.assert_allclose(float(x), 0.5, rtol=1e-6)
  assert int(info.iterations) == 1


def test_cg_respects_max_iters():
  a = _spd(20, seed=7, cond=1e3)
  a32 = jnp.asarray(a, jnp.float32)
  _, info = cg.conjugate_gradient(lambda v: a32 @ v, jnp.ones(20), None, 1e-12, 3)
  assert int(info.iterations) == 3
  assert float(info.relative_residual) > 1e-12


# ----------------------------------------------------------------------------
# Mixed Hessian-vector products.


def _small_game():
  """A smooth non-quadratic loss over pytree players (x: 5 scalars, y: 3)."""
  def loss(x, y):
    u = jnp.tanh(x["w"] @ y["v"] + x["b"])          # (2,)
    return jnp.sum(u ** 2) + jnp.sin(x["b"]) * y["c"] + 0.3 * jnp.sum(y["v"] ** 3)

  x = {"w": jnp.array([[0.3, -0.2], [0.5, 0.1]]), "b": jnp.array(0.4)}
  y = {"v": jnp.array([0.7, -1.1]), "c": jnp.array(0.9)}
  return loss, x, y


def _hessian_blocks(loss, x, y):
  fx, unravel_x = ravel_pytree(x)
  fy, unravel_y = ravel_pytree(y)
  n = fx.shape[0]
  flat = lambda z: loss(unravel_x(z[:n]), unravel_y(z[n:]))
  h = np.asarray(jax.jit(jax.hessian(flat))(jnp.concatenate([fx, fy])))
  return h[:n, n:], h[n:, :n], unravel_x, unravel_y


def test_mixed_hvps_match_hessian_blocks():
  loss, x, y = _small_game()
  hxy, hyx, unravel_x, unravel_y = _hessian_blocks(loss, x, y)
  assert np.abs(hxy).max() > 0.1  # the test game really couples the players
  rng = np.random.default_rng(0)
  vy = rng.normal(size=hxy.shape[1]).astype(np.float32)
  vx = rng.normal(size=hxy.shape[0]).astype(np.float32)

  @jax.jit
  def products(vx, vy):
    vx, vy = unravel_x(vx), unravel_y(vy)
    lin_xy, lin_yx = derivatives.linearized_mixed_hvps(loss, x, y, reduce=lambda t: 3.0 * t)
    return (derivatives.mixed_hvp_xy(loss, x, y, vy), derivatives.mixed_hvp_yx(loss, x, y, vx),
            lin_xy(vy), lin_yx(vx))

  out_xy, out_yx, lin_xy, lin_yx = products(jnp.asarray(vx), jnp.asarray(vy))
  assert jax.tree.structure(out_xy) == jax.tree.structure(x)
  assert jax.tree.structure(out_yx) == jax.tree.structure(y)
  np.testing.assert_allclose(_flat(out_xy), hxy @ vy, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(_flat(out_yx), hyx @ vx, rtol=1e-5, atol=1e-5)
  # The linearized products, with a reduce that the result must pass through.
  np.testing.assert_allclose(_flat(lin_xy), 3 * hxy @ vy, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(_flat(lin_yx), 3 * hyx @ vx, rtol=1e-5, atol=1e-5)
