"""Merge a LoRA adapter into its base, verified equal to base+adapter before anything is written or uploaded.

Merging simplifies deployment (one model, no PEFT at inference); it does not improve quality.

    cfg = load_config("merge.yaml", {"out": "merged"}, cls=MergeConfig)
    result = run(cfg)            # MergeResult: out, equivalence, info (= merge_info.json), pushed

The base is loaded in the dtype it is stored in (bf16 for the real checkpoints; an FP8 checkpoint is dequantised to
bf16 by `model.load.load_model`, so nothing is ever merged in FP8), never upcast, and merged in place after its logits are
kept (merge_check.py): the merge fits in about the memory of the checkpoint. When the merged model's logits differ
from base+adapter's by more than the tolerance, nothing is written.

The output folder holds: safetensors weights, config, tokenizer with its chat template, a generation config whose
EOS and pad are the tokenizer's, README.md (model card) and `merge_info.json` (what was merged, how it checked, the
provenance, and the adapter's own `resolved_config.yaml` and `train_summary.json` when it has them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError, flag
from ..data.rows import read_rows
from ..files import check_out, staged_folder
from ..hub import is_local, push_folder
from ..ledger import Ledger, LedgerEvent, RepoKind
from ..provenance import provenance
from .card import folder_card
from .filemodes import ordinary_modes
from .load import load_for_inference, model_config
from .merge_check import PROBE_REQUESTS, Equivalence, lean_heap, merge_verified, probe_sequences

MERGE_NOTE = "Merging simplifies deployment; it does not improve quality."
DTYPES = ("float32", "bfloat16", "float16")
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_RECORDS = ("resolved_config.yaml", "train_summary.json")  # what the training job writes beside an adapter


@dataclass
class MergeConfig:
    """What to merge, where to write it, and how strictly to check it (`merge.yaml`, or the command's flags)."""

    base_model_id: str = field(default="", metadata=flag("Base model: Hub repo id or local folder (required)."))
    adapter_model_id: str = field(default="", metadata=flag("PEFT adapter: Hub repo id or local folder (required)."))
    out: str = field(default="", metadata=flag("New (or empty) folder for the merged model (required)."))
    overwrite: bool = field(default=False, metadata=flag("Replace a non-empty --out folder (once the merge passed)."))
    push_to: str | None = field(default=None, metadata=flag("Hub repo to upload the folder to, in one commit."))
    private: bool = True  # visibility of a repo created by push_to: the command's --private/--public
    tolerance: float | None = field(
        default=None,
        metadata=flag(
            "Largest |logit difference| accepted (default: 1e-3 in float32; in bfloat16 0.3 x what the adapter"
            " itself changes, at least 0.5)."
        ),
    )
    # Never upcast by default: the merge then fits in about the checkpoint's memory.
    dtype: str | None = field(
        default=None,
        metadata=flag("float32 | bfloat16 | float16 to merge, check and save in (default: the checkpoint's own)."),
    )
    probe_data: str | None = field(default=None, metadata=flag("Canonical rows added to the fixed probes."))
    eval_report: str | None = field(
        default=None, metadata=flag("eval_report.json of this adapter: its numbers go into the model card.")
    )
    device: str | None = field(default=None, metadata=flag("cpu, cuda, cuda:1 ... (default: cuda when available)."))

    def validate(self, source: str = "config") -> None:
        for name in ("base_model_id", "adapter_model_id", "out"):
            if not getattr(self, name):
                raise ConfigError(f"{source}: field '{name}': required")
        if self.tolerance is not None and not self.tolerance >= 0:
            raise ConfigError(f"{source}: field 'tolerance': must be >= 0")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ConfigError(f"{source}: field 'dtype': {self.dtype!r} is not one of {', '.join(DTYPES)}")
        for name in ("probe_data", "eval_report"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_file():
                raise ConfigError(f"{source}: field '{name}': {value}: no such file")


@dataclass
class MergeResult:
    out: str
    equivalence: Equivalence
    info: dict[str, Any]  # merge_info.json as written
    pushed: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"out": self.out, **self.info, "pushed": self.pushed}


def stored_dtype(model_id: str) -> Any:
    """The dtype the checkpoint's weights are stored in (`dtype` of the config, or of its text model's); float32 when
    neither says (then `--dtype` chooses)."""
    import torch

    config = model_config(model_id)
    stored = getattr(config, "dtype", None) or getattr(getattr(config, "text_config", None), "dtype", None)
    dtype = getattr(torch, str(stored).removeprefix("torch."), None) if stored else None
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def adapter_files(adapter_id: str) -> dict[str, Path]:
    """Local paths of the adapter's weights and training records (`ADAPTER_RECORDS`) that exist: in the folder, or
    downloaded from the Hub repo (PEFT has just fetched the weights into the same cache)."""
    names = (ADAPTER_WEIGHTS, *ADAPTER_RECORDS)
    if is_local(adapter_id):
        return {name: Path(adapter_id) / name for name in names if (Path(adapter_id) / name).is_file()}
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    found = {}
    for name in names:
        try:
            found[name] = Path(hf_hub_download(adapter_id, name))
        except EntryNotFoundError:
            continue
    return found


def adapter_records(files: dict[str, Path]) -> dict[str, Any]:
    """The adapter's resolved training config and training summary, as they were written beside it."""
    records: dict[str, Any] = {}
    if "resolved_config.yaml" in files:
        records["resolved_config"] = yaml.safe_load(files["resolved_config.yaml"].read_text(encoding="utf-8"))
    if "train_summary.json" in files:
        records["train_summary"] = json.loads(files["train_summary.json"].read_text(encoding="utf-8"))
    return records


def eval_summary(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    from ..eval.evaluate import summarize

    try:
        return summarize(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"eval_report {path}: not an eval_report.json ({exc.__class__.__name__}: {exc})") from None


def save_merged(
    merged: Any,
    special_ids: dict[str, int | None],
    out: Path,
    info: dict[str, Any],
    eval_report: dict[str, Any] | None = None,
    model_ref: str | None = None,
) -> None:
    """Weights (safetensors: the only format transformers 5 writes), generation config with the tokenizer's EOS, pad
    and BOS (`special_ids`), model card and merge_info.json, into `out` (the tokenizer is already there)."""
    for name, value in special_ids.items():
        setattr(merged.generation_config, name, value)
    merged.save_pretrained(out)
    (out / "merge_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    folder_card(out, eval_report, model_ref, extra=MERGE_NOTE).save(out / "README.md")


def run(cfg: MergeConfig, ledger: Ledger | None = None, on_stage: Callable[[str], None] | None = None) -> MergeResult:
    """Load, merge, verify, then write `cfg.out` (and upload it, and record a `merged` ledger event).

    Nothing is written when the check fails (`MergeRefused`)."""
    import torch

    stage = on_stage or (lambda _: None)
    out = Path(cfg.out)
    check_out(out, cfg.overwrite)
    probe_rows = read_rows(cfg.probe_data) if cfg.probe_data else []
    summary = eval_summary(cfg.eval_report)
    stage("loading base + adapter")
    adapted, tokenizer, description = load_for_inference(
        base_model_id=cfg.base_model_id,
        adapter_id=cfg.adapter_model_id,
        device=cfg.device,
        dtype=stored_dtype(cfg.base_model_id) if cfg.dtype is None else getattr(torch, cfg.dtype),
    )
    files = adapter_files(cfg.adapter_model_id)
    with staged_folder(out, cfg.overwrite) as folder:
        sequences = probe_sequences(tokenizer, probe_rows)
        tokenizer.save_pretrained(folder)
        special_ids = {f"{k}_token_id": getattr(tokenizer, f"{k}_token_id") for k in ("eos", "pad", "bos")}
        del tokenizer  # only its files and ids are needed from here on
        lean_heap()
        stage("comparing logits of base+adapter and of the model merged in place")
        merged, check = merge_verified(adapted, sequences, cfg.tolerance)
        inputs = {"adapter_weights": files.get(ADAPTER_WEIGHTS, cfg.adapter_model_id)}
        if cfg.probe_data:
            inputs["probe_data"] = cfg.probe_data
        info = {
            "base_model_id": cfg.base_model_id,
            "adapter_model_id": cfg.adapter_model_id,
            "model_class": description["model_class"],
            "equivalence": {**asdict(check), "discriminating": check.discriminating},
            "probes": {"fixed": [text for text, _ in PROBE_REQUESTS], "data_rows": len(probe_rows)},
            "note": MERGE_NOTE,
            "provenance": provenance(cfg, inputs),
            "config": asdict(cfg),
            "adapter": adapter_records(files),
        }
        stage(f"writing {out}")
        report = json.loads(Path(cfg.eval_report).read_text(encoding="utf-8")) if summary else None  # checked above
        save_merged(merged, special_ids, folder, info, report, cfg.push_to or str(out))
        ordinary_modes(folder)  # safetensors writes its files 0600: the model folder is for others to read
    result = MergeResult(str(out), check, info)
    if cfg.push_to:
        stage(f"uploading to {cfg.push_to}")
        result.pushed = push_folder(out, cfg.push_to, "hiddenparams: merged model", cfg.private)
    if ledger is not None:
        ledger.append(LedgerEvent.MERGED, **merged_event(result, cfg))
    return result


def merged_event(result: MergeResult, cfg: MergeConfig) -> dict[str, Any]:
    """The `merged` ledger line's fields (the command appends it; a merge job prints it for the CLI to append)."""
    out = str(Path(result.out).resolve())
    details = {
        "base_model_id": cfg.base_model_id,
        "adapter_model_id": cfg.adapter_model_id,
        "out": out,
        "max_abs_logit_diff": result.equivalence.max_abs_diff,
        "tolerance": result.equivalence.tolerance,
        **(result.pushed or {}),
    }
    return {
        "model_repo": cfg.push_to or out,
        "repo_kind": RepoKind.FULL,
        "config_hash": result.info["provenance"]["config_hash"],
        "details": details,
    }
