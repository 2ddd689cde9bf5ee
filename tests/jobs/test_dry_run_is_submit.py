"""`--dry-run` is the submit without the sending, for every job-running stage (train, eval, merge): the same input is
refused by both with the same message before any request, and an accepted one is submitted exactly as the dry run
printed it. Against the mocked Hub (`FakeHub` of test_jobs_hf.py)."""

from __future__ import annotations

import json

import pytest
from test_jobs_hf import BASE, COMMIT, NS, TOKEN, _cli, _err

from hiddenparams.jobs.hf import AT_SUBMIT
from hiddenparams.ledger import Ledger

ADAPTER = f"{NS}/ministral-hp"
HF = ("--backend", "hf-jobs")


@pytest.fixture
def commands(config_3b, eval_data_dir, hub):
    """Each stage's hf-jobs command line, accepted as it is; the models it names exist on the mocked Hub."""
    hub.models.add(ADAPTER)
    return {
        "train": ["train", "--config", str(config_3b)],
        "eval": [
            "eval",
            "--base-model-id",
            BASE,
            "--adapter-model-id",
            ADAPTER,
            "--data",
            str(eval_data_dir / "test.jsonl"),
            "--out",
            "eval",
            *HF,
            "--push-results-to",
            ADAPTER,
        ],
        "merge": [
            "merge",
            "--base-model-id",
            BASE,
            "--adapter-model-id",
            ADAPTER,
            "--out",
            "runs/merged",
            "--push-to",
            f"{NS}/ministral-hp-merged",
            *HF,
        ],
    }


# Refusals every stage makes before anything is sent: (extra arguments per stage, what the message says).
REFUSALS = {
    "flavor-typo": ({"all": ["--flavor", "a100-larg"]}, "flavor 'a100-larg' is not a Hugging Face Jobs flavor"),
    "timeout": ({"all": ["--timeout", "soon"]}, "timeout 'soon' is not a duration like 90m, 4h or 3600"),
    "namespace": (
        {"all": ["--namespace", "not a namespace"]},
        {
            "train": "field 'namespace': 'not a namespace' is not a valid user or organisation name",
            "eval": "field 'namespace': 'not a namespace' is not a valid user or organisation name",
            "merge": "field 'namespace': 'not a namespace' is not a valid user or organisation name",
        },
    ),
    "pushed-to-repo": (
        {
            "train": ["--hub-model-id", "not a repo"],
            "eval": ["--push-results-to", "not a repo"],
            "merge": ["--push-to", "not a repo"],
        },
        {
            "train": "field 'hub_model_id': not a valid repo id",
            "eval": "--push-results-to 'not a repo' is not a valid",
            "merge": "push_to 'not a repo' is not a valid repo id",
        },
    ),
    "local-input": (
        {
            "train": ["--data-dir", "./missing"],
            "eval": ["--data", "./missing.jsonl"],
            "merge": ["--probe-data", "probes.jsonl"],
        },
        {
            "train": "data_dir ./missing: no such folder",
            "eval": "--data ./missing.jsonl: no such file",
            "merge": "probe_data: local files the job cannot see",
        },
    ),
    "local-model": (
        {
            "train": ["--model-id", "./model"],
            "eval": ["--model-id", "./model", "--base-model-id", "", "--adapter-model-id", ""],
            "merge": ["--base-model-id", "./model"],
        },
        "./model is a local folder the job cannot see: push it to the Hub",
    ),
}


@pytest.mark.parametrize("stage", ["train", "eval", "merge"])
@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_dry_run_and_submit_refuse_alike_before_sending_anything(commands, hub, tmp_path, stage, refusal):
    (tmp_path / "probes.jsonl").write_text("{}\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    extras, says = REFUSALS[refusal]
    args = [*commands[stage], *extras.get(stage, extras.get("all", [])), "--artifacts-dir", str(tmp_path / "a")]
    expected = says[stage] if isinstance(says, dict) else says
    dry, submitted = _cli(*args, "--dry-run"), _cli(*args)
    for result in (dry, submitted):
        assert result.exit_code == 1 and expected in _err(result), (stage, refusal, result.output)
    assert _err(dry) == _err(submitted)  # the same words
    assert hub.requests == [] and not (tmp_path / "a").exists()  # nothing sent, nothing recorded


@pytest.mark.parametrize("stage", ["train", "eval", "merge"])
def test_the_submitted_job_is_the_dry_runs_spec(commands, hub, tmp_path, stage):
    root = str(tmp_path / "a")
    dry = _cli(*commands[stage], "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    spec = json.loads(dry.stdout)
    assert hub.requests == []
    result = _cli(*commands[stage], "--json", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output

    (post,) = hub.calls("POST", f"/api/jobs/{NS}")
    body = json.loads(post.content)
    assert body["command"] == [part.replace(AT_SUBMIT, COMMIT) for part in spec["command"]]
    assert (body["flavor"], body["timeoutSeconds"], body["dockerImage"]) == (
        spec["flavor"],
        spec["timeout_seconds"],
        spec["image"],
    )
    assert body["environment"] == spec["env"] and body["labels"] == spec["labels"]
    assert sorted(body["secrets"]) == spec["secrets"] and body["secrets"]["HF_TOKEN"] == TOKEN
    assert sorted(hub.committed[f"{spec['code']['repo']}@{COMMIT}"]) == spec["code"]["files"]
    (submitted,) = Ledger(root).read()
    assert (submitted["config_hash"], submitted["model_repo"]) == (spec["config_hash"], spec["model_repo"])
