"""The benchmark runs end to end in a tiny setting (speed targets live in the benchmark itself)."""

import json

import pytest

from conftest import run_python


def test_benchmark_prints_rows_and_summary():
  result = run_python(["-m", "experiments.benchmark", "--batch=8", "--steps=4", "--repeats=1",
                       "--steps_per_call=2", "--devices=2", "--processes=2",
                       "--torch=false"])
  assert result.returncode == 0, result.stderr[-3000:]
  rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
  by_impl = {r["impl"]: r for r in rows}
  assert by_impl["gan_jax"]["steps_per_sec"] > 0
  assert by_impl["gan_jax_fused"]["steps_per_call"] == 2
  multi_device = by_impl["gan_jax_shard_map"]  # The default config.parallelism.
  assert multi_device["devices"] == 2 and multi_device["steps_per_sec"] > 0
  multi = by_impl["gan_jax_multiprocess"]
  assert multi["processes"] == 2 and multi["devices"] == 2 and multi["steps_per_sec"] > 0, multi
  summary = by_impl["summary"]
  assert summary["flops_per_step"] > 1e5 and summary["matmul_peak_gflops"] > 0
  assert 0 < summary["gan_jax_share_of_peak"]


@pytest.mark.parametrize("flag,message", [
    ("--batch=0", "batch_size"),
    ("--conv_impl=fft", "config.conv_impl='fft' is not allowed; it must be one of matmul, xla"),
    ("--upsample=bilinear", "config.upsample='bilinear' is not allowed; it must be one of resize, "
                            "subpixel, transpose"),
])
def test_benchmark_rejects_bad_settings(flag, message):
  result = run_python(["-m", "experiments.benchmark", flag, "--model=dcgan", "--devices=",
                       "--processes=0", "--torch=false"])
  assert result.returncode == 2 and result.stderr.startswith("error: "), result.stderr[-2000:]
  assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_simulated_device_rows_keep_the_callers_xla_flags(monkeypatch):
  from experiments import benchmark
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_xnnpack=true")
  env = benchmark._env_with_host_devices(4)
  assert env["XLA_FLAGS"].split() == ["--xla_cpu_use_xnnpack=true",
                                      "--xla_force_host_platform_device_count=4"]
  monkeypatch.delenv("XLA_FLAGS")
  assert benchmark._env_with_host_devices(1)["XLA_FLAGS"] == (
      "--xla_force_host_platform_device_count=1")


def test_cg_iteration_flops_add_the_iterations_xla_leaves_out(tiny_config):
  import numpy as np
  from experiments import benchmark
  from gan_jax import train
  counts = {}
  for iterations in (1, 4):
    config = tiny_config.copy_and_resolve_references()
    config.loss, config.game_optimizer = "minimax", "cgd"
    config.game_hparams.cg_max_iters = iterations
    generator, discriminator, state = train.build(config, benchmark._IMAGE_SHAPE)
    step_fn = train.make_step(config, generator, discriminator)
    batch = {"image": np.zeros((1, config.batch_size) + benchmark._IMAGE_SHAPE, np.float32)}
    step_flops = benchmark._traced_flops(step_fn, state, batch)
    counts[iterations] = (step_flops,
                          benchmark._cg_iteration_flops(config, step_flops, state, batch))
  # XLA takes the CG loop's body once, whatever the number of iterations ...
  assert counts[1][0] == counts[4][0]
  # ... so one iteration's FLOPs are counted apart: a positive part of the step's.
  assert counts[1][1] == counts[4][1]
  assert 0 < counts[1][1] < counts[1][0]


def test_cgd_benchmark_counts_cg_iterations_against_an_adam_row():
  result = run_python(["-m", "experiments.benchmark", "--optimizer=cgd", "--cg_iters=3",
                       "--batch=8", "--steps=2", "--repeats=1", "--steps_per_call=2",
                       "--devices=", "--processes=0", "--torch=false"])
  assert result.returncode == 0, result.stderr[-3000:]
  rows = {r["impl"]: r for r in (json.loads(line) for line in result.stdout.splitlines()
                                 if line.startswith("{"))}
  adam, summary = rows["gan_jax_fused_adam"], rows["summary"]
  assert adam["steps_per_sec"] > 0 and adam["flops_per_step"] > 0
  assert 1 <= summary["cg_iterations"] <= 3  # The mean taken: at most --cg_iters.
  assert summary["flops_per_cg_iteration"] > 0
  # Every iteration counted: the step's FLOPs exceed Adam's by the iterations'.
  assert summary["flops_per_step"] > adam["flops_per_step"]
  assert summary["flops_vs_adam"] == pytest.approx(
      summary["flops_per_step"] / adam["flops_per_step"])
  assert summary["gan_jax_fused_cost_vs_adam"] == pytest.approx(
      adam["steps_per_sec"] / rows["gan_jax_fused"]["steps_per_sec"])


@pytest.mark.parametrize("optimizer", ["cgd", "acgd"])
def test_cgds_peer_runs_exactly_the_forced_cg_iterations(optimizer):
  pytest.importorskip("CGDs")  # Optional, like torch: only the benchmark's peer rows use it.
  import torch
  from benchmarks import cgds_peer, torch_gan
  generator, discriminator, real = torch_gan.build_mlp(8, hidden=(16,), latent_dim=4)
  before = [p.detach().clone() for p in generator.parameters()]
  step = cgds_peer.make_step(generator, discriminator, latent_dim=4, optimizer=optimizer,
                             cg_iters=3, lr=1e-2)
  cgds_peer.ITERATIONS.clear()
  values = [float(step(real)) for _ in range(3)]
  assert all(v == v for v in values)
  assert cgds_peer.ITERATIONS == [3, 3, 3]
  assert any(not torch.equal(a, b) for a, b in zip(before, generator.parameters()))
