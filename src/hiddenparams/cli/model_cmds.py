"""`make-tiny-model`, `demo` and `report`."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import typer

from ..model.tiny import TinySpec, make_tiny_model
from .app import JsonOpt, app, console, emit_json, say


@app.command("make-tiny-model")
def make_tiny_model_cmd(
    out: Path = typer.Option(..., "--out", help="Folder to write the model, tokenizer and chat template to."),
    pretrain_steps: int = typer.Option(TinySpec.pretrain_steps, help="Full-parameter LM steps (0: random init)."),
    seed: int = typer.Option(0, help="Seed of the weights, vocabulary and pre-training corpus."),
    as_json: bool = JsonOpt,
) -> None:
    """Build the embedded default: Ministral-3's architecture (Mistral3 + Pixtral + Ministral3) at toy size."""
    spec = dataclasses.replace(TinySpec(), pretrain_steps=pretrain_steps, seed=seed)
    with console.status(f"building the tiny model ({pretrain_steps} pre-training steps)"):
        summary = make_tiny_model(out, spec)
    if as_json:
        emit_json({"out": str(out), **summary})
    else:
        loss, task = summary.get("pretrain_loss"), summary.get("pretrain_task")
        said = f"tiny model: {summary['parameters']:,} parameters -> {out}"
        console.print(said + (f" (pre-train loss {loss:.3f})" if loss else ""))
        if task:
            say(
                f"pre-training task on {task['rows']} unseen requests: {task['valid']} answered, "
                f"value MAE {task['mae']} (answering 5 everywhere: {task['constant_mae']})"
            )


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Run folder (must be new or empty)."),
    as_json: bool = JsonOpt,
) -> None:
    """The whole loop on the embedded default, offline on CPU: split, convert, train (local job), eval base /
    base+adapter / merged, merge, status, report."""
    from ..demo import run_demo
    from ..jobs.progress import ProgressView

    started = time.perf_counter()

    def on_stage(name: str) -> None:
        console.print(f"[bold cyan]▶[/] {name}  [dim]({time.perf_counter() - started:.0f}s)[/]")

    # Only the job's progress lines: a failed job's log tail comes with the error.
    with ProgressView(console, other_lines=False) as on_log:
        result = run_demo(out, on_stage=on_stage, on_log=on_log)
    if as_json:
        emit_json(result.__dict__)
        return
    for sentence in result.verdict:
        say(sentence)
    for mode in result.valid:
        mae = result.mae[mode]
        console.print(
            f"{mode:>8}: valid_cases={result.valid[mode]}  mae={'-' if mae is None else f'{mae:.3f}'} (over valid)",
            highlight=False,
        )
    console.print(
        "baselines: " + ", ".join(f"{k} mae={v:.3f}" for k, v in result.baseline_mae.items()), highlight=False
    )
    console.print(
        f"adapter and merged outputs identical on every test row: {result.identical_outputs}", highlight=False
    )
    console.print(f"report: {result.files.get('html')}  ({result.seconds['total']:.0f}s)", highlight=False)


@app.command("report")
def report_cmd(run_dir: Path = typer.Argument(..., help="A run folder, e.g. the demo's --out.")) -> None:
    """Write RUN_DIR/report.md and a self-contained report.html: modes side by side, baselines, jobs, repos."""
    from ..eval.run_report import write_run_report

    paths = write_run_report(run_dir)
    console.print(f"report: {paths['html']}  (and {paths['markdown']})", highlight=False)
