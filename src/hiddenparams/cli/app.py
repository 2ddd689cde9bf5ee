"""The Typer app and the small helpers every command shares (JSON output, friendly errors)."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    name="hiddenparams",
    help="Fine-tune a small LLM to turn music requests into six hidden parameters as strict JSON, and prove it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

console = Console(stderr=True)

JsonOpt = typer.Option(False, "--json", help="Print the result as JSON on stdout (for scripting).")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a friendly error and exit non-zero. The library raises; the CLI turns errors into exit codes."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
