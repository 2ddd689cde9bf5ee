"""`hiddenparams merge`: a thin wrapper over merge.py, here or as a job (jobs/merge.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..config import RunOn, load_configs, parse_overrides
from ..jobs.merge import MERGE
from ..jobs.stage import plan_job
from ..ledger import Ledger
from ..model.merge import MERGE_NOTE, MergeConfig, run
from ..model.merge_check import MergeRefused
from .app import JsonOpt, app, console, emit_json, say
from .jobs_cmds import ArtifactsOpt, DryRunOpt, SmokeOpt, WaitOpt, refuse_job_flags, run_as_job
from .options import config_options


@app.command("merge")
@config_options((MergeConfig, RunOn), shown_defaults=MERGE.shown_defaults())
def merge_cmd(
    overrides: dict[str, Any],
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML file of merge settings (the fields behind these flags); flags win."
    ),
    set_values: list[str] = typer.Option([], "--set", help="Override any merge setting, e.g. --set tolerance=2."),
    private: bool | None = typer.Option(
        None, "--private/--public", help="Visibility of a repo created by --push-to (default: private)."
    ),
    dry_run: bool = DryRunOpt,
    wait: bool = WaitOpt,
    smoke: bool = SmokeOpt,
    artifacts_dir: Path | None = ArtifactsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Merge the adapter into its base; write (and upload) it only if it equals base+adapter within the tolerance.

    Merging simplifies deployment; it does not improve quality.

    With --backend the same merge runs as a job (`hiddenparams.jobs.merge_job`) and the command prints its id; the
    `merged` event is recorded when the job is seen completed (--wait, or `hiddenparams status`). On hf-jobs the
    models must be on the Hub and --push-to is required (the job's disk is ephemeral).
    """
    say(MERGE_NOTE)
    if private is not None:
        overrides["private"] = private
    cfg, run_on = load_configs(config, {**parse_overrides(set_values), **overrides}, MergeConfig, RunOn)
    if run_on.backend is not None:
        run_as_job(plan_job(MERGE, cfg, run_on), dry_run, wait, artifacts_dir, as_json, smoke, _show_merged)
        return
    refuse_job_flags(run_on, dry_run=dry_run, wait=wait, smoke=smoke)
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


def _show_merged(record: dict[str, Any]) -> None:
    say(f"merged: {record['model_repo']} (max |logit difference| {record['details']['max_abs_logit_diff']:.3g})")
