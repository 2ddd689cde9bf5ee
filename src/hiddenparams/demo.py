"""The whole loop on the embedded default, offline, on CPU:

sample data -> split -> convert -> tiny Ministral-3-architecture base -> LoRA training through the local job
backend -> eval of the base alone -> eval base+adapter -> merge (verified) -> eval of the merged model -> status
-> report. Everything lands in one run folder (see `run_report` for its layout).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import RunOn, TrainConfig, load_configs
from .data.convert import convert_dir
from .data.records import read_input
from .data.rows import read_rows
from .data.split import SplitConfig, split_records, write_split
from .errors import HiddenParamsError
from .eval.evaluate import EvalConfig, run_eval
from .eval.modes import EvalData
from .eval.run_report import run_verdict, write_run_report
from .files import write_atomic
from .jobs.stage import launch_job, plan_job
from .jobs.train import TRAIN
from .ledger import Ledger
from .model.card import folder_card
from .model.generation import Decoding
from .model.load import load_for_inference
from .model.merge import MergeConfig
from .model.merge import run as run_merge
from .status import collect_status, wait_job

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "train.jsonl"
TINY_MODEL = ROOT / "models" / "tiny-ministral3"
TINY_CONFIG = ROOT / "configs" / "tiny.yaml"
# All 495 test rows decode as one batch: a decode step of the 0.65M-parameter model costs its fixed per-step overhead,
# not FLOPs, so fewer, wider steps win (the base alone, which never stops early, evaluates 1.3x faster than at 64).
EVAL_BATCH_SIZE = 512


class DemoError(HiddenParamsError, RuntimeError):
    pass


@dataclass
class DemoResult:
    out: Path
    seconds: dict[str, float] = field(default_factory=dict)
    valid: dict[str, str] = field(default_factory=dict)
    mae: dict[str, float | None] = field(default_factory=dict)
    baseline_mae: dict[str, float] = field(default_factory=dict)
    identical_outputs: bool | None = None
    verdict: list[str] = field(default_factory=list)  # the fine-tuned model against each baseline, one sentence each
    files: dict[str, str] = field(default_factory=dict)


def run_demo(
    out: Path,
    on_stage: Callable[[str], None] = print,
    on_log: Callable[[str], None] | None = None,
    config_overrides: dict[str, Any] | None = None,
) -> DemoResult:
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        raise DemoError(f"{out} is not empty: give a new --out (a demo never mixes its files with an older run)")
    result = DemoResult(out)
    # The demo's own story on the console: no weight-loading bars from the in-process loads below, and not the one
    # deprecation PEFT 0.21 itself triggers on every adapter load (it reads `model.is_gradient_checkpointing`, which
    # transformers 5 renamed); anything else still shows.
    from transformers.utils.logging import disable_progress_bar

    disable_progress_bar()
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    ledger = Ledger(out / "artifacts")
    marks: list[tuple[str, float]] = []

    def stage(name: str) -> None:
        marks.append((name, time.perf_counter()))
        on_stage(name)

    stage("split")
    split_dir, converted = out / "data" / "split", out / "data" / "converted"
    split = split_records(read_input(SAMPLE), SplitConfig())
    write_split(split, split_dir)

    stage("convert")
    convert_dir(split_dir, converted)
    test_rows, train_rows = read_rows(split_dir / "test.jsonl"), read_rows(split_dir / "train.jsonl")

    stage("train (local job)")
    overrides = {
        "model_id": str(TINY_MODEL),
        "data_dir": str(converted),
        "output_dir": str(out / "runs" / "train"),
        **(config_overrides or {}),
    }
    cfg, run_on = load_configs(TINY_CONFIG, overrides, TrainConfig, RunOn)
    handle = launch_job(plan_job(TRAIN, cfg, run_on), ledger)
    status = wait_job(handle.job_id, ledger, on_log=on_log)
    if not status.ok:
        tail = "\n".join(status.log_tail)
        raise DemoError(f"training job {handle.job_id} ended {status.stage.value}:\n{tail}")
    adapter = cfg.model_dir()

    def evaluate(mode: str, values: bool = False, **ids: str) -> Any:
        model, tokenizer, description = load_for_inference(**ids)
        cfg = EvalConfig(
            data=str(split_dir / "test.jsonl"),
            out=str(out / "eval" / mode),
            constrained=values,
            distribution=values,
            decoding=Decoding(batch_size=EVAL_BATCH_SIZE),
        )
        data = EvalData(test_rows, train_rows, split_dir / "train.jsonl", split_dir / "test.jsonl")
        # The run report renders every mode's report at the end, with its links: rendered here too, twice (~4 s).
        report = run_eval(model, tokenizer, description, data, cfg, ledger=ledger, render=False).report
        result.valid[mode] = f"{report.valid_cases}/{report.total}"
        result.mae[mode] = report.mae
        result.baseline_mae = {name: b.metrics.mae for name, b in report.baselines.items()}
        return report

    stage("eval: base alone")
    evaluate("base", model_id=str(TINY_MODEL))
    stage("eval: base + adapter")
    evaluate("adapter", values=True, base_model_id=str(TINY_MODEL), adapter_id=str(adapter))

    stage("merge (verified)")
    merged_dir = out / "merged"
    probes = out / "eval" / "merge-probes.jsonl"  # 16 test rows beside the fixed probes: enough to see a fault
    probes.write_text("".join((split_dir / "test.jsonl").read_text(encoding="utf-8").splitlines(True)[:16]))
    merge_cfg = MergeConfig(
        base_model_id=str(TINY_MODEL),
        adapter_model_id=str(adapter),
        out=str(merged_dir),
        probe_data=str(probes),
        eval_report=str(out / "eval" / "adapter" / "eval_report.json"),
    )
    run_merge(merge_cfg, ledger)

    stage("eval: merged")
    evaluate("merged", model_id=str(merged_dir))
    result.identical_outputs = _predictions(out / "eval" / "adapter") == _predictions(out / "eval" / "merged")
    # The cards were written before these evals (training, merge): now each carries its own model's results, and
    # says that the demo's data is the synthetic sample.
    for folder, mode in ((adapter, "adapter"), (merged_dir, "merged")):
        report = json.loads((out / "eval" / mode / "eval_report.json").read_text(encoding="utf-8"))
        folder_card(folder, report, synthetic=True).save(folder / "README.md")

    stage("status")
    result.files["status"] = str(out / "status.json")
    write_atomic(out / "status.json", json.dumps([r.to_dict() for r in collect_status(ledger)], indent=2))

    stage("report")
    paths = write_run_report(out, "hiddenparams demo: tiny Ministral-3-architecture model, offline on CPU")
    result.files |= {name: str(path) for name, path in paths.items()}
    result.verdict = run_verdict(out)
    marks.append(("end", time.perf_counter()))
    result.seconds = {name: round(end - start, 1) for (name, start), (_, end) in zip(marks, marks[1:])}
    result.seconds["total"] = round(marks[-1][1] - marks[0][1], 1)
    write_atomic(out / "demo_summary.json", json.dumps(result.__dict__, indent=2, default=str))
    return result


def _predictions(eval_dir: Path) -> list[str]:
    return [
        json.loads(line)["output"] for line in (eval_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    ]
