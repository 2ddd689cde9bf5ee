"""A training run as a job: cheap checks before anything is spent, the job spec, and the data shipped for hf-jobs.

    plan = plan_train(load_config("configs/tiny.yaml"))        # offline: data, model folder, repo names
    describe_train(plan)                                         # the dry run: what would be submitted
    handle = launch_train(plan, Ledger())                        # token + Hub checks, data upload, submit, ledger

The job runs `hiddenparams.train_job --config-json <the resolved config>`. On hf-jobs the job cannot see local
folders: a local `data_dir` is uploaded first to a private dataset repo `{namespace}/{model repo name}-data` and the
job's config points at that dataset; a local `model_id` is an error (push it to the Hub first).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from ..config import TrainConfig
from ..ledger import Ledger
from . import get_backend, submit
from .base import JobError, JobHandle, JobSpec
from .hf import NO_TOKEN, check_flavor, flavor_gpus, require_token
from .hub import PreflightError, check_dataset_on_hub, check_model_on_hub, valid_repo_id

TRAIN_ENTRY = "hiddenparams.train_job"


@dataclass
class TrainPlan:
    config: TrainConfig  # as the job will run it (data_dir is the Hub dataset when the data is uploaded)
    spec: JobSpec
    upload_data_from: str | None = None  # a local folder whose files go with the job's code to `config.data_dir`


def check_train_file(data_dir: Path) -> None:
    """train.jsonl exists, has a row, and its first row is a {prompt, completion} record from `hiddenparams convert`."""
    train = data_dir / "train.jsonl"
    if not train.is_file():
        raise PreflightError(f"{train}: no such file; data_dir must hold the output of `hiddenparams convert`")
    with open(train, encoding="utf-8-sig") as f:
        first = next(((number, line) for number, line in enumerate(f, start=1) if line.strip()), None)
    if first is None:
        raise PreflightError(f"{train}: empty training set (no rows)")
    number, line = first
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PreflightError(f"{train}:{number}: not JSON ({exc})") from None
    if not isinstance(row, dict) or not {"prompt", "completion"} <= row.keys():
        raise PreflightError(
            f"{train}:{number}: expected a {{prompt, completion}} row; run `hiddenparams convert` first"
        )


def plan_train(cfg: TrainConfig, num_processes: int = 1) -> TrainPlan:
    """The job for this config, after the checks that need no network. `num_processes` is for the local backend;
    on hf-jobs the flavor decides (`a100x4` -> 4 processes)."""
    hf = cfg.backend == "hf-jobs"
    data_dir = Path(cfg.data_dir)
    if data_dir.exists():
        check_train_file(data_dir)
    else:
        valid_repo_id(cfg.data_dir, "data_dir is no local folder, and as a Hub dataset id")
    if Path(cfg.model_id).exists():
        if not (Path(cfg.model_id) / "config.json").is_file():
            raise PreflightError(f"model_id {cfg.model_id}: a folder without config.json is not a model")
        if hf:
            raise PreflightError(f"model_id {cfg.model_id} is a local folder the job cannot see: push it to the Hub")
    else:
        valid_repo_id(cfg.model_id, "model_id is no local folder, and as a Hub model id")

    upload_from, upload, ship_repo = None, {}, None
    if hf:
        assert cfg.hub_model_id  # TrainConfig.validate requires it on hf-jobs
        valid_repo_id(cfg.hub_model_id, "hub_model_id")
        check_flavor(cfg.flavor)
        namespace = cfg.namespace or cfg.hub_model_id.split("/")[0]  # explicit: never a whoami call per request
        job_cfg = dataclasses.replace(cfg, namespace=namespace)
        # The job's code goes to this private dataset repo, with the data when it is local.
        ship_repo = f"{namespace}/{cfg.hub_model_id.split('/')[1]}-data"
        valid_repo_id(ship_repo, "the dataset repo for the training data")
        if data_dir.exists():
            upload_from, job_cfg.data_dir = str(data_dir), ship_repo
            upload = {path.name: str(path) for path in sorted(data_dir.glob("*.jsonl"))}
        model_repo, processes = cfg.hub_model_id, flavor_gpus(cfg.flavor)
    else:
        job_cfg, namespace = cfg, None
        model_repo, processes = str(cfg.model_dir().resolve()), num_processes
    spec = JobSpec(
        entry=TRAIN_ENTRY,
        args=["--config-json", json.dumps(job_cfg.to_dict(), sort_keys=True)],
        name="train",
        flavor=cfg.flavor,
        timeout=cfg.timeout,
        namespace=namespace,
        num_processes=processes,
        config_hash=job_cfg.config_hash(),
        model_repo=model_repo,
        data=job_cfg.data_dir,
        upload=upload,
        ship_repo=ship_repo,
    )
    return TrainPlan(config=job_cfg, spec=spec, upload_data_from=upload_from)


def check_hub(plan: TrainPlan) -> HfApi:
    """The checks that ask the Hub, token first: no request leaves without one on hf-jobs."""
    cfg = plan.config
    api = HfApi(token=require_token()) if cfg.backend == "hf-jobs" else HfApi()
    if not Path(cfg.model_id).exists():
        check_model_on_hub(api, cfg.model_id)
    if not Path(cfg.data_dir).exists() and plan.upload_data_from is None:
        check_dataset_on_hub(api, cfg.data_dir, "data_dir")
    return api


def launch_train(plan: TrainPlan, ledger: Ledger) -> JobHandle:
    """Check with the Hub, submit (on hf-jobs the backend uploads the code and local data in one commit first), and
    write the `submitted` ledger line."""
    check_hub(plan)
    backend = get_backend(plan.config.backend, ledger.root, plan.spec.namespace)
    return submit(plan.spec, backend, ledger)


def describe_train(plan: TrainPlan, artifacts: str | Path | None = None) -> dict[str, Any]:
    """The dry run: the full job spec, computed offline, with secret names only."""
    backend = get_backend(plan.config.backend, artifacts, plan.spec.namespace)
    described = backend.describe(plan.spec)
    described["config_hash"] = plan.spec.config_hash
    described["config"] = plan.config.to_dict()
    described["data"] = {
        "job_reads": plan.config.data_dir,
        "uploaded_from": plan.upload_data_from,  # to a private dataset repo, at submit time
        **({"revision": "set at submit: the commit that uploads the data with the code"} if plan.spec.upload else {}),
    }
    if plan.config.backend == "hf-jobs":
        try:
            require_token()
        except JobError:
            described["warnings"] = [NO_TOKEN]
    return described
