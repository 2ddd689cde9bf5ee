"""Measure the activation memory of one decoder layer of a model's shape, per token, on CPU: the bytes of every tensor
autograd saves for backward (`torch.autograd.graph.saved_tensors_hooks`), with LoRA on the seven projections, under
bf16 autocast as the Trainer runs a bf16 model, with and without activation checkpointing. The estimate
(`hiddenparams.jobs.estimate.layer_activation_bytes`) is checked against these figures.

The layer is built from the model's config.json (its text config): `--model-id` a local folder, or the config
hiddenparams ships for the project's model. Saved tensors are counted once per storage, weights excluded; two token
counts give the per-token slope, so what does not grow with the tokens (LoRA weights cast to bf16) drops out.

    python bench/activation_memory.py [--model-id mistralai/Ministral-3-3B-Instruct-2512] [--lora-r 16] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py, also when loaded by path
import common  # noqa: E402

SECTION = "## Activation memory"
DEFAULT_MODEL = "mistralai/Ministral-3-3B-Instruct-2512"
TOKENS = (256, 512)  # two batches of 2 rows: the slope between them is the per-token figure


def text_config(model_id: str) -> Any:
    """The Ministral3 text config of a local model folder or of a config hiddenparams ships."""
    import json

    from transformers import AutoConfig

    from hiddenparams.model.load import known_config

    folder = Path(model_id)
    config = json.loads((folder / "config.json").read_text()) if folder.is_dir() else known_config(model_id)
    if config is None:
        sys.exit(f"{model_id}: no local folder and no config shipped with hiddenparams")
    full = AutoConfig.for_model(**config)
    return full.get_text_config()


def saved_bytes(config: Any, lora_r: int, tokens: int, checkpointing: bool) -> int:
    """Bytes autograd saves in one forward of one decoder layer over `tokens` tokens (2 rows)."""
    from peft import LoraConfig, get_peft_model
    from transformers.models.ministral3.modeling_ministral3 import Ministral3DecoderLayer, Ministral3RotaryEmbedding

    config._attn_implementation = "sdpa"

    class OneLayer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = Ministral3DecoderLayer(config, 0)
            self.rotary = Ministral3RotaryEmbedding(config)

        def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            embeddings = self.rotary(x, positions)

            def run(x: torch.Tensor) -> torch.Tensor:
                return self.layer(x, attention_mask=None, position_embeddings=embeddings, position_ids=positions)

            return torch.utils.checkpoint.checkpoint(run, x, use_reentrant=False) if checkpointing else run(x)

    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = OneLayer()
    finally:
        torch.set_default_dtype(torch.float32)
    targets = r".*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
    model = get_peft_model(
        model, LoraConfig(r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.05, target_modules=targets)
    )
    model.train()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    x = torch.randn(2, tokens // 2, config.hidden_size, dtype=torch.bfloat16, requires_grad=True)
    positions = torch.arange(tokens // 2)[None].expand(2, -1)
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights and tensor is not positions:
            seen.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(x, positions)
    return sum(seen.values())


def per_token(config: Any, lora_r: int, checkpointing: bool) -> float:
    low, high = (saved_bytes(config, lora_r, tokens, checkpointing) for tokens in TOKENS)
    return (high - low) / (TOKENS[1] - TOKENS[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model-id", action="append", help=f"local folder or shipped config (default: {DEFAULT_MODEL})"
    )
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--record", action="store_true", help="write the figures into docs/BENCHMARKS.md")
    args = common.parse_args(parser, model_id=[str(common.ROOT / "models" / "tiny-ministral3")])
    torch.set_num_threads(1)
    from hiddenparams.jobs.estimate import checkpointed_layer_bytes, layer_activation_bytes, model_shape
    from hiddenparams.model.load import full_config

    rows, checks = [], {}
    for model_id in args.model_id or [DEFAULT_MODEL]:
        config = text_config(model_id)
        shape = model_shape(full_config(config.to_dict()))
        started = time.perf_counter()
        plain, checkpointed = per_token(config, args.lora_r, False), per_token(config, args.lora_r, True)
        seconds = time.perf_counter() - started
        rows.append(
            f"| `{model_id}` | {shape.hidden_size} / {shape.intermediate_size} / {shape.num_attention_heads}"
            f" x {shape.head_dim} / {shape.num_key_value_heads} x {shape.head_dim} | {plain:,.0f}"
            f" | {layer_activation_bytes(shape, args.lora_r):,} | {checkpointed:,.0f} | {checkpointed_layer_bytes(shape):,}"
            f" | {seconds:.0f} s |"
        )
        print(rows[-1], flush=True)
        checks[f"{model_id}: the estimate's formulas give the measured bytes"] = round(plain) == layer_activation_bytes(
            shape, args.lora_r
        ) and round(checkpointed) == checkpointed_layer_bytes(shape)
    command = " ".join(["python bench/activation_memory.py", *sys.argv[1:]])
    text = "\n".join(
        [
            SECTION,
            "",
            f"`{command}` — {dt.date.today().isoformat()}, {common.machine(note='shared with other agents')},"
            f" torch {torch.__version__}.",
            "",
            "Bytes one decoder layer saves for backward per token: LoRA r={r} on the seven projections (dropout 0.05), bf16"
            " weights under bf16 autocast (as the Trainer runs a bf16 model), SDPA attention, no padding; every saved"
            " tensor counted once per storage, weights excluded; the slope between {a} and {b} tokens. The estimate"
            " (`hiddenparams.jobs.estimate`) multiplies the figure by the layers and the tokens of the longest batch. A Hub"
            " id is read from the config.json hiddenparams ships for it (src/hiddenparams/model/known_configs, assembled from"
            " the published shape, not downloaded).".format(r=args.lora_r, a=TOKENS[0], b=TOKENS[1]),
            "",
            "| model (shape from its config) | hidden / MLP / q heads / kv heads | measured, bytes/token/layer"
            " | estimate's formula | with activation checkpointing, measured | formula | time |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Measured on CPU: on a GPU the same Python code saves the same tensors, except that SDPA's CUDA kernels may keep"
            " a different log-sum-exp layout (4 bytes per head per token here); not yet checked on a GPU.",
        ]
    )
    print("\n" + text)
    if args.record:
        common.record(SECTION, text)
        print(f"recorded in {common.BENCHMARKS}")
    common.verdict(args.tiny, checks)


if __name__ == "__main__":
    main()
