"""DCGAN / SNGAN ResNet / conditional heads / spectral norm: shapes and defining properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import default
from gan_jax import networks
from gan_jax.networks import layers, mlp

KEY = jax.random.PRNGKey(0)


def _config(**overrides):
  config = default.get_config()
  config.width, config.latent_dim = 4, 8
  for k, v in overrides.items():
    config[k] = v
  return config


def _shapes(config, image_shape, labels=None, batch=3):
  """Output shapes from tracing init/apply (jax.eval_shape: nothing is compiled)."""
  arch = networks.get(config.model)
  g, d = arch.make_generator(config, image_shape), arch.make_discriminator(config, image_shape)
  z = jnp.zeros((batch, config.latent_dim))
  x = jnp.zeros((batch,) + image_shape)
  kw = {} if labels is None else {"labels": jnp.zeros((batch,), jnp.int32)}
  g_vars = jax.eval_shape(lambda: g.init(KEY, z, **kw))
  d_vars = jax.eval_shape(lambda: d.init(KEY, x, **kw))
  images = jax.eval_shape(lambda v: g.apply(v, z, **kw), g_vars)
  logits = jax.eval_shape(lambda v: d.apply(v, x, **kw), d_vars)
  return images.shape, logits.shape, sorted(g_vars), sorted(d_vars)


@pytest.mark.parametrize("upsample", layers.upsample_names())
@pytest.mark.parametrize("image_shape", [(28, 28, 1), (32, 32, 3)])
def test_dcgan_shapes(upsample, image_shape):
  images, logits, g_cols, d_cols = _shapes(_config(model="dcgan", upsample=upsample), image_shape)
  assert images == (3,) + image_shape and logits == (3,)
  assert g_cols == ["batch_stats", "params"] and d_cols == ["params"]


@pytest.mark.parametrize("conditioning", layers.CONDITIONING)
def test_sngan_resnet_shapes(conditioning):
  config = _config(model="sngan_resnet", spectral_norm=True, conditioning=conditioning,
                   num_classes=5)
  labels = None if conditioning == "none" else True
  images, logits, g_cols, d_cols = _shapes(config, (32, 32, 3), labels)
  assert images == (3, 32, 32, 3) and logits == (3,)
  assert g_cols == ["batch_stats", "params"] and d_cols == ["params", "spectral"]


def test_factories_refuse_what_they_cannot_build():
  with pytest.raises(ValueError, match="image_size=32"):
    networks.check(_config(model="sngan_resnet"), (28, 28, 1))
  with pytest.raises(ValueError, match="divisible by 4"):
    networks.check(_config(model="dcgan"), (30, 30, 1))
  with pytest.raises(ValueError, match="unconditional"):
    networks.check(_config(conditioning="acgan"), (28, 28, 1))
  networks.check(_config(model="dcgan"), (12, 12, 1))  # Any side divisible by 4.


def test_depth_to_space_matches_numpy():
  x = np.arange(2 * 3 * 2 * 12, dtype=np.float32).reshape(2, 3, 2, 12)
  expected = np.zeros((2, 6, 4, 3), np.float32)
  for i in range(2):
    for j in range(2):
      expected[:, i::2, j::2, :] = x[..., (2 * i + j) * 3:(2 * i + j + 1) * 3]
  np.testing.assert_array_equal(layers.depth_to_space(jnp.asarray(x)), expected)


def test_subpixel_starts_as_a_nearest_upsampling():
  # ICNR init: the four sub-pixel channel groups share one kernel, so after
  # depth-to-space every 2x2 block of the output is constant.
  kernel = np.asarray(layers._icnr(layers.kernel_init)(KEY, (3, 3, 4, 12)))
  for group in range(1, 4):
    np.testing.assert_array_equal(kernel[..., group * 3:(group + 1) * 3], kernel[..., :3])
  conv_out = jnp.tile(jax.random.normal(KEY, (1, 5, 5, 3)), (1, 1, 1, 4))
  y = np.asarray(layers.depth_to_space(conv_out))
  np.testing.assert_array_equal(y[:, 0::2, 0::2], y[:, 1::2, 1::2])
  np.testing.assert_array_equal(y[:, 0::2, 0::2], y[:, 0::2, 1::2])


def test_chunked_init_has_lecun_scale():
  kernel = np.asarray(layers.kernel_init(KEY, (3, 3, 64, 40)))  # Several 4096-number chunks.
  assert kernel.shape == (3, 3, 64, 40) and np.abs(kernel).max() <= 2 / 0.8796 / 24 + 1e-6
  np.testing.assert_allclose(kernel.std(), 1 / 24, rtol=0.05)  # 1 / sqrt(fan_in = 576).
  flat = kernel.reshape(-1)
  assert not np.allclose(flat[:4096], flat[4096:8192])  # Each chunk has its own key.


def test_acgan_head_returns_class_logits_when_asked():
  config = _config(model="dcgan", conditioning="acgan", num_classes=3)
  d = networks.get("dcgan").make_discriminator(config, (12, 12, 1))
  x, y = jnp.zeros((4, 12, 12, 1)), jnp.zeros((4,), jnp.int32)
  d_vars = jax.eval_shape(lambda: d.init(KEY, x, labels=y))
  logits, class_logits = jax.eval_shape(lambda v: d.apply(v, x, with_class_logits=True), d_vars)
  assert logits.shape == (4,) and class_logits.shape == (4, 3)
  # Plain calls (evaluators) get the logits only.
  assert jax.eval_shape(lambda v: d.apply(v, x), d_vars).shape == (4,)


def test_spectral_norm_power_iteration_finds_the_top_singular_value():
  d = mlp.MLPDiscriminator(hidden_dims=(16,), spectral_norm=True)
  x = jax.random.normal(KEY, (2, 4, 4, 1))
  variables = d.init(KEY, x)
  assert sorted(variables) == ["params", "spectral"]
  assert jax.tree.map(jnp.shape, variables["params"]) == jax.tree.map(
      jnp.shape, mlp.MLPDiscriminator(hidden_dims=(16,)).init(KEY, x)["params"])

  @jax.jit
  def iterate(variables):
    _, updated = d.apply(variables, x, update_stats=True, mutable=["spectral"])
    return {**variables, **updated}

  for _ in range(30):
    variables = iterate(variables)
  kernel = np.asarray(variables["params"]["Dense_0"]["kernel"])
  sigma = float(variables["spectral"]["SpectralNorm_0"]["Dense_0/kernel/sigma"])
  np.testing.assert_allclose(sigma, np.linalg.svd(kernel, compute_uv=False)[0], rtol=1e-3)
  # Without update_stats nothing is stored (evaluators call it this way).
  assert d.apply(variables, x).shape == (2,)


def _xla_conv(x, kernel, stride, padding):
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


# (3, 16, 2, 6) and (3, 64, 4, 14), few output channels, take the matmul's output side.
@pytest.mark.parametrize("impl", ["matmul", "xla"])
@pytest.mark.parametrize("kernel_size,cin,cout,size", [(3, 5, 32, 7), (3, 6, 3, 9), (1, 4, 20, 5),
                                                       (4, 3, 17, 8), (3, 16, 2, 6),
                                                       (3, 64, 4, 14)])
def test_conv_matches_lax_same_convolution(impl, kernel_size, cin, cout, size):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size + 1, cin))
  module = layers.conv(cout, (kernel_size, kernel_size), impl)
  variables = module.init(jax.random.PRNGKey(1), x)
  kernel, bias = variables["params"]["kernel"], variables["params"]["bias"]
  expected = _xla_conv(x, kernel, 1, "SAME") + bias
  np.testing.assert_allclose(jax.jit(module.apply)(variables, x), expected, rtol=1e-5, atol=1e-5)
  if impl == "xla":
    return  # The reference itself: its gradients are lax's.
  # Gradients in the input and the kernel, as the training step takes them.
  loss = lambda x, k, f: jnp.sum(jnp.tanh(f(x, k)))
  ours = lambda x, k: module.apply({"params": {"kernel": k, "bias": bias}}, x)
  ref = lambda x, k: _xla_conv(x, k, 1, "SAME") + bias
  for got, want in zip(jax.grad(loss, (0, 1))(x, kernel, ours),
                       jax.grad(loss, (0, 1))(x, kernel, ref)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", ["matmul", "xla"])
@pytest.mark.parametrize("size,cin", [(28, 1), (14, 6), (7, 3), (8, 2)])
def test_strided_conv_equals_the_strided_convolution(impl, size, cin):
  x = jax.random.normal(jax.random.PRNGKey(0), (3, size, size, cin))
  module = layers.StridedConv(16, kernel_size=4, stride=2, impl=impl)
  variables = module.init(jax.random.PRNGKey(1), x)
  kernel = variables["params"]["kernel"]
  assert kernel.shape == (4, 4, cin, 16)  # nn.Conv's parameters.
  expected = _xla_conv(x, kernel, 2, "SAME") + variables["params"]["bias"]
  np.testing.assert_allclose(module.apply(variables, x), expected, rtol=1e-5, atol=1e-5)
  # Gradients in the kernel and the input (G learns through D's), and a
  # Hessian-vector product (forward over reverse, CGD's) as well.
  loss = lambda k, x, f: jnp.sum(jnp.tanh(f(k, x)))
  ours = lambda k, x: module.apply({"params": {**variables["params"], "kernel": k}}, x)
  ref = lambda k, x: _xla_conv(x, k, 2, "SAME") + variables["params"]["bias"]
  for got, want in zip(jax.grad(loss, (0, 1))(kernel, x, ours),
                       jax.grad(loss, (0, 1))(kernel, x, ref)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  hvp = lambda f: jax.jvp(lambda k: jax.grad(loss)(k, x, f), (kernel,), (jnp.ones_like(kernel),))[1]
  np.testing.assert_allclose(hvp(ours), hvp(ref), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", ["matmul", "xla"])
@pytest.mark.parametrize("kernel_size,stride,size", [(2, 2, 9), (6, 3, 13), (4, 2, 11)])
def test_conv_impls_compute_valid_strided_convolutions(impl, kernel_size, stride, size):
  # Odd sizes: the rows past the last window must be ignored, not padded into blocks.
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size + 1, 3))
  kernel = jax.random.normal(jax.random.PRNGKey(1), (kernel_size, kernel_size, 3, 5))
  got = jax.jit(layers.conv_impl(impl), static_argnums=2)(x, kernel, stride)
  np.testing.assert_allclose(got, _xla_conv(x, kernel, stride, "VALID"), rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match="kernel sides \\(3x3\\) divisible by the stride \\(2\\)"):
    layers.conv_impl(impl)(x, jnp.ones((3, 3, 3, 5)), 2)


def test_conv_impl_is_validated():
  with pytest.raises(ValueError, match="unknown conv_impl 'cudnn'; known: matmul, xla"):
    layers.conv_impl("cudnn")


def test_transposed_conv_as_matmul_equals_flax_conv_transpose():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 6, 3))
  ours, flax_layer = layers.TransposeUp(4, "matmul"), layers.TransposeUp(4, "xla")
  variables = flax_layer.init(jax.random.PRNGKey(1), x)
  # Same parameter names and initial values, so either reads the other's checkpoints.
  initial = ours.init(jax.random.PRNGKey(1), x)
  assert jax.tree.structure(initial) == jax.tree.structure(variables)
  for a, b in zip(jax.tree.leaves(initial), jax.tree.leaves(variables)):
    np.testing.assert_array_equal(a, b)
  variables = jax.tree.map(lambda p: p + 0.1, variables)  # a nonzero bias as well
  np.testing.assert_allclose(ours.apply(variables, x), flax_layer.apply(variables, x),
                             rtol=1e-5, atol=1e-5)
  loss = lambda v, x, layer: jnp.sum(jnp.tanh(layer.apply(v, x)))
  for got, want in zip(jax.tree.leaves(jax.grad(loss, (0, 1))(variables, x, ours)),
                       jax.tree.leaves(jax.grad(loss, (0, 1))(variables, x, flax_layer))):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  # Forward over reverse (CGD's mixed Hessian-vector products) as well.
  tangent = jax.tree.map(jnp.ones_like, variables)
  hvp = lambda layer: jax.jvp(lambda v: jax.grad(loss)(v, x, layer), (variables,), (tangent,))[1]
  for got, want in zip(jax.tree.leaves(hvp(ours)), jax.tree.leaves(hvp(flax_layer))):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
