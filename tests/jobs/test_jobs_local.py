"""The local backend with real detached subprocesses: log file, exit status, stages, cancel, and the ledger lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.jobs import JobError, JobSpec, JobStage, LocalBackend, submit
from hiddenparams.ledger import Ledger
from hiddenparams.redact import REDACTED
from hiddenparams.status import wait_job

STAND_IN_JOB = """\
import os, sys, time
print("pid", os.getpid(), flush=True)
mode = sys.argv[1]
if mode == "fail":
    print("boom: the data loader broke", flush=True)
    sys.exit(3)
if mode == "sleep":
    time.sleep(120)
if mode == "token":
    print("token is", os.environ["HF_TOKEN"], flush=True)
print("done", sys.argv[2:], flush=True)
"""


@pytest.fixture
def job_script(tmp_path):
    path = tmp_path / "stand_in_job.py"
    path.write_text(STAND_IN_JOB)
    return str(path)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "artifacts"


def _run(job_script, root, *args: str) -> tuple[str, LocalBackend, Ledger]:
    backend, ledger = LocalBackend(root, poll_interval=0.05), Ledger(root)
    handle = submit(JobSpec(entry=job_script, args=list(args), name="test"), backend, ledger)
    return handle.job_id, backend, ledger


def _wait_for_line(backend: LocalBackend, job_id: str, needle: str, timeout: float = 20.0) -> str:
    log = backend.job_dir(job_id) / "log.txt"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if needle in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} never appeared in {log}: {log.read_text()!r}")


def test_a_real_job_runs_detached_and_completes(job_script, root):
    job_id, backend, ledger = _run(job_script, root, "ok", "--lr", "0.1")
    assert re.fullmatch(r"local-\d{8}T\d{6}Z-[0-9a-f]{6}", job_id)
    job_dir = backend.job_dir(job_id)
    spec = json.loads((job_dir / "spec.json").read_text())
    assert spec["command"] == [sys.executable, job_script, "ok", "--lr", "0.1"] and spec["job_id"] == job_id

    status = wait_job(job_id, ledger)
    assert status.stage is JobStage.COMPLETED and status.exit_code == 0 and status.ok
    assert (job_dir / "exit_code").read_text().strip() == "0"
    assert "done ['--lr', '0.1']" in (job_dir / "log.txt").read_text()
    pid = int((job_dir / "pid").read_text())
    assert f"pid {pid}" not in (job_dir / "log.txt").read_text()  # the pid is the runner's, the job is its child

    submitted, finished = ledger.read()
    assert submitted["event"] == "submitted" and submitted["job_id"] == job_id and submitted["backend"] == "local"
    assert submitted["job_url"] == (job_dir / "log.txt").resolve().as_uri()
    assert (
        finished["event"] == "finished"
        and finished["state"] == "COMPLETED"
        and finished["job_url"] == submitted["job_url"]
    )


def test_a_module_entry_runs_with_python_m(root):
    backend, ledger = LocalBackend(root, poll_interval=0.05), Ledger(root)
    handle = submit(JobSpec(entry="platform", name="probe"), backend, ledger)
    assert wait_job(handle.job_id, ledger).ok
    assert (backend.job_dir(handle.job_id) / "log.txt").read_text().strip()


def test_more_than_one_process_runs_under_accelerate(root):
    backend = LocalBackend(root)
    command = backend.command(
        JobSpec(entry="hiddenparams.jobs.train_job", args=["--config-json", "{}"], num_processes=2)
    )
    assert command == [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "-m",
        "hiddenparams.jobs.train_job",
        "--config-json",
        "{}",
    ]


def test_a_failing_job_is_error_with_its_log_tail_and_a_ledger_line(job_script, root):
    job_id, backend, ledger = _run(job_script, root, "fail")
    lines: list[str] = []
    status = wait_job(job_id, ledger, on_log=lines.append)
    assert status.stage is JobStage.ERROR and status.exit_code == 3 and status.message == "exit code 3"
    assert "boom: the data loader broke" in status.log_tail and "boom: the data loader broke" in lines
    finished = ledger.read()[-1]
    assert finished["event"] == "finished" and finished["state"] == "ERROR"
    assert finished["details"]["read_log_with"] == f"hiddenparams logs {job_id}"
    assert "boom: the data loader broke" in finished["details"]["log_tail"]


def test_cancel_kills_the_whole_process_group(job_script, root):
    job_id, backend, ledger = _run(job_script, root, "sleep")
    child_pid = int(re.search(r"pid (\d+)", _wait_for_line(backend, job_id, "pid ")).group(1))
    assert backend.status(job_id).stage is JobStage.RUNNING

    result = CliRunner().invoke(app, ["cancel", job_id, "--artifacts-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert "CANCELED" in result.output
    assert backend.status(job_id).stage is JobStage.CANCELED
    with pytest.raises(ProcessLookupError):
        os.kill(child_pid, 0)
    assert ledger.find(job_id).state == "CANCELED"
    # Canceling a finished job leaves it as it is.
    assert backend.cancel(job_id).stage is JobStage.CANCELED


def test_a_runner_gone_without_exit_code_is_error(root):
    backend = LocalBackend(root)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job_dir = backend.jobs_dir / "local-20260101T000000Z-abcdef"
    job_dir.mkdir(parents=True)
    (job_dir / "pid").write_text(f"{dead.pid}\n")
    (job_dir / "log.txt").write_text("step 10 loss 1.2\nKilled\n")
    status = backend.status("local-20260101T000000Z-abcdef")
    assert status.stage is JobStage.ERROR and "vanished" in status.message
    assert status.log_tail == ["step 10 loss 1.2", "Killed"]


def test_unknown_job_ids_are_clear_errors(root):
    with pytest.raises(JobError, match="no local job"):
        LocalBackend(root).status("local-20260101T000000Z-000000")
    with pytest.raises(JobError, match="no local job"):
        LocalBackend(root).status("../../etc")
    result = CliRunner().invoke(app, ["logs", "nope", "--artifacts-dir", str(root)])
    assert result.exit_code == 1 and "not in the ledger" in result.output and "Traceback" not in result.output


def test_logs_follow_to_the_end_and_redact_the_token(job_script, root, monkeypatch):
    token = "hf_" + "Q9w8E7r6T5y4U3i2O1pA" * 2
    monkeypatch.setenv("HF_TOKEN", token)  # the job inherits it, as a real local push would
    job_id, backend, ledger = _run(job_script, root, "token")
    result = CliRunner().invoke(app, ["logs", job_id, "--follow", "--artifacts-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert f"token is {REDACTED}" in result.output and token not in result.output
    assert result.stdout.rstrip().endswith("done []") and f"job {job_id} ended COMPLETED" in result.stderr


@pytest.mark.slow
def test_the_tiny_model_trains_through_the_local_backend(tmp_path, hf_token):
    """The real job script on the shipped tiny model, as a detached local job: loss down, adapter, ledger, status."""
    from hiddenparams.data.convert import convert_dir

    repo = Path(__file__).resolve().parents[2]
    split = tmp_path / "split"
    split.mkdir()
    lines = (repo / "data" / "sample" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    (split / "train.jsonl").write_text("\n".join(lines[:256]) + "\n", encoding="utf-8")
    (split / "validation.jsonl").write_text("\n".join(lines[256:320]) + "\n", encoding="utf-8")
    convert_dir(split, tmp_path / "converted")
    root, run = str(tmp_path / "artifacts"), tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            str(repo / "configs" / "tiny.yaml"),
            "--model-id",
            str(repo / "models" / "tiny-ministral3"),
            "--data-dir",
            str(tmp_path / "converted"),
            "--output-dir",
            str(run),
            "--max-steps",
            "24",
            "--set",
            "report_to=none",
            "--set",
            "logging_steps=2",
            "--set",
            "per_device_train_batch_size=16",
            "--wait",
            "--json",
            "--artifacts-dir",
            root,
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["state"] == "COMPLETED" and out["model_repo"] == str(run / "adapter")
    summary = json.loads((run / "adapter" / "train_summary.json").read_text())
    assert summary["last_logged_loss"] < summary["first_logged_loss"]
    assert summary["config_hash"] == out["config_hash"]
    events = Ledger(root).read()
    assert [e["event"] for e in events] == ["submitted", "finished", "trained"]  # the job's TRAIN_SUMMARY line
    assert events[-1]["details"]["global_step"] == 24 and out["trained"]["global_step"] == 24
    assert events[-1]["model_repo"] == str(run / "adapter") and events[-1]["config_hash"] == out["config_hash"]
    status = CliRunner().invoke(app, ["status", "--json", "--artifacts-dir", root])
    (row,) = json.loads(status.stdout)["jobs"]
    assert (row["state"], row["repo_kind"], row["model_url"]) == ("COMPLETED", "adapter-only", str(run / "adapter"))
    hf_token.assert_absent(tmp_path, result.output, status.output)  # the job's log.txt and spec.json included
