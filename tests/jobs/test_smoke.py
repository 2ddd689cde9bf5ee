"""`--smoke` end to end, offline, for train, eval and merge: the CLI submits the real job on cpu-basic to the mocked Hub
(`FakeHub` of test_jobs_hf.py, HTTP mocked at huggingface_hub's transport), then the job script runs here with the
arguments that were POSTed, against the files the mocked Hub received (code, data) and the tiny model's files served
as the Hub model, and prints SMOKE_SUMMARY; `status` turns that line into the `smoke_passed` ledger event."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import constants, set_client_factory
from test_jobs_hf import BASE, COMMIT, NS, TOKEN, _cli, _err, job_config

from hiddenparams.hub import timeout_seconds
from hiddenparams.jobs import eval_job, merge_job, parse_summary, train_job
from hiddenparams.jobs import stage as stage_module
from hiddenparams.jobs.smoke import SMOKE_FLAVOR, SMOKE_TIMEOUT
from hiddenparams.jobs.smoke_checks import SMOKE_MARKER
from hiddenparams.ledger import Ledger

MODEL_REPO = f"{NS}/ministral-hp"  # the training's hub_model_id in config_3b, and the adapter eval and merge read
MERGED = f"{NS}/ministral-hp-merged"


class JobSide:
    """What the job itself asks of the Hub, in front of the CLI's `FakeHub`: file downloads (datasets at the commit the
    submit made, model repos from local folders), model repo creation and the write-permission check."""

    def __init__(self, hub, model_folders: dict[str, Path]) -> None:
        self.hub, self.model_folders = hub, model_folders
        self.read_only: set[str] = set()  # model repos the token may read but not write
        self.requests: list[httpx2.Request] = []

    def downloaded(self) -> list[str]:
        return [r.url.path for r in self.requests if "/resolve/" in r.url.path and r.method == "GET"]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = request.url.path
        if match := re.fullmatch(r"/datasets/([\w.-]+/[\w.-]+)/resolve/(\w+)/([\w./-]+)", path):
            content = self.hub.committed.get(f"{match.group(1)}@{match.group(2)}", {}).get(match.group(3))
            return _file(request, content, match.group(2))
        if match := re.fullmatch(r"/([\w.-]+/[\w.-]+)/resolve/(\w+)/([\w./-]+)", path):
            folder = self.model_folders.get(match.group(1))
            file = folder / match.group(3) if folder else None
            return _file(request, file.read_bytes() if file and file.is_file() else None, "0" * 40)
        if (match := re.fullmatch(r"/api/models/([\w.-]+/[\w.-]+)/tree/main/([\w./-]+)", path)) and (
            folder := self.model_folders.get(match.group(1))
        ):
            under = folder / match.group(2)
            entries = (
                [
                    {"type": "file", "path": str(p.relative_to(folder)), "oid": "0", "size": p.stat().st_size}
                    for p in sorted(under.iterdir())
                ]
                if under.is_dir()
                else []
            )
            if not entries:  # the Hub's answer for a folder the repo does not have
                return httpx2.Response(404, headers={"X-Error-Code": "EntryNotFound"}, json={"error": "not found"})
            return httpx2.Response(200, json=entries)
        if match := re.fullmatch(r"/api/models/([\w.-]+/[\w.-]+)/auth-check/write", path):
            repo = match.group(1)
            if repo not in self.hub.models:
                return httpx2.Response(404, headers={"X-Error-Code": "RepoNotFound"}, json={"error": "not found"})
            if repo in self.read_only:
                return httpx2.Response(403, json={"error": "You don't have write access"})
            return httpx2.Response(200, json={})
        if path == "/api/repos/create" and json.loads(request.content).get("type") in (None, "model"):
            body = json.loads(request.content)
            repo = f"{body['organization']}/{body['name']}"
            url = f"https://huggingface.co/{repo}"
            if repo in self.hub.models:  # the service names the existing repo (create_repo(exist_ok=True) reads it)
                return httpx2.Response(409, json={"error": "You already created this model repo", "url": url})
            self.hub.models.add(repo)
            return httpx2.Response(200, json={"url": url})
        return self.hub(request)


def _file(request: httpx2.Request, content: bytes | None, commit: str) -> httpx2.Response:
    if content is None:
        return httpx2.Response(404, headers={"X-Error-Code": "EntryNotFound"})
    headers = {"X-Repo-Commit": commit, "ETag": f'"{abs(hash(content))}"', "Content-Length": str(len(content))}
    return httpx2.Response(200, content=b"" if request.method == "HEAD" else content, headers=headers)


@pytest.fixture
def job_side(hub, tiny_model_dir, tiny_adapter_dir, tmp_path, monkeypatch):
    """The mocked Hub as the job sees it: a tiny model as `BASE`, an adapter trained on it as `MODEL_REPO`."""
    side = JobSide(hub, {BASE: tiny_model_dir, MODEL_REPO: tiny_adapter_dir})
    hub.models |= {MODEL_REPO}
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))
    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(side)))  # `hub` resets it afterwards
    return side


def eval_on_hub(eval_data_dir: Path, *args: str):
    """`hiddenparams eval` of the adapter on `MODEL_REPO` over the eval test rows, as an hf-jobs job."""
    return _cli(
        "eval",
        "--base-model-id",
        BASE,
        "--adapter-model-id",
        MODEL_REPO,
        "--data",
        str(eval_data_dir / "test.jsonl"),
        "--out",
        "eval",
        "--backend",
        "hf-jobs",
        *args,
    )


def posted_job(hub) -> tuple[dict, list[str]]:
    """The POSTed job body, and the script's arguments from its `uv run --with WHEEL SCRIPT ARGS...` command."""
    (post,) = hub.calls("POST", f"/api/jobs/{NS}")
    body = json.loads(post.content)
    uv, run, with_, wheel, script, *args = body["command"]
    assert (uv, run, with_) == ("uv", "run", "--with") and wheel.endswith(".whl")
    return body, args


def run_job_here(module, args: list[str], body: dict, capsys, monkeypatch) -> tuple[int, str, str]:
    """The job script's main with the POSTed arguments and environment (flavor, processes), here."""
    for name, value in body["environment"].items():
        monkeypatch.setenv(name, value)
    code = module.main(args)
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def smoke_summary(out: str) -> dict:
    last = out.rstrip().splitlines()[-1]
    summary = parse_summary(last, SMOKE_MARKER)
    assert summary is not None, out
    return summary["details"]


def check_submitted_smoke(hub, root: str, entry: str, script: str) -> tuple[dict, list[str]]:
    """What every smoke submit shares: the real job's script and shipped code, on cpu-basic with --smoke."""
    body, args = posted_job(hub)
    assert body["flavor"] == SMOKE_FLAVOR == "cpu-basic" and body["timeoutSeconds"] == timeout_seconds(SMOKE_TIMEOUT)
    assert body["command"][4].endswith(f"/code/{script}") and args.count("--smoke") == 1
    assert body["environment"]["HIDDENPARAMS_FLAVOR"] == "cpu-basic" and body["secrets"] == {"HF_TOKEN": TOKEN}
    (submitted,) = Ledger(root).read()
    assert submitted["details"]["smoke"] is True and submitted["details"]["entry"] == entry
    assert submitted["flavor"] == "cpu-basic" and submitted["model_repo"] is None  # a smoke job pushes no model
    assert submitted["details"]["name"].endswith("-smoke")
    return body, args


def check_recorded_smoke(hub, root: str, out: str, stage: str) -> dict:
    """The job's log, as the mocked Hub serves it, becomes the `smoke_passed` event when status sees it completed."""
    hub.stages, hub.log_lines = ["COMPLETED"], out.rstrip().splitlines()
    (row,) = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"]
    assert row["state"] == "COMPLETED" and row["smoke"] is True and "passed" in row["notes"][0]
    events = Ledger(root).read()
    assert [e["event"] for e in events] == ["submitted", "finished", "smoke_passed"]
    assert events[-1]["details"]["stage"] == stage and TOKEN not in Ledger(root).path.read_text()
    return events[-1]["details"]


def test_train_smoke_runs_the_real_job_on_cpu_basic_up_to_the_weights(
    hub, job_side, config_3b, tmp_path, capsys, monkeypatch
):
    root = str(tmp_path / "artifacts")
    dry = json.loads(_cli("train", "--config", str(config_3b), "--dry-run", "--json").stdout)
    smoke_dry = json.loads(_cli("train", "--config", str(config_3b), "--smoke", "--dry-run", "--json").stdout)
    assert smoke_dry["flavor"] == "cpu-basic" and "--smoke" in smoke_dry["command"] and hub.requests == []
    # The header of the real run (a100-large: CUDA 12.6), not cpu-basic's CPU build: the smoke proves that install.
    assert smoke_dry["torch"] == dry["torch"] and dry["torch"]["build"] == "cu126"
    assert smoke_dry["script"]["indexes"] == dry["script"]["indexes"]
    result = _cli("train", "--config", str(config_3b), "--smoke", "--json", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["smoke"] is True and out["config_hash"] == dry["config_hash"]  # the smoke of that very run
    assert out["real_run"] == f"hiddenparams train --config {config_3b} --json --artifacts-dir {root}"
    assert _err(result).endswith(f"the real run: {out['real_run']}")
    body, args = check_submitted_smoke(hub, root, "hiddenparams.jobs.train_job", "train_job.py")
    # The same code and data commit as the real run: the wheel, the script and the rows, then the data revision.
    assert sorted(hub.committed[f"{NS}/ministral-hp-data@{COMMIT}"]) == dry["code"]["files"]
    assert [a for a in args if a != "--smoke"] == [part.replace("SET-AT-SUBMIT", COMMIT) for part in dry["command"][5:]]

    code, printed, err = run_job_here(train_job, args, body, capsys, monkeypatch)
    assert code == 0, err
    details = smoke_summary(printed)
    assert printed.startswith("JOB_HOST ")  # job_start ran first
    assert details["data"]["revision"] == COMMIT and details["data"]["rows"] == {"train": 1, "validation": 1}
    assert details["max_length"] == details["first_rows_tokens"][0] > 0
    assert details["push_to"] == {"repo": MODEL_REPO, "created_or_exists": True, "write": True}
    assert details["config_hash"] == dry["config_hash"]
    assert [r for r in job_side.requests if r.url.path == f"/api/models/{MODEL_REPO}/auth-check/write"]
    downloaded = job_side.downloaded()
    assert f"/datasets/{NS}/ministral-hp-data/resolve/{COMMIT}/train.jsonl" in downloaded
    from_base = {p.rsplit("/", 1)[1] for p in downloaded if p.startswith(f"/{BASE}/resolve/")}
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= from_base
    assert not [p for p in downloaded if p.endswith(".safetensors")]  # no weights

    assert check_recorded_smoke(hub, root, printed, "train")["max_length"] == details["max_length"]
    table = _cli("status", "--artifacts-dir", root)
    assert "train-smoke" in table.stdout


def test_a_smoke_that_cannot_write_the_model_repo_fails_the_job(
    hub, job_side, config_3b, tmp_path, capsys, monkeypatch
):
    assert _cli("train", "--config", str(config_3b), "--smoke", "--artifacts-dir", str(tmp_path / "a")).exit_code == 0
    body, args = posted_job(hub)
    job_side.read_only.add(MODEL_REPO)
    code, printed, err = run_job_here(train_job, args, body, capsys, monkeypatch)
    assert code == 1 and SMOKE_MARKER not in printed
    assert f"cannot write the model repo {MODEL_REPO} (HTTP 403)" in " ".join(err.split())


def test_smoke_with_wait_reports_the_checks_and_ends_with_the_real_command(hub, config_3b, tmp_path):
    root = str(tmp_path / "artifacts")
    details = {
        "stage": "train",
        "data": {"rows": {"train": 1}},
        "first_rows_tokens": [30],
        "seconds": 4.2,
        "push_to": {"repo": MODEL_REPO, "write": True},
    }
    hub.stages, hub.log_lines = ["COMPLETED"], ["JOB_HOST {}", SMOKE_MARKER + json.dumps({"details": details})]
    result = _cli("train", "--config", str(config_3b), "--smoke", "--wait", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output
    said = _err(result)
    assert f"write access to {MODEL_REPO}" in said and "smoke passed in 4.2 s" in said
    real_run = f"hiddenparams train --config {config_3b} --wait --artifacts-dir {root}"
    assert said.endswith(f"smoke passed; the real run: {real_run}")
    assert [e["event"] for e in Ledger(root).read()] == ["submitted", "finished", "smoke_passed"]

    hub.stages = ["ERROR"]  # a failed smoke job: no real-run command, exit 1, the log tail
    hub.log_lines = ["error: smoke check of the train job failed: no usable tokenizer"]
    failed = _cli("train", "--config", str(config_3b), "--smoke", "--wait", "--artifacts-dir", root)
    assert failed.exit_code == 1 and "no usable tokenizer" in _err(failed) and "the real run" not in _err(failed)


def test_eval_smoke_reads_the_uploaded_rows_and_renders_prompts(
    hub, job_side, eval_data_dir, tmp_path, capsys, monkeypatch
):
    root = str(tmp_path / "artifacts")
    result = eval_on_hub(eval_data_dir, "--push-results-to", MODEL_REPO, "--smoke", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output
    assert "the real run: hiddenparams eval --base-model-id" in _err(result) and "--smoke" not in _err(result)
    body, args = check_submitted_smoke(hub, root, "hiddenparams.jobs.eval_job", "eval_job.py")
    assert job_config(args)["data"] == f"{MODEL_REPO}-eval-data" and args[-3:] == [
        "--smoke",
        "--set",
        f"data_revision={COMMIT}",
    ]

    code, printed, err = run_job_here(eval_job, args, body, capsys, monkeypatch)
    assert code == 0, err
    details = smoke_summary(printed)
    assert details["data"]["rows"] == 12 and details["data"]["train_rows"] == 48
    assert details["data"]["data"] == f"{MODEL_REPO}-eval-data@{COMMIT}:test.jsonl"
    assert len(details["first_rows_tokens"]) == 4 and min(details["first_rows_tokens"]) > 10
    assert details["push_to"]["repo"] == MODEL_REPO and details["model"]["adapter_model_id"] == MODEL_REPO
    adapter_files = [p.rsplit("/", 1)[1] for p in job_side.downloaded() if p.startswith(f"/{MODEL_REPO}/resolve/")]
    assert "adapter_config.json" in adapter_files
    assert not [p for p in job_side.downloaded() if p.endswith(".safetensors")]
    assert not Path(job_config(args)["out"]).exists()  # nothing written
    check_recorded_smoke(hub, root, printed, "eval")


def test_merge_smoke_renders_the_probes_and_checks_the_push_repo(hub, job_side, tmp_path, capsys, monkeypatch):
    root = str(tmp_path / "artifacts")
    result = _cli(
        "merge",
        "--base-model-id",
        BASE,
        "--adapter-model-id",
        MODEL_REPO,
        "--out",
        "runs/merged",
        "--push-to",
        MERGED,
        "--backend",
        "hf-jobs",
        "--smoke",
        "--artifacts-dir",
        root,
    )
    assert result.exit_code == 0, result.output
    body, args = check_submitted_smoke(hub, root, "hiddenparams.jobs.merge_job", "merge_job.py")

    code, printed, err = run_job_here(merge_job, args, body, capsys, monkeypatch)
    assert code == 0, err
    details = smoke_summary(printed)
    assert details["push_to"]["repo"] == MERGED and MERGED in hub.models  # created, as the real push would
    assert details["stored_dtype"] in ("float32", "bfloat16") and len(details["probe_tokens"]) >= 3
    assert not [p for p in job_side.downloaded() if p.endswith(".safetensors")]
    check_recorded_smoke(hub, root, printed, "merge")


def test_smoke_is_a_job_flag(tmp_path, said):
    result = _cli("eval", "--model-id", "a/b", "--data", "x.jsonl", "--out", str(tmp_path / "e"), "--smoke")
    assert result.exit_code == 1 and "--smoke: only with --backend" in said(result)


def test_a_completed_smoke_job_without_its_summary_line_did_not_pass(hub, config_3b, tmp_path):
    root = str(tmp_path / "artifacts")
    real = json.loads(_cli("train", "--config", str(config_3b), "--dry-run", "--json").stdout)
    assert real["estimate"]["chosen"]["flavor"] == "a100-large"  # the real run is estimated...
    hub.stages, hub.log_lines = ["COMPLETED"], ["JOB_HOST {}", "the job ended without a word"]
    result = _cli("train", "--config", str(config_3b), "--smoke", "--wait", "--artifacts-dir", root)
    assert result.exit_code == 1 and "has no SMOKE_SUMMARY line" in _err(result)
    assert "smoke passed" not in _err(result) and "the real run" not in _err(result)
    assert [e["event"] for e in Ledger(root).read()] == ["submitted", "finished"]
    submitted = Ledger(root).read()[0]
    assert submitted["details"].get("estimate") is None  # the real run's estimate is not a cpu-basic job's


def test_an_evals_config_hash_is_one_in_the_ledger_and_in_its_report(
    hub, job_side, eval_data_dir, tmp_path, capsys, monkeypatch
):
    """Where a job runs is not part of what it computes: on either flavor the ledger's `submitted` and `evaluated`
    lines carry the hash the job's own eval_report.json records, and it is the same hash on both flavors."""
    monkeypatch.setattr(stage_module, "JOB_OUT_ROOT", str(tmp_path / "container"))  # the job's folder, here
    monkeypatch.delenv("HIDDENPARAMS_FLAVOR", raising=False)  # the jobs run here, on this machine's CPU
    hashes = {}
    for flavor in ("a10g-small", "a100-large"):
        root, out = str(tmp_path / flavor), tmp_path / "container" / "eval"
        hub.requests.clear()
        result = eval_on_hub(
            eval_data_dir,
            "--flavor",
            flavor,
            "--namespace",
            NS,
            "--max-rows",
            "3",
            "--temperature",
            "0.7",
            "--seed",
            "3",
            "--artifacts-dir",
            root,
        )
        assert result.exit_code == 0, result.output
        body, args = posted_job(hub)
        assert body["flavor"] == flavor
        shutil.rmtree(out, ignore_errors=True)
        assert eval_job.main(args) == 0
        printed = capsys.readouterr().out
        report = json.loads((out / "eval_report.json").read_text())
        assert report["decoding"]["mode"] == "sampling" and report["decoding"]["seed"] == 3
        hub.stages, hub.log_lines = ["COMPLETED"], printed.rstrip().splitlines()
        _cli("status", "--artifacts-dir", root)
        submitted, *_, evaluated = Ledger(root).read()
        assert submitted["flavor"] == flavor and evaluated["event"] == "evaluated"
        assert submitted["config_hash"] == evaluated["config_hash"] == report["provenance"]["config_hash"]
        hashes[flavor] = submitted["config_hash"]
    assert len(set(hashes.values())) == 1, hashes
