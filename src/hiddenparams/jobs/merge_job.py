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
"""The merge job: `merge.run` on a `MergeConfig`, the same merge as `hiddenparams merge`. One plain script that runs
unchanged as `python -m hiddenparams.jobs.merge_job` (the local backend) and as the uv script of a Hugging Face job.

    python -m hiddenparams.jobs.merge_job --config merge.yaml [--set field=value ...]
    python -m hiddenparams.jobs.merge_job --config-json '{"base_model_id": ..., ...}'

Prints the merge note, the equivalence check, and last a `MERGE_SUMMARY {json}` line: the `merged` ledger event,
which the CLI appends to its ledger when it sees the job completed (a job on Hugging Face cannot write to this
machine's ledger). Exits 1, writing nothing, when the merge is refused or cannot run. With `--smoke`, only the
checks before the weights (`smoke_checks`), then a SMOKE_SUMMARY line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from hiddenparams.config import config_hash, job_configs, job_parser
from hiddenparams.errors import HiddenParamsError
from hiddenparams.ledger import redact
from hiddenparams.model.merge import MERGE_NOTE, MergeConfig, merged_event, run, stored_dtype
from hiddenparams.model.merge_check import MergeRefused, probe_sequences
from hiddenparams.model.load import inference_tokenizer
from hiddenparams.jobs.preflight import job_start
from hiddenparams.data.rows import read_rows
from hiddenparams.jobs.smoke_checks import check_repo_writable, run_smoke, take_smoke_flag, token_counts

SUMMARY_MARKER = "MERGE_SUMMARY "


def parse_args(argv: list[str] | None) -> MergeConfig:
    args = job_parser("hiddenparams.jobs.merge_job", __doc__.split("\n\n")[0]).parse_args(argv)
    return job_configs(args, MergeConfig)[0]


def smoke_checks(cfg: MergeConfig) -> dict[str, Any]:
    """The smoke job of a merge (`hiddenparams.jobs.smoke_checks`): the adapter's files and recorded base, the tokenizer, the
    probe sequences the merge compares logits on, rendered, and whether the token may write the `push_to` repo."""
    tokenizer = inference_tokenizer(base_model_id=cfg.base_model_id, adapter_id=cfg.adapter_model_id)
    sequences = probe_sequences(tokenizer, read_rows(cfg.probe_data) if cfg.probe_data else [])
    return {
        "base_model_id": cfg.base_model_id,
        "adapter_model_id": cfg.adapter_model_id,
        "stored_dtype": str(stored_dtype(cfg.base_model_id)).removeprefix("torch."),
        "probe_tokens": token_counts(sequences),
        "push_to": check_repo_writable(cfg.push_to, cfg.private) if cfg.push_to else None,
        "config_hash": config_hash(cfg),
    }


def main(argv: list[str] | None = None) -> int:
    job_start()
    argv, smoke = take_smoke_flag(argv)
    if smoke:
        return run_smoke("merge", lambda: smoke_checks(parse_args(argv)))
    print(MERGE_NOTE, flush=True)
    try:
        cfg = parse_args(argv)
        result = run(cfg, on_stage=lambda stage: print(stage, flush=True))
    except HiddenParamsError as exc:  # the job's log shows what to fix, not a traceback
        if isinstance(exc, MergeRefused):
            print(exc.check.line(), flush=True)
        hint = getattr(exc, "hint", None)
        print(redact(f"error: {exc}" + (f"\n  hint: {hint}" if hint else "")), file=sys.stderr, flush=True)
        return 1
    print(result.equivalence.line(), flush=True)
    if result.pushed:
        print(f"uploaded: {result.pushed['url']} (commit {result.pushed['commit']})", flush=True)
    print(SUMMARY_MARKER + json.dumps(merged_event(result, cfg)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
