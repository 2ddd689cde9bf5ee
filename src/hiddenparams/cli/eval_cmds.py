"""`hiddenparams eval`, `merge` and `predict`: thin wrappers over evaluate.py, merge.py and predict.py."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..rows import DataError, read_rows
from ..evaluate import DEFAULT_BATCH_SIZE, ConstrainedDecodingError, EvalOptions, read_eval_data, run_eval, summarize
from ..jobs import BACKENDS, JobError
from ..jobs.eval import DEFAULT_FLAVOR, DEFAULT_TIMEOUT, EvalJob, describe_eval, evaluated_of, launch_eval, plan_eval
from ..ledger import Ledger, redact
from ..merge import MERGE_NOTE, Equivalence, MergeError, MergeRefused, merge
from ..model import ModelLoadError, load_for_inference
from ..predict import Predictor, check_texts
from ..score import representative_failures
from .app import JsonOpt, app, console, emit_json, fail
from .jobs_cmds import ArtifactsOpt, follow_submission, show_dry_run
from .score_cmds import TrainSplitOpt, _print_summary

ModelIdOpt = typer.Option(None, "--model-id", help="Full model: Hub repo id or local folder.")
BaseIdOpt = typer.Option(None, "--base-model-id", help="Base model of the adapter: Hub repo id or local folder.")
AdapterIdOpt = typer.Option(None, "--adapter-model-id", help="PEFT adapter: Hub repo id or local folder.")
BatchOpt = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", min=1, help="Rows generated together.")
DeviceOpt = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: cuda when available).")


def _load(
    model_id: str | None, base_model_id: str | None, adapter_model_id: str | None, device: str | None
) -> tuple[Any, Any, dict[str, Any]]:
    try:
        with console.status("loading the model"):
            return load_for_inference(model_id, base_model_id, adapter_model_id, device)
    except ModelLoadError as exc:
        fail(str(exc))


@contextmanager
def _progress(totals: Mapping[str, int]) -> Iterator[Any]:
    """A rich bar per stage; yields `on_rows(stage, n)`."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        tasks = {stage: progress.add_task(stage, total=total) for stage, total in totals.items()}
        yield lambda stage, n: progress.advance(tasks[stage], n)


@app.command("eval")
def eval_cmd(
    model_id: Optional[str] = ModelIdOpt,
    base_model_id: Optional[str] = BaseIdOpt,
    adapter_model_id: Optional[str] = AdapterIdOpt,
    data: Path = typer.Option(
        ..., "--data", help="Canonical rows to evaluate on, e.g. test.jsonl (a job: or a Hub dataset holding it)."
    ),
    out: Path = typer.Option(..., "--out", help="Writes predictions.jsonl, eval_report.json, report.md/.html here."),
    train: Optional[Path] = TrainSplitOpt,
    batch_size: int = BatchOpt,
    max_rows: Optional[int] = typer.Option(None, "--max-rows", min=1, help="Evaluate only the first N rows."),
    constrained: bool = typer.Option(
        False,
        "--constrained",
        help="Also decode with the JSON text forced, values only (constrained/, not the headline).",
    ),
    distribution: bool = typer.Option(
        False,
        "--distribution",
        help="Also read P(value) over 0..10 per key: argmax, expected value, spread (distribution.json).",
    ),
    device: Optional[str] = DeviceOpt,
    backend: Optional[str] = typer.Option(
        None, "--backend", help=f"Run as a job: {' | '.join(BACKENDS)} (default: here, in this process)."
    ),
    flavor: str = typer.Option(DEFAULT_FLAVOR, "--flavor", help="hf-jobs hardware, e.g. a10g-small, a100-large."),
    namespace: Optional[str] = typer.Option(
        None, "--namespace", help="hf-jobs owner (default: the namespace of --push-results-to)."
    ),
    timeout: str = typer.Option(DEFAULT_TIMEOUT, "--timeout", help="hf-jobs time limit, e.g. 90m."),
    push_results_to: Optional[str] = typer.Option(
        None, "--push-results-to", help="Job: upload the eval folder to eval/<time>/ of this model repo."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Job: check, print the job spec, submit nothing (offline)."),
    wait: bool = typer.Option(False, "--wait", help="Job: follow its log to the end; exit non-zero if it failed."),
    artifacts_dir: Optional[Path] = ArtifactsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Generate real answers (batched greedy decoding) and score them strictly against the baselines.

    Full-model mode (--model-id) or base+adapter mode (--base-model-id and --adapter-model-id). Prints
    `valid_cases=X/Y` on stdout (with --json: on stderr, and the report without per-row cases on stdout), a few
    malformed outputs on stderr, and records an `evaluated` event in the ledger. predictions.jsonl is written batch
    by batch: a crash keeps the finished batches.

    With --backend the same evaluation runs as a job (`hiddenparams.eval_job`) and the command prints its id; the
    `evaluated` event is recorded when the job is seen completed (--wait, or `hiddenparams status`). On hf-jobs,
    --data may be a Hub dataset holding test.jsonl and train.jsonl; local data files are uploaded first to a private
    dataset repo, and the models must be on the Hub.
    """
    if backend is not None:
        job = EvalJob(
            data=str(data), out=str(out), model_id=model_id, base_model_id=base_model_id,
            adapter_model_id=adapter_model_id, train=str(train) if train else None, batch_size=batch_size,
            max_rows=max_rows, constrained=constrained, distribution=distribution, device=device,
            push_results_to=push_results_to, backend=backend, flavor=flavor, timeout=timeout, namespace=namespace,
        )  # fmt: skip
        _eval_as_job(job, dry_run, wait, artifacts_dir, as_json)
        return
    job_only = {"--push-results-to": push_results_to, "--namespace": namespace, "--dry-run": dry_run, "--wait": wait}
    if any(job_only.values()):
        fail(f"{', '.join(f for f, v in job_only.items() if v)}: only with --backend {' or '.join(BACKENDS)}")
    try:
        rows, train_rows, train = read_eval_data(data, train, max_rows)
    except DataError as exc:
        fail(str(exc))
    model, tokenizer, description = _load(model_id, base_model_id, adapter_model_id, device)

    options = EvalOptions(batch_size=batch_size, constrained=constrained, distribution=distribution)
    totals = {"greedy": len(rows)} | ({"values": len(rows)} if constrained or distribution else {})
    inputs = {"data": str(data), "train": str(train), "max_rows": max_rows}
    try:
        with _progress(totals) as on_rows:
            result = run_eval(
                model, tokenizer, description, rows, train_rows, out, options, inputs, on_rows, Ledger(artifacts_dir)
            )
    except (DataError, ConstrainedDecodingError) as exc:
        fail(str(exc))
    except BaseException:
        console.print(
            f"evaluation stopped; the predictions finished so far are in {out / 'predictions.jsonl'}", markup=False
        )
        raise

    report = result.report
    verdict = f"valid_cases={report['valid_cases']}/{report['total']}"
    if as_json:
        console.print(verdict, highlight=False, markup=False)
        emit_json(
            {
                **{k: v for k, v in report.items() if k != "cases"},
                "constrained": result.constrained and {k: v for k, v in result.constrained.items() if k != "cases"},
                "distribution": result.distribution and {k: v for k, v in result.distribution.items() if k != "cases"},
                "files": {k: str(p) for k, p in result.files.items()},
            }
        )
    else:
        typer.echo(verdict)
    _print_summary(report, representative_failures(report["cases"]), result.files["html"])
    if result.constrained:
        c = summarize(result.constrained)
        console.print(
            f"constrained (not the headline): valid {c['valid_cases']}/{c['total']}, MAE {c['mae']:.3f}"
            f" -> {result.files['constrained_html']}",
            highlight=False,
            markup=False,
        )
    if result.distribution:
        _print_distribution(result.distribution, result.files["distribution"])


def _eval_as_job(job: EvalJob, dry_run: bool, wait: bool, artifacts_dir: Path | None, as_json: bool) -> None:
    try:
        plan = plan_eval(job)
        if dry_run:
            show_dry_run(describe_eval(plan, artifacts_dir), as_json)
            return
        ledger = Ledger(artifacts_dir)
        handle = launch_eval(plan, ledger)
    except (JobError, DataError) as exc:
        fail(redact(str(exc)))

    def on_completed(result: dict[str, Any]) -> None:
        evaluated = evaluated_of(ledger, handle.job_id)
        if evaluated is None:
            console.print(
                f"the job completed but its log has no EVAL_SUMMARY line: hiddenparams logs {handle.job_id}",
                highlight=False,
                markup=False,
            )
            return
        details = evaluated["details"]
        result["evaluated"] = details
        verdict = f"valid_cases={details['valid_cases']}/{details['total']}"
        if as_json:
            console.print(verdict, highlight=False, markup=False)
        else:
            typer.echo(verdict)
        if details.get("pushed"):
            console.print(f"results: {details['pushed']['url']}", highlight=False, markup=False)

    follow_submission(handle, ledger, wait, as_json, {"config_hash": plan.spec.config_hash}, on_completed)


def _print_distribution(dist: Mapping[str, Any], path: Path) -> None:
    mae = dist["mae"]
    console.print(
        f"distribution (not the headline): MAE expected {mae['expected']:.3f}, rounded {mae['expected_rounded']:.3f},"
        f" argmax {mae['argmax']:.3f} over all {dist['total']} rows -> {path}",
        highlight=False,
        markup=False,
    )
    vs = dist["vs_greedy"]
    if vs["expected_beats_greedy"] is None:
        console.print(
            "  greedy decoding gave no valid object: nothing to compare the expected value with", markup=False
        )
        return
    console.print(
        f"  on the {vs['rows']} rows where greedy is valid: expected {vs['mae']['expected']:.3f}"
        f" (rounded {vs['mae']['expected_rounded']:.3f}) vs greedy {vs['mae']['greedy']:.3f}:"
        f" the expected value {'beats' if vs['expected_beats_greedy'] else 'does not beat'} greedy decoding on MAE",
        highlight=False,
        markup=False,
    )


def _check_line(check: Equivalence) -> str:
    return (
        f"max |logit difference| merged vs base+adapter: {check.max_abs_diff:.3g} (tolerance {check.tolerance:g},"
        f" {check.dtype}, {check.probes} probes, {check.positions} positions,"
        f" same next-token argmax at {100 * check.argmax_agreement:.1f}%)"
    )


@app.command("merge")
def merge_cmd(
    base_model_id: str = typer.Option(..., "--base-model-id", help="Base model: Hub repo id or local folder."),
    adapter_model_id: str = typer.Option(..., "--adapter-model-id", help="PEFT adapter: Hub repo id or local folder."),
    out: Path = typer.Option(..., "--out", help="New (or empty) folder for the merged model."),
    push_to: Optional[str] = typer.Option(None, "--push-to", help="Hub repo to upload the folder to, in one commit."),
    private: bool = typer.Option(True, "--private/--public", help="Visibility of a repo created by --push-to."),
    tolerance: Optional[float] = typer.Option(
        None,
        "--tolerance",
        min=0.0,
        help="Largest |logit difference| accepted [default: 1e-3 in float32, 0.5 in bfloat16].",
    ),
    probe_data: Optional[Path] = typer.Option(None, "--probe-data", help="Canonical rows added to the fixed probes."),
    eval_report: Optional[Path] = typer.Option(
        None, "--eval-report", help="eval_report.json of this adapter: its numbers go into the model card."
    ),
    device: Optional[str] = DeviceOpt,
    artifacts_dir: Optional[Path] = ArtifactsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Merge the adapter into its base; write (and upload) it only if it equals base+adapter within the tolerance.

    Merging simplifies deployment; it does not improve quality.
    """
    console.print(MERGE_NOTE, highlight=False, markup=False)
    try:
        probe_rows = read_rows(probe_data) if probe_data else []
    except DataError as exc:
        fail(str(exc))
    summary = None
    if eval_report:
        try:
            summary = summarize(json.loads(eval_report.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail(f"--eval-report {eval_report}: not an eval_report.json ({exc.__class__.__name__}: {exc})")
    with console.status("merging") as status:
        try:
            result = merge(
                base_model_id,
                adapter_model_id,
                out,
                tolerance,
                probe_rows,
                summary,
                push_to,
                private,
                Ledger(artifacts_dir),
                device,
                on_stage=status.update,
            )
        except MergeRefused as exc:
            console.print(_check_line(exc.check), highlight=False, markup=False)
            fail(f"{exc}; nothing was written")
        except (ModelLoadError, MergeError) as exc:
            fail(str(exc))
    console.print(_check_line(result.check), highlight=False, markup=False)
    if as_json:
        emit_json({"out": str(result.out), **result.info, "pushed": result.pushed})
    else:
        typer.echo(str(result.out))
        if result.pushed:
            console.print(
                f"uploaded: {result.pushed['url']} (commit {result.pushed['commit']})", highlight=False, markup=False
            )


def _read_requests(texts: list[str], file: Path | None) -> list[dict[str, Any]]:
    """Requests from the arguments, a text file (one per line) or JSONL on stdin; checked before any model work."""
    if texts and file:
        fail("give request texts as arguments or --file, not both")
    if texts:
        return [{"request_text": t} for t in texts]
    if file:
        if not file.is_file():
            fail(f"--file {file}: no such file")
        return [
            {"request_text": line.strip()} for line in file.read_text(encoding="utf-8-sig").splitlines() if line.strip()
        ]
    if sys.stdin.isatty():
        fail('no requests: give texts as arguments, --file requests.txt, or {"request_text": ...} lines on stdin')
    requests = []
    for lineno, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"stdin:{lineno}: not a JSON line ({exc.msg})")
        if not isinstance(obj, dict) or not isinstance(obj.get("request_text"), str):
            fail(f'stdin:{lineno}: expected {{"request_text": "..."}}')
        requests.append({k: obj[k] for k in ("id", "request_text") if k in obj})
    return requests


@app.command()
def predict(
    texts: Optional[list[str]] = typer.Argument(None, help="Request texts (else --file, else JSONL on stdin)."),
    model_id: Optional[str] = ModelIdOpt,
    base_model_id: Optional[str] = BaseIdOpt,
    adapter_model_id: Optional[str] = AdapterIdOpt,
    file: Optional[Path] = typer.Option(None, "--file", help="Text file with one request per line."),
    batch_size: int = BatchOpt,
    device: Optional[str] = DeviceOpt,
) -> None:
    """Turn requests into parameters: one JSON line per request on stdout, in order.

    {"request_text", "params"} when the model's answer is a valid object, else {"request_text", "error", "output"}
    (the strict parser's reason and the raw text). An "id" given on a stdin line is passed through.
    """
    requests = _read_requests(texts or [], file)
    if not requests:
        fail("no requests to predict")
    try:
        check_texts([r["request_text"] for r in requests])
    except ValueError as exc:
        fail(str(exc))
    predictor = Predictor(*_load(model_id, base_model_id, adapter_model_id, device), batch_size=batch_size)
    for request, result in zip(requests, predictor.predict([r["request_text"] for r in requests])):
        sys.stdout.write(json.dumps({**request, **result}, ensure_ascii=False) + "\n")
    sys.stdout.flush()
