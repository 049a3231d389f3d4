import numpy as np

from gan_jax import data


def test_mnist_5k_is_real_labelled_digits():
  dataset = data.load("mnist_5k")
  assert dataset.images.shape == (5000, 28, 28, 1) and dataset.images.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount(dataset.labels), [500] * 10)
  # Digits are centred, so corner pixels are black; reading the label column as a
  # pixel would make the last one nonzero in nine images out of ten.
  assert np.mean(dataset.images[:, -1, -1, 0] > 0) < 0.01
  assert dataset.images[:, 0, :].max() == 0
  assert dataset.images.max() == 255


def test_float_round_trip():
  x = np.arange(256, dtype=np.uint8)
  np.testing.assert_array_equal(data.to_uint8(data.to_float(x)), x)
