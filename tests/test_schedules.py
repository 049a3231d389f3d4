"""Learning-rate schedules: in every game optimizer, in the optax optimizers, from the config."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gan_jax.games as games
from experiments.configs import default
from gan_jax import config as config_lib, families, optimizers, schedules, train
from gan_jax.errors import UserError
from gan_jax.games import base, cgd as cgd_lib


def _f(x, y):
  """A smooth coupled loss (as in test_games_updates.py)."""
  u = jnp.tanh(x["w"] @ y["v"] + x["b"])
  return (jnp.sum(u ** 2) + jnp.sin(x["b"]) * y["c"] + 0.3 * jnp.sum(y["v"] ** 3)
          + 0.2 * jnp.sum(x["w"] ** 2) - 0.25 * y["c"] ** 2)


def _g(x, y):
  return -_f(x, y) + jnp.sum(jnp.cos(x["w"])) * y["c"] + 0.5 * jnp.sum(y["v"] ** 2)


X0 = {"w": jnp.array([[0.3, -0.2], [0.5, 0.1]]), "b": jnp.array(0.4)}
Y0 = {"v": jnp.array([0.7, -1.1]), "c": jnp.array(0.9)}


def _decay(peak):
  """A schedule that changes at every step: peak * 0.6^t."""
  return lambda count: peak * 0.6 ** jnp.asarray(count, jnp.float32)


# name -> (scheduled hyperparameters {key: peak}, other hyperparameters, loss_y).
CASES = {
    "simultaneous_gda": ({"lr_x": 0.1, "lr_y": 0.05}, {}, _g),
    "alternating_gda": ({"lr_x": 0.1, "lr_y": 0.05}, {}, _g),
    "extragradient": ({"lr_x": 0.1, "lr_y": 0.05}, {}, _g),
    "extra_adam": ({"lr_x": 0.02, "lr_y": 0.03}, {}, _g),
    "optimistic_gda": ({"lr_x": 0.1, "lr_y": 0.05}, {}, _g),
    "consensus": ({"lr_x": 0.1, "lr_y": 0.05}, {"gamma": 0.3}, _g),
    "sga": ({"lr_x": 0.1, "lr_y": 0.05}, {}, _g),
    "unrolled": ({"lr_x": 0.1, "lr_y": 0.05, "unroll_lr": 0.2}, {"unroll_steps": 2}, _g),
    "unrolled_inherits": ({"lr_x": 0.1, "lr_y": 0.05}, {"unroll_steps": 2}, _g),
    "cgd": ({"lr": 0.3}, {"cg_tol": 1e-7}, lambda x, y: -_f(x, y)),
    "cgd_general_sum": ({"lr": 0.3}, {"cg_tol": 1e-7, "zero_sum": False}, _g),
    "acgd": ({"lr": 0.05}, {"cg_tol": 1e-7, "beta2": 0.9}, lambda x, y: -_f(x, y)),
}


def _name(case):
  return case.split("_inherits")[0].split("_general")[0]


@functools.lru_cache(maxsize=None)
def _jit_step(opt, loss_y):
  return jax.jit(functools.partial(opt.step, _f, loss_y))


def _run(make_opt, loss_y, steps):
  """Params after each step; ``make_opt(t)`` gives the optimizer for step t."""
  opt = make_opt(0)
  x, y, state = X0, Y0, opt.init(X0, Y0)
  out = []
  for t in range(steps):
    x, y, state, _ = _jit_step(make_opt(t), loss_y)(x, y, state)
    out.append(np.concatenate([np.ravel(a) for a in jax.tree.leaves((x, y))]))
  return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_schedule_steps_like_the_float_at_each_step(case):
  rates, others, loss_y = CASES[case]
  name = _name(case)
  scheduled = games.get(name, **{k: _decay(v) for k, v in rates.items()}, **others)
  with_schedule = _run(lambda t: scheduled, loss_y, 3)
  # The same optimizer with float learning rates s(t), rebuilt at each step.
  floats = [games.get(name, **{k: float(_decay(v)(t)) for k, v in rates.items()}, **others)
            for t in range(3)]
  with_floats = _run(lambda t: floats[t], loss_y, 3)
  for t in range(3):
    np.testing.assert_allclose(with_schedule[t], with_floats[t], rtol=1e-6, atol=1e-7,
                               err_msg=f"step {t}")
  # The schedule matters: holding the first rates gives another trajectory.
  constant = _run(lambda t: floats[0], loss_y, 3)
  assert np.abs(constant[2] - with_schedule[2]).max() > 1e-4


@pytest.mark.parametrize("case", sorted(CASES))
def test_constant_schedule_is_bit_identical_to_the_float(case):
  rates, others, loss_y = CASES[case]
  name = _name(case)
  as_float = _run(lambda t, o=games.get(name, **rates, **others): o, loss_y, 3)
  as_schedule = games.get(name, **{k: optax.constant_schedule(v) for k, v in rates.items()},
                          **others)
  with_schedule = _run(lambda t: as_schedule, loss_y, 3)
  for a, b in zip(as_float, with_schedule):
    assert a.tobytes() == b.tobytes()


def test_lookahead_passes_schedules_to_its_inner_optimizer():
  peak = 0.1
  la = lambda lr: games.get("lookahead", inner="simultaneous_gda", k=2,
                            inner_hparams={"lr_x": lr, "lr_y": 0.05})
  with_schedule = _run(lambda t, o=la(_decay(peak)): o, _g, 3)
  floats = [la(float(_decay(peak)(t))) for t in range(3)]
  with_floats = _run(lambda t: floats[t], _g, 3)
  np.testing.assert_allclose(np.stack(with_schedule), np.stack(with_floats), rtol=1e-6,
                             atol=1e-7)


def test_stateless_optimizers_count_steps_only_with_a_schedule():
  plain = games.get("simultaneous_gda", lr_x=0.1)
  assert plain.init(X0, Y0) == ()
  opt = games.get("simultaneous_gda", lr_x=_decay(0.1))
  state = opt.init(X0, Y0)
  assert isinstance(state, base.ScheduleState) and state.inner == ()
  _, _, state, _ = opt.step(_f, _g, X0, Y0, state)
  assert int(state.count) == 1
  assert isinstance(games.get("cgd", lr=0.1).init(X0, Y0), cgd_lib.CGDState)
  state = games.get("cgd", lr=_decay(0.1)).init(X0, Y0)
  assert isinstance(state, base.ScheduleState) and isinstance(state.inner, cgd_lib.CGDState)


def test_scheduled_step_keeps_the_parameters_dtype():
  x = jax.tree.map(lambda a: a.astype(jnp.bfloat16), X0)
  y = jax.tree.map(lambda a: a.astype(jnp.bfloat16), Y0)
  opt = games.get("simultaneous_gda", lr_x=_decay(0.1), lr_y=_decay(0.1))
  new_x, new_y, _, _ = opt.step(_f, _g, x, y, opt.init(x, y))
  assert {a.dtype for a in jax.tree.leaves((new_x, new_y))} == {jnp.dtype(jnp.bfloat16)}


@pytest.mark.parametrize("value", [0.0, -1e-3, float("nan"), float("inf"), True, "0.1", None])
def test_check_learning_rate_refuses_non_rates(value):
  with pytest.raises(ValueError) as error:
    base.check_learning_rate("cgd", "lr", value)
  message = str(error.value)
  assert message.startswith("cgd: lr must be a finite number > 0 or an optax schedule")
  assert "\n" not in message


def test_check_learning_rate_accepts_floats_ints_and_callables():
  assert base.check_learning_rate("o", "lr", 1) == 1.0
  assert isinstance(base.check_learning_rate("o", "lr", 1), float)
  schedule = optax.cosine_decay_schedule(1e-2, 10)
  assert base.check_learning_rate("o", "lr", schedule) is schedule
  with pytest.raises(ValueError, match="unroll_lr must be a finite number > 0"):
    games.get("unrolled", unroll_lr=-1.0)


def test_every_learning_rate_hyperparameter_is_scheduled():
  for name in games.names():
    for key in games.defaults(name):
      if "lr" in key.split("_"):
        assert key in schedules.LR_HPARAMS, (name, key)


# ----------------------------------------------------------------------------
# The config keys.


def _config(**overrides):
  config = default.get_config()
  config.num_steps = 100
  config.update(overrides)
  return config


def _values(schedule, steps):
  return np.array([float(schedule(t)) for t in steps])


def test_constant_returns_the_float_itself():
  config = _config(game_optimizer="cgd")
  config.game_hparams.lr = 0.3
  assert schedules.make(config, 2e-4) == 2e-4 and isinstance(schedules.make(config, 2e-4), float)
  assert schedules.game_hparams(config) == {"lr": 0.3}
  config_lib.validate(default.get_config())
  assert default.get_config().lr_schedule == "constant"


def test_schedule_shapes():
  peak = 0.5
  cosine = schedules.make(_config(lr_schedule="cosine", lr_final_fraction=0.1), peak)
  np.testing.assert_allclose(_values(cosine, [0, 50, 100, 150]), [0.5, 0.275, 0.05, 0.05],
                             rtol=1e-6)
  warm = schedules.make(_config(lr_schedule="warmup_cosine", lr_warmup_steps=10,
                                lr_final_fraction=0.2), peak)
  np.testing.assert_allclose(_values(warm, [0, 5, 10, 55, 100]), [0, 0.25, 0.5, 0.3, 0.1],
                             rtol=1e-6, atol=1e-8)
  # 'warmup_cosine' without warmup is 'cosine'; a warmup as long as the run is allowed.
  np.testing.assert_allclose(
      _values(schedules.make(_config(lr_schedule="warmup_cosine"), peak), range(0, 101, 10)),
      _values(schedules.make(_config(lr_schedule="cosine"), peak), range(0, 101, 10)))
  long_warm = schedules.make(_config(lr_schedule="warmup_cosine", lr_warmup_steps=200), peak)
  np.testing.assert_allclose(_values(long_warm, [0, 100]), [0, 0.25], rtol=1e-6)
  step = schedules.make(_config(lr_schedule="step", lr_step_boundaries=(0.25, 0.5),
                                lr_step_factor=0.5), peak)
  np.testing.assert_allclose(_values(step, [0, 24, 25, 49, 50, 99]),
                             [0.5, 0.5, 0.25, 0.25, 0.125, 0.125], rtol=1e-6)
  # Two fractions that round to the same step multiply there.
  step = schedules.make(_config(lr_schedule="step", num_steps=10,
                                lr_step_boundaries=(0.42, 0.44), lr_step_factor=0.5), peak)
  np.testing.assert_allclose(_values(step, [3, 4, 9]), [0.5, 0.125, 0.125], rtol=1e-6)
  # Counted in generator steps when the user takes several updates per step.
  plain = schedules.make(_config(lr_schedule="cosine"), peak)
  per_update = schedules.make(_config(lr_schedule="cosine"), peak, updates_per_step=3)
  np.testing.assert_allclose(_values(per_update, [0, 2, 3, 150, 152, 300]),
                             _values(plain, [0, 0, 1, 50, 50, 100]))


def _sgd_updates(tx, count):
  """The update of ``tx`` for a gradient of ones after ``count`` updates."""
  params = {"w": jnp.zeros(2)}
  state = tx.init(params)
  for _ in range(count + 1):
    updates, state = tx.update({"w": jnp.ones(2)}, state, params)
  return float(-updates["w"][0])


def test_config_schedule_reaches_the_optax_optimizers():
  config = _config(optimizer="sgd", lr_schedule="step", lr_step_boundaries=(0.5,),
                   lr_step_factor=0.1, num_steps=4, g_learning_rate=0.2, d_learning_rate=0.3,
                   d_steps_per_g_step=2)
  g_tx, d_tx = optimizers.for_player(config, "g"), optimizers.for_player(config, "d")
  np.testing.assert_allclose([_sgd_updates(g_tx, t) for t in range(4)],
                             [0.2, 0.2, 0.02, 0.02], rtol=1e-6)
  # D's optax state counts two updates per generator step.
  np.testing.assert_allclose([_sgd_updates(d_tx, t) for t in range(6)],
                             [0.3, 0.3, 0.3, 0.3, 0.03, 0.03], rtol=1e-6)
  constant = _config(optimizer="sgd", g_learning_rate=0.2)
  assert _sgd_updates(optimizers.for_player(constant, "g"), 3) == pytest.approx(0.2)


def test_config_schedule_reaches_the_game_optimizer():
  config = _config(game_optimizer="simultaneous_gda", lr_schedule="step",
                   lr_step_boundaries=(0.5,), lr_step_factor=0.1, num_steps=4, steps_per_call=1)
  config.game_hparams.lr_x = 0.2  # lr_y keeps its default, 1e-2, and is scheduled too.
  config_lib.validate(config)
  opt = families.game_optimizer(config)
  x, y = jnp.zeros(2), jnp.zeros(3)
  state = opt.init(x, y)
  moves = []
  for _ in range(4):
    new_x, new_y, state, _ = opt.step(lambda a, b: jnp.sum(a), lambda a, b: jnp.sum(b), x, y,
                                      state)
    moves.append((float(x[0] - new_x[0]), float(y[0] - new_y[0])))
    x, y = new_x, new_y
  np.testing.assert_allclose(moves, [(0.2, 0.01)] * 2 + [(0.02, 0.001)] * 2, rtol=1e-6)


def test_config_schedule_reaches_lookahead_inner_and_defaults():
  config = _config(game_optimizer="lookahead", lr_schedule="cosine")
  config.game_hparams.inner = "cgd"
  config.game_hparams.inner_hparams = {"cg_max_iters": 3}
  hparams = schedules.game_hparams(config)
  inner = hparams["inner_hparams"]
  assert inner["cg_max_iters"] == 3 and callable(inner["lr"])
  assert float(inner["lr"](0)) == pytest.approx(games.defaults("cgd")["lr"])
  assert float(inner["lr"](100)) == pytest.approx(0.0, abs=1e-12)
  config = _config(game_optimizer="unrolled", lr_schedule="cosine")
  hparams = schedules.game_hparams(config)
  assert set(hparams) == {"lr_x", "lr_y"}  # unroll_lr=None follows lr_y's schedule.
  # The train state of a scheduled game optimizer counts its steps.
  config = _config(game_optimizer="cgd", lr_schedule="cosine", hidden_dims=(8,), latent_dim=4)
  _, _, state = train.build(config, (28, 28, 1))
  assert isinstance(state.game, base.ScheduleState)


def test_a_registered_schedule_is_selectable(monkeypatch):
  # pylint: disable=protected-access
  monkeypatch.setattr(schedules._REGISTRY, "_entries", dict(schedules._REGISTRY._entries))
  schedules.register("halving", lambda config, peak: optax.exponential_decay(
      peak, config.num_steps // 2, 0.5))
  config = _config(lr_schedule="halving")
  config_lib.validate(config)
  np.testing.assert_allclose(_values(schedules.make(config, 1.0), [0, 50, 100]), [1, 0.5, 0.25],
                             rtol=1e-6)
  with pytest.raises(ValueError, match="unknown learning-rate schedule 'linear'"):
    schedules.make(_config(lr_schedule="linear"), 1.0)


@pytest.mark.parametrize("name", schedules.names())
def test_every_schedule_validates(name):
  config_lib.validate(_config(lr_schedule=name, lr_warmup_steps=10))


def test_schedule_keys_are_not_resumable():
  keys = {"lr_schedule", "lr_warmup_steps", "lr_final_fraction", "lr_step_boundaries",
          "lr_step_factor"}
  assert keys <= set(config_lib.known_keys())
  assert not keys & config_lib.RESUMABLE_KEYS


# Checked by tests/test_config_zoo.py with the other keys' bad values.
BAD_SCHEDULES = [
    ({"lr_schedule": "linear"}, "config.lr_schedule='linear' is not allowed; it must be one of "
                                "constant, cosine, step, warmup_cosine"),
    ({"lr_warmup_steps": -1},
     "config.lr_warmup_steps=-1 is not allowed; it must be an integer >= 0"),
    ({"lr_final_fraction": 1.5}, "config.lr_final_fraction=1.5 is not allowed; it must be a number "
                                 "in [0, 1]"),
    ({"lr_final_fraction": -0.1}, "config.lr_final_fraction=-0.1 is not allowed"),
    ({"lr_step_boundaries": (0.75, 0.5)}, "config.lr_step_boundaries=(0.75, 0.5) is not allowed; "
                                          "it must be an increasing tuple of numbers in (0, 1)"),
    ({"lr_step_boundaries": (0.0,)}, "config.lr_step_boundaries=(0.0,) is not allowed"),
    ({"lr_step_boundaries": (0.5, 1.0)}, "config.lr_step_boundaries=(0.5, 1.0) is not allowed"),
    ({"lr_step_boundaries": (True,)}, "config.lr_step_boundaries=(True,) is not allowed"),
    ({"lr_step_factor": 0.0}, "config.lr_step_factor=0.0 is not allowed; it must be a number > 0"),
    ({"lr_step_factor": float("nan")}, "config.lr_step_factor=nan is not allowed"),
]


def test_a_scheduled_run_cannot_be_extended_to_another_length(tiny_config, tmp_path):
  # The schedule's curve spans num_steps: a longer run would have had other rates.
  tiny_config.lr_schedule = "cosine"
  tiny_config.num_steps = 10
  tiny_config.eval_every = 0
  train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
  tiny_config.num_steps = 20
  with pytest.raises(UserError, match="num_steps: 10 there, 20 now"):
    train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  after = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
  assert after == before
  assert "num_steps" not in config_lib.resumable_keys(tiny_config.to_dict())
  assert "num_steps" in config_lib.resumable_keys({"lr_schedule": "constant"})
