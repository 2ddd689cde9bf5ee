"""`hiddenparams make-sample`: write the synthetic sample dataset (docs/SAMPLE_DATA.md) as canonical JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..data.sample import generate_rows
from ..files import atomic_file
from .app import JsonOpt, app, console, emit_json, fail

# Rows are serialised and written in blocks so the progress bar costs nothing per row.
_BLOCK = 20_000


@app.command("make-sample")
def make_sample(
    out: Path = typer.Option(..., "--out", help="JSONL file to write; parent folders are created."),
    n: int = typer.Option(5000, "--n", min=1, help="Number of rows."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same --n and --seed always give the same file."),
    json_output: bool = JsonOpt,
) -> None:
    """Generate synthetic music requests labelled by a documented latent model (see docs/SAMPLE_DATA.md).

    Writes canonical rows {"id", "request_text", "hidden_params"}, one JSON object per line, UTF-8.
    The shipped data/sample/train.jsonl is `make-sample --out data/sample/train.jsonl --n 5000 --seed 0`.
    """
    with console.status(f"Generating {n:,} requests (seed {seed})"):
        rows = generate_rows(n, seed)
    try:
        columns = (TextColumn("Writing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        # A crash mid-write must not leave a truncated file that looks like a finished dataset.
        with Progress(*columns, console=console, transient=True) as progress, atomic_file(out) as fh:
            task = progress.add_task("write", total=n)
            for start in range(0, n, _BLOCK):
                block = rows[start : start + _BLOCK]
                fh.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in block))
                progress.advance(task, len(block))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}. Check the path and its permissions.")
    if json_output:
        emit_json({"out": str(out), "rows": n, "seed": seed})
    else:
        console.print(f"Wrote {n:,} synthetic rows to {out} (seed {seed}).", highlight=False)
