"""status: states refreshed from the backend, repo kinds read from the files now, and `train` through the local backend
with a stand-in for the training script (the real one is exercised by the slow tier)."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.jobs import train as train_module
from hiddenparams.ledger import Ledger, RepoKind
from hiddenparams.status import collect_status, kind_from_files, read_repo

# Writes what the real job writes where the status looks: output_dir/adapter (LoRA) or output_dir/model (full).
STAND_IN_TRAIN = """\
import json, sys
from pathlib import Path
from hiddenparams.config import load_config
args = sys.argv[1:]
cfg = load_config(None, json.loads(args[args.index("--config-json") + 1]))
if cfg.max_steps == 13:
    sys.exit("the stand-in fails on max_steps 13")
out = cfg.model_dir()
out.mkdir(parents=True)
files = ["config.json", "model.safetensors"] if cfg.full_finetune else ["adapter_config.json", "adapter_model.safetensors"]
for name in files:
    (out / name).write_text("{}")
cfg.save(out / "resolved_config.yaml")
print("loss 2.0 -> 0.5; saved", out)
"""


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    row = {"prompt": [{"role": "user", "content": "x"}], "completion": [{"role": "assistant", "content": "{}"}]}
    for split in ("train", "validation"):
        (tmp_path / "data" / f"{split}.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    (tmp_path / "run.yaml").write_text("model_id: model\ndata_dir: data\noutput_dir: runs/a\nbackend: local\n")
    stand_in = tmp_path / "stand_in_train.py"
    stand_in.write_text(STAND_IN_TRAIN)
    monkeypatch.setattr(train_module.TRAIN, "entry", str(stand_in))
    return tmp_path


def _cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def test_kind_comes_from_the_files_at_the_repo_root():
    assert kind_from_files(["adapter_config.json", "adapter_model.safetensors"]) is RepoKind.ADAPTER_ONLY
    assert kind_from_files(["config.json", "model-00001-of-00002.safetensors"]) is RepoKind.FULL
    assert kind_from_files(["config.json", "pytorch_model.bin"]) is None
    assert kind_from_files(["checkpoint-10/adapter_config.json", "README.md"]) is None


def test_local_folders_are_read_through_the_filesystem(tmp_path):
    adapter, full, empty = tmp_path / "adapter", tmp_path / "full", tmp_path / "empty"
    for folder, files in (
        (adapter, ["adapter_config.json", "adapter_model.safetensors"]),
        (full, ["config.json", "model.safetensors"]),
        (empty, []),
    ):
        folder.mkdir()
        for name in files:
            (folder / name).write_text("{}")
    assert read_repo(str(adapter)).kind is RepoKind.ADAPTER_ONLY
    assert read_repo(str(full)).kind is RepoKind.FULL
    assert read_repo(str(empty)).note == "no model files"
    missing = read_repo(str(tmp_path / "missing"))
    assert missing.kind is None and missing.note == "no such folder yet" and missing.url == str(tmp_path / "missing")


def test_train_locally_then_status_shows_the_adapter(workspace):
    result = _cli("train", "--config", "run.yaml", "--wait", "--json", "--artifacts-dir", "art")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["state"] == "COMPLETED" and out["model_repo"] == str(workspace / "runs" / "a" / "adapter")
    assert "loss 2.0 -> 0.5" in result.stderr

    rows = json.loads(_cli("status", "--json", "--artifacts-dir", "art").stdout)["jobs"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["job_id"], row["state"], row["repo_kind"], row["name"]) == (
        out["job_id"],
        "COMPLETED",
        "adapter-only",
        "train",
    )
    assert row["model_url"] == out["model_repo"] and row["job_url"].startswith("file://")
    assert row["config_hash"] == out["config_hash"]
    events = Ledger("art").read()
    assert [e["event"] for e in events] == ["submitted", "finished"]  # a local folder is written, not pushed
    assert events[1]["repo_kind"] == "adapter-only"

    table = _cli("status", "--artifacts-dir", "art")
    assert table.exit_code == 0 and "adapter-only" in table.stdout and "COMPLETED" in table.stdout


def test_a_full_finetune_reads_as_full_and_the_kind_is_never_remembered(workspace):
    result = _cli("train", "--config", "run.yaml", "--set", "full_finetune=true", "--wait", "--artifacts-dir", "art")
    assert result.exit_code == 0, result.output
    assert json.loads(_cli("status", "--json", "--artifacts-dir", "art").stdout)["jobs"][0]["repo_kind"] == "full"
    for path in (workspace / "runs" / "a" / "model").iterdir():
        path.unlink()  # the ledger said "full": status reads the folder again and must say it no longer is
    row = json.loads(_cli("status", "--json", "--artifacts-dir", "art").stdout)["jobs"][0]
    assert row["repo_kind"] is None and "model: no model files" in row["notes"]


def test_a_failed_local_training_exits_non_zero_and_leaves_how_to_read_its_log(workspace):
    result = _cli("train", "--config", "run.yaml", "--max-steps", "13", "--wait", "--artifacts-dir", "art")
    assert result.exit_code == 1
    job_id = result.stdout.strip()
    stderr = " ".join(result.stderr.split())
    assert "the stand-in fails on max_steps 13" in stderr and f"hiddenparams logs {job_id}" in stderr
    finished = Ledger("art").read()[-1]
    assert finished["state"] == "ERROR" and finished["details"]["read_log_with"] == f"hiddenparams logs {job_id}"
    row = json.loads(_cli("status", "--json", "--artifacts-dir", "art").stdout)["jobs"][0]
    assert row["state"] == "ERROR" and row["log_hint"] == f"hiddenparams logs {job_id}"


def test_status_refreshes_an_unfinished_job_and_records_each_change_once(workspace):
    result = _cli("train", "--config", "run.yaml", "--artifacts-dir", "art")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    ledger = Ledger("art")
    assert ledger.find(job_id).state == "SCHEDULING"
    deadline = time.monotonic() + 60
    while (rows := collect_status(ledger))[0].state in ("SCHEDULING", "RUNNING") and time.monotonic() < deadline:
        time.sleep(0.05)
    # The loop ends on a final state or on the deadline: which one, and why, is said here.
    log = (workspace / "art" / "hf_jobs" / "local" / job_id / "log.txt").read_text()
    assert rows[0].state == "COMPLETED", f"{job_id} is {rows[0].state} after the wait; its log:\n{log}"
    assert rows[0].repo_kind == "adapter-only"
    events = ledger.read()
    assert events[-1]["event"] == "finished" and events[-1]["repo_kind"] == "adapter-only"
    states = [e["state"] for e in events]
    assert states[0] == "SCHEDULING" and states[-1] == "COMPLETED" and len(set(states)) == len(states)
    collect_status(ledger)
    assert len(ledger.read()) == len(events)  # a finished job is not asked again


def test_models_without_a_job_are_listed_too(tmp_path):
    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")
    (merged / "model.safetensors").write_text("{}")
    ledger = Ledger(tmp_path / "art")
    ledger.append("merged", model_repo=str(merged), repo_kind="full", details={"max_abs_logit_diff": 1e-5})
    (row,) = collect_status(ledger)
    assert row.job_id is None and row.repo_kind == "full" and row.events == ["merged"]
    empty = _cli("status", "--artifacts-dir", str(tmp_path / "none"))
    assert empty.exit_code == 0 and "no jobs or models" in empty.output


def test_a_ledger_with_a_stage_nobody_knows_and_a_pending_cancel_reads_fine(tmp_path):
    ledger = Ledger(tmp_path / "art")
    job = {"job_id": "j1", "backend": "hf-jobs", "job_url": "https://example.org/jobs/ns/j1"}
    ledger.append("submitted", **job, state="SCHEDULING", details={"name": "train", "namespace": "ns"})
    ledger.append("state", **job, state="FROBNICATING")
    ledger.append("cancel_requested", **job, state="FROBNICATING")
    (row,) = collect_status(ledger, refresh=False)
    assert row.state == "FROBNICATING" and row.events == ["submitted", "state", "cancel_requested"]
    assert [note.split(":")[0] for note in row.notes] == ["cancelling", "stage FROBNICATING is new to hiddenparams"]
    table = _cli("status", "--no-refresh", "--artifacts-dir", str(tmp_path / "art"))
    assert table.exit_code == 0 and "FROBNICATING" in table.stdout


def test_status_shows_the_results_a_models_card_reports(tmp_path):
    from huggingface_hub import ModelCard

    from hiddenparams.data.rows import Row
    from hiddenparams.eval.score import score
    from hiddenparams.model.card import with_eval_results
    from hiddenparams.schema import KEYS, to_json

    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")
    (merged / "model.safetensors").write_text("{}")
    rows = [Row(f"r{i}", "calm piano", dict.fromkeys(KEYS, i)) for i in range(4)]
    report = score(rows, [to_json(r.hidden_params) for r in rows[:3]] + ["nope"], None).to_dict()
    with_eval_results(ModelCard("# merged\n"), report, "merged").save(merged / "README.md")
    ledger = Ledger(tmp_path / "art")
    ledger.append("merged", model_repo=str(merged), repo_kind="full")
    (row,) = collect_status(ledger)
    assert row.card_metrics["valid_rate"] == 0.75 and row.card_metrics["mae"] == 0.0
    shown = _cli("status", "--artifacts-dir", str(tmp_path / "art"))
    assert shown.exit_code == 0 and "valid_rate 0.750" in shown.output
