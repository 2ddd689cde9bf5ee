"""A smoke job: any stage's real job (train, eval, merge), submitted with `--smoke` on cpu-basic.

    plan = smoke_plan(plan_train(...))   # the same script, header, wheel and data commit; flavor cpu-basic
    handle = launch_train(plan, ledger)  # the ledger's `submitted` line says `smoke: true`

The job script then stops before the weights (`hiddenparams.jobs.smoke_checks`): it installs, runs `job_start`, reads the data at
its revision, loads config, tokenizer and chat template, renders rows, checks that the token may write the output
repo, and prints `SMOKE_SUMMARY {json}`, which becomes the `smoke_passed` ledger event when the job is seen completed.
It pushes no model, so the smoke job names no model repo in the ledger (the repo it checked is in its details).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from ..ledger import Ledger, LedgerEntry, LedgerEvent
from .smoke_checks import SMOKE_FLAG, SMOKE_MARKER
from . import record_job_result, recorded_result

SMOKE_FLAVOR = "cpu-basic"  # the cheapest flavor: the smoke loads no weights and computes nothing heavy
# A bound on a stuck smoke job's bill; the checks themselves take about a minute after the install.
SMOKE_TIMEOUT = "15m"

Plan = TypeVar("Plan")


def smoke_plan(plan: Plan) -> Plan:
    """The smoke version of a stage's plan (`TrainPlan`, `EvalPlan`, `MergePlan`: each holds its `spec`): the same
    job with `--smoke`, on one process of cpu-basic, with a short timeout and no model repo."""
    spec = plan.spec  # type: ignore[attr-defined]
    smoke = dataclasses.replace(
        spec, args=[*spec.args, SMOKE_FLAG], name=f"{spec.name}-smoke", flavor=SMOKE_FLAVOR, timeout=SMOKE_TIMEOUT,
        num_processes=1, model_repo=None, smoke=True, torch_flavor=spec.build_flavor, estimate=None,
    )  # fmt: skip
    return dataclasses.replace(plan, spec=smoke)  # type: ignore[type-var]


def record_smoke_result(ledger: Ledger, entry: LedgerEntry) -> dict[str, Any] | None:
    """The `smoke_passed` event of a completed smoke job, from the SMOKE_SUMMARY line of its log."""
    if not entry.details.get("smoke"):
        return None
    return record_job_result(ledger, entry, entry.details.get("entry", ""), SMOKE_MARKER, LedgerEvent.SMOKE_PASSED)


def smoke_of(ledger: Ledger, job_id: str) -> dict[str, Any] | None:
    """The `smoke_passed` event recorded for a smoke job, if any."""
    return recorded_result(ledger, LedgerEvent.SMOKE_PASSED, job_id)
