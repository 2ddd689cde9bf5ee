"""Build a randomly initialised Mistral3 of the Ministral-3-3B language-model shape (or fewer layers / a narrower
width for a CPU rehearsal), saved with the real tekken tokenizer and chat template, so the GPU check's benchmarks
and the FP8 check all load the same checkpoint like any model.

The shape comes from the model's config (`train_throughput.ministral3_3b_shape`): 32 query heads and 8 KV heads of
head_dim 128 on hidden 3072, so memory and MFU figures describe Ministral-3-3B. A narrower `--hidden` keeps the head
counts and scales head_dim and the MLP in proportion.

    python bench/random_model.py --out /tmp/ministral3-random [--layers 26] [--hidden 3072] [--device cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules
from common import parse_args  # noqa: E402
from train_throughput import ministral3_3b_shape, random_model_dir  # noqa: E402


def scaled_shape(layers: int, hidden: int | None) -> Any:
    """The 3B's shape with `layers` layers; a `hidden` other than the config's keeps the heads and scales head_dim
    (even, for the rotary halves) and the MLP by hidden / the config's hidden."""
    shape = ministral3_3b_shape()
    shape = dataclasses.replace(shape, num_hidden_layers=layers)
    if hidden is None or hidden == shape.hidden_size:
        return shape
    head_dim = max(2, shape.head_dim * hidden // shape.hidden_size // 2 * 2)
    mlp = shape.intermediate_size * hidden // shape.hidden_size
    return dataclasses.replace(shape, hidden_size=hidden, intermediate_size=mlp, head_dim=head_dim)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--layers", type=int, default=26, help="language-model layers (the 3B has 26)")
    parser.add_argument("--hidden", type=int, help="hidden size (default: the config's, 3072)")
    parser.add_argument("--device", default="cuda")
    args = parse_args(parser, layers=1, hidden=64, device="cpu")
    from hiddenparams.model.chat_format import load_tekken_tokenizer

    shape = scaled_shape(args.layers, args.hidden)
    started = time.perf_counter()
    random_model_dir(args.out, shape, load_tekken_tokenizer(), args.device)
    print(
        f"random_model: {shape.num_hidden_layers} layers, hidden {shape.hidden_size}, {shape.num_attention_heads} heads"
        f" / {shape.num_key_value_heads} KV heads of {shape.head_dim} -> {args.out} in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
