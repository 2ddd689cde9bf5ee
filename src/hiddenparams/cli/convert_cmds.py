"""`hiddenparams convert`: flags -> `ConvertConfig` -> `convert.run` (canonical rows -> TRL prompt-completion rows)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import load_config
from ..convert import ConvertConfig, run
from .app import JsonOpt, app, console, emit_json


@app.command()
def convert(
    src: Path = typer.Argument(..., help="Folder with train.jsonl (and validation.jsonl, test.jsonl) from `split`."),
    out: Path = typer.Option(..., "--out", help="Folder for the {prompt, completion} files and manifest.json."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the files of a non-empty --out folder."),
    as_json: bool = JsonOpt,
) -> None:
    """Write {prompt, completion} rows for TRL: the system + user prompt, and the strict JSON as the completion."""
    result = run(load_config(None, {"src": str(src), "out": str(out), "overwrite": overwrite}, cls=ConvertConfig))
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if as_json:
        emit_json(result.to_json())
        return
    console.print(f"converted {', '.join(f'{k}={v}' for k, v in result.rows.items())} -> {out}", highlight=False)
