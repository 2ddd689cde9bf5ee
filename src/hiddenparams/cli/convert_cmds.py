"""`hiddenparams convert`: flags -> `ConvertConfig` -> `convert.run` (canonical rows -> TRL prompt-completion rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..config import load_config
from ..data.convert import ConvertConfig, run
from .app import JsonOpt, app, console, emit_json
from .options import config_options


@app.command()
@config_options(ConvertConfig)
def convert(
    overrides: dict[str, Any],
    src: Path = typer.Argument(..., help="Folder with train.jsonl (and validation.jsonl, test.jsonl) from `split`."),
    as_json: bool = JsonOpt,
) -> None:
    """Write {prompt, completion} rows for TRL: the system + user prompt, and the strict JSON as the completion."""
    result = run(load_config(None, {**overrides, "src": str(src)}, cls=ConvertConfig))
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if as_json:
        emit_json(result.to_json())
        return
    console.print(f"converted {', '.join(f'{k}={v}' for k, v in result.rows.items())} -> {result.out}", highlight=False)
