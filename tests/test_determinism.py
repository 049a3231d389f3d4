"""gan_jax.determinism: the XLA flag that makes GPU runs bit-reproducible."""

import pytest

from gan_jax import determinism


@pytest.mark.parametrize("xla_flags, expected", [
    ("", "--xla_gpu_deterministic_ops=true"),
    ("--xla_force_host_platform_device_count=4",
     "--xla_force_host_platform_device_count=4 --xla_gpu_deterministic_ops=true"),
    # A user's own setting, either way, is kept as it is.
    ("--xla_gpu_deterministic_ops=false", "--xla_gpu_deterministic_ops=false"),
    ("--xla_gpu_deterministic_ops", "--xla_gpu_deterministic_ops"),
])
def test_request_adds_the_flag_once(xla_flags, expected):
  environ = {"XLA_FLAGS": xla_flags} if xla_flags else {}
  determinism.request_deterministic_gpu_ops(environ)
  assert environ["XLA_FLAGS"] == expected
  determinism.request_deterministic_gpu_ops(environ)
  assert environ["XLA_FLAGS"] == expected


@pytest.mark.parametrize("xla_flags, expected", [
    ("", False),
    ("--xla_gpu_deterministic_ops=true", True),
    ("--xla_gpu_deterministic_ops", True),
    ("--xla_gpu_deterministic_ops=1", True),
    ("--xla_gpu_deterministic_ops=false", False),
    ("--xla_gpu_deterministic_ops=true --xla_gpu_deterministic_ops=false", False),
    ("--xla_gpu_deterministic_ops_other=true", False),
    ("--xla_gpu_exclude_nondeterministic_ops=true", False),
])
def test_gpu_ops_deterministic_reads_the_last_setting(xla_flags, expected):
  assert determinism.gpu_ops_deterministic({"XLA_FLAGS": xla_flags}) is expected
