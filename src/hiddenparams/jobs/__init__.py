"""Jobs: one interface (submit, status, logs, cancel, wait) over two backends, local and Hugging Face Jobs.

    backend = LocalBackend(artifacts_dir)                  # or HfJobsBackend(namespace)
    handle = submit(JobSpec(entry="hiddenparams.jobs.train_job", args=[...]), backend, Ledger(artifacts_dir))
    # a stage's job is planned, described and launched by jobs/stage.py; the stages are listed in jobs/stages.py
    status = hiddenparams.status.wait_job(handle.job_id, Ledger(artifacts_dir), on_log=print)

The backends run jobs and report on them; `submit` here and `hiddenparams.status` record what happened in the ledger.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..config import BACKENDS
from ..ledger import Ledger, LedgerEntry, LedgerEvent
from .base import TERMINAL_STAGES, JobBackend, JobError, JobHandle, JobSpec, JobStage, JobStatus
from .hf import NO_TOKEN, HfJobsBackend, require_token
from .local import LocalBackend

_logger = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "TERMINAL_STAGES",
    "HfJobsBackend",
    "JobBackend",
    "JobError",
    "JobHandle",
    "JobSpec",
    "JobStage",
    "JobStatus",
    "LocalBackend",
    "backend_for",
    "describe",
    "get_backend",
    "submit",
]


def get_backend(name: str, artifacts: str | Path | None = None, namespace: str | None = None) -> JobBackend:
    if name == "local":
        return LocalBackend(artifacts)
    if name == "hf-jobs":
        if not namespace:
            raise JobError("hf-jobs needs a namespace (the user or organisation that owns the job)")
        return HfJobsBackend(namespace)
    raise JobError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")


def backend_for(entry: LedgerEntry, artifacts: str | Path | None = None) -> JobBackend:
    """The backend that runs a job recorded in the ledger."""
    if not entry.backend:
        raise JobError(f"the ledger does not say which backend ran {entry.job_id}")
    return get_backend(entry.backend, artifacts, entry.details.get("namespace"))


def submit(spec: JobSpec, backend: JobBackend, ledger: Ledger) -> JobHandle:
    """Submit the job and write its `submitted` ledger line (job id, URL, flavor, config hash, model repo)."""
    handle = backend.submit(spec)
    ledger.append(
        LedgerEvent.SUBMITTED,
        job_id=handle.job_id,
        backend=handle.backend,
        job_url=handle.url,
        flavor=spec.flavor if handle.backend == "hf-jobs" else None,
        config_hash=spec.config_hash,
        model_repo=spec.model_repo,
        state=JobStage.SCHEDULING.value,
        details={
            "name": spec.name,
            "entry": spec.entry,
            "namespace": handle.namespace,
            "data": spec.data,
            **({"smoke": True} if spec.smoke else {}),
            **(handle.shipped or {}),  # hf-jobs: code_repo, revision (of the code and the data), wheel
            **({"estimate": _estimate_record(spec.estimate)} if spec.estimate else {}),
        },
    )
    return handle


def _estimate_record(estimate: dict[str, Any]) -> dict[str, Any]:
    """What the ledger keeps of a submit's estimate: the chosen flavor's figures and where they came from."""
    chosen = estimate["chosen"]
    keep = ("flavor", "peak_gb", "memory_gb", "fits", "minutes", "usd", "usd_per_hour", "price_source")
    return {**{key: chosen[key] for key in keep}, "mfu": estimate["mfu"], "mfu_source": estimate["mfu_source"]}


def describe(
    spec: JobSpec,
    backend: str,
    artifacts: str | Path | None,
    *,
    uploaded_from: Any = None,
    revision: str = "",
    warnings: list[str] | None = None,
    needs_token: bool | None = None,
    **stage: Any,
) -> dict[str, Any]:
    """A job's dry run: the spec as `backend` would submit it, computed offline, with secret names only. `stage`
    adds what the stage itself says (its config); `uploaded_from` is what goes to the dataset repo at submit (local
    data), and `revision` says which commit of it the job then reads. Warns when the submit will want a token and
    there is none (`needs_token`, by default: on hf-jobs)."""
    described = get_backend(backend, artifacts, spec.namespace).describe(spec)
    described["config_hash"] = spec.config_hash
    described.update(stage)
    described["data"] = {
        "job_reads": spec.data,
        "uploaded_from": uploaded_from or None,  # to a private dataset repo, at submit time
        **({"revision": revision} if spec.upload else {}),
    }
    warnings = list(warnings or [])
    if backend == "hf-jobs" if needs_token is None else needs_token:
        try:
            require_token()
        except JobError:
            warnings.append(NO_TOKEN)
    if warnings:
        described["warnings"] = warnings
    return described


def parse_summary(line: str, marker: str) -> dict[str, Any] | None:
    """The record of a `MARKER {json}` log line (a job's last word: EVAL_SUMMARY, MERGE_SUMMARY), or None for any
    other line."""
    line = line.strip()
    if not line.startswith(marker):
        return None
    try:
        record = json.loads(line[len(marker) :])
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def summary_in_log(entry: LedgerEntry, artifacts: str | Path | None, marker: str) -> dict[str, Any] | None:
    """The last `marker` record in a finished job's log; None, with a logged warning, when the log cannot be read or
    holds none (a job on Hugging Face cannot write to this machine's ledger: its log is how its result comes back)."""
    summary = None
    try:
        for line in backend_for(entry, artifacts).logs(entry.job_id or ""):
            summary = parse_summary(line, marker) or summary
    except JobError as exc:
        _logger.warning("job %s: cannot read its log for the results: %s", entry.job_id, exc)
        return None
    if summary is None:
        _logger.warning("job %s completed without a %s line in its log", entry.job_id, marker.strip())
    return summary


def record_job_result(ledger: Ledger, entry: LedgerEntry, marker: str, event: LedgerEvent) -> dict[str, Any] | None:
    """For a completed job: append `event` with the model repo, its kind, config hash and details its log's last
    `marker` line holds, update `entry` to match, and return the record. None (with a logged warning) when the log has
    no such line."""
    if entry.job_id is None:
        return None
    summary = summary_in_log(entry, ledger.root, marker)
    if summary is None:
        return None
    fields = {key: summary[key] for key in ("model_repo", "repo_kind", "config_hash") if summary.get(key) is not None}
    record = ledger.append(
        event, **{**entry.identity(), **fields}, state=JobStage.COMPLETED.value, details=summary.get("details") or {}
    )
    entry.model_repo, entry.repo_kind, entry.last_time = record["model_repo"], record["repo_kind"], record["time"]
    entry.details.update(record["details"])
    entry.events.append(record["event"])
    return record


def recorded_result(ledger: Ledger, event: LedgerEvent, job_id: str) -> dict[str, Any] | None:
    """The last `event` record (`evaluated`, `merged`) of a job, if any."""
    return next((r for r in reversed(ledger.read()) if r["event"] == event.value and r["job_id"] == job_id), None)
