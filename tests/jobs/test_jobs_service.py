"""Following, status and cancel against a mocked Hub that behaves like the service where it matters: a log stream
cut mid-way while the job runs, reconnects that keep failing, stages the library's enum lacks (`UPDATING`) or nobody
knows yet, a cancel that takes a few polls, and a job POST the service checks (flavor, timeout, secret names).
HTTP is mocked at huggingface_hub's transport (`FakeHub` of test_jobs_hf.py), and the clock of its waits is fake."""

from __future__ import annotations

import json
import logging

import pytest
from huggingface_hub import constants
from test_jobs_hf import BASE, NS, TOKEN, _cli, _err, job_config

from hiddenparams.jobs import HfJobsBackend, JobError, JobSpec, JobStage
from hiddenparams.jobs.base import EXIT_UNKNOWN
from hiddenparams.jobs.hf import CANCEL_POLL_SECONDS, CANCEL_POLLS
from hiddenparams.ledger import Ledger

MODEL_REPO = f"{NS}/ministral-hp"
JOB = "job0001"
EVAL_DRY_RUN = (
    "eval",
    "--base-model-id",
    BASE,
    "--adapter-model-id",
    MODEL_REPO,
    "--data",
    f"{NS}/eval-data",
    "--backend",
    "hf-jobs",
    "--namespace",
    NS,
    "--dry-run",
)


@pytest.fixture
def root(tmp_path) -> str:
    return str(tmp_path / "artifacts")


def _events(root: str) -> list[tuple[str, str]]:
    return [(r["event"], r["state"]) for r in Ledger(root).read()]


def _job_polls(hub) -> int:
    return len(hub.calls("GET", rf"/api/jobs/{NS}/{JOB}"))


@pytest.mark.parametrize("cut", ["decode", "drop"])
def test_a_log_stream_cut_midway_is_followed_by_polling_to_the_real_end(hub, config_3b, root, cut):
    """ "decode": huggingface_hub stops following while the job runs; "drop": it reconnects and resumes."""
    hub.stages = ["RUNNING", "RUNNING", "RUNNING", "COMPLETED"]
    hub.log_cuts = [cut]
    hub.repo_files[MODEL_REPO] = ["adapter_config.json", "adapter_model.safetensors"]
    result = _cli("train", "--config", str(config_3b), "--wait", "--json", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "COMPLETED"
    assert "loading model" in _err(result)  # the lines before the cut were shown
    # Less the first request, and the read of the whole log for its TRAIN_SUMMARY once the job completed.
    reconnects = len(hub.calls("GET", rf"/api/jobs/{NS}/{JOB}/logs")) - 2
    assert reconnects == 0 if cut == "decode" else reconnects > 0 and _err(result).count("step 2 loss 1.07") == 1
    assert _job_polls(hub) >= 4  # every RUNNING answer was seen before COMPLETED was believed
    assert _events(root) == [("submitted", "SCHEDULING"), ("finished", "COMPLETED"), ("model_pushed", "COMPLETED")]


def test_reconnects_that_keep_failing_fall_back_to_polling(hub, config_3b, root, caplog):
    hub.stages = ["RUNNING"] * 8 + ["COMPLETED"]
    hub.fail[f"GET /api/jobs/{NS}/{JOB}/logs"] = 0  # no connection: huggingface_hub raises after 5 retries
    with caplog.at_level(logging.WARNING, logger="hiddenparams.jobs.hf"):
        result = _cli("train", "--config", str(config_3b), "--wait", "--json", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "COMPLETED"
    assert len(hub.calls("GET", rf"/api/jobs/{NS}/{JOB}/logs")) == 6 + 1  # following, then reading TRAIN_SUMMARY
    assert "polling its state until it ends" in caplog.text and TOKEN not in caplog.text
    assert _events(root)[-1] == ("finished", "COMPLETED")


def test_a_running_job_is_never_recorded_as_ended(hub, config_3b, root):
    hub.stages = ["RUNNING", "RUNNING", "COMPLETED"]
    hub.log_cuts = ["decode"]
    hub.fail[f"GET /api/jobs/{NS}/{JOB}"] = 503  # the stream ends early, then polling fails too
    result = _cli("train", "--config", str(config_3b), "--wait", "--artifacts-dir", root)
    # The outcome is unknown, not a failure: its own exit status, and where to look again.
    assert result.exit_code == EXIT_UNKNOWN and "HTTP 503" in _err(result) and "keeps running" in _err(result)
    assert _job_polls(hub) == 5 and sum(hub.clock.slept) > 0  # bounded: gave up after 5 failures in a row
    assert _events(root) == [("submitted", "SCHEDULING")]

    del hub.fail[f"GET /api/jobs/{NS}/{JOB}"]  # the Hub answers again: status sees the job still running
    row = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert row["state"] == "RUNNING" and _events(root)[-1] == ("state", "RUNNING")

    hub.stages = ["ERROR"]
    hub.log_lines = ["step 9 loss 0.4", "Killed"]
    follow = _cli("logs", JOB, "--follow", "--artifacts-dir", root)
    assert follow.exit_code == 1 and "Killed" in follow.stdout and f"job {JOB} ended ERROR" in _err(follow)
    assert _events(root)[-1] == ("finished", "ERROR")


def test_updating_and_unknown_stages_are_shown_as_sent_and_never_ended(hub, config_3b, root):
    hub.stages = ["UPDATING", "FROBNICATING", "COMPLETED"]
    assert _cli("train", "--config", str(config_3b), "--artifacts-dir", root).exit_code == 0

    updating = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert updating["state"] == "UPDATING" and updating["metrics"] is not None
    assert not any("new to" in note or "cancelling" in note for note in updating["notes"])
    unknown = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert unknown["state"] == "FROBNICATING" and "stage FROBNICATING is new to hiddenparams" in unknown["notes"][0]
    table = _cli("status", "--no-refresh", "--artifacts-dir", root)
    assert table.exit_code == 0 and "FROBNICATING" in table.stdout
    row = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert row["state"] == "COMPLETED" and not any("new to" in note for note in row["notes"])
    assert _events(root) == [
        ("submitted", "SCHEDULING"),
        ("state", "UPDATING"),
        ("state", "FROBNICATING"),
        ("finished", "COMPLETED"),
    ]

    stage = JobStage("FROBNICATING")
    assert stage.value == "FROBNICATING" and not stage.terminal and not stage.known
    assert JobStage("UPDATING") is JobStage.UPDATING and JobStage.UPDATING.known
    with pytest.raises(ValueError):
        JobStage(None)


def test_following_through_unknown_stages_waits_for_a_terminal_one(hub, config_3b, root):
    hub.stages = ["SCHEDULING", "UPDATING", "FROBNICATING", "COMPLETED"]
    result = _cli("train", "--config", str(config_3b), "--wait", "--json", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "COMPLETED" and _events(root)[-1][0] == "finished"
    assert result.stderr.count("step 2 loss 1.07") == 1  # each reconnect resumed after the lines already shown


def test_cancel_waits_the_few_polls_the_service_takes(hub, config_3b, root):
    hub.stages = ["RUNNING"]
    hub.cancel_delay = 2
    _cli("train", "--config", str(config_3b), "--artifacts-dir", root)
    result = _cli("cancel", JOB, "--json", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["stage"], out["cancelling"]) == ("CANCELED", False)
    assert hub.clock.slept == [CANCEL_POLL_SECONDS] * 3
    assert _events(root) == [("submitted", "SCHEDULING"), ("finished", "CANCELED")]


def test_cancel_says_cancelling_until_the_service_reports_canceled(hub, config_3b, root):
    hub.stages = ["RUNNING"]
    hub.cancel_delay = 100
    _cli("train", "--config", str(config_3b), "--artifacts-dir", root)
    result = _cli("cancel", JOB, "--artifacts-dir", root)
    assert result.exit_code == 0 and f"{JOB}: cancelling (the backend still reports RUNNING" in _err(result)
    assert sum(hub.clock.slept) == CANCEL_POLLS * CANCEL_POLL_SECONDS  # a bounded wait
    assert len(hub.calls("POST", rf"/api/jobs/{NS}/{JOB}/cancel")) == 1
    assert _events(root) == [("submitted", "SCHEDULING"), ("state", "RUNNING"), ("cancel_requested", "RUNNING")]

    row = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert row["state"] == "RUNNING" and any(note.startswith("cancelling") for note in row["notes"])
    hub.stages = ["CANCELED"]
    row = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert row["state"] == "CANCELED" and not any(note.startswith("cancelling") for note in row["notes"])
    assert _events(root)[-1] == ("finished", "CANCELED")
    again = json.loads(_cli("cancel", JOB, "--json", "--artifacts-dir", root).stdout)
    assert again["stage"] == "CANCELED" and len(hub.calls("POST", rf"/api/jobs/{NS}/{JOB}/cancel")) == 1


def test_the_job_post_is_one_the_service_accepts_and_the_secret_value_stays_there(hub, config_3b, root):
    hub.log_lines = ["loading model", f"pushing with token {TOKEN}"]
    result = _cli("train", "--config", str(config_3b), "--timeout", "90m", "--json", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output
    (post,) = hub.calls("POST", f"/api/jobs/{NS}")
    body = json.loads(post.content)  # FakeHub refused nothing: flavor, timeout and names are valid
    assert (body["flavor"], body["timeoutSeconds"], list(body["secrets"])) == ("a100-large", 90 * 60, ["HF_TOKEN"])
    assert TOKEN not in json.dumps({k: v for k, v in body.items() if k != "secrets"})
    logs = _cli("logs", JOB, "--artifacts-dir", root)
    assert logs.exit_code == 0 and "pushing with token hf_***REDACTED***" in logs.stdout
    _cli("status", "--artifacts-dir", root)
    assert TOKEN not in Ledger(root).path.read_text()


def test_a_flavor_the_service_refuses_is_a_clear_error(hub):
    with pytest.raises(JobError, match="HTTP 400: .*Invalid flavor: a100-larg"):
        HfJobsBackend(NS).submit(JobSpec(entry="hiddenparams.jobs.train_job", flavor="a100-larg"))


def test_a_flavor_typo_is_refused_before_anything_is_sent(hub, config_3b, root):
    for extra in ((), ("--dry-run",)):
        result = _cli("train", "--config", str(config_3b), "--flavor", "a100-larg", "--artifacts-dir", root, *extra)
        assert result.exit_code == 1 and "flavor 'a100-larg' is not a Hugging Face Jobs flavor" in _err(result)
        assert "did you mean a100-large" in _err(result) and "h200x8" in _err(result)
    result = _cli(*EVAL_DRY_RUN, "--out", "eval", "--flavor", "a10g-smal")
    assert result.exit_code == 1 and "did you mean a10g-small" in _err(result)
    assert hub.requests == [] and not Ledger(root).read()


def test_an_eval_job_writes_under_an_absolute_folder_of_its_container(hub):
    result = _cli(*EVAL_DRY_RUN, "--out", "runs/eval-3b", "--json")
    assert result.exit_code == 0, result.output
    assert job_config(json.loads(result.stdout)["command"])["out"] == "/tmp/hiddenparams/eval-3b"


def test_job_and_model_urls_follow_hf_endpoint(hub, config_3b, root, monkeypatch):
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.example.internal")
    out = json.loads(_cli("train", "--config", str(config_3b), "--json", "--artifacts-dir", root).stdout)
    assert out["job_url"] == f"https://hub.example.internal/jobs/{NS}/{JOB}"
    row = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert row["job_url"] == out["job_url"] and row["model_url"] == f"https://hub.example.internal/{MODEL_REPO}"


@pytest.mark.parametrize("failure", [0, -1], ids=["connection-refused", "read-timeout"])
def test_lost_contact_while_following_says_the_job_keeps_running(hub, config_3b, root, failure):
    """The Hub stops answering while `--wait` or `logs -f` follows a running job: after huggingface_hub's retries and
    ours, one error line says the job keeps running and how to look again, with the exit status of "unknown"."""
    hub.stages = ["RUNNING"]
    assert _cli("train", "--config", str(config_3b), "--artifacts-dir", root).exit_code == 0
    hub.fail[rf"GET /api/jobs/{NS}/job\d+(/logs)?"] = failure  # the submit (a POST) still goes through
    for command in (("train", "--config", str(config_3b), "--wait"), ("logs", JOB, "--follow")):
        result = _cli(*command, "--artifacts-dir", root)
        said = _err(result)
        assert result.exit_code == EXIT_UNKNOWN, result.output
        assert said.count("error:") == 1 and "lost contact with the Hub while following job" in said
        assert "keeps running" in said and "`hiddenparams status` shows its state" in said
        assert "polling its state" not in said and "Traceback" not in result.output
    assert all(e[0] != "finished" for e in _events(root))  # nothing recorded as ended
