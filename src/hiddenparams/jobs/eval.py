"""An evaluation as a job: cheap checks before anything is spent, the job spec, the data shipped for hf-jobs, and the
job's result brought back into the ledger.

    cfg = EvalConfig(data="test.jsonl", out="eval", base_model_id=B, adapter_model_id=A)
    plan = plan_eval(EvalJob(cfg, backend="hf-jobs", namespace="alice"))  # offline: data, model folders, repo names
    describe_eval(plan)                               # the dry run: what would be submitted
    handle = launch_eval(plan, Ledger())              # token + Hub checks, data upload, submit, ledger

The job runs `hiddenparams.jobs.eval_job` (see its docstring). On hf-jobs the job cannot see local files: the test rows and
the train rows (for the baselines) are committed first as `test.jsonl` / `train.jsonl` to a private dataset repo
`{namespace}/{name}-eval-data` and the job reads that commit; a local model folder is an error (push it first). The
job's disk is ephemeral: `--push-results-to` uploads its eval folder to a model repo. Either way its last log line,
EVAL_SUMMARY, becomes the `evaluated` ledger event once the job is seen completed (`record_eval_result`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from ..config import config_hash
from ..hub import is_local
from ..data.rows import DataError
from .eval_job import SUMMARY_MARKER
from ..eval.modes import read_eval_data
from ..eval.evaluate import DATA_FILES, EvalConfig
from ..ledger import Ledger, LedgerEntry, LedgerEvent
from ..model.load import check_adapter
from ..files import check_out
from . import BACKENDS, describe, get_backend, record_job_result, recorded_result, submit
from .base import JobHandle, JobSpec
from .hf import check_flavor, require_token, timeout_seconds
from .hub import PreflightError, check_dataset_on_hub, check_model_on_hub, valid_repo_id


EVAL_ENTRY = "hiddenparams.jobs.eval_job"
DEFAULT_FLAVOR = "a10g-small"  # one 24 GB GPU: the 3B model in bf16 with room for batched generation
JOB_OUT_ROOT = "/tmp/hiddenparams"  # where an hf-jobs eval writes `--out` inside its container
DEFAULT_TIMEOUT = "1h"  # generation for a test split takes minutes; the service default (30 min) is tight for 3B
_MODEL_FLAGS = (
    ("--model-id", "model_id"),
    ("--base-model-id", "base_model_id"),
    ("--adapter-model-id", "adapter_model_id"),
)
_DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")  # a --data that names a file, not a dataset repo


@dataclass
class EvalJob:
    """An eval job: the evaluation's config, whole, and where it runs (`flavor`, `timeout` and `namespace` only
    matter on hf-jobs)."""

    config: EvalConfig
    backend: str = "local"
    flavor: str = DEFAULT_FLAVOR
    timeout: str = DEFAULT_TIMEOUT
    namespace: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class EvalPlan:
    job: EvalJob  # as the job will run it (data is the Hub dataset when local files are uploaded)
    spec: JobSpec
    upload: dict[str, str] = field(default_factory=dict)  # path in the dataset repo -> local file, sent at submit


def _check_models(cfg: EvalConfig, hf: bool) -> EvalConfig:
    """Models that are folders (made absolute, as the ledger records them) or valid repo ids (the mode was checked
    by `EvalConfig.validate`)."""
    resolved = {}
    for flag, name in _MODEL_FLAGS:
        value = getattr(cfg, name)
        if value is None:
            continue
        if not is_local(value):
            valid_repo_id(value, f"{flag} is no local folder, and as a Hub model id")
            continue
        if not Path(value).exists():
            raise PreflightError(f"{flag} {value}: no such folder")
        if hf:
            raise PreflightError(
                f"{flag} {value} is a local folder the job cannot see: push it to the Hub first"
                " (the training job's hub_model_id, or `hiddenparams merge --push-to`)"
            )
        if name == "adapter_model_id":
            check_adapter(value)
        elif not (Path(value) / "config.json").is_file():
            raise PreflightError(f"{flag} {value}: a folder without config.json")
        resolved[name] = str(Path(value).resolve())
    return dataclasses.replace(cfg, **resolved)


def _eval_data_repo(cfg: EvalConfig, namespace: str) -> str:
    """`{namespace}/{name}-eval-data`, named after the results repo, else the evaluated model."""
    source = cfg.push_results_to or cfg.adapter_model_id or cfg.model_id
    assert source is not None  # _check_models guarantees a model
    repo = f"{namespace}/{source.rstrip('/').split('/')[-1]}-eval-data"
    valid_repo_id(repo, "the dataset repo for the eval data")
    return repo


def plan_eval(job: EvalJob) -> EvalPlan:
    """The job for this request, after the checks that need no network: model folders or repo ids, the output
    folder, the data rows themselves (read and validated here, cheaply), repo names, namespace and timeout."""
    if job.backend not in BACKENDS:
        raise PreflightError(f"unknown backend {job.backend!r}: use one of {', '.join(BACKENDS)}")
    hf = job.backend == "hf-jobs"
    cfg = _check_models(job.config, hf)
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

    upload: dict[str, str] = {}
    namespace = ship_repo = None
    if hf:
        namespace = job.namespace or (cfg.push_results_to.split("/")[0] if cfg.push_results_to else None)
        if not namespace:
            raise PreflightError(
                "hf-jobs needs --namespace (the user or organisation that runs the job), or --push-results-to"
            )
        timeout_seconds(job.timeout)
        check_flavor(job.flavor)
        # The job's working directory is the image's, unknown and maybe not writable: an absolute folder it owns.
        cfg = dataclasses.replace(cfg, out=f"{JOB_OUT_ROOT}/{Path(cfg.out or '').name or 'eval'}")
        ship_repo = _eval_data_repo(cfg, namespace)  # the job's code goes there, with the data when it is local
        if local_data:
            upload = dict(zip(DATA_FILES, (cfg.data, cfg.train)))
            upload = {name: path for name, path in upload.items() if path}
            cfg = dataclasses.replace(cfg, data=ship_repo, train=None)
        elif cfg.train and Path(cfg.train).exists():
            raise PreflightError(
                f"--train {cfg.train} is a local file the job cannot see: with a Hub dataset as --data,"
                " --train names a file of that dataset"
            )
    else:
        check_out(Path(cfg.out or ""), cfg.overwrite)
        cfg = dataclasses.replace(cfg, out=str(Path(cfg.out or "").resolve()))
    job = dataclasses.replace(job, config=cfg, namespace=namespace)
    spec = JobSpec(
        entry=EVAL_ENTRY,
        args=cfg.to_args(),
        name="eval",
        flavor=job.flavor,
        timeout=job.timeout,
        namespace=job.namespace,
        config_hash=config_hash(job),
        data=cfg.data,
        upload=upload,
        ship_repo=ship_repo,
    )
    return EvalPlan(job=job, spec=spec, upload=upload)


def check_hub(plan: EvalPlan) -> HfApi:
    """The checks that ask the Hub, token first: no request leaves without one on hf-jobs (or when the job pushes)."""
    cfg = plan.job.config
    needs_token = plan.job.backend == "hf-jobs" or cfg.push_results_to is not None
    api = HfApi(token=require_token()) if needs_token else HfApi()
    for flag, name in _MODEL_FLAGS:
        value = getattr(cfg, name)
        if value is not None and not is_local(value):
            check_model_on_hub(api, value, flag)
    if not plan.upload and not is_local(cfg.data or ""):
        check_dataset_on_hub(api, cfg.data or "", "--data")
    return api


def launch_eval(plan: EvalPlan, ledger: Ledger) -> JobHandle:
    """Check with the Hub, submit (on hf-jobs the backend commits the code and local data first, and the job reads
    that very commit), and write the `submitted` ledger line."""
    check_hub(plan)
    backend = get_backend(plan.job.backend, ledger.root, plan.spec.namespace)
    return submit(plan.spec, backend, ledger)


def describe_eval(plan: EvalPlan, artifacts: str | Path | None = None) -> dict[str, Any]:
    """The dry run: the full job spec, computed offline, with secret names only."""
    cfg = plan.job.config
    warnings = []
    if plan.job.backend == "hf-jobs" and not cfg.push_results_to:
        warnings.append(
            "no --push-results-to: the job's files go with its disk; only the summary in its log reaches the ledger"
        )
    return describe(
        plan.spec, plan.job.backend, artifacts, uploaded_from=plan.upload, warnings=warnings,
        revision="the upload's commit, added at submit as --data-revision",
        job=plan.job.to_dict(), evaluates=cfg.model_args(), results=cfg.push_results_to,
    )  # fmt: skip


def record_eval_result(ledger: Ledger, entry: LedgerEntry) -> dict[str, Any] | None:
    """The `evaluated` event of a completed eval job, from the EVAL_SUMMARY line of its log (`record_job_result`)."""
    return record_job_result(ledger, entry, EVAL_ENTRY, SUMMARY_MARKER, LedgerEvent.EVALUATED)


def evaluated_of(ledger: Ledger, job_id: str) -> dict[str, Any] | None:
    """The `evaluated` event recorded for an eval job, if any."""
    return recorded_result(ledger, LedgerEvent.EVALUATED, job_id)
