"""Evaluation metrics for generative models, as pure host-side functions.

Every metric takes numpy or jax arrays (features, class probabilities, samples)
and returns Python floats or dicts of them; nothing here is jitted or holds
state. Feature extraction (e.g. an Inception network) is not part of this
package: pass the extracted features in.

* ``fid``: Frechet distance (Heusel et al. 2017).
* ``kid``: Kernel Inception Distance (Binkowski et al. 2018).
* ``inception_score``: Inception Score (Salimans et al. 2016).
* ``precision_recall``: improved precision/recall (Kynkaanniemi et al. 2019)
  and density/coverage (Naeem et al. 2020).
* ``mode_coverage``: modes captured, high-quality fraction and reverse KL for
  2-D mixtures and Stacked MNIST (Srivastava et al. 2017; Lin et al. 2018).
* ``parzen``: Parzen-window log-likelihood (Goodfellow et al. 2014).
"""

from gan_jax.metrics.fid import feature_statistics
from gan_jax.metrics.fid import frechet_distance
from gan_jax.metrics.fid import frechet_distance_from_stats
from gan_jax.metrics.inception_score import inception_score
from gan_jax.metrics.kid import kernel_inception_distance
from gan_jax.metrics.mode_coverage import class_histogram_kl
from gan_jax.metrics.mode_coverage import grid_modes
from gan_jax.metrics.mode_coverage import mixture_mode_stats
from gan_jax.metrics.mode_coverage import ring_modes
from gan_jax.metrics.mode_coverage import stacked_mnist_modes
from gan_jax.metrics.parzen import parzen_log_likelihood
from gan_jax.metrics.parzen import select_parzen_bandwidth
from gan_jax.metrics.precision_recall import density_coverage
from gan_jax.metrics.precision_recall import precision_recall

__all__ = [
    "class_histogram_kl",
    "density_coverage",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_stats",
    "grid_modes",
    "inception_score",
    "kernel_inception_distance",
    "mixture_mode_stats",
    "parzen_log_likelihood",
    "precision_recall",
    "ring_modes",
    "select_parzen_bandwidth",
    "stacked_mnist_modes",
]
