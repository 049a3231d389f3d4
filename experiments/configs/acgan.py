"""ACGAN (Odena et al. 2017): D with an auxiliary classifier, on 28x28 MNIST.

The DCGAN architecture with class-conditional batch norm in G and a 10-way
class head on D's features; both players add a class cross-entropy
(weight 1) to the non-saturating loss: D's on the real images only
(``aux_classifier_on_fakes = False``, the default), G's on its fakes. The
paper's form, with D's class loss on the fakes too, lets G and D agree on
a label code that is not the digit (docs/results.md).

Measured (docs/results.md) on its default mnist_5k data, seed 0: FID 5.7
at 20,000 steps (best 4.6 at 17,500; 16.2 at 5,000), recall 0.59, and
99.8% of the samples classified as their label (label_accuracy; chance
10%), in 2,037 s on 2 Intel Xeon cores, partly shared. Seed 1: FID 5.1
(best 3.7 at 15,000; 12.9 at 5,000), 99.6%, in 1,520 s alone.
"""

from experiments.configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.conditioning = "acgan"
  config.num_classes = 10
  config.aux_classifier_weight = 1.0
  return config
