"""Profile training steps of the demo's configuration: where a step's time goes (data collation, forward, backward,
optimizer, everything else), from torch's profiler over real steps of `hiddenparams.jobs.train_job.build_trainer`.

The demo trains the tiny model on the sample data with `configs/tiny.yaml`; this builds the same trainer on the same
converted data (made here from the shipped sample with the demo's split and convert), runs `--warmup` steps, then
profiles `--steps` steps and prints one line per phase and the top operators by self CPU time.

    python bench/profile_train_step.py [--config configs/tiny.yaml] [--set field=value ...] [--steps 20]
    python bench/profile_train_step.py --tiny   # seconds: 2 profiled steps on 256 rows (run by the tests)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py, also when this file is loaded by path
from common import ROOT, machine, parse_args, verdict  # noqa: E402

DEFAULT_CONFIG = ROOT / "configs" / "tiny.yaml"
TINY_ROWS = 256  # --tiny: records of the sample split, converted and trained on
# Profiler event names -> phase. Torch records these names itself (DataLoader, autograd engine, Optimizer.step).
PHASES = (
    ("data", ("enumerate(DataLoader)",)),
    ("optimizer", ("Optimizer.step", "Optimizer.zero_grad")),
    ("backward", ("autograd::engine::evaluate_function",)),
)


def converted_sample(work: Path, rows: int | None) -> Path:
    """The demo's split + convert of the shipped sample (its first `rows` records when given)."""
    from hiddenparams.data.convert import convert_dir
    from hiddenparams.data.records import read_input
    from hiddenparams.data.split import SplitConfig, split_records, write_split
    from hiddenparams.demo import SAMPLE

    source = SAMPLE
    if rows:
        source = work / "sample.jsonl"
        source.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(True)[:rows]), encoding="utf-8")
    split = split_records(read_input(source), SplitConfig(allow_small=True) if rows else SplitConfig())
    write_split(split, work / "split")
    convert_dir(work / "split", work / "converted")
    return work / "converted"


def profile(args: argparse.Namespace) -> dict[str, float]:
    import torch
    from transformers import TrainerCallback

    from hiddenparams.config import RunOn, TrainConfig, load_configs, parse_overrides
    from hiddenparams.jobs.train_job import build_trainer

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = converted_sample(work, TINY_ROWS if args.tiny else None)
        overrides = {
            "data_dir": str(data),
            "output_dir": str(work / "run"),
            "max_steps": args.warmup + args.steps + 1,
            "eval_strategy": "no",
            "save_steps": 10**6,
            "eval_steps": 10**6,
            "report_to": "none",
            **parse_overrides(args.set),
        }
        overrides.pop("eval_strategy")
        cfg, _ = load_configs(args.config, overrides, TrainConfig, RunOn)
        trainer, _, info = build_trainer(cfg)
        step_ends: list[float] = []
        schedule = torch.profiler.schedule(wait=args.warmup, warmup=0, active=args.steps, repeat=1)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], schedule=schedule) as prof:

            class Clock(TrainerCallback):
                def on_step_end(self, *_: object, **__: object) -> None:
                    step_ends.append(time.perf_counter())
                    prof.step()

            trainer.add_callback(Clock())
            trainer.train()
    events = prof.key_averages()
    # Wall time of the profiled steps (the step after them, which may also evaluate, is left out).
    step_seconds = (step_ends[args.warmup + args.steps - 1] - step_ends[args.warmup - 1]) / args.steps
    total = sum(e.self_cpu_time_total for e in events) / 1e6 / args.steps
    phases: dict[str, float] = defaultdict(float)
    for name, prefixes in PHASES:
        phases[name] = sum(e.cpu_time_total for e in events if e.key.startswith(prefixes)) / 1e6 / args.steps
    print(f"machine: {machine()}; threads {torch.get_num_threads()}; max_length {info['max_length']}")
    print(f"step (wall, between step ends): {step_seconds:.3f} s; profiled self CPU per step: {total:.3f} s")
    for name, seconds in phases.items():
        print(f"phase {name:<10} {seconds:.3f} s/step  ({seconds / step_seconds:.0%} of the step)")
    print("top operators by self CPU time per step:")
    for event in sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]:
        print(f"  {event.self_cpu_time_total / 1e6 / args.steps:.4f} s  {event.count // args.steps:>5}x  {event.key}")
    return {"step_seconds": step_seconds, **phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--steps", type=int, default=20, help="profiled steps")
    parser.add_argument("--warmup", type=int, default=5, help="steps before profiling (at least 1)")
    parser.add_argument("--top", type=int, default=25, help="operators listed")
    args = parse_args(parser, steps=2, warmup=1, top=5)
    result = profile(args)
    verdict(args.tiny, {"steps timed": result["step_seconds"] > 0, "phases profiled": result["backward"] > 0})


if __name__ == "__main__":
    main()
