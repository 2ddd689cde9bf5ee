"""The hf-jobs backend end to end, offline: HTTP is mocked at huggingface_hub's transport and nowhere else.

`FakeHub` answers the Hub endpoints the backend and the jobs use (jobs, logs as server-sent events, metrics, model
and dataset info, repo tree, repo creation, uploads and commits, and the files of a commit) and records every request,
so the tests can check what was sent. Where it matters it behaves like the service (tests/jobs/test_jobs_service.py): it
refuses a job whose flavor, timeout or secret names it would refuse, a cancel takes effect a few polls later, a log
stream can be cut mid-way, and a stage is whatever string a test puts in `stages`. Uploads go as they go to the Hub:
binary files (a wheel, safetensors) through LFS, and a commit that carries a binary file inline, or points at an LFS
object never uploaded, is refused.
"""

from __future__ import annotations

import base64
import dataclasses
import fnmatch
import hashlib
import importlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from urllib.parse import unquote
from urllib.request import urlopen

import httpx2
import pytest
import yaml
from huggingface_hub import JobHardware, constants, set_client_factory
from huggingface_hub.utils._http import default_client_factory
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.hub import timeout_seconds
from hiddenparams.jobs import HfJobsBackend, JobError, JobSpec
from hiddenparams.jobs import hf as hf_module
from hiddenparams.jobs.hf import AT_SUBMIT, flavor_gpus
from hiddenparams.ledger import Ledger
from hiddenparams.provenance import code_version

TOKEN = "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"  # made up, shaped as a Hugging Face token: hf_ and 34 letters
NS = "alice"
BASE = "mistralai/Ministral-3-3B-Instruct-2512"
COMMIT = "1" * 40  # the commit id FakeHub answers for every upload
STAND_IN = '''\
# /// script
# requires-python = ">=3.11"
# dependencies = ["torch==2.13.0", "pyyaml==6.0.4"]
#
# [[tool.uv.index]]
# name = "pytorch"
# url = "https://download.pytorch.org/whl/cu126"
# explicit = true
#
# [tool.uv.sources]
# torch = { index = "pytorch" }
# ///
"""A stand-in job: starts as every job does, then says where its package came from and echoes its arguments."""
import sys

import hiddenparams
from hiddenparams.jobs.preflight import job_start

job_start()
print("package from", hiddenparams.__file__)
print("args", sys.argv[1:])
'''


@dataclass
class FakeClock:
    """The clock of huggingface_hub's and the backend's waits: a sleep passes at once and is recorded."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# Files the Hub stores through LFS whatever their content: the patterns of the .gitattributes it gives every new repo.
LFS_PATTERNS = (
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
)
LFS_MIN_SIZE = 10 * 1024 * 1024  # and any file from 10 MiB up
LFS_UPLOAD = "https://hub-lfs.example/upload"  # where the LFS batch answer sends the bytes (the Hub's is S3)
_REPO = r"(models|datasets)/([\w.-]+/[\w.-]+)"


def upload_mode(path: str, sample: bytes, size: int) -> str:
    """What the Hub's preupload endpoint answers for a file: "lfs" for a binary one (a NUL byte in its first 512
    bytes: a wheel, safetensors), a large one or one the repo's .gitattributes sends to LFS; "regular" otherwise."""
    lfs = b"\0" in sample or size >= LFS_MIN_SIZE or any(fnmatch.fnmatch(path, p) for p in LFS_PATTERNS)
    return "lfs" if lfs else "regular"


def _error(code: int, message: str) -> httpx2.Response:
    return httpx2.Response(code, json={"error": message}, headers={"X-Error-Message": message})


@dataclass
class FakeHub:
    stages: list[str] = field(default_factory=lambda: ["RUNNING", "COMPLETED"])  # successive inspect answers
    log_lines: list[str] = field(default_factory=lambda: ["loading model", "step 1 loss 2.31", "step 2 loss 1.07"])
    repo_files: dict[str, list[str]] = field(default_factory=dict)
    models: set[str] = field(default_factory=lambda: {BASE})
    # "METHOD /path regex" -> status code; 0: no connection, -1: no answer in time (a read timeout)
    fail: dict[str, int] = field(default_factory=dict)
    datasets: dict[str, bool] = field(default_factory=dict)  # existing dataset repos -> private?
    committed: dict[str, dict[str, bytes]] = field(default_factory=dict)  # "repo@commit" -> {path: content}
    lfs: dict[str, bytes] = field(default_factory=dict)  # LFS objects uploaded: sha256 -> content
    preupload_answer: str | None = None  # one uploadMode for every file (the commit still checks); None: the Hub's
    log_cuts: list[str] = field(default_factory=list)  # per log request: "decode" or "drop" cuts it mid-way
    cancel_delay: int = 2  # the job reports its stage this many more times after a cancel, then CANCELED
    requests: list[httpx2.Request] = field(default_factory=list)
    jobs: dict[str, dict] = field(default_factory=dict)
    clock: FakeClock = field(default_factory=lambda: FakeClock())
    # GET /api/jobs/hardware, as the service answers it (huggingface_hub's JobHardwareInfo); prices unlike the dated
    # table's, so a test can tell which one was used
    hardware: list[dict] = field(
        default_factory=lambda: [
            {
                "name": "a100-large",
                "prettyName": "Nvidia A100 - large",
                "cpu": "12 vCPU",
                "ram": "142 GB",
                "accelerator": {
                    "type": "gpu",
                    "model": "A100",
                    "quantity": "1",
                    "vram": "80 GB",
                    "manufacturer": "Nvidia",
                },
                "unitCostMicroUSD": 50000,
                "unitCostUSD": 0.05,
                "unitLabel": "minute",
            },
            {
                "name": "cpu-basic",
                "prettyName": "CPU Basic",
                "cpu": "2 vCPU",
                "ram": "16 GB",
                "accelerator": None,
                "unitCostMicroUSD": 167,
                "unitCostUSD": 0.000167,
                "unitLabel": "minute",
            },
        ]
    )

    def calls(self, method: str, pattern: str) -> list[httpx2.Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.url.path)]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        request.read()  # an upload's body is a stream: read it once, for the handler and for the tests
        self.requests.append(request)
        method, path = request.method, request.url.path
        for rule, code in self.fail.items():
            rule_method, rule_path = rule.split(" ", 1)
            if method == rule_method and re.fullmatch(rule_path, path):
                if code == 0:  # no answer at all
                    raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)
                if code == -1:
                    raise httpx2.ReadTimeout("The read operation timed out", request=request)
                message = "Invalid credentials in Authorization header" if code == 401 else f"fake failure {code}"
                return httpx2.Response(code, json={"error": message}, headers={"X-Error-Message": message})
        if path == "/api/jobs/hardware":
            return httpx2.Response(200, json=self.hardware)
        if match := re.fullmatch(rf"/api/jobs/{NS}", path):
            body = json.loads(request.content)
            if refusal := _refusal(body):
                return httpx2.Response(400, json={"error": refusal}, headers={"X-Error-Message": refusal})
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
                chunks = [
                    f"data: {json.dumps({'data': line, 'timestamp': '2026-05-01T10:00:00Z'})}\n\n".encode()
                    for line in events
                ]
                headers = {"content-type": "text/event-stream"}
                if self.log_cuts:
                    cut = self.log_cuts.pop(0)
                    return httpx2.Response(200, stream=_CutStream(chunks[: len(chunks) // 2], cut), headers=headers)
                return httpx2.Response(200, content=b"".join(chunks), headers=headers)
            if route == "/metrics":
                sample = {"cpu_usage_pct": 40, "memory_used_bytes": 1, "gpus": {"g0": {"utilization": 97}}}
                return httpx2.Response(200, text=f"event: metric\ndata: {json.dumps(sample)}\n\n")
            if route == "/cancel":
                self.stages = [self.stages[0]] * self.cancel_delay + ["CANCELED"]
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
        if match := re.fullmatch(r"/api/datasets/([\w.-]+/[\w.-]+)", path):
            if match.group(1) not in self.datasets:
                return httpx2.Response(
                    404, json={"error": "Repository not found"}, headers={"X-Error-Code": "RepoNotFound"}
                )
            private = self.datasets[match.group(1)]
            return httpx2.Response(200, json={"id": match.group(1), "sha": "0" * 40, "private": private})
        if path == "/api/repos/create":
            body = json.loads(request.content)
            repo = f"{body['organization']}/{body['name']}"
            if body.get("type") == "dataset":
                self.datasets.setdefault(repo, body.get("visibility") == "private")
                return httpx2.Response(200, json={"url": f"https://huggingface.co/datasets/{repo}"})
            self.models.add(repo)
            return httpx2.Response(200, json={"url": f"https://huggingface.co/{repo}"})
        if path == "/api/validate-yaml":  # a commit with a README.md: its metadata block is checked first
            card = re.match(r"---\n(.*?)\n---\n", json.loads(request.content)["content"], re.DOTALL)
            try:
                metadata = yaml.safe_load(card.group(1)) if card else None
            except yaml.YAMLError as exc:
                return httpx2.Response(400, json={"errors": [{"message": f"Invalid YAML in the card: {exc}"}]})
            if card and not isinstance(metadata, dict):
                return httpx2.Response(400, json={"errors": [{"message": "the card's metadata is not a mapping"}]})
            warnings = [] if metadata else [{"message": "Empty or missing yaml metadata in repo card"}]
            return httpx2.Response(200, json={"errors": [], "warnings": warnings})
        if re.fullmatch(rf"/api/{_REPO}/preupload/main", path):
            files = json.loads(request.content)["files"]
            modes = [
                (f["path"], self.preupload_answer or upload_mode(f["path"], base64.b64decode(f["sample"]), f["size"]))
                for f in files
            ]
            return httpx2.Response(
                200, json={"files": [{"path": p, "uploadMode": mode, "shouldIgnore": False} for p, mode in modes]}
            )
        if re.fullmatch(r"/([\w.-]+/)?[\w.-]+/[\w.-]+\.git/info/lfs/objects/batch", path):
            body = json.loads(request.content)
            if body.get("operation") != "upload" or body.get("hash_algo") != "sha256":
                return _error(400, f"unsupported LFS batch request {body.get('operation')}/{body.get('hash_algo')}")
            objects = [
                {
                    "oid": o["oid"],
                    "size": o["size"],
                    "authenticated": True,
                    "actions": {"upload": {"href": f"{LFS_UPLOAD}/{o['oid']}", "expires_in": 900}},
                }
                for o in body["objects"]
            ]
            return httpx2.Response(200, json={"transfer": "basic", "objects": objects, "hash_algo": "sha256"})
        if request.url.host == "hub-lfs.example" and method == "PUT":
            oid = path.rsplit("/", 1)[-1]
            if hashlib.sha256(request.content).hexdigest() != oid:
                return _error(400, f"LFS object {oid}: the uploaded bytes have another sha256")
            self.lfs[oid] = request.content
            return httpx2.Response(200)
        if match := re.fullmatch(rf"/api/{_REPO}/commit/main", path):
            return self._commit(match.group(1), match.group(2), request.content)
        if match := re.fullmatch(rf"/api/{_REPO}/(revision|tree|paths-info)/(\w+)(/.*)?", path):
            kind, repo, route, revision, under = match.groups()
            files = self.committed.get(f"{repo}@{revision}")
            if files is None:
                return httpx2.Response(
                    404, json={"error": f"Revision not found: {revision}"}, headers={"X-Error-Code": "RevisionNotFound"}
                )
            if route == "revision":
                siblings = [{"rfilename": name} for name in sorted(files)]
                return httpx2.Response(200, json={"id": repo, "sha": revision, "private": True, "siblings": siblings})
            if route == "paths-info":
                wanted = json.loads(request.content)["paths"] if request.content else []
                return httpx2.Response(200, json=self._entries(files, wanted, recursive=False))
            prefix = (under or "").strip("/")
            recursive = request.url.params.get("recursive") in ("1", "true", "True")
            return httpx2.Response(200, json=self._entries(files, [prefix], recursive=recursive, children=True))
        if match := re.fullmatch(r"/(datasets/)?([\w.-]+/[\w.-]+)/resolve/(\w+)/(.+)", path):
            content = self.committed.get(f"{match.group(2)}@{match.group(3)}", {}).get(unquote(match.group(4)))
            if content is None:
                return httpx2.Response(404, headers={"X-Error-Code": "EntryNotFound"})
            headers = {
                "X-Repo-Commit": match.group(3),
                "ETag": f'"{hashlib.sha256(content).hexdigest()}"',
                "Content-Length": str(len(content)),
            }
            return httpx2.Response(200, content=b"" if method == "HEAD" else content, headers=headers)
        return httpx2.Response(404, json={"error": f"FakeHub does not serve {method} {path}"})

    def _commit(self, kind: str, repo: str, content: bytes) -> httpx2.Response:
        """A commit as the Hub takes it: a file inline (base64) only when it is not binary, a binary one only as an
        `lfsFile` pointing at an LFS object uploaded before, with its sha256 and size."""
        files: dict[str, bytes] = {}
        for line in content.splitlines():
            key, value = json.loads(line)["key"], json.loads(line)["value"]
            if key == "file":
                data = base64.b64decode(value["content"])
                if upload_mode(value["path"], data[:512], len(data)) == "lfs":
                    why = "Your push was rejected because it contains binary files"
                    use = "Please use https://huggingface.co/docs/hub/xet to store binary files"
                    return _error(400, f"{why}. {use} ({value['path']})")
                files[value["path"]] = data
            elif key == "lfsFile":
                data = self.lfs.get(value["oid"])
                if data is None or len(data) != value["size"] or value.get("algo") != "sha256":
                    return _error(422, f"{value['path']}: LFS object {value['oid']} was never uploaded")
                files[value["path"]] = data
        self.committed[f"{repo}@{COMMIT}"] = files
        base = "https://huggingface.co" + ("/datasets" if kind == "datasets" else "")
        return httpx2.Response(200, json={"commitUrl": f"{base}/{repo}/commit/{COMMIT}", "commitOid": COMMIT})

    @staticmethod
    def _entries(files: dict[str, bytes], paths: list[str], recursive: bool, children: bool = False) -> list[dict]:
        """Tree entries (files and the folders between) of a commit: the entries at `paths`, or, with `children`,
        those under them (all the way down when `recursive`)."""
        entries: dict[str, dict] = {}
        for name, data in files.items():
            parts = name.split("/")
            for depth in range(1, len(parts) + 1):
                entry = "/".join(parts[:depth])
                if depth == len(parts):
                    sha = hashlib.sha256(data).hexdigest()
                    entries[entry] = {"type": "file", "path": entry, "oid": sha[:40], "size": len(data)}
                else:
                    entries.setdefault(entry, {"type": "directory", "path": entry, "oid": "0" * 40, "size": 0})
        if not children:
            return [entries[p] for p in paths if p in entries]
        (prefix,) = paths
        under = [e for p, e in entries.items() if not prefix or p.startswith(prefix + "/")]
        depth = prefix.count("/") + 1 if prefix else 0
        return sorted((e for e in under if recursive or e["path"].count("/") == depth), key=lambda e: e["path"])

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
            # A job runs from 10:01:00 and, once ended, has run 12 min 30 s: 13 billed minutes.
            **({"startedAt": "2026-05-01T10:01:00.000Z"} if stage != "SCHEDULING" else {}),
            **({"finishedAt": "2026-05-01T10:13:30.000Z"} if stage in ("COMPLETED", "ERROR", "CANCELED") else {}),
        }


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _refusal(body: dict) -> str | None:
    """Why the service would refuse this job spec (400), or None."""
    if body.get("flavor") not in {hardware.value for hardware in JobHardware}:
        return f"Invalid flavor: {body.get('flavor')}"
    timeout = body.get("timeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        return f"timeoutSeconds must be a positive integer, got {timeout!r}"
    for what in ("environment", "secrets"):
        values = body.get(what) or {}
        if not all(_ENV_NAME.fullmatch(k) and isinstance(v, str) for k, v in values.items()):
            return f"{what}: names must be environment variable names and values strings"
    return None


class _CutStream(httpx2.SyncByteStream):
    """A log stream that breaks after some events while the job runs on: "decode" is a body the client cannot decode
    (huggingface_hub stops following), "drop" a connection closed mid-body (it reconnects)."""

    def __init__(self, chunks: list[bytes], cut: str) -> None:
        self.chunks, self.cut = chunks, cut

    def __iter__(self):
        yield from self.chunks
        if self.cut == "decode":
            raise httpx2.DecodingError("Error -3 while decompressing data: invalid block type")
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete message body")


@pytest.fixture
def hub(monkeypatch, tmp_path):
    fake = FakeHub()
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # conftest's `offline` sets it; the mock is offline too
    # huggingface_hub 2.4 sends every "lfs" file through hf_xet when that package is installed, and hf_xet does its
    # own networking (in Rust), which no HTTP mock sees: HF_HUB_DISABLE_XET, huggingface_hub's documented switch,
    # makes it take the LFS protocol (batch, PUT, lfsFile commit), all through this transport.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.chdir(tmp_path)
    for module in (importlib.import_module("huggingface_hub.hf_api"), hf_module):  # polls and reconnects wait
        monkeypatch.setattr(module, "time", fake.clock)
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


def job_config(command: list[str]) -> dict:
    """The config a job command line hands its script: `--config-json`, then each `--set` after it (as the job reads
    them, jobs/script.py)."""
    config = json.loads(command[command.index("--config-json") + 1])
    for i, arg in enumerate(command):
        if arg == "--set":
            key, value = command[i + 1].split("=", 1)
            config[key] = value
    return config


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
    assert spec["data"]["job_reads"] == f"{NS}/ministral-hp-data"
    assert spec["data"]["uploaded_from"] == str(tmp_path / "converted")
    script = spec["script"]
    assert script["name"] == "train_job.py" and script["requires_python"]
    assert "torch==2.13.0" in script["dependencies"] and all("==" in d for d in script["dependencies"])
    assert script["indexes"][0]["url"] == "https://download.pytorch.org/whl/cu126"  # a100-large: the oldest CUDA
    assert spec["torch"] == {
        "version": "2.13.0",
        "build": "cu126",
        "index": script["indexes"][0]["url"],
        "driver_needed": "525.60",
    }
    code = spec["code"]
    assert code["wheel"] == f"hiddenparams-{code_version()}-py3-none-any.whl"
    assert code["repo"] == f"{NS}/ministral-hp-data"
    assert code["files"] == sorted([f"code/{code['wheel']}", "code/train_job.py", "train.jsonl", "validation.jsonl"])
    assert AT_SUBMIT in code["revision"] and spec["data"]["revision"].startswith("set at submit")
    resolve = f"https://huggingface.co/datasets/{NS}/ministral-hp-data/resolve/{AT_SUBMIT}/code"
    assert spec["command"][:5] == [
        "uv",
        "run",
        "--with",
        f"{resolve}/{code['wheel'].replace('+', '%2B')}",
        f"{resolve}/train_job.py",
    ]
    assert spec["command"][-2:] == ["--set", f"data_revision={AT_SUBMIT}"]
    assert spec["env"]["HIDDENPARAMS_FLAVOR"] == "a100-large"
    config = json.loads(spec["command"][spec["command"].index("--config-json") + 1])
    assert config["data_dir"] == f"{NS}/ministral-hp-data" and config["model_id"] == BASE
    assert not (tmp_path / "a").exists()  # nothing written either
    assert not _cli("train", "--config", str(config_3b), "--dry-run", "--artifacts-dir", str(tmp_path / "a")).exit_code


def test_dry_run_of_the_shipped_3b_config(hub, data_dir):
    config = Path(__file__).resolve().parents[2] / "configs" / "ministral-3-3b.yaml"
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
    assert hub.calls("GET", rf"/api/models/{BASE}")  # the base model was checked before submitting
    assert len(hub.calls("POST", rf"/api/datasets/{NS}/ministral-hp-data/commit/main")) == 1  # code and data together
    assert sorted(hub.committed[f"{NS}/ministral-hp-data@{COMMIT}"]) == dry["code"]["files"]
    shipped_script = hub.committed[f"{NS}/ministral-hp-data@{COMMIT}"]["code/train_job.py"].decode()
    assert f'# url = "{dry["torch"]["index"]}"' in shipped_script  # the index the dry run showed is the one shipped
    (post,) = hub.calls("POST", f"/api/jobs/{NS}")
    body = json.loads(post.content)
    assert body["command"] == [part.replace(AT_SUBMIT, COMMIT) for part in dry["command"]]
    assert body["flavor"] == "a100-large" and body["timeoutSeconds"] == 6 * 3600
    assert body["environment"]["HIDDENPARAMS_FLAVOR"] == "a100-large"
    assert body["secrets"] == {"HF_TOKEN": TOKEN}  # the one place the token goes, with the Authorization header
    assert body["environment"]["HF_HUB_DISABLE_EXPERIMENTAL_WARNING"] == "1"
    assert body["dockerImage"] == "ghcr.io/astral-sh/uv:python3.12-bookworm" and "volumes" not in body
    assert all(TOKEN not in json.dumps(v) for k, v in body.items() if k != "secrets")

    submitted = Ledger(root).read()[0]
    assert (submitted["event"], submitted["backend"], submitted["flavor"], submitted["model_repo"]) == (
        "submitted",
        "hf-jobs",
        "a100-large",
        f"{NS}/ministral-hp",
    )
    assert submitted["job_url"] == out["job_url"] and submitted["config_hash"] == dry["config_hash"]
    assert (submitted["details"]["data_revision"], submitted["details"]["code_revision"]) == (COMMIT, COMMIT)
    assert (submitted["details"]["wheel"], submitted["details"]["commit"]) == (
        dry["code"]["wheel"],
        dry["code"]["commit"],
    )

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


def test_multi_gpu_flavors_run_under_accelerate(hub, config_3b):
    assert (flavor_gpus("a10g-largex2"), flavor_gpus("h200x8"), flavor_gpus("l4x1"), flavor_gpus("cpu-xl")) == (
        2,
        8,
        1,
        1,
    )
    assert timeout_seconds("90m") == 5400 and timeout_seconds("3600") == 3600 and timeout_seconds("1.5h") == 5400
    train = _cli("train", "--config", str(config_3b), "--flavor", "a100x4", "--dry-run", "--json")
    spec = json.loads(train.stdout)
    assert spec["num_processes"] == 4 and spec["env"]["HIDDENPARAMS_NUM_PROCESSES"] == "4"
    # An eval or a merge runs once, on one GPU: N copies of it would each write the same results.
    merge = _cli(
        "merge",
        "--base-model-id",
        BASE,
        "--adapter-model-id",
        f"{NS}/ministral-hp",
        "--out",
        "m",
        "--push-to",
        f"{NS}/merged",
        "--backend",
        "hf-jobs",
        "--flavor",
        "a100x4",
        "--dry-run",
        "--json",
    )
    spec = json.loads(merge.stdout)
    assert spec["num_processes"] == 1 and spec["env"]["HIDDENPARAMS_NUM_PROCESSES"] == "1"


def test_a_multi_gpu_job_relaunches_itself_once_under_accelerate(tmp_path):
    (tmp_path / "stand_in_job.py").write_text(STAND_IN)
    env = {**os.environ, "HIDDENPARAMS_NUM_PROCESSES": "2", "HIDDENPARAMS_FLAVOR": "cpu-basic"}
    # Without GPUs accelerate falls back to one plain process: it must run once, not relaunch forever.
    command = [sys.executable, "stand_in_job.py", "--beta"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env, check=False)
    assert run.returncode == 0, run.stderr
    assert "accelerate launch" in run.stderr and run.stdout.count("args ['--beta']") == 1
    assert run.stdout.count("JOB_HOST ") == 1


def test_local_files_as_job_arguments_are_refused(hub, tmp_path):
    with pytest.raises(JobError, match="local file"):
        HfJobsBackend(NS).describe(JobSpec(entry="hiddenparams.jobs.train_job", args=["--config", "run.yaml"]))


def test_a_job_script_without_a_pep723_header_is_refused(tmp_path):
    (tmp_path / "bare.py").write_text("print('no header')\n")
    with pytest.raises(JobError, match="PEP 723"):
        HfJobsBackend(NS).describe(JobSpec(entry=str(tmp_path / "bare.py")))
    with pytest.raises(JobError, match="not a module of the hiddenparams package"):
        HfJobsBackend(NS).describe(JobSpec(entry="hiddenparams.nope.deeper"))


def test_private_data_never_goes_to_a_public_repo(hub, config_3b, tmp_path):
    hub.datasets[f"{NS}/ministral-hp-data"] = False  # exists, and is public
    result = _cli("train", "--config", str(config_3b), "--artifacts-dir", str(tmp_path / "a"))
    assert result.exit_code == 1 and f"{NS}/ministral-hp-data is public: refusing to upload" in _err(result)
    assert not hub.calls("POST", r"/api/.*") and not Ledger(tmp_path / "a").read()


@pytest.fixture
def hub_files(hub, monkeypatch):
    """The committed files of the mocked Hub, served over real HTTP on 127.0.0.1 at their resolve URLs, as the
    job's uv (or pip) downloads them; huggingface_hub builds its URLs for this server."""

    class Resolve(BaseHTTPRequestHandler):
        def do_GET(self):
            match = re.fullmatch(r"/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", unquote(self.path))
            content = match and hub.committed.get(f"{match.group(1)}@{match.group(2)}", {}).get(match.group(3))
            self.send_response(200 if content is not None else 404)
            self.send_header("Content-Length", str(len(content or b"")))
            self.end_headers()
            self.wfile.write(content or b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Resolve)
    Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    yield endpoint
    server.shutdown()


def test_the_job_boots_the_wheel_of_the_submitting_checkout(hub, hub_files, tmp_path):
    """Run the POSTed command as the job would: the wheel and the script come from their resolve URLs at the
    submitted commit; pip installs the wheel (uv's `--with`), the script runs on the installed package."""
    script = tmp_path / "stand_in_job.py"
    script.write_text(STAND_IN)
    HfJobsBackend(NS).submit(JobSpec(entry=str(script), args=["--alpha", "1"], name="probe", flavor="cpu-basic"))
    body = json.loads(hub.calls("POST", f"/api/jobs/{NS}")[0].content)
    uv, run, with_, wheel_url, script_url, *args = body["command"]
    assert (uv, run, with_, args) == ("uv", "run", "--with", ["--alpha", "1"])
    assert wheel_url.startswith(f"{hub_files}/datasets/{NS}/hiddenparams-jobs/resolve/{COMMIT}/code/hiddenparams-")
    site = tmp_path / "job-site"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", site, wheel_url]
    assert subprocess.run(install, capture_output=True, text=True, timeout=120, check=False).returncode == 0
    (tmp_path / "job.py").write_bytes(urlopen(script_url).read())
    assert 'url = "https://download.pytorch.org/whl/cpu"' in (tmp_path / "job.py").read_text()  # cpu-basic: CPU build
    env = {**os.environ, **body["environment"], "PYTHONPATH": str(site)}
    command = [sys.executable, "job.py", *args]
    job = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert job.returncode == 0, job.stderr
    assert f"package from {site}" in job.stdout and "args ['--alpha', '1']" in job.stdout
    host = json.loads(next(line for line in job.stdout.splitlines() if line.startswith("JOB_HOST "))[9:])
    assert host["hiddenparams"] == code_version() and host["flavor"] == "cpu-basic"  # the submitting commit


def test_the_training_job_takes_the_data_revision_it_was_given(config_3b):
    from hiddenparams.jobs.script import parse_job_args
    from hiddenparams.jobs.train import TRAIN

    cfg = parse_job_args(TRAIN, ["--config", str(config_3b), "--set", f"data_revision={COMMIT}"])
    assert cfg.data_revision == COMMIT and cfg.hub_model_id == f"{NS}/ministral-hp"
    assert cfg.config_hash() == dataclasses.replace(cfg, data_revision=None).config_hash()  # the data's sha256 says


def test_the_wheel_ships_through_lfs_and_the_rest_inline_as_the_hub_takes_them(hub, config_3b, tmp_path):
    result = _cli("train", "--config", str(config_3b), "--json", "--artifacts-dir", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    repo = f"{NS}/ministral-hp-data"
    shipped = hub.committed[f"{repo}@{COMMIT}"]
    (wheel_path,) = [name for name in shipped if name.endswith(".whl")]
    wheel = shipped[wheel_path]
    (preupload,) = hub.calls("POST", rf"/api/datasets/{repo}/preupload/main")
    asked = {
        f["path"]: upload_mode(f["path"], base64.b64decode(f["sample"]), f["size"])
        for f in json.loads(preupload.content)["files"]
    }
    assert asked == {
        wheel_path: "lfs",
        "code/train_job.py": "regular",
        "train.jsonl": "regular",
        "validation.jsonl": "regular",
    }
    # The LFS protocol: the batch endpoint first, the bytes to the URL it answered, then the commit points at them.
    oid = hashlib.sha256(wheel).hexdigest()
    (batch,) = hub.calls("POST", rf"/datasets/{repo}\.git/info/lfs/objects/batch")
    assert json.loads(batch.content)["objects"] == [{"oid": oid, "size": len(wheel)}]
    (put,) = [r for r in hub.requests if r.method == "PUT"]
    assert str(put.url) == f"{LFS_UPLOAD}/{oid}" and put.content == wheel
    assert "authorization" not in put.headers  # the signed URL is the credential: no token to the storage
    (commit,) = hub.calls("POST", rf"/api/datasets/{repo}/commit/main")
    entries = {json.loads(line)["value"].get("path"): json.loads(line) for line in commit.content.splitlines()[1:]}
    pointer = {"path": wheel_path, "algo": "sha256", "oid": oid, "size": len(wheel)}
    assert entries[wheel_path] == {"key": "lfsFile", "value": pointer}
    assert {entries[p]["key"] for p in entries if p != wheel_path} == {"file"}
    with zipfile.ZipFile(io.BytesIO(wheel)) as shipped_wheel:  # what the job's `uv run --with` installs
        assert "hiddenparams/jobs/train_job.py" in shipped_wheel.namelist()


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("PUT", " (Error while uploading 'code/hiddenparams-"),  # the storage refuses the bytes (an expired URL)
        ("inline", ": HTTP 400: Bad request for commit endpoint"),  # the Hub refuses a wheel sent inline
    ],
)
def test_a_refused_upload_stops_the_submit_before_the_job(hub, config_3b, tmp_path, broken, expected):
    if broken == "PUT":
        hub.fail["PUT /upload/[0-9a-f]+"] = 403
    else:  # "regular" for every file, as this fake once answered: the client sends the wheel inline, the Hub refuses
        hub.preupload_answer = "regular"
    result = _cli("train", "--config", str(config_3b), "--artifacts-dir", str(tmp_path / "a"))
    assert result.exit_code == 1, result.output
    assert f"uploading the job's code and data to the dataset {NS}/ministral-hp-data{expected}" in _err(result)
    reason = "HTTP 403" if broken == "PUT" else "Your push was rejected because it contains binary files"
    assert reason in _err(result)
    assert not hub.calls("POST", f"/api/jobs/{NS}") and not Ledger(tmp_path / "a").read()
