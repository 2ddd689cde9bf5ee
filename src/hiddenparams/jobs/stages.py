"""The registry of job-running stages: each declared once, in its own module (jobs/train.py, jobs/eval.py,
jobs/merge.py), listed here. `status` brings any completed job's result into the ledger through `record_result`,
without knowing the stages by name."""

from __future__ import annotations

from typing import Any

from ..ledger import Ledger, LedgerEntry, LedgerEvent
from . import record_job_result
from .eval import EVAL
from .merge import MERGE
from .smoke_checks import SMOKE_MARKER
from .stage import StageJob
from .train import TRAIN

STAGES: dict[str, StageJob] = {stage.name: stage for stage in (TRAIN, EVAL, MERGE)}


def stage_of(entry: LedgerEntry) -> StageJob | None:
    """The stage of a ledger entry's job (a smoke job is its stage's), None for a job of no stage."""
    return STAGES.get(str(entry.details.get("name") or "").removesuffix("-smoke"))


def record_result(ledger: Ledger, entry: LedgerEntry) -> dict[str, Any] | None:
    """For a completed job: its stage's event (`trained`, `evaluated`, `merged`; `smoke_passed` for a smoke job) from
    the summary line of its log. None for a job of no stage, or (with a logged warning) when its log has no such
    line."""
    stage = stage_of(entry)
    if stage is None:
        return None
    if entry.details.get("smoke"):
        return record_job_result(ledger, entry, SMOKE_MARKER, LedgerEvent.SMOKE_PASSED)
    return record_job_result(ledger, entry, stage.marker, stage.event)
