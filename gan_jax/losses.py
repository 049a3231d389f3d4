"""GAN losses as pure functions of the discriminator's logits.

Every loss here is a function ``(real_logits, fake_logits) -> scalar``. The
discriminator outputs logits ``l``; D(x) = sigmoid(l). All log-probabilities
are computed with ``log_sigmoid`` so that saturated logits give finite values
and gradients (log D = log_sigmoid(l), log(1 - D) = log_sigmoid(-l)).

Losses are reached by name through one registry::

    d_loss, g_loss = gan_jax.losses.get("non_saturating")

and a notebook adds its own with ``register(name, d_loss, g_loss)``.

Losses whose discriminator loss is a binary cross-entropy with "real" targets
(``minimax``, ``non_saturating``, ``relativistic``) take one-sided label
smoothing: ``get(name, label_smoothing=0.1)`` replaces the real target 1 by
0.9 and leaves the fake target at 0 (Salimans et al. 2016, section 3.4).

``classifier_loss`` is the auxiliary-classifier term of ACGAN (Odena et al.
2017); the train step adds it to both players' losses when the model has a
class head.

References:
  Goodfellow et al. 2014, "Generative Adversarial Nets", eq. (1) and
  section 3 (the non-saturating generator objective).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from gan_jax.registry import Registry

LossFn = Callable[[chex.Array, chex.Array], chex.Array]


class GANLoss(NamedTuple):
  """The pair of objectives both players minimise."""

  d_loss: LossFn
  g_loss: LossFn


def _check_logits(real_logits: chex.Array, fake_logits: chex.Array) -> None:
  # Shapes are static under jit, so this check costs nothing at run time.
  if real_logits.ndim != fake_logits.ndim or real_logits.shape[1:] != fake_logits.shape[1:]:
    raise ValueError(
        "real and fake logits must agree in all but the batch axis, got "
        f"{real_logits.shape} and {fake_logits.shape}")


def minimax_value(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """The minimax value V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))].

  Args:
    real_logits: discriminator logits on data samples, shape [B, ...].
    fake_logits: discriminator logits on generated samples, shape [B', ...].

  Returns:
    The scalar V estimated on the two batches. With D = 1/2 everywhere it is
    -log 4, the value at the game's equilibrium p_g = p_data.

  References:
    Goodfellow et al. 2014, eq. (1).
  """
  _check_logits(real_logits, fake_logits)
  return (jnp.mean(jax.nn.log_sigmoid(real_logits))
          + jnp.mean(jax.nn.log_sigmoid(-fake_logits)))


def _check_smoothing(label_smoothing: float) -> None:
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")


def _real_log_likelihood(real_logits: chex.Array, label_smoothing: float) -> chex.Array:
  """E[t log D(x) + (1 - t) log(1 - D(x))] with target t = 1 - label_smoothing.

  The smoothed form is only built when smoothing is on, so the unsmoothed
  loss is exactly the seed's expression.
  """
  _check_smoothing(label_smoothing)
  if label_smoothing == 0.0:
    return jnp.mean(jax.nn.log_sigmoid(real_logits))
  return jnp.mean((1.0 - label_smoothing) * jax.nn.log_sigmoid(real_logits)
                  + label_smoothing * jax.nn.log_sigmoid(-real_logits))


def discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array, *,
                       label_smoothing: float = 0.0) -> chex.Array:
  """The discriminator's loss -V(D, G) (binary cross-entropy, real = 1).

  Args:
    real_logits: discriminator logits on data samples.
    fake_logits: discriminator logits on generated samples.
    label_smoothing: s in [0, 1); real samples get target 1 - s, fakes keep
      0 (one-sided smoothing).

  Returns:
    Scalar -V(D, G); with s > 0,
    -E[(1-s) log D(x) + s log(1 - D(x))] - E[log(1 - D(G(z)))].

  References:
    Goodfellow et al. 2014, eq. (1); Salimans et al. 2016, "Improved
    Techniques for Training GANs", sec. 3.4 (one-sided label smoothing).
  """
  _check_logits(real_logits, fake_logits)
  return -(_real_log_likelihood(real_logits, label_smoothing)
           + jnp.mean(jax.nn.log_sigmoid(-fake_logits)))


def saturating_generator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """The generator's loss in the true minimax game: V(D, G).

  Only the second term of V depends on G, so this is E[log(1 - D(G(z)))] up to
  a constant; the full V is returned so the value is the game's value. Its
  gradient vanishes when D confidently rejects samples (Goodfellow et al. 2014,
  section 3), which is why ``non_saturating`` is the usual choice.

  Args:
    real_logits: discriminator logits on data samples.
    fake_logits: discriminator logits on generated samples.

  Returns:
    Scalar V(D, G).
  """
  return minimax_value(real_logits, fake_logits)


def non_saturating_generator_loss(real_logits: chex.Array,
                                  fake_logits: chex.Array) -> chex.Array:
  """The non-saturating generator loss -E_z[log D(G(z))].

  Args:
    real_logits: discriminator logits on data samples (unused; kept so every
      loss has the same signature).
    fake_logits: discriminator logits on generated samples.

  Returns:
    Scalar -E[log D(G(z))].

  References:
    Goodfellow et al. 2014, section 3.
  """
  _check_logits(real_logits, fake_logits)
  return -jnp.mean(jax.nn.log_sigmoid(fake_logits))


def wasserstein_critic_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """The WGAN critic's loss E[f(G(z))] - E[f(x)] (it maximises the difference).

  Args:
    real_logits: critic outputs f(x) on data samples.
    fake_logits: critic outputs f(G(z)) on generated samples.

  Returns:
    Scalar E[f(G(z))] - E[f(x)], minus the critic's estimate of the
    Wasserstein-1 distance when f is 1-Lipschitz (enforce it with a gradient
    penalty or spectral normalisation).

  References:
    Arjovsky et al. 2017, "Wasserstein GAN", eq. (3).
  """
  _check_logits(real_logits, fake_logits)
  return jnp.mean(fake_logits) - jnp.mean(real_logits)


def wasserstein_generator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """The WGAN generator's loss -E[f(G(z))].

  Args:
    real_logits: unused (the common signature).
    fake_logits: critic outputs on generated samples.

  Returns:
    Scalar -E[f(G(z))].

  References:
    Arjovsky et al. 2017, Algorithm 1.
  """
  _check_logits(real_logits, fake_logits)
  return -jnp.mean(fake_logits)


def hinge_discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """The hinge loss E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))].

  Args:
    real_logits: discriminator outputs on data samples.
    fake_logits: discriminator outputs on generated samples.

  Returns:
    Scalar hinge loss; 0 once real outputs are >= 1 and fake ones <= -1.

  References:
    Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, eq. (17).
  """
  _check_logits(real_logits, fake_logits)
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def least_squares_discriminator_loss(real_logits: chex.Array,
                                     fake_logits: chex.Array) -> chex.Array:
  """LSGAN's discriminator loss 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2].

  Uses the 0-1 coding (a = 0 for fakes, b = 1 for reals) on the raw outputs.

  Args:
    real_logits: discriminator outputs on data samples.
    fake_logits: discriminator outputs on generated samples.

  Returns:
    Scalar least-squares loss.

  References:
    Mao et al. 2017, "Least Squares Generative Adversarial Networks", eq. (9).
  """
  _check_logits(real_logits, fake_logits)
  return 0.5 * jnp.mean(jnp.square(real_logits - 1.0)) + 0.5 * jnp.mean(jnp.square(fake_logits))


def least_squares_generator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """LSGAN's generator loss 1/2 E[(D(G(z)) - 1)^2] (target c = 1).

  Args:
    real_logits: unused (the common signature).
    fake_logits: discriminator outputs on generated samples.

  Returns:
    Scalar least-squares loss.

  References:
    Mao et al. 2017, eq. (9).
  """
  _check_logits(real_logits, fake_logits)
  return 0.5 * jnp.mean(jnp.square(fake_logits - 1.0))


def _batch_mean(x: chex.Array, axis_name: Optional[str]) -> chex.Array:
  """The mean over the batch axis, over all devices of the pmap axis ``axis_name``."""
  mean = jnp.mean(x, axis=0)
  return mean if axis_name is None else jax.lax.pmean(mean, axis_name)


def _relativistic_logits(real_logits: chex.Array, fake_logits: chex.Array,
                         axis_name: Optional[str]) -> tuple[chex.Array, chex.Array]:
  """C(x_r) - E[C(x_f)] and C(x_f) - E[C(x_r)], the relativistic average logits."""
  _check_logits(real_logits, fake_logits)
  return (real_logits - _batch_mean(fake_logits, axis_name),
          fake_logits - _batch_mean(real_logits, axis_name))


def relativistic_discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array, *,
                                    label_smoothing: float = 0.0,
                                    axis_name: Optional[str] = None) -> chex.Array:
  """RaGAN's discriminator loss: reals should look more real than the average fake.

  With C the raw critic output and D~(x_r) = sigmoid(C(x_r) - E C(x_f)),
  D~(x_f) = sigmoid(C(x_f) - E C(x_r)), the loss is
  -E[log D~(x_r)] - E[log(1 - D~(x_f))].

  Args:
    real_logits: critic outputs C on data samples.
    fake_logits: critic outputs C on generated samples.
    label_smoothing: one-sided smoothing of the real target (as in
      ``discriminator_loss``).
    axis_name: under pmap, the batch axis: E C(x) is then the mean over the
      global batch, so the loss does not depend on the number of devices.

  Returns:
    Scalar loss.

  References:
    Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element
    missing from standard GAN", eqs. (12)-(13) (RaSGAN).
  """
  rel_real, rel_fake = _relativistic_logits(real_logits, fake_logits, axis_name)
  return -(_real_log_likelihood(rel_real, label_smoothing)
           + jnp.mean(jax.nn.log_sigmoid(-rel_fake)))


def relativistic_generator_loss(real_logits: chex.Array, fake_logits: chex.Array, *,
                                axis_name: Optional[str] = None) -> chex.Array:
  """RaGAN's generator loss: the discriminator's with real and fake swapped.

  -E[log D~(x_f)] - E[log(1 - D~(x_r))]; unlike the other generator losses
  it depends on the real logits too.

  Args:
    real_logits: critic outputs C on data samples.
    fake_logits: critic outputs C on generated samples.

  Returns:
    Scalar loss.

  References:
    Jolicoeur-Martineau 2018, eq. (13).
  """
  rel_real, rel_fake = _relativistic_logits(real_logits, fake_logits, axis_name)
  return -(jnp.mean(jax.nn.log_sigmoid(rel_fake)) + jnp.mean(jax.nn.log_sigmoid(-rel_real)))


def classifier_loss(class_logits: chex.Array, labels: chex.Array) -> chex.Array:
  """ACGAN's auxiliary classifier loss: the mean cross-entropy -E[log P(c | x)].

  Args:
    class_logits: unnormalised class scores [B, K].
    labels: integer classes [B] in [0, K).

  Returns:
    Scalar mean cross-entropy (log-softmax form, finite for any logits).

  References:
    Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier
    GANs", eq. (2) (L_C; ``gan_jax.train_step.StepOptions`` says on which
    batches D takes it).
  """
  if class_logits.ndim != 2 or labels.shape != class_logits.shape[:1]:
    raise ValueError("class logits must be [B, K] and labels [B], got "
                     f"{class_logits.shape} and {labels.shape}")
  log_probs = jax.nn.log_softmax(class_logits, axis=-1)
  return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), axis=-1))


class _Entry(NamedTuple):
  loss: GANLoss
  # The discriminator loss takes a ``label_smoothing`` keyword.
  smoothable: bool
  # Both losses take an ``axis_name`` keyword: they use batch means, which
  # must span all devices under pmap.
  batch_statistics: bool


_REGISTRY: Registry[_Entry] = Registry("loss")


def register(name: str, d_loss: LossFn, g_loss: LossFn, *, overwrite: bool = False,
             supports_label_smoothing: bool = False, batch_statistics: bool = False) -> None:
  """Adds a loss pair to the registry so configs can select it by ``name``.

  Args:
    name: the config value (``config.loss``).
    d_loss: ``(real_logits, fake_logits) -> scalar``, minimised by D.
    g_loss: ``(real_logits, fake_logits) -> scalar``, minimised by G.
    overwrite: replace an existing entry.
    supports_label_smoothing: ``d_loss`` takes a keyword ``label_smoothing``
      (the smoothed real target is 1 - label_smoothing).
    batch_statistics: the losses are not means of per-example terms (e.g.
      they subtract a batch mean) and take a keyword ``axis_name``, the pmap
      axis over which such means must be taken.
  """
  _REGISTRY.register(name, _Entry(GANLoss(d_loss, g_loss), supports_label_smoothing,
                                  batch_statistics), overwrite=overwrite)


def get(name: str, *, label_smoothing: float = 0.0, axis_name: Optional[str] = None) -> GANLoss:
  """Returns ``(d_loss, g_loss)`` registered under ``name``.

  Args:
    name: one of ``names()``.
    label_smoothing: one-sided label smoothing of the real targets; must be 0
      unless ``supports_label_smoothing(name)``.
    axis_name: the pmap batch axis when the losses run under pmap; losses
      registered with ``batch_statistics`` then take their batch means over
      every device (the others need no communication).

  Raises:
    ValueError: unknown name, or smoothing a loss that has no real target.
  """
  entry = _REGISTRY.get(name)
  _check_smoothing(label_smoothing)
  if label_smoothing != 0.0 and not entry.smoothable:
    raise ValueError(f"loss {name!r} has no real target to smooth; label smoothing applies to "
                     f"{', '.join(n for n in names() if supports_label_smoothing(n))}")
  d_kwargs = {"label_smoothing": label_smoothing} if label_smoothing else {}
  g_kwargs = {}
  if entry.batch_statistics and axis_name is not None:
    d_kwargs["axis_name"] = g_kwargs["axis_name"] = axis_name
  if not d_kwargs and not g_kwargs:
    return entry.loss
  return GANLoss(functools.partial(entry.loss.d_loss, **d_kwargs),
                 functools.partial(entry.loss.g_loss, **g_kwargs))


def supports_label_smoothing(name: str) -> bool:
  """Whether ``get(name, label_smoothing=s)`` accepts s > 0."""
  return name in _REGISTRY and _REGISTRY.get(name).smoothable


def names() -> list[str]:
  """The registered loss names, sorted."""
  return _REGISTRY.names()


register("minimax", discriminator_loss, saturating_generator_loss,
         supports_label_smoothing=True)
register("non_saturating", discriminator_loss, non_saturating_generator_loss,
         supports_label_smoothing=True)
register("wasserstein", wasserstein_critic_loss, wasserstein_generator_loss)
register("hinge", hinge_discriminator_loss, wasserstein_generator_loss)
register("least_squares", least_squares_discriminator_loss, least_squares_generator_loss)
register("relativistic", relativistic_discriminator_loss, relativistic_generator_loss,
         supports_label_smoothing=True, batch_statistics=True)
