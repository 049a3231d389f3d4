"""ACGAN (Odena et al. 2017): D with an auxiliary classifier, on 28x28 MNIST.

The DCGAN architecture with class-conditional batch norm in G and a 10-way
class head on D's features; both players add the class cross-entropy
(weight 1) to the non-saturating loss.

Expected result: not measured yet. Time: 3.8 steps/s on 2 CPU cores with
another run alongside (a 30-step run, 2026-12-02), so the 20,000 steps take
about 90 minutes there.
"""

from experiments.configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.conditioning = "acgan"
  config.num_classes = 10
  config.aux_classifier_weight = 1.0
  return config
