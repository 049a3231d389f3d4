"""The exceptions entry points turn into one line, and the 'did you mean' of their messages."""


class UserError(Exception):
  """A problem with what the user asked for, not a bug in gan_jax.

  Entry points print it as a single ``error: ...`` line and exit non-zero,
  without a traceback. The message says what is wrong and what is allowed.
  """


class NonFiniteError(Exception):
  """Training produced a non-finite loss or gradient at ``step``; the message names it."""

  def __init__(self, message: str, step: int):
    super().__init__(message)
    self.step = step


class Interrupted(Exception):
  """SIGINT or SIGTERM stopped training after a checkpoint was saved."""

  def __init__(self, signum: int, step: int):
    super().__init__(f"stopped by signal {signum} at step {step}; checkpoint saved, "
                     "re-run the same command to resume")
    self.signum = signum
    self.step = step


def did_you_mean(name: str, known) -> str:
  """`` (did you mean 'x'?)`` for the closest of ``known`` to ``name`` (difflib), else ''."""
  import difflib  # pylint: disable=g-import-not-at-top
  close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
  return f" (did you mean {close[0]!r}?)" if close else ""
