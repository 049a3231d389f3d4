"""A finished (or stopped) run read back: its config and a chosen checkpoint.

Shared by ``experiments.evaluate`` and ``experiments.sample`` (no flags here,
so both can import it).
"""

import os
from typing import Optional


def load_config(workdir: str):
  """The run's config: config.json over the defaults; and the keys taken from the defaults."""
  import ml_collections
  from experiments.configs import default
  from gan_jax import config as config_lib
  from gan_jax.errors import UserError

  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise UserError(f"workdir {workdir!r} has no config.json; is it a run directory?")
  saved = config_lib.read_saved(path)
  merged = default.get_config().to_dict()
  from_defaults = sorted(set(merged) - set(saved))
  merged.update(saved)
  return ml_collections.ConfigDict(merged), from_defaults


def load_run(workdir: str, choice, overrides: Optional[dict] = None):
  """A run's config, its keys from the defaults, data, modules and chosen checkpoint.

  Args:
    workdir: the run directory.
    choice: ``gan_jax.checkpoint.parse_choice``'s value ('latest', 'best' or a step).
    overrides: config keys to set (those whose value is not None) before the
      config is checked, e.g. evaluation settings.

  Returns:
    ``(config, from_defaults, dataset, generator, discriminator, state)``.

  Raises:
    UserError: a missing or unreadable workdir, config.json or checkpoint, or
      a module of config.imports that fails to import.
  """
  from gan_jax.errors import UserError

  # The checks that need no JAX first, so a bad workdir fails fast.
  if not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} does not exist or is not a directory")
  config, from_defaults = load_config(workdir)
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(ckpt_dir) or not any(d.isdigit() for d in os.listdir(ckpt_dir)):
    raise UserError(f"workdir {workdir!r} has no checkpoint to evaluate or sample from")
  # The run's config.imports register its own names before the config is checked.
  from gan_jax import registry
  registry.import_modules(config.imports)
  for key, value in (overrides or {}).items():
    if value is not None:
      config[key] = value
  return (config, from_defaults, *_restore_run(workdir, config, choice))


def _restore_run(workdir: str, config, choice):
  """(dataset, generator, discriminator, state) of the checkpoint ``choice``."""
  from gan_jax import checkpoint, config as config_lib, data, train
  from gan_jax.errors import UserError

  config_lib.validate(config, 1)  # Device count is a training matter.
  dataset = data.for_config(config)
  generator, discriminator, template = train.build(config, dataset.image_shape)
  try:
    # The checkpoint's stored config must match config.json (a hand edit would
    # evaluate another model's settings).
    state = checkpoint.restore_choice(workdir, choice, template,
                                      config_lib.fingerprinted(config))
  except (ValueError, KeyError, TypeError, FileNotFoundError) as e:
    raise UserError(f"cannot restore the {choice} checkpoint of {workdir!r} with its "
                    f"config.json ({type(e).__name__}: "
                    f"{str(e).splitlines()[0] if str(e) else ''})") from None
  return dataset, generator, discriminator, state
