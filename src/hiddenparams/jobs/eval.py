"""The eval stage as a job: its declaration (`EVAL`) and what is its own: the checks of models and rows before
anything is spent, and the data shipped for hf-jobs.

    plan = plan_job(EVAL, EvalConfig(data="test.jsonl", out="eval", base_model_id=B, adapter_model_id=A),
                    RunOn(backend="hf-jobs", namespace="alice"))  # offline: data, model folders, repo names

The job runs `hiddenparams.jobs.eval_job` (see its docstring). On hf-jobs the job cannot see local files: the test
rows and the train rows (for the baselines) are committed first as `test.jsonl` / `train.jsonl` to a private dataset
repo `{namespace}/{name}-eval-data` and the job reads that commit; a local model folder is an error (push it first).
The job's disk is ephemeral: `--push-results-to` uploads its eval folder to a model repo. Either way its last log line,
EVAL_SUMMARY, becomes the `evaluated` ledger event once the job is seen completed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from huggingface_hub import HfApi

from ..config import RunOn
from ..data.rows import DataError
from ..eval.evaluate import DATA_FILES, EvalConfig
from ..eval.modes import read_eval_data
from ..files import check_out
from ..hub import PreflightError, check_dataset_on_hub, check_model_on_hub, is_local, valid_repo_id
from ..ledger import LedgerEvent
from ..model.load import check_adapter
from .stage import JobPlan, Prepared, StageJob, job_output, model_ref

_MODEL_FLAGS = (
    ("--model-id", "model_id"),
    ("--base-model-id", "base_model_id"),
    ("--adapter-model-id", "adapter_model_id"),
)
_DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")  # a --data that names a file, not a dataset repo


def _check_models(cfg: EvalConfig, hf: bool) -> EvalConfig:
    """The models that are set, as `model_ref` resolves them (the mode was checked by `EvalConfig.validate`); a local
    adapter is also checked as an adapter."""
    resolved = {}
    for flag, name in _MODEL_FLAGS:
        value = getattr(cfg, name)
        if value is None:
            continue
        marker = "adapter_config.json" if name == "adapter_model_id" else "config.json"
        resolved[name] = model_ref(value, flag, hf, marker)
        if name == "adapter_model_id" and is_local(value):
            check_adapter(value)
    return dataclasses.replace(cfg, **resolved)


def _eval_data_repo(cfg: EvalConfig, namespace: str) -> str:
    """`{namespace}/{name}-eval-data`, named after the results repo, else the evaluated model."""
    source = cfg.push_results_to or cfg.adapter_model_id or cfg.model_id
    assert source is not None  # _check_models guarantees a model
    repo = f"{namespace}/{source.rstrip('/').split('/')[-1]}-eval-data"
    valid_repo_id(repo, "the dataset repo for the eval data")
    return repo


def prepare(cfg: EvalConfig, run_on: RunOn) -> Prepared:
    """The checks that need no network: model folders or repo ids, the output folder, the data rows themselves (read
    and validated here, cheaply), repo names; and where the job reads and writes."""
    cfg = _check_models(cfg, run_on.hf)
    if cfg.push_results_to:
        valid_repo_id(cfg.push_results_to, "--push-results-to")
    data, train = cfg.data or "", cfg.train

    local_data = Path(data).is_file()
    if local_data:
        read = read_eval_data(Path(data), Path(train) if train else None, cfg.max_rows)
        train = str(read.train_path.resolve()) if read.train_path else None
        cfg = dataclasses.replace(cfg, data=str(Path(data).resolve()), train=train)
    elif is_local(data) or Path(data).suffix in _DATA_SUFFIXES:
        raise DataError(f"--data {data}: no such file (a file of canonical rows, or a Hub dataset id)")
    else:
        valid_repo_id(data, "--data is no local file, and as a Hub dataset id")
    evaluates = {"evaluates": cfg.model_args(), "results": cfg.push_results_to}
    if not run_on.hf:
        check_out(Path(cfg.out or ""), cfg.overwrite)
        cfg = dataclasses.replace(cfg, out=str(Path(cfg.out or "").resolve()))
        return Prepared(cfg, data=cfg.data, shown=evaluates)

    namespace = run_on.namespace
    if not namespace:
        raise PreflightError(
            "hf-jobs needs --namespace (the user or organisation that runs the job), or --push-results-to"
        )
    cfg = dataclasses.replace(cfg, out=job_output(cfg.out or "", "eval"))
    upload: dict[str, str] = {}
    ship_repo = _eval_data_repo(cfg, namespace)  # the job's code goes there, with the data when it is local
    if local_data:
        upload = {name: path for name, path in zip(DATA_FILES, (cfg.data, cfg.train)) if path}
        cfg = dataclasses.replace(cfg, data=ship_repo, train=None)
    elif cfg.train and Path(cfg.train).exists():
        raise PreflightError(
            f"--train {cfg.train} is a local file the job cannot see: with a Hub dataset as --data,"
            " --train names a file of that dataset"
        )
    warnings = (
        []
        if cfg.push_results_to
        else ["no --push-results-to: the job's files go with its disk; only the summary in its log reaches the ledger"]
    )
    return Prepared(
        cfg,
        data=cfg.data,
        ship_repo=ship_repo,
        upload=upload,
        uploaded_from=upload or None,
        warnings=warnings,
        shown=evaluates,
    )


def check_hub(plan: JobPlan, api: HfApi) -> None:
    """The models on the Hub, and the data when it is a Hub dataset (not uploaded by the submit)."""
    cfg = plan.config
    for flag, name in _MODEL_FLAGS:
        value = getattr(cfg, name)
        if value is not None and not is_local(value):
            check_model_on_hub(api, value, flag)
    if not plan.spec.upload and not is_local(cfg.data or ""):
        check_dataset_on_hub(api, cfg.data or "", "--data")


EVAL = StageJob(
    name="eval",
    config=EvalConfig,
    entry="hiddenparams.jobs.eval_job",
    marker="EVAL_SUMMARY ",
    event=LedgerEvent.EVALUATED,
    flavor="a10g-small",  # one 24 GB GPU: the 3B model in bf16 with room for batched generation
    timeout="1h",  # generation for a test split takes minutes; the service default (30 min) is tight for 3B
    prepare=prepare,
    check_hub=check_hub,
    pushes_to=lambda cfg: cfg.push_results_to,
)
