"""The hf-jobs backend end to end, offline: HTTP is mocked at huggingface_hub's transport and nowhere else.

`FakeHub` answers the Hub endpoints the backend uses (jobs, logs as server-sent events, metrics, model and dataset
info, repo tree, repo creation and commits) and records every request, so the tests can check what was sent.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import constants, set_client_factory
from huggingface_hub.utils._http import default_client_factory
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.jobs import HfJobsBackend, JobError, JobSpec
from hiddenparams.jobs.hf import BOOT, MAX_INLINE_SCRIPT_BYTES, SCRIPT_ENV, flavor_gpus, timeout_seconds
from hiddenparams.jobs.uv_script import build_uv_script
from hiddenparams.ledger import Ledger

TOKEN = "hf_" + "Lk3Jh5Gf7Ds9Aq2Wz4Xc" * 2  # made up, token-shaped
NS = "alice"
BASE = "mistralai/Ministral-3-3B-Instruct-2512"
STAND_IN = '''\
# /// script
# requires-python = ">=3.11"
# dependencies = ["pyyaml>=6"]
# ///
"""A stand-in job: proves the embedded package is importable and echoes its arguments."""
import sys

import hiddenparams.config

print("config module from", hiddenparams.config.__file__)
print("args", sys.argv[1:])
'''


@dataclass
class FakeHub:
    stages: list[str] = field(default_factory=lambda: ["RUNNING", "COMPLETED"])  # successive inspect answers
    log_lines: list[str] = field(default_factory=lambda: ["loading model", "step 1 loss 2.31", "step 2 loss 1.07"])
    repo_files: dict[str, list[str]] = field(default_factory=dict)
    models: set[str] = field(default_factory=lambda: {BASE})
    fail: dict[str, int] = field(default_factory=dict)  # "METHOD /path regex" -> status code, 0: no connection
    requests: list[httpx2.Request] = field(default_factory=list)
    jobs: dict[str, dict] = field(default_factory=dict)

    def calls(self, method: str, pattern: str) -> list[httpx2.Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.url.path)]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        method, path = request.method, request.url.path
        for rule, code in self.fail.items():
            rule_method, rule_path = rule.split(" ", 1)
            if method == rule_method and re.fullmatch(rule_path, path):
                if code == 0:  # no answer at all
                    raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)
                message = "Invalid credentials in Authorization header" if code == 401 else f"fake failure {code}"
                return httpx2.Response(code, json={"error": message}, headers={"X-Error-Message": message})
        if match := re.fullmatch(rf"/api/jobs/{NS}", path):
            body = json.loads(request.content)
            job_id = f"job{len(self.jobs) + 1:04d}"
            self.jobs[job_id] = body
            return httpx2.Response(200, json=self._job(job_id, "SCHEDULING"))
        if match := re.fullmatch(rf"/api/jobs/{NS}/(\w+)(/logs|/metrics|/cancel)?", path):
            job_id, route = match.groups()
            if job_id not in self.jobs:
                return httpx2.Response(404, json={"error": "Job not found"})
            if route == "/logs":
                tail = int(request.url.params.get("tail", 0))
                lines = self.log_lines[-tail:] if tail else self.log_lines
                events = ["===== Job started =====", *lines]
                body = "".join(
                    f"data: {json.dumps({'data': line, 'timestamp': '2026-05-01T10:00:00Z'})}\n\n" for line in events
                )
                return httpx2.Response(200, text=body, headers={"content-type": "text/event-stream"})
            if route == "/metrics":
                sample = {"cpu_usage_pct": 40, "memory_used_bytes": 1, "gpus": {"g0": {"utilization": 97}}}
                return httpx2.Response(200, text=f"event: metric\ndata: {json.dumps(sample)}\n\n")
            if route == "/cancel":
                self.stages = ["CANCELED"]
                return httpx2.Response(200)
            stage = self.stages.pop(0) if len(self.stages) > 1 else self.stages[0]
            return httpx2.Response(200, json=self._job(job_id, stage))
        if match := re.fullmatch(r"/api/models/([\w.-]+/[\w.-]+)/tree/main", path):
            repo = match.group(1)
            if repo not in self.repo_files:
                return httpx2.Response(
                    404, json={"error": "Repository not found"}, headers={"X-Error-Code": "RepoNotFound"}
                )
            return httpx2.Response(
                200, json=[{"type": "file", "path": p, "oid": "0", "size": 1} for p in self.repo_files[repo]]
            )
        if match := re.fullmatch(r"/api/models/([\w.-]+/[\w.-]+)", path):
            if match.group(1) not in self.models:
                return httpx2.Response(
                    404, json={"error": "Repository not found"}, headers={"X-Error-Code": "RepoNotFound"}
                )
            return httpx2.Response(200, json={"id": match.group(1), "sha": "0" * 40, "private": False})
        if path == "/api/repos/create":
            body = json.loads(request.content)
            return httpx2.Response(
                200, json={"url": f"https://huggingface.co/datasets/{body['organization']}/{body['name']}"}
            )
        if re.fullmatch(r"/api/datasets/[\w.-]+/[\w.-]+/preupload/main", path):
            files = json.loads(request.content)["files"]
            return httpx2.Response(
                200,
                json={"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]},
            )
        if match := re.fullmatch(r"/api/datasets/([\w.-]+/[\w.-]+)/commit/main", path):
            url = f"https://huggingface.co/datasets/{match.group(1)}/commit/{'1' * 40}"
            return httpx2.Response(200, json={"commitUrl": url, "commitOid": "1" * 40})
        return httpx2.Response(404, json={"error": f"FakeHub does not serve {method} {path}"})

    def _job(self, job_id: str, stage: str) -> dict:
        spec = self.jobs[job_id]
        return {
            "id": job_id,
            "createdAt": "2026-05-01T10:00:00.000Z",
            "owner": {"id": "u1", "name": NS, "type": "user"},
            "status": {"stage": stage, "message": "exit code 1" if stage == "ERROR" else None},
            "dockerImage": spec.get("dockerImage"),
            "command": spec["command"],
            "environment": spec["environment"],
            "flavor": spec["flavor"],
        }


@pytest.fixture
def hub(monkeypatch, tmp_path):
    fake = FakeHub()
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # `make test` sets HF_HUB_OFFLINE=1; the mock is offline
    monkeypatch.chdir(tmp_path)
    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(fake)))
    yield fake
    set_client_factory(default_client_factory)


@pytest.fixture
def data_dir(tmp_path):
    data = tmp_path / "converted"
    data.mkdir()
    row = {
        "prompt": [{"role": "user", "content": "calm piano"}],
        "completion": [{"role": "assistant", "content": "{}"}],
    }
    for split in ("train", "validation"):
        (data / f"{split}.jsonl").write_text(json.dumps(row) + "\n")
    return data


@pytest.fixture
def config_3b(tmp_path, data_dir):
    path = tmp_path / "ministral-3-3b.yaml"
    path.write_text(
        f"model_id: {BASE}\ndata_dir: {data_dir}\noutput_dir: runs/ministral\nhub_model_id: {NS}/ministral-hp\n"
        "backend: hf-jobs\nflavor: a100-large\ntimeout: 6h\nlora_r: 16\n"
    )
    return path


def _cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert TOKEN not in "".join(result.output.split())  # rich wraps long lines: a split token must not hide
    assert "Traceback" not in result.output
    return result


def _err(result) -> str:
    """stderr as one line: rich wraps messages at the terminal width."""
    return " ".join(result.stderr.split())


def test_dry_run_prints_the_full_spec_offline_without_the_token(hub, config_3b, tmp_path):
    result = _cli("train", "--config", str(config_3b), "--dry-run", "--json", "--artifacts-dir", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    assert hub.requests == []  # offline: not even a token check against the Hub
    assert (spec["backend"], spec["namespace"], spec["flavor"], spec["timeout_seconds"]) == (
        "hf-jobs",
        NS,
        "a100-large",
        6 * 3600,
    )
    assert spec["secrets"] == ["HF_TOKEN"]
    assert spec["model_repo"] == f"{NS}/ministral-hp"
    assert spec["data"] == {"job_reads": f"{NS}/ministral-hp-data", "uploaded_from": str(tmp_path / "converted")}
    script = spec["script"]
    assert script["name"] == "hiddenparams_train_job.py" and 0 < script["bytes"] < MAX_INLINE_SCRIPT_BYTES
    assert any(d.startswith("trl") for d in script["dependencies"]) and script["requires_python"]
    assert (
        "hiddenparams/train_job.py" in script["embedded_modules"]
        and "hiddenparams/config.py" in script["embedded_modules"]
    )
    assert "hiddenparams/model.py" in script["embedded_modules"]  # imported inside a function of train_job
    assert not any(m.startswith("hiddenparams/cli/") for m in script["embedded_modules"])
    assert spec["command"][:5] == ["uv", "run", "bash", "-c", BOOT]
    config = json.loads(spec["command"][spec["command"].index("--config-json") + 1])
    assert config["data_dir"] == f"{NS}/ministral-hp-data" and config["model_id"] == BASE
    assert not (tmp_path / "a").exists()  # nothing written either
    assert not _cli("train", "--config", str(config_3b), "--dry-run", "--artifacts-dir", str(tmp_path / "a")).exit_code


def test_dry_run_of_the_shipped_3b_config(hub, data_dir):
    config = Path(__file__).resolve().parents[1] / "configs" / "ministral-3-3b.yaml"
    result = _cli("train", "--config", str(config), "--data-dir", str(data_dir), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    assert (spec["flavor"], spec["timeout_seconds"], spec["secrets"]) == ("a100-large", 3 * 3600, ["HF_TOKEN"])
    assert spec["config"]["model_id"] == BASE and spec["model_repo"] == spec["config"]["hub_model_id"]
    assert spec["namespace"] == spec["model_repo"].split("/")[0] and "warnings" not in spec
    assert hub.requests == []


def test_submit_then_running_then_completed_then_status(hub, config_3b, tmp_path):
    root = str(tmp_path / "a")
    hub.repo_files[f"{NS}/ministral-hp"] = ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    dry = json.loads(_cli("train", "--config", str(config_3b), "--dry-run", "--json").stdout)
    result = _cli("train", "--config", str(config_3b), "--json", "--artifacts-dir", root)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["job_id"] == "job0001" and out["job_url"] == f"https://huggingface.co/jobs/{NS}/job0001"

    # The data went first to a private dataset repo, then the job; what was sent is what the dry run printed.
    create = json.loads(hub.calls("POST", "/api/repos/create")[0].content)
    assert (create["organization"], create["name"], create["type"], create["visibility"]) == (
        NS,
        "ministral-hp-data",
        "dataset",
        "private",
    )
    assert hub.calls("POST", rf"/api/datasets/{NS}/ministral-hp-data/commit/main")
    assert hub.calls("GET", rf"/api/models/{BASE}")  # the base model was checked before submitting
    (post,) = hub.calls("POST", f"/api/jobs/{NS}")
    body = json.loads(post.content)
    assert body["command"] == dry["command"] and body["flavor"] == "a100-large" and body["timeoutSeconds"] == 6 * 3600
    assert body["secrets"] == {"HF_TOKEN": TOKEN}  # the one place the token goes, with the Authorization header
    assert body["environment"]["HF_HUB_DISABLE_EXPERIMENTAL_WARNING"] == "1"
    assert body["dockerImage"] == "ghcr.io/astral-sh/uv:python3.12-bookworm" and "volumes" not in body
    assert all(TOKEN not in json.dumps(v) for k, v in body.items() if k != "secrets")

    submitted = Ledger(root).read()[0]
    assert (submitted["event"], submitted["backend"], submitted["flavor"], submitted["model_repo"]) == (
        "submitted", "hf-jobs", "a100-large", f"{NS}/ministral-hp")  # fmt: skip
    assert submitted["job_url"] == out["job_url"] and submitted["config_hash"] == dry["config_hash"]

    running = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert running["state"] == "RUNNING" and running["metrics"]["gpus"]["g0"]["utilization"] == 97
    done = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert done["state"] == "COMPLETED" and done["repo_kind"] == "adapter-only"
    assert done["model_url"] == f"https://huggingface.co/{NS}/ministral-hp"
    assert [r["event"] for r in Ledger(root).read()] == ["submitted", "state", "finished", "model_pushed"]
    table = _cli("status", "--artifacts-dir", root)
    assert table.exit_code == 0 and "job0001" in table.stdout and "adapter-only" in table.stdout
    assert TOKEN not in Ledger(root).path.read_text()


def test_a_job_ending_in_error_is_reported_with_its_log_tail(hub, config_3b, tmp_path):
    root = str(tmp_path / "a")
    hub.stages = ["ERROR"]
    hub.log_lines = ["loading model", "CUDA out of memory", f"while pushing with {TOKEN}"]
    result = _cli("train", "--config", str(config_3b), "--wait", "--artifacts-dir", root)
    assert result.exit_code == 1
    assert "CUDA out of memory" in _err(result) and "hiddenparams logs job0001" in _err(result)
    assert result.stdout.strip() == "job0001"
    finished = Ledger(root).read()[-1]
    assert finished["event"] == "finished" and finished["state"] == "ERROR"
    assert finished["details"]["read_log_with"] == "hiddenparams logs job0001"
    assert "CUDA out of memory" in finished["details"]["log_tail"]
    assert TOKEN not in Ledger(root).path.read_text()
    status = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert status["state"] == "ERROR" and status["log_hint"] == "hiddenparams logs job0001"
    assert "model: not on the Hub" in status["notes"][0]
    logs = _cli("logs", "job0001", "--artifacts-dir", root)
    assert logs.exit_code == 0 and "CUDA out of memory" in logs.stdout


def test_wait_follows_the_log_and_checks_the_stage(hub, config_3b, tmp_path):
    hub.stages = ["COMPLETED"]
    hub.repo_files[f"{NS}/ministral-hp"] = ["config.json", "model.safetensors"]
    result = _cli("train", "--config", str(config_3b), "--wait", "--json", "--artifacts-dir", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "COMPLETED"
    assert "step 2 loss 1.07" in _err(result) and "Job started" not in _err(result)
    assert Ledger(tmp_path / "a").read()[-1]["repo_kind"] == "full"


def test_cancel_through_the_jobs_api(hub, config_3b, tmp_path):
    root = str(tmp_path / "a")
    hub.stages = ["RUNNING"]
    job_id = json.loads(_cli("train", "--config", str(config_3b), "--json", "--artifacts-dir", root).stdout)["job_id"]
    result = _cli("cancel", job_id, "--json", "--artifacts-dir", root)
    assert result.exit_code == 0 and json.loads(result.stdout)["stage"] == "CANCELED"
    assert hub.calls("POST", f"/api/jobs/{NS}/{job_id}/cancel")
    assert Ledger(root).find(job_id).state == "CANCELED"


@pytest.mark.parametrize(
    ("rule", "code", "expected"),
    [
        (f"POST /api/jobs/{NS}", 401, "HTTP 401: the Hub refused the token"),
        (f"POST /api/jobs/{NS}", 500, "HTTP 500: the Hub failed: retry later"),
        (f"POST /api/jobs/{NS}", 403, "HTTP 403"),
        (r"POST /api/repos/create", 401, "uploading"),
        (f"POST /api/jobs/{NS}", 0, "cannot reach the Hub (ConnectError"),
    ],
)
def test_hub_errors_are_clear_and_carry_no_token(hub, config_3b, tmp_path, rule, code, expected):
    hub.fail[rule] = code
    result = _cli("train", "--config", str(config_3b), "--artifacts-dir", str(tmp_path / "a"))
    assert result.exit_code == 1 and expected in _err(result)
    assert not Ledger(tmp_path / "a").read()  # nothing was submitted, nothing recorded


def test_a_model_that_is_not_there_stops_before_anything_is_sent(hub, config_3b, tmp_path):
    hub.models = set()
    result = _cli("train", "--config", str(config_3b), "--artifacts-dir", str(tmp_path / "a"))
    assert result.exit_code == 1 and f"model_id '{BASE}'" in _err(result) and "no such model on the Hub" in _err(result)
    assert not hub.calls("POST", r"/api/.*")


def test_status_survives_an_unreachable_job(hub, config_3b, tmp_path):
    root = str(tmp_path / "a")
    _cli("train", "--config", str(config_3b), "--artifacts-dir", root)
    hub.fail[f"GET /api/jobs/{NS}/job0001"] = 404
    row = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert row["state"] == "SCHEDULING" and "HTTP 404" in row["notes"][0]


def test_no_token_is_a_clear_error_and_no_request_is_made(hub, config_3b, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    result = _cli("train", "--config", str(config_3b), "--artifacts-dir", str(tmp_path / "a"))
    assert result.exit_code == 1 and "no Hugging Face token" in _err(result) and "hf auth login" in _err(result)
    assert hub.requests == []
    dry = _cli("train", "--config", str(config_3b), "--dry-run", "--json")
    assert dry.exit_code == 0 and "no Hugging Face token" in json.loads(dry.stdout)["warnings"][0]


def test_bad_input_is_refused_before_anything_is_sent(hub, config_3b, data_dir, tmp_path):
    cases = {
        ("--set", "learning_rat=1e-4"): "unknown field(s) 'learning_rat'",
        ("--hub-model-id", "not a repo"): "hub_model_id",
        ("--hub-model-id", f"{NS}/" + "x" * 95): "the dataset repo for the training data",
        ("--model-id", str(tmp_path)): "a folder without config.json",
        ("--data-dir", str(tmp_path / "missing")): "no such folder",
    }
    for args, expected in cases.items():
        result = _cli("train", "--config", str(config_3b), *args)
        assert result.exit_code == 1 and expected in _err(result), (args, result.output)
    (data_dir / "train.jsonl").write_text("\n")
    result = _cli("train", "--config", str(config_3b))
    assert result.exit_code == 1 and "empty training set" in _err(result)
    assert hub.requests == []


def test_multi_gpu_flavors_run_under_accelerate(hub):
    assert (flavor_gpus("a10g-largex2"), flavor_gpus("h200x8"), flavor_gpus("l4x1"), flavor_gpus("cpu-xl")) == (
        2,
        8,
        1,
        1,
    )
    assert timeout_seconds("90m") == 5400 and timeout_seconds("3600") == 3600 and timeout_seconds("1.5h") == 5400
    spec = HfJobsBackend(NS).describe(JobSpec(entry="hiddenparams.train_job", flavor="a100x4", timeout="2h"))
    assert spec["num_processes"] == 4
    assert "NUM_PROCESSES = 4" in build_uv_script("hiddenparams.train_job", num_processes=4).text


def test_a_multi_gpu_script_relaunches_itself_once_under_accelerate(tmp_path):
    (tmp_path / "stand_in_job.py").write_text(STAND_IN)
    built = tmp_path / "built.py"
    built.write_text(build_uv_script(str(tmp_path / "stand_in_job.py"), num_processes=2).text)
    # Without GPUs accelerate falls back to one plain process: it must run once, not relaunch forever.
    run = subprocess.run(
        [sys.executable, str(built), "--beta"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert "accelerate launch" in run.stderr and run.stdout.count("args ['--beta']") == 1


def test_local_files_as_job_arguments_are_refused(hub, tmp_path):
    with pytest.raises(JobError, match="local file"):
        HfJobsBackend(NS).describe(JobSpec(entry="hiddenparams.train_job", args=["--config", "run.yaml"]))


def test_a_job_script_without_a_pep723_header_is_refused(tmp_path):
    (tmp_path / "bare.py").write_text("print('no header')\n")
    with pytest.raises(JobError, match="PEP 723"):
        build_uv_script(str(tmp_path / "bare.py"))
    with pytest.raises(JobError, match="not a module of the hiddenparams package"):
        build_uv_script("hiddenparams.nope.deeper")


def test_the_job_command_runs_the_embedded_code(hub, tmp_path):
    """Run exactly what the Hub would run: the POSTed command and environment, with `uv run` standing in for uv."""
    script = tmp_path / "stand_in_job.py"
    script.write_text(STAND_IN)
    HfJobsBackend(NS).submit(JobSpec(entry=str(script), args=["--alpha", "1"], name="probe"))
    body = json.loads(hub.calls("POST", f"/api/jobs/{NS}")[0].content)
    assert body["command"][:3] == ["uv", "run", "bash"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_uv = bin_dir / "uv"  # `uv run FILE ARGS` -> this interpreter (it has the header's dependencies)
    fake_uv.write_text(f'#!/bin/sh\n[ "$1" = run ] && shift\nexec {sys.executable} "$@"\n')
    fake_uv.chmod(fake_uv.stat().st_mode | stat.S_IXUSR)
    container_tmp = tmp_path / "container-tmp"
    container_tmp.mkdir()
    env = {**os.environ, **body["environment"], "PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(container_tmp)}
    run = subprocess.run(body["command"][2:], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert ".zip/hiddenparams/config.py" in run.stdout  # imported from the embedded zip, not the installed package
    assert "args ['--alpha', '1']" in run.stdout
    shipped = base64.b64decode(body["environment"][SCRIPT_ENV]).decode()
    assert (container_tmp / "stand_in_job.py").read_text() == shipped
    assert shipped.startswith('# /// script\n# requires-python = ">=3.11"\n# dependencies = ["pyyaml>=6"]\n# ///\n')
