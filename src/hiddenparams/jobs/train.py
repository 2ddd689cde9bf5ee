"""A training run as a job: cheap checks before anything is spent, the job spec, and the data shipped for hf-jobs.

    plan = plan_train(*load_train_config("configs/tiny.yaml"))  # offline: data, model folder, repo names
    describe_train(plan)                                         # the dry run: what would be submitted
    handle = launch_train(plan, Ledger())                        # token + Hub checks, code+data upload, submit, ledger

`plan_train` is the one check of a run: the dry run and the submit both go through it, so the dry run refuses
everything the submit would refuse without the Hub (the submit then asks the Hub about the model and the data).

The job runs `hiddenparams.train_job --config-json <the resolved config>`. On hf-jobs the job cannot see local
folders: a local `data_dir` is uploaded first to a private dataset repo `{namespace}/{model repo name}-data` and the
job's config points at that dataset (read at the commit that uploaded it); a local `model_id` is an error (push it
to the Hub first). The job's last log line, TRAIN_SUMMARY, becomes the `trained` ledger event once the job is seen
completed (`record_train_result`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from ..config import RunOn, TrainConfig
from ..hub import is_local
from ..ledger import Ledger, LedgerEntry, LedgerEvent
from ..train_job import SUMMARY_MARKER, check_data_dir
from . import describe, get_backend, record_job_result, recorded_result, submit
from .base import JobHandle, JobSpec
from .hf import check_flavor, flavor_gpus, require_token
from .hub import PreflightError, check_dataset_on_hub, check_model_on_hub, valid_repo_id

TRAIN_ENTRY = "hiddenparams.train_job"


@dataclass
class TrainPlan:
    config: TrainConfig  # as the job will run it (data_dir is the Hub dataset when the data is uploaded)
    run_on: RunOn  # with the namespace filled in on hf-jobs
    spec: JobSpec
    upload_data_from: str | None = None  # a local folder whose files go with the job's code to `config.data_dir`


def plan_train(cfg: TrainConfig, run_on: RunOn | None = None, num_processes: int = 1) -> TrainPlan:
    """The job for this config, after the checks that need no network. `num_processes` is for the local backend;
    on hf-jobs the flavor decides (`a100x4` -> 4 processes)."""
    run_on = run_on or RunOn()
    cfg.check_run_on(run_on)
    local_data = is_local(cfg.data_dir)
    if local_data:
        if not Path(cfg.data_dir).is_dir():
            raise PreflightError(
                f"data_dir {cfg.data_dir}: no such folder (a path, not a Hub dataset id): run `hiddenparams convert`"
                " first, or fix the path"
            )
        check_data_dir(Path(cfg.data_dir))
    else:
        valid_repo_id(cfg.data_dir, "data_dir is no local folder, and as a Hub dataset id")
    if is_local(cfg.model_id):
        if not (Path(cfg.model_id) / "config.json").is_file():
            what = "a folder without config.json is not a model" if Path(cfg.model_id).is_dir() else "no such folder"
            raise PreflightError(f"model_id {cfg.model_id}: {what}")
        if run_on.hf:
            raise PreflightError(f"model_id {cfg.model_id} is a local folder the job cannot see: push it to the Hub")
    else:
        valid_repo_id(cfg.model_id, "model_id is no local folder, and as a Hub model id")

    upload_from, upload, ship_repo = None, {}, None
    if run_on.hf:
        assert cfg.hub_model_id  # check_run_on requires it on hf-jobs
        check_flavor(run_on.flavor)
        namespace = run_on.namespace or cfg.hub_model_id.split("/")[0]  # explicit: never a whoami call per request
        run_on = dataclasses.replace(run_on, namespace=namespace)
        job_cfg = cfg
        # The job's code goes to this private dataset repo, with the data when it is local.
        ship_repo = f"{namespace}/{cfg.hub_model_id.split('/')[1]}-data"
        valid_repo_id(ship_repo, "the dataset repo for the training data")
        if local_data:
            upload_from = str(cfg.data_dir)
            upload = {path.name: str(path) for path in sorted(Path(cfg.data_dir).glob("*.jsonl"))}
            job_cfg = dataclasses.replace(cfg, data_dir=ship_repo)
        model_repo, processes = cfg.hub_model_id, flavor_gpus(run_on.flavor)
    else:
        job_cfg, model_repo, processes = cfg, str(cfg.model_dir().resolve()), num_processes
    spec = JobSpec(
        entry=TRAIN_ENTRY,
        args=["--config-json", json.dumps(job_cfg.to_dict(), sort_keys=True)],
        name="train",
        flavor=run_on.flavor,
        timeout=run_on.timeout,
        namespace=run_on.namespace if run_on.hf else None,
        num_processes=processes,
        config_hash=job_cfg.config_hash(),
        model_repo=model_repo,
        data=job_cfg.data_dir,
        upload=upload,
        ship_repo=ship_repo,
    )
    return TrainPlan(config=job_cfg, run_on=run_on, spec=spec, upload_data_from=upload_from)


def check_hub(plan: TrainPlan) -> HfApi:
    """The checks that ask the Hub, token first: no request leaves without one on hf-jobs."""
    cfg = plan.config
    api = HfApi(token=require_token()) if plan.run_on.hf else HfApi()
    if not is_local(cfg.model_id):
        check_model_on_hub(api, cfg.model_id)
    if not is_local(cfg.data_dir) and plan.upload_data_from is None:
        check_dataset_on_hub(api, cfg.data_dir, "data_dir")
    return api


def launch_train(plan: TrainPlan, ledger: Ledger) -> JobHandle:
    """Check with the Hub, submit (on hf-jobs the backend uploads the code and local data in one commit first), and
    write the `submitted` ledger line."""
    check_hub(plan)
    backend = get_backend(plan.run_on.backend, ledger.root, plan.spec.namespace)
    return submit(plan.spec, backend, ledger)


def describe_train(plan: TrainPlan, artifacts: str | Path | None = None) -> dict[str, Any]:
    """The dry run: the full job spec, computed offline, with secret names only."""
    return describe(
        plan.spec, plan.run_on.backend, artifacts, uploaded_from=plan.upload_data_from,
        revision="set at submit: the commit that uploads the data with the code",
        config=plan.config.to_dict(), run_on=dataclasses.asdict(plan.run_on),
    )  # fmt: skip


def record_train_result(ledger: Ledger, entry: LedgerEntry) -> dict[str, Any] | None:
    """The `trained` event of a completed training job, from the TRAIN_SUMMARY line of its log (`record_job_result`)."""
    return record_job_result(ledger, entry, TRAIN_ENTRY, SUMMARY_MARKER, LedgerEvent.TRAINED)


def trained_of(ledger: Ledger, job_id: str) -> dict[str, Any] | None:
    """The `trained` event recorded for a training job, if any."""
    return recorded_result(ledger, LedgerEvent.TRAINED, job_id)
