"""Build a randomly initialised Mistral3 of the Ministral-3-3B language-model shape (or fewer layers / a narrower
width for a CPU rehearsal), saved with the real tekken tokenizer and chat template, so the GPU check's benchmarks
and the FP8 check all load the same checkpoint like any model.

    python bench/random_model.py --out /tmp/ministral3-random [--layers 26] [--hidden 3072] [--device cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules
from common import parse_args  # noqa: E402
from train_throughput import ministral3_3b_shape, random_model_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--layers", type=int, default=26, help="language-model layers (the 3B has 26)")
    parser.add_argument("--hidden", type=int, default=3072, help="hidden size (3072); MLP is 3x, heads keep head_dim 128")
    parser.add_argument("--device", default="cuda")
    args = parse_args(parser, layers=1, hidden=64, device="cpu")
    from hiddenparams.chat_format import load_tekken_tokenizer

    shape = ministral3_3b_shape()
    heads = max(args.hidden // 128, 2)
    shape = dataclasses.replace(
        shape, num_hidden_layers=args.layers, hidden_size=args.hidden, intermediate_size=3 * args.hidden,
        num_attention_heads=heads, num_key_value_heads=max(heads // 4, 1),
    )  # fmt: skip
    started = time.perf_counter()
    random_model_dir(args.out, shape, load_tekken_tokenizer(), args.device)
    print(f"random_model: {args.layers} layers, hidden {args.hidden} -> {args.out} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
