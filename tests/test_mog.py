"""The 2-D mixture benchmark: samplers, networks, experiments.mog end to end."""

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import run_python
from experiments import mog
from gan_jax import games, mixtures, regularizers, train_step
from gan_jax.metrics import mode_coverage
from gan_jax.networks import toy2d


# ----------------------------------------------------------------------------
# Samplers and networks.


@pytest.mark.parametrize("name,num_modes,std", [("ring", 8, 0.01), ("grid", 25, 0.05)])
def test_mixture_samples_sit_on_their_modes(name, num_modes, std):
  mixture = mixtures.get(name)
  assert mixture.modes.shape == (num_modes, 2) and mixture.std == std
  points = np.asarray(mixtures.sample(jax.random.PRNGKey(0), mixture, 20000))
  assert points.shape == (20000, 2) and points.dtype == np.float32
  stats = mode_coverage.mixture_mode_stats(points, mixture.modes, mixture.std)
  assert stats["modes"] == num_modes
  assert stats["high_quality"] > 0.98  # P(|N(0, I_2)| <= 3) = 0.989.
  assert stats["reverse_kl"] < 0.01


def test_sample_mixture_is_a_pure_function_of_its_key():
  modes = mode_coverage.grid_modes()
  a = mixtures.sample_mixture(jax.random.PRNGKey(1), modes, 0.05, 64)
  b = jax.jit(mixtures.sample_mixture, static_argnums=(2, 3))(jax.random.PRNGKey(1), modes,
                                                              0.05, 64)
  c = mixtures.sample_mixture(jax.random.PRNGKey(2), modes, 0.05, 64)
  np.testing.assert_allclose(a, b, atol=1e-6)
  assert not np.allclose(a, c)


def test_mixture_registry_rejects_unknown_names():
  assert mixtures.names() == ["grid", "ring"]
  with pytest.raises(ValueError, match="unknown mixture 'spiral'; known: grid, ring"):
    mixtures.get("spiral")
  with pytest.raises(ValueError, match="already registered"):
    mixtures.register("ring", mixtures.get("ring"))


def test_toy_networks_shapes_and_linear_output():
  g = toy2d.Toy2DGenerator(hidden_dims=(8, 8), scale=4.0)
  d = toy2d.Toy2DDiscriminator(hidden_dims=(8,), scale=4.0)
  g_params = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  d_params = d.init(jax.random.PRNGKey(1), jnp.zeros((1, 2)))
  z = 100.0 * jax.random.normal(jax.random.PRNGKey(2), (16, 2))
  x = g.apply(g_params, z)
  assert x.shape == (16, 2) and float(jnp.max(jnp.abs(x))) > 1.0  # Not squashed by tanh.
  assert d.apply(d_params, x).shape == (16,)


def test_packed_discriminator_judges_packs_and_repeats_their_logits():
  pack = 4
  d = toy2d.Toy2DDiscriminator(hidden_dims=(8,), pack=pack)
  params = d.init(jax.random.PRNGKey(0), jnp.zeros((pack, 2)))
  assert params["params"]["Dense_0"]["kernel"].shape == (2 * pack, 8)
  x = jax.random.normal(jax.random.PRNGKey(1), (12, 2))
  logits = jax.jit(d.apply)(params, x)
  plain = toy2d.Toy2DDiscriminator(hidden_dims=(8,))  # Same layers on [3, 8] inputs.
  expected = plain.apply(params, x.reshape(3, 2 * pack))
  np.testing.assert_allclose(logits, np.repeat(expected, pack), rtol=1e-6)
  # A loss's mean over the points is its mean over the packs.
  np.testing.assert_allclose(jnp.mean(jax.nn.softplus(logits)),
                             jnp.mean(jax.nn.softplus(expected)), rtol=1e-6)
  with pytest.raises(ValueError, match="pack=4 needs a batch that is a multiple of 4, got 6"):
    d.apply(params, x[:6])


# ----------------------------------------------------------------------------
# Settings.


def test_every_optimizer_has_valid_default_settings():
  assert mog.optimizer_names() == ["adam"] + games.names()
  for name in mog.optimizer_names():
    for variant in mog.VARIANTS:
      mog.check_settings(name, mog.default_settings(name, variant), mog.DATASETS)
  sharp, row = mog.default_settings("adam", "sharp"), mog.SETTINGS["adam"]
  assert sharp.steps == {name: 2 * steps for name, steps in row.steps.items()}
  assert (sharp.negative_slope, sharp.batch, sharp.hparams) == (0.0, 512, row.hparams)
  assert mog.default_settings("adam", "default") == row
  converging = mog.default_settings("extra_adam", "r1_ema")
  assert (converging.regularizer, converging.ema_decay, converging.lr_schedule) == (
      "r1", 0.999, ((0.0, 1.0),))
  assert mog.step_options(converging).regularizer is regularizers.r1_penalty
  assert mog.default_settings("cgd").loss == "minimax"
  assert mog.default_settings("acgd").loss == "minimax"


def test_learning_rate_schedule():
  hparams = {"inner": "extra_adam", "k": 5,
             "inner_hparams": {"lr_x": 1e-3, "lr_y": 2e-3, "b1": 0.5}}
  scaled = mog.scale_learning_rates(hparams, 0.1)
  assert scaled["k"] == 5 and scaled["inner_hparams"]["b1"] == 0.5
  assert scaled["inner_hparams"]["lr_y"] == pytest.approx(2e-4)
  assert mog.scale_learning_rates({"lr": 0.1, "unroll_lr": None}, 0.5) == {
      "lr": 0.05, "unroll_lr": None}
  settings = dataclasses.replace(mog.default_settings("adam"),
                                 lr_schedule=((0.0, 1.0), (0.6, 0.1)))
  assert mog.lr_phases(settings, 1000) == [(0, 600, 1.0), (600, 1000, 0.1)]


# ----------------------------------------------------------------------------
# Training, in process and from the command line.


def _tiny(name, **overrides):
  """Settings for a 20-step run compiled once (one scan length, one phase)."""
  return dataclasses.replace(mog.default_settings(name), steps={"ring": 20, "grid": 20},
                             steps_per_call=10, g_hidden=(16, 16), d_hidden=(16, 16), batch=32,
                             lr_schedule=((0.0, 1.0),), **overrides)


@pytest.mark.parametrize("name,overrides", [
    ("cgd", {}),
    # Lookahead's state aliases the parameters at init; the donated loop must cope.
    ("lookahead", {"hparams": {"inner": "simultaneous_gda",
                               "inner_hparams": {"lr_x": 0.05, "lr_y": 0.05}}}),
    ("adam", {"pack": 4}),  # PacGAN's packed discriminator.
    # Evaluates the weight average; R1 on D.
    ("extra_adam", {"ema_decay": 0.9, "regularizer": "r1", "regularizer_weight": 1.0}),
])
def test_optimizer_trains_and_is_deterministic(name, overrides):
  settings = _tiny(name, **overrides)
  first = mog.train("grid", name, 3, settings)
  again = mog.train("grid", name, 3, settings)  # Reuses the compiled loop.
  assert first["steps_done"] == 20 and first["finite"]
  assert int(first["_state"].step) == 20
  np.testing.assert_array_equal(first["_samples"], again["_samples"])
  assert first["_samples"].shape == (mog.NUM_EVAL_SAMPLES, 2)
  if name == "cgd":
    assert first["final_metrics"]["cg_iterations"] >= 1
  if settings.regularizer != "none":
    assert first["final_metrics"]["d_penalty"] > 0
  state = first["_state"]
  z = train_step.latents(jax.random.fold_in(jax.random.PRNGKey(3), mog._EVAL),
                         mog.NUM_EVAL_SAMPLES, settings.latent_dim)
  raw = np.asarray(first["_generator"].apply(state.g.params, z), np.float64)
  if settings.ema_decay:
    averaged = np.asarray(first["_generator"].apply(state.g_ema, z), np.float64)
    np.testing.assert_array_equal(first["_samples"], averaged)
    assert not np.allclose(raw, averaged)
  else:
    assert state.g_ema == ()
    np.testing.assert_array_equal(first["_samples"], raw)
  mog.clear_compiled()


def test_end_to_end_run_writes_summary_and_plots(tmp_path, capsys):
  # In process (the command line's exit status is checked below), with the
  # default two-phase learning-rate schedule.
  workdir = tmp_path / "run"
  status = mog.main(["--dataset", "ring", "--optimizer", "adam", "--seed", "0",
                     "--workdir", str(workdir), "--steps", "200", "--steps_per_call", "40",
                     "--pack", "2", "--quiet"])
  assert status == 0
  assert capsys.readouterr().out.startswith("ring adam seed 0: ")
  summary = json.load(open(workdir / "summary.json"))
  assert summary["dataset"] == "ring" and summary["optimizer"] == "adam"
  assert summary["seed"] == 0 and summary["steps"] == summary["steps_done"] == 200
  assert summary["hparams"] == dict(mog.SETTINGS["adam"].hparams)
  assert summary["settings"]["pack"] == 2  # discriminator.png shows D on packs of copies.
  assert isinstance(summary["modes"], int) and 0 <= summary["modes"] <= summary["num_modes"] == 8
  assert 0.0 <= summary["high_quality"] <= 1.0
  assert summary["reverse_kl"] is None or 0.0 <= summary["reverse_kl"] <= np.log(8) + 1e-9
  assert summary["wall_s"] > 0 and summary["finite"] is True
  for name in ("samples.png", "discriminator.png", "metrics.jsonl"):
    assert os.path.getsize(workdir / name) > 0, name
  records = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  assert [r["step"] for r in records] == [40, 80, 120, 160, 200]
  assert [r["lr_factor"] for r in records] == [1.0, 1.0, 1.0, 0.1, 0.1]
  mog.clear_compiled()


@pytest.mark.parametrize("args,message", [
    (["--optimizer", "rmsprop_gda"], "unknown optimizer 'rmsprop_gda'"),
    (["--dataset", "spiral"], "argument --dataset: invalid choice"),
    (["--steps", "0"], "steps for ring must be an integer >= 1"),
    (["--hparams", "{bad"], "--hparams is not valid JSON"),
    (["--hparams", '{"lr_g": -1}'], "adam: lr_g must be a finite number > 0"),
    (["--optimizer", "cgd", "--hparams", '{"momentum": 0.9}'],
     "unknown hyperparameter 'momentum' for game optimizer 'cgd'"),
    (["--g_hidden", "64,x"], "widths must be comma-separated integers"),
    (["--loss", "hinge2"], "unknown loss 'hinge2'"),
    (["--lr_schedule", "0.5:1"], "lr_schedule must start at fraction 0"),
    (["--pack", "3", "--batch", "64"], "batch must be a multiple of pack, got batch 64 and "
                                       "pack 3"),
    (["--pack", "0"], "pack must be an integer >= 1"),
    (["--ema_decay", "1"], "settings: ema_decay must be a number in [0.0, 1.0), got 1.0"),
    (["--regularizer", "l2"], "unknown regularizer 'l2'; known: dragan, gp"),
    (["--regularizer", "r1", "--regularizer_weight", "-1"],
     "regularizer_weight must be a finite number >= 0, got -1.0"),
    (["--variant", "blunt"], "unknown variant 'blunt'; known: default, sharp"),
])
def test_bad_arguments_fail_in_one_line(tmp_path, capsys, args, message):
  workdir = tmp_path / "run"
  base = {"--dataset": "ring", "--optimizer": "adam", "--seed": "0", "--workdir": str(workdir)}
  for flag, value in zip(args[::2], args[1::2]):
    base[flag] = value
  argv = [item for pair in base.items() for item in pair]
  try:
    status = mog.main(argv)
  except SystemExit as e:  # argparse's own errors.
    status = e.code
  err = capsys.readouterr().err
  assert status == 2
  assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
  assert not workdir.exists()


def test_command_line_error_exit_status(tmp_path):
  workdir = tmp_path / "run"
  result = run_python(["-m", "experiments.mog", "--dataset", "grid", "--optimizer", "nope",
                       "--seed", "0", "--workdir", str(workdir)], timeout=120)
  assert result.returncode == 2
  assert result.stderr.startswith("error: unknown optimizer 'nope'; known: adam, ")
  assert result.stderr.count("\n") == 1 and result.stdout == ""
  assert not workdir.exists()


def test_mog_table_runs_a_variant_and_resumes(tmp_path, monkeypatch, capsys):
  from experiments import mog_table
  monkeypatch.setitem(mog.SETTINGS, "adam", _tiny("adam"))
  argv = ["--seeds", "1", "--optimizers", "adam", "--datasets", "ring", "--variant", "sharp",
          "--out", str(tmp_path)]
  assert mog_table.main(argv) == 0
  runs = mog_table.load_runs(str(tmp_path / "runs.jsonl"))
  assert len(runs) == 1
  assert runs[0]["steps"] == 40 and runs[0]["settings"]["batch"] == 512  # Sharp: 2x steps.
  text = open(tmp_path / "results.md").read()
  assert "changed by the variant 'sharp'" in text and "| adam | non_saturating | 40 |" in text
  capsys.readouterr()
  assert mog_table.main(argv) == 0  # Resumes: the stored run is reused, nothing retrained.
  assert "[1/1]" not in capsys.readouterr().out
  assert len(mog_table.load_runs(str(tmp_path / "runs.jsonl"))) == 1
  # A run stored before settings were added (with their defaults) still matches.
  old = dict(runs[0], settings={k: v for k, v in runs[0]["settings"].items()
                                if k not in ("pack", "ema_decay", "regularizer")})
  (tmp_path / "runs.jsonl").write_text(json.dumps(old) + "\n")
  assert mog_table.main(argv) == 0
  assert "[1/1]" not in capsys.readouterr().out
  assert mog_table.main(argv[:-4] + ["--variant", "blunt"]) == 2
  mog.clear_compiled()
