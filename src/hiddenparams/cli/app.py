"""The Typer app and what every command shares: one error handler, JSON output, the stderr console.

Commands raise; they do not catch. `HiddenParamsError` (and the OS errors a user causes by naming a wrong path)
end as one `error: ...` line and the exception's exit code. Anything else is a bug in hiddenparams and says so in
one line. A traceback only with `hiddenparams --debug ...` or HIDDENPARAMS_DEBUG=1.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup, TyperOption
from typer.exceptions import Abort, Exit, TyperException

from ..errors import HiddenParamsError
from ..redact import redact

DEBUG_ENV = "HIDDENPARAMS_DEBUG"
EXIT_BUG = 70  # sysexits.h EX_SOFTWARE: not the user's fault, unlike the 1 (or the error's own code) of a user error

# OS errors that mean "you named the wrong path", with what to do about each.
_PATH_ERRORS: dict[type[OSError], str] = {
    FileNotFoundError: "check the path",
    IsADirectoryError: "name a file, not a folder",
    NotADirectoryError: "name a folder, not a file",
    FileExistsError: "choose another path, or move the existing one away",
    PermissionError: "check the permissions of the path or choose another one",
}

_argv: list[str] = []  # this invocation's arguments, as given (`invoked_args`)

# Rich renders to stderr; when it is not a terminal (CI, a log file, a pipe) lines must not be hard-wrapped at
# rich's default of 80 columns, so the width is only imposed on a real terminal.
console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())


class _Group(TyperGroup):
    """Runs every command inside the one error handler, and shows boolean flags without a `<bool>` value."""

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_flags(*command.params, command.get_help_option(ctx))
        return command

    def get_help_option(self, ctx: typer.Context) -> Any:
        option = super().get_help_option(ctx)
        _plain_flags(*self.params, option)
        return option

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        _argv[:] = args  # before parsing consumes them: `--smoke` prints the command line of the real run
        return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (Exit, Abort, TyperException):
            raise
        except BrokenPipeError:
            # The reader of stdout went away (`| head`): nothing to report, and nothing more can be written.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter flushes it at exit
            raise Exit(1) from None
        except HiddenParamsError as exc:
            _exit_with(str(exc), getattr(exc, "hint", None), exc.exit_code, ctx)
        except tuple(_PATH_ERRORS) as exc:
            # An OSError raised by the OS names its path; one raised by code with a message says it all.
            message = f"{exc.filename}: {(exc.strerror or '').lower()}" if exc.filename is not None else str(exc)
            _exit_with(message, _PATH_ERRORS[type(exc)], 1, ctx)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a bug, shown as one
            first_line = next(iter(str(exc).splitlines()), "")
            what = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
            _exit_with(
                f"internal error ({what})",
                "rerun as `hiddenparams --debug ...` and report it with the traceback",
                EXIT_BUG,
                ctx,
            )


def _plain_flags(*params: Any) -> None:
    """`--wait`, not `--wait <bool>`: a flag takes no value, so its help shows none."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag:
            param.metavar = ""


def _debug(ctx: typer.Context) -> bool:
    return bool(ctx.meta.get("debug")) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _exit_with(message: str, hint: str | None, code: int, ctx: typer.Context) -> NoReturn:
    if _debug(ctx):
        traceback.print_exc(file=sys.stderr)
    _print_error(message)
    if hint:
        console.print(f"  hint: {redact(hint)}", highlight=False, markup=False, soft_wrap=True)
    raise Exit(code or 1)


def _print_error(message: str) -> None:
    # The message is data (paths, model outputs), never markup: "[b]" must print as written. Any error may quote
    # what a library said, and a library may quote a token: every error goes out redacted.
    console.print(Text.assemble(("error:", "bold red"), " ", redact(message)), highlight=False, soft_wrap=True)


def invoked_args() -> list[str]:
    """The arguments this invocation of the CLI was given, after the program name."""
    return list(_argv)


def say(line: str) -> None:
    """A line for the person at the terminal (stderr), printed as written: paths and outputs are not markup."""
    console.print(line, highlight=False, markup=False)


app = typer.Typer(
    name="hiddenparams",
    cls=_Group,
    help="Fine-tune a small LLM to turn music requests into six hidden parameters as strict JSON, and prove it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help=f"Show the Python traceback of an error (or {DEBUG_ENV}=1)."),
) -> None:
    ctx.meta["debug"] = debug


JsonOpt = typer.Option(False, "--json", help="Print the result as JSON on stdout (for scripting).")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a friendly error and exit non-zero, for checks the CLI itself makes (library code raises)."""
    _print_error(message)
    raise typer.Exit(code)
