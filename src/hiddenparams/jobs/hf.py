"""The hf-jobs backend: `huggingface_hub.run_uv_job` on Hugging Face Jobs, state and logs from the Jobs API.

How the code reaches the job: `run_uv_job` uploads a *local* script file to the `{namespace}/jobs-artifacts` bucket
through hf_xet's own networking, which creates a bucket as a side effect and which no HTTP mock can see. Instead the
self-contained script (`uv_script.py`) travels inline, base64 in the job's environment: `run_uv_job` is given the
command `bash -c BOOT` (not a local file, so no upload), and BOOT decodes the script into the container and runs it
with `uv run`, which installs the dependencies of its PEP 723 header. Every request then goes through
huggingface_hub's HTTP client, and the dry run prints exactly what is sent. An environment value is limited to
128 KiB by Linux (MAX_ARG_STRLEN), hence `MAX_INLINE_SCRIPT_BYTES`; the script only carries the modules it imports.

The token only ever travels as the job's `HF_TOKEN` secret and in the Authorization header; `describe` shows secret
names, and every message that leaves this module is redacted.
"""

from __future__ import annotations

import base64
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx2
from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import OfflineModeIsEnabled

from ..hub import timeout_seconds  # re-exported: jobs.eval and the tests import it from here
from ..ledger import redact, redact_obj, register_secret
from .base import LOG_TAIL_LINES, JobError, JobHandle, JobSpec, JobStage, JobStatus
from .uv_script import UvScript, build_uv_script

HUB_URL = "https://huggingface.co"
UV_IMAGE = "ghcr.io/astral-sh/uv:python3.12-bookworm"  # huggingface_hub's default image for uv jobs, named here
SCRIPT_ENV = "HIDDENPARAMS_JOB_SCRIPT"
MAX_INLINE_SCRIPT_BYTES = 120_000  # base64 size; Linux refuses a single environment string over 128 KiB
# $0 is the script's name without ".py": run_uv_job treats an argument ending in .py as a local file to upload.
BOOT = f'f="${{TMPDIR:-/tmp}}/$0.py" && printf %s "${SCRIPT_ENV}" | base64 -d > "$f" && exec uv run "$f" "$@"'
# Arguments run_uv_job would upload through the jobs-artifacts bucket (existing files) or reject as missing files.
_FILE_LIKE_SUFFIXES = (".py", ".sh", ".yaml", ".yml", ".toml")
NO_TOKEN = "no Hugging Face token: run `hf auth login` or set HF_TOKEN (a write token with access to Jobs)"
_MULTI_GPU_FLAVOR = re.compile(r"x(\d+)$")  # a10g-largex2, l4x4, h200x8; `cpu-xl` has no count
# What a Hub call raises when it fails: an HTTP error answer (HfHubHTTPError is one), no network, or offline mode.
HUB_ERRORS = (httpx2.HTTPError, OfflineModeIsEnabled)


def job_url(namespace: str, job_id: str) -> str:
    return f"{HUB_URL}/jobs/{namespace}/{job_id}"


def flavor_gpus(flavor: str) -> int:
    """How many GPUs a flavor has, from its name: the job runs under accelerate when more than one."""
    match = _MULTI_GPU_FLAVOR.search(flavor)
    return int(match.group(1)) if match else 1


def require_token() -> str:
    """The token huggingface_hub would use (HF_TOKEN, else the saved login); a clear error when there is none."""
    token = get_token()
    if not token:
        raise JobError(NO_TOKEN)
    register_secret(token)
    return token


def hub_error(exc: Exception, doing: str) -> NoReturn:
    """Turn a Hub failure into a JobError that says what to do. Never includes the request headers."""
    if isinstance(exc, OfflineModeIsEnabled):
        raise JobError(f"{doing}: HF_HUB_OFFLINE is set; unset it to reach the Hub") from None
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is None:
        raise JobError(f"{doing}: cannot reach the Hub ({type(exc).__name__}: {exc})") from None
    server = getattr(exc, "server_message", None) or ""
    hint = {
        401: "the Hub refused the token: check `hf auth whoami`, and that the token may write and run Jobs",
        403: "the token is not allowed to do this in that namespace (a fine-grained token needs Jobs + write)",
        404: "not found: check the namespace, the job id or the repo id",
        429: "rate limited by the Hub: wait a minute and retry",
    }.get(status or 0, "the Hub failed: retry later" if status and status >= 500 else "")
    detail = f" ({server.strip()})" if server.strip() else ""
    raise JobError(f"{doing}: HTTP {status}: {hint or str(exc).splitlines()[0]}{detail}") from None


class HfJobsBackend:
    name = "hf-jobs"

    def __init__(self, namespace: str, token: str | None = None, poll_interval: float = 10.0) -> None:
        self.namespace = namespace
        self._token = token
        self.poll_interval = poll_interval

    def api(self) -> HfApi:
        """An HfApi bound to the token; raises before any request when there is no token."""
        token = self._token or require_token()
        register_secret(token)
        return HfApi(token=token)

    def _script(self, spec: JobSpec) -> UvScript:
        return build_uv_script(spec.entry, num_processes=flavor_gpus(spec.flavor))

    def _uv_job_arguments(self, spec: JobSpec, script: UvScript) -> dict[str, Any]:
        """Everything `run_uv_job` receives except the secrets."""
        for arg in spec.args:
            if Path(arg).suffix in _FILE_LIKE_SUFFIXES or Path(arg).is_file():
                raise JobError(
                    f"job argument {arg!r} looks like a local file, which the job cannot see: pass its content"
                )
        encoded = base64.b64encode(script.text.encode("utf-8")).decode("ascii")
        if len(encoded) > MAX_INLINE_SCRIPT_BYTES:
            raise JobError(
                f"the job script for {spec.entry} is {len(encoded)} bytes in base64, over the {MAX_INLINE_SCRIPT_BYTES}"
                " that fit in one environment variable: it imports too much of the package"
            )
        return {
            "script": "bash",
            "script_args": ["-c", BOOT, script.name.removesuffix(".py"), *spec.args],
            "image": UV_IMAGE,
            "env": {**spec.env, "HF_HUB_DISABLE_EXPERIMENTAL_WARNING": "1", SCRIPT_ENV: encoded},
            "flavor": spec.flavor,
            "timeout": timeout_seconds(spec.timeout),
            "namespace": spec.namespace or self.namespace,
            "name": f"hiddenparams-{spec.name}",
            "labels": {"app": "hiddenparams", "config_hash": spec.config_hash or "none"},
        }

    def describe(self, spec: JobSpec) -> dict[str, Any]:
        script = self._script(spec)
        arguments = self._uv_job_arguments(spec, script)
        env = {k: v for k, v in arguments["env"].items() if k != SCRIPT_ENV}
        return redact_obj(
            {
                "backend": self.name,
                "namespace": arguments["namespace"],
                "flavor": spec.flavor,
                "num_processes": flavor_gpus(spec.flavor),
                "timeout": spec.timeout,
                "timeout_seconds": arguments["timeout"],
                "image": UV_IMAGE,
                "script": {
                    "name": script.name,
                    "bytes": script.size,
                    "sha256": script.sha256,
                    "requires_python": script.requires_python,
                    "dependencies": script.dependencies,
                    "embedded_modules": script.modules,
                    "shipped_as": f"base64 in ${SCRIPT_ENV}, decoded and run by `uv run` in the job",
                },
                "command": ["uv", "run", arguments["script"], *arguments["script_args"]],
                "env": {**env, SCRIPT_ENV: f"<{len(arguments['env'][SCRIPT_ENV])} bytes: base64 of {script.name}>"},
                "secrets": ["HF_TOKEN"],
                "labels": arguments["labels"],
                "model_repo": spec.model_repo,
                "data": spec.data,
            }
        )

    def submit(self, spec: JobSpec) -> JobHandle:
        api = self.api()
        arguments = self._uv_job_arguments(spec, self._script(spec))
        try:
            with warnings.catch_warnings():
                # run_uv_job is marked experimental; the env var that silences it is read once at import time.
                warnings.filterwarnings("ignore", message=".*is experimental.*", category=UserWarning)
                info = api.run_uv_job(**arguments, secrets={"HF_TOKEN": api.token})
        except HUB_ERRORS as exc:
            hub_error(exc, f"submitting the {spec.name} job to namespace {arguments['namespace']!r}")
        return JobHandle(info.id, self.name, job_url(arguments["namespace"], info.id), namespace=arguments["namespace"])

    def status(self, job_id: str) -> JobStatus:
        try:
            info = self.api().inspect_job(job_id=job_id, namespace=self.namespace)
        except HUB_ERRORS as exc:
            hub_error(exc, f"reading job {job_id}")
        stage = JobStage(info.status.stage)
        tail = self._tail(job_id) if stage is JobStage.ERROR else []
        return JobStatus(
            job_id, self.name, stage, message=info.status.message and redact(info.status.message), log_tail=tail
        )

    def _tail(self, job_id: str) -> list[str]:
        try:
            return list(self.logs(job_id, tail=LOG_TAIL_LINES))
        except JobError as exc:
            return [f"(log unavailable: {exc})"]

    def logs(self, job_id: str, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        try:
            for line in self.api().fetch_job_logs(job_id=job_id, namespace=self.namespace, follow=follow, tail=tail):
                yield redact(line)
        except HUB_ERRORS as exc:
            hub_error(exc, f"reading the log of job {job_id}")

    def metrics(self, job_id: str) -> dict[str, Any] | None:
        """The job's current resource sample (CPU, memory, GPUs), or None when the Hub has none (job not running)."""
        try:
            samples = list(self.api().fetch_job_metrics(job_id=job_id, namespace=self.namespace))  # one at most
        except HUB_ERRORS as exc:
            hub_error(exc, f"reading the metrics of job {job_id}")
        return samples[0] if samples else None

    def wait(self, job_id: str, on_log: Callable[[str], None] | None = None) -> JobStatus:
        if on_log is not None:
            # Following the log ends when the Hub says the job reached a terminal stage.
            for line in self.logs(job_id, follow=True):
                on_log(line)
        else:
            try:
                self.api().wait_for_job(job_id, namespace=self.namespace, poll_interval=self.poll_interval)
            except HUB_ERRORS as exc:
                hub_error(exc, f"waiting for job {job_id}")
        # wait_for_job returns on ERROR as on COMPLETED: the stage decides, and status() reads it with the log tail.
        return self.status(job_id)

    def cancel(self, job_id: str) -> JobStatus:
        status = self.status(job_id)
        if status.finished:
            return status
        try:
            self.api().cancel_job(job_id=job_id, namespace=self.namespace)
        except HUB_ERRORS as exc:
            hub_error(exc, f"canceling job {job_id}")
        return self.status(job_id)
