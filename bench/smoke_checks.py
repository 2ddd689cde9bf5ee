"""How long a training smoke job's checks take (`train_job.smoke_checks`, everything before the weights) on the real
Ministral-3 vocabulary: mistral-common's tekken file saved as the tokenizer of a `mistral3` config (the tiny model's),
so the tokenizer is loaded, checked and used as the 3B model's is. Offline: no Hub, no install, no repo check.

    python bench/smoke_checks.py [--data-dir data/converted] [--runs 2]   # default: the sample, split and converted
    python bench/smoke_checks.py --tiny   # one run on a 256-record split (run by the tests)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py, also when this file is loaded by path
from common import ROOT, parse_args, verdict  # noqa: E402
from profile_train_step import TINY_ROWS, converted_sample  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="output of `hiddenparams convert` (default: the sample, split + converted)")
    parser.add_argument("--runs", type=int, default=2)
    args = parse_args(parser, runs=1)

    from hiddenparams.config import load_config
    from hiddenparams.jobs.train_job import smoke_checks
    from hiddenparams.model.chat_format import load_tekken_tokenizer

    found = {}
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder)
        (model / "data").mkdir()
        data_dir = args.data_dir or str(converted_sample(model / "data", TINY_ROWS if args.tiny else None))
        (model / "config.json").write_text((ROOT / "models" / "tiny-ministral3" / "config.json").read_text())
        load_tekken_tokenizer().save_pretrained(model)
        cfg = load_config(None, {"model_id": str(model), "data_dir": data_dir, "output_dir": folder})
        for _ in range(args.runs):
            started = time.perf_counter()
            found = smoke_checks(cfg)
            seconds = round(time.perf_counter() - started, 1)
            print(json.dumps({"seconds": seconds, "rows": found["data"]["rows"], "max_length": found["max_length"]}))
    rows = found.get("data", {}).get("rows", {})
    verdict(
        args.tiny,
        {
            "train and validation rows read": rows.get("train", 0) > 0 and rows.get("validation", 0) > 0,
            "max_length from the rows": found.get("max_length", 0) > 0,
        },
    )


if __name__ == "__main__":
    main()
