"""Try a training recipe for the embedded default: train the demo's LoRA (configs/tiny.yaml plus `--set` changes) on
the demo's split of the shipped sample, then evaluate base + adapter greedily on the demo's 495 test rows. Prints one
line: steps, training seconds, MAE against the same run's TF-IDF + ridge baseline, valid cases.

Training runs in this process (`train_job.train`, the local job's code) and evaluation through `evaluate.run_eval`,
as the demo does, so a recipe that wins here is the one `make demo` ships.

    python bench/demo_recipe.py --set num_train_epochs=4 --set seed=1
    python bench/demo_recipe.py --tiny   # seconds: 2 steps on a 256-record split (run by the tests)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py, also when this file is loaded by path
from common import machine, parse_args, verdict  # noqa: E402
from profile_train_step import DEFAULT_CONFIG, TINY_ROWS, converted_sample  # noqa: E402


def trial(args: argparse.Namespace) -> dict[str, object]:
    from hiddenparams.config import RunOn, TrainConfig, load_configs, parse_overrides
    from hiddenparams.data.rows import read_rows
    from hiddenparams.demo import TINY_MODEL
    from hiddenparams.eval.evaluate import EvalConfig, run_eval
    from hiddenparams.eval.modes import EvalData
    from hiddenparams.jobs.train_job import train
    from hiddenparams.model.load import load_for_inference

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = converted_sample(work, TINY_ROWS if args.tiny else None)
        steps = {"max_steps": args.max_steps} if args.max_steps else {}
        overrides = {
            "model_id": str(TINY_MODEL),
            "data_dir": str(data),
            "output_dir": str(work / "run"),
            "report_to": "none",
            **steps,
            **parse_overrides(args.set),
        }
        cfg, _ = load_configs(args.config, overrides, TrainConfig, RunOn)
        started = time.perf_counter()
        summary = train(cfg)
        seconds = time.perf_counter() - started
        split = work / "split"
        model, tokenizer, description = load_for_inference(base_model_id=str(TINY_MODEL), adapter_id=summary["output"])
        test, train_rows = read_rows(split / "test.jsonl"), read_rows(split / "train.jsonl")
        eval_cfg = EvalConfig(data=str(split / "test.jsonl"), out=str(work / "eval"))
        data_ = EvalData(test, train_rows, split / "train.jsonl", split / "test.jsonl")
        report = run_eval(model, tokenizer, description, data_, eval_cfg).report
    return {
        "changes": args.set,
        "steps": summary["global_step"],
        "train_seconds": round(seconds, 1),
        "eval_loss": round(summary["eval_loss"], 4),
        "mae": report.mae,
        "ridge_mae": report.baselines["tfidf_ridge"].metrics.mae,
        "valid": f"{report.valid_cases}/{report.total}",
        "total": report.total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--max-steps", type=int, help="stop training after this many steps")
    args = parse_args(parser, max_steps=2)
    result = trial(args)
    print(f"machine: {machine()}")
    print("RECIPE " + json.dumps(result))
    verdict(args.tiny, {"trained": result["steps"] > 0, "scored every test row": int(result["total"]) > 0})


if __name__ == "__main__":
    main()
