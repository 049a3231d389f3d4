"""The Dirac-GAN: the two-parameter GAN on which training methods can be judged.

Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually
Converge?" (ICML 2018, arXiv 1801.04406), section 2.2: the data distribution
is a point mass at 0, the generator G_theta a point mass at theta and the
discriminator the linear logit D_psi(x) = psi * x. The game's unique
equilibrium is (theta, psi) = (0, 0). For the unregularized GAN the Jacobian of
its gradient field there has the purely imaginary eigenvalues +-f'(0) i
(Lemma 2.2), so simultaneous gradient descent spirals outwards for every step
size (Lemma 2.3) and alternating gradient descent circles (Lemma 2.4); instance
noise and the zero-centered gradient penalties R1 and R2 make the equilibrium
locally convergent (section 3, Theorem 4.1), WGAN and WGAN-GP with a finite
number of critic steps do not converge (section 3).

Here both players minimise the library's losses (``gan_jax.losses``) of the
logits on the one-point batches: the real logit is D(0) = 0 and the fake logit
D(theta) = psi * theta. The library's D outputs the logit of "real" while the
paper writes V(psi, theta) = f(psi theta) + f(0) with f(t) = -log(1 + e^-t)
(D's logit of "fake"), so with the library's losses the value is
V(-psi, theta): the same game mirrored in psi, with the same eigenvalues and
the same convergence behaviour. A D regularizer (``gan_jax.regularizers``,
e.g. 'r1' or 'gp') is evaluated on D(x) = psi * x with the fake point held
constant (no gradient to G), as the train step does.

Typical use::

    game = dirac.dirac_game("non_saturating", regularizer="r1", weight=1.0)
    opt = gan_jax.games.get("alternating_gda", lr_x=0.1, lr_y=0.1)
    traj = dirac.simulate(game, opt, 1.0, 1.0, steps=1000)   # [1001, 2]
    dirac.classify(traj)                                     # 'converges'

Player x of the game optimizer is the generator (theta), player y the
discriminator (psi).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.special import ndtri

from gan_jax import losses as losses_lib
from gan_jax import regularizers as regularizers_lib
from gan_jax.games import base as games_base
from gan_jax.games.base import GameOptimizer

# The losses section 2-3 of the paper studies; any name in
# ``gan_jax.losses.names()`` is accepted.
STUDIED_LOSSES = ("minimax", "non_saturating", "wasserstein")
VERDICTS = ("converges", "cycles", "diverges")

PlayerLoss = Callable[[chex.Array, chex.Array], chex.Array]


class DiracGame(NamedTuple):
  """Both players' losses as functions of (theta, psi), scalars in and out.

  Attributes:
    loss_g: the loss the generator minimises over theta.
    loss_d: the loss the discriminator minimises over psi (its regularizer
      included).
    spec: a readable description, e.g. 'non_saturating+r1(1.0)'.
  """

  loss_g: PlayerLoss
  loss_d: PlayerLoss
  spec: str


def _noise_points(instance_noise: float, noise_points: int) -> jax.Array:
  """Equal-weight quantiles of N(0, s^2): a deterministic noise 'batch'.

  The midpoints ``s * Phi^-1((i + 1/2) / K)`` are symmetric about 0, so the
  batch mean of any odd function vanishes and (0, 0) stays the equilibrium.
  """
  if instance_noise == 0.0:
    return jnp.zeros((1,), jnp.float32)
  u = (jnp.arange(noise_points, dtype=jnp.float32) + 0.5) / noise_points
  return instance_noise * ndtri(u)


def logits(theta: chex.Array, psi: chex.Array,
           noise: Optional[chex.Array] = None) -> tuple[chex.Array, chex.Array]:
  """D's logits on the real and the generated point(s).

  Args:
    theta: the generator's point (scalar).
    psi: the discriminator's slope (scalar).
    noise: instance-noise offsets [K] added to both the real point 0 and the
      fake point theta, or None for the noiseless game.

  Returns:
    ``(real_logits, fake_logits)``, each of shape [K] ([1] without noise):
    ``psi * noise`` and ``psi * (theta + noise)``.
  """
  noise = jnp.zeros((1,), jnp.float32) if noise is None else noise
  return psi * noise, psi * (theta + noise)


def dirac_game(loss: str = "non_saturating", regularizer: Optional[str] = None,
               weight: float = 0.0, instance_noise: float = 0.0,
               noise_points: int = 16) -> DiracGame:
  """Builds the Dirac-GAN losses for a GAN loss and an optional D regularizer.

  Args:
    loss: a name in ``gan_jax.losses.names()``; the paper's section 2-3 uses
      'minimax' (standard GAN), 'non_saturating' and 'wasserstein'.
    regularizer: a name in ``gan_jax.regularizers.names()`` ('r1', 'r2',
      'gp', ...) added to D's loss with ``weight``, or None. With
      D(x) = psi * x, grad_x D = psi everywhere, so R1 = R2 = psi^2 / 2
      and WGAN-GP's penalty is (|psi| - 1)^2.
    weight: the regularizer's weight (gamma of R1, lambda of WGAN-GP), >= 0.
    instance_noise: standard deviation of the instance noise added to real
      and fake points (paper section 3, "instance noise"), >= 0. The
      expectation over the noise is taken on ``noise_points`` fixed
      quantiles, so the losses stay deterministic.
    noise_points: number of noise quantiles, >= 2 when noise is on.

  Returns:
    A DiracGame.

  Raises:
    ValueError: unknown loss or regularizer, or an invalid number.

  References:
    Mescheder et al. 2018, section 2.2 (the Dirac-GAN), section 3 (instance
    noise, WGAN-GP) and eqs. (9)-(10) (R1, R2).
  """
  d_loss, g_loss = losses_lib.get(loss)
  penalty = None if regularizer in (None, "none") else regularizers_lib.get(regularizer)
  weight = games_base.check_nonnegative("dirac_game", "weight", weight)
  instance_noise = games_base.check_nonnegative("dirac_game", "instance_noise", instance_noise)
  noise_points = games_base.check_int("dirac_game", "noise_points", noise_points, 2)
  noise = _noise_points(instance_noise, noise_points)

  def loss_g(theta: chex.Array, psi: chex.Array) -> chex.Array:
    return g_loss(*logits(theta, psi, noise))

  def loss_d(theta: chex.Array, psi: chex.Array) -> chex.Array:
    total = d_loss(*logits(theta, psi, noise))
    if penalty is not None:
      critic = lambda x, labels: psi * x[:, 0]
      real = noise[:, None]
      fake = jax.lax.stop_gradient(theta + noise)[:, None]
      keys = jax.random.split(jax.random.PRNGKey(0), noise.shape[0])
      total = total + weight * penalty(critic, real, fake, keys)
    return total

  spec = loss
  if penalty is not None:
    spec += f"+{regularizer}({weight:g})"
  if instance_noise:
    spec += f"+noise({instance_noise:g})"
  return DiracGame(loss_g, loss_d, spec)


def vector_field(game: DiracGame, theta: chex.Array, psi: chex.Array) -> chex.Array:
  """The direction of gradient descent for both players, (-dL_G/dtheta, -dL_D/dpsi).

  Args:
    game: the DiracGame.
    theta: generator points, any shape.
    psi: discriminator slopes, the shape of ``theta``.

  Returns:
    [..., 2]: the negated gradients, elementwise over the inputs.
  """
  def one(t, p):
    return jnp.stack([-jax.grad(game.loss_g, 0)(t, p), -jax.grad(game.loss_d, 1)(t, p)])

  flat = jax.vmap(one)(jnp.ravel(theta), jnp.ravel(psi))
  return flat.reshape(jnp.shape(theta) + (2,))


class AdamState(NamedTuple):
  """The optax Adam states of both players."""

  g: optax.OptState
  d: optax.OptState


def adam(lr_g: float = 0.1, lr_d: float = 0.1, b1: float = 0.5, b2: float = 0.999,
         alternating: bool = True) -> GameOptimizer:
  """Per-player Adam (``optax.adam``) as a GameOptimizer.

  Args:
    lr_g: the generator's (player x's) learning rate.
    lr_d: the discriminator's (player y's) learning rate.
    b1: Adam's first-moment decay (0.5: the DCGAN setting of the library).
    b2: Adam's second-moment decay.
    alternating: D steps first and G then sees the new D (as the library's
      train step does); False: both step from the same point (simultaneous).

  Returns:
    A GameOptimizer whose state is an AdamState; metrics are the two losses.

  References:
    Kingma & Ba 2015, "Adam"; Radford et al. 2016 (b1 = 0.5).
  """
  lr_g = games_base.check_positive("adam", "lr_g", lr_g)
  lr_d = games_base.check_positive("adam", "lr_d", lr_d)
  alternating = games_base.check_bool("adam", "alternating", alternating)
  tx_g, tx_d = optax.adam(lr_g, b1=b1, b2=b2), optax.adam(lr_d, b1=b1, b2=b2)

  def init(x, y) -> AdamState:
    return AdamState(tx_g.init(x), tx_d.init(y))

  def step(loss_x, loss_y, x, y, state: AdamState, reduce=games_base.identity):
    ly, gy = games_base.reduce_tree(reduce, jax.value_and_grad(loss_y, argnums=1)(x, y))
    dy, state_d = tx_d.update(gy, state.d, y)
    new_y = optax.apply_updates(y, dy)
    lx, gx = games_base.reduce_tree(
        reduce, jax.value_and_grad(loss_x, argnums=0)(x, new_y if alternating else y))
    dx, state_g = tx_g.update(gx, state.g, x)
    return optax.apply_updates(x, dx), new_y, AdamState(state_g, state_d), {
        "loss_x": lx, "loss_y": ly}

  return GameOptimizer(init, step)


@functools.partial(jax.jit, static_argnames=("game", "optimizer", "steps"))
def simulate(game: DiracGame, optimizer: GameOptimizer, theta0: chex.Numeric,
             psi0: chex.Numeric, steps: int) -> jax.Array:
  """Runs ``steps`` steps of a game optimizer on the Dirac-GAN in one ``lax.scan``.

  Pure and jitted; ``game`` and ``optimizer`` are static (hashed by the
  identity of their functions), so build each once and reuse it to compile
  once.

  Args:
    game: the DiracGame (``dirac_game``).
    optimizer: any ``gan_jax.games`` GameOptimizer, or ``adam(...)``; x is
      theta, y is psi.
    theta0: the generator's start.
    psi0: the discriminator's start.
    steps: number of optimizer steps.

  Returns:
    float32 [steps + 1, 2]: (theta, psi) at the start and after each step.
  """
  theta0 = jnp.asarray(theta0, jnp.float32)
  psi0 = jnp.asarray(psi0, jnp.float32)

  def body(carry, _):
    theta, psi, state = carry
    theta, psi, state, _ = optimizer.step(game.loss_g, game.loss_d, theta, psi, state)
    return (theta, psi, state), jnp.stack([theta, psi])

  init = (theta0, psi0, optimizer.init(theta0, psi0))
  _, points = jax.lax.scan(body, init, None, length=steps)
  return jnp.concatenate([jnp.stack([theta0, psi0])[None], points])


def distances(trajectory: chex.Array) -> np.ndarray:
  """Euclidean distance of each point of a trajectory [T, 2] to (0, 0)."""
  traj = np.asarray(trajectory, np.float64)
  return np.hypot(traj[:, 0], traj[:, 1])


def classify(trajectory: chex.Array, *, tol: float = 1e-2, growth: float = 2.0,
             tail: float = 0.1) -> str:
  """Says whether a trajectory converges to the equilibrium, cycles or diverges.

  The rule, with d_t the distance of step t to (0, 0):

  * 'diverges': some point is not finite, or the final distance exceeds
    ``growth`` times the start's distance (at least ``tol``);
  * 'converges': otherwise, if every point of the last ``tail`` fraction of
    the run lies within ``tol`` of (0, 0) (the whole tail, so an orbit that
    passes near the origin does not count);
  * 'cycles': anything else: the iterates stay bounded but away from the
    equilibrium (a closed or slowly shrinking orbit, oscillation, or a halt
    at another point).

  Args:
    trajectory: [T, 2] points (theta, psi), T >= 2.
    tol: radius of convergence.
    growth: factor of the start's distance beyond which a run diverges.
    tail: fraction (0, 1] of the last steps that must lie within ``tol``.

  Returns:
    One of ``VERDICTS``.

  References:
    Mescheder et al. 2018, Figure 1 and 3 (the three behaviours).
  """
  d = distances(trajectory)
  if d.shape[0] < 2:
    raise ValueError(f"a trajectory needs at least 2 points, got {d.shape[0]}")
  if not np.all(np.isfinite(d)) or d[-1] > growth * max(d[0], tol):
    return "diverges"
  last = d[-max(1, int(round(tail * d.shape[0]))):]
  if np.max(last) < tol:
    return "converges"
  return "cycles"


def summary(trajectory: chex.Array) -> dict[str, object]:
  """Distances worth reporting: start, final, and the range over the last 10%.

  Args:
    trajectory: [T, 2] points (theta, psi).

  Returns:
    ``start_distance``, ``final_distance``, ``tail_min_distance``,
    ``tail_max_distance`` (non-finite values as inf), plus ``verdict``.
  """
  d = distances(trajectory)
  d = np.where(np.isfinite(d), d, np.inf)
  last = d[-max(1, int(round(0.1 * d.shape[0]))):]
  return {"verdict": classify(trajectory), "start_distance": float(d[0]),
          "final_distance": float(d[-1]), "tail_min_distance": float(np.min(last)),
          "tail_max_distance": float(np.max(last))}
