"""`hiddenparams eval` and `predict`: thin wrappers over evaluate.py and predict.py."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from ..config import RunOn, load_config, load_configs, parse_overrides
from ..errors import HiddenParamsError
from ..eval.evaluate import EvalConfig, EvalResult, run
from ..eval.value_scores import DistributionReport
from ..jobs.eval import EVAL
from ..jobs.stage import plan_job
from ..ledger import Ledger
from ..model.predict import PredictConfig, Predictor, check_texts, read_requests
from .app import JsonOpt, app, console, emit_json, fail, say
from .jobs_cmds import ArtifactsOpt, DryRunOpt, SmokeOpt, WaitOpt, refuse_job_flags, run_as_job
from .options import config_options
from .score_cmds import print_summary


@contextmanager
def _progress() -> Iterator[Any]:
    """A rich bar per stage, made when the stage reports its first rows; yields `on_rows(stage, n, total)`."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        tasks: dict[str, Any] = {}

        def on_rows(stage: str, n: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.advance(tasks[stage], n)

        yield on_rows


@app.command("eval")
@config_options((EvalConfig, RunOn), shown_defaults=EVAL.shown_defaults())
def eval_cmd(
    overrides: dict[str, Any],
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="YAML file of eval settings (the fields behind these flags); flags win."
    ),
    set_values: list[str] = typer.Option([], "--set", help="Override any eval setting, e.g. --set max_rows=8."),
    dry_run: bool = DryRunOpt,
    wait: bool = WaitOpt,
    smoke: bool = SmokeOpt,
    artifacts_dir: Optional[Path] = ArtifactsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Generate real answers (batched; greedy unless --temperature samples) and score them strictly against the
    baselines.

    Full-model mode (--model-id) or base+adapter mode (--base-model-id and --adapter-model-id). Prints
    `valid_cases=X/Y` on stdout (with --json: on stderr, and the report without per-row cases on stdout), a few
    malformed outputs on stderr, and records an `evaluated` event in the ledger. predictions.jsonl is written batch
    by batch: a crash keeps the finished batches.

    With --backend the same evaluation runs as a job (`hiddenparams.jobs.eval_job`) and the command prints its id; the
    `evaluated` event is recorded when the job is seen completed (--wait, or `hiddenparams status`). On hf-jobs,
    --data may be a Hub dataset holding test.jsonl and train.jsonl; local data files are uploaded first to a private
    dataset repo, and the models must be on the Hub.
    """
    cfg, run_on = load_configs(config, {**parse_overrides(set_values), **overrides}, EvalConfig, RunOn)
    if run_on.backend is not None:
        run_as_job(plan_job(EVAL, cfg, run_on), dry_run, wait, artifacts_dir, as_json, smoke, _show_evaluated(as_json))
        return
    refuse_job_flags(run_on, dry_run=dry_run, wait=wait, smoke=smoke)
    predictions = Path(cfg.out or "") / "predictions.jsonl"
    try:
        with _progress() as on_rows:
            result = run(cfg, on_rows, Ledger(artifacts_dir))
    except HiddenParamsError:
        raise  # refused before any generation: there are no predictions to point at
    except BaseException:  # out of memory, Ctrl-C ...: the finished batches are on disk
        if predictions.exists():
            say(f"evaluation stopped; the predictions finished so far are in {predictions}")
        raise
    _print_result(result, as_json)


def _print_result(result: EvalResult, as_json: bool) -> None:
    report = result.report
    verdict = f"valid_cases={report.valid_cases}/{report.total}"
    if as_json:
        say(verdict)
        emit_json(result.to_dict())
    else:
        typer.echo(verdict)
    for warning in result.warnings:
        say(f"warning: {warning}")
    print_summary(report, result.files["html"])
    if result.constrained:
        c = result.constrained
        mae = "-" if c.mae is None else f"{c.mae:.3f}"
        say(
            f"constrained (not the headline): valid {c.valid_cases}/{c.total}, MAE {mae} -> {result.files['constrained_html']}"
        )
    if result.distribution:
        _print_distribution(result.distribution, result.files["distribution"])
    if result.pushed:
        say(f"results: {result.pushed['url']}")


def _show_evaluated(as_json: bool) -> Callable[[dict[str, Any]], None]:
    def show(record: dict[str, Any]) -> None:
        details = record["details"]
        verdict = f"valid_cases={details['valid_cases']}/{details['total']}"
        if as_json:
            say(verdict)
        else:
            typer.echo(verdict)
        if details.get("pushed"):
            say(f"results: {details['pushed']['url']}")

    return show


def _print_distribution(dist: DistributionReport, path: Path) -> None:
    mae = dist.mae
    say(
        f"distribution (not the headline): MAE expected {mae['expected']:.3f}, rounded {mae['expected_rounded']:.3f},"
        f" argmax {mae['argmax']:.3f} over all {dist.total} rows -> {path}"
    )
    vs = dist.vs_headline
    if vs is None or vs.expected_beats_headline is None:
        say(
            f"  {vs.against if vs else 'the headline'} gave no valid object: nothing to compare the expected value with"
        )
        return
    say(
        f"  on the {vs.rows} rows where {vs.against} is valid: expected {vs.mae['expected']:.3f}"
        f" (rounded {vs.mae['expected_rounded']:.3f}) vs {vs.mae['headline']:.3f}:"
        f" the expected value {'beats' if vs.expected_beats_headline else 'does not beat'} {vs.against} on MAE"
    )


@app.command()
@config_options(PredictConfig)
def predict(
    overrides: dict[str, Any],
    texts: Optional[list[str]] = typer.Argument(None, help="Request texts (else --file, else JSONL on stdin)."),
    file: Optional[Path] = typer.Option(None, "--file", help="Text file with one request per line."),
) -> None:
    """Turn requests into parameters: one JSON line per request on stdout, in order, one per input line.

    {"request_text", "params"} when the model's answer is a valid object, else {"request_text", "error", "output"}
    (the strict parser's reason and the raw text). An input line that is not a request (not JSON, no
    "request_text", blank) gets {"line", "error"} in its place; the others are answered. An "id" given on a stdin
    line is passed through.
    """
    cfg = load_config(None, overrides, cls=PredictConfig)
    if texts and file:
        fail("give request texts as arguments or --file, not both")
    if not texts and not file and sys.stdin.isatty():
        fail('no requests: give texts as arguments, --file requests.txt, or {"request_text": ...} lines on stdin')
    if file and not file.is_file():
        fail(f"--file {file}: no such file")
    if texts:
        check_texts(texts)
        requests = [{"request_text": t} for t in texts]
    elif file:
        requests = read_requests(file.read_text(encoding="utf-8-sig").splitlines(), str(file), as_json=False)
    else:
        requests = read_requests(sys.stdin, "stdin", as_json=True)
    if not requests:
        fail("no requests to predict")
    for entry in requests:
        if "error" in entry:
            say(f"error: {entry['error']} (its output line is an error object; the other lines are answered)")
    with console.status("loading the model"):
        predictor = Predictor.load(cfg)
    results = predictor.predict_requests(requests)
    for warning in predictor.warnings:
        say(f"warning: {warning}")
    for result in results:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()
