import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gan_jax import losses


def np_log_sigmoid(x):
  return -np.logaddexp(0.0, -x)


def test_value_is_minus_log4_at_equilibrium():
  # p_g = p_data and D = 1/2 everywhere: logits are 0.
  zeros = jnp.zeros((7,))
  value = jax.jit(losses.minimax_value)(zeros, jnp.zeros((5,)))
  np.testing.assert_allclose(value, -math.log(4.0), rtol=1e-6)


@pytest.mark.parametrize("name", ["minimax", "non_saturating"])
def test_losses_match_numpy(name):
  rng = np.random.default_rng(0)
  real = rng.normal(size=(9,)).astype(np.float32) * 3
  fake = rng.normal(size=(9,)).astype(np.float32) * 3
  value = np.mean(np_log_sigmoid(real)) + np.mean(np_log_sigmoid(-fake))
  expected_g = value if name == "minimax" else -np.mean(np_log_sigmoid(fake))
  d_loss, g_loss = losses.get(name)
  np.testing.assert_allclose(jax.jit(d_loss)(real, fake), -value, rtol=1e-5)
  np.testing.assert_allclose(jax.jit(g_loss)(real, fake), expected_g, rtol=1e-5)


# The built-in losses (read at import, before any test registers its own).
BUILT_IN = losses.names()


def test_saturated_logits_stay_finite():
  big = jnp.array([1e4, -1e4], jnp.float32)
  for name in BUILT_IN:
    d_loss, g_loss = losses.get(name)
    values_and_grads = jax.value_and_grad(lambda r, f: d_loss(r, f) + g_loss(r, f), (0, 1))(big, -big)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(values_and_grads))


def _quantile_samples(dist, n):
  # Deterministic "samples" whose empirical mean integrates smooth functions accurately.
  return dist.ppf((np.arange(n) + 0.5) / n)


def test_optimal_discriminator_maximises_value():
  p_data, p_g = stats.norm(0.0, 1.0), stats.norm(1.0, 1.5)
  x_real = _quantile_samples(p_data, 200_000)
  x_fake = _quantile_samples(p_g, 200_000)
  optimal_logit = lambda x: p_data.logpdf(x) - p_g.logpdf(x)  # logit of p_d / (p_d + p_g)
  value = jax.jit(losses.minimax_value)

  best = float(value(optimal_logit(x_real), optimal_logit(x_fake)))
  # Goodfellow et al. 2014, Theorem 1: V(D*, G) = -log 4 + 2 JSD(p_data || p_g).
  grid = np.linspace(-15, 15, 300_001)
  pd, pg = p_data.pdf(grid), p_g.pdf(grid)
  m = 0.5 * (pd + pg)
  jsd = 0.5 * np.trapezoid(pd * np.log(pd / m), grid) + 0.5 * np.trapezoid(pg * np.log(pg / m), grid)
  np.testing.assert_allclose(best, -math.log(4) + 2 * jsd, atol=1e-3)

  for perturb in (lambda x: 0.3 + 0 * x, lambda x: -0.2 * x, lambda x: 0.5 * np.sin(x), lambda x: 0.1 * x**2):
    worse = float(value(optimal_logit(x_real) + perturb(x_real), optimal_logit(x_fake) + perturb(x_fake)))
    assert worse < best


def test_shape_mismatch_raises():
  with pytest.raises(ValueError, match="must agree"):
    losses.minimax_value(jnp.zeros((4, 2)), jnp.zeros((4, 3)))


def test_registry():
  assert {"minimax", "non_saturating"} <= set(losses.names())
  with pytest.raises(ValueError, match="unknown loss 'nope'; known: "):
    losses.get("nope")
  with pytest.raises(ValueError, match="already registered"):
    losses.register("minimax", losses.discriminator_loss, losses.saturating_generator_loss)
