"""FP8 dequantisation at full size: a checkpoint in the Ministral-3-3B-Instruct-2512 layout (float8_e4m3fn language-
model linears with scalar `weight_scale_inv` and `activation_scale`, `quantization_config` quant_method fp8) loads
through `hiddenparams.model.load.load_model` as bf16 weights equal to fp8 x scale — values checked, not just loading.

The fp8 checkpoint is written from any saved bf16 Mistral3 (`bench/random_model.py`) by the same converter the
model-loading tests use (tests/model/test_model.py), so the test and this check cannot drift apart.

    python bench/fp8_dequant.py --model-id /tmp/ministral3-random [--device cuda] [--json out.json]
    python bench/fp8_dequant.py --tiny   # models/tiny-ministral3 on the CPU: checks the script still works
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py, also when this file is loaded by path
from common import ROOT, parse_args, verdict  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "model"))
from test_model import loaded_name, to_fp8_checkpoint  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-id", type=Path, help="a saved bf16 Mistral3 folder (required unless --tiny)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parse_args(parser, model_id=ROOT / "models" / "tiny-ministral3", device="cpu")
    if args.model_id is None:
        parser.error("--model-id is required: a saved Mistral3 folder, e.g. from bench/random_model.py")
    from hiddenparams.model.load import load_model

    with tempfile.TemporaryDirectory(prefix="fp8-") as tmp:
        started = time.perf_counter()
        reference = to_fp8_checkpoint(args.model_id, Path(tmp) / "fp8")
        convert_s = time.perf_counter() - started
        started = time.perf_counter()
        model, report = load_model(str(Path(tmp) / "fp8"), dtype=torch.bfloat16, device_map=args.device)
        load_s = time.perf_counter() - started
        params = dict(model.named_parameters())
        worst, count = 0.0, 0
        for key, expected in reference.items():
            got = params[loaded_name(key)]
            assert got.dtype == torch.bfloat16, f"{key}: loaded as {got.dtype}"
            # bf16 keeps 8 bits of mantissa: the loaded weight may differ from fp8 x scale by its rounding only
            error = ((got.float().cpu() - expected).abs() / expected.abs().clamp_min(1e-8)).max().item()
            worst, count = max(worst, error), count + got.numel()
        figures = {
            "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
            "torch": torch.__version__,
            "fp8_dequantized": report.fp8_dequantized,
            "model_class": report.model_class,
            "checked_tensors": len(reference),
            "checked_parameters": count,
            "max_relative_error": worst,
            "convert_s": round(convert_s, 1),
            "load_s": round(load_s, 1),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
        }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    checks = {
        "the checkpoint was dequantised": report.fp8_dequantized,
        f"max relative error {worst:.2e} <= 2^-7 (bf16 rounding)": worst <= 2**-7,
    }
    verdict(args.tiny, checks)


if __name__ == "__main__":
    main()
