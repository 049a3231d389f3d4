"""Training-step speed of gan_jax against a PyTorch reference, in one run.

``python -m experiments.benchmark --model mlp --batch 64 [--optimizer NAME] [--steps N]``

prints one JSON line per implementation:

- ``gan_jax``: the library's ``train_step`` jitted with the state donated, one
  step per call, the batch already on the device;
- ``gan_jax_fused``: ``steps_per_call`` steps fused into one compiled call by
  ``make_train_loop`` (batches drawn on the device), the training code path;
- ``gan_jax_fused_adam`` (only with a game optimizer): the fused loop with
  per-player Adam on the same networks and batch, what the game optimizer's
  step cost is measured against;
- ``gan_jax_shard_map`` (or ``gan_jax_pmap`` with ``--parallelism=pmap``): the
  fused loop data-parallel on 1, 2, 4 forced host devices
  (``--devices``), run in subprocesses; on a CPU these are simulated devices
  sharing the same cores, labelled so;
- ``gan_jax_multiprocess``: the same over ``--processes`` local processes
  joined by ``jax.distributed`` (one CPU device each, gloo collectives);
- ``torch_eager`` and ``torch_compile``: ``benchmarks/torch_gan.py``, the
  same networks (for DCGAN also ``torch_eager_transpose``, the classic
  transposed-convolution generator; on a GPU also ``torch_compile_cudagraphs``,
  ``mode="reduce-overhead"``), only when torch is installed; it is not a
  gan_jax dependency;
- ``cgds_bcgd`` / ``cgds_acgd`` (with ``--optimizer cgd`` / ``acgd`` on the
  MLP): the CGDs package (PyTorch; ``benchmarks/cgds_peer.py``) on the same
  networks and zero-sum game with the same forced CG iteration count, only
  when CGDs is installed;
- ``summary``: the ratios gan_jax / torch (and / CGDs), the model's FLOPs per step (XLA's
  cost analysis of the step's unoptimized program; for CGD/ACGD with every
  CG iteration taken counted, which XLA's count alone misses), this
  machine's float32 matmul peak measured in the same run, and the share of it
  each gan_jax variant reaches; with a game optimizer also its fused step's
  cost in fused Adam steps (time and FLOPs), and for CGD/ACGD the mean CG
  iterations taken and one iteration's FLOPs.

Rates are medians over ``--repeats`` timed windows of ``--steps`` steps,
after compilation and warm-up.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Iterator

from absl import app, flags, logging

from experiments import cli
from gan_jax import determinism

_MODEL = flags.DEFINE_enum("model", "mlp", ["mlp", "dcgan"], "Network pair.")
_BATCH = flags.DEFINE_integer("batch", 64, "Global batch size.")
_OPTIMIZER = flags.DEFINE_string("optimizer", "adam",
                                 "'adam' (per-player optax) or a gan_jax.games name.")
_STEPS = flags.DEFINE_integer("steps", 200, "Steps per timed window.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed windows; the median is reported.")
_STEPS_PER_CALL = flags.DEFINE_integer("steps_per_call", 50, "Steps fused per call.")
_DEVICES = flags.DEFINE_list("devices", ["1", "2", "4"],
                             "Forced host device counts for the multi-device rows; empty to skip.")
_TORCH = flags.DEFINE_bool("torch", True, "Include the PyTorch rows when torch is installed.")
_CG_ITERS = flags.DEFINE_integer(
    "cg_iters", 5, "Most CG iterations for cgd/acgd, with tolerance 1e-30 (CG still ends "
    "sooner if its float32 residual reaches 0; the summary gives the mean taken).")
_CONV_IMPL = flags.DEFINE_string("conv_impl", None,
                                 "How gan_jax computes convolutions (config.conv_impl); "
                                 "default: the config's.")
_UPSAMPLE = flags.DEFINE_string("upsample", None,
                                "The DCGAN generator's up-convolution (config.upsample); "
                                "default: the config's.")
_PROCESSES = flags.DEFINE_integer(
    "processes", 2, "Processes (one CPU device each, gloo collectives) for the jax.distributed "
    "row; 0 to skip.", lower_bound=0)
_PARALLELISM = flags.DEFINE_enum("parallelism", "shard_map", ["shard_map", "pmap"],
                                 "How the multi-device rows spread the step (config.parallelism).")
_DEVICE_WORKER = flags.DEFINE_integer("pmap_worker", 0, "Internal: run only the multi-device row.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "Internal: multi-process row.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Internal: multi-process row.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Internal: multi-process row.")


# Game optimizers that solve a linear system by conjugate gradient.
_CG_OPTIMIZERS = ("cgd", "acgd")
_IMAGE_SHAPE = (28, 28, 1)  # Every benchmarked model trains on 28x28 grayscale.


def _config(optimizer: str):
  from experiments.configs import default
  config = default.get_config()
  config.model = _MODEL.value
  config.batch_size = _BATCH.value
  config.steps_per_call = _STEPS_PER_CALL.value
  if _CONV_IMPL.value is not None:
    config.conv_impl = _CONV_IMPL.value  # Checked by config.validate with the rest.
  if _UPSAMPLE.value is not None:
    config.upsample = _UPSAMPLE.value
  if optimizer != "adam":
    config.loss = "minimax"  # CGD-type solvers need the zero-sum game.
    config.game_optimizer = optimizer
    if optimizer in _CG_OPTIMIZERS:
      config.game_hparams.cg_max_iters = _CG_ITERS.value
      # Never met as a ratio: CG runs cg_max_iters iterations unless its
      # float32 residual reaches 0 first.
      config.game_hparams.cg_tol = 1e-30
  return config


def _median_rate(run_window, steps: int) -> float:
  rates = []
  for _ in range(_REPEATS.value):
    start = time.perf_counter()
    run_window()
    rates.append(steps / (time.perf_counter() - start))
  return statistics.median(rates)


def _traced_flops(step_fn, *args) -> float:
  """XLA's FLOP count of one call as traced, before any backend optimizes it.

  Counted on the CPU backend on every machine: a GPU backend only counts the
  optimized program, which leaves out library calls and moved between 1.4e8
  and 4.1e9 for one DCGAN step from run to run with autotuning. A while
  loop's body counts once, whatever its trip count (see ``_cg_iteration_flops``).
  """
  import jax
  lowered = jax.jit(step_fn).lower(*jax.device_put(args, jax.devices("cpu")[0]))
  return float((lowered.cost_analysis() or {}).get("flops", float("nan")))


def _cg_iteration_flops(config, step_flops: float, state, batch) -> float:
  """FLOPs of one CG iteration of a CGD/ACGD step (XLA's count leaves all but one out).

  XLA's count takes the CG loop's body once, whatever its trip count: a CGD
  step counts the same at 1 and at 10 iterations. A warm start costs exactly
  one more product with the system matrix, outside the loop, so the
  difference between the warm and a cold start's counts is one iteration's
  matrix product; the loop's vector updates (a few FLOPs per parameter of
  the player solved for) are left out.

  Args:
    config: the CGD/ACGD config (warm start on, the default).
    step_flops: ``_traced_flops`` of that config's step on ``state, batch``.
    state: the initial state.
    batch: one batch.
  """
  from gan_jax import train
  cold_config = config.copy_and_resolve_references()
  cold_config.game_hparams.warm_start = False
  generator, discriminator = train.build(cold_config, _IMAGE_SHAPE)[:2]
  cold_step = train.make_step(cold_config, generator, discriminator)
  return step_flops - _traced_flops(cold_step, state, batch)


def _fused_rate(config, step_fn, state) -> tuple[float, dict]:
  """Steps/s of ``steps_per_call`` steps fused into one compiled call, batches drawn on the device.

  Also returns the metrics of the last call, fetched after the timing.
  """
  import jax
  import numpy as np
  from gan_jax import train_step
  k = config.steps_per_call
  loop = jax.jit(train_step.make_train_loop(step_fn, global_batch=config.batch_size, d_steps=1,
                                            steps_per_call=k), donate_argnums=(0,))
  images = {"image": jax.device_put(
      np.random.default_rng(0).integers(0, 256, (5000,) + _IMAGE_SHAPE, np.uint8))}
  key = jax.random.PRNGKey(0)
  calls = max(1, _STEPS.value // k)
  holder = {"state": state}

  def window():
    s = holder["state"]
    for _ in range(calls):
      s, metrics = loop(s, images, key)
    jax.block_until_ready(s)
    holder["state"], holder["metrics"] = s, metrics

  window()  # Compile and warm up.
  return _median_rate(window, calls * k), jax.device_get(holder["metrics"])


def _gan_jax_rows(config):
  """The one-step and fused rows, the step's FLOPs, and for CG solvers their iteration counts."""
  import jax
  import numpy as np
  from gan_jax import config as config_lib, train
  config_lib.validate(config, jax.device_count())
  generator, discriminator, state = train.build(config, _IMAGE_SHAPE)
  step_fn = train.make_step(config, generator, discriminator)
  batch = {"image": jax.device_put(np.random.default_rng(0).uniform(
      -1, 1, (1, config.batch_size) + _IMAGE_SHAPE).astype(np.float32))}
  flops = _traced_flops(step_fn, state, batch)
  solves_cg = config.game_optimizer in _CG_OPTIMIZERS
  iteration_flops = _cg_iteration_flops(config, flops, state, batch) if solves_cg else 0.0

  jitted = jax.jit(step_fn, donate_argnums=(0,))
  holder = {"state": jax.tree.map(lambda x: x, state)}

  def one_step_window():
    s = holder["state"]
    for _ in range(_STEPS.value):
      s, metrics = jitted(s, batch)
    jax.block_until_ready(s)
    holder["state"] = s

  one_step_window()  # Compile and warm up.
  rows = [{"impl": "gan_jax", "steps_per_call": 1,
           "steps_per_sec": _median_rate(one_step_window, _STEPS.value)}]
  fused_rate, metrics = _fused_rate(config, step_fn, holder["state"])
  rows.append({"impl": "gan_jax_fused", "steps_per_call": config.steps_per_call,
               "steps_per_sec": fused_rate})
  if not solves_cg:
    return rows, flops, {}
  # CG can end before cg_max_iters (its float32 residual can reach 0), so
  # the count uses the iterations the last fused call took.
  iterations = float(np.mean(metrics["cg_iterations"]))
  return rows, flops + (iterations - 1) * iteration_flops, {
      "cg_iterations": iterations, "flops_per_cg_iteration": iteration_flops}


def _adam_reference_row() -> dict:
  """The fused Adam loop on the same networks and batch: what a game optimizer's step costs against."""
  import numpy as np
  from gan_jax import train
  config = _config("adam")
  generator, discriminator, state = train.build(config, _IMAGE_SHAPE)
  step_fn = train.make_step(config, generator, discriminator)
  batch = {"image": np.zeros((1, config.batch_size) + _IMAGE_SHAPE, np.float32)}
  flops = _traced_flops(step_fn, state, batch)  # Before the loop donates the state.
  return {"impl": "gan_jax_fused_adam", "steps_per_call": config.steps_per_call,
          "steps_per_sec": _fused_rate(config, step_fn, state)[0], "flops_per_step": flops}


_WORKER_FLAGS = ("--pmap_worker", "--coordinator_address", "--num_processes", "--process_id")


def _worker_args(**flag_values) -> list[str]:
  args = [sys.executable, "-m", "experiments.benchmark"]
  args += [a for a in sys.argv[1:] if not a.startswith(_WORKER_FLAGS)]
  return args + [f"--{name}={value}" for name, value in flag_values.items()]


def _env_with_host_devices(num_devices: int) -> dict[str, str]:
  """This process's environment, ``XLA_FLAGS`` extended to force ``num_devices`` CPU devices.

  The caller's own XLA flags (and the determinism flag ``main`` set) are
  kept; XLA takes the last value of a repeated flag.
  """
  flags = os.environ.get("XLA_FLAGS", "")
  return dict(os.environ, XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={num_devices}"
              .strip())


def _device_row(config, num_devices: int) -> dict:
  """The fused loop data-parallel over ``num_devices`` forced host devices (a subprocess)."""
  env = _env_with_host_devices(num_devices)
  out = subprocess.run(_worker_args(pmap_worker=num_devices), env=env, capture_output=True,
                       text=True, check=False)
  if out.returncode != 0:
    return {"impl": f"gan_jax_{_PARALLELISM.value}", "devices": num_devices,
            "error": out.stderr.strip()[-500:]}
  return json.loads(out.stdout.strip().splitlines()[-1])


def _multiprocess_row(num_processes: int) -> dict:
  """The data-parallel fused loop over ``num_processes`` local processes with jax.distributed."""
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
  env = _env_with_host_devices(1)
  procs = [subprocess.Popen(
      _worker_args(pmap_worker=1, coordinator_address=f"127.0.0.1:{port}",
                   num_processes=num_processes, process_id=i),
      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(num_processes)]
  outputs = [p.communicate() for p in procs]
  failed = [err for p, (_, err) in zip(procs, outputs) if p.returncode != 0]
  if failed:
    return {"impl": "gan_jax_multiprocess", "processes": num_processes,
            "error": failed[0].strip()[-500:]}
  return json.loads(outputs[0][0].strip().splitlines()[-1])


def _device_worker(config) -> dict:
  import jax
  import numpy as np
  if _COORDINATOR.value:
    cli.init_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  from gan_jax import train, train_step
  generator, discriminator, state = train.build(config, _IMAGE_SHAPE)
  step_fn = train.make_step(config, generator, discriminator, axis_name="batch")
  k = config.steps_per_call
  parallelism = _PARALLELISM.value
  loop = train_step.compile_train_loop(
      train_step.make_train_loop(step_fn, global_batch=config.batch_size, d_steps=1,
                                 steps_per_call=k, axis_name="batch"),
      axis_name="batch", parallelism=parallelism)
  images = {"image": np.random.default_rng(0).integers(0, 256, (5000,) + _IMAGE_SHAPE, np.uint8)}
  inputs = (state, images, jax.random.PRNGKey(0))
  holder = {"args": train_step.replicate(inputs) if parallelism == "pmap"
            else train_step.put_replicated(inputs, train_step.data_mesh("batch"))}
  calls = max(1, _STEPS.value // k)

  def window():
    s, im, key = holder["args"]
    for _ in range(calls):
      s, metrics = loop(s, im, key)
    jax.block_until_ready(s)
    holder["args"] = (s, im, key)

  window()
  row = {"impl": f"gan_jax_{parallelism}", "devices": jax.device_count(),
         "device_kind": f"{jax.devices()[0].platform} (simulated: one machine's cores shared)"
         if jax.default_backend() == "cpu" else jax.devices()[0].device_kind,
         "steps_per_call": k, "steps_per_sec": _median_rate(window, calls * k)}
  if jax.process_count() > 1:
    row.update(impl="gan_jax_multiprocess", processes=jax.process_count(),
               device_kind="cpu processes on one machine, gloo collectives")
  return row


def _matmul_peak_gflops(n: int = 2048) -> float:
  """This machine's float32 matmul rate through XLA, the yardstick for FLOP shares."""
  import jax
  import jax.numpy as jnp
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  matmul = jax.jit(lambda x: x @ x)
  jax.block_until_ready(matmul(a))
  rates = []
  for _ in range(_REPEATS.value):
    start = time.perf_counter()
    jax.block_until_ready(matmul(a))
    rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
  return max(rates)


def _torch_rows(upsample: str) -> Iterator[dict]:
  """PyTorch eager and compiled rows; ``upsample`` is the DCGAN generator's up-convolution."""
  try:
    import torch
  except ImportError:
    yield {"impl": "torch", "skipped": "torch is not installed (pip install torch==2.13.0)"}
    return
  from benchmarks import torch_gan
  if _OPTIMIZER.value != "adam":
    yield from _cgds_rows()
    return
  if _MODEL.value == "dcgan" and upsample not in torch_gan.UPSAMPLES:
    yield {"impl": "torch", "skipped": f"the PyTorch DCGAN has "
                                       f"{' and '.join(torch_gan.UPSAMPLES)} generators only"}
    return
  device = "cuda" if torch.cuda.is_available() else "cpu"
  if device == "cuda":
    # XLA's default precision runs float32 matmuls and convolutions as TF32 on
    # GPUs that have it; PyTorch does so for convolutions only unless asked.
    torch.set_float32_matmul_precision("high")

  def build(generator_upsample: str):
    if _MODEL.value == "mlp":
      return torch_gan.build_mlp(_BATCH.value, device=device)
    return torch_gan.build_dcgan(_BATCH.value, generator_upsample, device=device)

  # (row, DCGAN up-convolution, torch.compile mode or None for eager): the same
  # network as gan_jax's, for a sub-pixel DCGAN also the classic
  # transposed-convolution generator, and on a GPU torch.compile with CUDA
  # graphs, which removes the per-kernel launch cost that bounds small steps.
  variants = [("torch_eager", upsample, None), ("torch_compile", upsample, "default")]
  if device == "cuda":
    variants.append(("torch_compile_cudagraphs", upsample, "reduce-overhead"))
  if _MODEL.value == "dcgan" and upsample == "subpixel":
    variants.append(("torch_eager_transpose", "transpose", None))
  for impl, variant_upsample, compile_mode in variants:
    generator, discriminator, real = build(variant_upsample)
    step = torch_gan.make_step(generator, discriminator, latent_dim=100)
    if compile_mode:
      try:
        step = torch.compile(step, mode=compile_mode)
        step(real)
      except Exception as e:  # Inductor needs a working C++ toolchain.
        yield {"impl": impl, "error": f"{type(e).__name__}: {str(e)[:200]}"}
        continue
    rates = torch_gan.steps_per_sec(step, real, steps=_STEPS.value, repeats=_REPEATS.value)
    yield {"impl": impl, "torch": torch.__version__, "torch_device": device,
           "threads": torch.get_num_threads(),
           "matmul_precision": torch.get_float32_matmul_precision(),
           **({"upsample": variant_upsample} if _MODEL.value == "dcgan" else {}),
           "steps_per_sec": statistics.median(rates)}


def _cgds_rows() -> Iterator[dict]:
  """The CGDs package's BCGD/ACGD (PyTorch) on the MLP game, CG iterations forced."""
  from benchmarks import cgds_peer, torch_gan
  name = cgds_peer.OPTIMIZERS.get(_OPTIMIZER.value)
  if name is None or _MODEL.value != "mlp":
    yield {"impl": "torch", "skipped": "PyTorch rows exist for Adam, and for cgd/acgd on the "
                                       "MLP (the CGDs package)"}
    return
  if importlib.util.find_spec("CGDs") is None:
    yield {"impl": f"cgds_{name}", "skipped": "CGDs is not installed (pip install CGDs==0.4.5)"}
    return
  import torch  # pylint: disable=g-import-not-at-top
  from gan_jax import games  # pylint: disable=g-import-not-at-top
  generator, discriminator, real = torch_gan.build_mlp(_BATCH.value)
  lr = games.defaults(_OPTIMIZER.value)["lr"]
  step = cgds_peer.make_step(generator, discriminator, latent_dim=100,
                             optimizer=_OPTIMIZER.value, cg_iters=_CG_ITERS.value, lr=lr)
  cgds_peer.ITERATIONS.clear()
  rates = torch_gan.steps_per_sec(step, real, steps=_STEPS.value, repeats=_REPEATS.value)
  yield {"impl": f"cgds_{name}", "torch": torch.__version__, "threads": torch.get_num_threads(),
         "cg_iterations": sum(cgds_peer.ITERATIONS) / len(cgds_peer.ITERATIONS),
         "steps_per_sec": statistics.median(rates)}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  determinism.request_deterministic_gpu_ops()  # Time what experiments.train runs.
  config = _config(_OPTIMIZER.value)
  if _DEVICE_WORKER.value:
    print(json.dumps(_device_worker(config)))
    return
  import jax
  from gan_jax.errors import UserError
  common = {"model": _MODEL.value, "batch": _BATCH.value, "optimizer": _OPTIMIZER.value,
            "backend": jax.default_backend(), "device": str(jax.devices()[0].device_kind),
            **({"conv_impl": config.conv_impl, "upsample": config.upsample}
               if _MODEL.value == "dcgan" else {})}

  def emit(new_rows) -> list[dict]:
    """Prints rows as they are measured, so a run cut short keeps what it measured."""
    printed = []
    for row in new_rows:
      print(json.dumps({**common, **row}), flush=True)
      printed.append(row)
    return printed

  try:
    rows, flops, flops_info = _gan_jax_rows(config)
  except UserError as e:
    cli.fail(str(e))
  emit(rows)
  if _OPTIMIZER.value != "adam":
    rows += emit([_adam_reference_row()])
  rows += emit(_device_row(config, int(n)) for n in _DEVICES.value)
  if _PROCESSES.value:
    rows += emit([_multiprocess_row(_PROCESSES.value)])
  if _TORCH.value:
    rows += emit(_torch_rows(config.upsample))

  peak = _matmul_peak_gflops()
  rate = {r["impl"]: r["steps_per_sec"] for r in rows if "steps_per_sec" in r and "devices" not in r}
  summary = {"impl": "summary", **common, "flops_per_step": flops, **flops_info,
             "matmul_peak_gflops": peak}
  adam = next((r for r in rows if r["impl"] == "gan_jax_fused_adam"), None)
  if adam:
    # How many fused Adam steps one step of the game optimizer costs, in time and in FLOPs.
    summary["gan_jax_fused_cost_vs_adam"] = adam["steps_per_sec"] / rate["gan_jax_fused"]
    summary["flops_vs_adam"] = flops / adam["flops_per_step"]
  for name in ("gan_jax", "gan_jax_fused"):
    if name in rate:
      summary[f"{name}_gflops"] = rate[name] * flops / 1e9
      summary[f"{name}_share_of_peak"] = rate[name] * flops / 1e9 / peak
      for torch_impl in ("torch_eager", "torch_compile", "torch_compile_cudagraphs",
                         "cgds_bcgd", "cgds_acgd"):
        if torch_impl in rate:
          summary[f"{name}_vs_{torch_impl}"] = rate[name] / rate[torch_impl]
  print(json.dumps(summary), flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
