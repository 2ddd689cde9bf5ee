"""The merge stage as a job: its declaration (`MERGE`) and what is its own: the checks of base and adapter before
anything is spent.

    plan = plan_job(MERGE, MergeConfig(base_model_id=B, adapter_model_id=A, out="merged", push_to="me/merged"),
                    RunOn(backend="hf-jobs"))  # offline: model folders or repo ids, output, namespace

The job runs `hiddenparams.jobs.merge_job --config-json <the resolved MergeConfig>` (see its docstring), the same
`merge.run` as the command. On hf-jobs the job cannot see this machine: base and adapter must be on the Hub, local
probe rows or eval reports are refused, and `push_to` is required (the job's disk is ephemeral; the folder goes up in
one commit). The job's last log line, MERGE_SUMMARY, becomes the `merged` ledger event once the job is seen
completed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from huggingface_hub import HfApi

from ..config import RunOn
from ..files import check_out
from ..hub import PreflightError, check_model_on_hub, is_local, valid_repo_id
from ..ledger import LedgerEvent
from ..model.merge import MergeConfig
from .stage import JobPlan, Prepared, StageJob, job_output, model_ref

_MODELS = (("base_model_id", "config.json"), ("adapter_model_id", "adapter_config.json"))


def prepare(cfg: MergeConfig, run_on: RunOn) -> Prepared:
    """The checks that need no network (model folders or repo ids, the output folder, what a job could not see), and
    where the job reads and writes."""
    if run_on.hf and not cfg.push_to:
        raise PreflightError("hf-jobs writes to an ephemeral disk: give --push-to, the repo the job uploads to")
    cfg = dataclasses.replace(
        cfg, **{name: model_ref(getattr(cfg, name), name, run_on.hf, marker) for name, marker in _MODELS}
    )
    if cfg.push_to:
        valid_repo_id(cfg.push_to, "push_to")
    if not run_on.hf:
        check_out(Path(cfg.out), cfg.overwrite)
        absolute = {n: str(Path(v).resolve()) for n in ("out", "probe_data", "eval_report") if (v := getattr(cfg, n))}
        cfg = dataclasses.replace(cfg, **absolute)
        return Prepared(cfg, model_repo=cfg.push_to or cfg.out, data=cfg.adapter_model_id)
    assert cfg.push_to is not None
    local = [name for name in ("probe_data", "eval_report") if getattr(cfg, name)]
    if local:
        raise PreflightError(f"{', '.join(local)}: local files the job cannot see; merge with --backend local")
    cfg = dataclasses.replace(cfg, out=job_output(cfg.out, "merged"))
    return Prepared(cfg, model_repo=cfg.push_to, data=cfg.adapter_model_id)


def check_hub(plan: JobPlan, api: HfApi) -> None:
    """Base and adapter on the Hub, when they are not local folders."""
    for name, _ in _MODELS:
        value = getattr(plan.config, name)
        if not is_local(value):
            check_model_on_hub(api, value, name)


MERGE = StageJob(
    name="merge",
    config=MergeConfig,
    entry="hiddenparams.jobs.merge_job",
    marker="MERGE_SUMMARY ",
    event=LedgerEvent.MERGED,
    # 8 vCPU / 32 GB: the whole 3B text model merged in 7.8 GB, 1.12x its checkpoint (docs/BENCHMARKS.md "Merge memory").
    flavor="cpu-upgrade",
    timeout="1h",
    prepare=prepare,
    check_hub=check_hub,
    pushes_to=lambda cfg: cfg.push_to,
)
