"""DCGAN (Radford et al. 2016) with the non-saturating loss on 28x28 MNIST (mnist_5k).

G: z(100) -> 7x7x128 -> 14x14x64 -> 28x28x1 with batch norm and ReLU, tanh
out; D: strided 4x4 convs 64 -> 128, leaky ReLU 0.2, a dense logit. Adam
(2e-4, beta1 0.5) for both players, batch 64: the paper's settings.

Measured (docs/results.md) on Fashion-MNIST from an npz, 20,000 steps,
seed 0: FID 17.62 in 3,387 s on 2 Intel Xeon cores shared with other runs
(code abac7f8; later code rounds G's image layer differently), FID 17.06
in 53 s on one H100. On its default mnist_5k data, seed 0: FID 8.6 at
20,000 steps (best 7.9 at 12,500; 13.8 at 5,000), recall 0.88, in 3,004 s
on 2 AMD EPYC cores, partly shared (code ed99de7).
"""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.model = "dcgan"
  config.loss = "non_saturating"
  config.width = 64
  config.latent_dim = 100
  config.num_steps = 20_000
  return config
