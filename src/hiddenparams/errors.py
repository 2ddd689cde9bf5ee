"""The one base class of every error a user can cause (bad file, bad config, missing model, refused job...).

The library raises a subclass with a message that says what was wrong, where (file, line, field) and what to do;
the CLI has one handler that prints it and exits non-zero (a traceback only with `--debug`). Anything else that
escapes is a bug in hiddenparams, and is shown as one.
"""

from __future__ import annotations

from .redact import redact


class HiddenParamsError(Exception):
    """A user-facing error. `exit_code` is what the CLI exits with (1 unless a subclass says otherwise)."""

    exit_code: int = 1


class JobError(HiddenParamsError, RuntimeError):
    """A job could not be submitted, found or controlled, or the Hub refused a request. The message says what to do
    and never holds a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))
