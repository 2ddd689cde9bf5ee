"""The first thing a job does: report its host, and stop within seconds when a GPU flavor has no usable GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from hiddenparams.jobs.preflight import NoGpu, check, host_report, is_gpu_flavor

# Seconds a job on a GPU flavor without a GPU may take to stop: the imports and the host report (about 3 s measured
# here on a shared 2-core machine), far less than loading a model. The subprocess may run four times as long, so a
# slow stop fails this bound with its time rather than the timeout.
STOPS_WITHIN = 30


@pytest.mark.parametrize("entry", ["hiddenparams.jobs.train_job", "hiddenparams.jobs.eval_job"])
def test_a_job_on_a_gpu_flavor_without_a_gpu_stops_at_once(entry, tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HIDDENPARAMS_FLAVOR": "a10g-large"}
    started = time.monotonic()
    # The arguments would start real work: the check must come before any of it.
    args = ["--config-json", "{}"] if entry.endswith("train_job") else ["--model-id", "m", "--data", "d", "--out", "o"]
    run = subprocess.run(
        [sys.executable, "-m", entry, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=4 * STOPS_WITHIN,
        check=False,
    )
    took = time.monotonic() - started
    assert run.returncode == 1 and took < STOPS_WITHIN, f"exit {run.returncode} after {took:.1f} s"
    said = " ".join(run.stderr.split())
    assert "flavor a10g-large has GPUs, but torch cannot use one" in said
    assert "built for CUDA" in said and "NVIDIA driver" in said and "instead of running on the CPU" in said
    report = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("JOB_HOST "))[9:])
    assert report["flavor"] == "a10g-large" and report["cuda_available"] is False and report["torch"]
    assert not list(tmp_path.iterdir())  # nothing was written


def test_the_message_names_the_driver_a_cuda_build_needs():
    report = {
        "flavor": "h200",
        "cuda_available": False,
        "torch": "2.13.0",
        "torch_cuda": "13.0",
        "driver": "570.86.15",
        "gpus": ["NVIDIA H200"],
    }
    with pytest.raises(NoGpu) as caught:
        check(report)
    message = str(caught.value)
    assert "torch 2.13.0 built for CUDA 13.0, NVIDIA driver 570.86.15, GPUs seen: NVIDIA H200" in message
    assert "CUDA 13.0 needs driver >= 580.0" in message


def test_cpu_flavors_and_local_jobs_may_run_on_the_cpu():
    assert not is_gpu_flavor("cpu-basic") and not is_gpu_flavor(None) and is_gpu_flavor("a100x4")
    check(host_report("cpu-upgrade"))
    check(host_report(None))
