"""A smoke job: any stage's real job (train, eval, merge), submitted with `--smoke` on cpu-basic.

    plan = smoke_plan(plan_job(TRAIN, cfg, run_on))  # the same script, header, wheel and data commit; cpu-basic
    handle = launch_job(plan, ledger)                # the ledger's `submitted` line says `smoke: true`

The job script then stops before the weights (`hiddenparams.jobs.smoke_checks`): it installs, runs `job_start`, reads the data at
its revision, loads config, tokenizer and chat template, renders rows, checks that the token may write the output
repo, and prints `SMOKE_SUMMARY {json}`, which becomes the `smoke_passed` ledger event when the job is seen completed.
It pushes no model, so the smoke job names no model repo in the ledger (the repo it checked is in its details).
"""

from __future__ import annotations

import dataclasses

from .smoke_checks import SMOKE_FLAG
from .stage import JobPlan

SMOKE_FLAVOR = "cpu-basic"  # the cheapest flavor: the smoke loads no weights and computes nothing heavy
# A bound on a stuck smoke job's bill; the checks themselves take about a minute after the install.
SMOKE_TIMEOUT = "15m"


def smoke_plan(plan: JobPlan) -> JobPlan:
    """The smoke version of a stage's `JobPlan`: the same job with `--smoke`, on one process of cpu-basic, with a short
    timeout and no model repo."""
    spec = plan.spec
    smoke = dataclasses.replace(
        spec,
        args=[*spec.args, SMOKE_FLAG],
        name=f"{spec.name}-smoke",
        flavor=SMOKE_FLAVOR,
        timeout=SMOKE_TIMEOUT,
        num_processes=1,
        model_repo=None,
        smoke=True,
        torch_flavor=spec.build_flavor,
        estimate=None,
    )
    return dataclasses.replace(plan, spec=smoke)
