"""`hiddenparams score`: flags -> `ScoreConfig` -> `evaluate.run_score` (generations made elsewhere, scored strictly,
with baselines and a report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..config import load_config
from ..eval.evaluate import ScoreConfig, run_score
from ..eval.score import EvalReport, representative_failures
from .app import JsonOpt, app, console, emit_json
from .options import config_options


@app.command()
@config_options(ScoreConfig)
def score(overrides: dict[str, Any], as_json: bool = JsonOpt) -> None:
    """Score raw generations strictly and compare them with the train-mean and TF-IDF + ridge baselines.

    Prints `valid_cases=X/Y` on stdout (with --json: on stderr, and the report without its per-row cases as JSON
    on stdout). Exits 0 whenever the inputs could be scored, however bad the model; non-zero on bad input.
    """
    result = run_score(load_config(None, overrides, cls=ScoreConfig))
    report = result.report
    verdict = f"valid_cases={report.valid_cases}/{report.total}"
    if as_json:
        console.print(verdict, highlight=False, markup=False)
        emit_json(result.to_dict())
    else:
        typer.echo(verdict)
    print_summary(report, result.files["html"])


def print_summary(report: EvalReport, html_path: Path) -> None:
    """Headline against the baselines and a few malformed outputs, on stderr so stdout stays machine-readable."""
    mae = "-" if report.mae is None else f"{report.mae:.3f}"
    against = [f"{name} {b.metrics.mae:.3f}" for name, b in report.baselines.items()]
    against += [f"{name} not computed" for name in report.baselines_skipped]
    console.print(
        f"MAE over valid {mae}, over all {report.over_all.mae:.3f} | {' | '.join(against)}",
        highlight=False,
        markup=False,
    )
    for name, why in report.baselines_skipped.items():
        console.print(f"  {name}: {why}", highlight=False, markup=False)
    for case in representative_failures(report.cases):
        # markup=False: a model output such as "[bold]" must print as written.
        console.print(f"  {case.id}: {case.error}\n    output: {case.output[:200]!r}", markup=False)
    console.print(f"report: {html_path}", highlight=False, markup=False)
