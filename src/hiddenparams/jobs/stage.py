"""What every job-running stage shares, written once: its declaration (`StageJob`), its plan, its dry run, its
launch, and its result brought back from the job's log into the ledger.

    plan = plan_job(EVAL, cfg, RunOn(backend="hf-jobs"))  # offline: the stage's own checks, then the job spec
    describe_job(plan)                                   # the dry run: what would be submitted
    handle = launch_job(plan, Ledger())                  # token + Hub checks, code (+ data) upload, submit, ledger

A stage declares only what is its own (jobs/train.py, jobs/eval.py, jobs/merge.py): its config class, job script,
summary line and the ledger event it becomes, default flavor and timeout, and the hooks `prepare` (checks that need
no network, and where the job reads and writes) and `check_hub`. The registry of stages is jobs/stages.py.

`plan_job` is the one check of a job: the dry run and the submit both go through it, so the dry run refuses
everything the submit would refuse without the Hub. The job receives its config whole (`--config-json`); its hash,
`config.config_hash`, is the one in the ledger and in the artifacts the job writes. Where the job runs (`RunOn`) is
not part of it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from ..config import RunOn, config_hash
from ..hub import PreflightError, is_local, valid_repo_id
from ..ledger import Ledger, LedgerEvent
from . import describe, get_backend, submit
from .base import JobHandle, JobSpec
from .hf import check_flavor, flavor_gpus, require_token

JOB_OUT_ROOT = "/tmp/hiddenparams"  # where a job on hf-jobs writes its output folder: a container folder it owns


@dataclass
class Prepared:
    """What a stage's `prepare` hook says of a job, after its own checks: the config as the job runs it, and where the
    job reads and writes."""

    config: Any
    model_repo: str | None = None  # where the job's model lands: a Hub repo id or a local folder
    data: str | None = None  # what the job reads: a Hub dataset id, a local folder or file
    ship_repo: str | None = None  # hf-jobs: the private dataset repo the job's code (and local data) is committed to
    upload: dict[str, str] = field(default_factory=dict)  # hf-jobs: path in `ship_repo` -> local file, sent at submit
    uploaded_from: Any = None  # what the dry run names as uploaded (a folder, or the files)
    warnings: list[str] = field(default_factory=list)
    shown: dict[str, Any] = field(default_factory=dict)  # the stage's own lines of the dry run


@dataclass
class StageJob:
    """A job-running stage, declared once."""

    name: str  # train | eval | merge: the job's label and the ledger's `name`
    config: type  # the stage's config dataclass (its fields are the command's flags, its hash the run's)
    entry: str  # the job script, a module of this package
    marker: str  # the job's last log line starts with it: `TRAIN_SUMMARY {json}`
    event: LedgerEvent  # what that line becomes in the ledger
    flavor: str  # default hf-jobs flavor
    timeout: str  # default hf-jobs time limit
    prepare: Callable[[Any, RunOn], Prepared]  # offline checks; raises PreflightError (or a stage's own error)
    check_hub: Callable[[JobPlan, HfApi], None]  # the checks that ask the Hub, before the submit
    pushes_to: Callable[[Any], str | None]  # the repo the job writes to, if any: a token is needed even locally
    in_process: bool = True  # the command can also run it here, without a backend
    # One process per GPU of a multi-GPU flavor (train, under accelerate); eval and merge run once, on one device.
    multi_process: bool = False
    # Optional: refine the plan (train: the estimate, which may refuse the flavor), and again at submit with the Hub.
    finish_plan: Callable[[JobPlan], None] | None = None
    before_submit: Callable[[JobPlan, HfApi], None] | None = None

    def shown_defaults(self) -> dict[str, str]:
        """The `RunOn` defaults this stage fills in, for the command's help."""
        return {"flavor": self.flavor, "timeout": self.timeout, **({} if self.in_process else {"backend": "local"})}

    def run_on(self, given: RunOn) -> RunOn:
        """`given` with this stage's defaults where it says nothing (a job runs locally unless told otherwise)."""
        return dataclasses.replace(
            given,
            backend=given.backend or "local",
            flavor=given.flavor or self.flavor,
            timeout=given.timeout or self.timeout,
        )


@dataclass
class JobPlan:
    stage: StageJob
    config: Any  # as the job will run it
    run_on: RunOn  # with every default filled in (namespace too, on hf-jobs)
    spec: JobSpec
    prepared: Prepared
    allow_cpu: bool = False  # train: a model over 1B parameters on a CPU flavor anyway
    estimate: Any = None  # train on hf-jobs: jobs.estimate.RunEstimate
    no_estimate: str | None = None  # why there is none
    estimate_inputs: Any = None  # what the estimate was computed from, kept for the submit's second estimate


def job_args(cfg: Any) -> list[str]:
    """How every job script receives its config: whole, as JSON (read back by `config.job_configs`)."""
    return ["--config-json", json.dumps(dataclasses.asdict(cfg), sort_keys=True)]


def plan_job(
    stage: StageJob, cfg: Any, run_on: RunOn | None = None, num_processes: int = 1, allow_cpu: bool = False
) -> JobPlan:
    """The job for this config, after the checks that need no network. `num_processes` is for the local backend; on
    hf-jobs the flavor decides (`a100x4` -> 4 processes)."""
    run_on = stage.run_on(run_on or RunOn())
    run_on.validate("--backend/--flavor/--timeout/--namespace")
    if run_on.hf:
        check_flavor(run_on.flavor or "")
        # Explicit, or the namespace of the repo the job writes to: never a whoami call per request.
        pushed = stage.pushes_to(cfg)
        run_on = dataclasses.replace(run_on, namespace=run_on.namespace or (pushed.split("/")[0] if pushed else None))
        processes = flavor_gpus(run_on.flavor or "") if stage.multi_process else 1
    else:
        run_on = dataclasses.replace(run_on, namespace=None)
        processes = num_processes
    prepared = stage.prepare(cfg, run_on)
    spec = JobSpec(
        entry=stage.entry,
        args=job_args(prepared.config),
        name=stage.name,
        flavor=run_on.flavor or stage.flavor,
        timeout=run_on.timeout,
        namespace=run_on.namespace,
        num_processes=processes,
        config_hash=config_hash(prepared.config),
        model_repo=prepared.model_repo,
        data=prepared.data,
        upload=prepared.upload,
        ship_repo=prepared.ship_repo,
    )
    plan = JobPlan(stage, prepared.config, run_on, spec, prepared, allow_cpu=allow_cpu)
    if stage.finish_plan is not None:
        stage.finish_plan(plan)
    return plan


def describe_job(plan: JobPlan, artifacts: str | Path | None = None) -> dict[str, Any]:
    """The dry run: the full job spec, computed offline, with secret names only."""
    return describe(
        plan.spec,
        plan.run_on.backend or "local",
        artifacts,
        uploaded_from=plan.prepared.uploaded_from,
        revision="set at submit: the commit that uploads the data with the code (data_revision)",
        warnings=plan.prepared.warnings,
        needs_token=_needs_token(plan),
        config=dataclasses.asdict(plan.config),
        run_on=dataclasses.asdict(plan.run_on),
        **plan.prepared.shown,
    )


def _needs_token(plan: JobPlan) -> bool:
    """A token is needed on hf-jobs, and wherever the job pushes to the Hub (checked at submit, not in the job)."""
    return plan.run_on.hf or plan.stage.pushes_to(plan.config) is not None


def launch_job(plan: JobPlan, ledger: Ledger) -> JobHandle:
    """Check with the Hub (token first: no request leaves without one on hf-jobs, or when the job pushes), submit (on
    hf-jobs the backend commits the code and local data first, and the job reads that very commit), and write the
    `submitted` ledger line."""
    api = HfApi(token=require_token()) if _needs_token(plan) else HfApi()
    plan.stage.check_hub(plan, api)
    if plan.stage.before_submit is not None:
        plan.stage.before_submit(plan, api)
    backend = get_backend(plan.run_on.backend or "local", ledger.root, plan.spec.namespace)
    return submit(plan.spec, backend, ledger)


def model_ref(value: str, what: str, hf: bool, marker: str = "config.json") -> str:
    """A model a job reads: a Hub repo id (its shape checked here, the Hub asked at submit), kept as is; or a local
    folder holding `marker`, made absolute (as the ledger records it). A job on hf-jobs cannot see this machine's
    folders."""
    if not is_local(value):
        valid_repo_id(value, f"{what} is no local folder, and as a Hub model id")
        return value
    folder = Path(value)
    if not (folder / marker).is_file():
        raise PreflightError(
            f"{what} {value}: " + (f"a folder without {marker}" if folder.is_dir() else "no such folder")
        )
    if hf:
        raise PreflightError(
            f"{what} {value} is a local folder the job cannot see: push it to the Hub first (the training job's"
            " hub_model_id, or `hiddenparams merge --push-to`)"
        )
    return str(folder.resolve())


def job_output(out: str, default: str) -> str:
    """An output folder inside an hf-jobs container: the job's working directory is the image's, unknown and maybe
    not writable, so an absolute folder it owns, named as the user named theirs."""
    return f"{JOB_OUT_ROOT}/{Path(out).name or default}"
