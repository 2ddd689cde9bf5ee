"""`hiddenparams convert`: canonical split files -> TRL prompt-completion rows."""

from __future__ import annotations

from pathlib import Path

import typer

from ..convert import DataError, convert_dir
from .app import JsonOpt, app, console, emit_json, fail


@app.command()
def convert(
    src: Path = typer.Argument(..., help="Folder with train.jsonl (and validation.jsonl, test.jsonl) from `split`."),
    out: Path = typer.Option(..., "--out", help="Folder for the {prompt, completion} files."),
    as_json: bool = JsonOpt,
) -> None:
    """Write {prompt, completion} rows for TRL: the system + user prompt, and the strict JSON as the completion."""
    try:
        counts = convert_dir(src, out)
    except DataError as exc:
        fail(str(exc))
    if as_json:
        emit_json({"out": str(out), "rows": counts})
    else:
        console.print(f"converted {', '.join(f'{k}={v}' for k, v in counts.items())} -> {out}")
