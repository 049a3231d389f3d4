"""The Dirac-GAN findings of Mescheder, Geiger & Nowozin 2018 (arXiv 1801.04406).

Data at 0, G = theta, D(x) = psi * x, equilibrium (0, 0) (``gan_jax.dirac``).
Every run starts at (theta, psi) = (1, 1) with step size 0.3 unless stated.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import dirac_gan as study
from gan_jax import dirac
from gan_jax import games

LR = 0.3


def _gd(name, lr=LR):
  return games.get(name, lr_x=lr, lr_y=lr)


def _fprime(t):
  """f'(t) for f(t) = log sigmoid(t) = -log(1 + exp(-t)): 1 / (1 + exp(t))."""
  return 1.0 / (1.0 + np.exp(t))


# ----------------------------------------------------------------------------
# The losses.


@pytest.mark.parametrize("loss,regularizer,g_value,d_value", [
    ("minimax", None, -np.log(4.0), np.log(4.0)),       # V = 2 log(1/2)
    ("non_saturating", None, np.log(2.0), np.log(4.0)),  # -log D(G) = log 2
    ("wasserstein", None, 0.0, 0.0),
    ("non_saturating", "r1", np.log(2.0), np.log(4.0)),  # R1 = psi^2 / 2 = 0
    ("wasserstein", "gp", 0.0, 1.0),                     # (|psi| - 1)^2 = 1
])
def test_equilibrium_values_and_zero_gradients(loss, regularizer, g_value, d_value):
  game = dirac.dirac_game(loss, regularizer, 1.0 if regularizer else 0.0)
  zero = jnp.zeros(())
  np.testing.assert_allclose(game.loss_g(zero, zero), g_value, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(game.loss_d(zero, zero), d_value, rtol=1e-6, atol=1e-5)
  # (0, 0) is a stationary point of the game (Lemma 2.2).
  np.testing.assert_allclose(dirac.vector_field(game, zero, zero), [0.0, 0.0], atol=1e-6)


def _closed_form(loss, regularizer, weight, theta, psi):
  """(dL_G/dtheta, dL_D/dpsi) in numpy, library convention V(-psi, theta)."""
  if loss == "minimax":      # L_G = f(0) + f(-psi theta), L_D = -L_G
    g, d = -psi * _fprime(-psi * theta), theta * _fprime(-psi * theta)
  elif loss == "non_saturating":  # L_G = -f(psi theta)
    g, d = -psi * _fprime(psi * theta), theta * _fprime(-psi * theta)
  else:                      # L_G = -psi theta, L_D = psi theta
    g, d = -psi, theta
  if regularizer == "r1":    # weight * psi^2 / 2
    d = d + weight * psi
  elif regularizer == "gp":  # weight * (|psi| - 1)^2
    d = d + 2.0 * weight * (np.abs(psi) - 1.0) * np.sign(psi)
  return g, d


@pytest.mark.parametrize("loss,regularizer", [
    ("minimax", None), ("non_saturating", None), ("wasserstein", None),
    ("non_saturating", "r1"), ("wasserstein", "gp")])
def test_gradients_match_closed_form_under_jit(loss, regularizer):
  game = dirac.dirac_game(loss, regularizer, 0.7 if regularizer else 0.0)
  grads = jax.jit(jax.vmap(lambda t, p: (jax.grad(game.loss_g, 0)(t, p),
                                         jax.grad(game.loss_d, 1)(t, p))))
  rng = np.random.default_rng(0)
  theta = rng.uniform(-2, 2, 16).astype(np.float32)
  psi = rng.uniform(-2, 2, 16).astype(np.float32)
  got_g, got_d = grads(theta, psi)
  want_g, want_d = _closed_form(loss, regularizer, 0.7, theta.astype(np.float64),
                                psi.astype(np.float64))
  np.testing.assert_allclose(got_g, want_g, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got_d, want_d, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("loss", ["minimax", "non_saturating"])
def test_unregularized_jacobian_is_purely_imaginary(loss):
  # Lemma 2.2: eigenvalues +-f'(0) i = +-i/2 at the equilibrium.
  game = dirac.dirac_game(loss)
  jac = jax.jacfwd(lambda z: dirac.vector_field(game, z[0], z[1]))(jnp.zeros(2))
  eig = np.linalg.eigvals(np.asarray(jac, np.float64))
  np.testing.assert_allclose(np.sort(eig.imag), [-0.5, 0.5], atol=1e-6)
  np.testing.assert_allclose(eig.real, 0.0, atol=1e-6)


def test_r1_jacobian_has_negative_real_part():
  # Section 3 / Theorem 4.1: with R1 of weight gamma the eigenvalues are
  # -gamma/2 +- sqrt(gamma^2/4 - f'(0)^2).
  gamma = 0.6
  game = dirac.dirac_game("minimax", "r1", gamma)
  jac = jax.jacfwd(lambda z: dirac.vector_field(game, z[0], z[1]))(jnp.zeros(2))
  eig = np.linalg.eigvals(np.asarray(jac, np.float64))
  want = -gamma / 2 + np.array([-1, 1]) * np.sqrt(complex(gamma ** 2 / 4 - 0.25))
  np.testing.assert_allclose(np.sort_complex(eig), np.sort_complex(want), atol=1e-6)


# ----------------------------------------------------------------------------
# The classifier.


def test_classify_rules():
  t = np.linspace(0, 20 * np.pi, 1000)
  circle = np.stack([np.cos(t), np.sin(t)], 1)
  assert dirac.classify(circle) == "cycles"
  assert dirac.classify(circle * np.exp(-t / 5)[:, None]) == "converges"
  assert dirac.classify(circle * np.exp(t / 20)[:, None]) == "diverges"
  blown = circle.copy()
  blown[-1] = np.nan
  assert dirac.classify(blown) == "diverges"
  # Passing through the origin once at the end is not convergence.
  touch = circle.copy()
  touch[-1] = 0.0
  assert dirac.classify(touch) == "cycles"
  # A halt away from the equilibrium is not convergence either.
  assert dirac.classify(np.ones((50, 2))) == "cycles"


# ----------------------------------------------------------------------------
# The paper's findings, section 2-3.


def test_simultaneous_gd_diverges_on_standard_gan():
  # Lemma 2.3: for the zero-sum V every simultaneous step moves away from the
  # equilibrium (||z'||^2 = ||z||^2 + lr^2 ||v||^2).
  traj = dirac.simulate(dirac.dirac_game("minimax"), _gd("simultaneous_gda"), 1.0, 1.0, 200)
  d = dirac.distances(traj)
  assert np.all(np.diff(d) >= 0)
  assert dirac.classify(traj) == "diverges"


def test_simultaneous_gd_is_locally_unstable_on_non_saturating_gan():
  # From near the equilibrium the iterates spiral out (Lemma 2.3) until the
  # non-saturating loss's damping balances the expansion: a limit cycle of
  # radius about sqrt(2 lr) (balance of lr^2 ||v||^2 ~ lr^2 r^2 / 4 against
  # 2 lr <z, v> ~ -lr r^4 / 8 over one turn; our derivation, not the paper's).
  traj = dirac.simulate(dirac.dirac_game("non_saturating"), _gd("simultaneous_gda"),
                        0.05, 0.05, 800)
  d = dirac.distances(traj)
  assert d[200] > 5 * d[0]
  np.testing.assert_allclose(d[-200:], np.sqrt(2 * LR), rtol=0.1)
  # Bounded, yet ten times farther out than it started: the rule's 'diverges'.
  assert dirac.classify(traj) == "diverges"


@pytest.mark.parametrize("loss", ["minimax", "wasserstein"])
def test_alternating_gd_does_not_converge(loss):
  # Lemma 2.4 (standard GAN) and section 3 (WGAN): bounded, but no closer.
  traj = dirac.simulate(dirac.dirac_game(loss), _gd("alternating_gda"), 1.0, 1.0, 500)
  d = dirac.distances(traj)
  assert dirac.classify(traj) == "cycles"
  assert d[-50:].min() > 0.8 * d[0]


def test_alternating_gd_on_non_saturating_gan_creeps_in_sublinearly():
  # No exponential rate (the linearization's eigenvalues lie on the unit
  # circle, Lemma 2.4), but the non-saturating loss damps at fourth order, so
  # the distance falls like 1 / sqrt(t): a quarter of the steps, twice as far.
  traj = dirac.simulate(dirac.dirac_game("non_saturating"), _gd("alternating_gda"),
                        1.0, 1.0, 8000)
  d = dirac.distances(traj)
  np.testing.assert_allclose(d[2000] / d[8000], 2.0, rtol=0.1)
  assert dirac.classify(traj[:2001]) == "cycles"


def test_wgan_gp_does_not_converge():
  # Section 3: WGAN-GP keeps |psi| near 1, so theta keeps moving.
  game = dirac.dirac_game("wasserstein", "gp", 1.0)
  traj = dirac.simulate(game, _gd("alternating_gda"), 1.0, 1.0, 500)
  assert dirac.classify(traj) == "cycles"
  assert dirac.distances(traj)[-50:].max() > 1.0


@pytest.mark.parametrize("kwargs", [dict(regularizer="r1", weight=1.0),
                                    dict(regularizer="r2", weight=1.0),
                                    dict(instance_noise=1.0)])
def test_regularized_alternating_gd_converges(kwargs):
  # Section 3: zero-centered gradient penalties and instance noise converge.
  game = dirac.dirac_game("minimax", **kwargs)
  traj = dirac.simulate(game, _gd("alternating_gda"), 1.0, 1.0, 300)
  assert dirac.classify(traj) == "converges"


@pytest.mark.parametrize("name,hparams", [
    ("consensus", dict(lr_x=LR, lr_y=LR, gamma=1.0)),  # section 3 (consensus)
    ("extragradient", dict(lr_x=LR, lr_y=LR)),
    ("optimistic_gda", dict(lr_x=LR, lr_y=LR)),
    ("cgd", dict(lr=LR)),
])
def test_game_optimizers_converge(name, hparams):
  traj = dirac.simulate(dirac.dirac_game("minimax"), games.get(name, **hparams), 1.0, 1.0, 500)
  assert dirac.classify(traj) == "converges"


def test_adam_first_step_moves_each_player_by_lr():
  # optax Adam's first step is lr * sign(g); alternating: G sees D's new psi.
  game = dirac.dirac_game("minimax")
  traj = np.asarray(dirac.simulate(game, dirac.adam(0.05, 0.02), 1.0, 1.0, 1))
  np.testing.assert_allclose(traj[1], [1.05, 0.98], atol=1e-6)
  traj = np.asarray(dirac.simulate(game, dirac.adam(0.03, 0.03), 1.0, 1.0, 400))
  assert dirac.classify(traj) != "converges"


# ----------------------------------------------------------------------------
# The command.


def test_command_writes_json_and_figure(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(study, "runs", lambda: [
      study.Run("alternating_gda + R1", "alternating_gda", "minimax", "r1", 1.0),
      study.Run("simultaneous_gda (minimax)", "simultaneous_gda", "minimax")])
  out = tmp_path / "out"
  assert study.main(["--out", str(out), "--steps", "200"]) == 0
  summary = json.loads((out / "dirac_gan.json").read_text())
  verdicts = {r["method"]: r["verdict"] for r in summary["runs"]}
  assert verdicts == {"alternating_gda + R1": "converges",
                      "simultaneous_gda (minimax)": "diverges"}
  assert summary["runs"][0]["hyperparameters"] == {"lr_x": 0.3, "lr_y": 0.3}
  assert summary["steps"] == 200
  assert os.path.getsize(out / "dirac_gan.png") > 10_000


def test_every_registered_optimizer_is_in_the_study():
  names = {run.optimizer for run in study.runs()}
  assert set(games.names()) | {"adam"} <= names
  for name in games.names():
    study.build_optimizer(name)  # the SETTINGS are valid hyperparameters


@pytest.mark.parametrize("argv", [["--steps", "5", "--out", "x"], ["--steps", "many", "--out", "x"],
                                  ["--steps", "100"], ["--out", "x", "--bogus"]])
def test_bad_flags_exit_2_with_one_line(argv, capsys):
  with pytest.raises(SystemExit) as e:
    study.main(argv)
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and err.count("\n") == 1


def test_out_must_be_a_directory(tmp_path, capsys):
  path = tmp_path / "file"
  path.write_text("")
  with pytest.raises(SystemExit) as e:
    study.main(["--out", str(path)])
  assert e.value.code == 2 and capsys.readouterr().err.startswith("error: ")


def test_help_exits_0(capsys):
  with pytest.raises(SystemExit) as e:
    study.main(["--help"])
  assert e.value.code == 0
  assert "--steps" in capsys.readouterr().out
