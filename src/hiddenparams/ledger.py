"""The ledger: one JSON line per job or model event, `<artifacts>/hf_jobs/submissions.jsonl`.

Every line has the same keys (`time`, `event`, `job_id`, `backend`, `job_url`, `flavor`, `config_hash`, `model_repo`,
`repo_kind`, `state`, `details`), null when unknown, so a line can be read on its own. Appends are atomic under
concurrent writers (several jobs, CLIs and the demo may write at once): each line is written by one `os.write` on an
O_APPEND descriptor while holding an exclusive `flock`. Nothing token-like ever reaches the file: every record passes
through `redact.redact` first, which is also what the CLI applies to log lines, reports and error messages.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from .redact import redact_obj

logger = logging.getLogger(__name__)

ARTIFACTS_ENV = "HIDDENPARAMS_ARTIFACTS"
LEDGER_PATH = Path("hf_jobs") / "submissions.jsonl"


class LedgerEvent(str, Enum):
    SUBMITTED = "submitted"
    STATE = "state"  # a stage change observed while the job runs
    FINISHED = "finished"  # the first terminal stage observed (COMPLETED, ERROR, CANCELED, DELETED)
    CANCEL_REQUESTED = "cancel_requested"  # asked to stop, not yet seen stopped: `finished` follows when it is
    MODEL_PUSHED = "model_pushed"
    MERGED = "merged"
    EVALUATED = "evaluated"
    TRAINED = "trained"  # a training job's TRAIN_SUMMARY: losses, steps, where the model and its curves went
    SMOKE_PASSED = "smoke_passed"  # a smoke job's SMOKE_SUMMARY: the checks before the weights all passed


class RepoKind(str, Enum):
    """What a model repo holds, read from its files: `adapter_config.json`, or `config.json` + `*.safetensors`."""

    ADAPTER_ONLY = "adapter-only"
    FULL = "full"


def artifacts_root(override: str | Path | None = None) -> Path:
    """`--artifacts-dir`, else $HIDDENPARAMS_ARTIFACTS, else ./artifacts."""
    return Path(override or os.environ.get(ARTIFACTS_ENV) or "artifacts")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class LedgerEntry:
    """The latest view of one job (or of one model when no job produced it): later non-null values win."""

    key: str
    job_id: str | None = None
    backend: str | None = None
    job_url: str | None = None
    flavor: str | None = None
    config_hash: str | None = None
    model_repo: str | None = None
    repo_kind: str | None = None
    state: str | None = None
    first_time: str | None = None
    last_time: str | None = None
    events: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def identity(self) -> dict[str, Any]:
        """The fields a new event about this entry repeats, so that each ledger line reads on its own."""
        return {k: getattr(self, k) for k in ("job_id", "backend", "job_url", "flavor", "config_hash", "model_repo")}


class Ledger:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = artifacts_root(root)
        self.path = self.root / LEDGER_PATH

    def append(
        self,
        event: LedgerEvent | str,
        *,
        job_id: str | None = None,
        backend: str | None = None,
        job_url: str | None = None,
        flavor: str | None = None,
        config_hash: str | None = None,
        model_repo: str | None = None,
        repo_kind: RepoKind | str | None = None,
        state: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one event and return the record as written (redacted)."""
        event = LedgerEvent(event)
        record = redact_obj(
            {
                "time": utc_now(),
                "event": event,
                "job_id": job_id,
                "backend": backend,
                "job_url": job_url,
                "flavor": flavor,
                "config_hash": config_hash,
                "model_repo": model_repo,
                "repo_kind": repo_kind,
                "state": state,
                "details": details or {},
            }
        )
        data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # O_APPEND makes each write land at the end; the lock keeps a (rare) short write from interleaving.
            fcntl.flock(fd, fcntl.LOCK_EX)
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)  # closing releases the lock
        return record

    def read(self) -> list[dict[str, Any]]:
        """Every record, oldest first. A damaged line is skipped with a warning naming it, never fatal."""
        if not self.path.is_file():
            return []
        records = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                logger.warning("%s:%d: skipping a damaged ledger line (%s)", self.path, number, exc)
        return records

    def entries(self) -> list[LedgerEntry]:
        return fold(self.read())

    def find(self, job_id: str) -> LedgerEntry | None:
        return next((e for e in self.entries() if e.job_id == job_id), None)


def fold(records: list[dict[str, Any]]) -> list[LedgerEntry]:
    """Fold events into the latest view per job (or per model repo for events without a job), in first-seen order."""
    entries: dict[str, LedgerEntry] = {}
    for record in records:
        key = record.get("job_id") or (f"model:{record['model_repo']}" if record.get("model_repo") else None)
        if key is None:
            continue
        entry = entries.setdefault(key, LedgerEntry(key=key, first_time=record.get("time")))
        for name in ("job_id", "backend", "job_url", "flavor", "config_hash", "model_repo", "repo_kind", "state"):
            if record.get(name) is not None:
                setattr(entry, name, record[name])
        entry.last_time = record.get("time")
        entry.events.append(record.get("event", "?"))
        entry.details.update(record.get("details") or {})
    return list(entries.values())
