"""Evaluation of a generator against held-out real images.

``make_evaluator(config, ...)`` returns ``evaluate(view) -> {name: float}``
(``view``: a state's ``gan_jax.state.Inference``, from its model family),
called every ``config.eval_every`` steps by ``gan_jax.train`` (its results go
to metrics.jsonl, TensorBoard and summary.json with an ``eval/`` prefix) and
once by ``python -m experiments.evaluate`` (into eval.json). On
``config.num_eval_samples`` generated images and as many real ones:

- ``pixel_fd``: the Frechet distance between Gaussian fits of raw pixels
  (Heusel et al. 2017); coarse, but needs no network.
- ``fid``, ``kid``/``kid_std`` (Binkowski et al. 2018), ``precision``/``recall``
  (Kynkaanniemi et al. 2019, k = 3) and ``density``/``coverage`` (Naeem et al.
  2020, k = 5) on the features of ``config.eval_features``
  (``gan_jax.features``): the project's classifier for small grayscale data,
  or the FID InceptionV3.
- ``classifier_score``/``classifier_score_std``: the Inception Score (Salimans
  et al. 2016, 10 splits) with the extractor's class probabilities, and
  ``class_kl``: KL(histogram of predicted classes || uniform), which grows as
  the generator drops classes (mode collapse). Only when the extractor has
  class probabilities.
- ``label_accuracy``: for a class-conditional run, the fraction of generated
  images that the extractor's classifier assigns to the label G was given
  (chance is 1 / K); it measures whether G follows its labels, which FID
  does not.
- ``d_real``/``d_fake``: the discriminator's mean probability on the real and
  generated images (GANs only).

A data source that is not images brings its own evaluator
(``gan_jax.data.Source.make_evaluator``): a run on a Gaussian mixture
(``config.dataset = "mixture:NAME"``) is judged by its modes
(``gan_jax.mixtures.MixtureEvaluator``: ``modes``, ``high_quality``,
``reverse_kl``).

The real images are the data set's eval split when it has one, else the
training split (``info["split"]`` says which). Generated images are rounded to
uint8 like the real ones before any metric. The latents, the real subset and
KID's subsets come from the key given, so two evaluations of the same
generator agree exactly and runs with the same seed are comparable.

The feature extractor is built once per evaluator (a classifier is trained
only on its first use for a data set and then read from its cache). When it
cannot serve the data set (e.g. RGB images or no labels for the classifier)
the evaluator falls back to pixel features, skips the class metrics and says
so in ``info["note"]``.

Also here, for evaluations beyond the training-time ones: Stacked MNIST mode
counting (``stacked_mnist_mode_stats``) and the Parzen-window log-likelihood
with the bandwidth chosen on a validation split (``parzen_log_likelihood``).
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import ml_collections
import numpy as np

from gan_jax import data, families, features, metrics, networks
from gan_jax.data import Dataset, to_float, to_uint8
from gan_jax.features.common import batched_apply
from gan_jax.state import Inference
from gan_jax.train_step import generate, latents

# The protocols' settings, from each metric's paper.
KID_NUM_SUBSETS = 100  # Binkowski et al. 2018, appendix: 100 subsets of 1000.
KID_SUBSET_SIZE = 1000
PR_NEIGHBOURS = 3  # Kynkaanniemi et al. 2019, k = 3.
DC_NEIGHBOURS = 5  # Naeem et al. 2020, k = 5.
SCORE_SPLITS = 10  # Salimans et al. 2016, 10 splits.
# Goodfellow et al. 2014's MNIST bandwidths, for pixels scaled to [0, 1].
PARZEN_SIGMAS = tuple(float(s) for s in np.logspace(-1, 0, 10))
# Images per generator / discriminator call.
SAMPLE_BATCH = 500
# What an evaluator can return: always, with a class-probability extractor,
# and with a discriminator (``Evaluator.metric_names`` says which of them).
FEATURE_METRICS = ("pixel_fd", "fid", "kid", "kid_std", "precision", "recall", "density",
                   "coverage")
CLASS_METRICS = ("classifier_score", "classifier_score_std", "class_kl")
LABEL_METRICS = ("label_accuracy",)  # A conditional run, with class probabilities.
D_METRICS = ("d_real", "d_fake")
METRIC_NAMES = FEATURE_METRICS + CLASS_METRICS + LABEL_METRICS + D_METRICS


def real_eval_images(dataset: Dataset, num: int,
                     key: jax.Array) -> tuple[np.ndarray, Optional[np.ndarray], str]:
  """``num`` real images (fewer if the split is smaller), their labels, and the split's name.

  The held-out ``eval`` split when the data set has one, else ``train``.
  """
  if dataset.eval_images is not None:
    pool, labels, split = dataset.eval_images, dataset.eval_labels, "eval"
  else:
    pool, labels, split = dataset.images, dataset.labels, "train"
  # Random order, not sorted: split-based scores (the Inception-style score)
  # must not see class-sorted splits, as in mnist_5k.
  idx = np.asarray(jax.random.choice(key, len(pool), (min(num, len(pool)),), replace=False))
  return pool[idx], None if labels is None else labels[idx], split


def feature_metrics(real_feats: np.ndarray, fake_feats: np.ndarray, key: jax.Array,
                    real_stats: Optional[tuple[np.ndarray, np.ndarray]] = None,
                    fid: Optional[float] = None) -> dict:
  """FID, KID, precision/recall and density/coverage of two feature sets.

  Args:
    real_feats: [N, D] features of real images.
    fake_feats: [M, D] features of generated images.
    key: draws KID's subsets.
    real_stats: ``metrics.feature_statistics(real_feats)`` if already known.
    fid: the FID if already known (it costs two eigendecompositions of [D, D]).

  Returns:
    ``fid``, ``kid``, ``kid_std``, ``precision``, ``recall``, ``density``,
    ``coverage`` as floats. KID uses subsets of min(1000, N, M) rows;
    precision/recall need N, M > 3 and density/coverage N > 5 (else NaN).

  References:
    Heusel et al. 2017; Binkowski et al. 2018; Kynkaanniemi et al. 2019;
    Naeem et al. 2020.
  """
  if fid is None:
    mu_r, sigma_r = (real_stats if real_stats is not None
                     else metrics.feature_statistics(real_feats))
    fid = metrics.frechet_distance_from_stats(*metrics.feature_statistics(fake_feats),
                                              mu_r, sigma_r)
  out = {"fid": fid}
  kid, kid_std = metrics.kernel_inception_distance(
      real_feats, fake_feats, num_subsets=KID_NUM_SUBSETS,
      subset_size=min(KID_SUBSET_SIZE, len(real_feats), len(fake_feats)), seed=key)
  out.update(kid=kid, kid_std=kid_std)
  nan = float("nan")
  if min(len(real_feats), len(fake_feats)) > PR_NEIGHBOURS:
    out.update(metrics.precision_recall(real_feats, fake_feats, k=PR_NEIGHBOURS))
  else:
    out.update(precision=nan, recall=nan)
  if len(real_feats) > DC_NEIGHBOURS:
    out.update(metrics.density_coverage(real_feats, fake_feats, k=DC_NEIGHBOURS))
  else:
    out.update(density=nan, coverage=nan)
  return out


def class_metrics(probs: np.ndarray) -> dict:
  """Classifier score (IS with the extractor's classifier) and class-histogram KL.

  Args:
    probs: [N, K] class probabilities of generated images.

  Returns:
    ``classifier_score``, ``classifier_score_std`` (over min(10, N) splits)
    and ``class_kl`` = KL(histogram of argmax classes || uniform over K).

  References:
    Salimans et al. 2016, section 4; Srivastava et al. 2017 and Lin et al.
    2018 for the KL of the predicted-class histogram.
  """
  probs = np.asarray(probs, np.float64)
  probs = probs / probs.sum(axis=1, keepdims=True)  # float32 softmax rows, renormalised.
  score, score_std = metrics.inception_score(probs, num_splits=min(SCORE_SPLITS, len(probs)))
  return {"classifier_score": score, "classifier_score_std": score_std,
          "class_kl": metrics.class_histogram_kl(np.argmax(probs, axis=1), probs.shape[1])}


def label_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
  """The fraction of conditional samples classified as the label they were drawn for.

  Args:
    probs: [N, K] class probabilities of generated images.
    labels: int [N], the labels the generator was given.

  Returns:
    mean(argmax(probs) == labels), in [0, 1].
  """
  return float(np.mean(np.argmax(np.asarray(probs), axis=1) == np.asarray(labels)))


def stacked_mnist_mode_stats(extractor: features.FeatureExtractor, images: np.ndarray) -> dict:
  """Modes and reverse KL of Stacked MNIST samples, one digit classifier per channel.

  Args:
    extractor: a 10-class extractor of single-channel 28x28 digits (the
      ``classifier`` built for an MNIST data set).
    images: uint8 [N, 28, 28, 3]; channel c holds the c-th digit.

  Returns:
    ``{"modes": int (of 1000), "kl": KL(mode histogram || uniform)}``.

  Raises:
    ValueError: images not [N, H, W, 3], or an extractor without 10 classes.

  References:
    Metz et al. 2017; Srivastava et al. 2017; Lin et al. 2018.
  """
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"Stacked MNIST images must be [N, H, W, 3], got {images.shape}")
  if extractor.num_classes != 10:
    raise ValueError(f"a 10-class digit classifier is needed, got {extractor.num_classes} classes")
  digits = [np.argmax(extractor.embed(images[..., c:c + 1])[1], axis=1) for c in range(3)]
  return metrics.stacked_mnist_modes(np.stack(digits, axis=1))


def parzen_log_likelihood(samples: np.ndarray, validation: np.ndarray, test: np.ndarray,
                          sigmas=PARZEN_SIGMAS) -> dict:
  """Parzen-window log-likelihood of test images, bandwidth chosen on validation images.

  Args:
    samples: uint8 generated images [N, H, W, C] (the kernel centres).
    validation: uint8 real images [V, ...] to choose sigma on (not the test set).
    test: uint8 real images [T, ...] to score.
    sigmas: candidate bandwidths, for pixels scaled to [0, 1].

  Returns:
    ``{"parzen_ll": mean nats, "parzen_ll_se": its standard error, "parzen_sigma": sigma}``.

  References:
    Goodfellow et al. 2014, section 5 and table 1; Breuleux et al. 2011.
  """
  flat = lambda x: np.asarray(x, np.float64).reshape(len(x), -1) / 255.0
  sigma = metrics.select_parzen_bandwidth(flat(samples), flat(validation), sigmas)
  mean, se = metrics.parzen_log_likelihood(flat(samples), flat(test), sigma)
  return {"parzen_ll": mean, "parzen_ll_se": se, "parzen_sigma": sigma}


def parzen_splits(dataset: Dataset, num: int,
                  key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
  """A validation set of ``num`` training images and a test set of ``num`` eval-split images.

  Without an eval split both come, disjoint, from the training split.
  """
  val_key, test_key = jax.random.split(key)
  if dataset.eval_images is not None:
    val = np.asarray(jax.random.choice(val_key, len(dataset.images),
                                       (min(num, len(dataset.images)),), replace=False))
    test = np.asarray(jax.random.choice(test_key, len(dataset.eval_images),
                                        (min(num, len(dataset.eval_images)),), replace=False))
    return dataset.images[np.sort(val)], dataset.eval_images[np.sort(test)]
  order = np.asarray(jax.random.permutation(val_key, len(dataset.images)))
  half = min(num, len(order) // 2)
  return dataset.images[np.sort(order[:half])], dataset.images[np.sort(order[half:2 * half])]


# Below this test accuracy an evaluation classifier's features (FID, KID,
# precision/recall) and class metrics say little about the samples.
MIN_CLASSIFIER_ACCURACY = 0.9


def classifier_warnings(info: dict) -> list[str]:
  """A line when an evaluator's classifier (its ``info``) is below MIN_CLASSIFIER_ACCURACY."""
  accuracy = info.get("classifier_test_accuracy")
  if accuracy is None or accuracy >= MIN_CLASSIFIER_ACCURACY:
    return []
  return [f"the evaluation classifier's test accuracy is {accuracy:.3f}, below "
          f"{MIN_CLASSIFIER_ACCURACY}: its FID, KID and class metrics are unreliable"]


def sample_count_warnings(info: dict) -> list[str]:
  """A line when an evaluator compares more generated samples than it has real images."""
  num_real, num_fake = info.get("num_real"), info["num_fake"]
  if num_real is None or num_fake <= num_real:
    return []
  return [f"{num_fake} generated samples are compared with only {num_real} real images of "
          f"the {info['split']} split: the metrics are biased; use at most {num_real} samples"]


class Evaluator:
  """``evaluate(view) -> {metric: float}`` of an ``Inference`` view; ``info`` describes the data.

  Build it with ``make_evaluator``.
  """

  # Printed at each evaluation, and repeated at the top of summary.json.
  headline = ("fid", "kid", "precision", "recall")

  def __init__(self, *, config: ml_collections.ConfigDict, generator, discriminator,
               dataset: Dataset, key: jax.Array, num_samples: int,
               extractor: features.FeatureExtractor):
    real_key, z_key, label_key, self._kid_key = jax.random.split(key, 4)
    self.extractor = extractor
    self._real, real_labels, split = real_eval_images(dataset, num_samples, real_key)
    self._real_pixel_stats = metrics.feature_statistics(self._flat(self._real))
    self._real_feats, real_probs = extractor.embed(self._real)
    self._with_probs = real_probs is not None
    self._real_feat_stats = metrics.feature_statistics(self._real_feats)
    self._z = np.asarray(latents(z_key, num_samples, config.latent_dim))
    num_classes = networks.num_classes(config)
    self._fake_labels = (np.asarray(jax.random.randint(label_key, (num_samples,), 0, num_classes))
                         if num_classes else None)
    self._real_labels = real_labels if num_classes else None
    self._with_label_metrics = self._with_probs and num_classes > 0
    # Per instance: a conditional run also prints whether G follows its labels.
    self.headline = Evaluator.headline + (LABEL_METRICS if self._with_label_metrics else ())
    self._with_d = discriminator is not None and (not num_classes or real_labels is not None)
    self._sample = jax.jit(functools.partial(generate, generator))
    self._discriminate = jax.jit(functools.partial(_d_probability, discriminator))
    self.info = {
        "features": extractor.name,
        "features_hash": extractor.hash,
        "features_info": extractor.info,
        "split": split,
        "num_real": int(len(self._real)),
        "num_fake": int(num_samples),
    }
    if "test_accuracy" in extractor.info:
      self.info["classifier_test_accuracy"] = extractor.info["test_accuracy"]
    if "note" in extractor.info:
      self.info["note"] = extractor.info["note"]
    if real_probs is not None:  # What a perfect generator would score.
      self.info["real"] = class_metrics(real_probs)
      if self._with_label_metrics and real_labels is not None:
        self.info["real"]["label_accuracy"] = label_accuracy(real_probs, real_labels)

  def metric_names(self) -> tuple[str, ...]:
    """The metrics ``__call__`` returns with this extractor and model."""
    return (FEATURE_METRICS + (CLASS_METRICS if self._with_probs else ())
            + (LABEL_METRICS if self._with_label_metrics else ())
            + (D_METRICS if self._with_d else ()))

  @staticmethod
  def _flat(images: np.ndarray) -> np.ndarray:
    return to_float(images).reshape(len(images), -1)

  def generate(self, view: Inference) -> np.ndarray:
    """The evaluation's generated images, uint8 [N, H, W, C], from the fixed latents."""
    variables, labels = view.generator, self._fake_labels
    fn = lambda i: (self._sample(variables, self._z[i], None if labels is None else labels[i]),)
    (fake,) = batched_apply(fn, np.arange(len(self._z)), SAMPLE_BATCH)
    return to_uint8(fake)

  def _d_mean(self, view: Inference, images: np.ndarray, labels: Optional[np.ndarray]) -> float:
    variables = view.discriminator
    fn = lambda i: (self._discriminate(variables, to_float(images[i]),
                                       None if labels is None else labels[i]),)
    (probs,) = batched_apply(fn, np.arange(len(images)), SAMPLE_BATCH)
    return float(np.mean(probs))

  def __call__(self, view: Inference) -> dict:
    """The metrics of a state's inference view (``gan_jax.families``; on one device)."""
    fake = self.generate(view)
    pixel_fd = metrics.frechet_distance_from_stats(
        *metrics.feature_statistics(self._flat(fake)), *self._real_pixel_stats)
    fake_feats, fake_probs = self.extractor.embed(fake)
    out = {"pixel_fd": pixel_fd}
    same_as_pixels = self.extractor.name == "pixels"  # Then fid is pixel_fd.
    out.update(feature_metrics(self._real_feats, fake_feats, self._kid_key,
                               real_stats=self._real_feat_stats,
                               fid=pixel_fd if same_as_pixels else None))
    if fake_probs is not None:
      out.update(class_metrics(fake_probs))
      if self._with_label_metrics:
        out["label_accuracy"] = label_accuracy(fake_probs, self._fake_labels)
    if self._with_d:
      out["d_real"] = self._d_mean(view, self._real, self._real_labels)
      out["d_fake"] = self._d_mean(view, fake, self._fake_labels)
    return out

  def describe(self, values: dict) -> dict:
    """Per-metric records for eval.json: value, sample counts, split and features."""
    records = {}
    for name, value in values.items():
      if name in ("pixel_fd",):
        feats, digest, num_real = "pixels", None, self.info["num_real"]
      elif name.startswith("d_"):
        feats, digest, num_real = "discriminator", None, self.info["num_real"]
      else:
        feats, digest = self.info["features"], self.info["features_hash"]
        num_real = (0 if name.startswith("class") or name in LABEL_METRICS
                    else self.info["num_real"])
      records[name] = {"value": value, "num_real": num_real, "num_fake": self.info["num_fake"],
                       "split": self.info["split"] if num_real else None,
                       "features": feats, "features_hash": digest}
    return records


def _d_probability(discriminator, variables: dict, images: jax.Array,
                   labels: Optional[jax.Array] = None) -> jax.Array:
  """sigmoid(D(x)) per image (the first output when D also returns class logits)."""
  out = discriminator.apply(variables, images, **({} if labels is None else {"labels": labels}))
  logits = out[0] if isinstance(out, tuple) else out
  return jax.nn.sigmoid(logits.reshape(len(images)))


def make_evaluator(config: ml_collections.ConfigDict, *, generator, discriminator,
                   dataset, key: jax.Array, num_samples: Optional[int] = None):
  """The evaluator of a run: builds (or loads) the feature extractor once.

  Args:
    config: the run's validated config (``eval_features``, its settings,
      ``num_eval_samples``, ``latent_dim``, ``model``, ``conditioning``).
    generator: the generator module.
    discriminator: the second network of ``config.model``; used for
      d_real/d_fake only when its model family has a critic (not the VAE's
      encoder).
    dataset: the training data set (its eval split is used when present).
    key: fixes the latents, the real subset and KID's subsets.
    num_samples: generated (and real) images; default ``config.num_eval_samples``.

  Returns:
    The ``Evaluator``, or the data source's own evaluator when it has one
    (``gan_jax.data.Source.make_evaluator``).

  Raises:
    UserError: bad feature-extractor settings (e.g. a malformed weights file).
  """
  num_samples = num_samples or config.num_eval_samples
  own = getattr(data.hooks_of(dataset), "make_evaluator", None)
  if own is not None:
    return own(config, generator=generator, discriminator=discriminator, dataset=dataset,
               key=key, num_samples=num_samples)
  extractor = features.build(config.eval_features, config, dataset)
  if not families.for_config(config).has_critic:
    discriminator = None
  return Evaluator(config=config, generator=generator, discriminator=discriminator,
                   dataset=dataset, key=key, num_samples=num_samples, extractor=extractor)
