"""`hiddenparams split` and `hiddenparams check-splits`: flags -> `SplitConfig` / `CheckConfig` -> the stage's `run`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..config import load_config, parse_overrides
from ..rows import SPLITS, DataError
from ..split import SplitConfig, run
from ..split_report import SplitReport
from ..split_checks import MIN_EVAL_ROWS, CheckConfig, check_splits
from .app import JsonOpt, app, console, emit_json, fail

ThresholdOpt = typer.Option(
    None, "--threshold", help="Near-duplicate threshold: MinHash Jaccard estimate of 5-gram sets [default: 0.8]."
)

# Exit codes of check-splits: 1 = the splits should be rebuilt, 2 = they could not be read at all.
EXIT_REBUILD = 1
EXIT_INPUT = 2


@app.command()
def split(
    input_path: Path = typer.Argument(
        ..., metavar="INPUT", help="JSONL, CSV or Parquet file, or a folder of train/validation/test files to re-split."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for train/validation/test/rejected.jsonl and the reports."),
    val_frac: Optional[float] = typer.Option(None, "--val-frac", help="Share of rows for validation [default: 0.1]."),
    test_frac: Optional[float] = typer.Option(None, "--test-frac", help="Share of rows for test [default: 0.1]."),
    seed: Optional[int] = typer.Option(
        None, "--seed", help="Seed of the group order; the same seed gives the same split [default: 0]."
    ),
    threshold: Optional[float] = ThresholdOpt,
    allow_small: bool = typer.Option(
        False,
        "--allow-small",
        help=f"Write splits even when validation or test get fewer than {MIN_EVAL_ROWS} rows (or their labels drift); "
        "check-splits will still ask to rebuild them.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the files of a non-empty --out folder."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of SplitConfig fields."),
    overrides: list[str] = typer.Option([], "--set", help="Override any SplitConfig field, e.g. --set ngram=4."),
    as_json: bool = JsonOpt,
) -> None:
    """Validate, deduplicate and split labelled requests; near-duplicates never cross splits.

    Every input record lands in exactly one of train/validation/test/rejected.jsonl; split_report.json (+ .md)
    gives counts per reject reason, sizes, label histograms, the largest divergence and the leakage count (0).
    Splits too small to measure are refused (see --allow-small); the folder is written whole or not at all.
    """
    flags = {"input": str(input_path), "out": str(out), "val_frac": val_frac, "test_frac": test_frac, "seed": seed,
             "threshold": threshold, "allow_small": allow_small or None, "overwrite": overwrite or None}  # fmt: skip
    cfg = load_config(config, {**parse_overrides(overrides), **flags}, cls=SplitConfig)
    with console.status(f"reading {input_path}") as status:
        result = run(cfg, on_phase=lambda phase: status.update(f"split: {phase}"))
    if as_json:
        emit_json(result.to_json())
        for warning in result.report.warnings:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    else:
        _print_split_summary(result.report, out)


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
def check_splits_cmd(
    directory: Path = typer.Argument(
        ..., metavar="DIR", help="Folder with train/validation/test (JSONL, CSV or Parquet)."
    ),
    threshold: Optional[float] = ThresholdOpt,
    min_eval_rows: Optional[int] = typer.Option(
        None,
        "--min-eval-rows",
        help=f"Smallest acceptable validation/test size [default: {MIN_EVAL_ROWS}, the minimum split applies].",
    ),
    max_drift: Optional[float] = typer.Option(
        None,
        "--max-drift",
        help="Largest acceptable total-variation distance of a key's labels between two splits "
        "(default: max(0.10, 2.5*sqrt(1/n_a + 1/n_b)), about twice what random splits of those sizes show).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Judge existing splits: invalid rows, duplicates, near-duplicate leakage, sizes and label drift.

    Exits 1 when they should be rebuilt (with `hiddenparams split DIR --out NEW`), 2 when they cannot be read.
    """
    flags = {"directory": str(directory), "threshold": threshold, "min_eval_rows": min_eval_rows,
             "max_drift": max_drift}  # fmt: skip
    cfg = load_config(None, flags, cls=CheckConfig)
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
