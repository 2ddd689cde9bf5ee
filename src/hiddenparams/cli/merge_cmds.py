"""`hiddenparams merge`: a thin wrapper over merge.py, here or as a job (jobs/merge.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..config import load_config
from ..jobs import BACKENDS
from ..jobs.merge import (
    DEFAULT_FLAVOR,
    DEFAULT_TIMEOUT,
    MergeJob,
    describe_merge,
    launch_merge,
    merged_of,
    plan_merge,
)
from ..ledger import Ledger
from ..merge import MERGE_NOTE, MergeConfig, run
from ..merge_check import MergeRefused
from .app import JsonOpt, app, console, emit_json, fail
from .jobs_cmds import ArtifactsOpt, run_as_job


def _say(line: str) -> None:
    console.print(line, highlight=False, markup=False)


@app.command("merge")
def merge_cmd(
    base_model_id: str = typer.Option(..., "--base-model-id", help="Base model: Hub repo id or local folder."),
    adapter_model_id: str = typer.Option(..., "--adapter-model-id", help="PEFT adapter: Hub repo id or local folder."),
    out: Path = typer.Option(..., "--out", help="New (or empty) folder for the merged model."),
    push_to: str | None = typer.Option(None, "--push-to", help="Hub repo to upload the folder to, in one commit."),
    private: bool = typer.Option(True, "--private/--public", help="Visibility of a repo created by --push-to."),
    tolerance: float | None = typer.Option(
        None,
        "--tolerance",
        min=0.0,
        help="Largest |logit difference| accepted [default: 1e-3 in float32; in bfloat16 0.3 x what the adapter"
        " itself changes, at least 0.5].",
    ),
    dtype: str | None = typer.Option(
        None, "--dtype", help="float32 | bfloat16 | float16 to merge and save in [default: the checkpoint's own]."
    ),
    probe_data: Path | None = typer.Option(None, "--probe-data", help="Canonical rows added to the fixed probes."),
    eval_report: Path | None = typer.Option(
        None, "--eval-report", help="eval_report.json of this adapter: its numbers go into the model card."
    ),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)."),
    backend: str | None = typer.Option(
        None, "--backend", help=f"Run as a job: {' | '.join(BACKENDS)} (default: here, in this process)."
    ),
    flavor: str = typer.Option(DEFAULT_FLAVOR, "--flavor", help="hf-jobs hardware, e.g. cpu-upgrade, a10g-small."),
    namespace: str | None = typer.Option(
        None, "--namespace", help="hf-jobs owner (default: the namespace of --push-to)."
    ),
    timeout: str = typer.Option(DEFAULT_TIMEOUT, "--timeout", help="hf-jobs time limit, e.g. 90m."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Job: check, print the job spec, submit nothing (offline)."),
    wait: bool = typer.Option(False, "--wait", help="Job: follow its log to the end; exit non-zero if it failed."),
    artifacts_dir: Path | None = ArtifactsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Merge the adapter into its base; write (and upload) it only if it equals base+adapter within the tolerance.

    Merging simplifies deployment; it does not improve quality.

    With --backend the same merge runs as a job (`hiddenparams.merge_job`) and the command prints its id; the `merged`
    event is recorded when the job is seen completed (--wait, or `hiddenparams status`). On hf-jobs the models must
    be on the Hub and --push-to is required (the job's disk is ephemeral).
    """
    _say(MERGE_NOTE)
    values: dict[str, Any] = {
        "base_model_id": base_model_id, "adapter_model_id": adapter_model_id, "out": str(out), "push_to": push_to,
        "private": private, "tolerance": tolerance, "probe_data": probe_data and str(probe_data),
        "eval_report": eval_report and str(eval_report), "device": device, "dtype": dtype,
    }  # fmt: skip
    cfg = load_config(None, values, cls=MergeConfig)
    if backend is not None:
        _merge_as_job(MergeJob(cfg, backend, flavor, timeout, namespace), dry_run, wait, artifacts_dir, as_json)
        return
    job_only = {"--namespace": namespace, "--dry-run": dry_run, "--wait": wait}
    if any(job_only.values()):
        fail(f"{', '.join(f for f, v in job_only.items() if v)}: only with --backend {' or '.join(BACKENDS)}")
    try:
        with console.status("merging") as status:
            result = run(cfg, Ledger(artifacts_dir), on_stage=status.update)
    except MergeRefused as exc:
        _say(exc.check.line())  # the figures behind the refusal; the one error handler prints the refusal itself
        raise
    _say(result.equivalence.line())
    if as_json:
        emit_json(result.to_dict())
        return
    typer.echo(result.out)
    if result.pushed:
        _say(f"uploaded: {result.pushed['url']} (commit {result.pushed['commit']})")


def _merge_as_job(job: MergeJob, dry_run: bool, wait: bool, artifacts_dir: Path | None, as_json: bool) -> None:
    def on_completed(ledger: Ledger, job_id: str, result: dict[str, Any]) -> None:
        merged = merged_of(ledger, job_id)
        if merged is None:
            _say(f"the job completed but its log has no MERGE_SUMMARY line: hiddenparams logs {job_id}")
            return
        details = result["merged"] = merged["details"]
        _say(f"merged: {merged['model_repo']} (max |logit difference| {details['max_abs_logit_diff']:.3g})")

    run_as_job(plan_merge(job), describe_merge, launch_merge, dry_run, wait, artifacts_dir, as_json, on_completed)
