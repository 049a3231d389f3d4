"""Discriminator regularizers: gradient penalties as pure functions.

Every regularizer has the signature::

    penalty(critic, real, fake, keys, real_labels=None, fake_labels=None) -> scalar

``critic(images, labels) -> [B]`` is the discriminator's raw output (logits)
with its parameters closed over, ``real``/``fake`` are the images it is
trained on ([B, H, W, C]), ``keys`` holds one PRNG key per example ([B] keys;
the train step derives them from the global row index, so a penalty drawn on
a slice of the batch on one device equals the same rows drawn on one device)
and the labels are those of a class-conditional discriminator (None
otherwise). Each returns the unweighted penalty, a mean over the batch; the
train step multiplies it by ``config.regularizer_weight``.

The critic must score each example independently (no batch norm in D), so
the gradient of ``sum(critic(x))`` in ``x`` holds every example's own input
gradient.

Regularizers are reached by name through one registry (``get(name)``); a
user adds one with ``register(name, penalty)`` or the decorator
``@register(name)`` and selects it with ``config.regularizer``.
"""

from __future__ import annotations

from typing import Callable, Optional

import chex
import jax
import jax.numpy as jnp

from gan_jax.registry import Registry

Critic = Callable[[chex.Array, Optional[chex.Array]], chex.Array]
Regularizer = Callable[..., chex.Array]

# Inside the square root of a gradient norm: keeps d||g||/dg finite at g = 0.
_NORM_EPS = 1e-12


def input_gradients(critic: Critic, images: chex.Array,
                    labels: Optional[chex.Array] = None) -> chex.Array:
  """Each example's gradient of the critic output in its own input, [B, ...]."""
  return jax.grad(lambda x: jnp.sum(critic(x, labels)))(images)


def _squared_norms(grads: chex.Array) -> chex.Array:
  return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=-1)


def _uniform_per_example(keys: chex.Array, shape: tuple[int, ...] = ()) -> chex.Array:
  return jax.vmap(lambda k: jax.random.uniform(k, shape))(keys)


def _broadcast_rows(values: chex.Array, like: chex.Array) -> chex.Array:
  """[B] -> [B, 1, ..., 1] to scale each example of ``like``."""
  return values.reshape(values.shape + (1,) * (like.ndim - 1))


def _check_batch(real: chex.Array, fake: chex.Array, keys: chex.Array) -> None:
  if real.shape != fake.shape or keys.shape[0] != real.shape[0]:
    raise ValueError("real and fake images must have the same shape and keys one key per "
                     f"example, got {real.shape}, {fake.shape} and {keys.shape}")


def _unit_gradient_penalty(critic: Critic, points: chex.Array, labels: Optional[chex.Array],
                           one_sided: bool) -> chex.Array:
  norms = jnp.sqrt(_squared_norms(input_gradients(critic, points, labels)) + _NORM_EPS)
  excess = jax.nn.relu(norms - 1.0) if one_sided else norms - 1.0
  return jnp.mean(jnp.square(excess))


def gradient_penalty(critic: Critic, real: chex.Array, fake: chex.Array, keys: chex.Array,
                     real_labels: Optional[chex.Array] = None,
                     fake_labels: Optional[chex.Array] = None) -> chex.Array:
  """WGAN-GP: E[(||grad D(x^)|| - 1)^2] at x^ = e x + (1 - e) G(z), e ~ U[0, 1].

  Args:
    critic: ``(images, labels) -> [B]`` raw discriminator outputs.
    real: data images [B, ...].
    fake: generated images [B, ...].
    keys: one PRNG key per example, drawing its interpolation weight e.
    real_labels: the real batch's labels for a conditional critic (the
      interpolates are scored with them), or None.
    fake_labels: unused (the common signature).

  Returns:
    Scalar penalty (unweighted; the paper uses weight 10).

  References:
    Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", eq. (3).
  """
  del fake_labels
  _check_batch(real, fake, keys)
  eps = _broadcast_rows(_uniform_per_example(keys), real)
  return _unit_gradient_penalty(critic, eps * real + (1.0 - eps) * fake, real_labels, False)


def one_sided_gradient_penalty(critic: Critic, real: chex.Array, fake: chex.Array,
                               keys: chex.Array, real_labels: Optional[chex.Array] = None,
                               fake_labels: Optional[chex.Array] = None) -> chex.Array:
  """The one-sided penalty E[max(0, ||grad D(x^)|| - 1)^2] on the same interpolates.

  It only penalises gradients steeper than 1, the Lipschitz constraint itself
  (Gulrajani et al. 2017, appendix "one-sided penalty"; Petzka et al. 2018,
  "On the regularization of Wasserstein GANs", eq. (8), WGAN-LP).

  Args:
    critic: ``(images, labels) -> [B]`` raw discriminator outputs.
    real: data images [B, ...].
    fake: generated images [B, ...].
    keys: one PRNG key per example.
    real_labels: labels for a conditional critic, or None.
    fake_labels: unused.

  Returns:
    Scalar penalty (unweighted).
  """
  del fake_labels
  _check_batch(real, fake, keys)
  eps = _broadcast_rows(_uniform_per_example(keys), real)
  return _unit_gradient_penalty(critic, eps * real + (1.0 - eps) * fake, real_labels, True)


def dragan_penalty(critic: Critic, real: chex.Array, fake: chex.Array, keys: chex.Array,
                   real_labels: Optional[chex.Array] = None,
                   fake_labels: Optional[chex.Array] = None) -> chex.Array:
  """DRAGAN: a unit-gradient penalty in a noisy neighbourhood of the data.

  Each real x is perturbed to x_p = x + 0.5 std(x) u with u ~ U[0, 1) per
  pixel and scored at x^ = x + a (x_p - x), a ~ U[0, 1) per example; the
  penalty is E[(||grad D(x^)|| - 1)^2]. std(x) is the example's own pixel
  standard deviation (the authors' code uses the batch's, which would make
  the result depend on how the batch is split over devices).

  Args:
    critic: ``(images, labels) -> [B]`` raw discriminator outputs.
    real: data images [B, ...].
    fake: unused (the common signature).
    keys: one PRNG key per example.
    real_labels: labels for a conditional critic, or None.
    fake_labels: unused.

  Returns:
    Scalar penalty (unweighted; the paper uses weight 10).

  References:
    Kodali et al. 2017, "On Convergence and Stability of GANs", eq. (5).
  """
  del fake_labels
  _check_batch(real, fake, keys)
  flat = real.reshape(real.shape[0], -1)
  noise = _uniform_per_example(keys, real.shape[1:])
  alpha = _uniform_per_example(jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys))
  scale = _broadcast_rows(0.5 * jnp.std(flat, axis=-1), real)
  points = real + _broadcast_rows(alpha, real) * scale * noise
  return _unit_gradient_penalty(critic, points, real_labels, False)


def r1_penalty(critic: Critic, real: chex.Array, fake: chex.Array, keys: chex.Array,
               real_labels: Optional[chex.Array] = None,
               fake_labels: Optional[chex.Array] = None) -> chex.Array:
  """R1: 1/2 E_x[||grad D(x)||^2] on real data.

  With weight gamma this is the paper's (gamma / 2) E||grad D||^2.

  Args:
    critic: ``(images, labels) -> [B]`` raw discriminator outputs.
    real: data images [B, ...].
    fake: unused.
    keys: unused.
    real_labels: labels for a conditional critic, or None.
    fake_labels: unused.

  Returns:
    Scalar penalty (unweighted).

  References:
    Mescheder et al. 2018, "Which Training Methods for GANs do actually
    Converge?", eq. (9).
  """
  del fake, keys, fake_labels
  return 0.5 * jnp.mean(_squared_norms(input_gradients(critic, real, real_labels)))


def r2_penalty(critic: Critic, real: chex.Array, fake: chex.Array, keys: chex.Array,
               real_labels: Optional[chex.Array] = None,
               fake_labels: Optional[chex.Array] = None) -> chex.Array:
  """R2: 1/2 E_z[||grad D(G(z))||^2] on generated samples.

  Args:
    critic: ``(images, labels) -> [B]`` raw discriminator outputs.
    real: unused.
    fake: generated images [B, ...] (no gradient flows to G: the train step
      only differentiates the penalty in D's parameters).
    keys: unused.
    real_labels: unused.
    fake_labels: the fakes' labels for a conditional critic, or None.

  Returns:
    Scalar penalty (unweighted).

  References:
    Mescheder et al. 2018, eq. (10).
  """
  del real, keys, real_labels
  return 0.5 * jnp.mean(_squared_norms(input_gradients(critic, fake, fake_labels)))


_REGISTRY: Registry[Regularizer] = Registry("regularizer")


def register(name: str, penalty: Optional[Regularizer] = None, *, overwrite: bool = False):
  """Adds ``penalty`` under ``name`` (``config.regularizer``); without it, a decorator.

  ``penalty`` has the signature of the module's docstring and returns the
  unweighted scalar penalty.
  """
  return _REGISTRY.register(name, penalty, overwrite=overwrite)


def names() -> list[str]:
  """The registered regularizer names, sorted."""
  return _REGISTRY.names()


def get(name: str) -> Regularizer:
  """The regularizer ``name``; ValueError listing the known ones otherwise."""
  return _REGISTRY.get(name)


register("gp", gradient_penalty)
register("gp_one_sided", one_sided_gradient_penalty)
register("dragan", dragan_penalty)
register("r1", r1_penalty)
register("r2", r2_penalty)
