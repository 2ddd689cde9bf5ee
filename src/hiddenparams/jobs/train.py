"""A training run as a job: cheap checks before anything is spent, the job spec, and the data shipped for hf-jobs.

    plan = plan_train(*load_train_config("configs/tiny.yaml"))  # offline: data, model folder, repo names
    describe_train(plan)                                         # the dry run: what would be submitted
    handle = launch_train(plan, Ledger())                        # token + Hub checks, code+data upload, submit, ledger

`plan_train` is the one check of a run: the dry run and the submit both go through it, so the dry run refuses
everything the submit would refuse without the Hub (the submit then asks the Hub about the model and the data).

The job runs `hiddenparams.jobs.train_job --config-json <the resolved config>`. On hf-jobs the job cannot see local
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

from ..model.chat_format import over_length, row_lengths
from ..config import RunOn, TrainConfig
from ..hub import is_local
from ..ledger import Ledger, LedgerEntry, LedgerEvent
from ..model.load import ModelLoadError, counting_tokenizer, offline_config
from ..data.rows import json_objects
from .train_job import SPLITS, SUMMARY_MARKER, check_data_dir
from . import describe, get_backend, record_job_result, recorded_result, submit
from .base import JobHandle, JobSpec
from .estimate import (
    DataLengths, EstimateError, Hardware, ModelShape, RunEstimate, estimate_run, full_config, hardware_table,
    model_shape,
)  # fmt: skip
from .hf import check_flavor, flavor_gpus, hub_hardware, require_token
from .hub import PreflightError, check_dataset_on_hub, check_model_on_hub, valid_repo_id

TRAIN_ENTRY = "hiddenparams.jobs.train_job"


@dataclass
class TrainPlan:
    config: TrainConfig  # as the job will run it (data_dir is the Hub dataset when the data is uploaded)
    run_on: RunOn  # with the namespace filled in on hf-jobs
    spec: JobSpec
    upload_data_from: str | None = None  # a local folder whose files go with the job's code to `config.data_dir`
    # hf-jobs: whether the run fits the flavor, its minutes and cost (jobs/estimate.py), or why there is none
    estimate: RunEstimate | None = None
    estimate_inputs: tuple[ModelShape, DataLengths] | None = None
    no_estimate: str | None = None
    allow_cpu: bool = False


def plan_train(
    cfg: TrainConfig, run_on: RunOn | None = None, num_processes: int = 1, allow_cpu: bool = False
) -> TrainPlan:
    """The job for this config, after the checks that need no network. `num_processes` is for the local backend;
    on hf-jobs the flavor decides (`a100x4` -> 4 processes), and the run must fit it (`allow_cpu`: a model over 1B
    parameters on a CPU flavor too)."""
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
    plan = TrainPlan(config=job_cfg, run_on=run_on, spec=spec, upload_data_from=upload_from, allow_cpu=allow_cpu)
    if run_on.hf:
        estimate_plan(plan, cfg, hardware_table())
    return plan


def data_lengths(data_dir: Path, tokenizer: Any, name: str, max_length: int | None = None) -> DataLengths:
    """Tokens of every train and validation row, prompt + completion rendered as the job renders them. A row over a
    set `max_length` is refused with its file and line: the job would refuse it too, after the upload."""
    split_lengths = {}
    for split in SPLITS:
        path = data_dir / f"{split}.jsonl"
        split_lengths[split] = row_lengths(tokenizer, ((f"{path}:{line}", row) for line, row in json_objects(path)))
    refusal = over_length([pair for pairs in split_lengths.values() for pair in pairs], max_length, "max_length")
    if refusal:
        raise PreflightError(refusal)
    train, validation = ([tokens for _, tokens in split_lengths[split]] for split in SPLITS)
    return DataLengths(train, validation, name)


def estimate_plan(plan: TrainPlan, cfg: TrainConfig, table: dict[str, Hardware]) -> None:
    """Fill `plan.estimate` for the flavor (or say in `plan.no_estimate` why there is none) and refuse a run the
    flavor cannot hold. `cfg` is the config with the local data folder, before it was pointed at the Hub."""
    if plan.estimate_inputs is None:
        config = offline_config(cfg.model_id)
        if config is None:
            plan.no_estimate = (f"no estimate: {cfg.model_id}'s config.json is not on this machine"
                                f" (`hf download {cfg.model_id} config.json` once puts it in the cache)")  # fmt: skip
            return
        if plan.upload_data_from is None:
            plan.no_estimate = f"no estimate: the data is on the Hub ({cfg.data_dir}), its rows are not counted here"
            return
        try:
            shape = model_shape(full_config(config))
            counting = counting_tokenizer(cfg.model_id)
        except (EstimateError, ModelLoadError) as exc:
            plan.no_estimate = f"no estimate: {exc}"
            return
        plan.estimate_inputs = (shape, data_lengths(Path(plan.upload_data_from), *counting, max_length=cfg.max_length))
    shape, lengths = plan.estimate_inputs
    plan.estimate = estimate_run(shape, plan.config, lengths, plan.run_on.flavor, table, allow_cpu=plan.allow_cpu)
    plan.spec.estimate = plan.estimate.to_dict()
    if plan.estimate.refusal:
        raise PreflightError(plan.estimate.refusal)


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
    """Check with the Hub, estimate again at the Hub's current prices (refusing a run the flavor cannot hold), submit
    (on hf-jobs the backend uploads the code and local data in one commit first), and write the `submitted` ledger
    line, with the estimate."""
    api = check_hub(plan)
    if plan.estimate is not None and not plan.spec.smoke:  # a smoke job runs on cpu-basic: not the run estimated
        estimate_plan(plan, plan.config, hub_hardware(api))
    backend = get_backend(plan.run_on.backend, ledger.root, plan.spec.namespace)
    return submit(plan.spec, backend, ledger)


def describe_train(plan: TrainPlan, artifacts: str | Path | None = None) -> dict[str, Any]:
    """The dry run: the full job spec, computed offline, with secret names only."""
    estimate = {"estimate": plan.estimate.to_dict()} if plan.estimate else {}
    if plan.no_estimate:
        estimate = {"estimate": {"skipped": plan.no_estimate}}
    return describe(
        plan.spec, plan.run_on.backend, artifacts, uploaded_from=plan.upload_data_from,
        revision="set at submit: the commit that uploads the data with the code",
        config=plan.config.to_dict(), run_on=dataclasses.asdict(plan.run_on), **estimate,
    )  # fmt: skip


def record_train_result(ledger: Ledger, entry: LedgerEntry) -> dict[str, Any] | None:
    """The `trained` event of a completed training job, from the TRAIN_SUMMARY line of its log (`record_job_result`)."""
    return record_job_result(ledger, entry, TRAIN_ENTRY, SUMMARY_MARKER, LedgerEvent.TRAINED)


def trained_of(ledger: Ledger, job_id: str) -> dict[str, Any] | None:
    """The `trained` event recorded for a training job, if any."""
    return recorded_result(ledger, LedgerEvent.TRAINED, job_id)
