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

Its arguments are read as every job script reads them (jobs/script.py). Prints the merge note, the equivalence check,
and last a `MERGE_SUMMARY {json}` line: the `merged` ledger event. Exits 1, writing nothing, when the merge is
refused or cannot run. With `--smoke`, only the checks before the weights (`smoke_checks`), then a SMOKE_SUMMARY line.
"""

from __future__ import annotations

import sys
from typing import Any

from hiddenparams.config import config_hash
from hiddenparams.data.rows import read_rows
from hiddenparams.jobs.merge import MERGE
from hiddenparams.jobs.script import job_main
from hiddenparams.jobs.smoke_checks import check_repo_writable, token_counts
from hiddenparams.model.load import inference_tokenizer
from hiddenparams.model.merge import MERGE_NOTE, MergeConfig, merged_event, run, stored_dtype
from hiddenparams.model.merge_check import MergeRefused, probe_sequences


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


def run_job(cfg: MergeConfig) -> dict[str, Any]:
    """The merge, with the note and the equivalence check in the log (the check's figures too when it refuses);
    returns the `merged` record."""
    print(MERGE_NOTE, flush=True)
    try:
        result = run(cfg, on_stage=lambda stage: print(stage, flush=True))
    except MergeRefused as exc:
        print(exc.check.line(), flush=True)
        raise
    print(result.equivalence.line(), flush=True)
    if result.pushed:
        print(f"uploaded: {result.pushed['url']} (commit {result.pushed['commit']})", flush=True)
    return merged_event(result, cfg)


def main(argv: list[str] | None = None) -> int:
    return job_main(MERGE, argv, run_job, smoke_checks)


if __name__ == "__main__":
    sys.exit(main())
