"""The training stage as a job: its declaration (`TRAIN`) and what is its own: the checks of data and model before
anything is spent, the data shipped for hf-jobs, and the estimate of memory, minutes and cost on hf-jobs.

    plan = plan_job(TRAIN, *load_configs("configs/tiny.yaml", {}, TrainConfig, RunOn))  # offline checks
    describe_job(plan)                                   # the dry run: what would be submitted
    handle = launch_job(plan, Ledger())                  # token + Hub checks, code+data upload, submit, ledger

The job runs `hiddenparams.jobs.train_job --config-json <the resolved config>`. On hf-jobs the job cannot see local
folders: a local `data_dir` is uploaded first to a private dataset repo `{namespace}/{model repo name}-data` and the
job's config points at that dataset (read at the commit that uploaded it); a local `model_id` is an error (push it
to the Hub first). The job's last log line, TRAIN_SUMMARY, becomes the `trained` ledger event once the job is seen
completed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from ..config import RunOn, TrainConfig
from ..data.convert import TRAIN_SPLITS, check_data_dir
from ..data.rows import json_objects
from ..hub import PreflightError, check_dataset_on_hub, check_model_on_hub, is_local, valid_repo_id
from ..ledger import LedgerEvent
from ..model.chat_format import over_length, row_lengths
from ..model.load import ModelLoadError, counting_tokenizer, full_config, offline_config
from .estimate import (
    DataLengths,
    EstimateError,
    Hardware,
    estimate_run,
    hardware_table,
    model_shape,
)
from .hf import hub_hardware
from .stage import JobPlan, Prepared, StageJob, model_ref


def prepare(cfg: TrainConfig, run_on: RunOn) -> Prepared:
    """The checks of a training run that need no network (data rows, model folder, repo names), and where the job
    reads and writes: on hf-jobs the result must be pushed (the job's disk is ephemeral) and local data is uploaded."""
    if run_on.hf and not cfg.hub_model_id:
        raise PreflightError(
            "field 'hub_model_id': hf-jobs writes to an ephemeral disk: give the repo the job pushes to"
        )
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
    model_ref(cfg.model_id, "model_id", run_on.hf)  # the job resolves a local model_id itself: kept as given
    if not run_on.hf:
        return Prepared(cfg, model_repo=str(cfg.model_dir().resolve()), data=cfg.data_dir)

    assert cfg.hub_model_id and run_on.namespace  # hf-jobs: required above; the namespace is the repo's by default
    namespace = run_on.namespace
    # The job's code goes to this private dataset repo, with the data when it is local.
    ship_repo = f"{namespace}/{cfg.hub_model_id.split('/')[1]}-data"
    valid_repo_id(ship_repo, "the dataset repo for the training data")
    job_cfg, upload, uploaded_from = cfg, {}, None
    if local_data:
        uploaded_from = str(cfg.data_dir)
        upload = {path.name: str(path) for path in sorted(Path(cfg.data_dir).glob("*.jsonl"))}
        job_cfg = dataclasses.replace(cfg, data_dir=ship_repo)
    return Prepared(
        job_cfg,
        model_repo=cfg.hub_model_id,
        data=job_cfg.data_dir,
        ship_repo=ship_repo,
        upload=upload,
        uploaded_from=uploaded_from,
    )


def data_lengths(data_dir: Path, tokenizer: Any, name: str, max_length: int | None = None) -> DataLengths:
    """Tokens of every train and validation row, prompt + completion rendered as the job renders them. A row over a
    set `max_length` is refused with its file and line: the job would refuse it too, after the upload."""
    split_lengths = {}
    for split in TRAIN_SPLITS:
        path = data_dir / f"{split}.jsonl"
        split_lengths[split] = row_lengths(tokenizer, ((f"{path}:{line}", row) for line, row in json_objects(path)))
    refusal = over_length([pair for pairs in split_lengths.values() for pair in pairs], max_length, "max_length")
    if refusal:
        raise PreflightError(refusal)
    train, validation = ([tokens for _, tokens in split_lengths[split]] for split in TRAIN_SPLITS)
    return DataLengths(train, validation, name)


def finish_plan(plan: JobPlan) -> None:
    """On hf-jobs: whether the run fits the flavor, its minutes and cost, at the dated prices (the submit asks the
    Hub's again)."""
    if plan.run_on.hf:
        estimate_plan(plan, hardware_table())
    if plan.no_estimate:
        plan.prepared.shown["estimate"] = {"skipped": plan.no_estimate}


def estimate_plan(plan: JobPlan, table: dict[str, Hardware]) -> None:
    """Fill `plan.estimate` for the flavor (or say in `plan.no_estimate` why there is none) and refuse a run the
    flavor cannot hold. The data counted is the local folder, before the job's config pointed at the Hub."""
    cfg = plan.config
    uploaded_from = plan.prepared.uploaded_from
    if plan.estimate_inputs is None:
        config = offline_config(cfg.model_id)
        if config is None:
            plan.no_estimate = (
                f"no estimate: {cfg.model_id}'s config.json is not on this machine"
                f" (`hf download {cfg.model_id} config.json` once puts it in the cache)"
            )
            return
        if uploaded_from is None:
            plan.no_estimate = f"no estimate: the data is on the Hub ({cfg.data_dir}), its rows are not counted here"
            return
        try:
            shape = model_shape(full_config(config))
            counting = counting_tokenizer(cfg.model_id)
        except (EstimateError, ModelLoadError) as exc:
            plan.no_estimate = f"no estimate: {exc}"
            return
        plan.estimate_inputs = (shape, data_lengths(Path(uploaded_from), *counting, max_length=cfg.max_length))
    shape, lengths = plan.estimate_inputs
    plan.estimate = estimate_run(shape, cfg, lengths, plan.run_on.flavor or "", table, allow_cpu=plan.allow_cpu)
    plan.spec.estimate = plan.estimate.to_dict()
    plan.prepared.shown["estimate"] = plan.spec.estimate
    if plan.estimate.refusal:
        raise PreflightError(plan.estimate.refusal)


def check_hub(plan: JobPlan, api: HfApi) -> None:
    """The base model on the Hub, and the data when it is a Hub dataset (not uploaded by the submit)."""
    cfg = plan.config
    if not is_local(cfg.model_id):
        check_model_on_hub(api, cfg.model_id)
    if not is_local(cfg.data_dir) and plan.prepared.uploaded_from is None:
        check_dataset_on_hub(api, cfg.data_dir, "data_dir")


def before_submit(plan: JobPlan, api: HfApi) -> None:
    """Estimate again at the Hub's current prices, refusing a run the flavor cannot hold (a smoke job runs on
    cpu-basic: not the run estimated)."""
    if plan.estimate is not None and not plan.spec.smoke:
        estimate_plan(plan, hub_hardware(api))


TRAIN = StageJob(
    name="train",
    config=TrainConfig,
    entry="hiddenparams.jobs.train_job",
    marker="TRAIN_SUMMARY ",
    event=LedgerEvent.TRAINED,
    flavor="cpu-basic",
    timeout="4h",  # the service default of 30 min is too short for real runs
    prepare=prepare,
    check_hub=check_hub,
    pushes_to=lambda cfg: cfg.hub_model_id,
    in_process=False,
    multi_process=True,
    finish_plan=finish_plan,
    before_submit=before_submit,
)
