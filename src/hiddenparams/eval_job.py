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
# name = "pytorch-cu128"
# url = "https://download.pytorch.org/whl/cu128"
# explicit = true
#
# [tool.uv.sources]
# torch = { index = "pytorch-cu128" }
# ///
"""The eval job: real generations scored strictly (`evaluate.run_eval`). One plain script that runs unchanged as
`python -m hiddenparams.eval_job` (the local backend) and as the uv script of a Hugging Face job.

    python -m hiddenparams.eval_job (--model-id M | --base-model-id B --adapter-model-id A)
        --data test.jsonl | --data NAMESPACE/DATASET [--data-revision COMMIT] --out DIR
        [--train PATH_OR_FILE_IN_DATASET] [--constrained] [--distribution] [--push-results-to REPO]

`--data` is a local file of canonical rows, or a Hub dataset repo holding `test.jsonl` and `train.jsonl` (the train
rows feed the baselines). Writes what `run_eval` writes under `--out`; with `--push-results-to`, uploads that folder
to `eval/<UTC time>/` of that model repo (a job's disk is gone when it ends). Prints `valid_cases=X/Y`, a few
malformed outputs, and last an `EVAL_SUMMARY {json}` line: the `evaluated` ledger event, which the CLI appends to
its ledger when it sees the job completed (a job on Hugging Face cannot write to this machine's ledger).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hiddenparams.convert import DataError
from hiddenparams.evaluate import (
    DEFAULT_BATCH_SIZE,
    ConstrainedDecodingError,
    EvalOptions,
    evaluated_record,
    read_eval_data,
    run_eval,
)
from hiddenparams.model import ModelLoadError, load_for_inference
from hiddenparams.preflight import job_start
from hiddenparams.score import representative_failures

SUMMARY_MARKER = "EVAL_SUMMARY "
DATA_FILES = ("test.jsonl", "train.jsonl")  # what a Hub dataset of eval data holds (the CLI uploads these names)


class JobFailed(RuntimeError):
    """The job cannot go on; the message says why, and the job exits 1."""


def parse_summary(line: str) -> dict[str, Any] | None:
    """The record of an EVAL_SUMMARY log line, or None for any other line."""
    line = line.strip()
    if not line.startswith(SUMMARY_MARKER):
        return None
    try:
        record = json.loads(line[len(SUMMARY_MARKER) :])
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def fetch_data(data: str, train: str | None, revision: str | None) -> tuple[Path, Path | None, dict[str, Any]]:
    """Local paths of the rows to evaluate and of the train rows, and how the report names them.

    A local `data` file goes as given (`train` defaults to train.jsonl beside it). Anything else is a Hub dataset repo
    holding `test.jsonl`; `train` is then a local file or a file of that repo (default `train.jsonl`)."""
    if Path(data).is_file():
        return Path(data), Path(train) if train else None, {"data": data}
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    def download(name: str) -> Path:
        try:
            return Path(hf_hub_download(data, name, repo_type="dataset", revision=revision))
        except (EntryNotFoundError, HfHubHTTPError) as exc:
            raise JobFailed(
                f"--data {data}: no such local file, and cannot download {name} from it as a Hub dataset"
                f" ({type(exc).__name__}: {str(exc).splitlines()[0]})"
            ) from None

    test_file, train_file = DATA_FILES
    test_path, train_name = download(test_file), train or train_file
    train_path = Path(train_name) if Path(train_name).is_file() else download(train_name)
    where = f"{data}@{revision}" if revision else data
    return test_path, train_path, {"data": f"{where}:{test_file}", "train": f"{where}:{train_name}"}


def push_results(out: Path, repo: str) -> dict[str, str]:
    """The eval folder in one commit to `eval/<UTC time>/` of a model repo (created private if missing). Weights stay
    at the repo root, so the repo's kind (adapter-only, full) reads the same. The token comes from HF_TOKEN."""
    from huggingface_hub import HfApi

    api = HfApi()
    path = f"eval/{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    api.create_repo(repo, private=True, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo, folder_path=str(out), path_in_repo=path, commit_message=f"hiddenparams: eval results in {path}"
    )
    return {"repo": repo, "path": path, "url": f"https://huggingface.co/{repo}/tree/main/{path}", "commit": commit.oid}


def _progress(totals: dict[str, int]) -> Callable[[str, int], None]:
    """A log line per finished batch: a job's log is where a person follows it."""
    done = dict.fromkeys(totals, 0)

    def on_rows(stage: str, n: int) -> None:
        done[stage] += n
        print(f"{stage}: {done[stage]}/{totals[stage]} rows", flush=True)

    return on_rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate as the arguments say; returns the EVAL_SUMMARY record."""
    data_path, train_path, inputs = fetch_data(args.data, args.train, args.data_revision)
    data = read_eval_data(data_path, train_path, args.max_rows)
    model, tokenizer, description = load_for_inference(
        args.model_id, args.base_model_id, args.adapter_model_id, args.device
    )
    options = EvalOptions(batch_size=args.batch_size, constrained=args.constrained, distribution=args.distribution)
    totals = {"greedy": len(data.rows)} | ({"values": len(data.rows)} if args.constrained or args.distribution else {})
    out = Path(args.out)
    result = run_eval(
        model, tokenizer, description, data.rows, data.train_rows, out, options,
        inputs={"train": str(data.train_path), **inputs, "max_rows": args.max_rows}, on_rows=_progress(totals),
    )  # fmt: skip
    report = result.report
    print(f"valid_cases={report['valid_cases']}/{report['total']}", flush=True)
    for case in representative_failures(report["cases"]):
        print(f"  {case['id']}: {case['error']}\n    output: {case['output'][:200]!r}", flush=True)
    record = evaluated_record(description, result)
    if args.push_results_to:
        record["details"]["pushed"] = push_results(out, args.push_results_to)
        print(f"results uploaded: {record['details']['pushed']['url']}", flush=True)
    return record


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hiddenparams.eval_job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-id", help="full model: Hub repo id or local folder")
    parser.add_argument("--base-model-id", help="base model of the adapter: Hub repo id or local folder")
    parser.add_argument("--adapter-model-id", help="PEFT adapter: Hub repo id or local folder")
    parser.add_argument("--data", required=True, help="test rows: a local file, or a Hub dataset holding test.jsonl")
    parser.add_argument("--data-revision", help="commit (or branch) of the --data dataset to read")
    parser.add_argument("--train", help="train rows for the baselines (default: train.jsonl beside --data / in it)")
    parser.add_argument("--out", required=True, help="folder for predictions, eval_report.json and the report")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows generated together")
    parser.add_argument("--max-rows", type=int, help="evaluate only the first N rows")
    parser.add_argument("--constrained", action="store_true", help="also decode with the JSON text forced")
    parser.add_argument("--distribution", action="store_true", help="also read P(value) over 0..10 per key")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--push-results-to", help="model repo to upload the eval folder to (under eval/<time>/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from huggingface_hub.errors import HfHubHTTPError

    job_start()
    args = parse_args(argv)
    try:
        record = run(args)
    except (JobFailed, DataError, ModelLoadError, ConstrainedDecodingError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except HfHubHTTPError as exc:  # the upload of the results: the job must not look like it succeeded
        print(f"error: uploading the results to {args.push_results_to}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(SUMMARY_MARKER + json.dumps(record, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
