"""The first thing every job does: say what it runs on, and stop at once when a GPU job has no usable GPU.

A job pays for its flavor from its first second, and torch quietly runs on the CPU when its CUDA build does not
match the host's driver (a CUDA 13 torch on a driver older than 580): a training job would then crawl until its
timeout. The hf-jobs backend passes the flavor as HIDDENPARAMS_FLAVOR and the process count as
HIDDENPARAMS_NUM_PROCESSES; a local job has neither and may run on the CPU.

    from hiddenparams.jobs.preflight import job_start
    job_start()   # prints one `JOB_HOST {...}` line; exits 1 on a GPU flavor without a GPU; relaunches multi-GPU
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..provenance import code_version
from .torch_builds import MIN_DRIVER, is_gpu_flavor

FLAVOR_ENV = "HIDDENPARAMS_FLAVOR"
PROCESSES_ENV = "HIDDENPARAMS_NUM_PROCESSES"
LAUNCHED_ENV = "HIDDENPARAMS_LAUNCHED"
REPORT_MARKER = "JOB_HOST "


class NoGpu(RuntimeError):
    """A GPU flavor without a GPU torch can use; the message names torch's CUDA and the driver."""


def nvidia_smi() -> tuple[str | None, list[str]]:
    """The driver version and the GPU names as the driver sees them, whatever torch thinks."""
    try:
        run = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version,name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        run = None
    lines = run.stdout.splitlines() if run and not run.returncode else []
    rows = [line.split(", ", 1) for line in lines if ", " in line]
    if rows:
        return rows[0][0], [name for _, name in rows]
    version_file = Path("/proc/driver/nvidia/version")  # the kernel module answers even when nvidia-smi is absent
    if version_file.is_file():
        words = version_file.read_text().split()
        return next((w for w in words if w[:1].isdigit() and "." in w), None), []
    return None, []


def host_report(flavor: str | None) -> dict[str, Any]:
    import torch

    driver, smi_gpus = nvidia_smi()
    cuda = torch.cuda.is_available()
    return {
        "hiddenparams": code_version(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": cuda,
        "driver": driver,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else smi_gpus,
        "flavor": flavor,
    }


def _driver_hint(torch_cuda: str | None, driver: str | None) -> str:
    need = MIN_DRIVER.get((torch_cuda or "").split(".")[0])
    try:
        have = tuple(int(part) for part in (driver or "").split(".")[:2])
    except ValueError:
        have = ()
    if need and have and have < need:
        return (
            f"; CUDA {torch_cuda} needs driver >= {'.'.join(map(str, need))}: this host needs a torch build for an"
            " older CUDA (docs/JOBS.md, 'Which torch build')"
        )
    return ""


def check(report: dict[str, Any]) -> None:
    """Raise NoGpu when the flavor has GPUs and torch cannot use one."""
    if not is_gpu_flavor(report["flavor"]) or report["cuda_available"]:
        return
    cuda = report["torch_cuda"] or "none (a CPU build)"
    raise NoGpu(
        f"flavor {report['flavor']} has GPUs, but torch cannot use one: torch {report['torch']} built for CUDA {cuda},"
        f" NVIDIA driver {report['driver'] or 'not found'}, GPUs seen: {', '.join(report['gpus']) or 'none'}"
        f"{_driver_hint(report['torch_cuda'], report['driver'])}. Stopping now instead of running on the CPU."
    )


def job_start() -> None:
    """Report the host, stop a GPU job without a GPU (exit 1), and run a multi-GPU job under accelerate launch."""
    report = host_report(os.environ.get(FLAVOR_ENV))
    if not os.environ.get(LAUNCHED_ENV):  # a relaunched worker: the first process reported
        print(REPORT_MARKER + json.dumps(report), flush=True)
    try:
        check(report)
    except NoGpu as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    processes = int(os.environ.get(PROCESSES_ENV) or 1)
    if processes > 1 and not os.environ.get(LAUNCHED_ENV):
        # The marker, not LOCAL_RANK, stops the recursion: without several GPUs accelerate falls back to one plain
        # process that has no LOCAL_RANK.
        os.environ[LAUNCHED_ENV] = "1"
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
        os.execv(sys.executable, [*launch, sys.argv[0], *sys.argv[1:]])
