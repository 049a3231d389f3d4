"""The zoo's config keys: validated with one-line errors, data-dependent checks, padding."""

import re

import numpy as np
import pytest

from experiments.configs import default
from gan_jax import config as config_lib, data
from gan_jax.errors import UserError
from test_schedules import BAD_SCHEDULES

NEW_KEYS = {"width": 64, "upsample": "subpixel", "image_size": 0, "conditioning": "none",
            "num_classes": 10, "aux_classifier_weight": 1.0, "aux_classifier_on_fakes": False,
            "label_smoothing": 0.0,
            "regularizer": "none", "regularizer_weight": 10.0, "regularizer_every": 1,
            "spectral_norm": False, "diffaugment": "", "g_ema_decay": 0.0,
            "grad_clip_norm": 0.0}


def test_defaults_keep_the_seed_gan():
  config = default.get_config()
  assert {k: config[k] for k in NEW_KEYS} == NEW_KEYS
  config_lib.validate(config)


BAD = [
    ({"upsample": "bilinear"},
     "config.upsample='bilinear' is not allowed; it must be one of resize, subpixel, transpose"),
    ({"conditioning": "class"},
     "config.conditioning='class' is not allowed; it must be one of none, projection, acgan"),
    ({"regularizer": "wgan"},
     "config.regularizer='wgan' is not allowed; it must be one of none, dragan, gp"),
    ({"regularizer_every": 0},
     "config.regularizer_every=0 is not allowed; it must be an integer >= 1"),
    ({"diffaugment": "color,blur"},
     "config.diffaugment='color,blur' is not allowed; it must be '' or a comma-separated list "
     "of color, cutout, translation"),
    ({"g_ema_decay": 1.0}, "config.g_ema_decay=1.0 is not allowed; it must be a number in [0, 1)"),
    ({"label_smoothing": -0.1}, "config.label_smoothing=-0.1 is not allowed"),
    ({"loss": "hinge", "label_smoothing": 0.1},
     "config.label_smoothing=0.1 does not apply to config.loss='hinge'"),
    ({"model": "vae", "regularizer": "gp"},
     "config.regularizer='gp' does not apply to config.model='vae'"),
    ({"game_optimizer": "cgd", "grad_clip_norm": 1.0}, "it does not apply with a game optimizer"),
    ({"grad_clip_norm": -1.0}, "config.grad_clip_norm=-1.0 is not allowed"),
    ({"num_classes": 1}, "config.num_classes=1 is not allowed; it must be an integer >= 2"),
]


@pytest.mark.parametrize("overrides,message", BAD + BAD_SCHEDULES)
def test_bad_values_give_one_line_errors(overrides, message):
  config = default.get_config()
  config.update(overrides)
  with pytest.raises(UserError) as error:
    config_lib.validate(config)
  assert message in str(error.value) and "\n" not in str(error.value), str(error.value)


DATA_BAD = [
    ({"model": "sngan_resnet"}, (28, 28, 1), np.zeros(3, np.int32),
     "config.model='sngan_resnet': the SNGAN ResNet needs image sides divisible by 8"),
    ({"conditioning": "projection"}, (28, 28, 1), np.zeros(3, np.int32),
     "config.model='mlp': model 'mlp' is unconditional"),
    ({"model": "dcgan", "conditioning": "acgan"}, (28, 28, 1), None, "needs labelled data"),
    ({"model": "dcgan", "conditioning": "acgan", "num_classes": 3}, (28, 28, 1),
     np.array([0, 5], np.int32), "has label 5, outside [0, config.num_classes=3)"),
]


@pytest.mark.parametrize("overrides,shape,labels,message", DATA_BAD)
def test_data_dependent_checks(overrides, shape, labels, message):
  config = default.get_config()
  config.update(overrides)
  config_lib.validate(config)
  with pytest.raises(UserError, match=re.escape(message)):
    config_lib.check_data(config, shape, labels)


def test_pad_to_size_centres_the_images():
  images = np.full((2, 28, 28, 1), 7, np.uint8)
  dataset = data.Dataset("x", images, np.array([0, 1]), eval_images=images[:1])
  padded = data.pad_to_size(dataset, 32)
  assert padded.image_shape == (32, 32, 1) and padded.eval_images.shape == (1, 32, 32, 1)
  assert np.all(padded.images[:, 2:30, 2:30] == 7) and padded.images.sum() == 7 * 2 * 28 * 28
  assert data.pad_to_size(dataset, 0) is dataset
  with pytest.raises(UserError, match="config.image_size=16 is smaller than the 28x28 images"):
    data.pad_to_size(dataset, 16)
