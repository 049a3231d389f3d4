"""Each optimizer on games whose Nash equilibrium is known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gan_jax.games as games


def _run(opt, loss_x, loss_y, x, y, steps):
  """Runs ``steps`` jitted steps; returns the final point and metrics."""

  @jax.jit
  def go(x, y):
    def body(carry, _):
      x, y, state = carry
      x, y, state, metrics = opt.step(loss_x, loss_y, x, y, state)
      return (x, y, state), (x, y, metrics)

    (x, y, _), trajectory = jax.lax.scan(body, (x, y, opt.init(x, y)), None, length=steps)
    return x, y, trajectory

  return go(x, y)


# ----------------------------------------------------------------------------
# The bilinear game min_x max_y x*y, equilibrium (0, 0), from (1, 1).


def _bilinear_x(x, y):
  return x * y


def _bilinear_y(x, y):
  return -x * y


def test_simultaneous_gda_diverges_on_bilinear_game():
  opt = games.get("simultaneous_gda", lr_x=0.1, lr_y=0.1)
  _, _, (xs, ys, _) = _run(opt, _bilinear_x, _bilinear_y, jnp.array(1.0), jnp.array(1.0), 100)
  dist = np.hypot(np.asarray(xs), np.asarray(ys))
  assert np.all(np.diff(dist) > 0)  # spirals outwards, every step
  # Each step multiplies the distance by sqrt(1 + lr^2).
  np.testing.assert_allclose(dist[-1], np.sqrt(2) * (1 + 0.01) ** 50, rtol=1e-3)


@pytest.mark.parametrize("name,hparams", [
    ("extragradient", dict(lr_x=0.3, lr_y=0.3)),
    ("optimistic_gda", dict(lr_x=0.3, lr_y=0.3)),
    ("consensus", dict(lr_x=0.1, lr_y=0.1, gamma=1.0)),
    ("sga", dict(lr_x=0.1, lr_y=0.1, lam=1.0)),
    ("cgd", dict(lr=0.5)),
])
def test_bilinear_game_converges(name, hparams):
  x, y, (_, _, metrics) = _run(games.get(name, **hparams), _bilinear_x, _bilinear_y,
                               jnp.array(1.0), jnp.array(1.0), 300)
  assert float(jnp.hypot(x, y)) < 1e-2
  for value in metrics.values():
    assert np.all(np.isfinite(np.asarray(value)))


# ----------------------------------------------------------------------------
# A strongly-convex-concave quadratic game over pytree players:
#   f(x, y) = a/2 |x|^2 + x^T B y - c/2 |y|^2 + p^T x + q^T y,
# x = {"u": (2,), "s": ()} read as a 3-vector, y = {"v": (2,)}.

_A, _C = 0.3, 0.5
_B = np.array([[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]], np.float32)
_P = np.array([0.5, -1.0, 0.3], np.float32)
_Q = np.array([-0.4, 0.6], np.float32)


def _xvec(x):
  return jnp.concatenate([x["u"], x["s"][None]])


def _quadratic(x, y):
  u, v = _xvec(x), y["v"]
  return 0.5 * _A * u @ u + u @ (_B @ v) - 0.5 * _C * v @ v + _P @ u + _Q @ v


def _neg_quadratic(x, y):
  return -_quadratic(x, y)


def _nash():
  """Solves grad_x f = 0, grad_y f = 0 in float64."""
  kkt = np.block([[_A * np.eye(3), _B], [_B.T, -_C * np.eye(2)]])
  z = np.linalg.solve(kkt, -np.concatenate([_P, _Q]).astype(np.float64))
  return z[:3], z[3:]


# (hyperparameters, steps, tolerance on the max-abs distance to the equilibrium)
_QUADRATIC_SETTINGS = {
    "simultaneous_gda": (dict(lr_x=0.1, lr_y=0.1), 400, 1e-3),
    "alternating_gda": (dict(lr_x=0.1, lr_y=0.1), 400, 1e-3),
    "extragradient": (dict(lr_x=0.3, lr_y=0.3), 400, 1e-4),
    "optimistic_gda": (dict(lr_x=0.2, lr_y=0.2), 400, 1e-4),
    "consensus": (dict(lr_x=0.1, lr_y=0.1, gamma=1.0), 400, 1e-4),
    "sga": (dict(lr_x=0.1, lr_y=0.1), 400, 1e-3),
    "unrolled": (dict(lr_x=0.1, lr_y=0.1, unroll_steps=5), 400, 1e-3),
    "lookahead": (dict(inner="simultaneous_gda", inner_hparams=dict(lr_x=0.2, lr_y=0.2), k=5,
                       alpha=0.5), 400, 1e-3),
    "cgd": (dict(lr=0.5), 100, 1e-5),
    "acgd": (dict(lr=0.02), 400, 1e-4),
    # Adam's normalised steps hover at a distance of order lr around the point.
    "extra_adam": (dict(lr_x=0.01, lr_y=0.01), 400, 3e-2),
}


def test_every_registered_optimizer_has_a_quadratic_setting():
  assert sorted(_QUADRATIC_SETTINGS) == games.names()


@pytest.mark.parametrize("name", sorted(_QUADRATIC_SETTINGS))
def test_quadratic_game_finds_nash_equilibrium(name):
  hparams, steps, tol = _QUADRATIC_SETTINGS[name]
  x_star, y_star = _nash()
  x0 = {"u": jnp.zeros(2), "s": jnp.zeros(())}
  y0 = {"v": jnp.zeros(2)}
  start = max(np.abs(x_star).max(), np.abs(y_star).max())
  assert start > 1.0  # the start is far from the equilibrium
  x, y, _ = _run(games.get(name, **hparams), _quadratic, _neg_quadratic, x0, y0, steps)
  assert jax.tree.structure(x) == jax.tree.structure(x0)
  err = max(np.abs(np.asarray(_xvec(x)) - x_star).max(),
            np.abs(np.asarray(y["v"]) - y_star).max())
  assert err < tol, f"{name}: distance {err:.2e} to the equilibrium"
