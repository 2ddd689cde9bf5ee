"""Smoke mode of the job scripts: what a real job does before it loads the model's weights, on a cheap machine.

`hiddenparams train|eval|merge ... --smoke` submits the real job (the same script, header, wheel and data commit) with
`--smoke` added, on cpu-basic (`jobs/smoke.py`). The job script then runs `job_start`, reads its data at its revision,
loads the model's config, tokenizer and chat template from the Hub (never the weights), renders and tokenizes rows
with the code the real run uses, and checks that the token may write the repo the real run pushes to. It ends with one
`SMOKE_SUMMARY {json}` line and exit status 0, or with `error: ...` and 1.

    from hiddenparams.jobs.smoke_checks import run_smoke
    sys.exit(run_smoke("train", lambda: smoke_checks(cfg)))   # the stage's checks return what they found
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import HiddenParamsError
from ..redact import redact

SMOKE_MARKER = "SMOKE_SUMMARY "
SMOKE_FLAG = "--smoke"
SMOKE_ROWS = 4  # rows rendered and checked one by one (the longest-row scan covers every row)


class SmokeError(HiddenParamsError, RuntimeError):
    """A smoke check failed: the real run would fail the same way, after paying for a GPU."""


def take_smoke_flag(argv: Sequence[str] | None) -> tuple[list[str], bool]:
    """The job's arguments without `--smoke`, and whether it was there (the stage parsers never see it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return [a for a in args if a != SMOKE_FLAG], SMOKE_FLAG in args


def check_repo_writable(repo_id: str, private: bool = True) -> dict[str, Any]:
    """Whether the job's token may write `repo_id`, as cheaply as the Hub can say it without a commit.

    `create_repo(exist_ok=True)` is the call the real run's push makes first: it creates the repo (private unless
    asked otherwise) when missing, which proves the token may create repos in that namespace, and returns quietly when
    it exists. `auth_check(write=True)` then asks the Hub whether this token may write that repo's content. Neither
    uploads a file: a missing LFS/xet permission or a full quota would only show at the real push."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.auth_check(repo_id, write=True)
    except HfHubHTTPError as exc:
        status = getattr(exc.response, "status_code", None)
        raise SmokeError(
            f"the job's token cannot write the model repo {repo_id} (HTTP {status}): give HF_TOKEN write access to"
            " that namespace (a fine-grained token needs 'write' on it)"
        ) from None
    return {"repo": repo_id, "created_or_exists": True, "write": True}


def token_counts(rendered: Sequence[Sequence[int]]) -> list[int]:
    return [len(ids) for ids in rendered]


def run_smoke(stage: str, checks: Callable[[], dict[str, Any]]) -> int:
    """Run a stage's smoke checks and print the outcome: one SMOKE_SUMMARY line and 0, or an error line and 1."""
    from huggingface_hub.errors import HfHubHTTPError

    started = time.monotonic()
    try:
        found = checks()
    except (HiddenParamsError, HfHubHTTPError, OSError) as exc:
        print(redact(f"error: smoke check of the {stage} job failed: {exc}"), file=sys.stderr, flush=True)
        return 1
    summary = {"details": {"stage": stage, **found, "seconds": round(time.monotonic() - started, 1)}}
    print(SMOKE_MARKER + redact(json.dumps(summary, ensure_ascii=False)), flush=True)
    return 0
