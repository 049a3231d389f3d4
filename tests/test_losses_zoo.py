"""The GAN zoo's losses against independent numpy formulas, under jax.jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses


def np_log_sigmoid(x):
  return -np.logaddexp(0.0, -x)


def _logits(seed=0, n=9):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(n,)).astype(np.float32) * 3,
          rng.normal(size=(n + 2,)).astype(np.float32) * 3)  # Batches may differ in size.


def _expected(name, r, f, s=0.0):
  """(d_loss, g_loss) written out in numpy from the papers' formulas."""
  if name == "wasserstein":
    return f.mean() - r.mean(), -f.mean()
  if name == "hinge":
    return np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(), -f.mean()
  if name == "least_squares":
    return 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(), 0.5 * ((f - 1) ** 2).mean()
  if name == "relativistic":
    dr, df = r - f.mean(), f - r.mean()
    d = (-((1 - s) * np_log_sigmoid(dr) + s * np_log_sigmoid(-dr)).mean()
         - np_log_sigmoid(-df).mean())
    return d, -np_log_sigmoid(df).mean() - np_log_sigmoid(-dr).mean()
  d = -((1 - s) * np_log_sigmoid(r) + s * np_log_sigmoid(-r)).mean() - np_log_sigmoid(-f).mean()
  g = -np_log_sigmoid(f).mean()
  return d, g


@pytest.mark.parametrize("name", ["wasserstein", "hinge", "least_squares", "relativistic"])
def test_zoo_losses_match_numpy(name):
  real, fake = _logits()
  if name == "relativistic":  # The relativistic average pairs equal-sized batches.
    fake = fake[:len(real)]
  expected_d, expected_g = _expected(name, real.astype(np.float64), fake.astype(np.float64))
  d_loss, g_loss = losses.get(name)
  np.testing.assert_allclose(jax.jit(d_loss)(real, fake), expected_d, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jax.jit(g_loss)(real, fake), expected_g, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["non_saturating", "minimax", "relativistic"])
def test_one_sided_label_smoothing(name):
  real, fake = _logits(1)
  fake = fake[:len(real)]
  d_loss = jax.jit(losses.get(name, label_smoothing=0.1).d_loss)
  expected_d, _ = _expected(name, real.astype(np.float64), fake.astype(np.float64), s=0.1)
  np.testing.assert_allclose(d_loss(real, fake), expected_d, rtol=1e-5)
  # One-sided: only the real target moves; with s = 0 the loss is unchanged.
  assert losses.get(name, label_smoothing=0.0) is losses.get(name)
  # Smoothing is minimised at D(x) = 1 - s for reals, not at D(x) -> 1.
  logit_09 = np.log(0.9 / 0.1)
  grad = jax.grad(losses.get(name, label_smoothing=0.1).d_loss)(
      jnp.full((4,), logit_09), jnp.full((4,), -50.0))
  if name != "relativistic":
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)


def test_label_smoothing_refused_where_it_does_not_apply():
  assert losses.supports_label_smoothing("non_saturating")
  assert not losses.supports_label_smoothing("hinge")
  with pytest.raises(ValueError, match="no real target to smooth"):
    losses.get("hinge", label_smoothing=0.1)
  with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
    losses.get("non_saturating", label_smoothing=1.0)


def test_classifier_loss_matches_numpy():
  rng = np.random.default_rng(2)
  logits = rng.normal(size=(6, 4)).astype(np.float32) * 4
  labels = np.array([0, 3, 1, 1, 2, 3], np.int32)
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  expected = -log_probs[np.arange(6), labels].mean()
  np.testing.assert_allclose(jax.jit(losses.classifier_loss)(logits, labels), expected, rtol=1e-5)
  # Stable for huge logits: a confident right answer costs ~0, a wrong one its margin.
  big = jnp.array([[1e4, 0.0], [1e4, 0.0]])
  np.testing.assert_allclose(losses.classifier_loss(big, jnp.array([0, 1])), 5e3, rtol=1e-6)


@pytest.mark.parametrize("name", ["wasserstein", "hinge", "least_squares", "relativistic"])
def test_shape_mismatch_raises(name):
  d_loss, g_loss = losses.get(name)
  for fn in (d_loss, g_loss):
    with pytest.raises(ValueError, match="must agree"):
      fn(jnp.zeros((4, 2)), jnp.zeros((4, 3)))


def test_classifier_shape_mismatch_raises():
  with pytest.raises(ValueError, match=r"class logits must be \[B, K\] and labels \[B\]"):
    losses.classifier_loss(jnp.zeros((4, 3)), jnp.zeros((5,), jnp.int32))


def test_registry_lists_the_zoo():
  assert {"wasserstein", "hinge", "least_squares", "relativistic"} <= set(losses.names())


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_relativistic_means_span_the_devices(label_smoothing):
  """Sharded over 4 'devices' (vmap with an axis name), the loss equals the whole batch's."""
  rng = np.random.default_rng(3)
  real, fake = (jnp.asarray(rng.normal(size=(8,)), jnp.float32) for _ in range(2))
  whole = losses.get("relativistic", label_smoothing=label_smoothing)
  sharded = losses.get("relativistic", label_smoothing=label_smoothing, axis_name="devices")
  for which in ("d_loss", "g_loss"):
    expected = getattr(whole, which)(real, fake)
    per_device = jax.vmap(getattr(sharded, which), axis_name="devices")(
        real.reshape(4, 2), fake.reshape(4, 2))
    np.testing.assert_allclose(jnp.mean(per_device), expected, rtol=1e-6)
    # Without the axis each shard would centre on its own mean: a different loss.
    local = jax.vmap(getattr(whole, which))(real.reshape(4, 2), fake.reshape(4, 2))
    assert abs(float(jnp.mean(local)) - float(expected)) > 1e-3
