"""How long a training smoke job's checks take (`train_job.smoke_checks`, everything before the weights) on the real
Ministral-3 vocabulary: mistral-common's tekken file saved as the tokenizer of a `mistral3` config (the tiny model's),
so the tokenizer is loaded, checked and used as the 3B model's is. Offline: no Hub, no install, no repo check.

    python bench/smoke_checks.py --data-dir data/converted [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="output of `hiddenparams convert` (train + validation)")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    from hiddenparams.chat_format import load_tekken_tokenizer
    from hiddenparams.config import load_config
    from hiddenparams.train_job import smoke_checks

    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder)
        (model / "config.json").write_text((ROOT / "models" / "tiny-ministral3" / "config.json").read_text())
        load_tekken_tokenizer().save_pretrained(model)
        cfg = load_config(None, {"model_id": str(model), "data_dir": args.data_dir, "output_dir": folder})
        for _ in range(args.runs):
            started = time.perf_counter()
            found = smoke_checks(cfg)
            seconds = round(time.perf_counter() - started, 1)
            print(json.dumps({"seconds": seconds, "rows": found["data"]["rows"], "max_length": found["max_length"]}))


if __name__ == "__main__":
    main()
