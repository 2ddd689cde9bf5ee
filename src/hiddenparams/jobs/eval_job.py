# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "torch==2.13.0",
#   "transformers==5.24.0",
#   "peft==0.21.2",
#   "accelerate==1.15.0",
#   "huggingface_hub==2.4.0",
#   "mistral-common==1.13.1",
#   "tokenizers==0.23.3",
#   "safetensors==0.8.0",
#   "numpy==2.3.5",
#   "scikit-learn==1.9.1",
#   "matplotlib==3.11.2",
# ]
#
# [[tool.uv.index]]
# name = "pytorch"
# url = "https://download.pytorch.org/whl/cu126"
# explicit = true
#
# [tool.uv.sources]
# torch = { index = "pytorch" }
# ///
"""The eval job: `evaluate.run(EvalConfig)`, as one plain script that runs unchanged as
`python -m hiddenparams.jobs.eval_job` (the local backend) and as the uv script of a Hugging Face job.

    python -m hiddenparams.jobs.eval_job --config-json '{"model_id": ..., "data": "test.jsonl", "out": "eval"}'
    python -m hiddenparams.jobs.eval_job --config eval.yaml [--set field=value ...] [--smoke]

Its arguments are read as every job script reads them (jobs/script.py): the CLI hands the job its `EvalConfig` whole,
so an eval option is declared once, in the dataclass. `data` is a local file of canonical rows, or a Hub dataset repo
holding `test.jsonl` and `train.jsonl` (the train rows feed the baselines). Writes what `run` writes under `out`;
with `push_results_to`, uploads that folder to `eval/<UTC time>/` of that model repo (a job's disk is gone when it
ends). With `--smoke`, only the checks before the weights (`smoke_checks`), then a SMOKE_SUMMARY line. Prints
`valid_cases=X/Y`, a few malformed outputs, and last an `EVAL_SUMMARY {json}` line: the `evaluated` ledger event.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from hiddenparams.errors import HiddenParamsError
from hiddenparams.eval.evaluate import EvalConfig, evaluated_record, run
from hiddenparams.eval.score import representative_failures
from hiddenparams.jobs.eval import EVAL
from hiddenparams.jobs.script import job_main
from hiddenparams.jobs.smoke_checks import SMOKE_ROWS, check_repo_writable, token_counts


def _progress() -> Callable[[str, int, int], None]:
    """A log line per finished batch: a job's log is where a person follows it."""
    done: dict[str, int] = {}

    def on_rows(stage: str, n: int, total: int) -> None:
        done[stage] = done.get(stage, 0) + n
        print(f"{stage}: {done[stage]}/{total} rows", flush=True)

    return on_rows


def smoke_checks(cfg: EvalConfig) -> dict[str, Any]:
    """The smoke job of an evaluation (`hiddenparams.jobs.smoke_checks`): the rows at their revision, the tokenizer the
    evaluation would use (with the adapter's checks), a few prompts rendered as generation renders them, and whether
    the token may write the results repo."""
    from hiddenparams.eval.evaluate import fetch_data
    from hiddenparams.eval.modes import read_eval_data
    from hiddenparams.model.generation import prompt_ids
    from hiddenparams.model.load import inference_tokenizer

    data_path, train_path, inputs = fetch_data(cfg.data or "", cfg.train, cfg.data_revision)
    data = read_eval_data(data_path, train_path, cfg.max_rows)
    tokenizer = inference_tokenizer(cfg.model_id, cfg.base_model_id, cfg.adapter_model_id)
    rendered = [prompt_ids(tokenizer, row.request_text) for row in data.rows[:SMOKE_ROWS]]
    return {
        "model": cfg.model_args(),
        "data": {**inputs, "rows": len(data.rows), "train_rows": len(data.train_rows or [])},
        "first_rows_tokens": token_counts(rendered),
        "push_to": check_repo_writable(cfg.push_results_to) if cfg.push_results_to else None,
    }


def run_job(cfg: EvalConfig) -> dict[str, Any]:
    """The evaluation, its verdict and a few malformed outputs in the log; returns the `evaluated` record."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        result = run(cfg, on_rows=_progress())
    except HfHubHTTPError as exc:  # the upload of the results: the job must not look like it succeeded
        raise ResultsNotPushed(f"uploading the results to {cfg.push_results_to}: {exc}") from None
    report = result.report
    print(f"valid_cases={report.valid_cases}/{report.total}", flush=True)
    for case in representative_failures(report.cases):
        print(f"  {case.id}: {case.error}\n    output: {case.output[:200]!r}", flush=True)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    if result.pushed:
        print(f"results uploaded: {result.pushed['url']}", flush=True)
    return evaluated_record(report.model or {}, result)


class ResultsNotPushed(HiddenParamsError):
    """The evaluation ran, but its results could not be uploaded where the job was told to put them."""


def main(argv: list[str] | None = None) -> int:
    return job_main(EVAL, argv, run_job, smoke_checks)


if __name__ == "__main__":
    sys.exit(main())
