"""Status: every job and model in the ledger, with its state refreshed from its backend and its repo kind read from
the repo's files at that moment (`adapter_config.json` -> adapter-only; `config.json` + `*.safetensors` -> full),
never from memory. Stage changes seen here are written back to the ledger, so a failed job leaves a line with its
state and the command that shows its log. A job is recorded as ended only once its backend reports a terminal stage;
a stage string nobody knows yet is shown and recorded as sent, and counts as not ended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, constants
from huggingface_hub.errors import RepositoryNotFoundError

from .hub import HUB_ERRORS, is_local
from .jobs import JobError, JobStage, JobStatus, backend_for
from .jobs.base import RUNNING_STAGES
from .jobs.estimate import billed, hardware_table
from .jobs.hf import HfJobsBackend, hub_hardware
from .jobs.stages import record_result
from .ledger import Ledger, LedgerEntry, LedgerEvent, RepoKind
from .redact import redact


def kind_from_files(files: Iterable[str]) -> RepoKind | None:
    top = {f for f in files if "/" not in f}  # weights in a subfolder are not a loadable model at the repo root
    if "adapter_config.json" in top:
        return RepoKind.ADAPTER_ONLY
    if "config.json" in top and any(f.endswith(".safetensors") for f in top):
        return RepoKind.FULL
    return None


@dataclass
class RepoState:
    kind: RepoKind | None
    url: str
    note: str | None = None  # why the kind is unknown: empty, not found, unreachable
    card_metrics: dict[str, float] | None = None  # the card's model-index results: {metric type: value}


def card_metrics(card_path_or_repo: str | Path) -> dict[str, float] | None:
    """The `model-index` results of a model card (a README.md file or a Hub repo's), None when it has none or
    cannot be read: status shows what the card claims beside the repo, and never fails on a card."""
    import yaml
    from huggingface_hub import ModelCard

    try:
        results = ModelCard.load(card_path_or_repo).data.eval_results or []
    except (*HUB_ERRORS, OSError, ValueError, yaml.YAMLError):  # someone's card: its front matter may be anything
        return None
    numbers = (int, float)
    return {
        r.metric_type: float(r.metric_value)
        for r in results
        if isinstance(r.metric_value, numbers) and not isinstance(r.metric_value, bool)
    } or None


def read_repo(model_repo: str) -> RepoState:
    """What the repo holds now: a local folder through the filesystem, a Hub repo through `list_repo_files`."""
    if is_local(model_repo):
        path = Path(model_repo).resolve()
        if not path.is_dir():
            return RepoState(None, str(path), "no such folder yet")
        names = {p.name for p in path.iterdir() if p.is_file()}
        kind = kind_from_files(names)
        metrics = card_metrics(path / "README.md") if "README.md" in names else None
        return RepoState(kind, str(path), None if kind else "no model files", metrics)
    url = f"{constants.ENDPOINT}/{model_repo}"  # HF_ENDPOINT, as huggingface_hub reads it
    try:
        files = HfApi().list_repo_files(model_repo)
        kind = kind_from_files(files)
    except RepositoryNotFoundError:
        return RepoState(None, url, "not on the Hub (yet), or private to another account")
    except HUB_ERRORS as exc:
        return RepoState(None, url, redact(f"unreachable: {str(exc).splitlines()[0]}"))
    metrics = card_metrics(model_repo) if "README.md" in files else None
    return RepoState(kind, url, None if kind else "no model files", metrics)


def record_status(ledger: Ledger, entry: LedgerEntry, status: JobStatus) -> None:
    """Append a ledger line when the stage differs from the last one recorded: `state` while the job runs, `finished`
    for the first terminal stage (with the log tail and how to read the log when it failed, with the repo kind when
    it completed), `model_pushed` when a completed job's Hub repo holds a model, and its stage's event (`trained`,
    `evaluated`, `merged`, `smoke_passed`: `jobs.stages.record_result`) when a completed job's log holds its results."""
    if entry.state == status.stage.value:
        return
    details: dict[str, Any] = {
        k: v for k, v in (("message", status.message), ("exit_code", status.exit_code)) if v is not None
    }
    repo_kind = None
    if status.stage is JobStage.COMPLETED and entry.model_repo:
        repo_kind = read_repo(entry.model_repo).kind
    elif status.finished and not status.ok:
        details["log_tail"] = status.log_tail[-10:]
        details["read_log_with"] = f"hiddenparams logs {entry.job_id}"
    if status.finished and (billing := _billing(entry, status)):
        details["billing"] = billing
    event = LedgerEvent.FINISHED if status.finished else LedgerEvent.STATE
    records = [ledger.append(event, **entry.identity(), repo_kind=repo_kind, state=status.stage.value, details=details)]
    if repo_kind is not None and entry.model_repo and not is_local(entry.model_repo):
        records.append(
            ledger.append(LedgerEvent.MODEL_PUSHED, **entry.identity(), repo_kind=repo_kind, state=status.stage.value)
        )
    entry.state, entry.last_time = status.stage.value, records[-1]["time"]
    entry.details.update(records[0]["details"])
    entry.events.extend(r["event"] for r in records)
    if status.stage is JobStage.COMPLETED:
        record_result(ledger, entry)


def _billing(entry: LedgerEntry, status: JobStatus) -> dict[str, Any] | None:
    """An ended hf-jobs job's billed minutes and cost, from its start and end in the Jobs API and the flavor's price
    (the Hub's list now, the dated table when it cannot be asked)."""
    if entry.backend != "hf-jobs" or not (entry.flavor and status.started_at and status.finished_at):
        return None
    try:
        table = hub_hardware(HfJobsBackend(entry.details.get("namespace") or "").api())
    except JobError:  # no token: the dated table
        table = hardware_table()
    return billed(entry.flavor, status.started_at, status.finished_at, table)


def record_cancel(ledger: Ledger, entry: LedgerEntry, status: JobStatus) -> None:
    """After a cancel request: the stage seen, and while the job has not ended yet a `cancel_requested` line, so that
    `status` says it is being cancelled until the backend reports it ended."""
    record_status(ledger, entry, status)
    if not status.finished:
        record = ledger.append(LedgerEvent.CANCEL_REQUESTED, **entry.identity(), state=status.stage.value)
        entry.last_time = record["time"]
        entry.events.append(record["event"])


def wait_job(job_id: str, ledger: Ledger, on_log: Callable[[str], None] | None = None) -> JobStatus:
    """Wait for a job of the ledger to end (following its log into `on_log`), record how it ended, and return that."""
    entry = ledger.find(job_id)
    if entry is None:
        raise JobError(f"job {job_id} is not in the ledger {ledger.path}")
    status = backend_for(entry, ledger.root).wait(job_id, on_log=on_log)
    record_status(ledger, entry, status)
    return status


@dataclass
class StatusRow:
    job_id: str | None
    name: str | None
    smoke: bool
    backend: str | None
    state: str | None
    job_url: str | None
    flavor: str | None
    config_hash: str | None
    model_repo: str | None
    model_url: str | None
    repo_kind: str | None
    submitted: str | None
    updated: str | None
    events: list[str] = field(default_factory=list)
    message: str | None = None
    log_hint: str | None = None
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, Any] | None = None  # a running Hugging Face job's resource use
    card_metrics: dict[str, float] | None = None  # what the model's card reports (model-index)
    billing: dict[str, Any] | None = None  # an ended hf-jobs job: billed minutes and cost
    estimate: dict[str, Any] | None = None  # what the submit estimated for it

    @property
    def cost_line(self) -> str | None:
        """`13 min, $0.65 billed (estimated 7 min, $0.33)`, or the estimate alone while the job has not ended."""
        estimate = self.estimate or {}
        guess = (
            f"estimated {estimate['minutes']:.0f} min, ${estimate['usd']:.2f}"
            if estimate.get("minutes") is not None and estimate.get("usd") is not None
            else None
        )
        if self.billing:
            paid = f"{self.billing['billed_minutes']} min, ${self.billing['usd']:.2f} billed"
            return f"{paid} ({guess})" if guess else paid
        return guess

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ended(entry: LedgerEntry) -> bool:
    return entry.state is not None and JobStage(entry.state).terminal


def _stage_notes(entry: LedgerEntry) -> list[str]:
    """What the stage alone does not say: a smoke job, a cancel still under way, a stage hiddenparams does not know."""
    notes = []
    if entry.details.get("smoke"):
        passed = LedgerEvent.SMOKE_PASSED.value in entry.events
        notes.append(
            "smoke job: passed the real run's checks before the weights"
            if passed
            else "smoke job: the real run's checks before the weights, on cpu-basic; pushes no model"
        )
    if entry.state and not _ended(entry) and LedgerEvent.CANCEL_REQUESTED.value in entry.events:
        notes.append("cancelling: asked to stop, the backend has not reported it stopped yet")
    if entry.state and not JobStage(entry.state).known:
        notes.append(f"stage {entry.state} is new to hiddenparams: shown as the service sent it, taken as not ended")
    return notes


def collect_status(ledger: Ledger, refresh: bool = True) -> list[StatusRow]:
    """One row per job (or model without a job) in the ledger; unfinished jobs are refreshed from their backends."""
    rows = []
    for entry in ledger.entries():
        notes: list[str] = []
        message, metrics = entry.details.get("message"), None
        if refresh and entry.job_id and not _ended(entry):
            try:
                backend = backend_for(entry, ledger.root)
                status = backend.status(entry.job_id)
                record_status(ledger, entry, status)
                message = status.message or message
                if status.stage in RUNNING_STAGES and isinstance(backend, HfJobsBackend):
                    metrics = backend.metrics(entry.job_id)
            except JobError as exc:
                notes.append(f"state not refreshed: {exc}")
        notes += _stage_notes(entry)
        repo = read_repo(entry.model_repo) if entry.model_repo else None
        if repo is not None and repo.note:
            notes.append(f"model: {repo.note}")
        failed = entry.state in (JobStage.ERROR.value, JobStage.CANCELED.value)
        rows.append(
            StatusRow(
                job_id=entry.job_id,
                name=entry.details.get("name"),
                smoke=bool(entry.details.get("smoke")),
                backend=entry.backend,
                state=entry.state,
                job_url=entry.job_url,
                flavor=entry.flavor,
                config_hash=entry.config_hash,
                model_repo=entry.model_repo,
                model_url=repo.url if repo else None,
                repo_kind=repo.kind.value if repo and repo.kind else None,
                submitted=entry.first_time,
                updated=entry.last_time,
                events=entry.events,
                message=message,
                log_hint=f"hiddenparams logs {entry.job_id}" if failed and entry.job_id else None,
                notes=notes,
                metrics=metrics,
                billing=entry.details.get("billing"),
                estimate=entry.details.get("estimate"),
                card_metrics=repo.card_metrics if repo else None,
            )
        )
    return rows
