"""Merge a LoRA adapter into its base, verified equal to base+adapter before anything is written or uploaded.

Merging simplifies deployment (one model, no PEFT at inference); it does not improve quality.

The base is loaded as for inference (bf16 on a GPU, fp32 on a CPU; an FP8 checkpoint is dequantised to bf16 first
by `model.load_model`, so nothing is ever merged in FP8). `merge_and_unload` runs on a copy of base+adapter, and the
two are compared on probe sequences: the prompt of a few fixed music requests (and of `--probe-data` rows) followed
by an answer, teacher-forced, every position's logits. When the largest absolute logit difference passes the
tolerance, nothing is written.

The output folder holds: safetensors weights, config, tokenizer with its chat template, a generation config whose
EOS and pad are the tokenizer's, README.md (model card) and `merge_info.json` (what was merged and how it checked).
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .card import model_card
from .chat_format import render_ids
from .rows import Row
from .hub import push_folder
from .filemodes import ordinary_modes
from .ledger import Ledger, LedgerEvent, RepoKind
from .model import load_for_inference
from .prompt import completion_messages, prompt_messages
from .schema import KEYS, Params
from .errors import HiddenParamsError

MERGE_NOTE = "Merging simplifies deployment; it does not improve quality."

# Fixed probes: varied requests, each teacher-forced with an answer so the answer positions are compared too.
PROBE_REQUESTS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("upbeat summer pop for a road trip with friends", (9, 7, 9, 2, 3, 4)),
    ("quiet solo piano for studying late at night", (1, 6, 4, 10, 5, 3)),
    ("dark, intricate progressive metal, as loud as it gets", (10, 1, 2, 0, 10, 2)),
    ("the soul records my parents played on sunday mornings", (4, 10, 5, 7, 4, 10)),
)

# Largest absolute logit difference accepted by default. In float32 a merge changes logits by rounding alone
# (~1e-5 measured on the tiny model). In bfloat16 the merged weights W + BA are rounded to 8 significant bits, and
# logits of magnitude 8-16 are themselves stored in steps of 0.0625: a randomly initialised tiny model with a random
# adapter differed by up to 0.48 in bf16 (95% of next-token argmaxes unchanged). Not yet measured on the 3B model:
# pass --tolerance to decide for yourself.
DEFAULT_TOLERANCE = {"float32": 1e-3, "bfloat16": 0.5, "float16": 0.5}


class MergeRefused(HiddenParamsError, RuntimeError):
    """The merged model is not equal to base+adapter within the tolerance; nothing was written."""

    def __init__(self, check: Equivalence) -> None:
        super().__init__(
            f"merged logits differ from base+adapter by up to {check.max_abs_diff:.3g} (tolerance {check.tolerance:g}, "
            f"{check.positions} positions of {check.probes} probes): refusing to write the merged model"
        )
        self.check = check


class MergeError(HiddenParamsError, RuntimeError):
    """The merge cannot start as asked (output folder in use, ...); the message says what to do."""


@dataclass(frozen=True)
class Equivalence:
    max_abs_diff: float
    tolerance: float
    argmax_agreement: float  # share of probe positions where both models predict the same next token
    probes: int
    positions: int
    dtype: str

    @property
    def passed(self) -> bool:
        return math.isfinite(self.max_abs_diff) and self.max_abs_diff <= self.tolerance


def default_tolerance(dtype: Any) -> float:
    return DEFAULT_TOLERANCE[str(dtype).removeprefix("torch.")]


def probe_sequences(tokenizer: Any, rows: Sequence[Row] = ()) -> list[list[int]]:
    """Prompt + answer + EOS token ids of the fixed probes, then of `rows` (their labels as the answer)."""
    pairs: list[tuple[str, Params]] = [(text, dict(zip(KEYS, values))) for text, values in PROBE_REQUESTS]
    pairs += [(r.request_text, r.hidden_params) for r in rows]
    return [render_ids(tokenizer, prompt_messages(text) + completion_messages(params)) for text, params in pairs]


def compare_logits(
    reference: Any,
    candidate: Any,
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    tolerance: float,
    batch_size: int = 8,
) -> Equivalence:
    """Largest |logit difference| over every real position of `sequences` (right-padded; padding is not compared)."""
    import torch

    device = next(reference.parameters()).device
    worst, agree, positions = 0.0, 0, 0
    dtype = next(candidate.parameters()).dtype
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start : start + batch_size]
        width = max(map(len, chunk))
        ids = torch.tensor([list(s) + [pad_id] * (width - len(s)) for s in chunk], device=device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in chunk], device=device)
        with torch.inference_mode():
            a = reference(input_ids=ids, attention_mask=mask).logits.float()
            b = candidate(input_ids=ids, attention_mask=mask).logits.float()
        real = mask.bool()
        diff = (a - b).abs()[real]
        # NaN compares false everywhere; make it the worst difference instead of hiding it.
        worst = max(worst, float("inf") if diff.isnan().any() else diff.max().item())
        agree += int((a.argmax(-1) == b.argmax(-1))[real].sum())
        positions += int(real.sum())
    return Equivalence(
        worst, tolerance, agree / positions, len(sequences), positions, str(dtype).removeprefix("torch.")
    )


def merge_verified(
    adapted: Any, tokenizer: Any, probe_rows: Sequence[Row] = (), tolerance: float | None = None
) -> tuple[Any, Equivalence]:
    """`merge_and_unload` on a copy of base+adapter, then the logit check. Raises `MergeRefused` when it fails."""
    merged = copy.deepcopy(adapted).merge_and_unload()
    merged.eval()
    dtype = next(merged.parameters()).dtype
    check = compare_logits(
        adapted,
        merged,
        probe_sequences(tokenizer, probe_rows),
        tokenizer.pad_token_id,
        default_tolerance(dtype) if tolerance is None else tolerance,
    )
    if not check.passed:
        raise MergeRefused(check)
    return merged, check


def save_merged(
    merged: Any,
    tokenizer: Any,
    out: Path,
    base_model_id: str,
    info: dict[str, Any],
    eval_summary: dict[str, Any] | None = None,
) -> None:
    """Weights (safetensors: the only format transformers 5 writes), tokenizer + chat template, generation config,
    model card and merge_info.json, into `out` (created)."""
    merged.generation_config.eos_token_id = tokenizer.eos_token_id
    merged.generation_config.pad_token_id = tokenizer.pad_token_id
    merged.generation_config.bos_token_id = tokenizer.bos_token_id
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    card = model_card(base_model_id, "merged", eval_summary=eval_summary, extra=MERGE_NOTE)
    (out / "README.md").write_text(card, encoding="utf-8")
    (out / "merge_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


@dataclass
class MergeResult:
    out: Path
    check: Equivalence
    info: dict[str, Any]
    pushed: dict[str, str] | None = None


def check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MergeError(f"{out} already exists and is not an empty folder: pick a new --out")


def merge(
    base_model_id: str,
    adapter_model_id: str,
    out: Path,
    tolerance: float | None = None,
    probe_rows: Sequence[Row] = (),
    eval_summary: dict[str, Any] | None = None,
    push_to: str | None = None,
    private: bool = True,
    ledger: Ledger | None = None,
    device: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> MergeResult:
    """Load, merge, verify, then write `out` (and upload it, and record a `merged` ledger event).

    Nothing is written when the check fails (`MergeRefused`); the folder appears complete or not at all (it is
    written beside `out` and renamed into place).
    """
    stage = on_stage or (lambda _: None)
    check_out_dir(out)
    stage("loading base + adapter")
    adapted, tokenizer, description = load_for_inference(
        base_model_id=base_model_id, adapter_id=adapter_model_id, device=device
    )
    stage("merging and comparing logits")
    merged, check = merge_verified(adapted, tokenizer, probe_rows, tolerance)
    info = {
        "base_model_id": base_model_id,
        "adapter_model_id": adapter_model_id,
        "model_class": description["model_class"],
        "equivalence": asdict(check),
        "probes": {"fixed": [text for text, _ in PROBE_REQUESTS], "data_rows": len(probe_rows)},
        "note": MERGE_NOTE,
    }
    stage(f"writing {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_merged(merged, tokenizer, staging, base_model_id, info, eval_summary)
        ordinary_modes(staging)
        if out.exists():
            out.rmdir()  # empty, as checked above
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = MergeResult(out, check, info)
    if push_to:
        stage(f"uploading to {push_to}")
        result.pushed = push_folder(out, push_to, "hiddenparams: merged model", private)
    if ledger is not None:
        repo = push_to or str(out.resolve())
        details = {
            "base_model_id": base_model_id,
            "adapter_model_id": adapter_model_id,
            "out": str(out.resolve()),
            "max_abs_logit_diff": check.max_abs_diff,
            "tolerance": check.tolerance,
            **(result.pushed or {}),
        }
        ledger.append(LedgerEvent.MERGED, model_repo=repo, repo_kind=RepoKind.FULL, details=details)
    return result
