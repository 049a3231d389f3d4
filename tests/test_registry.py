"""gan_jax.registry: the one Registry class, the library's registries built on it, config.imports."""

import json
import math
import os
import sys
import textwrap

import jax.numpy as jnp
import optax
import pytest

from conftest import ROOT, run_python
from gan_jax import (augment, config as config_lib, families, features, games, losses, mixtures,
                     networks, optimizers, regularizers, registry, train)
from gan_jax.errors import UserError
from gan_jax.registry import Registry

TINY = "experiments/configs/tiny.py"

# Every library registry, by the module that keeps it.
_LIBRARY = (losses, networks, regularizers, augment, optimizers, games.registry, features,
            mixtures, families)


@pytest.fixture(autouse=True)
def restore_registries(monkeypatch):
  """Each test's registrations are undone after it (other tests list the built-in names)."""
  for module in _LIBRARY:
    reg = module._REGISTRY  # pylint: disable=protected-access
    monkeypatch.setattr(reg, "_entries", dict(reg._entries))  # pylint: disable=protected-access


# The Registry class.


def test_register_directly_and_as_a_decorator():
  reg = Registry("widget")
  assert reg.register("b", 2) == 2

  @reg.register("a")
  def a():
    return 1

  assert a() == 1 and reg.get("a") is a and reg.get("b") == 2
  assert reg.names() == ["a", "b"]
  assert "a" in reg and "c" not in reg and 3 not in reg


def test_names_are_sorted():
  reg = Registry("widget")
  for name in ("zeta", "alpha", "mu"):
    reg.register(name, object())
  assert reg.names() == ["alpha", "mu", "zeta"]


def test_duplicate_is_refused_unless_overwrite():
  reg = Registry("widget")
  reg.register("a", 1)
  with pytest.raises(ValueError, match="^widget 'a' is already registered; pass overwrite=True"):
    reg.register("a", 2)
  with pytest.raises(ValueError, match="already registered"):
    reg.register("a")(lambda: None)
  reg.register("a", 3, overwrite=True)
  assert reg.get("a") == 3


def test_get_error_is_one_line_with_the_known_names_and_a_suggestion():
  reg = Registry("widget")
  for name in ("sprocket", "gear"):
    reg.register(name, name)
  with pytest.raises(ValueError) as e:
    reg.get("sprockett")
  assert str(e.value) == ("unknown widget 'sprockett' (did you mean 'sprocket'?); "
                          "known: gear, sprocket")
  with pytest.raises(ValueError, match=r"^unknown widget 'zzz'; known: gear, sprocket$"):
    reg.get("zzz")
  with pytest.raises(ValueError, match="unknown widget"):
    reg.get(["unhashable"])


def test_bad_names_are_refused():
  reg = Registry("widget")
  for bad in ("", None, 3):
    with pytest.raises(TypeError, match="non-empty string"):
      reg.register(bad, 1)


# The library's registries take user entries, and configs may select them.


def test_every_library_registry_takes_a_user_entry(tiny_config):
  def penalty(critic, real, fake, keys, real_labels=None, fake_labels=None):
    return jnp.mean(jnp.square(critic(real, real_labels)))

  d_loss, g_loss = losses.get("non_saturating")
  losses.register("user_loss", d_loss, g_loss)
  networks.register("user_mlp", *networks.get("mlp"))
  assert regularizers.register("user_penalty", penalty) is penalty
  augment.register("user_flip", lambda images, u: images[:, :, ::-1], num_draws=0)
  optimizers.register("user_sgd")(lambda lr, c: optax.sgd(lr))
  games.register("user_gda", games.registry._factory("simultaneous_gda"))  # pylint: disable=protected-access
  features.register("user_pixels", features.get("pixels"))
  mixtures.register("user_ring", mixtures.get("ring"))
  families.register("user_family", families.get("gan"))

  assert "user_loss" in losses.names() and losses.get("user_loss") == (d_loss, g_loss)
  assert losses.supports_label_smoothing("non_saturating")
  assert not losses.supports_label_smoothing("user_loss")
  assert networks.get("user_mlp") == networks.get("mlp")
  assert regularizers.get("user_penalty") is penalty
  assert augment.parse_policy("color, user_flip") == ("color", "user_flip")
  assert "user_gda" in games.names() and games.defaults("user_gda")
  assert features.get("user_pixels") is features.get("pixels")
  assert mixtures.get("user_ring") is mixtures.get("ring")
  assert families.get("user_family") is families.get("gan")
  # config.validate looks the names up when it runs, so the new ones count.
  for key, value in (("loss", "user_loss"), ("model", "user_mlp"),
                     ("regularizer", "user_penalty"), ("diffaugment", "user_flip"),
                     ("optimizer", "user_sgd"), ("eval_features", "user_pixels")):
    config = tiny_config.copy_and_resolve_references()
    config[key] = value
    config_lib.validate(config)
  config = tiny_config.copy_and_resolve_references()
  config.game_optimizer = "user_gda"
  config_lib.validate(config)


def test_library_errors_keep_their_messages():
  with pytest.raises(ValueError, match=r"^unknown loss 'hinje' \(did you mean 'hinge'\?\); known: "):
    losses.get("hinje")
  with pytest.raises(ValueError, match="^unknown model 'nope'; known: dcgan, mlp, "):
    networks.get("nope")
  with pytest.raises(ValueError, match="^unknown regularizer 'nope'; known: dragan, gp, "):
    regularizers.get("nope")
  with pytest.raises(ValueError, match="^unknown optimizer 'nope'; known: adam, rmsprop, sgd$"):
    optimizers.get("nope")
  with pytest.raises(ValueError, match="^unknown game optimizer 'nope'; known: acgd, "):
    games.get("nope")
  with pytest.raises(ValueError, match="^unknown feature extractor 'nope'; known: classifier, "):
    features.get("nope")
  with pytest.raises(ValueError, match="^unknown DiffAugment operation 'blur'; known: color, "):
    augment.parse_policy("color,blur")
  with pytest.raises(ValueError, match="^loss 'hinge' is already registered"):
    losses.register("hinge", *losses.get("hinge"))
  with pytest.raises(ValueError, match="^model 'mlp' is already registered"):
    networks.register("mlp", *networks.get("mlp"))
  with pytest.raises(ValueError, match="may not hold a comma"):
    augment.register("a,b", lambda images, u: images, num_draws=0)
  with pytest.raises(ValueError, match="num_draws"):
    augment.register("a", lambda images, u: images, num_draws=-1)


def test_user_entries_train(tiny_config, tmp_path):
  """A user loss, model, regularizer, augmentation, optimizer and extractor in one short run."""
  used = []  # What was traced (or built), once per compilation.

  def penalty(critic, real, fake, keys, real_labels=None, fake_labels=None):
    used.append("regularizer")
    return jnp.mean(jnp.square(critic(real, real_labels)))

  def flip(images, u):
    used.append("augmentation")
    return jnp.where(u[:, :1, None, None] < 0.5, images[:, :, ::-1], images)

  def sgd(lr, config):
    used.append("optimizer")
    return optax.sgd(lr)

  def pixels(config, dataset):
    used.append("features")
    return features.get("pixels")(config, dataset)

  d_loss, g_loss = losses.get("hinge")
  losses.register("user_hinge", lambda r, f: d_loss(r, f), lambda r, f: g_loss(r, f))
  networks.register("user_mlp", *networks.get("mlp"))
  regularizers.register("user_penalty")(penalty)
  augment.register("user_flip", num_draws=1)(flip)
  optimizers.register("user_sgd", sgd)
  features.register("user_pixels", pixels)

  config = tiny_config
  config.update(dict(loss="user_hinge", model="user_mlp", regularizer="user_penalty",
                     regularizer_weight=1.0, diffaugment="user_flip", optimizer="user_sgd",
                     eval_features="user_pixels", num_steps=10, eval_every=10, sample_every=0,
                     checkpoint_every=10, best_metric=""))
  summary = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert summary["step"] == 10 and math.isfinite(summary["eval/fid"])
  assert {"regularizer", "augmentation", "optimizer", "features"} <= set(used)
  assert used.count("optimizer") >= 2  # One per player.
  saved = json.load(open(tmp_path / "run" / "config.json"))
  assert saved["loss"] == "user_hinge" and saved["imports"] == ""


# config.imports.


def test_parse_imports():
  assert registry.parse_imports("") == []
  assert registry.parse_imports(" a, b.c ,") == ["a", "b.c"]
  with pytest.raises(UserError, match="'a-b' is not a Python module name"):
    registry.parse_imports("a-b")


def test_import_modules(tmp_path, monkeypatch):
  (tmp_path / "reg_user_ok.py").write_text(
      "from gan_jax import losses\n"
      "losses.register('reg_user_loss', *losses.get('hinge'))\n")
  (tmp_path / "reg_user_broken.py").write_text("x = 1 / 0\n")
  (tmp_path / "reg_user_needs.py").write_text("import reg_no_such_dependency\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  for name in ("reg_user_ok", "reg_user_broken", "reg_user_needs"):
    monkeypatch.delitem(sys.modules, name, raising=False)
  assert registry.import_modules("reg_user_ok") == ["reg_user_ok"]
  assert "reg_user_loss" in losses.names()
  assert registry.import_modules("reg_user_ok") == ["reg_user_ok"]  # Again: a no-op.
  with pytest.raises(UserError, match=r"^config.imports: no module named 'reg_nope' \(is its "):
    registry.import_modules("reg_user_ok, reg_nope")
  with pytest.raises(UserError, match="^config.imports: module 'reg_user_broken' failed to "
                     "import: ZeroDivisionError: division by zero$"):
    registry.import_modules("reg_user_broken")
  with pytest.raises(UserError, match="'reg_user_needs' failed to import: ModuleNotFoundError: "
                     "No module named 'reg_no_such_dependency'"):
    registry.import_modules("reg_user_needs")


def test_imports_is_validated_and_not_resumable(tiny_config):
  assert "imports" not in config_lib.RESUMABLE_KEYS
  tiny_config.imports = "a b"
  with pytest.raises(UserError, match="config.imports='a b' is not allowed"):
    config_lib.validate(tiny_config)
  tiny_config.imports = "my_losses"
  assert config_lib.fingerprinted(tiny_config)["imports"] == "my_losses"
  tiny_config.imports = ""  # Runs from before the key existed fingerprint alike.
  assert "imports" not in config_lib.fingerprinted(tiny_config)
  saved = {k: v for k, v in json.loads(config_lib.to_json(tiny_config)).items() if k != "imports"}
  assert config_lib.config_difference(saved, json.loads(config_lib.to_json(tiny_config))) == ""
  tiny_config.imports = "my_losses"
  assert config_lib.config_difference(saved, json.loads(config_lib.to_json(tiny_config))) == (
      "imports: '' there, 'my_losses' now")


_MY_LOSSES = textwrap.dedent("""\
    from gan_jax import losses

    d_loss, g_loss = losses.get("non_saturating")
    losses.register("my_loss", d_loss, g_loss)
    """)


def _one_line_error(result, message):
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.strip().count("\n") == 0, result.stderr[-3000:]
  assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr


def test_cli_imports_a_user_module_for_train_evaluate_and_report(tmp_path):
  (tmp_path / "my_losses.py").write_text(_MY_LOSSES)
  env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), ROOT])}
  workdir = str(tmp_path / "run")
  result = run_python(["-m", "experiments.train", "--config", TINY, "--workdir", workdir,
                       "--config.imports=my_losses", "--config.loss=my_loss",
                       "--config.num_steps=10", "--config.eval_every=10",
                       "--config.sample_every=0", "--config.checkpoint_every=10"],
                      env_extra=env)
  assert result.returncode == 0, result.stderr[-3000:]
  saved = json.load(open(os.path.join(workdir, "config.json")))
  assert saved["imports"] == "my_losses" and saved["loss"] == "my_loss"

  result = run_python(["-m", "experiments.evaluate", "--workdir", workdir], env_extra=env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.load(open(os.path.join(workdir, "eval.json")))["step"] == 10

  result = run_python(["-m", "experiments.report", workdir, "--out", str(tmp_path / "report")],
                      env_extra=env)
  assert result.returncode == 0, result.stderr[-3000:]

  # Without the module on the path, evaluate (and report) say which module is missing.
  for args in (["-m", "experiments.evaluate", "--workdir", workdir],
               ["-m", "experiments.report", workdir, "--out", str(tmp_path / "report")]):
    _one_line_error(run_python(args, env_extra={"PYTHONPATH": ROOT}),
                    "config.imports: no module named 'my_losses'")


def test_cli_bad_import_is_one_line(tmp_path):
  result = run_python(["-m", "experiments.train", "--config", TINY,
                       "--workdir", str(tmp_path / "run"), "--config.imports=reg_no_such_module",
                       "--config.loss=my_loss"])
  _one_line_error(result, "config.imports: no module named 'reg_no_such_module'")
  assert not os.path.exists(tmp_path / "run")
