"""The training job's side of `progress`: a TrainerCallback that writes the `progress:` lines to the job's log."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from transformers import PrinterCallback, TrainerCallback

from hiddenparams.jobs.progress import progress_line

# Between logging steps a line still comes this often, so a follower never waits more than ~10 s for news.
EVERY_S = 5.0


class TrainingProgress(TrainerCallback):
    """Writes `progress:` lines (step N/M, loss, eval loss, elapsed, ETA) from the main process to `stream`."""

    def __init__(
        self, every_s: float = EVERY_S, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_s, self.stream, self.clock = every_s, stream, clock
        self.started = self.last = 0.0
        self.first_step = 0
        self.loss: float | None = None
        self.eval_loss: float | None = None
        self.said: tuple[Any, ...] = ()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = self.last = self.clock()
        self.first_step = state.global_step  # a resumed run's ETA counts only the steps done in this run

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        self.loss = logs.get("loss", self.loss)
        self.eval_loss = logs.get("eval_loss", self.eval_loss)
        if "loss" in logs or "eval_loss" in logs:
            self._emit(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.clock() - self.last >= self.every_s:
            self._emit(state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._emit(state)

    def _emit(self, state: Any) -> None:
        now = self.clock()
        news = (state.global_step, self.loss, self.eval_loss)
        # The last logging step, the end of training and the final evaluation often fall on one step: one line.
        if not state.is_world_process_zero or (news == self.said and now - self.last < self.every_s):
            return
        self.last, self.said = now, news
        elapsed, done = now - self.started, state.global_step - self.first_step
        eta = elapsed / done * max(state.max_steps - state.global_step, 0) if done else None
        line = progress_line(state.global_step, state.max_steps, self.loss, self.eval_loss, elapsed, eta)
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


def attach_progress(trainer: Any) -> None:
    """Progress lines in place of the Trainer's printed log dicts, where no tqdm bar is shown (a job's log)."""
    if trainer.args.disable_tqdm:
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(TrainingProgress())
