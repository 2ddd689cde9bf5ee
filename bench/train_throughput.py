"""Benchmark training throughput: real (non-padding) tokens/s and MFU of our training configuration against TRL's
defaults, same model, same data, same run.

"ours" is `hiddenparams.jobs.train_job.build_trainer` on `--config` (default `configs/ministral-3-3b.yaml`, the real run's
settings) with only the model, data, output folder and step count swapped in. "TRL defaults" is a plain `SFTConfig()`
given only `output_dir`, `max_steps` and the device's precision (TRL 1.16: batch 8, gradient checkpointing on). Both
train the same LoRA adapter on the same model, loaded by `hiddenparams.model.load.load_model` in the same dtype (bf16 on a
GPU, fp32 on CPU), on the same generated request rows converted by `hiddenparams.data.convert` (the project's prompt).
The rows in between change one lever at a time, so each factor can be attributed; the settings columns are read
back from the trainer that ran, not from the row's name.

Tokens are the real ones of every batch fed (`attention_mask == 1`; a padding-free batch holds no padding), counted
from the end of `--warmup-steps` to the last step. MFU for LoRA on a frozen base = 4 x N x tokens/s / peak bf16
FLOP/s: 2N for the forward, 2N for the activation gradients, none for the frozen weights' gradients; attention
scores and the adapters are left out. N = the language model's weights with the LM head in place of the input
embedding (tied here, so counted once); the vision tower never runs on text-only batches.

    python bench/train_throughput.py [--config configs/ministral-3-3b.yaml] [--set field=value ...]
                                     [--steps 30] [--warmup-steps 5] [--repeats N] [--compile] [--record | --tiny]
    python bench/train_throughput.py --device cuda --full-size --record   # random Ministral-3-3B shape, bf16
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hiddenparams.config import RunOn, TrainConfig, load_config, load_configs, parse_overrides

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py, also when this file is loaded by path
import common  # noqa: E402
from common import BENCHMARKS, ROOT  # noqa: E402

DEFAULT_CONFIG = ROOT / "configs" / "ministral-3-3b.yaml"
TINY_MODEL = ROOT / "models" / "tiny-ministral3"
DATA_SEED = 4343  # not the sample data's seed
SECTION = "## Train throughput"
MINISTRAL3_3B = "mistralai/Ministral-3-3B-Instruct-2512"
GOAL_MFU, GOAL_RATIO = 0.40, 2.0  # issue 5, on a GPU
# Dense bf16 tensor-core peaks (no sparsity) from NVIDIA's datasheets; the first pattern found in the name wins.
PEAK_BF16_FLOPS = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("A100", 312e12))


def ministral3_3b_shape() -> Any:
    """The language model of Ministral-3-3B, from the config.json hiddenparams ships for it (the dry run's estimate
    reads the same file); the tiny model's builder takes any such shape."""
    from hiddenparams.jobs.estimate import model_shape
    from hiddenparams.model.load import full_config, known_config
    from hiddenparams.model.tiny import TinySpec

    shape = model_shape(full_config(known_config(MINISTRAL3_3B)))
    return TinySpec(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        head_dim=shape.head_dim,
        max_position_embeddings=shape.max_position_embeddings,
        pretrain_steps=0,
    )


@dataclass(frozen=True)
class Variant:
    name: str
    trl_defaults: bool = False  # a plain SFTConfig() instead of our config
    changes: dict[str, Any] = field(default_factory=dict)  # SFTConfig fields (TRL side) or TrainConfig fields (ours)


def variants(cfg: TrainConfig, compile_: bool, cuda: bool) -> list[Variant]:
    batch = cfg.per_device_train_batch_size
    # Padding-free batches want flash attention's varlen kernel (see TrainConfig.attn_implementation), when installed.
    flash = {"attn_implementation": "flash_attention_2"} if cuda and importlib.util.find_spec("flash_attn") else {}
    rows = [
        Variant("TRL defaults", trl_defaults=True),
        Variant(f"TRL defaults, batch {batch}", trl_defaults=True, changes={"per_device_train_batch_size": batch}),
        Variant(
            "TRL defaults, no gradient checkpointing", trl_defaults=True, changes={"activation_checkpointing": False}
        ),
        Variant("ours"),
        Variant("ours, random order (no length grouping)", changes={"group_by_length": False}),
        Variant("ours + padding_free", changes={"padding_free": True} | flash),
    ]
    if compile_:
        rows.append(Variant("ours + torch.compile", changes={"torch_compile": True}))
    return rows


def batch_tokens(batch: dict[str, Any]) -> tuple[Any, int]:
    """(real tokens, positions fed) of one collated batch. A padding-free batch has no attention_mask and no padding
    (TRL leaves `pad_to_multiple_of` unset). The real count stays a tensor on the device: no sync per step."""
    fed = batch["input_ids"].numel()
    mask = batch.get("attention_mask")
    return (mask.sum() if mask is not None else fed), fed


def flop_parameters(model: Any) -> int:
    """N of the MFU formula (see the module docstring); `model` may be wrapped by PEFT, whose adapters are left out."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder()
    weights = sum(p.numel() for name, p in decoder.named_parameters() if "lora_" not in name)
    return weights - decoder.get_input_embeddings().weight.numel() + base.get_output_embeddings().weight.numel()


def model_flops_per_s(parameters: int, tokens_per_s: float) -> float:
    return 4 * parameters * tokens_per_s


def mfu(parameters: int, tokens_per_s: float, peak_flops: float | None) -> float | None:
    return model_flops_per_s(parameters, tokens_per_s) / peak_flops if peak_flops else None


def peak_flops(device_name: str) -> float | None:
    return next((peak for pattern, peak in PEAK_BF16_FLOPS if pattern in device_name), None)


class Meter:
    """Real tokens and positions of every batch the trainer feeds, and the wall time from the end of the warm-up
    steps to the last step (the device synchronised at both marks)."""

    def __init__(self, trainer: Any, warmup_steps: int, cuda: bool) -> None:
        from transformers import TrainerCallback

        self.real: Any = 0
        self.fed = 0
        self.marks: dict[int, tuple[float, int, int]] = {}
        meter, step = self, trainer.training_step

        def counted(model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            real, fed = batch_tokens(inputs)
            meter.real, meter.fed = meter.real + real, meter.fed + fed
            return step(model, inputs, *args, **kwargs)

        class Marks(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if state.global_step in (warmup_steps, state.max_steps):
                    if cuda:
                        torch.cuda.synchronize()
                    meter.marks[state.global_step] = (time.perf_counter(), int(meter.real), meter.fed)

        trainer.training_step = counted  # the batch as it reaches the model, in the main process
        trainer.add_callback(Marks())

    def result(self) -> dict[str, float]:
        (t0, real0, fed0), (t1, real1, fed1) = (self.marks[k] for k in sorted(self.marks))
        return {"seconds": t1 - t0, "tokens": real1 - real0, "padding": 1 - (real1 - real0) / (fed1 - fed0)}


def make_data(work: Path, rows: int) -> Path:
    """Generated request rows, converted to prompt-completion rows by the project's own convert stage. The job wants
    a validation split too; it is never evaluated inside the measured steps (eval_steps is past the last step)."""
    from hiddenparams.data.convert import convert_dir
    from hiddenparams.data.rows import write_jsonl
    from hiddenparams.data.sample import generate_rows

    generated = generate_rows(rows + 8, seed=DATA_SEED)
    write_jsonl(work / "rows" / "train.jsonl", generated[:rows])
    write_jsonl(work / "rows" / "validation.jsonl", generated[rows:])
    convert_dir(work / "rows", work / "converted")
    return work / "converted"


def random_model_dir(out: Path, spec: Any, tokenizer: Any, device: str) -> Path:
    """A randomly initialised Mistral3 of `spec`'s language-model shape, built in bf16 on `device` (a 3B model in fp32
    on the host would take 15 GB and minutes) and saved with `tokenizer`, so both sides load it like any checkpoint."""
    from hiddenparams.model.tiny import build_model

    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = build_model(spec, len(tokenizer))
    finally:
        torch.set_default_dtype(torch.float32)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    return out


def prepare_model(args: argparse.Namespace, work: Path) -> tuple[str, str]:
    """(model id, description) of the benchmarked model."""
    if args.full_size:
        from hiddenparams.model.chat_format import load_tekken_tokenizer

        path = random_model_dir(work / "ministral3-3b-random", ministral3_3b_shape(), load_tekken_tokenizer(), "cuda")
        return (
            str(path),
            "random Ministral-3-3B-shaped Mistral3 (26 layers, hidden 3072, vocab 131072, tied, YaRN; "
            "one-layer Pixtral), tekken tokenizer",
        )
    if args.model_id:
        return args.model_id, f"`{args.model_id}`"
    if TINY_MODEL.is_dir():
        return str(TINY_MODEL), f"`{TINY_MODEL.relative_to(ROOT)}` (the tiny Ministral-3-architecture model)"
    from hiddenparams.model.tiny import TinySpec, make_tiny_model

    make_tiny_model(work / "tiny", TinySpec(pretrain_steps=0))
    return str(work / "tiny"), "tiny Ministral-3-architecture model built by `tiny.make_tiny_model` (not pre-trained)"


def trl_defaults_trainer(cfg: TrainConfig, bf16: bool, changes: dict[str, Any]) -> tuple[Any, Any]:
    """TRL's SFTTrainer as its defaults have it, on the same model, dtype, LoRA adapter and data as `cfg`."""
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from hiddenparams.jobs.train_job import load_data
    from hiddenparams.model.load import load_model, load_tokenizer, lora_targets

    model, _ = load_model(cfg.model_id, dtype=torch.bfloat16 if bf16 else torch.float32)
    tokenizer = load_tokenizer(cfg.model_id, model.config)
    train_ds, _, _ = load_data(cfg.data_dir)
    args = SFTConfig(
        output_dir=cfg.output_dir,
        max_steps=cfg.max_steps,
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
        **changes,
    )
    adapter = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=lora_targets(model.config),
        task_type="CAUSAL_LM",
        bias="none",
    )
    return SFTTrainer(
        model=model, args=args, train_dataset=train_ds, processing_class=tokenizer, peft_config=adapter
    ), tokenizer


def build(variant: Variant, cfg: TrainConfig, bf16: bool, cuda: bool) -> Any:
    from transformers import PrinterCallback

    from hiddenparams.jobs.train_job import build_trainer

    if variant.trl_defaults:
        trainer, _ = trl_defaults_trainer(cfg, bf16, variant.changes)
    else:
        trainer, _, _ = build_trainer(load_config(None, {**cfg.to_dict(), **variant.changes}))
    trainer.remove_callback(PrinterCallback)
    return trainer


def settings(trainer: Any) -> dict[str, Any]:
    """What actually ran, read back from the trainer."""
    args = trainer.args
    return {
        "batch": args.per_device_train_batch_size * args.gradient_accumulation_steps,
        "checkpointing": "on" if args.activation_checkpointing else "off",
        "sampler": args.train_sampling_strategy,
        "padding_free": "yes" if getattr(trainer.data_collator, "padding_free", False) else "no",
        "attention": trainer.model.config.get_text_config()._attn_implementation,
        "compile": "yes" if args.torch_compile else "no",
        "dtype": str(next(trainer.model.parameters()).dtype).removeprefix("torch."),
        "trainable": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
    }


def run(variant: Variant, cfg: TrainConfig, bf16: bool, warmup_steps: int, cuda: bool) -> dict[str, Any]:
    trainer = build(variant, cfg, bf16, cuda)
    meter = Meter(trainer, warmup_steps, cuda)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    result = {
        **settings(trainer),
        **meter.result(),
        "parameters": flop_parameters(trainer.model),
        "lengths": lengths,
        "memory_gb": torch.cuda.max_memory_allocated() / 1e9 if cuda else None,
    }
    result["tokens_per_s"] = result["tokens"] / result["seconds"]
    return result


def release(cuda: bool) -> None:
    """Free the last run's model before the next one loads its own (a 3B model twice would crowd the GPU)."""
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()


def disable_progress_bars() -> None:
    from datasets.utils.logging import disable_progress_bar
    from transformers.utils.logging import disable_progress_bar as disable_transformers_progress_bar

    disable_progress_bar()
    disable_transformers_progress_bar()


def versions() -> str:
    import peft
    import transformers
    import trl

    return ", ".join(f"{m.__name__} {m.__version__}" for m in (torch, transformers, trl, peft))


def table(results: dict[str, dict[str, Any]], peak: float | None, cuda: bool) -> list[str]:
    base = results.get("TRL defaults", {}).get("tokens_per_s")
    unit, scale = ("TFLOP/s", 1e12) if cuda else ("GFLOP/s", 1e9)
    head = (
        "| run | batch | grad. checkpointing | sampler | padding-free | attention | compile | padding fed "
        f"| **real tokens/s** | model {unit} | MFU | vs TRL defaults |"
    )
    if cuda:
        head += " peak memory GB |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} |" + " |" * (head.count("|") - 3))
            continue
        share = mfu(r["parameters"], r["tokens_per_s"], peak)
        versus = f"{r['tokens_per_s'] / base:.2f}x" if base else "n/a"
        line = (
            f"| {name} | {r['batch']} | {r['checkpointing']} | {r['sampler']} | {r['padding_free']} | {r['attention']} "
            f"| {r['compile']} | {r['padding']:.0%} | **{r['tokens_per_s']:,.0f}** "
            f"| {model_flops_per_s(r['parameters'], r['tokens_per_s']) / scale:.3g} "
            f"| {'n/a' if share is None else f'{share:.1%}'} | {versus} |"
        )
        lines.append(line + (f" {r['memory_gb']:.1f} |" if cuda else ""))
    return lines


INTRO = """\
`bench/train_throughput.py` measures real (non-padding) tokens/s of our training configuration (`build_trainer` on
`configs/ministral-3-3b.yaml`, model, data and step count swapped in) against TRL's defaults (a plain `SFTConfig()`
with only `output_dir`, `max_steps` and the device's precision set: batch 8, gradient checkpointing on): the same
model loaded the same way in the same dtype, the same LoRA adapter, the same data, in the same process. The rows in
between change one lever at a time; every settings column is read back from the trainer that ran. Tokens are those
with `attention_mask == 1` in every batch fed (a padding-free batch has none to drop), from the end of the warm-up
steps to the last step; "padding fed" is the share of fed positions that were padding.

MFU for LoRA on a frozen base = 4 x N x tokens/s / peak bf16 FLOP/s (989 TFLOP/s dense for an H100 SXM): 2N for the
forward, 2N for the activation gradients, none for the frozen weights' gradients; attention scores and the adapters
are left out. N = the language model's weights with the LM head in place of the input embedding (tied, so counted
once); the vision tower never runs on text-only batches. TRL 1.16 projects only labelled positions through the LM
head (`fused_lm_head`), so on prompt-completion rows 4N per token overstates the work done (for the 3B shape, the head
is 12% of N and prompts about 60% of the tokens: about 7%).

Every "ours" row is `build_trainer` with one `TrainConfig` field changed (`padding_free` makes it pass
`max_length=None`, as TRL requires; nothing is truncated either way). With SDPA, transformers turns the packed position ids into a dense block-diagonal mask over
the whole flattened batch, so attention becomes quadratic in the batch's token count; on a GPU the row uses flash
attention's varlen kernel when flash-attn is installed."""

GPU_PLACEHOLDER = """### GPU

Not yet measured: no GPU was lent to the session that wrote this benchmark, and the figures are not estimated. On a
GPU machine: `python bench/train_throughput.py --device cuda --full-size --record`. Goal (issue 5): >= 40% MFU and
>= 2x TRL's defaults."""

CPU_PLACEHOLDER = """### CPU

Not yet measured."""


def block(
    heading: str,
    command: str,
    cuda: bool,
    model_desc: str,
    results: dict[str, dict[str, Any]],
    cfg: TrainConfig,
    args: argparse.Namespace,
    peak: float | None,
    rows: int,
) -> str:
    import datetime as dt
    import statistics

    done = [r for r in results.values() if "error" not in r]
    ours, base = results.get("ours", {}), results.get("TRL defaults", {})
    lengths = done[0]["lengths"] if done else [0]
    lines = [
        heading,
        "",
        f"`{command}` — {dt.date.today().isoformat()}, {common.machine(cuda)}, {versions()}, "
        f"{torch.get_num_threads()} torch thread(s).",
        "",
        f"Model: {model_desc}; N = {done[0]['parameters']:,}; {done[0]['dtype']} weights; LoRA r={cfg.lora_r} on the "
        f"language model ({done[0]['trainable']:,} trainable parameters). Data: {rows} rows of "
        f"`generate_rows({rows}, seed={DATA_SEED})` converted by `hiddenparams.data.convert`, sequences {min(lengths)}-"
        f"{max(lengths)} tokens (mean {statistics.mean(lengths):.0f}). Each run: {args.warmup_steps} warm-up steps, "
        f"then {args.steps} measured steps; best of {args.repeats} run(s) per row, rows interleaved."
        if done
        else "Every run failed.",
        "",
        *table(results, peak, cuda),
        "",
    ]
    if len({r["trainable"] for r in done}) > 1:
        lines.append("Trainable parameters differ between rows: " + ", ".join(f"{r['trainable']:,}" for r in done))
    if "tokens_per_s" in ours and "tokens_per_s" in base:
        ratio = ours["tokens_per_s"] / base["tokens_per_s"]
        lines.append(f"**ours / TRL defaults: {ratio:.2f}x** real tokens/s.")
        if cuda and peak:
            share = mfu(ours["parameters"], ours["tokens_per_s"], peak)
            met = share >= GOAL_MFU and ratio >= GOAL_RATIO
            lines.append(
                f"Goal (issue 5): >= {GOAL_MFU:.0%} MFU and >= {GOAL_RATIO:.0f}x TRL's defaults: "
                f"{'met' if met else 'NOT met'} (MFU {share:.1%}, {ratio:.2f}x)."
            )
    if not cuda:
        lines.append(
            f"MFU against an assumed peak of {peak / 1e12:g} TFLOP/s (`--peak-tflops`)."
            if peak
            else "MFU: not meaningful on CPU (no stated bf16 peak for a shared virtual CPU core, and a toy model whose "
            "matrices are too small to approach one); the model FLOP/s column is 4 x N x tokens/s."
        )
    return "\n".join(lines).rstrip("\n")


def record(heading: str, text_block: str, path: Path = BENCHMARKS) -> None:
    """Write this benchmark's section right after the title of BENCHMARKS.md (or update it in place), replacing only
    the CPU or GPU part this run measured and leaving every other section alone."""
    found = common.find_section(common.read_benchmarks(path), SECTION)
    old = found.group(0) if found else ""
    parts = {}
    for key, placeholder in (("### CPU", CPU_PLACEHOLDER), ("### GPU", GPU_PLACEHOLDER)):
        kept = re.search(rf"^{re.escape(key)}.*?(?=^### |\Z)", old, re.M | re.S)
        parts[key] = kept.group(0).rstrip("\n") if kept else placeholder
    parts[heading] = text_block
    common.record(SECTION, "\n\n".join([SECTION, INTRO, parts["### CPU"], parts["### GPU"]]), path, first=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    parser.add_argument("--full-size", action="store_true", help="a random Ministral-3-3B-shaped model (cuda only)")
    parser.add_argument("--model-id", help=f"model to train (default: {TINY_MODEL.relative_to(ROOT)}, built if absent)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="our training configuration")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a field of ours")
    parser.add_argument("--steps", type=int, default=30, help="measured steps per run")
    parser.add_argument("--warmup-steps", type=int, default=5, help="steps per run before the clock starts")
    parser.add_argument("--repeats", type=int, help="runs per row, interleaved, best kept (default: CPU 3, GPU 1)")
    parser.add_argument("--compile", action="store_true", help="add a row with torch_compile")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default on CPU: 1, see tests/conftest.py)")
    parser.add_argument("--peak-tflops", type=float, help="peak FLOP/s for MFU (default: known GPUs; none on CPU)")
    parser.add_argument("--record", action="store_true", help=f"write the figures into {BENCHMARKS.relative_to(ROOT)}")
    parser.add_argument("--json", type=Path, help="also write every row's figures to this JSON file")
    args = common.parse_args(
        parser, steps=1, warmup_steps=1, repeats=1, set=["per_device_train_batch_size=2"]
    )  # every row, two steps each
    if args.steps < 1 or args.warmup_steps < 1:
        parser.error("--steps and --warmup-steps must be >= 1 (the clock starts at the end of a warm-up step)")

    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # build_trainer picks its device from torch.cuda.is_available()
    cuda = (args.device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device here")
    if args.full_size and not cuda:
        sys.exit("--full-size needs --device cuda: a 3B model does not train on a CPU in useful time")
    if args.full_size and args.model_id:
        sys.exit("--full-size builds its own model: drop --model-id")
    # The tiny model's matrices are too small to split across threads (tests/conftest.py measured a second thread
    # making a forward 60x slower on this shared 2-core machine).
    torch.set_num_threads(args.threads or (torch.get_num_threads() if cuda else 1))
    peak = args.peak_tflops * 1e12 if args.peak_tflops else peak_flops(torch.cuda.get_device_name()) if cuda else None
    args.repeats = args.repeats or (1 if cuda else 3)  # a shared CPU is noisy; a GPU run is dear
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' renames, once per trainer
    disable_progress_bars()
    command = " ".join(["python bench/train_throughput.py", *sys.argv[1:]])
    total = args.warmup_steps + args.steps

    with tempfile.TemporaryDirectory(prefix="train-throughput-") as tmp:
        work = Path(tmp)
        model_id, model_desc = prepare_model(args, work)
        fixed = {
            "model_id": model_id,
            "output_dir": str(work / "out"),
            "max_steps": total,
            "backend": "local",
            "report_to": "none",
            "save_steps": total + 1,
            "eval_steps": total + 1,
            "bf16": cuda,
        }
        overrides = {**fixed, **parse_overrides(args.set)}
        cfg, _ = load_configs(
            args.config, overrides, TrainConfig, RunOn
        )  # where the real run goes (RunOn) plays no part here
        rows = max(cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps, 8) * total  # one epoch at most
        cfg, _ = load_configs(args.config, {**overrides, "data_dir": str(make_data(work, rows))}, TrainConfig, RunOn)
        bf16 = bool(cfg.bf16)

        results: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeats):
            for variant in variants(cfg, args.compile, cuda):
                try:
                    r = run(variant, cfg, bf16, args.warmup_steps, cuda)
                except Exception as exc:  # one failing lever (memory, compile) must not lose the other rows
                    print(f"{variant.name}: failed: {exc!r}", file=sys.stderr, flush=True)
                    why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
                    results.setdefault(variant.name, {"error": why})
                    continue
                finally:
                    release(cuda)
                print(f"{variant.name}: {r['tokens_per_s']:,.0f} real tokens/s, {r['padding']:.0%} padding", flush=True)
                if r["tokens_per_s"] > results.get(variant.name, {}).get("tokens_per_s", 0):
                    results[variant.name] = r

    heading = "### GPU" if cuda else "### CPU"
    text = block(heading, command, cuda, model_desc, results, cfg, args, peak, rows)
    print("\n" + text)
    if args.record:
        record(heading, text)
        print(f"recorded in {BENCHMARKS}")
    if args.json:
        figures = {"command": command, "machine": common.machine(cuda), "model": model_desc, "peak_flops": peak}
        args.json.write_text(json.dumps({**figures, "rows": results}, indent=2, default=str) + "\n")
    ours, base = results.get("ours", {}), results.get("TRL defaults", {})
    checks = {"ours and TRL defaults both ran": "tokens_per_s" in ours and "tokens_per_s" in base}
    if args.tiny:  # a full run keeps the other rows when one lever fails (memory, compile); on tiny inputs none may
        checks["every row ran"] = all("tokens_per_s" in r for r in results.values())
    goals = {}
    if cuda and peak and checks["ours and TRL defaults both ran"]:
        share = mfu(ours["parameters"], ours["tokens_per_s"], peak)
        goals[f"MFU >= {GOAL_MFU:.0%}"] = share >= GOAL_MFU
        goals[f">= {GOAL_RATIO:.0f}x TRL defaults"] = ours["tokens_per_s"] / base["tokens_per_s"] >= GOAL_RATIO
    common.verdict(args.tiny, checks, goals)


if __name__ == "__main__":
    main()
