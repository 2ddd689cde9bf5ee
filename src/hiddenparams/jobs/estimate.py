"""Before any spend: whether a training run fits a flavor's GPU, how long it takes and what it costs.

    shape = model_shape(config_dict)                         # size and shape from the model's config.json alone
    lengths = DataLengths(train=[...], validation=[...])     # tokens per row, as the job renders them
    run = estimate_run(shape, cfg, lengths, "a10g-small", hardware_table())
    run.refusal                                              # why the submit would be refused, with the hint

Pure functions over three inputs: the model's config, the data's token lengths and the flavor table (the Hub's
`list_jobs_hardware()`, or the dated table below when the Hub cannot be asked). Every figure says where it came from:

- Memory on one GPU = weights in the training dtype + LoRA parameters, gradients and AdamW state (PEFT keeps the
  adapter in float32) + activations: bytes per token per layer (`layer_activation_bytes`, the tensors a Ministral3
  decoder layer with LoRA saves for backward under bf16 autocast, counted by `bench/activation_memory.py` on CPU,
  docs/BENCHMARKS.md "Activation memory") x layers x the tokens of the longest batch. With activation checkpointing a
  layer keeps only its input, and one layer's full activations exist again while it is recomputed.
- Minutes = FLOPs / (GPUs x peak bf16 FLOP/s x MFU) + fixed overhead. FLOPs per trained token: 2N forward, 2N for the
  activation gradients, 2N more for the weight gradients of a full fine-tune (none for LoRA's frozen base), 2N more
  for the recomputed forward under activation checkpointing; each evaluation pass is 2N per validation token. N is
  the language model with the LM head in place of the input embedding (the vision tower never runs on text rows),
  as `bench/train_throughput.py` counts it for MFU. The MFU is ASSUMED until docs/BENCHMARKS.md has a GPU figure.
- Cost = billed minutes x the flavor's price per minute.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from ..config import TrainConfig
from ..errors import HiddenParamsError

GB = 1e9

# Hugging Face Jobs' flavors: (GPU model, GPUs, GPU memory per GPU in GB, host RAM in GB, USD per hour), read from
# https://huggingface.co/docs/hub/jobs-pricing (huggingface/hub-docs, docs/hub/jobs-pricing.md at commit 0b8c07f8) on
# PRICES_DATE. Used when `HfApi.list_jobs_hardware()` cannot be asked (the dry run is offline), and said so.
PRICES_DATE = "2026-12-02"
DATED_TABLE: dict[str, tuple[str | None, int, float, float, float]] = {
    "cpu-basic": (None, 0, 0, 16, 0.01),
    "cpu-upgrade": (None, 0, 0, 32, 0.03),
    "cpu-xl": (None, 0, 0, 124, 1.00),
    "cpu-performance": (None, 0, 0, 256, 1.90),
    "t4-small": ("T4", 1, 16, 15, 0.40),
    "t4-medium": ("T4", 1, 16, 30, 0.60),
    "l4x1": ("L4", 1, 24, 30, 0.80),
    "l4x4": ("L4", 4, 24, 186, 3.80),
    "l40sx1": ("L40S", 1, 48, 62, 1.80),
    "l40sx4": ("L40S", 4, 48, 382, 8.30),
    "l40sx8": ("L40S", 8, 48, 1534, 23.50),
    "a10g-small": ("A10G", 1, 24, 15, 1.00),
    "a10g-large": ("A10G", 1, 24, 46, 1.50),
    "a10g-largex2": ("A10G", 2, 24, 92, 3.00),
    "a10g-largex4": ("A10G", 4, 24, 184, 5.00),
    "a100-large": ("A100", 1, 80, 142, 2.50),
    "a100x4": ("A100", 4, 80, 568, 10.00),
    "a100x8": ("A100", 8, 80, 1136, 20.00),
    "h200": ("H200", 1, 141, 256, 5.00),
    "h200x2": ("H200", 2, 141, 512, 10.00),
    "h200x4": ("H200", 4, 141, 1024, 20.00),
    "h200x8": ("H200", 8, 141, 2048, 40.00),
    "rtx-pro-6000": ("RTX PRO 6000", 1, 96, 256, 2.75),
    "rtx-pro-6000x2": ("RTX PRO 6000", 2, 96, 512, 5.50),
    "rtx-pro-6000x4": ("RTX PRO 6000", 4, 96, 1024, 11.00),
    "rtx-pro-6000x8": ("RTX PRO 6000", 8, 96, 2048, 22.00),
}
# Dense (no sparsity) peak FLOP/s per GPU for the training dtype, from NVIDIA's datasheets. The T4 has no bf16 tensor
# cores (its fp16 figure; bf16 runs far slower there), the A10G has no datasheet of its own (the A10's figure, an
# upper bound: it clocks lower). No figure for the RTX PRO 6000: its minutes are not estimated.
PEAK_FLOPS = {"T4": 65e12, "L4": 121e12, "L40S": 362e12, "A10G": 125e12, "A100": 312e12, "H100": 989e12, "H200": 989e12}
ASSUMED_MFU = 0.30  # no GPU measurement yet (docs/BENCHMARKS.md "Train throughput", GPU); issue 5's goal is 0.40
# Before the first step: image pull and `uv` install of the job's dependencies (torch with its CUDA libraries is
# most of it), then the checkpoint download. Assumed, not measured: no job has run on the service yet.
ASSUMED_SETUP_MINUTES = 4.0
ASSUMED_DOWNLOAD_BYTES_PER_S = 100e6
# Share of a GPU's memory the run may plan on: the CUDA context, cuBLAS workspaces and the caching allocator's
# fragmentation take the rest.
USABLE_MEMORY = 0.9
LORA_BYTES_PER_PARAMETER = 16  # float32 parameter + gradient + AdamW's two moments
CPU_PARAMETER_LIMIT = 1e9  # a larger model does not train on a CPU flavor in useful time


class EstimateError(HiddenParamsError, ValueError):
    """The model's config or the flavor cannot be estimated; the message says which."""


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs of a model, from its config.json alone (a Mistral3 VLM or a plain causal LM)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    max_position_embeddings: int
    tied_embeddings: bool
    other_parameters: int = 0  # outside the language model: the vision tower and the projector
    fp8: bool = False  # linears of the language model stored as float8 in the checkpoint

    @property
    def layer_parameters(self) -> int:
        h, q, kv = self.hidden_size, self.num_attention_heads * self.head_dim, self.num_key_value_heads * self.head_dim
        return h * q + 2 * h * kv + q * h + 3 * h * self.intermediate_size + 2 * h  # projections, MLP, 2 norms

    @property
    def language_parameters(self) -> int:
        embedding = self.vocab_size * self.hidden_size
        head = 0 if self.tied_embeddings else embedding
        return embedding + head + self.num_hidden_layers * self.layer_parameters + self.hidden_size  # + final norm

    @property
    def parameters(self) -> int:
        return self.language_parameters + self.other_parameters

    @property
    def flop_parameters(self) -> int:
        """N of the FLOP count: the layers and the LM head (a lookup, the input embedding does no multiply)."""
        return self.num_hidden_layers * self.layer_parameters + self.hidden_size + self.vocab_size * self.hidden_size

    def lora_parameters(self, rank: int) -> int:
        """LoRA on the seven projections of every layer (the project's default targets): r x (in + out) each."""
        h, q, kv, mlp = (
            self.hidden_size,
            self.num_attention_heads * self.head_dim,
            self.num_key_value_heads * self.head_dim,
            self.intermediate_size,
        )
        per_layer = (h + q) * 2 + (h + kv) * 2 + (h + mlp) * 3
        return rank * per_layer * self.num_hidden_layers

    def checkpoint_bytes(self) -> int:
        """The download: bf16 weights, the language model's projections in one byte each when stored as FP8."""
        linear = self.num_hidden_layers * (self.layer_parameters - 2 * self.hidden_size)
        return 2 * self.parameters - (linear if self.fp8 else 0)


def _vision_parameters(vision: dict[str, Any], text_hidden: int, merge: int, projector_bias: bool) -> int:
    """Pixtral tower (patch conv, pre-norm, layers of attention + gated MLP + 2 norms) and the Mistral3 projector
    (norm, patch merger, two linears), as transformers 5.24 builds them."""
    hv, inter, layers = vision["hidden_size"], vision["intermediate_size"], vision["num_hidden_layers"]
    tower = vision["num_channels"] * vision["patch_size"] ** 2 * hv + hv
    tower += layers * (4 * hv * hv + 3 * hv * inter + 2 * hv)
    projector = hv + hv * merge * merge * hv + hv * text_hidden + text_hidden * text_hidden
    if projector_bias:
        projector += 2 * text_hidden
    return tower + projector


def model_shape(config: dict[str, Any]) -> ModelShape:
    """The shape of a model from its config.json (as a dict, transformers' defaults filled in by `model.load.full_config`)."""
    text = config.get("text_config") or config
    try:
        shape = ModelShape(
            vocab_size=text["vocab_size"],
            hidden_size=text["hidden_size"],
            intermediate_size=text["intermediate_size"],
            num_hidden_layers=text["num_hidden_layers"],
            num_attention_heads=text["num_attention_heads"],
            num_key_value_heads=text.get("num_key_value_heads") or text["num_attention_heads"],
            head_dim=text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"],
            max_position_embeddings=text["max_position_embeddings"],
            tied_embeddings=bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
            fp8=str((config.get("quantization_config") or {}).get("quant_method", "")).lower() == "fp8",
        )
        if config.get("vision_config"):
            other = _vision_parameters(
                config["vision_config"],
                shape.hidden_size,
                config.get("spatial_merge_size", 2),
                bool(config.get("multimodal_projector_bias")),
            )
            shape = replace(shape, other_parameters=other)
    except KeyError as exc:
        raise EstimateError(
            f"the model's config has no {exc.args[0]!r}: not a transformer shape this estimate knows"
        ) from None
    return shape


@dataclass(frozen=True)
class DataLengths:
    """Tokens per row (prompt + completion, as the chat template renders them) of the train and validation splits."""

    train: list[int]
    validation: list[int]
    tokenizer: str = ""  # which tokenizer counted them

    @property
    def longest(self) -> int:
        return max([*self.train, *self.validation, 0])


def layer_activation_bytes(shape: ModelShape, lora_rank: int) -> int:
    """Bytes a Ministral3 decoder layer with LoRA on its seven projections saves for backward, per token, in bf16
    autocast. Read off what `bench/activation_memory.py` counted (docs/BENCHMARKS.md "Activation memory"): the two
    RMSNorms and PEFT's float32 casts keep hidden-sized float32 copies (28h), the LoRA layers their bf16 inputs
    (10h) and rank-sized outputs (14r), attention its q, k, v (rotated and not) and output, SDPA its log-sum-exp, the
    MLP its gate/up/activation products in bf16 and float32 (12 x intermediate), rotary cos/sin (4 x head_dim)."""
    h, d = shape.hidden_size, shape.head_dim
    q, kv = shape.num_attention_heads * d, shape.num_key_value_heads * d
    heads, mlp = shape.num_attention_heads, shape.intermediate_size
    return 38 * h + 12 * mlp + 10 * q + 4 * kv + 14 * lora_rank + 4 * d + 4 * heads + 10


def checkpointed_layer_bytes(shape: ModelShape) -> int:
    """With activation checkpointing a layer keeps its bf16 input only."""
    return 2 * shape.hidden_size


def head_activation_bytes(shape: ModelShape) -> int:
    """The final norm's float32 copy and the hidden states TRL 1.16's chunked LM head keeps (in float32): the full
    logits never exist (trl/kernels/chunked_logprob.py)."""
    return 8 * shape.hidden_size


def longest_batch_tokens(lengths: list[int], batch_size: int, padding_free: bool) -> int:
    """Tokens of the largest batch: padded to its longest row, or (padding-free) the sum of the longest rows."""
    longest = sorted(lengths, reverse=True)[:batch_size]
    if not longest:
        return 0
    return sum(longest) if padding_free else longest[0] * min(batch_size, len(lengths))


@dataclass(frozen=True)
class Memory:
    """Peak bytes on one GPU (or the host for a CPU flavor), by part."""

    weights: int
    adapter_and_optimizer: int
    activations: int
    batch_tokens: int

    @property
    def total(self) -> int:
        return self.weights + self.adapter_and_optimizer + self.activations


def memory(
    shape: ModelShape, cfg: TrainConfig, lengths: DataLengths, *, checkpointing: bool, batch_size: int, dtype_bytes: int
) -> Memory:
    tokens = longest_batch_tokens(lengths.train, batch_size, cfg.padding_free)
    weights = shape.parameters * dtype_bytes
    if cfg.full_finetune:
        optimizer = shape.parameters * dtype_bytes * 3  # gradient + AdamW's two moments, in the weights' dtype
    else:
        optimizer = shape.lora_parameters(cfg.lora_r) * LORA_BYTES_PER_PARAMETER
    full_layer = layer_activation_bytes(shape, cfg.lora_r)
    if checkpointing:
        per_token = shape.num_hidden_layers * checkpointed_layer_bytes(shape) + full_layer
    else:
        per_token = shape.num_hidden_layers * full_layer
    # Measured in bf16; training in float32 (a CPU flavor, or bf16: false) doubles the saved tensors, roughly (the
    # norms' float32 copies are that size already, so this overstates a little).
    activations = tokens * (per_token + head_activation_bytes(shape)) * dtype_bytes // 2
    return Memory(weights, optimizer, activations, tokens)


@dataclass(frozen=True)
class Work:
    """Optimizer steps and FLOPs of a run, on `gpus` data-parallel processes."""

    steps: int
    train_tokens: int
    evaluations: int
    train_flops: float
    eval_flops: float

    @property
    def flops(self) -> float:
        return self.train_flops + self.eval_flops


def work(shape: ModelShape, cfg: TrainConfig, lengths: DataLengths, gpus: int) -> Work:
    rows_per_step = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * max(gpus, 1)
    steps_per_epoch = math.ceil(len(lengths.train) / rows_per_step)
    if cfg.max_steps > 0:
        steps = cfg.max_steps
        epochs = steps / max(steps_per_epoch, 1)
    else:
        epochs = cfg.num_train_epochs
        steps = math.ceil(steps_per_epoch * epochs)
    tokens = int(sum(lengths.train) * epochs)
    per_token = 4 + (2 if cfg.full_finetune else 0) + (2 if cfg.activation_checkpointing else 0)
    # The evaluations during training, and the one the job always runs after it (train_job.train).
    evaluations = (steps // cfg.eval_steps if cfg.eval_steps > 0 else 0) + 1
    train_flops = per_token * shape.flop_parameters * tokens
    eval_flops = 2 * shape.flop_parameters * sum(lengths.validation) * evaluations
    return Work(steps, tokens, evaluations, float(train_flops), float(eval_flops))


@dataclass(frozen=True)
class Hardware:
    """One flavor: its GPUs and their memory, the host's RAM, and the price."""

    name: str
    gpu: str | None
    gpus: int
    gpu_memory_gb: float  # per GPU
    ram_gb: float
    usd_per_hour: float
    source: str  # "Hub list_jobs_hardware" or the dated table

    @property
    def is_cpu(self) -> bool:
        return self.gpus == 0


def hardware_table() -> dict[str, Hardware]:
    """The dated table, as `Hardware` per flavor."""
    source = f"dated table of {PRICES_DATE} (hub-docs jobs-pricing)"
    return {
        name: Hardware(name, gpu, count, vram, ram, price, source)
        for name, (gpu, count, vram, ram, price) in DATED_TABLE.items()
    }


def _gigabytes(text: str | None) -> float:
    number = "".join(c for c in (text or "") if c.isdigit() or c == ".")
    return float(number) if number else 0.0


_PER_HOUR = {"second": 3600, "minute": 60, "hour": 1}  # `unit_label` of list_jobs_hardware's price -> units per hour


def hardware_from_hub(infos: list[Any]) -> dict[str, Hardware]:
    """`HfApi.list_jobs_hardware()`'s answer as `Hardware` per flavor. The accelerator's `vram` is the total over its
    `quantity` GPUs (huggingface_hub's JobAccelerator); a price per minute becomes one per hour."""
    table = {}
    for info in infos:
        acc = info.accelerator
        count = int(acc.quantity) if acc else 0
        per_gpu = _gigabytes(acc.vram) / count if acc and count else 0.0
        per_hour = info.unit_cost_usd * _PER_HOUR.get(info.unit_label, 0)
        if not per_hour:  # a unit this code does not know: the dated table's price, not a wrong one
            continue
        table[info.name] = Hardware(
            info.name,
            acc.model if acc else None,
            count,
            per_gpu,
            _gigabytes(info.ram),
            per_hour,
            "Hub list_jobs_hardware",
        )
    return table


@dataclass(frozen=True)
class FlavorEstimate:
    flavor: str
    gpu: str | None
    gpus: int
    memory_gb: float  # what one GPU (or the host) has
    peak_gb: float  # what the run needs there, as configured
    peak_gb_checkpointing: float  # the same with activation checkpointing
    fits: bool
    fits_with_checkpointing: bool
    train_minutes: float | None  # None: no peak FLOP/s figure for this hardware (CPU, RTX PRO 6000)
    overhead_minutes: float
    usd_per_hour: float
    price_source: str

    @property
    def minutes(self) -> float | None:
        return None if self.train_minutes is None else self.train_minutes + self.overhead_minutes

    @property
    def usd(self) -> float | None:
        return None if self.minutes is None else math.ceil(self.minutes) * self.usd_per_hour / 60

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "minutes": self.minutes, "usd": self.usd}


def estimate_flavor(
    hw: Hardware, shape: ModelShape, cfg: TrainConfig, lengths: DataLengths, mfu: float
) -> FlavorEstimate:
    """One flavor: peak memory with and without checkpointing, minutes, dollars."""
    dtype_bytes = 4 if hw.is_cpu or cfg.bf16 is False else 2  # the job trains in bf16 on a GPU unless told not to
    peaks = {
        ckpt: memory(
            shape, cfg, lengths, checkpointing=ckpt, batch_size=cfg.per_device_train_batch_size, dtype_bytes=dtype_bytes
        ).total
        / GB
        for ckpt in (False, True)
    }
    available = (hw.ram_gb if hw.is_cpu else hw.gpu_memory_gb) * USABLE_MEMORY
    peak = PEAK_FLOPS.get(hw.gpu or "")
    train_minutes = None
    if peak:
        done = work(shape, cfg, lengths, hw.gpus)
        train_minutes = done.flops / (hw.gpus * peak * mfu) / 60
    overhead = ASSUMED_SETUP_MINUTES + shape.checkpoint_bytes() / ASSUMED_DOWNLOAD_BYTES_PER_S / 60
    return FlavorEstimate(
        flavor=hw.name,
        gpu=hw.gpu,
        gpus=hw.gpus,
        memory_gb=hw.ram_gb if hw.is_cpu else hw.gpu_memory_gb,
        peak_gb=peaks[cfg.activation_checkpointing],
        peak_gb_checkpointing=peaks[True],
        fits=peaks[cfg.activation_checkpointing] <= available,
        fits_with_checkpointing=peaks[True] <= available,
        train_minutes=train_minutes,
        overhead_minutes=overhead,
        usd_per_hour=hw.usd_per_hour,
        price_source=hw.source,
    )


@dataclass
class RunEstimate:
    """The chosen flavor's estimate, the other flavors that hold the run (cheapest first), and the refusal if any."""

    chosen: FlavorEstimate
    fitting: list[FlavorEstimate]
    parameters: int
    lora_parameters: int
    batch_tokens: int
    longest_row: int
    work: Work
    mfu: float
    mfu_source: str
    tokenizer: str
    refusal: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen.to_dict(),
            "fitting": [f.to_dict() for f in self.fitting],
            "parameters": self.parameters,
            "lora_parameters": self.lora_parameters,
            "batch_tokens": self.batch_tokens,
            "longest_row": self.longest_row,
            "work": asdict(self.work),
            "mfu": self.mfu,
            "mfu_source": self.mfu_source,
            "tokenizer": self.tokenizer,
            "refusal": self.refusal,
            "price_source": self.chosen.price_source,
            "notes": self.notes,
            "assumptions": {
                "setup_minutes": ASSUMED_SETUP_MINUTES,
                "download_bytes_per_s": ASSUMED_DOWNLOAD_BYTES_PER_S,
                "usable_memory": USABLE_MEMORY,
            },
        }


def _largest_batch_that_fits(hw: Hardware, shape: ModelShape, cfg: TrainConfig, lengths: DataLengths) -> int | None:
    batch = cfg.per_device_train_batch_size // 2
    while batch >= 1:
        smaller = replace(cfg, per_device_train_batch_size=batch)
        if estimate_flavor(hw, shape, smaller, lengths, ASSUMED_MFU).fits:
            return batch
        batch //= 2
    return None


def estimate_run(
    shape: ModelShape,
    cfg: TrainConfig,
    lengths: DataLengths,
    flavor: str,
    table: dict[str, Hardware],
    *,
    allow_cpu: bool = False,
    mfu: float = ASSUMED_MFU,
    mfu_source: str = "assumed",
) -> RunEstimate:
    """The estimate for `flavor` and every GPU flavor that holds the run, and why the run is refused, if it is."""
    if flavor not in table:
        raise EstimateError(f"flavor {flavor!r} is not in the hardware table: no price or memory for it")
    chosen = estimate_flavor(table[flavor], shape, cfg, lengths, mfu)
    fitting = sorted(
        (
            e
            for e in (estimate_flavor(hw, shape, cfg, lengths, mfu) for hw in table.values() if not hw.is_cpu)
            if e.fits and e.flavor != flavor
        ),
        key=lambda e: (e.usd is None, e.usd or 0, e.usd_per_hour),
    )
    hw = table[flavor]
    run = RunEstimate(
        chosen=chosen,
        fitting=fitting,
        parameters=shape.parameters,
        lora_parameters=0 if cfg.full_finetune else shape.lora_parameters(cfg.lora_r),
        batch_tokens=longest_batch_tokens(lengths.train, cfg.per_device_train_batch_size, cfg.padding_free),
        longest_row=lengths.longest,
        work=work(shape, cfg, lengths, hw.gpus),
        mfu=mfu,
        mfu_source=mfu_source,
        tokenizer=lengths.tokenizer,
    )
    others = ", ".join(e.flavor for e in fitting[:4]) or "none"
    if hw.is_cpu:
        if shape.parameters > CPU_PARAMETER_LIMIT and not allow_cpu:
            run.refusal = (
                f"flavor {flavor} is a CPU: a {shape.parameters / 1e9:.1f}B-parameter model does not train there in"
                f" useful time; pick a GPU flavor (holding this run: {others}), or pass --allow-cpu"
            )
        elif not chosen.fits:
            run.refusal = f"flavor {flavor}: {chosen.peak_gb:.0f} GB needed, the host has {hw.ram_gb:.0f} GB"
    elif not chosen.fits:
        hints = []
        if not cfg.activation_checkpointing and chosen.fits_with_checkpointing:
            hints.append(f"activation_checkpointing: true ({chosen.peak_gb_checkpointing:.1f} GB)")
        batch = _largest_batch_that_fits(hw, shape, cfg, lengths)
        if batch:
            accumulation = cfg.gradient_accumulation_steps * cfg.per_device_train_batch_size // batch
            hints.append(f"per_device_train_batch_size: {batch} with gradient_accumulation_steps: {accumulation}")
        hints.append(f"a flavor that holds it: {others}")
        run.refusal = (
            f"flavor {flavor}: the run needs {chosen.peak_gb:.1f} GB per GPU, the {hw.gpu} has"
            f" {hw.gpu_memory_gb:.0f} GB ({USABLE_MEMORY:.0%} usable); try " + ", or ".join(hints)
        )
    if chosen.train_minutes is None:
        run.notes.append(f"no minutes for {flavor}: no peak FLOP/s figure for {hw.gpu or 'a CPU'}")
    return run


def summary_lines(estimate: dict[str, Any]) -> list[str]:
    """A few lines for the console: one per flavor (the chosen one first), then where the figures came from."""

    def line(e: dict[str, Any], mark: str) -> str:
        where = f"{e['gpus']}x {e['gpu']}" if e["gpu"] else "CPU"
        fit = (
            "fits"
            if e["fits"]
            else ("fits only with activation checkpointing" if e["fits_with_checkpointing"] else "does NOT fit")
        )
        minutes = "? min" if e["minutes"] is None else f"{e['minutes']:.0f} min"
        usd = "$?" if e["usd"] is None else f"${e['usd']:.2f}"
        return (
            f"{mark} {e['flavor']:<14} {where:<16} {e['peak_gb']:6.1f} / {e['memory_gb']:.0f} GB  {fit:<10}"
            f"  {minutes:>8}  {usd:>8}"
        )

    lines = [line(estimate["chosen"], "*"), *(line(e, " ") for e in estimate["fitting"][:5])]
    w = estimate["work"]
    lines.append(
        f"  {estimate['parameters'] / 1e9:.2f}B parameters, longest batch {estimate['batch_tokens']:,} tokens"
        f" (longest row {estimate['longest_row']}), {w['steps']} steps, {w['evaluations']} evaluations;"
        f" MFU {estimate['mfu']:.0%} {estimate['mfu_source']}; prices: {estimate['price_source']};"
        f" minutes include {estimate['chosen']['overhead_minutes']:.0f} min of setup and download (assumed)"
    )
    return lines


def billed(flavor: str, started: str | None, finished: str | None, table: dict[str, Hardware]) -> dict[str, Any] | None:
    """What a finished job cost: the Hub bills every started minute the job runs (hub-docs jobs-pricing), from its
    start to its end as the Jobs API reports them, at the flavor's price. None without both timestamps."""
    if not (started and finished) or flavor not in table:
        return None
    seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    minutes = max(math.ceil(seconds / 60), 0)
    hw = table[flavor]
    return {
        "started_at": started,
        "finished_at": finished,
        "billed_minutes": minutes,
        "usd": round(minutes * hw.usd_per_hour / 60, 4),
        "usd_per_hour": hw.usd_per_hour,
        "price_source": hw.source,
    }
