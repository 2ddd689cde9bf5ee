"""Training progress a user can follow wherever the job runs.

The training job (through `train_progress.TrainingProgress`) writes one plain line to its log at every logging step
and at least every few seconds between:

    progress: step 40/744 loss 1.234 eval_loss 1.301 elapsed 0:00:12 eta 0:03:40

A job log is a file (local backend) or a remote stream (Hugging Face Jobs), so plain lines are what travels. The CLI
following the log (`demo`, `train --wait`) turns them into one rich progress bar on a terminal, and passes them
through unchanged otherwise (CI logs keep a line every few seconds, never hard-wrapped). This side imports no
transformers: following a job must start at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is the CLI's: the training job imports this module without it
    from rich.console import Console
    from rich.progress import Progress

PREFIX = "progress:"
_LINE = re.compile(rf"^{PREFIX} step (\d+)/(\d+) (.*)$")


def progress_line(
    step: int, total: int, loss: float | None, eval_loss: float | None, elapsed_s: float, eta_s: float | None
) -> str:
    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    def clock(seconds: float | None) -> str:
        return "-" if seconds is None else str(timedelta(seconds=round(seconds)))

    return (
        f"{PREFIX} step {step}/{total} loss {num(loss)} eval_loss {num(eval_loss)} "
        f"elapsed {clock(elapsed_s)} eta {clock(eta_s)}"
    )


@dataclass(frozen=True)
class ProgressLine:
    step: int
    total: int
    rest: str  # loss, eval_loss, elapsed, eta as written by the job


def parse_progress(line: str) -> ProgressLine | None:
    found = _LINE.match(line.strip())
    return ProgressLine(int(found[1]), int(found[2]), found[3]) if found else None


class ProgressView:
    """Follows a job's log: progress lines drive one bar on a terminal and print as they are elsewhere; other lines
    print when `other_lines` (a job's warnings and errors) and are dropped otherwise (the demo keeps its output to
    its own story; a failed job's log tail is shown with the error)."""

    def __init__(self, console: Console, other_lines: bool = True) -> None:
        self.console, self.other_lines = console, other_lines
        self.bar: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rest]}"),
                console=self.console,
                transient=False,
            )
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, line: str) -> None:
        progress = parse_progress(line)
        if progress is not None and self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task("training", total=progress.total, rest="")
            self.bar.update(self.task, total=progress.total, completed=progress.step, rest=progress.rest)
        elif progress is not None or self.other_lines:
            self.console.print(line, markup=False, highlight=False)
