"""The merge itself and its proof: merged in place, and equal to base+adapter on probe sequences.

    merged, check = merge_verified(adapted, probe_sequences(tokenizer, rows))   # raises MergeRefused

The probes are the prompt of a few fixed music requests (and of any given rows) followed by an answer, teacher-forced:
every position's logits are compared. Base+adapter's logits are computed first and wait on disk; the base alone's
logits (adapter disabled) measure what the adapter changes at all; then the adapter is merged into the base's own
weights in place (no second copy of the model) and the merged model's logits are compared with the kept ones. The
memory is about the checkpoint's own (docs/BENCHMARKS.md "Merge memory").
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.rows import Row
from ..errors import HiddenParamsError
from ..prompt import completion_messages, prompt_messages
from ..schema import KEYS, Params
from .chat_format import render_ids

# Fixed probes: varied requests, each teacher-forced with an answer so the answer positions are compared too.
PROBE_REQUESTS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("upbeat summer pop for a road trip with friends", (9, 7, 9, 2, 3, 4)),
    ("quiet solo piano for studying late at night", (1, 6, 4, 10, 5, 3)),
    ("dark, intricate progressive metal, as loud as it gets", (10, 1, 2, 0, 10, 2)),
    ("the soul records my parents played on sunday mornings", (4, 10, 5, 7, 4, 10)),
)

# The largest |logit difference| accepted by default. In float32 a merge changes logits by rounding alone (~1e-5 on
# the tiny model, 2.6e-4 at the 8-layer Ministral-3 shape): FLOAT32_TOLERANCE. In bfloat16 (and float16) the merged
# weight W + BA is rounded to 8 (11) significant bits, and that rounding grows with the logits' scale and the depth:
# no fixed number fits every model. Measured at the Ministral-3-3B shape (docs/BENCHMARKS.md "Merge memory"), a
# correct bf16 merge differs from base+adapter by 0.105 (8 layers) to 0.221 (all 26) of what the adapter itself
# changes. A merge that lost the adapter differs by about the adapter's whole effect, one that scaled it wrongly by a
# large part of it. So the half-precision default is a share of that effect, measured on the same probes, with a floor for
# adapters that change next to nothing.
FLOAT32_TOLERANCE = 1e-3
HALF_EFFECT_SHARE = 0.3
HALF_FLOOR = 0.5
POSITIONS_PER_CHUNK = 16  # logits compared this many positions at a time: a 131k vocabulary makes rows large
ROWS_PER_CHUNK = 1024  # weight rows merged at a time: 12 to 38 MB of float32 delta at the 3B's widths


@dataclass(frozen=True)
class Equivalence:
    max_abs_diff: float  # merged vs base+adapter
    tolerance: float
    argmax_agreement: float  # share of probe positions where both models predict the same next token
    probes: int
    positions: int
    dtype: str
    # What the adapter changes at all (max |logit difference| of the base alone vs base+adapter, same probes): a merge
    # that lost the adapter would differ by about this much.
    adapter_effect: float | None = None

    @property
    def passed(self) -> bool:
        return math.isfinite(self.max_abs_diff) and self.max_abs_diff <= self.tolerance

    @property
    def discriminating(self) -> bool:
        """Whether the check could have failed a merge that lost the adapter: only when the adapter moves logits by
        more than the tolerance. A pass is still true otherwise (the merged model is that close to base+adapter), but
        it says little about the merge itself."""
        return self.adapter_effect is None or self.adapter_effect > self.tolerance

    def line(self) -> str:
        effect = (
            ""
            if self.adapter_effect is None
            else f"; the adapter itself moves logits by up to {self.adapter_effect:.3g}"
        )
        caveat = (
            ""
            if self.discriminating
            else (
                " -- the adapter changes logits by no more than the tolerance, so this check cannot tell a merged adapter"
                " from a lost one"
            )
        )
        return (
            f"max |logit difference| merged vs base+adapter: {self.max_abs_diff:.3g} (tolerance {self.tolerance:g},"
            f" {self.dtype}, {self.probes} probes, {self.positions} positions,"
            f" same next-token argmax at {100 * self.argmax_agreement:.1f}%{effect}){caveat}"
        )


class MergeRefused(HiddenParamsError, RuntimeError):
    """The merged model is not equal to base+adapter within the tolerance; nothing was written."""

    def __init__(self, check: Equivalence) -> None:
        super().__init__(
            f"merged logits differ from base+adapter by up to {check.max_abs_diff:.3g} (tolerance {check.tolerance:g},"
            f" {check.positions} positions of {check.probes} probes): refusing to write the merged model;"
            " nothing was written"
        )
        self.check = check
        if check.dtype != "float32":
            self.hint = (
                f"in {check.dtype} rounding alone moves logits: `--dtype float32` merges and checks exactly (twice the"
                " memory, and a float32 model), or `--tolerance` accepts a larger difference"
            )


def default_tolerance(dtype: Any, adapter_effect: float) -> float:
    """FLOAT32_TOLERANCE in float32; in half precision HALF_EFFECT_SHARE of what the adapter changes (at least
    HALF_FLOOR): see the comment above these constants."""
    if str(dtype).removeprefix("torch.") == "float32":
        return FLOAT32_TOLERANCE
    if not math.isfinite(adapter_effect):  # the base alone gave NaN/inf: no scale to take a share of
        return HALF_FLOOR
    return max(HALF_FLOOR, HALF_EFFECT_SHARE * adapter_effect)


def probe_sequences(tokenizer: Any, rows: Sequence[Row] = ()) -> list[list[int]]:
    """Prompt + answer + EOS token ids of the fixed probes, then of `rows` (their labels as the answer)."""
    pairs: list[tuple[str, Params]] = [(text, dict(zip(KEYS, values))) for text, values in PROBE_REQUESTS]
    pairs += [(r.request_text, r.hidden_params) for r in rows]
    return [render_ids(tokenizer, prompt_messages(text) + completion_messages(params)) for text, params in pairs]


def probe_logits(model: Any, sequences: Sequence[Sequence[int]]) -> Iterator[Any]:
    """Every position's logits of each sequence in turn, in the model's dtype (lossless, and half the memory of
    float32 in bf16). One sequence at a time: no padding or attention mask can hide a difference, and the largest
    transient is one sequence's logits (131k floats per position at real size)."""
    import torch

    device = next(model.parameters()).device
    for sequence in sequences:
        with torch.inference_mode():
            yield model(input_ids=torch.tensor([list(sequence)], device=device), use_cache=False).logits[0]


def compare_logits(reference: Iterable[Any], candidate: Iterable[Any], tolerance: float) -> Equivalence:
    """Largest |logit difference| and argmax agreement of two `probe_logits` results of the same sequences, taken
    one sequence at a time as they come."""
    worst, agree, positions, probes, dtype = 0.0, 0, 0, 0, ""
    for ref, cand in zip(reference, candidate, strict=True):
        probes, dtype = probes + 1, str(ref.dtype).removeprefix("torch.")
        for start in range(0, ref.shape[0], POSITIONS_PER_CHUNK):
            a = ref[start : start + POSITIONS_PER_CHUNK].float()
            b = cand[start : start + POSITIONS_PER_CHUNK].float()
            diff = (a - b).abs_()
            # NaN compares false everywhere; make it the worst difference instead of hiding it.
            worst = max(worst, float("inf") if diff.isnan().any() else diff.max().item())
            agree += int((a.argmax(-1) == b.argmax(-1)).sum())
            positions += a.shape[0]
    return Equivalence(worst, tolerance, agree / positions, probes, positions, dtype)


def spill(tensors: Iterable[Any], folder: Path) -> list[Path]:
    """Each tensor to its own file: the reference logits wait on disk, not in memory, while the model is merged."""
    import torch

    paths = []
    for i, tensor in enumerate(tensors):
        paths.append(folder / f"{i}.pt")
        torch.save(tensor, paths[-1])
    return paths


def read_back(paths: Sequence[Path]) -> Iterator[Any]:
    import torch

    for path in paths:
        yield torch.load(path)


def merge_in_place(adapted: Any) -> Any:
    """`merge_and_unload` without its full-size temporaries. PEFT computes each weight's delta whole (on a CPU in
    float32, twice: B @ A, then times the scaling): 2 x 113 MB for one MLP projection of the 3B. Plain LoRA linears
    get the same sum here, W += (B @ A) * scaling in float32 rounded once to W's dtype, a block of rows at a time;
    any other kind of LoRA layer (DoRA, fan-in-fan-out, a LoRA bias, ...) is merged by PEFT itself. Modules trained
    in full beside LoRA (`modules_to_save`, e.g. the embeddings) replace the base's own in `unload()`. The logit
    check that follows is what proves either way right."""
    import torch
    from peft.tuners.lora import Linear, LoraLayer

    with torch.no_grad():
        for module in adapted.modules():
            if not isinstance(module, LoraLayer):
                continue
            for name in [n for n in module.active_adapters if n in module.lora_A]:
                plain = isinstance(module, Linear) and name not in module.lora_variant
                if not plain or module.fan_in_fan_out or module.lora_bias[name]:
                    module.merge(adapter_names=[name])
                    continue
                weight, a = module.get_base_layer().weight, module.lora_A[name].weight.float()
                b, scaling = module.lora_B[name].weight, module.scaling[name]
                for start in range(0, weight.shape[0], ROWS_PER_CHUNK):
                    rows = slice(start, start + ROWS_PER_CHUNK)
                    weight[rows] += (b[rows].float() @ a) * scaling
    merged = adapted.unload()
    untie_if_split(merged)
    return merged


def untie_if_split(model: Any) -> None:
    """A config that still says "tied" when the input embeddings and the LM head are two tensors (an adapter that
    trained the embeddings in full without keeping the tie): a reload, or a server that trusts the flag, would
    rebuild the head from the embeddings, a model other than the one checked. Say what the weights are."""
    inputs, outputs = model.get_input_embeddings(), model.get_output_embeddings()
    if outputs is None or inputs.weight.data_ptr() == outputs.weight.data_ptr():
        return
    for config in (model.config, getattr(model.config, "text_config", None)):
        if config is not None and getattr(config, "tie_word_embeddings", False):
            config.tie_word_embeddings = False


def merge_verified(
    adapted: Any, sequences: Sequence[Sequence[int]], tolerance: float | None = None
) -> tuple[Any, Equivalence]:
    """Base+adapter's logits of the probe `sequences` (kept on disk), the base alone's compared with them, then the
    merge in place, then the merged model's logits compared with the kept ones. `adapted` is consumed. Raises
    `MergeRefused` when the check fails."""
    dtype = adapted.get_base_model().dtype  # the adapter's own weights may be kept in float32 beside a bf16 base
    with tempfile.TemporaryDirectory(prefix="hiddenparams-merge-") as tmp:
        reference = spill(probe_logits(adapted, sequences), Path(tmp))
        with adapted.disable_adapter():
            effect = compare_logits(read_back(reference), probe_logits(adapted, sequences), math.inf).max_abs_diff
        tolerance = default_tolerance(dtype, effect) if tolerance is None else tolerance
        merged = merge_in_place(adapted)
        merged.eval()
        check = compare_logits(read_back(reference), probe_logits(merged, sequences), tolerance)
    check = Equivalence(**{**check.__dict__, "adapter_effect": effect})
    if not check.passed:
        raise MergeRefused(check)
    return merged, check


def lean_heap() -> None:
    """Give memory freed so far back to the OS, and keep doing so for what is freed from here on (glibc only).

    glibc keeps small frees in its heap, and after the first large free it raises its mmap threshold to 32 MB, so
    the many tensors of a few MB to 30 MB that the check allocates and frees (one sequence's logits at a 131k
    vocabulary) pile up in a heap that never shrinks. A fixed 1 MB threshold returns them at once; trimming hands
    back what the tokenizer held (~0.24 GB for the 131k vocabulary). Together ~0.3 GB of the merge's peak."""
    import ctypes
    import gc

    gc.collect()
    libc = ctypes.CDLL(None)
    if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
        libc.malloc_trim(0)
