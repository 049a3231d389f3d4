"""Evaluates a run's checkpoint into eval.json.

Usage: ``python -m experiments.evaluate --workdir DIR [--checkpoint best|latest|STEP]
[--num_samples N]``.

Rebuilds the run from ``DIR/config.json`` (keys the file lacks, from runs made
before they existed, come from experiments/configs/default.py and are listed
in the output), restores the chosen checkpoint (``--checkpoint``: ``latest``,
the default; ``best``, the run's best by ``config.best_metric`` in
checkpoints/best/; or a step number) and writes ``DIR/eval.json`` (for
``best``: ``DIR/eval_best.json``; for a step: ``DIR/eval_step_NNNNNN.json``):
every metric of ``gan_jax.evaluation`` with its value, the numbers of real
and generated images, the real split, and the feature extractor's name and
hash (and the classifier's test accuracy). The latents and real images are
those of the run's training-time evaluations, so with the same number of
samples the numbers equal the run's last ``eval/`` record.

Flags override the run's evaluation settings: ``--features``,
``--classifier_cache_dir``, ``--inception_weights``; ``--parzen`` adds the
Parzen-window log-likelihood (Goodfellow et al. 2014) of ``--num_samples``
test images, its bandwidth chosen on as many training images.

A missing workdir, config.json or checkpoint is a one-line ``error: ...`` and
exit status 2; nothing is written then.
"""

import json
import os
import sys
import time

from absl import app, flags, logging

from experiments import cli, run_dir
from gan_jax import determinism

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory to evaluate.", required=True)
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None,
                                    "Generated and real images; default the run's "
                                    "config.num_eval_samples.", lower_bound=1)
_FEATURES = flags.DEFINE_string("features", None,
                                "Feature extractor (gan_jax.features); default the run's "
                                "config.eval_features.")
_CACHE_DIR = flags.DEFINE_string("classifier_cache_dir", None,
                                 "Where trained classifiers are cached; default the run's.")
_INCEPTION = flags.DEFINE_string("inception_weights", None,
                                 ".npz of FID Inception weights; default the run's.")
_PARZEN = flags.DEFINE_bool("parzen", False, "Also compute the Parzen-window log-likelihood.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "latest",
                                  "Which checkpoint: 'latest', 'best' (checkpoints/best/, by "
                                  "config.best_metric) or a step number.")


def output_name(choice) -> str:
  """The file ``--checkpoint`` ``choice`` is evaluated into."""
  if choice == "latest":
    return "eval.json"
  return "eval_best.json" if choice == "best" else f"eval_step_{choice:06d}.json"


def evaluate(workdir: str, choice="latest") -> dict:
  """Evaluates ``workdir``'s checkpoint ``choice``; returns what is written to eval.json."""
  start = time.time()
  overrides = {"eval_features": _FEATURES.value, "eval_classifier_cache_dir": _CACHE_DIR.value,
               "eval_inception_weights": _INCEPTION.value}
  config, from_defaults, dataset, generator, discriminator, state = run_dir.load_run(
      workdir, choice, overrides)

  import jax
  from gan_jax import checkpoint, data, evaluation, families, train
  from gan_jax.errors import UserError

  if _PARZEN.value and not isinstance(dataset, data.Dataset):
    raise UserError(f"--parzen needs a stored image data set (mnist_5k, npz:, tfds:, images:); "
                    f"config.dataset={config.dataset!r} draws fresh examples every step")
  eval_key = train.run_keys(config.seed)[2]
  family = families.for_config(config)
  evaluator = evaluation.make_evaluator(
      config, generator=generator, discriminator=discriminator, dataset=dataset, key=eval_key,
      num_samples=_NUM_SAMPLES.value)
  view = family.inference(state)
  values = evaluator(view)
  records = evaluator.describe(values)
  if _PARZEN.value:
    num = evaluator.info["num_fake"]
    validation, test = evaluation.parzen_splits(dataset, num, jax.random.fold_in(eval_key, 1))
    parzen = evaluation.parzen_log_likelihood(evaluator.generate(view), validation,
                                              test)
    for name, value in parzen.items():
      records[name] = {"value": value, "num_real": len(test), "num_validation": len(validation),
                       "num_fake": num, "split": "eval" if dataset.eval_images is not None
                       else "train", "features": "pixels", "features_hash": None}
  info = evaluator.info
  return {
      "workdir": os.path.abspath(workdir),
      "checkpoint": choice,
      "step": int(state.step),
      **({"best": {k: v for k, v in checkpoint.best_record(workdir).items() if k != "mode"}}
         if choice == "best" else {}),
      "params_sha256": family.params_sha256(state),
      "dataset": config.dataset,
      "features": info["features"],
      "features_hash": info.get("features_hash"),
      "classifier_test_accuracy": info.get("classifier_test_accuracy"),
      "split": info.get("split"),
      "num_real": info.get("num_real"),
      "num_fake": info["num_fake"],
      "metrics": records,
      "info": info,
      "config_keys_from_defaults": from_defaults,
      "warnings": evaluation.classifier_warnings(info) + evaluation.sample_count_warnings(info),
      "wall_s": time.time() - start,
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  determinism.request_deterministic_gpu_ops()  # Before jax starts a backend.
  from gan_jax import reporting
  from gan_jax.errors import UserError

  workdir = _WORKDIR.value
  try:
    from gan_jax import checkpoint
    choice = checkpoint.parse_choice(_CHECKPOINT.value)
    result = evaluate(workdir, choice)
  except UserError as e:
    cli.fail(str(e))
  for warning in result["warnings"]:
    print(f"warning: {warning}", file=sys.stderr)
  path = os.path.join(workdir, output_name(choice))
  with reporting.replaced_whole(path) as tmp, open(tmp, "w") as f:
    json.dump(result, f, indent=2)
  shown = ", ".join(f"{k}={result['metrics'][k]['value']:.4g}"
                    for k in ("fid", "kid", "precision", "recall", "class_kl", "label_accuracy",
                              "modes", "high_quality", "reverse_kl")
                    if k in result["metrics"])
  accuracy = result["classifier_test_accuracy"]
  print(f"wrote {path}: step {result['step']}, {result['features']} features"
        + (f" (test accuracy {accuracy:.4f})" if accuracy is not None else "")
        + f", {result['num_fake']} samples: {shown}", flush=True)



if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
