"""The one exception type for bad user input (configs, data files, workdirs)."""


class UserError(Exception):
  """A problem with what the user asked for, not a bug in gan_jax.

  Entry points print it as a single ``error: ...`` line and exit non-zero,
  without a traceback. The message says what is wrong and what is allowed.
  """


class NonFiniteError(Exception):
  """Training produced a non-finite loss or gradient; the message names the step."""


class Interrupted(Exception):
  """SIGINT or SIGTERM stopped training after a checkpoint was saved."""

  def __init__(self, signum: int, step: int):
    super().__init__(f"stopped by signal {signum} at step {step}; checkpoint saved, "
                     "re-run the same command to resume")
    self.signum = signum
    self.step = step
