"""`hiddenparams merge`: a thin wrapper over merge.py, here or as a job (jobs/merge.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ..config import load_config, parse_overrides
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
from ..model.merge import MERGE_NOTE, MergeConfig, run
from ..model.merge_check import MergeRefused
from .app import JsonOpt, app, console, emit_json, say
from .jobs_cmds import ArtifactsOpt, SmokeOpt, refuse_job_flags, run_as_job
from .options import config_options


@app.command("merge")
@config_options(MergeConfig)
def merge_cmd(
    overrides: dict[str, Any],
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML file of merge settings (the fields behind these flags); flags win."
    ),
    set_values: list[str] = typer.Option([], "--set", help="Override any merge setting, e.g. --set tolerance=2."),
    private: bool | None = typer.Option(
        None, "--private/--public", help="Visibility of a repo created by --push-to (default: private)."
    ),
    backend: str | None = typer.Option(
        None, "--backend", help=f"Run as a job: {' | '.join(BACKENDS)} (default: here, in this process)."
    ),
    flavor: Optional[str] = typer.Option(
        None, "--flavor", help=f"hf-jobs hardware, e.g. cpu-upgrade, a10g-small (default: {DEFAULT_FLAVOR})."
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", help="hf-jobs owner (default: the namespace of --push-to)."
    ),
    timeout: Optional[str] = typer.Option(
        None, "--timeout", help=f"hf-jobs time limit, e.g. 90m (default: {DEFAULT_TIMEOUT})."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Job: check, print the job spec, submit nothing (offline)."),
    wait: bool = typer.Option(False, "--wait", help="Job: follow its log to the end; exit non-zero if it failed."),
    smoke: bool = SmokeOpt,
    artifacts_dir: Path | None = ArtifactsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Merge the adapter into its base; write (and upload) it only if it equals base+adapter within the tolerance.

    Merging simplifies deployment; it does not improve quality.

    With --backend the same merge runs as a job (`hiddenparams.jobs.merge_job`) and the command prints its id; the `merged`
    event is recorded when the job is seen completed (--wait, or `hiddenparams status`). On hf-jobs the models must
    be on the Hub and --push-to is required (the job's disk is ephemeral).
    """
    say(MERGE_NOTE)
    if private is not None:
        overrides["private"] = private
    cfg = load_config(config, {**parse_overrides(set_values), **overrides}, cls=MergeConfig)
    if backend is not None:
        job = MergeJob(cfg, backend, flavor or DEFAULT_FLAVOR, timeout or DEFAULT_TIMEOUT, namespace)
        _merge_as_job(job, dry_run, wait, artifacts_dir, as_json, smoke)
        return
    refuse_job_flags(flavor=flavor, timeout=timeout, namespace=namespace, dry_run=dry_run, wait=wait, smoke=smoke)
    try:
        with console.status("merging") as status:
            result = run(cfg, Ledger(artifacts_dir), on_stage=status.update)
    except MergeRefused as exc:
        say(exc.check.line())  # the figures behind the refusal; the one error handler prints the refusal itself
        raise
    say(result.equivalence.line())
    if as_json:
        emit_json(result.to_dict())
        return
    typer.echo(result.out)
    if result.pushed:
        say(f"uploaded: {result.pushed['url']} (commit {result.pushed['commit']})")


def _merge_as_job(
    job: MergeJob, dry_run: bool, wait: bool, artifacts_dir: Path | None, as_json: bool, smoke: bool
) -> None:
    def on_completed(ledger: Ledger, job_id: str, result: dict[str, Any]) -> None:
        merged = merged_of(ledger, job_id)
        if merged is None:
            say(f"the job completed but its log has no MERGE_SUMMARY line: hiddenparams logs {job_id}")
            return
        details = result["merged"] = merged["details"]
        say(f"merged: {merged['model_repo']} (max |logit difference| {details['max_abs_logit_diff']:.3g})")

    run_as_job(plan_merge(job), describe_merge, launch_merge, dry_run, wait, artifacts_dir, as_json, on_completed,
               smoke=smoke)
