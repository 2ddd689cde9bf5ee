"""`hiddenparams train`, `status`, `logs`, `cancel`: run jobs on a backend and follow them through the ledger."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..config import RunOn, TrainConfig, load_configs, parse_overrides
from ..jobs import BACKENDS, JobBackend, JobError, JobHandle, JobStatus, LocalBackend, backend_for, recorded_result
from ..jobs.estimate import summary_lines
from ..jobs.progress import ProgressView
from ..jobs.smoke import smoke_plan
from ..jobs.smoke_checks import SMOKE_MARKER
from ..jobs.stage import JobPlan, describe_job, launch_job, plan_job
from ..jobs.train import TRAIN
from ..ledger import ARTIFACTS_ENV, Ledger, LedgerEntry, LedgerEvent
from ..redact import redact, redact_obj
from ..status import collect_status, record_cancel, wait_job
from .app import JsonOpt, app, console, emit_json, fail, invoked_args, say
from .options import config_options

ArtifactsOpt = typer.Option(
    None, "--artifacts-dir", help=f"Holds the ledger and the local jobs (default: ${ARTIFACTS_ENV} or ./artifacts)."
)
SmokeOpt = typer.Option(
    False,
    "--smoke",
    help="Submit the same job on cpu-basic, checks only: install, data, tokenizer, chat format, "
    "write access to the output repo; no weights, no model pushed. Prints the real run's command last.",
)


stdout = Console(soft_wrap=False)  # tables are the command's output: stdout, unlike messages (stderr)


def _print_failure(status: JobStatus) -> None:
    console.print(
        f"[bold red]job {status.job_id} ended {status.stage.value}[/] {status.message or ''}", highlight=False
    )
    if status.log_tail:
        console.print("last lines of its log:", highlight=False)
        for line in status.log_tail:
            say(f"  {line}")
    say(f"full log: hiddenparams logs {status.job_id}")


DryRunOpt = typer.Option(False, "--dry-run", help="Job: check, print the full job spec, submit nothing (offline).")
WaitOpt = typer.Option(False, "--wait", help="Job: follow its log to the end; exit non-zero if it failed.")


@app.command()
@config_options((TrainConfig, RunOn), shown_defaults=TRAIN.shown_defaults())
def train(
    overrides: dict[str, Any],
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="YAML run config (fields of TrainConfig and RunOn)."
    ),
    dry_run: bool = DryRunOpt,
    wait: bool = WaitOpt,
    set_values: list[str] = typer.Option(
        [], "--set", help="Override any config field, e.g. --set lora_r=8 (repeatable)."
    ),
    num_processes: int = typer.Option(1, "--num-processes", min=1, help="local: >1 runs under accelerate launch."),
    allow_cpu: bool = typer.Option(
        False, "--allow-cpu", help="hf-jobs: train a model over 1B parameters on a CPU flavor anyway."
    ),
    smoke: bool = SmokeOpt,
    artifacts_dir: Optional[Path] = ArtifactsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fine-tune as a job (LoRA SFT, or full with full_finetune: true). Prints the job id at once.

    Before anything is submitted (the dry run makes the same checks): the config is validated (unknown fields are
    errors), the data folder must hold non-empty train.jsonl and validation.jsonl, the model must exist (local
    folder with config.json, or on the Hub), repo names must be valid, and hf-jobs needs a token. On hf-jobs the
    run is estimated for its flavor and the flavors that hold it (GPU memory, minutes, dollars) and refused when the
    flavor cannot hold it. Every submission writes a line to the ledger, with the estimate.
    """
    cfg, run_on = load_configs(config, parse_overrides(set_values) | overrides, TrainConfig, RunOn)
    plan = plan_job(TRAIN, cfg, run_on, num_processes=num_processes, allow_cpu=allow_cpu)
    run_as_job(plan, dry_run, wait, artifacts_dir, as_json, smoke, _show_trained)


def _show_trained(record: dict[str, Any]) -> None:
    details = record["details"]
    say(f"trained: {details.get('global_step')} steps, eval loss {details.get('eval_loss')}")


def refuse_job_flags(run_on: RunOn, **given: Any) -> None:
    """Job flags (`--flavor`, `--wait`, ...) given without `--backend` would be ignored without a word: refuse them."""
    given |= {name: getattr(run_on, name) for name in ("flavor", "timeout", "namespace")}
    named = [f"--{name.replace('_', '-')}" for name, value in given.items() if value not in (None, False)]
    if named:
        fail(f"{', '.join(named)}: only with --backend {' or '.join(BACKENDS)}")


def run_as_job(
    plan: JobPlan,
    dry_run: bool,
    wait: bool,
    artifacts_dir: Path | None,
    as_json: bool,
    smoke: bool,
    show: Callable[[dict[str, Any]], None],
) -> None:
    """A stage's job after its plan (`jobs.stage.plan_job`): the dry run, or the submit and `follow_submission`; when
    the job is seen completed, its stage's ledger event goes into the result and `show(record)` says what it found.
    With `smoke`, the smoke job of that plan (`jobs.smoke`), and last the command line of the real run."""
    stage, event = plan.stage, plan.stage.event
    result: dict[str, Any] = {"model_repo": plan.spec.model_repo}
    if smoke:
        plan, event, show = smoke_plan(plan), LedgerEvent.SMOKE_PASSED, _show_smoke
        result = {"model_repo": None, "smoke": True, "real_run": real_run_command()}
    if dry_run:
        show_dry_run(describe_job(plan, artifacts_dir), as_json)
        return
    ledger = Ledger(artifacts_dir)
    handle = launch_job(plan, ledger)
    if plan.estimate is not None and not smoke and not as_json:  # the estimate at the Hub's prices, on stderr
        for line in summary_lines(plan.estimate.to_dict()):
            say(line)

    def completed(out: dict[str, Any]) -> None:
        record = recorded_result(ledger, event, handle.job_id)
        if record is None:
            marker = SMOKE_MARKER if smoke else stage.marker
            say(f"the job completed but its log has no {marker.strip()} line: hiddenparams logs {handle.job_id}")
            return
        out["smoke_summary" if smoke else event.value] = record["details"]
        show(record)

    follow_submission(handle, ledger, wait, as_json, {"config_hash": plan.spec.config_hash, **result}, completed)
    if smoke:  # a failed smoke job exited above
        if (
            wait and recorded_result(ledger, event, handle.job_id) is None
        ):  # completed, yet its log does not say it passed
            raise typer.Exit(1)
        after = "smoke passed;" if wait else "once `hiddenparams status` shows smoke_passed,"
        say(f"{after} the real run: {result['real_run']}")


def real_run_command() -> str:
    """The command line this process was given, without `--smoke`: what to run once the smoke job passed."""
    return shlex.join(["hiddenparams", *(arg for arg in invoked_args() if arg != "--smoke")])


def _show_smoke(record: dict[str, Any]) -> None:
    details = record["details"]
    data = details.get("data") or {}
    push = details.get("push_to") or {}
    say(
        f"smoke passed in {details.get('seconds')} s (after the install): data {data.get('rows')} rows,"
        f" first rows {details.get('first_rows_tokens') or details.get('probe_tokens')} tokens,"
        f" {'write access to ' + push['repo'] if push else 'no repo to push to'}"
    )


def follow_submission(
    handle: JobHandle,
    ledger: Ledger,
    wait: bool,
    as_json: bool,
    result: dict[str, Any],
    on_completed: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """After a submit: the job id on stdout (with --json, `result` and the job's identity as JSON). With `wait`,
    follow the log to the end, let `on_completed` add to `result` when the job completed, exit 1 when it did not."""
    result = {"job_id": handle.job_id, "backend": handle.backend, "job_url": handle.url, **result}
    if not as_json:
        typer.echo(handle.job_id)
        say(f"submitted to {handle.backend}: {handle.url}")
        if not wait:
            say(f"follow it: hiddenparams logs {handle.job_id} --follow")
    status: JobStatus | None = None
    if wait:
        try:
            with ProgressView(console) as on_log:  # progress lines as one bar on a terminal
                status = wait_job(handle.job_id, ledger, on_log=on_log)
        except KeyboardInterrupt:
            fail(f"stopped waiting; the job keeps running (hiddenparams cancel {handle.job_id} stops it)", code=130)
        result["state"] = status.stage.value
        if status.ok and on_completed is not None:
            on_completed(result)
        if not status.ok:
            _print_failure(status)
    if as_json:
        emit_json(result)
    if status is not None and not status.ok:
        raise typer.Exit(1)


def show_dry_run(spec: dict[str, Any], as_json: bool) -> None:
    """--dry-run: the job spec that would be submitted, secrets redacted; as JSON on stdout with --json, where the
    warnings also go to stderr, as every message does."""
    spec = redact_obj(spec)
    if as_json:
        emit_json(spec)
        for warning in spec.get("warnings", []):
            say(f"warning: {warning}")
    else:
        print_spec(spec)


def print_spec(spec: dict[str, Any]) -> None:
    lines = [f"backend: {spec['backend']}", f"command: {shlex.join(spec['command'])}"]
    if spec["backend"] == "hf-jobs":
        script = spec["script"]
        lines += [
            f"namespace: {spec['namespace']}  flavor: {spec['flavor']} ({spec['num_processes']} process(es))"
            f"  timeout: {spec['timeout']}",
            f"script: {script['name']}; code: {spec['code']['wheel']} ({spec['code']['route']})",
            f"dependencies (pinned): {', '.join(script['dependencies'])}",
            f"torch {spec['torch']['version']} {spec['torch']['build']} build from {spec['torch']['index']}"
            + (f" (needs NVIDIA driver >= {spec['torch']['driver_needed']})" if spec["torch"]["driver_needed"] else ""),
            f"secrets: {', '.join(spec['secrets'])} (names only)",
        ]
    uploaded = spec["data"]["uploaded_from"]
    if isinstance(uploaded, dict):  # path in the dataset repo -> local file
        uploaded = ", ".join(f"{local} as {name}" for name, local in uploaded.items())
    if spec.get("evaluates"):
        lines.append("evaluates: " + ", ".join(f"{name} {value}" for name, value in spec["evaluates"].items()))
    if spec.get("results"):
        lines.append(f"results pushed to: {spec['results']}")
    if spec.get("model_repo"):
        lines.append(f"model repo: {spec['model_repo']}")
    lines += [
        f"data: {spec['data']['job_reads']}" + (f" (uploaded from {uploaded} at submit)" if uploaded else ""),
        f"config hash: {spec['config_hash']}",
        *estimate_lines(spec.get("estimate")),
        *(f"warning: {w}" for w in spec.get("warnings", [])),
        "dry run: nothing submitted (--json prints the full spec)",
    ]
    for line in lines:
        say(line)


def estimate_lines(estimate: dict[str, Any] | None) -> list[str]:
    if not estimate:
        return []
    if "skipped" in estimate:
        return [estimate["skipped"]]
    return ["estimate (* the chosen flavor; peak GB per GPU / GB it has):", *summary_lines(estimate)]


@app.command()
def status(
    artifacts_dir: Optional[Path] = ArtifactsOpt,
    refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="Ask each backend for the current state."),
    as_json: bool = JsonOpt,
) -> None:
    """Every job and model in the ledger: job URL, state (refreshed from its backend), model repo and its kind,
    adapter-only or full, read from the repo's files now."""
    ledger = Ledger(artifacts_dir)
    rows = collect_status(ledger, refresh=refresh)
    if as_json:
        emit_json(redact_obj({"ledger": str(ledger.path), "jobs": [row.to_dict() for row in rows]}))
        return
    if not rows:
        say(f"no jobs or models in {ledger.path} yet")
        return
    table = Table(title=f"hiddenparams jobs ({ledger.path})", show_lines=True)
    cards = any(row.card_metrics for row in rows)  # the column only when some model's card reports results
    for column in ("job", "state", "model", "kind", *(["card metrics"] if cards else []), "job url"):
        table.add_column(column, overflow="fold")
    for row in rows:
        job = "\n".join(x for x in (row.job_id or "-", row.name, row.backend, row.flavor) if x)
        state = "\n".join(x for x in (row.state or "-", row.cost_line, row.message, row.log_hint, *row.notes) if x)
        model = row.model_url or "-"
        card = ["\n".join(f"{k} {v:.3f}" for k, v in (row.card_metrics or {}).items()) or "-"] if cards else []
        table.add_row(
            redact(job), redact(state), redact(model), row.repo_kind or "-", *card, redact(row.job_url or "-")
        )
    stdout.print(table)


def _backend_of(job_id: str, ledger: Ledger) -> tuple[JobBackend, LedgerEntry | None]:
    entry = ledger.find(job_id)
    if entry is not None:
        return backend_for(entry, ledger.root), entry
    if job_id.startswith("local-"):
        return LocalBackend(ledger.root), None
    raise JobError(f"job {job_id} is not in the ledger {ledger.path} (is --artifacts-dir right?)")


@app.command()
def logs(
    job_id: str = typer.Argument(..., help="A job id from `hiddenparams train` or `status`."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing until the job ends, record how it ended; exit 1 if it failed."
    ),
    artifacts_dir: Optional[Path] = ArtifactsOpt,
) -> None:
    """Print a job's log (local file or Hugging Face Jobs API), with anything token-like redacted."""
    ledger = Ledger(artifacts_dir)
    try:
        backend, entry = _backend_of(job_id, ledger)
        if not follow:
            for line in backend.logs(job_id):
                typer.echo(line)
            return
        # The log can stop before the job does: the wait settles the stage, and the ledger records it once ended.
        status = wait_job(job_id, ledger, on_log=typer.echo) if entry else backend.wait(job_id, on_log=typer.echo)
    except KeyboardInterrupt:
        fail(f"stopped following; the job keeps running (hiddenparams cancel {job_id} stops it)", code=130)
    ended = " ".join(x for x in (f"job {job_id} ended {status.stage.value}", status.message) if x)
    say(ended)
    if not status.ok:
        raise typer.Exit(1)


@app.command()
def cancel(
    job_id: str = typer.Argument(..., help="A job id from `hiddenparams train` or `status`."),
    artifacts_dir: Optional[Path] = ArtifactsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Stop a running job (local: its whole process group; hf-jobs: the Jobs API). A finished job is left as is.

    Waits a bounded while for the job to stop; until the backend reports it stopped, it is "cancelling" and
    `hiddenparams status` records the final state when it sees it."""
    ledger = Ledger(artifacts_dir)
    backend, entry = _backend_of(job_id, ledger)
    result = backend.cancel(job_id)
    if entry is not None:
        record_cancel(ledger, entry, result)
    if as_json:
        emit_json({**result.to_dict(), "cancelling": not result.finished})
    elif result.finished:
        say(f"{job_id}: {result.stage.value}")
    else:
        console.print(
            f"{job_id}: cancelling (the backend still reports {result.stage.value}; `hiddenparams status` shows when"
            " it has stopped)",
            highlight=False,
            markup=False,
        )
