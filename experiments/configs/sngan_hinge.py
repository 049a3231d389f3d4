"""SNGAN (Miyato et al. 2018): hinge loss, spectrally normalised ResNet D, 32x32.

The ResNet G/D of the paper's appendix B.4 (G upsamples by nearest resize
then convolution) at width 128, n_dis = 5 and
Adam(2e-4, beta1 0, beta2 0.9) (its best hinge-loss setting). The default
data are 28x28 MNIST digits, zero-padded to 32x32 (config.image_size = 32).

Expected result: not measured yet. Time: a GPU config. On 2 CPU cores with
another run alongside one step took about 28 s (steps 10-20 of a 30-step run,
2026-12-02): the 20,000 steps would take about a week.
"""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.model = "sngan_resnet"
  config.image_size = 32
  config.width = 128
  config.latent_dim = 128
  config.upsample = "resize"  # The paper's up-convolution: nearest x2, then a 3x3 conv.
  config.loss = "hinge"
  config.spectral_norm = True
  config.d_steps_per_g_step = 5
  config.g_learning_rate = 2e-4
  config.d_learning_rate = 2e-4
  config.adam_b1 = 0.0
  config.adam_b2 = 0.9
  config.num_steps = 20_000
  return config
