"""GAN losses as pure functions of the discriminator's logits.

Every loss here is a function ``(real_logits, fake_logits) -> scalar``. The
discriminator outputs logits ``l``; D(x) = sigmoid(l). All log-probabilities
are computed with ``log_sigmoid`` so that saturated logits give finite values
and gradients (log D = log_sigmoid(l), log(1 - D) = log_sigmoid(-l)).

Losses are reached by name through one registry::

    d_loss, g_loss = gan_jax.losses.get("non_saturating")

and a notebook adds its own with ``register(name, d_loss, g_loss)``.

Reference: Goodfellow et al. 2014, "Generative Adversarial Nets", eq. (1)
and section 3 (the non-saturating generator objective).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp

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


def discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """The discriminator's loss -V(D, G) (binary cross-entropy, real = 1).

  Args:
    real_logits: discriminator logits on data samples.
    fake_logits: discriminator logits on generated samples.

  Returns:
    Scalar -V(D, G).
  """
  return -minimax_value(real_logits, fake_logits)


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


_REGISTRY: dict[str, GANLoss] = {}


def register(name: str, d_loss: LossFn, g_loss: LossFn, *, overwrite: bool = False) -> None:
  """Adds a loss pair to the registry so configs can select it by ``name``."""
  if name in _REGISTRY and not overwrite:
    raise ValueError(f"loss {name!r} is already registered; pass overwrite=True to replace it")
  _REGISTRY[name] = GANLoss(d_loss, g_loss)


def get(name: str) -> GANLoss:
  """Returns ``(d_loss, g_loss)`` registered under ``name``."""
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(names())}") from None


def names() -> list[str]:
  return sorted(_REGISTRY)


register("minimax", discriminator_loss, saturating_generator_loss)
register("non_saturating", discriminator_loss, non_saturating_generator_loss)
