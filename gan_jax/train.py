"""``train_and_evaluate(config, workdir)``: one training run of any config, resumable.

The engine of every experiment: the model family of ``config.model``
(``gan_jax.families``: the GAN, the VAE) supplies the state, the pure step
and the inference view; the data source (``gan_jax.data``: images, or a 2-D
mixture sampler) supplies batches on the device. The run is a pure function
of the config: keys derive from ``config.seed``
and the step, batches are drawn on the device from the step's key, and a
resumed run continues from the newest checkpoint with exactly the numbers an
uninterrupted run would have drawn. ``summary.json`` records a hash of the
final parameters so a reproduction can be confirmed bit for bit.

Workdir layout::

  config.json          the config of the run (resuming requires the same one)
  metrics.jsonl        one JSON object per log step (and per eval step)
  tensorboard/         event files: the same scalars, sample grids
  samples/step_NNNNNN.png   grids from one fixed batch of latents (EMA generator when
                            kept; one class per row for a conditional run)
  losses.png           loss curves
  checkpoints/N/       orbax checkpoints (every checkpoint_every steps, at the end)
  checkpoints/best/N/  the best checkpoint by eval/<config.best_metric> so far
                       (config.best_mode); never deleted by keep_checkpoints
  summary.json         final step, params_sha256, losses, the final evaluation (and a
                       mixture run's modes, high_quality, reverse_kl), best: {step, metric,
                       value}, timing (wall_s over every invocation, wall_s_last), warnings
  .lock                the pid of the run in it now (gan_jax.workdir; removed at the end)

Nothing is written before the config, the data, the devices and the
checkpoint (its fit and its stored config, gan_jax.checkpoint) are checked;
one process at a time holds the workdir's lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import signal
import time
from typing import Any, Optional

import jax
import ml_collections
import numpy as np
import tqdm
from absl import logging

from gan_jax import checkpoint, config as config_lib, data, determinism, evaluation, families
from gan_jax import networks, reporting
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from gan_jax import workdir as workdir_lib
from gan_jax.errors import Interrupted, NonFiniteError, UserError

BATCH_AXIS = "batch"  # The data-parallel axis of the collectives (shard_map or pmap).
NUM_SAMPLE_IMAGES = 64


def make_step(config: ml_collections.ConfigDict, generator, discriminator,
              axis_name: Optional[str] = None) -> train_step_lib.TrainStep:
  """The config's pure step, from its model family (the GAN update, the VAE's ELBO step)."""
  return families.for_config(config).make_step(config, generator, discriminator, axis_name)


def build(config: ml_collections.ConfigDict, image_shape: tuple[int, ...]):
  """The two networks (G and D; the VAE's decoder and encoder) and the initial state."""
  architecture = networks.get(config.model)
  generator = architecture.make_generator(config, image_shape)
  discriminator = architecture.make_discriminator(config, image_shape)
  state = families.for_config(config).init_state(config, generator, discriminator, image_shape)
  return generator, discriminator, state


def run_keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Keys for data sampling, the fixed latents of sample grids, and evaluation."""
  root = jax.random.PRNGKey(seed)
  return tuple(jax.random.fold_in(root, tag) for tag in (1, 2, 3))


@contextlib.contextmanager
def _signals_to_flag():
  """Turns SIGINT/SIGTERM into a flag the loop checks after each call."""
  received = []
  handler = lambda signum, frame: received.append(signum)
  previous = {}
  try:
    for sig in (signal.SIGINT, signal.SIGTERM):
      previous[sig] = signal.signal(sig, handler)
  except ValueError:  # Not the main thread: leave signals alone.
    pass
  try:
    yield received
  finally:
    for sig, old in previous.items():
      signal.signal(sig, old)


class _MetricsWindow:
  """Device-side step metrics since the last log step, fetched only when read.

  ``to_host`` copies one call's metrics to host numpy arrays: ``jax.device_get``
  on one device, else the first local device's copy (every device's is the
  same: the step averaged them).
  """

  def __init__(self, to_host):
    self._pending = []
    self._to_host = to_host

  def add(self, metrics: dict) -> None:
    """Keeps one call's metrics; first waits for the call before it.

    So at most one call is queued behind the running one, and Ctrl-C or
    SIGTERM is answered after two calls, not after every call dispatched
    since the last log step (minutes for a slow game optimizer).
    """
    if self._pending:
      jax.block_until_ready(self._pending[-1])
    self._pending.append(metrics)

  def fetch(self) -> Optional[dict]:
    """Stacks the window on the host ([steps] arrays) and empties it."""
    if not self._pending:
      return None
    host = [self._to_host(m) for m in self._pending]
    self._pending = []
    return {k: np.concatenate([h[k] for h in host]) for k in host[0]}


def _check_finite(window: dict, last_good_step: Optional[int], loss_keys: tuple[str, ...]) -> None:
  bad = np.flatnonzero(window["finite"] == 0)
  if bad.size:
    i = bad[0]
    step = int(window["step"][i])
    where = (f"the last good checkpoint is step {last_good_step}" if last_good_step is not None
             else "no checkpoint was saved")
    values = ", ".join(f"{k}={window[k][i]:.4g}" for k in loss_keys if k in window)
    raise NonFiniteError(
        f"non-finite loss or gradient at step {step} ({values}); {where}; lower the learning "
        "rates or change the loss", step)


def _load_checked(config: ml_collections.ConfigDict, workdir: str) -> data.Dataset:
  """Validates the config, the data, the devices and the workdir; reads only."""
  config_lib.validate(config, jax.device_count())
  dataset = data.for_config(config)
  config_lib.check_data(config, dataset.image_shape, dataset.labels)
  data.check_fits(dataset, data.device_budget())
  workdir_lib.check_creatable(workdir)
  config_lib.check_workdir(config, workdir)
  return dataset


def _restore_checked(config: ml_collections.ConfigDict, workdir: str,
                     state: Any) -> tuple[Any, dict]:
  """The newest checkpoint (checked against the model and the config), or ``state``; reads only.

  Also returns that checkpoint's metadata ({} when starting afresh).
  """
  if not os.path.isdir(os.path.join(workdir, "checkpoints")):
    return state, {}
  mngr = checkpoint.manager(workdir, config.keep_checkpoints, create=False)
  # Not closed when the restore fails: closing would report each of Orbax's
  # failed reads still pending (see checkpoint._drop_closed_loop_reports).
  restored = checkpoint.restore_latest(mngr, state, config_lib.fingerprinted(config))
  metadata = checkpoint.custom_metadata(mngr, mngr.latest_step()) if restored is not None else {}
  mngr.close()
  return restored or state, metadata


def _check_resume_step(config: ml_collections.ConfigDict, step: int) -> None:
  """Refuses a steps_per_call that does not divide the step the run resumes from.

  Every call runs steps_per_call steps, so from such a step no later step
  would meet a log, eval or checkpoint interval, and the run would end past
  num_steps.
  """
  if step % config.steps_per_call and step < config.num_steps:
    raise UserError(f"config.steps_per_call={config.steps_per_call} does not divide step {step}, "
                    f"where this run resumes; use one that divides {step} and every interval, "
                    "e.g. the run's earlier steps_per_call")


def _keeps_best(config: ml_collections.ConfigDict) -> bool:
  """Whether the run keeps a best checkpoint (a best_metric, and evaluations to judge it)."""
  return bool(config.best_metric) and bool(config.eval_every)


def _previous_best(config: ml_collections.ConfigDict, workdir: str) -> Optional[dict]:
  """The best checkpoint's record when it was judged as this config judges; reads only.

  A best kept by another metric or mode (both may change on resume) is not
  comparable: the next evaluation replaces it.
  """
  if not _keeps_best(config):
    return None
  best = checkpoint.best_record(workdir)
  if best is None or (best.get("metric"), best.get("mode")) != (config.best_metric,
                                                                config.best_mode):
    return None
  return best


def _improves(value: float, best: Optional[dict], mode: str) -> bool:
  """Whether ``value`` is strictly better than ``best`` (None: nothing yet); NaN never is."""
  if not np.isfinite(value):
    return False
  if best is None:
    return True
  return value < best["value"] if mode == "min" else value > best["value"]


def _agree(flag: bool) -> bool:
  """Process 0's ``flag`` on every process (only it evaluates), so all save together."""
  if jax.process_count() == 1:
    return flag
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return bool(multihost_utils.broadcast_one_to_all(np.int32(flag)))


def _barrier(name: str) -> None:
  """Waits for every process of a multi-process run (nothing with one process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(f"gan_jax.train:{name}")


def _best_metric_refusal(config: ml_collections.ConfigDict, evaluate) -> Optional[str]:
  """Why this run's evaluations cannot judge config.best_metric, or None when they can."""
  if evaluate is None or not _keeps_best(config):
    return None
  names = evaluate.metric_names()
  if config.best_metric in names:
    return None
  return (f"config.best_metric={config.best_metric!r} is not computed by this run's evaluations "
          f"({evaluate.info['features']} features); it must be '' (off) or one of "
          + ", ".join(names))


# Game optimizers whose seed-MLP runs collapsed on the saturating minimax loss.
COMPETITIVE_OPTIMIZERS = ("cgd", "acgd")


def _input_warnings(config: ml_collections.ConfigDict, dataset: data.Dataset) -> list[str]:
  """One line for each suspicious but legal setting of a run on ``dataset``."""
  out = []
  if not isinstance(dataset, data.Dataset):  # Fresh points every step: no finite data set.
    return out
  if config.batch_size > len(dataset.images):
    out.append(f"config.batch_size={config.batch_size} is larger than the data set "
               f"({len(dataset.images)} images): each batch repeats images")
  if config.eval_every:
    split, pool = (("eval", dataset.eval_images) if dataset.eval_images is not None
                   else ("train", dataset.images))
    if config.num_eval_samples > len(pool):
      out.append(f"config.num_eval_samples={config.num_eval_samples} is more than the "
                 f"{len(pool)} real images of the {split} split: the metrics compare "
                 f"{config.num_eval_samples} samples with {len(pool)} real images")
  if config.game_optimizer in COMPETITIVE_OPTIMIZERS and config.loss == "minimax":
    out.append(f"config.loss='minimax' with config.game_optimizer={config.game_optimizer!r}: "
               "on the saturating loss D rejected every sample and G's gradient vanished in "
               "our runs; 'non_saturating' trains (docs/results.md#game-optimizers)")
  return out


def _compiled_loop(config: ml_collections.ConfigDict, generator, discriminator, dataset,
                   axis: Optional[str]):
  """``steps_per_call`` train steps in one compiled call (data-parallel over ``axis`` if set)."""
  step_fn = make_step(config, generator, discriminator, axis)
  loop = train_step_lib.compile_train_loop(
      train_step_lib.make_train_loop(
          step_fn, global_batch=config.batch_size, d_steps=config.d_steps_per_g_step,
          steps_per_call=config.steps_per_call, axis_name=axis, draw_batch=dataset.draw_batch),
      axis_name=axis, parallelism=config.parallelism)
  if jax.process_count() == 1:
    return loop
  # Several processes: a call returns once every local device has finished
  # it, so a process never has two computations with collectives in flight
  # (the loop's, and the barriers and broadcasts of checkpoints and
  # evaluations). Two such computations can start in different orders on
  # different processes, and their collectives then wait on each other.
  return lambda *args: jax.block_until_ready(loop(*args))


def _sample_writer(config: ml_collections.ConfigDict, generator, discriminator, dataset,
                   sample_key: jax.Array, workdir: str, log: reporting.MetricsLog):
  """A function (inference view, step) -> None that saves a picture of fixed latents' samples.

  An image grid (one class per row in a conditional run), or the data
  source's own picture (``gan_jax.data.Source.make_sample_writer``; a
  mixture's points over the discriminator's landscape).
  """
  make = getattr(data.hooks_of(dataset), "make_sample_writer", None) or _image_grid_writer
  draw = make(config, generator=generator, discriminator=discriminator, dataset=dataset,
              key=sample_key)

  def write(view: state_lib.Inference, step: int) -> None:
    picture = draw(view, step)
    reporting.save_png(_sample_path(workdir, step), picture)
    log.image("samples", step, picture)

  return write


def _image_grid_writer(config: ml_collections.ConfigDict, *, generator, discriminator, dataset,
                       key: jax.Array):
  """(view, step) -> the grid of NUM_SAMPLE_IMAGES samples, one class per row if conditional."""
  del discriminator, dataset  # The grid shows the generator's images alone.
  num_classes = networks.num_classes(config)
  labels, rows, count = None, None, NUM_SAMPLE_IMAGES
  if num_classes:
    labels = train_step_lib.grid_labels(num_classes, max(1, NUM_SAMPLE_IMAGES // num_classes))
    rows, count = num_classes, len(labels)
  fixed_z = train_step_lib.latents(key, count, config.latent_dim)
  sample = jax.jit(functools.partial(train_step_lib.generate, generator))
  return lambda view, step: reporting.image_grid(
      np.asarray(sample(view.generator, fixed_z, labels)), rows=rows)


def _sample_path(workdir: str, step: int) -> str:
  return os.path.join(workdir, "samples", f"step_{step:06d}.png")


def _log_record(window: _MetricsWindow, step: int, since: tuple[float, int],
                last_checkpoint: Optional[int], loss_keys: tuple[str, ...]) -> dict:
  """Means of the window's step metrics plus steps/s since ``since`` = (time, step)."""
  fetched = window.fetch()
  _check_finite(fetched, last_checkpoint, loss_keys)
  record = {k: float(np.mean(v)) for k, v in fetched.items() if k not in ("step", "finite")}
  record["steps_per_sec"] = (step - since[1]) / max(time.time() - since[0], 1e-9)
  return record


def _clock(seconds: float) -> str:
  """Seconds as H:MM:SS."""
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_line(step: int, num_steps: int, record: dict, loss_keys: tuple[str, ...]) -> str:
  """'step 500/50000  d_loss 0.512  g_loss 1.873  61.2 steps/s  ETA 0:13:28'.

  steps/s is over the steps since the previous line, without the time of
  evaluations, sample grids and checkpoints; the ETA is the remaining steps
  at that rate (evaluations to come not counted).
  """
  rate = record["steps_per_sec"]
  losses = "  ".join(f"{k} {record[k]:.4g}" for k in loss_keys if k in record)
  return (f"step {step}/{num_steps}  {losses}  {rate:.1f} steps/s  "
          f"ETA {_clock((num_steps - step) / max(rate, 1e-9))}")


def eval_line(step: int, values: dict, best: Optional[dict],
              headline: tuple[str, ...]) -> str:
  """'eval step 10000: fid 24.9  kid 0.021 ...' (the ``headline`` metrics); marks the best yet."""
  shown = "  ".join(f"{k} {values[k]:.4g}" for k in headline if k in values)
  mark = f"  (best {best['metric']} so far)" if best is not None and best["step"] == step else ""
  return f"eval step {step}: {shown}{mark}"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains (or resumes) the model of ``config`` in ``workdir``; returns the summary.

  Raises:
    UserError: bad config, data or workdir (nothing is written then).
    NonFiniteError: a loss or gradient became non-finite.
    Interrupted: SIGINT/SIGTERM arrived; a checkpoint was saved first.
  """
  start_time = time.time()
  dataset = _load_checked(config, workdir)
  is_primary = jax.process_index() == 0
  with workdir_lib.locked(workdir, enabled=is_primary):
    config_lib.check_workdir(config, workdir)  # Again: another run may have started meanwhile.
    generator, discriminator, state = build(config, dataset.image_shape)
    state, metadata = _restore_checked(config, workdir, state)
    _check_resume_step(config, int(state.step))
    best = _previous_best(config, workdir)
    _barrier("restored")  # Before process 0 creates checkpoints/ that the others read above.
    summary_path = os.path.join(workdir, "summary.json")
    if int(state.step) >= config.num_steps and os.path.exists(summary_path):
      with open(summary_path) as f:
        return json.load(f)  # Already complete: nothing to do, nothing overwritten.
    if is_primary:
      workdir_lib.check_writable(workdir)
    earlier_wall_s = _earlier_wall_s(metadata, summary_path, int(state.step))
    return _train(config, workdir, dataset, generator, discriminator, state, start_time,
                  _RunRecord(best=best, earlier_wall_s=earlier_wall_s))


def _earlier_wall_s(metadata: dict, summary_path: str, step: int) -> float:
  """Seconds the invocations before this one took up to the checkpoint of ``step``.

  From the checkpoint's metadata; for a checkpoint written before it stored
  them, from summary.json when that run ended at ``step``; else 0.
  """
  if "wall_s" in metadata:
    return float(metadata["wall_s"])
  try:
    with open(summary_path) as f:
      summary = json.load(f)
  except (OSError, ValueError):
    return 0.0
  ended_here = isinstance(summary, dict) and summary.get("step") == step
  return float(summary.get("wall_s", 0.0)) if ended_here else 0.0


@dataclasses.dataclass
class _RunRecord:
  """What a run carries across invocations, in checkpoint metadata.

  Attributes:
    best: ``{step, metric, mode, value}`` of the best checkpoint, or None.
    earlier_wall_s: wall-clock seconds of the invocations before this one,
      up to the checkpoint it resumed from.
  """

  best: Optional[dict] = None
  earlier_wall_s: float = 0.0


def _on_devices(config: ml_collections.ConfigDict, tree: Any) -> tuple[Any, Any]:
  """``tree`` (state, data, key) placed for the loop, and the function that takes a state back.

  Several devices: replicated with a leading device axis (``parallelism``
  'pmap') or over a mesh (shard_map); the state comes back as one copy. One
  device: put there once (a new state holds Python ints, a restored one numpy
  arrays), so no loop call copies anything to the device.
  """
  if jax.device_count() == 1:
    return jax.device_put(tree), lambda s: s
  if config.parallelism == "pmap":
    return train_step_lib.replicate(tree), train_step_lib.unreplicate
  mesh = train_step_lib.data_mesh(BATCH_AXIS)
  return train_step_lib.put_replicated(tree, mesh), train_step_lib.local_copy


def _checked_evaluator(config: ml_collections.ConfigDict, generator, discriminator,
                       dataset: data.Dataset, key: jax.Array):
  """Process 0's evaluator (None elsewhere, or with eval_every=0), built before any write.

  Building it may train a classifier. A failure, or a best_metric that its
  evaluations lack, stops every process: the others wait here for process 0's
  answer (not in orbax's timed barriers).
  """
  evaluate, failure = None, None
  if config.eval_every and jax.process_index() == 0:
    try:
      evaluate = evaluation.make_evaluator(
          config, generator=generator, discriminator=discriminator, dataset=dataset, key=key)
    except Exception as e:  # pylint: disable=broad-except
      failure = e  # Raised below, once the other processes know.
  refusal = None if failure else _best_metric_refusal(config, evaluate)
  if not _agree(failure is None and refusal is None):
    if failure is not None:
      raise failure
    raise UserError(refusal or "process 0 could not start its evaluation (its error says why)")
  return evaluate


def _eval_summary(evaluate, last_eval: dict) -> dict:
  """summary.json's evaluation keys: every ``eval/`` metric, the headline ones, the info."""
  if evaluate is None:
    return {}
  return {**{"eval/" + k: v for k, v in last_eval.items()},
          # The headline metrics, also at the top (experiments.mog_table reads them).
          **{k: last_eval[k] for k in evaluate.headline if k in last_eval},
          "eval_info": evaluate.info}


def _train(config: ml_collections.ConfigDict, workdir: str, dataset: data.Dataset, generator,
           discriminator, state: Any, start_time: float,
           carried: _RunRecord) -> dict:
  """The training loop of ``train_and_evaluate``, once everything is checked; writes the workdir."""
  is_primary = jax.process_index() == 0
  backend = jax.default_backend()
  # Only a GPU run depends on the flag; elsewhere it is not recorded.
  gpu_deterministic = determinism.gpu_ops_deterministic() if backend == "gpu" else None
  if gpu_deterministic is False and is_primary:
    logging.warning("XLA_FLAGS lacks %s=true: this GPU run's parameters will not be bit-"
                    "reproducible (see gan_jax.determinism)", determinism.FLAG)
  if is_primary:
    print(f"data: {config.dataset}: {dataset.describe()}", flush=True)
  data_key, sample_key, eval_key = run_keys(config.seed)
  evaluate = _checked_evaluator(config, generator, discriminator, dataset, eval_key)
  if is_primary:
    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    with reporting.replaced_whole(os.path.join(workdir, "config.json")) as tmp, \
        open(tmp, "w") as f:
      f.write(config_lib.to_json(config))
  run_config = config_lib.fingerprinted(config)
  mngr = checkpoint.manager(workdir, config.keep_checkpoints)
  best_mngr = checkpoint.best_manager(workdir) if _keeps_best(config) else None
  best = carried.best
  wall_s = lambda: carried.earlier_wall_s + time.time() - start_time
  start_step = int(state.step)
  summary_path = os.path.join(workdir, "summary.json")

  replicated = jax.device_count() > 1
  source = dataset.device_arrays(with_labels=bool(networks.num_classes(config)))
  (state, source, data_key), unreplicate = _on_devices(config, (state, source, data_key))
  loop = _compiled_loop(config, generator, discriminator, dataset,
                        BATCH_AXIS if replicated else None)
  family = families.for_config(config)
  warnings = _input_warnings(config, dataset) + (
      evaluation.classifier_warnings(evaluate.info) if evaluate is not None else [])
  for warning in warnings if is_primary else []:
    logging.warning("%s", warning)
  log = reporting.MetricsLog(workdir, start_step, enabled=is_primary)
  write_samples = _sample_writer(config, generator, discriminator, dataset, sample_key, workdir,
                                 log)

  window = _MetricsWindow(unreplicate if replicated else jax.device_get)
  last_checkpoint = mngr.latest_step()
  since, last_record, last_eval = (time.time(), start_step), {}, {}
  step = start_step
  lines = is_primary and not config.progress_bar  # One printed line per log step instead.
  progress = tqdm.tqdm(total=config.num_steps, initial=start_step, unit="step", dynamic_ncols=True,
                       disable=not (config.progress_bar and is_primary))
  say = functools.partial(print, flush=True) if lines else progress.write
  try:
    with _signals_to_flag() as received:
      while step < config.num_steps:
        state, metrics = loop(state, source, data_key)
        window.add(metrics)  # Stays on the device until a log step.
        step += config.steps_per_call
        progress.update(config.steps_per_call)
        at = lambda every: every and step % every == 0
        done = step >= config.num_steps
        record = {}
        if at(config.log_every) or at(config.checkpoint_every) or done or received:
          last_record = _log_record(window, step, since, last_checkpoint, family.loss_keys)
          since, record = (time.time(), step), dict(last_record)
          progress.set_postfix({k: f"{last_record[k]:.3f}" for k in family.loss_keys
                                if k in last_record}, refresh=False)
          if lines:
            say(progress_line(step, config.num_steps, last_record, family.loss_keys))
        reporting_start = time.time()
        evaluating = at(config.eval_every) or done
        if evaluate is not None and evaluating:
          last_eval = evaluate(family.inference(unreplicate(state)))
          record.update({"eval/" + k: v for k, v in last_eval.items()})
        if best_mngr is not None and evaluating:
          value = float(last_eval.get(config.best_metric, float("nan")))
          if _agree(is_primary and _improves(value, best, config.best_mode)):
            best = {"step": step, "metric": config.best_metric, "mode": config.best_mode,
                    "value": value}
            checkpoint.save_best(best_mngr, unreplicate(state), run_config,
                                 {"best": best, "wall_s": wall_s()})
        if evaluate is not None and evaluating:
          say(eval_line(step, last_eval, best, evaluate.headline))
        if record:
          log.write(step, record)
        if (at(config.sample_every) or done) and is_primary:
          write_samples(family.inference(unreplicate(state)), step)
        if at(config.checkpoint_every) or done or received:
          checkpoint.save(mngr, unreplicate(state), run_config, {"wall_s": wall_s()})
          last_checkpoint = step
        # steps/s and the ETA count training only: the time of evaluations,
        # sample grids and checkpoints moves the window's start.
        since = (since[0] + time.time() - reporting_start, since[1])
        if received:
          mngr.wait_until_finished()
          raise Interrupted(received[0], step)
  finally:
    progress.close()
    for manager in (mngr, best_mngr):
      if manager is not None:
        manager.wait_until_finished()
    log.close()

  final = unreplicate(state)
  summary = {
      "step": int(final.step),
      "params_sha256": family.params_sha256(final),
      **{k: last_record[k] for k in family.loss_keys if k in last_record},
      **_eval_summary(evaluate, last_eval),
      "best": None if best is None else {k: best[k] for k in ("step", "metric", "value")},
      "warnings": warnings,
      "wall_s": wall_s(),
      "wall_s_last": time.time() - start_time,
      "resumed_from_step": start_step,
      "num_devices": jax.device_count(),
      "num_processes": jax.process_count(),
      "backend": backend,
      **({} if gpu_deterministic is None else {"xla_gpu_deterministic_ops": gpu_deterministic}),
  }
  if is_primary:
    if not os.path.exists(_sample_path(workdir, step)):
      write_samples(family.inference(final), step)
    reporting.plot_curves(reporting.read_jsonl(os.path.join(workdir, "metrics.jsonl")),
                          family.loss_keys, os.path.join(workdir, "losses.png"))
    with reporting.replaced_whole(summary_path) as tmp, open(tmp, "w") as f:
      json.dump(summary, f, indent=2)
  return summary
