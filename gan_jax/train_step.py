"""The pure GAN update and its compiled single- and multi-device forms.

``make_train_step`` returns ``train_step(state, batch) -> (state, metrics)``:
``d_steps`` discriminator updates (one per slice of ``batch["image"]``, shape
[d_steps, B, H, W, C] in [-1, 1]; a conditional run also has
``batch["label"]``, [d_steps, B] int32) then one generator update. With an
``axis_name`` it is the per-device body of a ``jax.shard_map`` (or ``jax.pmap``): gradients and
metrics are averaged across devices with ``lax.pmean``, and batch norm in a
module with an ``axis_name`` field computes its statistics over all devices.

The step is one ``Objective`` (``make_objective``: the draws, G's fakes, D's
and G's losses with the step options) consumed by one of two update rules:
``alternating_update`` (per-player optax optimizers) or ``game_update`` (a
``gan_jax.games`` optimizer moving both players at once).

``StepOptions`` switches on what the objective adds to the plain GAN losses,
all inside the one jitted function: a gradient-penalty regularizer
(applied lazily every k D steps with ``lax.cond``, no recompilation),
DiffAugment of everything D sees, class-conditional batches (G gets labels
drawn from the step key; an ACGAN discriminator's class head adds a
cross-entropy term), and an EMA of the generator's weights. Batch-norm
statistics (``state.g_stats``) and spectral-norm vectors (``state.d_stats``)
are flax collections carried in the state and updated here: BN in train mode
during the G update, one power iteration per D update (every D call of that
update uses the same vectors, so they stay identical on all devices).
Gradient clipping lives in the players' optax chains (``gan_jax.optimizers``).

``make_train_loop`` fuses ``steps_per_call`` steps into one ``lax.scan`` that
also draws the batches (and labels) from a data set held on the device, so
the Python loop runs once per call, not once per step. ``compile_train_loop``
compiles it with the state donated: ``jax.jit`` on one device, ``jax.shard_map``
over a mesh of every device (the default) or ``jax.pmap``; in both
data-parallel forms the step's ``axis_name`` collectives do the averaging.

Randomness: step ``s`` uses ``k = fold_in(state.rng, s)`` for its latents and
``fold_in(data_key, s)`` for its batch indices. Latent ``j`` of the *global*
batch comes from ``fold_in(k_phase, j)``; a device draws the latents of its
own slice of the global batch (its offset is ``axis_index * local_batch``).
Labels, augmentations and penalty draws follow the same per-example rule
from their own sub-keys. So every device gets different noise, and a run on
1, 2 or 4 devices draws the same numbers and takes the same steps up to
float reduction order (batch means, such as batch norm's statistics and the
relativistic loss's averages, are taken over the global batch by ``axis_name``
collectives).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import augment as augment_lib
from gan_jax import losses as losses_lib
from gan_jax import regularizers
from gan_jax.data import draw_image_batch
from gan_jax.games import GameOptimizer
from gan_jax.state import GANState

Batch = dict
Metrics = dict
TrainStep = Callable[[GANState, Batch], tuple[GANState, Metrics]]

# fold_in tags that keep the per-step key's uses apart.
_D_NOISE, _G_NOISE, _D_EXTRA, _G_EXTRA = 0, 1, 2, 3
# fold_in tags under an _EXTRA key.
_LABELS, _AUGMENT_REAL, _AUGMENT_FAKE, _PENALTY = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class StepOptions:
  """What the step adds to the plain GAN update; the defaults add nothing.

  Attributes:
    num_classes: 0 for an unconditional GAN. K > 0: batches carry labels in
      [0, K), G and D are called with ``labels=`` (real labels for real
      images, labels drawn from the step key for fakes).
    aux_classifier: D returns ``(logits, class_logits)`` when called with
      ``with_class_logits=True`` (ACGAN); both players add
      ``aux_classifier_weight`` times a class cross-entropy to their loss:
      D's on the real images with their labels, G's on its fakes with the
      labels it was given.
    aux_classifier_weight: weight of the ACGAN class term.
    aux_classifier_on_fakes: D's class term also covers the fakes, as in
      Odena et al. 2017, "Conditional Image Synthesis With Auxiliary
      Classifier GANs", eq. (2). Off (the default, as in StudioGAN's ACGAN),
      D's class head learns from real images only, so G must draw what real
      images of the class look like. On, the fakes' term is cooperative
      (both players lower it) and they can agree on a label code that is
      not the class's look: on mnist_5k at 3,000 steps, D's head read the
      fakes' labels 94% of the time and the evaluation classifier 15%
      (docs/results.md).
    regularizer: a ``gan_jax.regularizers`` penalty added to D's loss, or None.
    regularizer_weight: its weight (lambda of WGAN-GP, gamma of R1).
    regularizer_every: k: the penalty is applied on D steps with
      ``d.step % k == 0`` and scaled by k (lazy regularisation, Karras et al.
      2020, "Analyzing and Improving the Image Quality of StyleGAN", sec. 3.1).
    augment: DiffAugment operation names (``gan_jax.augment``), or ().
    ema_decay: > 0 keeps ``state.g_ema``, updated after each G step as
      ``ema = decay * ema + (1 - decay) * params`` (Karras et al. 2018,
      "Progressive Growing of GANs", sec. 4 / Yazici et al. 2019).
  """

  num_classes: int = 0
  aux_classifier: bool = False
  aux_classifier_weight: float = 1.0
  aux_classifier_on_fakes: bool = False
  regularizer: Optional[regularizers.Regularizer] = None
  regularizer_weight: float = 0.0
  regularizer_every: int = 1
  augment: tuple[str, ...] = ()
  ema_decay: float = 0.0

  def __post_init__(self):
    if self.aux_classifier and self.num_classes < 2:
      raise ValueError("an auxiliary classifier needs num_classes >= 2")
    if self.regularizer_every < 1:
      raise ValueError(f"regularizer_every must be >= 1, got {self.regularizer_every}")
    if not 0.0 <= self.ema_decay < 1.0:
      raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


def example_keys(key: jax.Array, batch_size: int, offset=0) -> jax.Array:
  """One key per global batch row offset..offset+batch_size: ``fold_in(key, row)``."""
  rows = offset + jnp.arange(batch_size)
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(rows)


def latents(key: jax.Array, batch_size: int, latent_dim: int, offset=0) -> jax.Array:
  """Standard normal latents for global batch rows offset..offset+batch_size."""
  keys = example_keys(key, batch_size, offset)
  return jax.vmap(lambda k: jax.random.normal(k, (latent_dim,)))(keys)


def sample_labels(key: jax.Array, batch_size: int, num_classes: int, offset=0) -> jax.Array:
  """Uniform class labels int32 [batch_size] for global rows offset..offset+batch_size.

  Drawn as floor(K u) from one scalar uniform per example: every per-example
  draw of the step has the same shape, which XLA compiles once (each distinct
  shape of random bits costs seconds of CPU compile time).
  """
  u = jax.vmap(lambda k: jax.random.uniform(k, ()))(example_keys(key, batch_size, offset))
  return jnp.minimum(jnp.floor(u * num_classes), num_classes - 1).astype(jnp.int32)


def grid_labels(num_classes: int, per_class: int) -> np.ndarray:
  """0,..,0, 1,..,1, ...: ``per_class`` of each class, for one class per grid row."""
  return np.repeat(np.arange(num_classes, dtype=np.int32), per_class)


def generate(generator: nn.Module, variables: dict, z: jax.Array,
             labels: Optional[jax.Array] = None) -> jax.Array:
  """Samples in inference mode (BN running averages) from complete variables.

  Args:
    generator: the linen module.
    variables: e.g. ``gan_jax.state.generator_variables(state)``.
    z: latents [B, latent_dim].
    labels: int [B] for a conditional generator, else None.

  Returns:
    Images [B, H, W, C].
  """
  return generator.apply(variables, z, **({} if labels is None else {"labels": labels}))


def _batch_offset(axis_name: Optional[str], local_batch: int):
  return 0 if axis_name is None else jax.lax.axis_index(axis_name) * local_batch


def with_axis_name(module: nn.Module, axis_name: Optional[str]) -> nn.Module:
  """The module with its ``axis_name`` field set, if it has one (synced batch norm)."""
  fields = {f.name for f in dataclasses.fields(module)}
  return module.clone(axis_name=axis_name) if axis_name and "axis_name" in fields else module


class _Players:
  """Uniform calls of G and D whatever collections and conditioning they have.

  A module's extra keyword arguments are passed only when it needs them, so
  plain modules (``G(z)``, ``D(x)``) work unchanged: ``labels`` for a
  conditional run, ``train`` for a generator with stats (batch norm),
  ``update_stats`` for a discriminator with stats (spectral norm),
  ``with_class_logits`` for an ACGAN discriminator.
  """

  def __init__(self, generator: nn.Module, discriminator: nn.Module, aux_classifier: bool):
    self.generator = generator
    self.discriminator = discriminator
    self.aux_classifier = aux_classifier

  def generate(self, params: dict, stats: dict, z: jax.Array, labels: Optional[jax.Array],
               train: bool) -> tuple[jax.Array, dict]:
    """Images and the (updated, if ``train``) generator stats."""
    kwargs = {} if labels is None else {"labels": labels}
    if not stats:
      return self.generator.apply(params, z, **kwargs), stats
    variables = {**stats, **params}
    if not train:
      return self.generator.apply(variables, z, train=False, **kwargs), stats
    images, updated = self.generator.apply(variables, z, train=True, mutable=list(stats), **kwargs)
    return images, dict(updated)

  def discriminate(self, params: dict, stats: dict, x: jax.Array, labels: Optional[jax.Array],
                   update: bool = False) -> tuple[jax.Array, Optional[jax.Array], dict]:
    """(logits [B], class logits [B, K] or None, the (updated) D stats)."""
    kwargs = {} if labels is None else {"labels": labels}
    if self.aux_classifier:
      kwargs["with_class_logits"] = True
    new_stats = stats
    if not stats:
      out = self.discriminator.apply(params, x, **kwargs)
    elif update:
      out, new_stats = self.discriminator.apply({**stats, **params}, x, update_stats=True,
                                                mutable=list(stats), **kwargs)
      new_stats = dict(new_stats)
    else:
      out = self.discriminator.apply({**stats, **params}, x, update_stats=False, **kwargs)
    logits, class_logits = out if self.aux_classifier else (out, None)
    return logits, class_logits, new_stats


class Draw(NamedTuple):
  """What one update of the step sees: its latents, labels and real batch.

  Attributes:
    z: latents [B, latent_dim] (the device's rows of the global batch).
    labels: the fakes' labels int32 [B], or None (unconditional).
    real: the real batch [B, ...], augmented.
    real_labels: its labels, or None.
    extra_key: the update's key for labels, augmentation and penalty draws.
    offset: the device's first row in the global batch.
  """

  z: jax.Array
  labels: Optional[jax.Array]
  real: jax.Array
  real_labels: Optional[jax.Array]
  extra_key: jax.Array
  offset: jax.Array


class Objective(NamedTuple):
  """The GAN's objective at one step, as pure functions both update rules consume.

  Attributes:
    draw: ``(noise_key, extra_key, real, real_labels) -> Draw``.
    fake: ``(g_params, g_stats, draw) -> (fake batch as D sees it, G's
      updated stats)``: G in train mode (batch statistics), then augmented.
    d_stats: ``(d_params, d_stats, draw) -> D's stats after one forward pass
      on the real batch`` (one spectral-norm power iteration).
    penalty: ``(d_params, d_stats, draw, fake) -> the regularizer's
      unweighted penalty``.
    d_loss: ``(d_params, d_stats, draw, fake, penalty_scale) -> (total,
      (metrics, real_logits, fake_logits, D's updated stats))``: D's loss,
      the ACGAN class term and ``penalty_scale`` (None: no penalty) times the
      regularizer's weighted penalty.
    g_loss: ``(g_params, g_stats, d_params, d_stats, draw) -> (total, (loss,
      metrics, G's updated stats))``: G's loss and the ACGAN class term.
  """

  draw: Callable[..., Draw]
  fake: Callable[..., tuple[jax.Array, dict]]
  d_stats: Callable[..., dict]
  penalty: Callable[..., jax.Array]
  d_loss: Callable[..., tuple[jax.Array, tuple]]
  g_loss: Callable[..., tuple[jax.Array, tuple]]


def make_objective(*, generator: nn.Module, discriminator: nn.Module, loss: losses_lib.GANLoss,
                   latent_dim: int, axis_name: Optional[str],
                   options: StepOptions) -> Objective:
  """The objective of ``make_train_step`` (see ``Objective``); arguments as there."""
  players = _Players(with_axis_name(generator, axis_name), discriminator, options.aux_classifier)

  def augmented(images, extra_key, tag, offset):
    if not options.augment:
      return images
    keys = example_keys(jax.random.fold_in(extra_key, tag), images.shape[0], offset)
    return augment_lib.diff_augment(images, keys, options.augment)

  def draw(noise_key, extra_key, real, real_labels) -> Draw:
    local_batch = real.shape[0]
    offset = _batch_offset(axis_name, local_batch)
    labels = (sample_labels(jax.random.fold_in(extra_key, _LABELS), local_batch,
                            options.num_classes, offset) if options.num_classes else None)
    return Draw(latents(noise_key, local_batch, latent_dim, offset), labels,
                augmented(real, extra_key, _AUGMENT_REAL, offset), real_labels, extra_key, offset)

  def fake(g_params, g_stats, d: Draw):
    images, new_stats = players.generate(g_params, g_stats, d.z, d.labels, train=True)
    return augmented(images, d.extra_key, _AUGMENT_FAKE, d.offset), new_stats

  def d_stats_after(d_params, d_stats, d: Draw):
    return players.discriminate(d_params, d_stats, d.real, d.real_labels, update=True)[2]

  def penalty(d_params, d_stats, d: Draw, fake_images):
    critic = lambda x, labels: players.discriminate(d_params, d_stats, x, labels)[0]
    keys = example_keys(jax.random.fold_in(d.extra_key, _PENALTY), d.real.shape[0], d.offset)
    return options.regularizer(critic, d.real, fake_images, keys, d.real_labels, d.labels)

  def d_loss(d_params, d_stats, d: Draw, fake_images, penalty_scale):
    # One call on real and fake together: twice the rows per matmul. The
    # discriminators keep no batch statistics, so this equals two calls.
    n = d.real.shape[0]
    both_labels = None if d.real_labels is None else jnp.concatenate([d.real_labels, d.labels])
    logits, classes, new_stats = players.discriminate(
        d_params, d_stats, jnp.concatenate([d.real, fake_images]), both_labels, update=True)
    real_logits, fake_logits = logits[:n], logits[n:]
    value = loss.d_loss(real_logits, fake_logits)
    total, metrics = value, {"d_loss": value}
    if options.aux_classifier:
      d_class = losses_lib.classifier_loss(classes[:n], d.real_labels)
      if options.aux_classifier_on_fakes:
        d_class = d_class + losses_lib.classifier_loss(classes[n:], d.labels)
      total = total + options.aux_classifier_weight * d_class
      metrics["d_class_loss"] = d_class
    if penalty_scale is not None:
      unweighted = penalty(d_params, d_stats, d, fake_images)
      total = total + penalty_scale * options.regularizer_weight * unweighted
      metrics["d_penalty"] = jnp.where(penalty_scale > 0, unweighted, 0.0)
    return total, (metrics, real_logits, fake_logits, new_stats)

  def g_loss(g_params, g_stats, d_params, d_stats, d: Draw):
    # The real logits do not depend on G; they are here because some losses
    # (the minimax value, relativistic losses) are functions of both.
    fake_images, new_stats = fake(g_params, g_stats, d)
    real_logits = players.discriminate(d_params, d_stats, d.real, d.real_labels)[0]
    fake_logits, fake_classes, _ = players.discriminate(d_params, d_stats, fake_images, d.labels)
    value = loss.g_loss(real_logits, fake_logits)
    if not options.aux_classifier:
      return value, (value, {}, new_stats)
    g_class = losses_lib.classifier_loss(fake_classes, d.labels)
    return (value + options.aux_classifier_weight * g_class,
            (value, {"g_class_loss": g_class}, new_stats))

  return Objective(draw, fake, d_stats_after, penalty, d_loss, g_loss)


def _averager(axis_name: Optional[str]):
  return (lambda tree: tree) if axis_name is None else (
      lambda tree: jax.lax.pmean(tree, axis_name))


def _with_finite_flag(metrics: Metrics) -> Metrics:
  metrics["finite"] = jnp.all(jnp.isfinite(jnp.stack(list(metrics.values())))).astype(jnp.float32)
  return metrics


def _ema(options: StepOptions, state: GANState, g_params):
  """``state.g_ema`` after a G step (``StepOptions.ema_decay``; () when off)."""
  if options.ema_decay == 0.0:
    return state.g_ema
  decay = options.ema_decay
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.g_ema, g_params)


def _step_key(state: GANState):
  """The step's key, from ``fold_in(state.rng, state.step)``."""
  return jax.random.fold_in(state.rng, state.step)


def alternating_update(objective: Objective, options: StepOptions,
                       axis_name: Optional[str] = None) -> TrainStep:
  """``d_steps`` D updates, then one G update, each player with its own optax optimizer.

  A lazy regularizer runs only on D steps with ``d.step % k == 0`` (a
  ``lax.cond``: no recompilation), scaled by k.
  """
  average = _averager(axis_name)

  def d_value_and_grad(d_params, d_step, d_stats, draw, fake_images):
    grad_fn = jax.value_and_grad(objective.d_loss, has_aux=True)
    if options.regularizer is None:
      return grad_fn(d_params, d_stats, draw, fake_images, None)
    every = options.regularizer_every
    if every == 1:
      return grad_fn(d_params, d_stats, draw, fake_images, 1.0)

    def without_penalty(p):
      (total, (metrics, *rest)), grads = grad_fn(p, d_stats, draw, fake_images, None)
      return (total, (dict(metrics, d_penalty=jnp.zeros((), jnp.float32)), *rest)), grads

    # Same output structure in both branches; only the taken one runs.
    return jax.lax.cond(d_step % every == 0,
                        lambda p: grad_fn(p, d_stats, draw, fake_images, float(every)),
                        without_penalty, d_params)

  def train_step(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    real_batches = batch["image"]
    label_batches = batch["label"] if options.num_classes else None
    d_steps = real_batches.shape[0]
    step_key = _step_key(state)
    d_keys = jax.random.split(jax.random.fold_in(step_key, _D_NOISE), d_steps)
    d_extra_keys = jax.random.split(jax.random.fold_in(step_key, _D_EXTRA), d_steps)

    def d_update(carry, inputs):
      d_state, d_stats = carry
      real, real_labels, key, extra_key = inputs
      draw = objective.draw(key, extra_key, real, real_labels)
      # G in train mode (batch statistics); its BN averages move in the G update.
      fake_images = objective.fake(state.g.params, state.g_stats, draw)[0]
      (_, (metrics, real_logits, fake_logits, new_stats)), grads = d_value_and_grad(
          d_state.params, d_state.step, d_stats, draw, fake_images)
      grads = average(grads)
      metrics = dict(metrics, d_grad_norm=optax.tree.norm(grads),
                     d_real=jnp.mean(jax.nn.sigmoid(real_logits)),
                     d_fake=jnp.mean(jax.nn.sigmoid(fake_logits)))
      return (d_state.apply_gradients(grads=grads), new_stats), metrics

    (d_state, d_stats), d_metrics = jax.lax.scan(
        d_update, (state.d, state.d_stats), (real_batches, label_batches, d_keys, d_extra_keys))
    d_metrics = jax.tree.map(lambda m: m[-1], d_metrics)

    draw = objective.draw(jax.random.fold_in(step_key, _G_NOISE),
                          jax.random.fold_in(step_key, _G_EXTRA), real_batches[-1],
                          None if label_batches is None else label_batches[-1])
    (_, (g_loss, g_extra, g_stats)), g_grads = jax.value_and_grad(
        objective.g_loss, has_aux=True)(state.g.params, state.g_stats, d_state.params, d_stats,
                                        draw)
    g_grads = average(g_grads)
    metrics = average(dict(d_metrics, g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads),
                           **g_extra))
    g = state.g.apply_gradients(grads=g_grads)
    new_state = state.replace(step=state.step + 1, g=g, d=d_state, g_stats=g_stats,
                              d_stats=d_stats, g_ema=_ema(options, state, g.params))
    return new_state, _with_finite_flag(metrics)

  return train_step


_GAME_METRIC_NAMES = {"loss_x": "g_loss", "loss_y": "d_loss", "grad_norm_x": "g_grad_norm",
                      "grad_norm_y": "d_grad_norm"}


def game_update(objective: Objective, game: GameOptimizer, options: StepOptions,
                axis_name: Optional[str] = None) -> TrainStep:
  """One joint step of both players by ``game`` on (loss_x, loss_y) = (G's, D's total loss).

  Batch-norm and spectral-norm stats are updated first, by one forward pass
  on the step's batch; the joint step then differentiates losses that read
  them and write nothing. A lazy regularizer is scaled by a 0/k multiplier.
  """
  average = _averager(axis_name)

  def train_step(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    real_batches = batch["image"]
    if real_batches.shape[0] != 1:
      raise ValueError("game optimizers take one discriminator batch per step (d_steps == 1)")
    step_key = _step_key(state)
    draw = objective.draw(jax.random.fold_in(step_key, _G_NOISE),
                          jax.random.fold_in(step_key, _G_EXTRA), real_batches[0],
                          batch["label"][0] if options.num_classes else None)
    g_stats = objective.fake(state.g.params, state.g_stats, draw)[1]
    d_stats = objective.d_stats(state.d.params, state.d_stats, draw)
    penalty_scale = None
    if options.regularizer is not None:
      every = options.regularizer_every
      penalty_scale = jnp.where(state.d.step % every == 0, float(every), 0.0)

    def loss_x(g_params, d_params):
      return objective.g_loss(g_params, state.g_stats, d_params, d_stats, draw)[0]

    def loss_y(g_params, d_params):
      fake_images = objective.fake(g_params, state.g_stats, draw)[0]
      return objective.d_loss(d_params, d_stats, draw, fake_images, penalty_scale)[0]

    g_params, d_params, game_state, game_metrics = game.step(
        loss_x, loss_y, state.g.params, state.d.params, state.game, reduce=average)
    metrics = {_GAME_METRIC_NAMES.get(k, k): jnp.asarray(v, jnp.float32)
               for k, v in game_metrics.items()}
    if options.regularizer is not None:
      # d_loss is D's total loss here; the penalty at the step's starting
      # point, as in the alternating update's metric. XLA merges it with the
      # game's own evaluation there: the compiled CGD and extragradient steps
      # with R1 have the same FLOPs with and without this metric.
      unweighted = objective.penalty(state.d.params, d_stats, draw,
                                     objective.fake(state.g.params, state.g_stats, draw)[0])
      metrics["d_penalty"] = average(jnp.where(penalty_scale > 0, unweighted, 0.0))
    new_state = state.replace(
        step=state.step + 1, game=game_state,
        g=state.g.replace(params=g_params, step=state.g.step + 1),
        d=state.d.replace(params=d_params, step=state.d.step + 1),
        g_stats=g_stats, d_stats=d_stats, g_ema=_ema(options, state, g_params))
    return new_state, _with_finite_flag(metrics)

  return train_step


def make_train_step(*, generator: nn.Module, discriminator: nn.Module, loss: losses_lib.GANLoss,
                    latent_dim: int, axis_name: Optional[str] = None,
                    game: Optional[GameOptimizer] = None,
                    options: StepOptions = StepOptions()) -> TrainStep:
  """Builds the pure GAN update.

  Without ``game``: the alternating update, ``d_steps`` discriminator steps
  then one generator step, each player with its own optax optimizer. With a
  ``game`` optimizer (``gan_jax.games``): one joint step of both players on
  the game (loss_x = g_loss, loss_y = d_loss), which needs ``d_steps == 1``;
  there stats are updated by one extra forward pass before the joint step
  and a lazy regularizer is scaled by a 0/k multiplier.

  Args:
    generator: linen module, latents [B, latent_dim] (and labels) -> images.
    discriminator: linen module, images (and labels) -> logits [B].
    loss: the (d_loss, g_loss) pair, both functions of (real, fake) logits.
    latent_dim: size of z.
    axis_name: the pmap axis to average over, or None on one device.
    game: a game-aware optimizer, or None.
    options: regularizer, augmentation, conditioning and EMA settings.

  Returns:
    ``train_step(state, batch) -> (state, metrics)``; metrics are scalars:
    d_loss, g_loss, d_grad_norm, g_grad_norm, finite (1.0 when every metric
    is finite), plus d_real/d_fake (mean sigmoid of D's outputs on the real
    and fake batches) for the alternating update or the game optimizer's own
    metrics (e.g. cg_iterations), d_penalty with a regularizer (the
    unweighted penalty, 0 on D steps that skip it; a game optimizer's d_loss
    includes the weighted penalty) and d_class_loss/
    g_class_loss with an auxiliary classifier.
  """
  objective = make_objective(generator=generator, discriminator=discriminator, loss=loss,
                             latent_dim=latent_dim, axis_name=axis_name, options=options)
  if game is None:
    return alternating_update(objective, options, axis_name)
  return game_update(objective, game, options, axis_name)


# draw_batch(data, key, d_steps, global_batch, offset, local_batch) -> batch:
# the rows offset..offset+local_batch of a [d_steps, global_batch] draw from
# ``key`` (a batch for ``train_step``, leading axes [d_steps, local_batch]).
BatchDraw = Callable[[dict, jax.Array, int, int, jax.Array, int], Batch]


def make_train_loop(train_step: TrainStep, *, global_batch: int, d_steps: int,
                    steps_per_call: int, axis_name: Optional[str] = None,
                    draw_batch: BatchDraw = draw_image_batch):
  """Fuses ``steps_per_call`` steps, batches drawn on the device, into one scan.

  Args:
    train_step: from ``make_train_step`` (with the same ``axis_name``).
    global_batch: examples per discriminator step over all devices.
    d_steps: discriminator steps per generator step.
    steps_per_call: generator steps per call.
    axis_name: the pmap axis, or None.
    draw_batch: how step s's batch comes from the data and
      ``fold_in(data_key, s)``: ``draw_image_batch`` (a data set on the
      device) or a data source's own (e.g. ``gan_jax.mixtures``' sampler).

  Returns:
    ``loop(state, data, data_key) -> (state, metrics)`` where ``data`` is the
    source's device arrays (for images ``{"image": uint8 [N, H, W, C]}`` and,
    for a conditional run, ``"label"``), and every metric has a leading
    [steps_per_call] axis. ``metrics["step"]`` holds each step's index.
  """

  def loop(state: GANState, data: dict, data_key: jax.Array):
    num_devices = 1 if axis_name is None else jax.lax.psum(1, axis_name)
    local_batch = global_batch // num_devices

    def body(state, _):
      step = state.step
      batch = draw_batch(data, jax.random.fold_in(data_key, step), d_steps, global_batch,
                         _batch_offset(axis_name, local_batch), local_batch)
      state, metrics = train_step(state, batch)
      return state, dict(metrics, step=step)

    return jax.lax.scan(body, state, None, length=steps_per_call)

  return loop


def replicate(tree, devices=None):
  """Copies every leaf onto each local device, stacked on a new leading axis (pmap's input)."""
  devices = list(devices or jax.local_devices())
  sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(devices), ("devices",)),
                                        jax.sharding.PartitionSpec("devices"))
  return jax.tree.map(
      lambda x: jax.device_put(np.broadcast_to(np.asarray(x), (len(devices),) + np.shape(x)),
                               sharding), tree)


def unreplicate(tree):
  """The first local device's copy of a replicated tree, as host numpy arrays.

  It reads the local shard directly: indexing (``x[0]``) would dispatch a
  computation, which in a multi-process run waits for the other processes.
  """
  return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data)[0], tree)


PARALLELISM = ("shard_map", "pmap")


def data_mesh(axis_name: str) -> jax.sharding.Mesh:
  """A 1-D mesh of every device of every process, its axis the batch's."""
  return jax.sharding.Mesh(np.array(jax.devices()), (axis_name,))


def put_replicated(tree, mesh: jax.sharding.Mesh):
  """Every leaf as one global array with a full copy on each device of ``mesh`` (shard_map's input).

  Built from each process's own copy of the host values (they must agree), so
  it works the same with one process and with several.
  """
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(put, tree)


def local_copy(tree):
  """A replicated global tree's copy on this process's first device, as host numpy arrays."""
  return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data), tree)


def compile_train_loop(loop, *, axis_name: Optional[str], parallelism: str = "shard_map"):
  """The loop compiled with the state donated: on one device, or data-parallel over all.

  Args:
    loop: from ``make_train_loop`` (with the same ``axis_name``).
    axis_name: None for one device; else the batch axis of the collectives.
    parallelism: with an axis: "shard_map" (``jax.shard_map`` over
      ``data_mesh``; inputs from ``put_replicated``) or "pmap" (``jax.pmap``
      over the local devices; inputs from ``replicate``, a leading device
      axis).

  Returns:
    The compiled ``loop(state, data, data_key) -> (state, metrics)``.
  """
  if axis_name is None:
    return jax.jit(loop, donate_argnums=(0,))
  if parallelism == "pmap":
    return jax.pmap(loop, axis_name=axis_name, donate_argnums=(0,))
  if parallelism != "shard_map":
    raise ValueError(f"unknown parallelism {parallelism!r}; known: {', '.join(PARALLELISM)}")
  spec = jax.sharding.PartitionSpec()
  # Every input and output is replicated: each device takes its own slice of
  # the batch inside the loop, and gradients and metrics are averaged over the
  # axis there, so the devices' outputs agree (not checked: check_vma=False).
  per_device = jax.shard_map(loop, mesh=data_mesh(axis_name), in_specs=spec, out_specs=spec,
                             check_vma=False)
  return jax.jit(per_device, donate_argnums=(0,))
