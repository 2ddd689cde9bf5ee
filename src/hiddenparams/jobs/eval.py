"""An evaluation as a job: cheap checks before anything is spent, the job spec, the data shipped for hf-jobs, and the
job's result brought back into the ledger.

    plan = plan_eval(EvalJob(data="test.jsonl", out="eval", base_model_id=B, adapter_model_id=A, backend="hf-jobs",
                             namespace="alice"))      # offline: data rows, model folders, repo names
    describe_eval(plan)                               # the dry run: what would be submitted
    handle = launch_eval(plan, Ledger())              # token + Hub checks, data upload, submit, ledger

The job runs `hiddenparams.eval_job` (see its docstring). On hf-jobs the job cannot see local files: the test rows and
the train rows (for the baselines) are committed first as `test.jsonl` / `train.jsonl` to a private dataset repo
`{namespace}/{name}-eval-data` and the job reads that commit; a local model folder is an error (push it first). The
job's disk is ephemeral: `--push-results-to` uploads its eval folder to a model repo. Either way its last log line,
EVAL_SUMMARY, becomes the `evaluated` ledger event once the job is seen completed (`record_eval_result`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from ..convert import DataError
from ..eval_job import DATA_FILES, parse_summary
from ..evaluate import DEFAULT_BATCH_SIZE, read_eval_data
from ..ledger import Ledger, LedgerEntry, LedgerEvent
from . import BACKENDS, backend_for, get_backend, submit
from .base import JobError, JobHandle, JobSpec, JobStage
from .hf import NO_TOKEN, check_flavor, require_token, timeout_seconds
from .hub import PreflightError, check_dataset_on_hub, check_model_on_hub, valid_repo_id

logger = logging.getLogger(__name__)

EVAL_ENTRY = "hiddenparams.eval_job"
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
    """An eval job: the arguments of `hiddenparams.eval_job`, and where it runs (`backend`; `flavor`, `timeout`
    and `namespace` only matter on hf-jobs)."""

    data: str
    out: str
    model_id: str | None = None
    base_model_id: str | None = None
    adapter_model_id: str | None = None
    train: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    max_rows: int | None = None
    constrained: bool = False
    distribution: bool = False
    device: str | None = None
    push_results_to: str | None = None
    backend: str = "local"
    flavor: str = DEFAULT_FLAVOR
    timeout: str = DEFAULT_TIMEOUT
    namespace: str | None = None

    def args(self) -> list[str]:
        """The job's command-line arguments."""
        values = [
            *((flag, getattr(self, name)) for flag, name in _MODEL_FLAGS),
            ("--data", self.data),
            ("--train", self.train),
            ("--out", self.out),
            ("--batch-size", self.batch_size),
            ("--max-rows", self.max_rows),
            ("--device", self.device),
            ("--push-results-to", self.push_results_to),
        ]
        args = [part for flag, value in values if value is not None for part in (flag, str(value))]
        switches = (("--constrained", self.constrained), ("--distribution", self.distribution))
        return args + [flag for flag, on in switches if on]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def evaluates(self) -> dict[str, str]:
        return {name: getattr(self, name) for _, name in _MODEL_FLAGS if getattr(self, name)}


@dataclass
class EvalPlan:
    job: EvalJob  # as the job will run it (data is the Hub dataset when local files are uploaded)
    spec: JobSpec
    upload: dict[str, str] = field(default_factory=dict)  # path in the dataset repo -> local file, sent at submit


def _check_models(job: EvalJob, hf: bool) -> EvalJob:
    """One mode; models that are folders (made absolute, as the ledger records them) or valid repo ids."""
    if bool(job.model_id) == bool(job.base_model_id or job.adapter_model_id):
        raise PreflightError("give either --model-id, or both --base-model-id and --adapter-model-id")
    if not job.model_id and not (job.base_model_id and job.adapter_model_id):
        raise PreflightError("base+adapter mode needs both --base-model-id and --adapter-model-id")
    resolved = {}
    for flag, name in _MODEL_FLAGS:
        value = getattr(job, name)
        if value is None:
            continue
        if not Path(value).exists():
            valid_repo_id(value, f"{flag} is no local folder, and as a Hub model id")
            continue
        if hf:
            raise PreflightError(
                f"{flag} {value} is a local folder the job cannot see: push it to the Hub first"
                " (the training job's hub_model_id, or `hiddenparams merge --push-to`)"
            )
        marker = "adapter_config.json" if name == "adapter_model_id" else "config.json"
        if not (Path(value) / marker).is_file():
            raise PreflightError(f"{flag} {value}: a folder without {marker}")
        resolved[name] = str(Path(value).resolve())
    return dataclasses.replace(job, **resolved)


def _eval_data_repo(job: EvalJob, namespace: str) -> str:
    """`{namespace}/{name}-eval-data`, named after the results repo, else the evaluated model."""
    source = job.push_results_to or job.adapter_model_id or job.model_id
    assert source is not None  # _check_models guarantees a model
    repo = f"{namespace}/{source.rstrip('/').split('/')[-1]}-eval-data"
    valid_repo_id(repo, "the dataset repo for the eval data")
    return repo


def plan_eval(job: EvalJob) -> EvalPlan:
    """The job for this request, after the checks that need no network: one model mode, model folders or repo ids,
    the data rows themselves (read and validated here, cheaply), repo names, namespace and timeout on hf-jobs."""
    if job.backend not in BACKENDS:
        raise PreflightError(f"unknown backend {job.backend!r}: use one of {', '.join(BACKENDS)}")
    hf = job.backend == "hf-jobs"
    job = _check_models(job, hf)
    if job.push_results_to:
        valid_repo_id(job.push_results_to, "--push-results-to")

    local_data = Path(job.data).is_file()
    if local_data:
        data = read_eval_data(Path(job.data), Path(job.train) if job.train else None, job.max_rows)
        job = dataclasses.replace(job, data=str(Path(job.data).resolve()), train=str(data.train_path.resolve()))
    elif Path(job.data).exists() or Path(job.data).suffix in _DATA_SUFFIXES:
        raise DataError(f"--data {job.data}: no such file (a file of canonical rows, or a Hub dataset id)")
    else:
        valid_repo_id(job.data, "--data is no local file, and as a Hub dataset id")

    upload: dict[str, str] = {}
    ship_repo = None
    if hf:
        namespace = job.namespace or (job.push_results_to.split("/")[0] if job.push_results_to else None)
        if not namespace:
            raise PreflightError(
                "hf-jobs needs --namespace (the user or organisation that runs the job), or --push-results-to"
            )
        timeout_seconds(job.timeout)
        check_flavor(job.flavor)
        # The job's working directory is the image's, unknown and maybe not writable: an absolute folder it owns.
        job = dataclasses.replace(job, namespace=namespace, out=f"{JOB_OUT_ROOT}/{Path(job.out).name or 'eval'}")
        ship_repo = _eval_data_repo(job, namespace)  # the job's code goes there, with the data when it is local
        if local_data:
            assert job.train is not None
            upload = dict(zip(DATA_FILES, (job.data, job.train)))
            job = dataclasses.replace(job, data=ship_repo, train=None)
        elif job.train and Path(job.train).exists():
            raise PreflightError(
                f"--train {job.train} is a local file the job cannot see: with a Hub dataset as --data,"
                " --train names a file of that dataset"
            )
    else:
        job = dataclasses.replace(job, out=str(Path(job.out).resolve()), namespace=None)
    spec = JobSpec(
        entry=EVAL_ENTRY,
        args=job.args(),
        name="eval",
        flavor=job.flavor,
        timeout=job.timeout,
        namespace=job.namespace,
        config_hash=job.config_hash(),
        data=job.data,
        upload=upload,
        ship_repo=ship_repo,
    )
    return EvalPlan(job=job, spec=spec, upload=upload)


def check_hub(plan: EvalPlan) -> HfApi:
    """The checks that ask the Hub, token first: no request leaves without one on hf-jobs (or when the job pushes)."""
    job = plan.job
    needs_token = job.backend == "hf-jobs" or job.push_results_to is not None
    api = HfApi(token=require_token()) if needs_token else HfApi()
    for flag, name in _MODEL_FLAGS:
        value = getattr(job, name)
        if value is not None and not Path(value).exists():
            check_model_on_hub(api, value, flag)
    if not plan.upload and not Path(job.data).exists():
        check_dataset_on_hub(api, job.data, "--data")
    return api


def launch_eval(plan: EvalPlan, ledger: Ledger) -> JobHandle:
    """Check with the Hub, submit (on hf-jobs the backend commits the code and local data first, and the job reads
    that very commit), and write the `submitted` ledger line."""
    check_hub(plan)
    backend = get_backend(plan.job.backend, ledger.root, plan.spec.namespace)
    return submit(plan.spec, backend, ledger)


def describe_eval(plan: EvalPlan, artifacts: str | Path | None = None) -> dict[str, Any]:
    """The dry run: the full job spec, computed offline, with secret names only."""
    backend = get_backend(plan.job.backend, artifacts, plan.spec.namespace)
    described = backend.describe(plan.spec)
    described["config_hash"] = plan.spec.config_hash
    described["job"] = plan.job.to_dict()
    described["evaluates"] = plan.job.evaluates()
    described["data"] = {
        "job_reads": plan.job.data,
        "uploaded_from": plan.upload or None,  # to a private dataset repo, at submit time
        **({"revision": "the upload's commit, added at submit as --data-revision"} if plan.upload else {}),
    }
    described["results"] = plan.job.push_results_to
    warnings = []
    if plan.job.backend == "hf-jobs":
        if not plan.job.push_results_to:
            warnings.append(
                "no --push-results-to: the job's files go with its disk; only the summary in its log reaches the ledger"
            )
        try:
            require_token()
        except JobError:
            warnings.append(NO_TOKEN)
    if warnings:
        described["warnings"] = warnings
    return described


def record_eval_result(ledger: Ledger, entry: LedgerEntry) -> dict[str, Any] | None:
    """Append the `evaluated` event of a completed eval job, read from the EVAL_SUMMARY line of its log, and return
    it; None (with a logged warning) when the log cannot be read or holds no summary."""
    if entry.job_id is None or entry.details.get("entry") != EVAL_ENTRY:
        return None
    summary = None
    try:
        for line in backend_for(entry, ledger.root).logs(entry.job_id):
            summary = parse_summary(line) or summary
    except JobError as exc:
        logger.warning("eval job %s: cannot read its log for the results: %s", entry.job_id, exc)
        return None
    if summary is None:
        logger.warning("eval job %s completed without an EVAL_SUMMARY line in its log", entry.job_id)
        return None
    record = ledger.append(
        LedgerEvent.EVALUATED,
        **{**entry.identity(), "model_repo": summary.get("model_repo")},
        repo_kind=summary.get("repo_kind"),
        state=JobStage.COMPLETED.value,
        details=summary.get("details") or {},
    )
    entry.model_repo, entry.repo_kind, entry.last_time = record["model_repo"], record["repo_kind"], record["time"]
    entry.details.update(record["details"])
    entry.events.append(record["event"])
    return record


def evaluated_of(ledger: Ledger, job_id: str) -> dict[str, Any] | None:
    """The `evaluated` event recorded for an eval job, if any."""
    return next((r for r in reversed(ledger.read()) if r["event"] == "evaluated" and r["job_id"] == job_id), None)
