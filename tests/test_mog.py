"""The 2-D mixture benchmark: samplers, networks, mixture runs through the engine, the table."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, run_python, wait_for_checkpoint
from experiments import mog_table
from experiments.configs import mog_grid, mog_ring
from gan_jax import config as config_lib, data, games, mixtures, train
from gan_jax.errors import UserError
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
# The mixture as a data source.


def test_mixture_source_draws_fresh_scaled_points_and_slices_them_per_device():
  source = data.load("mixture:grid")
  assert source.image_shape == (2,) and source.scale == 4.0 and source.labels is None
  arrays = source.device_arrays(with_labels=False)
  key = jax.random.PRNGKey(0)
  whole = source.draw_batch(arrays, key, 2, 64, 0, 64)["image"]
  assert whole.shape == (2, 64, 2) and float(jnp.max(jnp.abs(whole))) < 1.1  # Scaled by 1/4.
  stats = mode_coverage.mixture_mode_stats(np.asarray(whole).reshape(-1, 2) * 4.0,
                                           source.mixture.modes, source.mixture.std)
  assert stats["high_quality"] > 0.95
  # A device's slice is its rows of the global draw.
  part = source.draw_batch(arrays, key, 2, 64, 16, 16)["image"]
  np.testing.assert_array_equal(part, whole[:, 16:32])
  other = source.draw_batch(arrays, jax.random.PRNGKey(1), 2, 64, 0, 64)["image"]
  assert not np.allclose(whole, other)


@pytest.mark.parametrize("name,message", [
    ("mixture:spiral", "no mixture 'spiral'; known mixtures: grid, ring"),
    ("mixture", "unknown dataset 'mixture'; allowed: images:DIR, mixture:NAME"),
])
def test_unknown_mixture_is_refused(name, message):
  with pytest.raises(UserError, match=message):
    data.check_name(name)


@pytest.mark.parametrize("module", [mog_grid, mog_ring])
def test_every_optimizer_config_is_valid(module):
  assert set(mog_grid.OPTIMIZERS) == {"adam", *games.names()}
  for name in mog_grid.OPTIMIZERS:
    config = module.get_config(name)
    config_lib.validate(config)
    config_lib.check_data(config, (2,), None)
    assert config.game_optimizer == ("none" if name == "adam" else name)
  assert module.get_config().game_optimizer == mog_grid.BEST
  with pytest.raises(UserError, match="'rmsprop' is not an optimizer with settings here"):
    module.get_config("rmsprop")
  for name in mog_grid.OPTIMIZERS:  # The grid's settings, and its steps unless STEPS says.
    ring, grid = mog_ring.get_config(name).to_dict(), mog_grid.get_config(name).to_dict()
    assert ring.pop("dataset") == "mixture:ring" and grid.pop("dataset") == "mixture:grid"
    assert ring.pop("num_steps") == mog_ring.STEPS.get(name, grid.pop("num_steps"))
    assert ring == grid


@pytest.mark.parametrize("overrides,message", [
    ({"model": "mlp"}, "model 'mlp' needs [H, W, C] images, got examples of shape (2,)"),
    ({"image_size": 32}, "config.image_size=32 does not apply to dataset 'mixture:grid'"),
])
def test_mixture_with_image_settings_is_refused(tmp_path, overrides, message):
  config = mog_grid.get_config("adam")
  config.update(overrides)
  with pytest.raises(UserError, match=re.escape(message)):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def _tiny(optimizer, **overrides):
  config = mog_grid.get_config(optimizer)
  config.update(dict(num_steps=20, steps_per_call=10, log_every=10, eval_every=10,
                     sample_every=10, checkpoint_every=10, hidden_dims=(16, 16), batch_size=32,
                     num_eval_samples=500, progress_bar=False, **overrides))
  return config


# ----------------------------------------------------------------------------
# Runs through gan_jax.train.


@pytest.mark.parametrize("optimizer", ["adam", "cgd", "lookahead"])
def test_mixture_run_writes_mode_statistics_and_reproduces(tmp_path, optimizer):
  # Lookahead's state aliases the parameters at init; the donated loop must cope.
  summary = train.train_and_evaluate(_tiny(optimizer), str(tmp_path / "a"))
  again = train.train_and_evaluate(_tiny(optimizer), str(tmp_path / "b"))
  assert summary["params_sha256"] == again["params_sha256"]
  assert isinstance(summary["modes"], int) and 0 <= summary["modes"] <= 25
  assert 0.0 <= summary["high_quality"] <= 1.0
  assert summary["eval/modes"] == summary["modes"]
  assert summary["eval_info"]["num_fake"] == 500 and summary["eval_info"]["num_modes"] == 25
  records = [json.loads(line) for line in open(tmp_path / "a" / "metrics.jsonl")]
  assert [r["step"] for r in records] == [10, 20]
  assert all("eval/high_quality" in r for r in records)
  assert records[-1]["d_penalty"] > 0  # The recipe's R1.
  if optimizer == "cgd":
    assert records[-1]["cg_iterations"] >= 1
  pngs = sorted(os.listdir(tmp_path / "a" / "samples"))
  assert pngs == ["step_000010.png", "step_000020.png"]


def test_mixture_run_evaluates_the_weight_average_and_pays_the_penalty(tmp_path):
  config = _tiny("extra_adam", g_ema_decay=0.9, regularizer_weight=1.0)
  workdir = str(tmp_path / "run")
  summary = train.train_and_evaluate(config, workdir)
  record = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))][-1]
  assert record["d_penalty"] > 0
  from gan_jax import checkpoint, evaluation, state as state_lib  # pylint: disable=g-import-not-at-top
  generator, discriminator, state = train.build(config, (2,))
  state = checkpoint.restore_latest(checkpoint.manager(workdir, 2, create=False), state,
                                    config_lib.fingerprinted(config))
  evaluate = evaluation.make_evaluator(config, generator=generator, discriminator=discriminator,
                                       dataset=data.load("mixture:grid"),
                                       key=train.run_keys(config.seed)[2])
  assert evaluate(state_lib.for_inference(state))["modes"] == summary["modes"]
  raw = evaluate.generate(state_lib.for_inference(state.replace(g_ema=())))
  averaged = evaluate.generate(state_lib.for_inference(state))
  assert not np.allclose(raw, averaged)


LONG = ("--config.num_steps=1000", "--config.checkpoint_every=100", "--config.log_every=100",
        "--config.sample_every=0", "--config.eval_every=0", "--config.steps_per_call=50",
        "--config.hidden_dims=(16,16)", "--config.progress_bar=false")


def _cli(workdir):
  return ["-m", "experiments.train", "--config", "experiments/configs/mog_ring.py:adam",
          "--workdir", str(workdir), *LONG]


def test_mixture_run_resumes_after_sigkill_to_the_same_parameters(tmp_path):
  reference = subprocess.Popen([sys.executable, *_cli(tmp_path / "ref")], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  workdir = tmp_path / "killed"
  proc = subprocess.Popen([sys.executable, *_cli(workdir)], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  wait_for_checkpoint(workdir, proc)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not (workdir / "summary.json").exists()
  resumed = run_python(_cli(workdir))
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  _, stderr = reference.communicate(timeout=300)
  assert reference.returncode == 0, stderr[-2000:]
  summary = json.load(open(workdir / "summary.json"))
  assert 0 < summary["resumed_from_step"] < 1000
  assert summary["params_sha256"] == json.load(open(tmp_path / "ref" / "summary.json"))[
      "params_sha256"]


def test_unknown_optimizer_argument_fails_in_one_line(tmp_path):
  result = run_python(["-m", "experiments.train", "--config",
                       "experiments/configs/mog_grid.py:nope", "--workdir",
                       str(tmp_path / "run")], timeout=120)
  assert result.returncode == 2
  assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
  assert "'nope' is not an optimizer with settings here; known: adam, " in result.stderr
  assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------
# The table.

TINY_SET = ["--set", "num_steps=20", "--set", "steps_per_call=10", "--set", "eval_every=10",
            "--set", "sample_every=10", "--set", "checkpoint_every=10", "--set", "log_every=10",
            "--set", "hidden_dims=(8,8)", "--set", "num_eval_samples=200"]


def test_mog_table_runs_through_the_engine_and_reuses_finished_runs(tmp_path, capsys):
  argv = ["--seeds", "1", "--optimizers", "adam", "--datasets", "ring",
          "--set", "regularizer=none", *TINY_SET, "--out", str(tmp_path)]
  assert mog_table.main(argv) == 0
  runs = [json.loads(line) for line in open(tmp_path / "runs.jsonl")]
  assert len(runs) == 1 and runs[0]["steps"] == 20 and runs[0]["finite"]
  workdir = tmp_path / "runs" / "ring" / "adam" / "seed_0"
  summary = json.load(open(workdir / "summary.json"))
  assert runs[0]["modes"] == summary["modes"] and runs[0]["wall_s"] == summary["wall_s"]
  assert json.load(open(workdir / "config.json"))["regularizer"] == "none"
  text = open(tmp_path / "results.md").read()
  assert "changed here: regularizer='none'" in text and "| adam | non_saturating | 20 |" in text
  assert os.path.getsize(tmp_path / "results.png") > 0
  capsys.readouterr()
  assert mog_table.main(argv) == 0  # Reused: the same record, nothing retrained.
  assert "step 10/20" not in capsys.readouterr().out
  assert [json.loads(line) for line in open(tmp_path / "runs.jsonl")] == runs


def test_mog_table_builds_on_records_whose_runs_are_gone(tmp_path, capsys):
  base = ["--seeds", "1", "--datasets", "ring", *TINY_SET, "--out", str(tmp_path)]
  assert mog_table.main(["--optimizers", "adam", *base]) == 0
  first = [json.loads(line) for line in open(tmp_path / "runs.jsonl")]
  shutil.rmtree(tmp_path / "runs")  # As on a fresh clone: runs/ is not committed.
  os.remove(tmp_path / "results.png")
  capsys.readouterr()
  # A record that matches its config stands for the run; other optimizers' records stay.
  assert mog_table.main(["--optimizers", "adam", *base]) == 0
  out = capsys.readouterr().out
  assert "ring adam seed 0 (recorded)" in out and "step 10/20" not in out
  from PIL import Image  # pylint: disable=g-import-not-at-top
  width, height = Image.open(tmp_path / "samples" / "ring_adam.png").size
  # One tile, from samples/ring_adam.png, at half size.
  assert Image.open(tmp_path / "results.png").size == (width // 2, height // 2)
  assert mog_table.main(["--optimizers", "sga", *base]) == 0
  both = [json.loads(line) for line in open(tmp_path / "runs.jsonl")]
  assert both[0] == first[0] and both[1]["optimizer"] == "sga" and len(both) == 2
  assert "| sga |" in open(tmp_path / "results.md").read()
  # Another setting is another run: trained, and its record replaces the old one.
  assert mog_table.main(["--optimizers", "adam", *base, "--set", "batch_size=16"]) == 0
  assert "ring adam seed 0 (ran)" in capsys.readouterr().out
  third = [json.loads(line) for line in open(tmp_path / "runs.jsonl")]
  assert len(third) == 2 and third[0]["config_sha256"] != first[0]["config_sha256"]
  # The table so far, training nothing: seed 1 has no record.
  assert mog_table.main(["--optimizers", "adam", *base, "--seeds", "2", "--set", "batch_size=16",
                         "--recorded_only"]) == 0
  assert "step 10/20" not in capsys.readouterr().out
  text = open(tmp_path / "results.md").read()
  assert "**Not run yet** (1 of 2 runs): ring adam seed 1." in text, text
  assert "| adam | non_saturating | 20 |" in text
  assert not (tmp_path / "runs" / "ring" / "adam" / "seed_1").exists()


def test_mog_table_records_of_tables_sharing_an_out_are_all_kept(tmp_path):
  path = str(tmp_path / "runs.jsonl")
  a = {"dataset": "ring", "optimizer": "adam", "seed": 0, "modes": 8}
  b = dict(a, optimizer="sga", modes=7)
  mog_table.add_record(path, a)
  mog_table.add_record(path, b)  # Another table's run, added after this one's.
  mog_table.add_record(path, dict(a, modes=6))  # A rerun replaces its own record only.
  assert [json.loads(line) for line in open(path)] == [dict(a, modes=6), b]


def test_mog_table_refuses_a_corrupt_record_file_and_keeps_it(tmp_path, capsys):
  record = '{"dataset": "ring", "optimizer": "adam", "seed": 0}'
  (tmp_path / "runs.jsonl").write_text(record + '\n{"data')
  with pytest.raises(SystemExit) as e:
    mog_table.main(["--seeds", "1", "--datasets", "ring", "--optimizers", "adam", *TINY_SET,
                    "--out", str(tmp_path)])
  err = capsys.readouterr().err
  assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
  assert "runs.jsonl line 2 is not a run record" in err and not (tmp_path / "runs").exists()
  assert (tmp_path / "runs.jsonl").read_text().endswith('{"data')


@pytest.mark.parametrize("args,message", [
    (["--optimizers", "rmsprop"], "optimizer 'rmsprop' has no settings in"),
    (["--set", "no_such_key=1"], "unknown config key 'no_such_key'"),
    (["--set", "batch_size=0"], "config.batch_size=0 is not allowed"),
    (["--set", "eval_every=0"], "--set eval_every=0 is not allowed"),
])
def test_mog_table_bad_arguments_fail_in_one_line(tmp_path, capsys, args, message):
  with pytest.raises(SystemExit) as e:
    mog_table.main(["--seeds", "1", "--datasets", "ring", "--out", str(tmp_path / "t"), *args])
  err = capsys.readouterr().err
  assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
  assert message in err and not (tmp_path / "t").exists()


def test_evaluate_and_sample_a_mixture_run(tmp_path):
  workdir = tmp_path / "run"
  summary = train.train_and_evaluate(_tiny("adam"), str(workdir))
  result = run_python(["-m", "experiments.evaluate", "--workdir", str(workdir),
                       "--num_samples", "500"])
  assert result.returncode == 0, result.stderr[-2000:]
  evaluated = json.load(open(workdir / "eval.json"))
  assert evaluated["features"] == "modes" and evaluated["num_fake"] == 500
  assert evaluated["metrics"]["modes"]["value"] == summary["modes"]  # Same latents, same samples.
  result = run_python(["-m", "experiments.evaluate", "--workdir", str(workdir), "--parzen"])
  assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr[-2000:]
  assert result.stderr.startswith("error: --parzen needs a stored image data set")
  assert json.load(open(workdir / "eval.json")) == evaluated
  out = tmp_path / "points.npz"
  result = run_python(["-m", "experiments.sample", "--workdir", str(workdir), "--num", "300",
                       "--out", str(out)])
  assert result.returncode == 0, result.stderr[-2000:]
  points = np.load(out)["points"]
  assert points.shape == (300, 2) and points.dtype == np.float32
  assert np.all(np.isfinite(points))
  assert os.path.getsize(tmp_path / "points.png") > 0
