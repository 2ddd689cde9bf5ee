# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "torch==2.13.0",
#   "transformers==5.24.0",
#   "trl==1.16.0",
#   "peft==0.21.2",
#   "datasets==5.2.0",
#   "accelerate==1.15.0",
#   "huggingface_hub==2.4.0",
#   "mistral-common==1.13.1",
#   "tokenizers==0.23.3",
#   "safetensors==0.8.0",
#   "tensorboard==2.21.0",
#   "pyyaml==6.0.4",
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
"""The training job: TRL SFTTrainer + PEFT LoRA on prompt-completion rows. One plain script that runs unchanged as
`python -m hiddenparams.jobs.train_job`, as the uv script of a Hugging Face job, and under `accelerate launch`.

    python -m hiddenparams.jobs.train_job --config run.yaml [--set field=value ...]
    python -m hiddenparams.jobs.train_job --config-json '{"model_id": ..., ...}'

    python -m hiddenparams.jobs.train_job ... --smoke   # everything before the weights, then SMOKE_SUMMARY (jobs/smoke_checks.py)

Checks before any weight is loaded (`prepare`): the data rows, the model's config, tokenizer and chat format, every
row rendered. Writes under `output_dir`: `checkpoints/` (resumable), `tb/` (TensorBoard), and `adapter/` (or `model/`
for a full fine-tune) holding the weights, the tokenizer with its chat template, `resolved_config.yaml`,
`train_summary.json` (losses, data hashes, code version), a model card and `runs/` (a copy of the TensorBoard logs);
pushes that folder to `hub_model_id` when one is given. Its last line, `TRAIN_SUMMARY {json}`, becomes the `trained`
ledger event when the CLI sees the job completed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hiddenparams.config import TrainConfig
from hiddenparams.data.convert import TRAIN_SPLITS as SPLITS
from hiddenparams.data.convert import TrainDataError, check_data_dir
from hiddenparams.files import write_atomic
from hiddenparams.hub import DatasetFileError, dataset_file, push_folder
from hiddenparams.jobs.script import job_main
from hiddenparams.jobs.smoke_checks import SMOKE_ROWS, check_repo_writable
from hiddenparams.jobs.train import TRAIN
from hiddenparams.model.card import folder_card
from hiddenparams.model.chat_format import ChatFormatError, check_chat_format, render_ids
from hiddenparams.model.filemodes import ordinary_modes
from hiddenparams.provenance import code_version, file_sha256

# TrainConfig fields that share a name with an SFTConfig field but are ours alone: the job pushes its final folder
# itself (one commit with card and provenance), not every checkpoint as TRL's hub_model_id would.
NOT_FOR_TRL = frozenset({"hub_model_id"})
TB_ENV = "TENSORBOARD_LOGGING_DIR"  # where transformers' TensorBoard callback writes (default: output_dir/tb)
TB_IN_MODEL_DIR = "runs"  # the TensorBoard logs' copy in the pushed folder: the Hub shows them in its Metrics tab


def download_data(dataset_id: str, revision: str | None) -> Path:
    """The folder of a Hub dataset's `train.jsonl` and `validation.jsonl` at `revision` (the commit the submit
    uploaded): the layout of `hiddenparams convert`'s output, which the submit uploads, downloaded file by file."""
    try:
        paths = [dataset_file(dataset_id, f"{split}.jsonl", revision) for split in SPLITS]
    except DatasetFileError as exc:
        raise TrainDataError(f"data_dir {exc}; it must hold the output of `hiddenparams convert`") from None
    return paths[0].parent  # one snapshot folder holds both files


def load_data(data_dir: str, revision: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Train and validation from a local folder or a Hub dataset repo of our converted files (at `revision`: the
    commit the submit uploaded), checked row by row (`check_data_dir`) before anything else is loaded."""
    from datasets import load_dataset

    folder = Path(data_dir) if Path(data_dir).is_dir() else download_data(data_dir, revision)
    check_data_dir(folder)
    files = {s: str(folder / f"{s}.jsonl") for s in SPLITS}
    hashes = {s: file_sha256(Path(f)) for s, f in files.items()}
    ds = load_dataset("json", data_files=files)
    summary = {"source": data_dir, "revision": revision, "rows": {s: len(ds[s]) for s in ds}, "sha256": hashes}
    return ds["train"], ds["validation"], summary


def sequence_budget(tokenizer: Any, splits: dict[str, Any], max_length: int | None) -> int:
    """max_length for TRL: the longest prompt+completion of the data, in tokens (not TRL's 1024 default). A row over
    a configured `max_length` is refused, naming it: TRL would truncate it without a word."""
    from hiddenparams.model.chat_format import over_length, row_lengths

    lengths = row_lengths(
        tokenizer, ((f"{split} row {n}", row) for split, rows in splits.items() for n, row in enumerate(rows, start=1))
    )
    refusal = over_length(lengths, max_length, "max_length")
    if refusal:
        raise TrainDataError(refusal)
    return max_length or max((tokens for _, tokens in lengths), default=0)


def check_rows(tokenizer: Any, dataset: Any, rows: int = SMOKE_ROWS) -> list[int]:
    """The chat format on the data's own first rows (the prompt a prefix of prompt+completion, EOS last), as the
    tokenizer's probe checked it on ours; returns their token counts."""
    from jinja2 import TemplateError  # what a chat template raises (transformers renders templates with jinja2)

    counts = []
    for index in range(min(rows, len(dataset))):
        row = dataset[index]
        try:
            check_chat_format(tokenizer, row["prompt"], row["completion"])
        except (ChatFormatError, TemplateError) as exc:  # TemplateError: a role or shape the template refuses
            raise TrainDataError(f"train.jsonl row {index + 1}: {exc}; run `hiddenparams convert` again") from None
        counts.append(len(render_ids(tokenizer, row["prompt"] + row["completion"])))
    return counts


@dataclass
class Prepared:
    """What the training job knows before it loads any weight: the data, the tokenizer, the sequence length."""

    train_ds: Any
    eval_ds: Any
    data_summary: dict[str, Any]
    tokenizer: Any
    max_length: int
    first_rows_tokens: list[int]


def prepare(cfg: TrainConfig) -> Prepared:
    """Every check that needs no weights, cheapest first: the data rows, the model's config, its tokenizer and chat
    template (on a probe, then on the data's first rows), and every row rendered for the longest one. A job that
    would fail here fails before the checkpoint's gigabytes are downloaded; the smoke job stops here."""
    from hiddenparams.model.load import load_tokenizer, model_config

    train_ds, eval_ds, data_summary = load_data(cfg.data_dir, cfg.data_revision)
    tokenizer = load_tokenizer(cfg.model_id, model_config(cfg.model_id))
    first_rows = check_rows(tokenizer, train_ds)
    max_length = sequence_budget(tokenizer, {"train": train_ds, "validation": eval_ds}, cfg.max_length)
    return Prepared(train_ds, eval_ds, data_summary, tokenizer, max_length, first_rows)


def smoke_checks(cfg: TrainConfig) -> dict[str, Any]:
    """The smoke job of a training run (`hiddenparams.jobs.smoke_checks`): `prepare`, then whether the token may write the repo
    the adapter is pushed to."""
    prepared = prepare(cfg)
    return {
        "model_id": cfg.model_id,
        "data": prepared.data_summary,
        "max_length": prepared.max_length,
        "first_rows_tokens": prepared.first_rows_tokens,
        "eos_token_id": prepared.tokenizer.eos_token_id,
        "push_to": check_repo_writable(cfg.hub_model_id, cfg.hub_private) if cfg.hub_model_id else None,
        "config_hash": cfg.config_hash(),
    }


def last_checkpoint(checkpoints: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None


def score_only_completion_positions_on_cpu() -> bool:
    """Make TRL's fused LM head score only the labelled (completion) positions on CPU as it does on CUDA.

    TRL 1.16 projects every position through the LM head in tiles on devices without Triton, so that tile shapes
    stay fixed for graph compilers (Neuron), and masks the prompt's positions afterwards. On CPU nothing recompiles,
    and the prompt is three quarters of a row here (79 of 105 tokens on the demo's data): scoring the completion
    alone gives the same loss and metrics and a training step of the tiny model 1.3-2.2x faster (docs/BENCHMARKS.md
    "Demo", third round).
    Returns whether the switch was made (False with a TRL that has no such switch: training is unchanged).
    """
    import trl.trainer.utils as trl_utils

    compact = getattr(trl_utils, "_use_triton", None)
    if compact is None or getattr(compact, "hiddenparams_cpu", False):
        return compact is not None

    def compact_on_cpu_too(device: Any) -> bool:
        return device.type == "cpu" or compact(device)

    compact_on_cpu_too.hiddenparams_cpu = True  # type: ignore[attr-defined]
    trl_utils._use_triton = compact_on_cpu_too
    return True


def build_trainer(cfg: TrainConfig) -> tuple[Any, Any, dict[str, Any]]:
    """The SFTTrainer for a config, and what the summary needs to know about how it was built."""
    import torch
    from datasets.utils.logging import disable_progress_bar
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from hiddenparams.model.load import load_model, lora_targets

    disable_progress_bar()
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)

    prepared = prepare(cfg)
    train_ds, eval_ds, tokenizer = prepared.train_ds, prepared.eval_ds, prepared.tokenizer
    max_length = prepared.max_length
    cuda = torch.cuda.is_available()
    if not cuda:
        score_only_completion_positions_on_cpu()
    bf16 = cuda if cfg.bf16 is None else cfg.bf16
    model, load_report = load_model(cfg.model_id, dtype=torch.bfloat16 if bf16 else torch.float32)
    if cfg.attn_implementation:
        model.set_attn_implementation(cfg.attn_implementation)
    targets = lora_targets(model.config) if cfg.lora_target_modules == "auto" else cfg.lora_target_modules
    to_save = [m.strip() for m in cfg.lora_modules_to_save.split(",") if m.strip()] or None
    peft_config = (
        None
        if cfg.full_finetune
        else LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=targets,
            task_type="CAUSAL_LM",
            bias="none",
            modules_to_save=to_save,
            ensure_weight_tying=bool(to_save),  # a trained copy of tied embeddings must stay tied to lm_head
        )
    )
    shared = {f.name for f in fields(SFTConfig)} - NOT_FOR_TRL
    args = SFTConfig(
        **{k: v for k, v in cfg.to_dict().items() if k in shared}
        | {
            # What is not a plain copy of a config field:
            "output_dir": str(Path(cfg.output_dir) / "checkpoints"),
            # TRL refuses max_length with padding_free; nothing is truncated either way (it comes from the data).
            "max_length": None if cfg.padding_free else max_length,
            "completion_only_loss": True,  # loss on the JSON answer (and its EOS) only
            "bf16": bf16,
            "use_cpu": not cuda,
            "train_sampling_strategy": "group_by_length" if cfg.group_by_length else "random",
            "eval_strategy": "steps",
            "save_strategy": "steps",
            "report_to": [] if cfg.report_to in ("", "none") else [cfg.report_to],
            "disable_tqdm": not sys.stderr.isatty(),
            "dataloader_num_workers": 0 if not cuda else 2,
        }
    )
    # transformers' TensorBoard callback reads its folder from the environment when the trainer is built: set only
    # for that moment, so that another run in this process (the demo, tests) logs to its own output_dir.
    user_tb = os.environ.get(TB_ENV)
    tb_dir = user_tb or str(Path(cfg.output_dir) / "tb")
    os.environ[TB_ENV] = tb_dir
    try:
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_config,
        )
    finally:
        if user_tb is None:
            del os.environ[TB_ENV]
    info = {
        "model_class": load_report.model_class,
        "fp8_dequantized": load_report.fp8_dequantized,
        "lora_target_modules": None if cfg.full_finetune else targets,
        "max_length": max_length,
        "tensorboard_dir": tb_dir,
        "data": prepared.data_summary,
    }
    return trainer, tokenizer, info


def train(cfg: TrainConfig) -> dict[str, Any]:
    started = time.time()
    out = Path(cfg.output_dir)
    final_dir = cfg.model_dir()
    trainer, tokenizer, info = build_trainer(cfg)
    from hiddenparams.jobs.train_progress import attach_progress  # here: transformers is imported with the trainer

    attach_progress(trainer)
    resume_from = last_checkpoint(out / "checkpoints") if cfg.resume else None
    result = trainer.train(resume_from_checkpoint=resume_from)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    eval_losses = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
    eval_losses.append(trainer.evaluate()["eval_loss"])
    data_summary = info["data"]
    summary = {
        "model_id": cfg.model_id,
        "method": "full" if cfg.full_finetune else "lora",
        **{k: v for k, v in info.items() if k != "data"},
        "global_step": trainer.state.global_step,
        "train_loss": float(result.training_loss),
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "eval_loss": eval_losses[-1] if eval_losses else None,
        "eval_losses": eval_losses,
        "resumed_from": resume_from,
        "data": data_summary,
        "config_hash": cfg.config_hash(),
        "code_version": code_version(),
        "seconds": round(time.time() - started, 1),
        "world_size": trainer.args.world_size,  # processes that trained (data parallel)
        "log_history": trainer.state.log_history,  # loss, eval loss, learning rate per logged step: the report's curves
    }
    if trainer.is_world_process_zero():
        # TRL writes its template card (base model "None") beside the checkpoints at every save; the real card is
        # the one in final_dir, so this one would only mislead whoever opens the folder or pushes it.
        (out / "checkpoints" / "README.md").unlink(missing_ok=True)
        trainer.save_model(str(final_dir))
        ordinary_modes(final_dir)
        tokenizer.save_pretrained(str(final_dir))
        cfg.save(final_dir / "resolved_config.yaml")
        write_atomic(final_dir / "train_summary.json", json.dumps(summary, indent=2))
        folder_card(final_dir, model_ref=cfg.hub_model_id or str(final_dir)).save(final_dir / "README.md")
        summary["tensorboard"] = copy_tensorboard(Path(info["tensorboard_dir"]), final_dir)
        if cfg.hub_model_id:
            summary["pushed"] = push_folder(
                final_dir, cfg.hub_model_id, "hiddenparams: train job output", private=cfg.hub_private
            )
            write_atomic(final_dir / "train_summary.json", json.dumps(summary, indent=2))
    summary["output"] = str(final_dir)
    return summary


def copy_tensorboard(logs: Path, final_dir: Path) -> str | None:
    """The run's TensorBoard logs copied into the folder that is saved and pushed (`runs/`): the job's disk goes with
    it, and the Hub shows the event files of a repo in its Metrics tab. transformers flushes them after every logged
    line, the final evaluation's included. Returns the copy's path in the folder, or None when nothing was logged."""
    if not any(logs.rglob("*tfevents*")):
        return None
    target = final_dir / TB_IN_MODEL_DIR
    shutil.rmtree(target, ignore_errors=True)  # a resumed run's copy holds every earlier event file again
    shutil.copytree(logs, target)
    return TB_IN_MODEL_DIR


def trained_record(cfg: TrainConfig, summary: dict[str, Any]) -> dict[str, Any]:
    """The `trained` ledger event's fields, printed as the TRAIN_SUMMARY line for the CLI to append when it sees the
    job completed (a job on Hugging Face cannot write to this machine's ledger), as eval and merge jobs do."""
    keys = (
        "method",
        "global_step",
        "train_loss",
        "first_logged_loss",
        "last_logged_loss",
        "eval_loss",
        "max_length",
        "seconds",
        "world_size",
        "resumed_from",
        "tensorboard",
        "pushed",
        "code_version",
    )
    data = summary["data"]
    details = {key: summary.get(key) for key in keys} | {
        "rows": data["rows"],
        "data_revision": data.get("revision"),
        "output": summary["output"],
    }
    return {
        "model_repo": cfg.hub_model_id or str(cfg.model_dir().resolve()),
        "repo_kind": "full" if cfg.full_finetune else "adapter-only",
        "config_hash": cfg.config_hash(),
        "details": details,
    }


def run(cfg: TrainConfig) -> dict[str, Any]:
    return trained_record(cfg, train(cfg))


def main(argv: list[str] | None = None) -> int:
    return job_main(TRAIN, argv, run, smoke_checks)


if __name__ == "__main__":
    sys.exit(main())
