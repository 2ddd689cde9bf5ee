"""The local backend: a real detached subprocess per job, its state kept in files so any later CLI can read it.

`<artifacts>/hf_jobs/local/<job id>/` holds `spec.json` (what runs, where), `log.txt` (stdout + stderr), `pid` (the
runner process, see `runner.py`), `exit_code` (written when the command ends) and `canceled` (written by cancel).
The state is derived from those files alone: exit_code 0 -> COMPLETED, non-zero -> ERROR, `canceled` -> CANCELED,
a runner still alive -> RUNNING, a runner gone without an exit code -> ERROR (killed, or the machine rebooted).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..files import write_atomic
from ..ledger import artifacts_root, utc_now
from ..redact import redact, redact_obj
from .base import LOG_TAIL_LINES, JobError, JobHandle, JobSpec, JobStage, JobStatus

_JOB_ID = re.compile(r"^local-\d{8}T\d{6}Z-[0-9a-f]{6}$")


def new_job_id() -> str:
    return f"local-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _runner_alive(pid: int, job_dir: Path) -> bool:
    """Whether the job's runner still runs. Where /proc exists, the process must also be that runner: a pid can be
    reused after a reboot, and a zombie (exited, not reaped yet) has an empty command line."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not our runner
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): kill(0) is all we know
    return str(job_dir.resolve()).encode() in cmdline


class LocalBackend:
    name = "local"

    def __init__(self, root: str | Path | None = None, poll_interval: float = 0.2, cancel_grace: float = 10.0) -> None:
        self.jobs_dir = artifacts_root(root) / "hf_jobs" / "local"
        self.poll_interval = poll_interval
        self.cancel_grace = cancel_grace

    def command(self, spec: JobSpec) -> list[str]:
        """The job's command line, in this interpreter (the venv that has hiddenparams and its dependencies)."""
        target = [spec.entry] if spec.is_script else ["-m", spec.entry]
        if spec.num_processes > 1:
            # --multi_gpu makes accelerate start the processes through torchrun (DDP: NCCL on GPUs, gloo on a CPU);
            # without it, a machine with no GPUs gets its simple launcher, which starts ONE process.
            launch = [
                sys.executable,
                "-m",
                "accelerate.commands.launch",
                "--multi_gpu",
                "--num_processes",
                str(spec.num_processes),
            ]
            return [*launch, *target, *spec.args]
        return [sys.executable, *target, *spec.args]

    def describe(self, spec: JobSpec) -> dict[str, Any]:
        return redact_obj(
            {
                "backend": self.name,
                "entry": spec.entry,
                "command": self.command(spec),
                "cwd": os.getcwd(),
                "num_processes": spec.num_processes,
                "env": spec.env,
                "job_dir": str(self.jobs_dir / "<job id>"),
                "model_repo": spec.model_repo,
                "data": spec.data,
            }
        )

    def submit(self, spec: JobSpec) -> JobHandle:
        job_id = new_job_id()
        job_dir = self.jobs_dir / job_id
        job_dir.mkdir(parents=True)
        command = self.command(spec)
        record = {**spec.to_dict(), "job_id": job_id, "command": command, "cwd": os.getcwd(), "submitted": utc_now()}
        write_atomic(job_dir / "spec.json", json.dumps(redact_obj(record), indent=2) + "\n")
        log_path = job_dir / "log.txt"
        # PYTHONUNBUFFERED: the log file is how a person follows the job, so lines must land as they are printed.
        env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
        runner = [sys.executable, "-m", "hiddenparams.jobs.runner", str(job_dir.resolve()), "--", *command]
        with open(log_path, "ab") as log:
            starter = subprocess.Popen(
                runner, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        # The starter only forks the runner and writes its pid: it returns within a second.
        if starter.wait(timeout=60) != 0 or not (job_dir / "pid").is_file():
            raise JobError(f"local job {job_id} did not start: see {log_path}")
        return JobHandle(job_id=job_id, backend=self.name, url=log_path.resolve().as_uri())

    def job_dir(self, job_id: str) -> Path:
        job_dir = self.jobs_dir / job_id
        if not _JOB_ID.match(job_id) or not job_dir.is_dir():
            raise JobError(f"no local job {job_id!r} under {self.jobs_dir} (is --artifacts-dir right?)")
        return job_dir

    def status(self, job_id: str) -> JobStatus:
        job_dir = self.job_dir(job_id)
        canceled = (job_dir / "canceled").is_file()
        exit_code = _read_int(job_dir / "exit_code")
        pid = _read_int(job_dir / "pid")
        message = None
        if exit_code is not None:
            if canceled:
                stage = JobStage.CANCELED
            elif exit_code == 0:
                stage = JobStage.COMPLETED
            else:
                stage, message = JobStage.ERROR, f"exit code {exit_code}"
        elif pid is None:
            stage = JobStage.SCHEDULING
        elif _runner_alive(pid, job_dir):
            stage = JobStage.RUNNING
        elif canceled:
            stage = JobStage.CANCELED
        else:
            stage = JobStage.ERROR
            message = "the job's process vanished without recording an exit status (killed, or the machine rebooted)"
        tail = self._tail(job_dir) if stage is JobStage.ERROR else []
        return JobStatus(job_id, self.name, stage, message=message, exit_code=exit_code, log_tail=tail)

    def _tail(self, job_dir: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
        log = job_dir / "log.txt"
        if not log.is_file():
            return []
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))  # the end of a long training log is enough
            text = f.read().decode("utf-8", errors="replace")
        return [redact(line) for line in text.splitlines()[-lines:]]

    def logs(self, job_id: str, follow: bool = False) -> Iterator[str]:
        log_path = self.job_dir(job_id) / "log.txt"
        pending = b""
        with open(log_path, "rb") as log:
            while True:
                # Decided before reading: the read after the job ended then holds everything it wrote.
                done = not follow or self.status(job_id).finished
                chunk = log.read()
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    yield redact(line.decode("utf-8", errors="replace"))
                if done:
                    break
                if not chunk:
                    time.sleep(self.poll_interval)
        if pending:
            yield redact(pending.decode("utf-8", errors="replace"))

    def wait(self, job_id: str, on_log: Callable[[str], None] | None = None) -> JobStatus:
        if on_log is not None:
            for line in self.logs(job_id, follow=True):
                on_log(line)
        while not (status := self.status(job_id)).finished:
            time.sleep(self.poll_interval)
        return status

    def cancel(self, job_id: str) -> JobStatus:
        """SIGTERM to the job's process group, SIGKILL after `cancel_grace` seconds. A finished job is left alone."""
        job_dir = self.job_dir(job_id)
        status = self.status(job_id)
        if status.finished:
            return status
        (job_dir / "canceled").write_text(utc_now() + "\n")
        pid = _read_int(job_dir / "pid")
        if pid is None:
            raise JobError(f"local job {job_id} has no pid yet: try again in a second")
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.cancel_grace
        while not (status := self.status(job_id)).finished and time.monotonic() < deadline:
            time.sleep(self.poll_interval)
        if not status.finished:
            _signal_group(pid, signal.SIGKILL)
            time.sleep(self.poll_interval)
            status = self.status(job_id)
        return status


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """The runner and everything it started share one process group (its own session, see runner.py)."""
    try:
        os.killpg(os.getpgid(pid), sig)
    except ProcessLookupError:
        pass  # already gone


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
