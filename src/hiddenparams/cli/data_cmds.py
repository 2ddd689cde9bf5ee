"""`hiddenparams split` and `hiddenparams check-splits`: flags -> `SplitConfig` / `CheckConfig` -> the stage's `run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from ..config import load_config, parse_overrides
from ..data.rows import SPLITS, DataError
from ..data.split import SplitConfig, run
from ..data.split_checks import CheckConfig, check_splits
from ..data.split_report import SplitReport
from .app import JsonOpt, app, console, emit_json, fail
from .options import config_options

# Exit codes of check-splits: 1 = the splits should be rebuilt, 2 = they could not be read at all.
EXIT_REBUILD = 1
EXIT_INPUT = 2


@app.command()
@config_options(SplitConfig)
def split(
    overrides: dict[str, Any],
    input_path: Path = typer.Argument(
        ..., metavar="INPUT", help="JSONL, CSV or Parquet file, or a folder of train/validation/test files to re-split."
    ),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of SplitConfig fields."),
    set_values: list[str] = typer.Option([], "--set", help="Override any SplitConfig field, e.g. --set ngram=4."),
    as_json: bool = JsonOpt,
) -> None:
    """Validate, deduplicate and split labelled requests; near-duplicates never cross splits.

    Every input record lands in exactly one of train/validation/test/rejected.jsonl; split_report.json (+ .md)
    gives counts per reject reason, sizes, label histograms, the largest divergence and the leakage count (0).
    Splits too small to measure are refused (see --allow-small); the folder is written whole or not at all.
    """
    values = {**parse_overrides(set_values), **overrides, "input": str(input_path)}
    cfg = load_config(config, values, cls=SplitConfig)
    with console.status(f"reading {input_path}") as status:
        result = run(cfg, on_phase=lambda phase: status.update(f"split: {phase}"))
    if as_json:
        emit_json(result.to_json())
        for warning in result.report.warnings:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    else:
        _print_split_summary(result.report, result.out)


def _print_split_summary(report: SplitReport, out: Path) -> None:
    counts = report.counts
    table = Table(title=f"split -> {out}", show_header=True)
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name in (*SPLITS, "rejected"):
        table.add_row(f"{name}.jsonl", str(counts.of(name)))
    table.add_row("input records", str(counts.input_records), style="bold")
    console.print(table)
    if report.rejected_by_reason:
        console.print("rejected: " + ", ".join(f"{k} {v}" for k, v in report.rejected_by_reason.items()))
    if counts.coerced_integral_floats:
        console.print(f"labels written as integral floats (4.0), read as integers: {counts.coerced_integral_floats}")
    div = report.divergence
    if div.max_tvd is not None and div.splits:
        console.print(f"largest label divergence: {div.max_tvd} ({div.key}, {' vs '.join(div.splits)})")
    nd = report.near_duplicates
    console.print(f"near-duplicate groups: {nd.groups} (largest {nd.largest_group}); leakage: {report.leakage.total}")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"report: {out / 'split_report.md'}")


@app.command("check-splits")
@config_options(CheckConfig)
def check_splits_cmd(
    overrides: dict[str, Any],
    directory: Path = typer.Argument(
        ..., metavar="DIR", help="Folder with train/validation/test (JSONL, CSV or Parquet)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Judge existing splits: invalid rows, duplicates, near-duplicate leakage, sizes and label drift.

    Exits 1 when they should be rebuilt (with `hiddenparams split DIR --out NEW`), 2 when they cannot be read.
    """
    cfg = load_config(None, {**overrides, "directory": str(directory)}, cls=CheckConfig)
    try:
        with console.status(f"checking {directory}") as status:
            result = check_splits(cfg, on_phase=lambda phase: status.update(f"check-splits: {phase}"))
    except DataError as exc:  # this command's documented exit code for splits it cannot read
        fail(str(exc), EXIT_INPUT)
    hint = f"hiddenparams split {directory} --out NEW_DIR"
    if as_json:
        emit_json(result.to_json() | {"rebuild_command": hint if result.rebuild else None})
    elif result.rebuild:
        console.print(f"[bold red]REBUILD[/]: the splits in {directory} have problems:", highlight=False)
        for reason in result.reasons:
            console.print(f"  - {reason}", highlight=False)
        console.print(f"Rebuild them from their union with: {hint}", highlight=False)
    else:
        sizes = ", ".join(f"{name} {check.rows}" for name, check in result.splits.items())
        console.print(
            f"[bold green]OK[/]: {directory}: {sizes}; no invalid rows, duplicates or leakage; "
            f"largest label divergence {result.divergence.max_tvd}",
            highlight=False,
        )
    if result.rebuild:
        raise typer.Exit(EXIT_REBUILD)
