"""`hiddenparams split` and `hiddenparams check-splits`: thin wrappers over `hiddenparams.split`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..records import SPLITS, InputError, read_input
from ..split import CheckConfig, NearDupConfig, SplitConfig, check_splits, split_records, write_split
from .app import JsonOpt, app, console, emit_json, fail

ThresholdOpt = typer.Option(
    0.8, "--threshold", help="Near-duplicate threshold: MinHash Jaccard estimate of 5-gram sets."
)

# Exit codes of check-splits: 1 = the splits should be rebuilt, 2 = they could not be read at all.
EXIT_REBUILD = 1
EXIT_INPUT = 2


def _output_paths(out: Path) -> set[Path]:
    return {(out / f"{name}.jsonl").resolve() for name in (*SPLITS, "rejected")}


@app.command()
def split(
    input_path: Path = typer.Argument(
        ..., metavar="INPUT", help="JSONL, CSV or Parquet file, or a folder of train/validation/test files to re-split."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for train/validation/test/rejected.jsonl and the reports."),
    val_frac: float = typer.Option(0.1, "--val-frac", help="Share of rows for validation."),
    test_frac: float = typer.Option(0.1, "--test-frac", help="Share of rows for test."),
    seed: int = typer.Option(0, "--seed", help="Seed of the group order; the same seed gives the same split."),
    threshold: float = ThresholdOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Validate, deduplicate and split labelled requests; near-duplicates never cross splits.

    Every input record lands in exactly one of train/validation/test/rejected.jsonl; split_report.json (+ .md)
    gives counts per reject reason, sizes, label histograms, the largest divergence and the leakage count (0).
    """
    try:
        cfg = SplitConfig(val_frac=val_frac, test_frac=test_frac, seed=seed, near=NearDupConfig(threshold=threshold))
    except ValueError as exc:
        fail(str(exc))
    if input_path.exists() and (input_path.resolve() == out.resolve() or input_path.resolve() in _output_paths(out)):
        fail(f"--out {out} would overwrite the input {input_path}; write the new splits to another folder")
    try:
        with console.status(f"reading {input_path}") as status:
            read = read_input(input_path)
            result = split_records(read, cfg, on_phase=lambda phase: status.update(f"split: {phase}"))
            status.update(f"writing {out}")
            paths = write_split(result, out)
    except (InputError, OSError) as exc:
        fail(str(exc))
    report = result.report
    if as_json:
        emit_json({"out": str(out), "files": {k: str(v) for k, v in paths.items()}, "report": report})
    else:
        _print_split_summary(report, out)
    if report["leakage"]["total"]:
        fail(f"{report['leakage']['total']} cross-split leaks after assignment; the splits in {out} are not usable")
    if not any(report["counts"][name] for name in SPLITS):
        fail(f"no valid record in {input_path}: all {report['counts']['input_records']} are in {paths['rejected']}")


def _print_split_summary(report: dict[str, Any], out: Path) -> None:
    counts = report["counts"]
    table = Table(title=f"split -> {out}", show_header=True)
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name in (*SPLITS, "rejected"):
        table.add_row(f"{name}.jsonl", str(counts[name]))
    table.add_row("input records", str(counts["input_records"]), style="bold")
    console.print(table)
    if report["rejected_by_reason"]:
        console.print("rejected: " + ", ".join(f"{k} {v}" for k, v in report["rejected_by_reason"].items()))
    div = report["divergence"]
    if div["max_tvd"] is not None:
        console.print(f"largest label divergence: {div['max_tvd']} ({div['key']}, {' vs '.join(div['splits'])})")
    nd = report["near_duplicates"]
    console.print(
        f"near-duplicate groups: {nd['groups']} (largest {nd['largest_group']}); leakage: {report['leakage']['total']}"
    )
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"report: {out / 'split_report.md'}")


@app.command("check-splits")
def check_splits_cmd(
    directory: Path = typer.Argument(
        ..., metavar="DIR", help="Folder with train/validation/test (JSONL, CSV or Parquet)."
    ),
    threshold: float = ThresholdOpt,
    min_eval_rows: int = typer.Option(50, "--min-eval-rows", help="Smallest acceptable validation/test size."),
    max_drift: float | None = typer.Option(
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
    try:
        cfg = CheckConfig(near=NearDupConfig(threshold=threshold), min_eval_rows=min_eval_rows, max_drift=max_drift)
        with console.status(f"checking {directory}") as status:
            result = check_splits(directory, cfg, on_phase=lambda phase: status.update(f"check-splits: {phase}"))
    except (InputError, ValueError) as exc:
        fail(str(exc), EXIT_INPUT)
    hint = f"hiddenparams split {directory} --out NEW_DIR"
    if as_json:
        emit_json(result.report | {"rebuild_command": hint if result.rebuild else None})
    elif result.rebuild:
        console.print(f"[bold red]REBUILD[/]: the splits in {directory} have problems:", highlight=False)
        for reason in result.reasons:
            console.print(f"  - {reason}", highlight=False)
        console.print(f"Rebuild them from their union with: {hint}", highlight=False)
    else:
        sizes = ", ".join(f"{k} {v['rows']}" for k, v in result.report["splits"].items())
        div = result.report["divergence"]
        console.print(
            f"[bold green]OK[/]: {directory}: {sizes}; no invalid rows, duplicates or leakage; "
            f"largest label divergence {div['max_tvd']}",
            highlight=False,
        )
    if result.rebuild:
        raise typer.Exit(EXIT_REBUILD)
