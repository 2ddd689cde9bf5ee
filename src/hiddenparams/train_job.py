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
# name = "pytorch-cu128"
# url = "https://download.pytorch.org/whl/cu128"
# explicit = true
#
# [tool.uv.sources]
# torch = { index = "pytorch-cu128" }
# ///
"""The training job: TRL SFTTrainer + PEFT LoRA on prompt-completion rows. One plain script that runs unchanged as
`python -m hiddenparams.train_job`, as the uv script of a Hugging Face job, and under `accelerate launch`.

    python -m hiddenparams.train_job --config run.yaml [--set field=value ...]
    python -m hiddenparams.train_job --config-json '{"model_id": ..., ...}'

Writes under `output_dir`: `checkpoints/` (resumable), `tb/` (TensorBoard), and `adapter/` (or `model/` for a full
fine-tune) holding the weights, the tokenizer with its chat template, `resolved_config.yaml`, `train_summary.json`
(losses, data hashes, code version) and a model card; pushes that folder to `hub_model_id` when one is given.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from hiddenparams.card import folder_card
from hiddenparams.config import RunOn, TrainConfig, job_configs, job_parser
from hiddenparams.errors import HiddenParamsError
from hiddenparams.filemodes import ordinary_modes
from hiddenparams.hub import push_folder
from hiddenparams.preflight import job_start
from hiddenparams.provenance import code_version, file_sha256

SPLITS = ("train", "validation")  # the job trains on the first and evaluates on the second: both need rows
# TrainConfig fields that share a name with an SFTConfig field but are ours alone: the job pushes its final folder
# itself (one commit with card and provenance), not every checkpoint as TRL's hub_model_id would.
NOT_FOR_TRL = frozenset({"hub_model_id"})


class TrainDataError(HiddenParamsError, ValueError):
    """The training data would fail the job: found before it is submitted, and again as it starts."""


def check_data_dir(data_dir: Path) -> dict[str, int]:
    """Rows per split of a local folder from `hiddenparams convert`. Train and validation must each hold rows, the
    first a {prompt, completion} record; anything else is an error naming the file, never a traceback in the job."""
    rows: dict[str, int] = {}
    for split in SPLITS:
        path = data_dir / f"{split}.jsonl"
        if not path.is_file():
            raise TrainDataError(f"{path}: no such file; data_dir must hold the output of `hiddenparams convert`")
        with open(path, encoding="utf-8-sig") as f:
            lines = [(number, line) for number, line in enumerate(f, start=1) if line.strip()]
        if not lines:
            raise TrainDataError(
                f"{path}: empty {'training' if split == 'train' else 'validation'} set (no rows): split with more "
                "rows or larger fractions, then `hiddenparams convert` again"
            )
        number, line = lines[0]
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TrainDataError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(row, dict) or not {"prompt", "completion"} <= row.keys():
            raise TrainDataError(f"{path}:{number}: expected a {{prompt, completion}} row; run `hiddenparams convert`")
        rows[split] = len(lines)
    return rows


def load_data(data_dir: str, revision: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Train and validation from a local folder or a Hub dataset repo of our converted files (at `revision`: the
    commit the submit uploaded)."""
    from datasets import load_dataset

    local = Path(data_dir)
    if local.is_dir():
        check_data_dir(local)
        files = {s: str(local / f"{s}.jsonl") for s in SPLITS}
        hashes = {s: file_sha256(Path(f)) for s, f in files.items()}
        ds = load_dataset("json", data_files=files)
    else:
        ds = load_dataset(data_dir, revision=revision)
        hashes = {s: ds[s]._fingerprint for s in ds}
        empty = [s for s in SPLITS if s not in ds or len(ds[s]) == 0]
        if empty:
            raise TrainDataError(f"{data_dir}: no {' and no '.join(empty)} rows in the dataset")
    summary = {"source": data_dir, "revision": revision, "rows": {s: len(ds[s]) for s in ds}, "sha256": hashes}
    return ds["train"], ds["validation"], summary


def longest_example(tokenizer: Any, dataset: Any) -> int:
    """max_length from the data instead of TRL's 1024 default: the longest prompt+completion, in tokens."""
    longest = 0
    for row in dataset:
        text = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        longest = max(longest, len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return longest


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


def build_trainer(cfg: TrainConfig, data_revision: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """The SFTTrainer for a config, and what the summary needs to know about how it was built."""
    import torch
    from datasets.utils.logging import disable_progress_bar
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from hiddenparams.model import load_model, load_tokenizer, lora_targets

    disable_progress_bar()
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    out = Path(cfg.output_dir)
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(out / "tb"))

    train_ds, eval_ds, data_summary = load_data(cfg.data_dir, data_revision)
    cuda = torch.cuda.is_available()
    if not cuda:
        score_only_completion_positions_on_cpu()
    bf16 = cuda if cfg.bf16 is None else cfg.bf16
    model, load_report = load_model(cfg.model_id, dtype=torch.bfloat16 if bf16 else torch.float32)
    if cfg.attn_implementation:
        model.set_attn_implementation(cfg.attn_implementation)
    tokenizer = load_tokenizer(cfg.model_id, model.config)
    max_length = cfg.max_length or longest_example(tokenizer, [*train_ds, *eval_ds])
    targets = lora_targets(model.config) if cfg.lora_target_modules == "auto" else cfg.lora_target_modules
    to_save = [m.strip() for m in cfg.lora_modules_to_save.split(",") if m.strip()] or None
    peft_config = None if cfg.full_finetune else LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets,
        task_type="CAUSAL_LM", bias="none", modules_to_save=to_save,
        ensure_weight_tying=bool(to_save),  # a trained copy of tied embeddings must stay tied to lm_head
    )  # fmt: skip
    shared = {f.name for f in fields(SFTConfig)} - NOT_FOR_TRL
    args = SFTConfig(**{k: v for k, v in cfg.to_dict().items() if k in shared} | {
        # What is not a plain copy of a config field:
        "output_dir": str(out / "checkpoints"),
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
    })  # fmt: skip
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds, processing_class=tokenizer,
        peft_config=peft_config,
    )  # fmt: skip
    info = {
        "model_class": load_report.model_class,
        "fp8_dequantized": load_report.fp8_dequantized,
        "lora_target_modules": None if cfg.full_finetune else targets,
        "max_length": max_length,
        "data": data_summary,
    }
    return trainer, tokenizer, info


def train(cfg: TrainConfig, data_revision: str | None = None) -> dict[str, Any]:
    started = time.time()
    out = Path(cfg.output_dir)
    final_dir = cfg.model_dir()
    trainer, tokenizer, info = build_trainer(cfg, data_revision)
    from hiddenparams.train_progress import attach_progress  # here: transformers is imported with the trainer

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
        (final_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
        folder_card(final_dir, model_ref=cfg.hub_model_id or str(final_dir)).save(final_dir / "README.md")
        if cfg.hub_model_id:
            summary["pushed"] = push_folder(
                final_dir, cfg.hub_model_id, "hiddenparams: train job output", private=cfg.hub_private
            )
            (final_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    summary["output"] = str(final_dir)
    return summary


def parse_args(argv: list[str] | None) -> tuple[TrainConfig, str | None]:
    parser = job_parser("hiddenparams.train_job", __doc__.split("\n\n")[0])
    parser.add_argument("--data-revision", help="commit of the data_dir dataset to read (set by the hf-jobs submit)")
    args = parser.parse_args(argv)
    # A run file may also say where it runs (RunOn): read, and not needed here, where it already runs.
    return job_configs(args, TrainConfig, RunOn)[0], args.data_revision


def main(argv: list[str] | None = None) -> int:
    job_start()
    try:
        cfg, data_revision = parse_args(argv)
        summary = train(cfg, data_revision)
    except HiddenParamsError as exc:  # the job's log shows what to fix, not a traceback
        sys.exit(f"error: {exc}")
    if int(os.environ.get("RANK", "0")) == 0:  # under accelerate/torchrun every rank returns here; one line is enough
        brief = {k: v for k, v in summary.items() if k != "log_history"}  # one readable log line; the file has it all
        print("TRAIN_SUMMARY " + json.dumps(brief), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
