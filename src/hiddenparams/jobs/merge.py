"""A merge as a job: cheap checks before anything is spent, the job spec, and the job's result brought back into the
ledger.

    plan = plan_merge(MergeJob(MergeConfig(base_model_id=B, adapter_model_id=A, out="merged", push_to="me/merged"),
                               backend="hf-jobs"))   # offline: model folders or repo ids, output, namespace
    describe_merge(plan)                              # the dry run: what would be submitted
    handle = launch_merge(plan, Ledger())             # token + Hub checks, submit, ledger

The job runs `hiddenparams.jobs.merge_job --config-json <the resolved MergeConfig>` (see its docstring), the same
`merge.run` as the command. On hf-jobs the job cannot see this machine: base and adapter must be on the Hub, local
probe rows or eval reports are refused, and `push_to` is required (the job's disk is ephemeral; the folder goes up in
one commit). The job's last log line, MERGE_SUMMARY, becomes the `merged` ledger event once the job is seen
completed (`record_merge_result`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from ..config import RunOn, config_hash
from ..hub import is_local
from ..ledger import Ledger, LedgerEntry, LedgerEvent
from ..model.merge import MergeConfig, check_out_dir
from .merge_job import SUMMARY_MARKER
from .eval import JOB_OUT_ROOT
from . import BACKENDS, describe, get_backend, record_job_result, recorded_result, submit
from .base import JobHandle, JobSpec
from .hf import check_flavor, require_token, timeout_seconds
from .hub import PreflightError, check_model_on_hub, valid_repo_id


MERGE_ENTRY = "hiddenparams.jobs.merge_job"
# 8 vCPU / 32 GB: the whole 3B text model merged in 7.8 GB, 1.12x its checkpoint (docs/BENCHMARKS.md "Merge memory").
DEFAULT_FLAVOR = "cpu-upgrade"
DEFAULT_TIMEOUT = "1h"
_MODELS = (("base_model_id", "config.json"), ("adapter_model_id", "adapter_config.json"))


@dataclass
class MergeJob:
    """A merge and where it runs (`flavor`, `timeout` and `namespace` only matter on hf-jobs)."""

    config: MergeConfig
    backend: str = "local"
    flavor: str = DEFAULT_FLAVOR
    timeout: str = DEFAULT_TIMEOUT
    namespace: str | None = None


@dataclass
class MergePlan:
    job: MergeJob  # as the job will run it (local paths made absolute)
    spec: JobSpec


def _check_models(cfg: MergeConfig, hf: bool) -> dict[str, str]:
    """Model folders (made absolute, as the ledger records them) or valid repo ids (`hub.is_local` decides which)."""
    resolved = {}
    for name, marker in _MODELS:
        value = getattr(cfg, name)
        if not is_local(value):
            valid_repo_id(value, f"{name} is no local folder, and as a Hub model id")
            continue
        if hf:
            raise PreflightError(f"{name} {value} is a local folder the job cannot see: push it to the Hub first")
        if not (Path(value) / marker).is_file():
            raise PreflightError(f"{name} {value}: no such folder, or a folder without {marker}")
        resolved[name] = str(Path(value).resolve())
    return resolved


def plan_merge(job: MergeJob) -> MergePlan:
    """The job for this merge, after the checks that need no network."""
    if job.backend not in BACKENDS:
        raise PreflightError(f"unknown backend {job.backend!r}: use one of {', '.join(BACKENDS)}")
    hf = job.backend == "hf-jobs"
    if hf and not job.config.push_to:
        raise PreflightError("hf-jobs writes to an ephemeral disk: give --push-to, the repo the job uploads to")
    cfg = dataclasses.replace(job.config, **_check_models(job.config, hf))
    if cfg.push_to:
        valid_repo_id(cfg.push_to, "push_to")
    if hf:
        assert cfg.push_to is not None
        local = [name for name in ("probe_data", "eval_report") if getattr(cfg, name)]
        if local:
            raise PreflightError(f"{', '.join(local)}: local files the job cannot see; merge with --backend local")
        timeout_seconds(job.timeout)
        check_flavor(job.flavor)
        RunOn(backend=job.backend, namespace=job.namespace).validate("--namespace")  # the train job's rule
        # The job's working directory is the image's, unknown and maybe not writable: an absolute folder it owns.
        cfg = dataclasses.replace(cfg, out=f"{JOB_OUT_ROOT}/{Path(cfg.out).name or 'merged'}")
        job = dataclasses.replace(job, config=cfg, namespace=job.namespace or cfg.push_to.split("/")[0])
        model_repo = cfg.push_to
    else:
        check_out_dir(Path(cfg.out))
        absolute = {n: str(Path(v).resolve()) for n in ("out", "probe_data", "eval_report") if (v := getattr(cfg, n))}
        cfg = dataclasses.replace(cfg, **absolute)
        job = dataclasses.replace(job, config=cfg, namespace=None)
        model_repo = cfg.push_to or cfg.out
    spec = JobSpec(
        entry=MERGE_ENTRY,
        args=["--config-json", json.dumps(dataclasses.asdict(cfg), sort_keys=True)],
        name="merge",
        flavor=job.flavor,
        timeout=job.timeout,
        namespace=job.namespace,
        config_hash=config_hash(cfg),
        model_repo=model_repo,
        data=cfg.adapter_model_id,
    )
    return MergePlan(job=job, spec=spec)


def launch_merge(plan: MergePlan, ledger: Ledger) -> JobHandle:
    """Check with the Hub (token first on hf-jobs), submit, and write the `submitted` ledger line."""
    job = plan.job
    needs_token = job.backend == "hf-jobs" or job.config.push_to is not None
    api = HfApi(token=require_token()) if needs_token else HfApi()
    for name, _ in _MODELS:
        value = getattr(job.config, name)
        if not is_local(value):
            check_model_on_hub(api, value, name)
    return submit(plan.spec, get_backend(job.backend, ledger.root, plan.spec.namespace), ledger)


def describe_merge(plan: MergePlan, artifacts: str | Path | None = None) -> dict[str, Any]:
    """The dry run: the full job spec, computed offline, with secret names only (`jobs.describe`)."""
    return describe(plan.spec, plan.job.backend, artifacts, config=dataclasses.asdict(plan.job.config))


def record_merge_result(ledger: Ledger, entry: LedgerEntry) -> dict[str, Any] | None:
    """The `merged` event of a completed merge job, from the MERGE_SUMMARY line of its log (`record_job_result`)."""
    return record_job_result(ledger, entry, MERGE_ENTRY, SUMMARY_MARKER, LedgerEvent.MERGED)


def merged_of(ledger: Ledger, job_id: str) -> dict[str, Any] | None:
    """The `merged` event recorded for a merge job, if any."""
    return recorded_result(ledger, LedgerEvent.MERGED, job_id)
