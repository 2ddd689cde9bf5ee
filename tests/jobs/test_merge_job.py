"""A merge as a Hugging Face job, against the mocked Hub (`FakeHub` of test_jobs_hf.py): checked before anything is
sent, the code shipped in one commit, the job POSTed as the service accepts it, and the job's MERGE_SUMMARY line
brought back into the ledger as the `merged` event when the job is seen completed."""

from __future__ import annotations

import json

from test_jobs_hf import BASE, COMMIT, NS, TOKEN, _cli, _err

from hiddenparams.jobs.hf import AT_SUBMIT
from hiddenparams.ledger import Ledger

ADAPTER = f"{NS}/ministral-hp"
MERGED = f"{NS}/ministral-hp-merged"
MERGE = (
    "merge",
    "--base-model-id",
    BASE,
    "--adapter-model-id",
    ADAPTER,
    "--out",
    "runs/merged",
    "--push-to",
    MERGED,
    "--backend",
    "hf-jobs",
)


def summary_line(config_hash: str) -> str:
    """What `merge_job.main` prints last: the `merged` ledger event's fields."""
    details = {
        "base_model_id": BASE,
        "adapter_model_id": ADAPTER,
        "out": "/tmp/hiddenparams/merged",
        "max_abs_logit_diff": 1.5,
        "tolerance": 4.0,
        "repo": MERGED,
        "commit": "2" * 40,
    }
    fields = {"model_repo": MERGED, "repo_kind": "full", "config_hash": config_hash, "details": details}
    return "MERGE_SUMMARY " + json.dumps(fields)


def test_merge_on_hf_jobs_ships_the_code_submits_and_records_the_merged_model(hub, tmp_path):
    root = str(tmp_path / "artifacts")
    hub.models |= {ADAPTER}
    dry = json.loads(_cli(*MERGE, "--dry-run", "--json").stdout)
    assert dry["flavor"] == "cpu-upgrade" and dry["timeout_seconds"] == 3600 and dry["secrets"] == ["HF_TOKEN"]
    assert dry["script"]["name"] == "merge_job.py" and "torch==2.13.0" in dry["script"]["dependencies"]
    assert dry["config"]["out"] == "/tmp/hiddenparams/merged"  # the container's own folder, not the caller's path

    hub.log_lines = ["merging", summary_line(dry["config_hash"])]
    result = _cli(*MERGE, "--json", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output
    # Nothing of the model goes up from here: the job reads base and adapter from the Hub; only its code is shipped.
    (commit,) = hub.calls("POST", rf"/api/datasets/{NS}/hiddenparams-jobs/commit/main")
    assert sorted(hub.committed[f"{NS}/hiddenparams-jobs@{COMMIT}"]) == dry["code"]["files"]
    (post,) = hub.calls("POST", f"/api/jobs/{NS}")
    body = json.loads(post.content)
    assert body["command"] == [part.replace(AT_SUBMIT, COMMIT) for part in dry["command"]]
    assert (body["flavor"], body["timeoutSeconds"], body["secrets"]) == ("cpu-upgrade", 3600, {"HF_TOKEN": TOKEN})
    assert all(TOKEN not in json.dumps(v) for k, v in body.items() if k != "secrets")

    hub.repo_files[MERGED] = ["config.json", "model.safetensors", "merge_info.json", "README.md"]
    jobs = [json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0] for _ in range(2)]
    assert [job["state"] for job in jobs] == ["RUNNING", "COMPLETED"]
    assert jobs[1]["repo_kind"] == "full" and jobs[1]["model_url"] == f"https://huggingface.co/{MERGED}"
    records = Ledger(root).read()
    assert [r["event"] for r in records] == ["submitted", "state", "finished", "model_pushed", "merged"]
    merged = records[-1]
    assert (merged["model_repo"], merged["repo_kind"], merged["job_id"]) == (MERGED, "full", "job0001")
    assert merged["config_hash"] == dry["config_hash"] and merged["details"]["max_abs_logit_diff"] == 1.5
    assert TOKEN not in Ledger(root).path.read_text()


def test_merge_on_hf_jobs_refuses_what_the_job_could_not_do_before_sending_anything(hub, tmp_path):
    probes = tmp_path / "probes.jsonl"
    probes.write_text("{}\n")
    for extra, message in (
        (("--probe-data", str(probes)), "local files the job cannot see"),
        (("--flavor", "cpu-huge"), "cpu-huge"),
        (("--timeout", "soon"), "soon"),
    ):
        result = _cli(*MERGE, *extra, "--artifacts-dir", str(tmp_path / "a"))
        assert result.exit_code != 0 and message in _err(result), (extra, result.output)
    assert hub.requests == [] and not (tmp_path / "a").exists()


def test_merge_dry_run_as_text_names_what_the_job_reads(tiny_model_dir, tiny_adapter_dir, tmp_path):
    result = _cli(
        "merge",
        "--base-model-id",
        str(tiny_model_dir),
        "--adapter-model-id",
        str(tiny_adapter_dir),
        "--out",
        str(tmp_path / "m"),
        "--backend",
        "local",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert "hiddenparams.jobs.merge_job" in result.output and str(tiny_adapter_dir) in result.output
    assert not (tmp_path / "m").exists()


def test_any_command_error_that_quotes_a_token_prints_it_redacted(tmp_path, monkeypatch):
    """The one CLI error handler redacts: here a token pasted where a repo id belongs, quoted back by the check."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = _cli(
        "merge",
        "--base-model-id",
        f"{TOKEN}/x/y",
        "--adapter-model-id",
        ADAPTER,
        "--out",
        str(tmp_path / "m"),
        "--backend",
        "local",
        "--dry-run",
    )
    assert result.exit_code != 0 and "base_model_id" in _err(result) and "REDACTED" in _err(result).upper()
