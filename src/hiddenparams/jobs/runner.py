"""Runs one local job detached from the CLI that started it and records its exit status.

`LocalBackend.submit` starts `python -m hiddenparams.jobs.runner JOB_DIR -- COMMAND...` in a new session, with
stdout and stderr on `JOB_DIR/log.txt`. This process forks once more and returns at once after writing the pid of
the fork to `JOB_DIR/pid`, so the job is nobody's child: it outlives the CLI and is never left a zombie of it. The
fork runs COMMAND (which inherits the log) and writes `JOB_DIR/exit_code` when it ends, whatever the CLI did since.
Only the standard library is imported here: this runs before every local job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ..files import write_atomic


def _keep_running(signum: int, frame: object) -> None:
    """Cancel signals the whole process group: COMMAND gets the signal too, and this process stays to record its
    exit status. (A handler, not SIG_IGN: an ignored signal would stay ignored in COMMAND after exec.)"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m hiddenparams.jobs.runner JOB_DIR -- COMMAND...", file=sys.stderr)
        return 2
    job_dir, command = Path(argv[0]), argv[2:]
    pid = os.fork()
    if pid:
        write_atomic(job_dir / "pid", f"{pid}\n")
        return 0
    signal.signal(signal.SIGTERM, _keep_running)
    signal.signal(signal.SIGINT, _keep_running)
    try:
        code = subprocess.call(command, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"cannot start {command[0]}: {exc}", file=sys.stderr, flush=True)
        code = 127
    write_atomic(job_dir / "exit_code", f"{code}\n")
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
