"""What every job script does around its stage's work, written once: the host report and GPU check (`job_start`),
its arguments read one way, the smoke mode, errors as one line, and its last line, `MARKER {json}`, which becomes
the stage's ledger event when the CLI sees the job completed (a job on Hugging Face cannot reach this machine's
ledger: its log is how its result comes back).

    python -m hiddenparams.jobs.eval_job --config-json '{"model_id": ..., ...}'   # how the backends call it
    python -m hiddenparams.jobs.eval_job --config eval.yaml --set max_rows=8      # by hand
    python -m hiddenparams.jobs.eval_job ... --smoke                              # the checks before the weights
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ..config import RunOn, job_configs, job_parser
from ..errors import HiddenParamsError
from ..redact import redact
from .preflight import job_start
from .smoke_checks import run_smoke, take_smoke_flag
from .stage import StageJob


def parse_job_args(stage: StageJob, argv: list[str] | None) -> Any:
    """The stage's config from a job's arguments: a YAML file, the config whole as JSON, `--set` overrides. A file
    may also say where the job runs (`RunOn`): read, and not needed here, where it already runs."""
    args = job_parser(stage.entry, f"The {stage.name} job.").parse_args(argv)
    return job_configs(args, stage.config, RunOn)[0]


def job_main(
    stage: StageJob,
    argv: list[str] | None,
    run: Callable[[Any], dict[str, Any]],
    smoke_checks: Callable[[Any], dict[str, Any]],
) -> int:
    """Run a stage's job: `run(cfg)` does the work, prints what a person follows in the log, and returns the ledger
    record that the summary line carries; `smoke_checks(cfg)` is the stage's smoke mode. Exits 1 with `error: ...`
    (and the error's hint) on anything the user can fix: the log shows that, not a traceback."""
    job_start()
    argv, smoke = take_smoke_flag(argv)
    if smoke:  # a config the job cannot read fails the smoke check like any other
        return run_smoke(stage.name, lambda: smoke_checks(parse_job_args(stage, argv)))
    try:
        record = run(parse_job_args(stage, argv))
    except HiddenParamsError as exc:
        hint = getattr(exc, "hint", None)
        print(redact(f"error: {exc}" + (f"\n  hint: {hint}" if hint else "")), file=sys.stderr, flush=True)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:  # under accelerate/torchrun every rank returns here; one line is enough
        print(stage.marker + redact(json.dumps(record, ensure_ascii=False)), flush=True)
    return 0
