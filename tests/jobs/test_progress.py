"""Training progress: the job's callback writes plain lines; the follower shows them as lines or as one bar."""

import io
from types import SimpleNamespace

from rich.console import Console

from hiddenparams.jobs.progress import ProgressView, parse_progress
from hiddenparams.jobs.train_progress import TrainingProgress


def test_lines_come_at_logging_steps_and_every_few_seconds_between():
    now = [0.0]
    stream = io.StringIO()
    callback = TrainingProgress(every_s=5, stream=stream, clock=lambda: now[0])
    state = SimpleNamespace(global_step=0, max_steps=100, is_world_process_zero=True)
    callback.on_train_begin(None, state, None)
    for step in range(1, 11):
        now[0] += 2.0  # two seconds a step
        state.global_step = step
        callback.on_step_end(None, state, None)
        if step == 10:
            callback.on_log(None, state, None, logs={"loss": 1.23456, "learning_rate": 0.004})
            callback.on_train_end(None, state, None)  # nothing new: no second line
    lines = stream.getvalue().splitlines()
    assert lines[0] == "progress: step 3/100 loss - eval_loss - elapsed 0:00:06 eta 0:03:14"
    assert len(lines) == 4  # steps 3, 6, 9 by the clock, 10 by the logging step
    assert lines[-1] == "progress: step 10/100 loss 1.235 eval_loss - elapsed 0:00:20 eta 0:03:00"
    assert parse_progress(lines[-1]).step == 10 and parse_progress("loss 1") is None


def test_a_follower_without_a_terminal_prints_whole_lines_never_wrapped():
    out = io.StringIO()
    console = Console(file=out, width=80, soft_wrap=True, force_terminal=False)
    line = "progress: step 10/100 loss 1.235 eval_loss - elapsed 0:00:20 eta 0:03:00 " + "x" * 60
    with ProgressView(console, other_lines=False) as view:
        view(line)
        view("Loading weights: 100%")  # not the demo's story
    assert out.getvalue() == line + "\n"
