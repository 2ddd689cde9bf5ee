"""`hiddenparams score`: score generations made elsewhere under the strict rules, with baselines and a report."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import typer

from ..rows import DataError, read_rows
from ..report import render_eval_report
from ..score import read_predictions, representative_failures
from ..score import score as score_rows
from .app import JsonOpt, app, console, emit_json, fail

TrainSplitOpt = typer.Option(
    None, "--train", help="Train split for the baselines (default: train.jsonl beside --data)."
)


@app.command()
def score(
    data: Path = typer.Option(..., "--data", help="Canonical rows (split output), e.g. test.jsonl."),
    predictions: Path = typer.Option(
        ..., "--predictions", help='One {"output": "<raw text>"} line per data row, in data order ("id" optional).'
    ),
    out: Path = typer.Option(..., "--out", help="Writes eval_report.json, report.md and report.html here."),
    train: Optional[Path] = TrainSplitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Score raw generations strictly and compare them with the train-mean and TF-IDF + ridge baselines.

    Prints `valid_cases=X/Y` on stdout (with --json: on stderr, and the report without its per-row cases as JSON
    on stdout). Exits 0 whenever the inputs could be scored, however bad the model; non-zero on bad input.
    """
    train = train or data.with_name("train.jsonl")
    for flag, path in (("--data", data), ("--predictions", predictions), ("--train", train)):
        if not path.is_file():
            fail(f"{flag} {path}: no such file" + (" (pass --train)" if flag == "--train" else ""))
    try:
        rows = read_rows(data)
        outputs = read_predictions(predictions, [r.id for r in rows])
        report = score_rows(rows, outputs, read_rows(train)).to_dict()
    except DataError as exc:
        fail(str(exc))
    report["inputs"] = {"data": str(data), "predictions": str(predictions), "train": str(train)}

    out.mkdir(parents=True, exist_ok=True)
    report_path = out / "eval_report.json"
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    files = {"eval_report": report_path, **render_eval_report(report, out, f"Strict evaluation of {predictions}")}

    verdict = f"valid_cases={report['valid_cases']}/{report['total']}"
    if as_json:
        console.print(verdict, highlight=False, markup=False)
        emit_json({**{k: v for k, v in report.items() if k != "cases"}, "files": {k: str(p) for k, p in files.items()}})
    else:
        typer.echo(verdict)
    _print_summary(report, representative_failures(report["cases"]), files["html"])


def _print_summary(report: Mapping[str, Any], failures: Sequence[Mapping[str, Any]], html_path: Path) -> None:
    """Headline against the baselines and a few malformed outputs, on stderr so stdout stays machine-readable."""
    mae = report["metrics"]["mae"]
    baselines = report["baselines"]
    console.print(
        f"MAE over valid {'-' if mae is None else f'{mae:.3f}'}, over all {report['metrics']['over_all']['mae']:.3f}"
        f" | train_mean {baselines['train_mean']['mae']:.3f} | tfidf_ridge {baselines['tfidf_ridge']['mae']:.3f}",
        highlight=False,
        markup=False,
    )
    for case in failures:
        # markup=False: a model output such as "[bold]" must print as written.
        console.print(f"  {case['id']}: {case['error']}\n    output: {case['output'][:200]!r}", markup=False)
    console.print(f"report: {html_path}", highlight=False, markup=False)
