"""The ledger: whole lines under concurrent writers, every key on every line, no token ever, and the folded view."""

from __future__ import annotations

import json
import multiprocessing
from datetime import datetime

import pytest

from hiddenparams import redact as redact_module
from hiddenparams.ledger import ARTIFACTS_ENV, LEDGER_PATH, Ledger, artifacts_root, fold
from hiddenparams.redact import REDACTED, redact, redact_obj, register_secret

KEYS = {
    "time",
    "event",
    "job_id",
    "backend",
    "job_url",
    "flavor",
    "config_hash",
    "model_repo",
    "repo_kind",
    "state",
    "details",
}
TOKEN = "hf_" + "Zq7Lp2Xw9Rt4Ys6Uv8Ab" * 2  # token-shaped, made up


def test_append_writes_one_self_contained_line(tmp_path):
    ledger = Ledger(tmp_path)
    record = ledger.append("submitted", job_id="j1", backend="local", state="SCHEDULING", details={"name": "train"})
    assert ledger.path == tmp_path / LEDGER_PATH
    lines = ledger.path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == record
    assert set(record) == KEYS
    assert record["flavor"] is None and record["details"] == {"name": "train"}
    assert datetime.fromisoformat(record["time"]).utcoffset().total_seconds() == 0
    assert ledger.read() == [record]


def test_unknown_event_and_unknown_field_are_refused(tmp_path):
    ledger = Ledger(tmp_path)
    with pytest.raises(ValueError):
        ledger.append("exploded", job_id="j1")
    with pytest.raises(TypeError):
        ledger.append("submitted", job_id="j1", colour="red")
    assert ledger.read() == []


def _hammer(root: str, writer: int, count: int) -> None:
    ledger = Ledger(root)
    for i in range(count):
        # Lines longer than a pipe buffer (4 KiB), so that only the lock and the single write keep them whole.
        ledger.append("state", job_id=f"w{writer}-{i}", details={"writer": writer, "i": i, "pad": "x" * 6000})


def test_concurrent_appends_from_8_processes_stay_whole_lines(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_hammer, args=(str(tmp_path), w, 200)) for w in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    lines = Ledger(tmp_path).path.read_text().splitlines()
    assert len(lines) == 1600
    records = [json.loads(line) for line in lines]  # every line parses on its own
    assert {(r["details"]["writer"], r["details"]["i"]) for r in records} == {
        (w, i) for w in range(8) for i in range(200)
    }


def test_a_token_never_lands_in_the_ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "not-shaped-like-a-token-but-secret")
    ledger = Ledger(tmp_path)
    ledger.append(
        "finished",
        job_id="j1",
        job_url=f"https://huggingface.co/jobs/alice/j1?token={TOKEN}",
        details={
            "message": f"401 for Bearer {TOKEN}",
            "log_tail": ["export HF_TOKEN=not-shaped-like-a-token-but-secret", TOKEN],
            TOKEN: {"nested": [TOKEN]},
        },
    )
    text = ledger.path.read_text()
    assert TOKEN not in text and "not-shaped-like-a-token-but-secret" not in text
    assert text.count(REDACTED) == 6


def test_redact_covers_registered_secrets_and_leaves_plain_text(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(redact_module, "_registered_secrets", set())
    register_secret("oauth-access-value-from-a-file")
    assert redact("use oauth-access-value-from-a-file now") == f"use {REDACTED} now"
    assert redact("hf_short and hf_jobs and plain words") == "hf_short and hf_jobs and plain words"
    assert redact_obj({"a": [1, 2.5, None, True, f"x {TOKEN}."]}) == {"a": [1, 2.5, None, True, f"x {REDACTED}."]}


def test_fold_gives_the_latest_view_per_job_and_per_model():
    records = [
        {
            "time": "t1",
            "event": "submitted",
            "job_id": "j1",
            "backend": "hf-jobs",
            "state": "SCHEDULING",
            "model_repo": "alice/run",
            "details": {"namespace": "alice"},
        },
        {"time": "t2", "event": "submitted", "job_id": "j2", "backend": "local", "state": "SCHEDULING", "details": {}},
        {
            "time": "t3",
            "event": "finished",
            "job_id": "j1",
            "state": "COMPLETED",
            "repo_kind": "adapter-only",
            "details": {"exit_code": 0},
        },
        {"time": "t4", "event": "merged", "job_id": None, "model_repo": "alice/run-merged", "repo_kind": "full"},
        {"time": "t5", "event": "bogus-without-id"},
    ]
    entries = fold(records)
    assert [e.key for e in entries] == ["j1", "j2", "model:alice/run-merged"]
    j1 = entries[0]
    assert (j1.state, j1.repo_kind, j1.model_repo, j1.backend) == ("COMPLETED", "adapter-only", "alice/run", "hf-jobs")
    assert (j1.first_time, j1.last_time, j1.events) == ("t1", "t3", ["submitted", "finished"])
    assert j1.details == {"namespace": "alice", "exit_code": 0}
    assert entries[2].job_id is None and entries[2].repo_kind == "full"


def test_damaged_line_is_skipped_with_a_warning(tmp_path, caplog):
    ledger = Ledger(tmp_path)
    ledger.append("submitted", job_id="j1")
    with open(ledger.path, "a") as f:
        f.write('{"time": "cut in the midd\n')
    ledger.append("finished", job_id="j1", state="COMPLETED")
    assert [r["event"] for r in ledger.read()] == ["submitted", "finished"]
    assert f"{ledger.path}:2" in caplog.text
    assert ledger.find("j1").state == "COMPLETED"


def test_artifacts_root_flag_then_env_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv(ARTIFACTS_ENV, raising=False)
    assert str(artifacts_root()) == "artifacts"
    monkeypatch.setenv(ARTIFACTS_ENV, str(tmp_path / "env"))
    assert artifacts_root() == tmp_path / "env"
    assert artifacts_root(tmp_path / "flag") == tmp_path / "flag"
