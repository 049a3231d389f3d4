"""Single steps of each game optimizer against the formula it implements.

The references materialise Hessians and Jacobians with ``jax.hessian`` /
``jax.jacobian`` on flattened parameters and do the linear algebra in float64
numpy, so they share no code path with the matrix-free optimizers.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import gan_jax.games as games


def _f(x, y):
  """A smooth, non-quadratic, coupled loss over pytree players."""
  u = jnp.tanh(x["w"] @ y["v"] + x["b"])
  return (jnp.sum(u ** 2) + jnp.sin(x["b"]) * y["c"] + 0.3 * jnp.sum(y["v"] ** 3)
          + 0.2 * jnp.sum(x["w"] ** 2) - 0.25 * y["c"] ** 2)


def _g_general(x, y):
  """A loss for y that is not -f: extra coupling and its own curvature."""
  return -_f(x, y) + jnp.sum(jnp.cos(x["w"])) * y["c"] + 0.5 * jnp.sum(y["v"] ** 2)


X0 = {"w": jnp.array([[0.3, -0.2], [0.5, 0.1]]), "b": jnp.array(0.4)}
Y0 = {"v": jnp.array([0.7, -1.1]), "c": jnp.array(0.9)}
_, UNRAVEL_X = ravel_pytree(X0)
_, UNRAVEL_Y = ravel_pytree(Y0)
NX = ravel_pytree(X0)[0].shape[0]


def _flat(tree) -> np.ndarray:
  return np.asarray(ravel_pytree(tree)[0], np.float64)


@functools.lru_cache(maxsize=None)
def _derivatives(loss):
  """Gradient and Hessian blocks of ``loss`` at (X0, Y0), in float64 numpy."""
  flat = lambda z: loss(UNRAVEL_X(z[:NX]), UNRAVEL_Y(z[NX:]))
  z = jnp.concatenate([ravel_pytree(X0)[0], ravel_pytree(Y0)[0]])
  grad, hess = jax.jit(lambda z: (jax.grad(flat)(z), jax.hessian(flat)(z)))(z)
  grad, hess = np.asarray(grad, np.float64), np.asarray(hess, np.float64)
  return {"gx": grad[:NX], "gy": grad[NX:], "hxx": hess[:NX, :NX], "hxy": hess[:NX, NX:],
          "hyx": hess[NX:, :NX], "hyy": hess[NX:, NX:]}


@functools.lru_cache(maxsize=None)
def _jitted_step(opt, loss_x, loss_y):
  return jax.jit(functools.partial(opt.step, loss_x, loss_y))


def _step(opt, loss_x, loss_y, x=X0, y=Y0, state=None, steps=1):
  step = _jitted_step(opt, loss_x, loss_y)
  state = opt.init(x, y) if state is None else state
  for _ in range(steps):
    x, y, state, metrics = step(x, y, state)
  return x, y, state, metrics


def _cgd_reference(f, g, eta_x, eta_y):
  """Schafer & Anandkumar 2019, general-sum CGD with diagonal step sizes;
  each player's update from its own linear solve (no back-substitution)."""
  df, dg = _derivatives(f), _derivatives(g)
  gx, gy, dxy_f, dyx_g = df["gx"], dg["gy"], df["hxy"], dg["hyx"]
  ex, ey = np.diag(eta_x), np.diag(eta_y)
  dx = -ex @ np.linalg.solve(np.eye(NX) - ex @ dxy_f @ ey @ dyx_g, gx - dxy_f @ ey @ gy)
  dy = -ey @ np.linalg.solve(np.eye(len(gy)) - ey @ dyx_g @ ex @ dxy_f, gy - dyx_g @ ex @ gx)
  return dx, dy


@pytest.mark.parametrize("solve_for", ["x", "y"])
def test_cgd_zero_sum_step_matches_dense_formula(solve_for):
  lr = 0.7
  f, g = _f, lambda x, y: -_f(x, y)
  opt = games.get("cgd", lr=lr, cg_tol=1e-7, cg_max_iters=30, solve_for=solve_for)
  x1, y1, _, metrics = _step(opt, f, g)
  dx, dy = _cgd_reference(f, g, np.full(NX, lr), np.full(3, lr))
  # The interaction matters at this step size: CGD differs from GDA.
  assert np.abs(dx + lr * _derivatives(f)["gx"]).max() > 1e-2
  np.testing.assert_allclose(_flat(x1) - _flat(X0), dx, rtol=2e-4, atol=2e-5)
  np.testing.assert_allclose(_flat(y1) - _flat(Y0), dy, rtol=2e-4, atol=2e-5)
  assert 1 <= int(metrics["cg_iterations"]) <= 30
  assert float(metrics["cg_relative_residual"]) <= 1e-5
  assert float(metrics["zero_sum_gap"]) < 1e-6


def test_cgd_general_sum_step_matches_dense_formula():
  lr = 0.4
  opt = games.get("cgd", lr=lr, cg_tol=1e-7, cg_max_iters=50, zero_sum=False)
  x1, y1, _, metrics = _step(opt, _f, _g_general)
  dx, dy = _cgd_reference(_f, _g_general, np.full(NX, lr), np.full(3, lr))
  np.testing.assert_allclose(_flat(x1) - _flat(X0), dx, rtol=5e-4, atol=5e-5)
  np.testing.assert_allclose(_flat(y1) - _flat(Y0), dy, rtol=5e-4, atol=5e-5)
  assert float(metrics["zero_sum_gap"]) > 0.1  # the metric sees the game is not zero-sum

  # The zero-sum mode ignores g's own curvature, so it must give another step.
  x1_zs, _, _, _ = _step(games.get("cgd", lr=lr, cg_tol=1e-7), _f, _g_general)
  assert np.abs(_flat(x1_zs) - _flat(x1)).max() > 1e-3


@pytest.mark.parametrize("zero_sum", [True, False])
def test_cgd_per_player_step_sizes_match_dense_formula(zero_sum):
  lr_x, lr_y = 0.6, 0.25
  g = (lambda x, y: -_f(x, y)) if zero_sum else _g_general
  opt = games.get("cgd", lr=1.0, lr_x=lr_x, lr_y=lr_y, cg_tol=1e-7, cg_max_iters=50,
                  zero_sum=zero_sum)
  x1, y1, _, _ = _step(opt, _f, g)
  dx, dy = _cgd_reference(_f, g, np.full(NX, lr_x), np.full(3, lr_y))
  np.testing.assert_allclose(_flat(x1) - _flat(X0), dx, rtol=5e-4, atol=5e-5)
  np.testing.assert_allclose(_flat(y1) - _flat(Y0), dy, rtol=5e-4, atol=5e-5)
  # lr is only the fallback: setting both players' rates leaves it unused.
  x2, _, _, _ = _step(games.get("cgd", lr=0.1, lr_x=lr_x, lr_y=lr_y, cg_tol=1e-7,
                                cg_max_iters=50, zero_sum=zero_sum), _f, g)
  np.testing.assert_array_equal(_flat(x2), _flat(x1))


def test_acgd_step_matches_dense_formula():
  lr, beta2, eps = 0.05, 0.9, 1e-8
  f, g = _f, lambda x, y: -_f(x, y)
  opt = games.get("acgd", lr=lr, beta2=beta2, eps=eps, cg_tol=1e-7, cg_max_iters=30)
  x1, y1, state, _ = _step(opt, f, g)
  d = _derivatives(f)
  gx, gy = d["gx"], -d["gy"]
  # First step: bias-corrected second moment is g^2, so eta = lr / (|g| + eps).
  eta_x, eta_y = lr / (np.abs(gx) + eps), lr / (np.abs(gy) + eps)
  dx, dy = _cgd_reference(f, g, eta_x, eta_y)
  np.testing.assert_allclose(_flat(x1) - _flat(X0), dx, rtol=5e-4, atol=5e-5)
  np.testing.assert_allclose(_flat(y1) - _flat(Y0), dy, rtol=5e-4, atol=5e-5)
  np.testing.assert_allclose(_flat(state.nu_x), (1 - beta2) * gx ** 2, rtol=1e-5)
  assert int(state.count) == 1


def test_cgd_warm_start_same_step_fewer_iterations():
  # A larger coupled game, so that a cold CG solve needs several iterations.
  rng = np.random.default_rng(0)
  w = jnp.asarray(rng.normal(size=(12, 16)) / 2, jnp.float32)
  f = lambda x, y: jnp.sum(jnp.tanh(w @ y["v"]) * x) + 0.1 * x @ x - 0.1 * y["v"] @ y["v"]
  g = lambda x, y: -f(x, y)
  x0 = jnp.asarray(rng.normal(size=12), jnp.float32)
  y0 = {"v": jnp.asarray(rng.normal(size=16), jnp.float32)}
  kw = dict(lr=0.5, cg_tol=1e-5, cg_max_iters=50)
  warm_opt = games.get("cgd", warm_start=True, **kw)
  cold_opt = games.get("cgd", warm_start=False, **kw)
  wx, wy, w_state, _ = _step(warm_opt, f, g, x0, y0, steps=3)
  cx, cy, c_state, _ = _step(cold_opt, f, g, x0, y0, steps=3)
  np.testing.assert_allclose(_flat((wx, wy)), _flat((cx, cy)), rtol=1e-4, atol=1e-5)
  # Solving the same system again: from the stored solution, the true initial
  # residual b - A u0 is already small; from zero it is b.
  _, _, solved, _ = _step(warm_opt, f, g, wx, wy, w_state)  # holds the solution at (wx, wy)
  x_a, y_a, _, m_warm = _step(warm_opt, f, g, wx, wy, solved)
  x_b, y_b, _, m_cold = _step(cold_opt, f, g, wx, wy, c_state)
  np.testing.assert_allclose(_flat((x_a, y_a)), _flat((x_b, y_b)), rtol=1e-4, atol=1e-5)
  assert int(m_cold["cg_iterations"]) >= 4
  assert int(m_warm["cg_iterations"]) < int(m_cold["cg_iterations"])


def test_cgd_without_interaction_is_gradient_descent():
  # Separable losses: no mixed curvature, so CGD reduces to GDA; scalar players.
  f = lambda x, y: 0.5 * x ** 2 + jnp.cos(y)
  g = lambda x, y: -f(x, y)
  x, y = jnp.array(1.5), jnp.array(0.3)
  x1, y1, _, metrics = _step(games.get("cgd", lr=0.1), f, g, x, y)
  np.testing.assert_allclose(float(x1), 1.5 - 0.1 * 1.5, rtol=1e-6)
  np.testing.assert_allclose(float(y1), 0.3 - 0.1 * np.sin(0.3), rtol=1e-6)
  assert int(metrics["cg_iterations"]) <= 1


@pytest.mark.parametrize("name", ["cgd", "acgd"])
def test_competitive_step_at_equilibrium_is_finite_zero(name):
  # Zero gradients: the CG right-hand side is 0 (and ACGD's second moments are
  # 0, so its step sizes are lr / eps).
  f = lambda x, y: x * y
  g = lambda x, y: -x * y
  x1, y1, state, metrics = _step(games.get(name), f, g, jnp.array(0.0), jnp.array(0.0), steps=2)
  for v in (x1, y1, metrics["cg_relative_residual"]) + tuple(jax.tree.leaves(state)):
    assert np.all(np.isfinite(np.asarray(v)))
  assert float(x1) == 0.0 and float(y1) == 0.0
  assert int(metrics["cg_iterations"]) == 0


# ----------------------------------------------------------------------------
# Jacobian-based first-order methods.


def _game_jacobian(loss_x, loss_y):
  """xi and the full Jacobian of xi = (grad_x loss_x, grad_y loss_y), float64."""
  dfx, dgy = _derivatives(loss_x), _derivatives(loss_y)
  xi = np.concatenate([dfx["gx"], dgy["gy"]])
  jac = np.block([[dfx["hxx"], dfx["hxy"]], [dgy["hyx"], dgy["hyy"]]])
  return xi, jac


def test_consensus_step_matches_explicit_jacobian():
  lr, gamma = 0.05, 0.7
  x1, y1, _, m = _step(games.get("consensus", lr_x=lr, lr_y=lr, gamma=gamma), _f, _g_general)
  xi, jac = _game_jacobian(_f, _g_general)
  expected = -lr * (xi + gamma * jac.T @ xi)
  np.testing.assert_allclose(_flat((x1, y1)) - _flat((X0, Y0)), expected, rtol=1e-4,
                             atol=1e-6)
  np.testing.assert_allclose(float(m["hamiltonian"]), 0.5 * xi @ xi, rtol=1e-5)


def _neg_f(x, y):
  return -_f(x, y)


@pytest.mark.parametrize("loss_y,align,want_sign", [
    (_g_general, True, 1.0),
    (_neg_f, True, -1.0),   # here <xi, grad H><A^T xi, grad H> < 0: the sign flips
    (_neg_f, False, 1.0),   # without alignment lambda keeps its sign
])
def test_sga_step_matches_explicit_jacobian(loss_y, align, want_sign):
  lr, lam, epsilon = 0.05, 0.8, 0.1
  xi, jac = _game_jacobian(_f, loss_y)
  at_xi = 0.5 * (jac.T - jac) @ xi
  grad_h = jac.T @ xi
  score = (xi @ grad_h) * (at_xi @ grad_h) / len(xi) + epsilon
  sign = np.sign(score) if align else 1.0
  assert sign == want_sign and abs(score) > 1e-3  # the case is what it claims to be
  opt = games.get("sga", lr_x=lr, lr_y=lr, lam=lam, align=align, epsilon=epsilon)
  x1, y1, _, m = _step(opt, _f, loss_y)
  expected = -lr * (xi + sign * lam * at_xi)
  np.testing.assert_allclose(_flat((x1, y1)) - _flat((X0, Y0)), expected, rtol=1e-4,
                             atol=1e-6)
  assert float(m["sga_lambda"]) == pytest.approx(sign * lam)


# ----------------------------------------------------------------------------
# Plain first-order methods.


@jax.jit
def _grads_jit(x, y):
  return jax.grad(_f, argnums=0)(x, y), jax.grad(_g_general, argnums=1)(x, y)


def _grads(x, y):
  """Player gradients of the (_f, _g_general) game, flattened."""
  gx, gy = _grads_jit(x, y)
  return _flat(gx), _flat(gy)


def test_simultaneous_alternating_and_extragradient_steps():
  lr_x, lr_y = 0.1, 0.2
  x0, y0 = _flat(X0), _flat(Y0)
  gx, gy = _grads(X0, Y0)

  x1, y1, _, _ = _step(games.get("simultaneous_gda", lr_x=lr_x, lr_y=lr_y), _f, _g_general)
  np.testing.assert_allclose(_flat(x1), x0 - lr_x * gx, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(_flat(y1), y0 - lr_y * gy, rtol=1e-5, atol=1e-6)

  # Alternating: y moves first; x's gradient is taken at the new y.
  x1, y1, _, _ = _step(games.get("alternating_gda", lr_x=lr_x, lr_y=lr_y), _f, _g_general)
  y_new = y0 - lr_y * gy
  gx_new, _ = _grads(X0, UNRAVEL_Y(jnp.asarray(y_new, jnp.float32)))
  np.testing.assert_allclose(_flat(y1), y_new, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(_flat(x1), x0 - lr_x * gx_new, rtol=1e-5, atol=1e-6)

  # Extragradient: gradient at the extrapolated point, step from the start.
  x1, y1, _, _ = _step(games.get("extragradient", lr_x=lr_x, lr_y=lr_y), _f, _g_general)
  xh = UNRAVEL_X(jnp.asarray(x0 - lr_x * gx, jnp.float32))
  yh = UNRAVEL_Y(jnp.asarray(y0 - lr_y * gy, jnp.float32))
  gxh, gyh = _grads(xh, yh)
  np.testing.assert_allclose(_flat(x1), x0 - lr_x * gxh, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(_flat(y1), y0 - lr_y * gyh, rtol=1e-5, atol=1e-6)


def test_optimistic_gda_uses_previous_gradient():
  lr = 0.1
  opt = games.get("optimistic_gda", lr_x=lr, lr_y=lr)
  x1, y1, state, _ = _step(opt, _f, _g_general)
  gx0, gy0 = _grads(X0, Y0)
  # First step: no previous gradient, plain GDA.
  np.testing.assert_allclose(_flat(x1), _flat(X0) - lr * gx0, rtol=1e-5, atol=1e-6)
  x2, y2, _, _ = _step(opt, _f, _g_general, x1, y1, state)
  gx1, gy1 = _grads(x1, y1)
  np.testing.assert_allclose(_flat(x2), _flat(x1) - 2 * lr * gx1 + lr * gx0, rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(_flat(y2), _flat(y1) - 2 * lr * gy1 + lr * gy0, rtol=1e-5,
                             atol=1e-6)


def test_extra_adam_first_step():
  lr, b1, b2, eps = 0.01, 0.5, 0.9, 1e-8
  x1, y1, state, _ = _step(games.get("extra_adam", lr_x=lr, lr_y=lr, b1=b1, b2=b2, eps=eps),
                           _f, _g_general)
  gx, gy = _grads(X0, Y0)
  # Extrapolation with one bias-corrected Adam step = lr * sign(g).
  xh = _flat(X0) - lr * gx / (np.abs(gx) + eps)
  yh = _flat(Y0) - lr * gy / (np.abs(gy) + eps)
  gxh, gyh = _grads(UNRAVEL_X(jnp.asarray(xh, jnp.float32)),
                    UNRAVEL_Y(jnp.asarray(yh, jnp.float32)))

  def second(g0, g1):  # moments after two updates, bias-corrected with t = 2
    m = b1 * (1 - b1) * g0 + (1 - b1) * g1
    v = b2 * (1 - b2) * g0 ** 2 + (1 - b2) * g1 ** 2
    return (m / (1 - b1 ** 2)) / (np.sqrt(v / (1 - b2 ** 2)) + eps)

  np.testing.assert_allclose(_flat(x1), _flat(X0) - lr * second(gx, gxh), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(_flat(y1), _flat(Y0) - lr * second(gy, gyh), rtol=1e-4, atol=1e-6)
  assert int(state.count) == 2


def test_lookahead_synchronises_every_k_steps():
  k, alpha, lr = 3, 0.4, 0.1
  inner = games.get("simultaneous_gda", lr_x=lr, lr_y=lr)
  opt = games.get("lookahead", inner="simultaneous_gda", inner_hparams=dict(lr_x=lr, lr_y=lr),
                  k=k, alpha=alpha)
  step = jax.jit(functools.partial(opt.step, _f, _g_general))
  inner_step = jax.jit(functools.partial(inner.step, _f, _g_general))
  x, y, state = X0, Y0, opt.init(X0, Y0)
  fx, fy = X0, Y0
  for t in range(1, 2 * k + 1):
    slow = (_flat(state.slow_x), _flat(state.slow_y))
    x, y, state, m = step(x, y, state)
    fx, fy, _, _ = inner_step(fx, fy, ())
    if t % k:
      np.testing.assert_allclose(_flat(x), _flat(fx), rtol=1e-5, atol=1e-6)
      assert float(m["lookahead_synced"]) == 0.0
    else:
      want_x = slow[0] + alpha * (_flat(fx) - slow[0])
      want_y = slow[1] + alpha * (_flat(fy) - slow[1])
      np.testing.assert_allclose(_flat(x), want_x, rtol=1e-5, atol=1e-6)
      np.testing.assert_allclose(_flat(y), want_y, rtol=1e-5, atol=1e-6)
      np.testing.assert_allclose(_flat(state.slow_x), want_x, rtol=1e-5, atol=1e-6)
      assert float(m["lookahead_synced"]) == 1.0
      fx, fy = x, y  # the fast weights restart from the slow ones


def test_unrolled_differentiates_through_the_unroll():
  k, lr_x, lr_y, eta = 4, 0.1, 0.2, 0.3
  opt = games.get("unrolled", lr_x=lr_x, lr_y=lr_y, unroll_steps=k, unroll_lr=eta)
  x1, y1, _, m = _step(opt, _f, _g_general)

  def surrogate(x):  # loss_x(x, y_K(x)) with a plain Python unroll, via jax.grad
    y = Y0
    for _ in range(k):
      gy = jax.grad(_g_general, argnums=1)(x, y)
      y = jax.tree.map(lambda a, b: a - eta * b, y, gy)
    return _f(x, y)

  value, gx = jax.jit(jax.value_and_grad(surrogate))(X0)
  gx_plain, gy = _grads(X0, Y0)
  assert np.abs(_flat(gx) - gx_plain).max() > 1e-2  # the unroll changes the gradient
  np.testing.assert_allclose(_flat(x1), _flat(X0) - lr_x * _flat(gx), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(_flat(y1), _flat(Y0) - lr_y * gy, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(float(m["loss_x_unrolled"]), float(value), rtol=1e-5)

  # Zero unrolled steps is simultaneous GDA.
  x0s, y0s, _, _ = _step(games.get("unrolled", lr_x=lr_x, lr_y=lr_y, unroll_steps=0),
                         _f, _g_general)
  np.testing.assert_allclose(_flat(x0s), _flat(X0) - lr_x * gx_plain, rtol=1e-5, atol=1e-6)
