"""The hf-jobs backend: `huggingface_hub.run_uv_job` on Hugging Face Jobs, state and logs from the Jobs API.

How the code reaches the job (`ship.py`): at submit, a wheel of this checkout, the job script and the job's data go
to a private dataset repo in one commit, and the job runs `uv run --with <wheel URL> <script URL> ARGS` at that
commit. Nothing goes through the jobs-artifacts bucket, and the dry run prints exactly what would be sent. Every
request goes through huggingface_hub's HTTP client but the wheel's bytes: a binary file, which the Hub takes through
LFS, and huggingface_hub uploads with hf_xet (its own networking) when that is installed. The tests set
HF_HUB_DISABLE_XET, so that the LFS requests (batch, upload, commit) pass through their mocked transport.

The token only ever travels as the job's `HF_TOKEN` secret and in the Authorization header; `describe` shows secret
names, and every message that leaves this module is redacted.
"""

from __future__ import annotations

import difflib
import logging
import re
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, JobHardware, JobInfo, get_token
from huggingface_hub.errors import OfflineModeIsEnabled

from ..hub import HUB_ERRORS, http_status, hub_error, timeout_seconds
from ..provenance import code_version
from ..redact import redact, redact_obj, register_secret
from .base import LOG_TAIL_LINES, ContactLost, JobError, JobHandle, JobSpec, JobStage, JobStatus
from .estimate import Hardware, hardware_from_hub, hardware_table
from .preflight import FLAVOR_ENV, PROCESSES_ENV
from .ship import (
    Shipment,
    checkout,
    entry_file,
    git_commit,
    job_script,
    planned,
    script_metadata,
    ship,
    torch_pin,
    wheel_name,
)
from .torch_builds import driver_needed, index_url

UV_IMAGE = "ghcr.io/astral-sh/uv:python3.12-bookworm"  # huggingface_hub's default image for uv jobs, named here
AT_SUBMIT = "SET-AT-SUBMIT"  # the dry run's stand-in for the commit the submit will make
# Arguments run_uv_job would upload through the jobs-artifacts bucket (existing files) or reject as missing files.
_FILE_LIKE_SUFFIXES = (".py", ".sh", ".yaml", ".yml", ".toml")
NO_TOKEN = "no Hugging Face token: run `hf auth login` or set HF_TOKEN (a write token with access to Jobs)"
_MULTI_GPU_FLAVOR = re.compile(r"x(\d+)$")  # a10g-largex2, l4x4, h200x8; `cpu-xl` has no count
# `cancel_job` returns at once and the job stops later: how long `cancel` watches for CANCELED before it says
# "cancelling" and leaves the final state to the next `status`.
CANCEL_POLLS, CANCEL_POLL_SECONDS = 15, 2.0
# Consecutive failed polls after which waiting gives up (the job may still run; `status` asks again later).
MAX_POLL_FAILURES = 5

logger = logging.getLogger(__name__)


def check_flavor(flavor: str) -> None:
    """Refuse, offline, a flavor that huggingface_hub's hardware list (`JobHardware`, kept in sync with the service by
    the library) does not name, so a typo costs nothing: no upload, no submit."""
    known = [hardware.value for hardware in JobHardware]
    if flavor in known:
        return
    close = difflib.get_close_matches(flavor, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise JobError(f"flavor {flavor!r} is not a Hugging Face Jobs flavor: {hint}(known: {', '.join(known)})")


def flavor_gpus(flavor: str) -> int:
    """How many GPUs a flavor has, from its name: the job runs under accelerate when more than one."""
    match = _MULTI_GPU_FLAVOR.search(flavor)
    return int(match.group(1)) if match else 1


def hub_hardware(api: HfApi) -> dict[str, Hardware]:
    """The flavors and prices the Hub lists now (`list_jobs_hardware`); the dated table's for a flavor it does not
    list, or for all when it cannot be asked. Each flavor says which source its figures came from."""
    try:
        return {**hardware_table(), **hardware_from_hub(api.list_jobs_hardware())}
    except HUB_ERRORS:
        return hardware_table()


def require_token() -> str:
    """The token huggingface_hub would use (HF_TOKEN, else the saved login); a clear error when there is none."""
    token = get_token()
    if not token:
        raise JobError(NO_TOKEN)
    register_secret(token)
    return token


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

    def ship_repo(self, spec: JobSpec) -> str:
        return spec.ship_repo or f"{spec.namespace or self.namespace}/hiddenparams-jobs"

    def _uv_job_arguments(self, spec: JobSpec, shipped: Shipment) -> dict[str, Any]:
        """Everything `run_uv_job` receives except the secrets."""
        for arg in spec.args:
            if Path(arg).suffix in _FILE_LIKE_SUFFIXES or Path(arg).is_file():
                raise JobError(
                    f"job argument {arg!r} looks like a local file, which the job cannot see: pass its content"
                )
        # The job's config reads its data at the commit that uploaded it (a field outside the config hash).
        data_revision = ["--set", f"data_revision={shipped.revision}"] if spec.upload else []
        env = {FLAVOR_ENV: spec.flavor, PROCESSES_ENV: str(spec.num_processes)}
        return {
            "script": shipped.script_url,
            "dependencies": [shipped.wheel_url],  # run_uv_job turns each into `uv run --with`
            "script_args": [*spec.args, *data_revision],
            "image": UV_IMAGE,
            "env": {**spec.env, **env, "HF_HUB_DISABLE_EXPERIMENTAL_WARNING": "1"},
            "flavor": spec.flavor,
            "timeout": timeout_seconds(spec.timeout),
            "namespace": spec.namespace or self.namespace,
            "name": f"hiddenparams-{spec.name}",
            "labels": {"app": "hiddenparams", "config_hash": spec.config_hash or "none"},
        }

    def describe(self, spec: JobSpec) -> dict[str, Any]:
        repo, wheel = self.ship_repo(spec), wheel_name(code_version())
        plan = planned(repo, spec.entry, spec.upload, AT_SUBMIT, wheel)
        arguments = self._uv_job_arguments(spec, plan)
        script = entry_file(spec.entry)
        text, build = job_script(spec.entry, spec.build_flavor)
        metadata = script_metadata(script, text)
        return redact_obj(
            {
                "backend": self.name,
                "namespace": arguments["namespace"],
                "flavor": spec.flavor,
                "num_processes": spec.num_processes,
                "timeout": spec.timeout,
                "timeout_seconds": arguments["timeout"],
                "image": UV_IMAGE,
                "script": {
                    "name": script.name,
                    "requires_python": metadata.get("requires-python"),
                    "dependencies": metadata.get("dependencies", []),  # pinned: constraints/job.txt
                    "indexes": metadata.get("tool", {}).get("uv", {}).get("index", []),
                },
                "torch": {
                    "version": torch_pin(metadata, script),
                    "build": build,
                    "index": index_url(build),
                    "driver_needed": ".".join(map(str, driver)) if (driver := driver_needed(build)) else None,
                },
                "code": {
                    "route": "wheel of this checkout + job script, committed with the data in one commit to"
                    f" {repo}; the job runs `uv run --with <wheel URL> <script URL>` at that commit",
                    "wheel": plan.wheel,
                    **git_commit(checkout()),
                    "repo": repo,
                    "revision": f"{AT_SUBMIT}: the commit of that upload, also the data revision the job reads",
                    "files": plan.files,
                },
                "command": ["uv", "run", "--with", plan.wheel_url, plan.script_url, *arguments["script_args"]],
                "env": arguments["env"],
                "secrets": ["HF_TOKEN"],
                "labels": {**arguments["labels"], "name": arguments["name"]},  # run_uv_job sends the name as a label
                "model_repo": spec.model_repo,
                "data": spec.data,
            }
        )

    def submit(self, spec: JobSpec) -> JobHandle:
        api = self.api()
        repo = self.ship_repo(spec)
        # What can be refused here (local-file arguments, a bad timeout, a script without header) is, before uploading.
        self.describe(spec)
        try:
            message = f"hiddenparams: {spec.name} job code and data (config {spec.config_hash or 'none'})"
            shipped = ship(api, repo, spec.entry, spec.build_flavor, spec.upload, message)
        except HUB_ERRORS as exc:
            hub_error(exc, f"uploading the job's code and data to the dataset {repo}")
        except RuntimeError as exc:  # huggingface_hub wraps the HTTP error of a failed LFS upload (the wheel's)
            if not isinstance(exc.__cause__, HUB_ERRORS):
                raise
            hub_error(exc.__cause__, f"uploading the job's code and data to the dataset {repo} ({exc})")
        arguments = self._uv_job_arguments(spec, shipped)
        try:
            with warnings.catch_warnings():
                # run_uv_job is marked experimental; the env var that silences it is read once at import time.
                warnings.filterwarnings("ignore", message=".*is experimental.*", category=UserWarning)
                info = api.run_uv_job(**arguments, secrets={"HF_TOKEN": api.token})
        except HUB_ERRORS as exc:
            hub_error(exc, f"submitting the {spec.name} job to namespace {arguments['namespace']!r}")
        shipment = {"code_repo": shipped.repo, "code_revision": shipped.revision, "wheel": shipped.wheel}
        if spec.upload:
            shipment["data_revision"] = shipped.revision
        shipment.update(git_commit(checkout()))
        return JobHandle(info.id, self.name, info.url, namespace=arguments["namespace"], shipped=shipment)

    def status(self, job_id: str) -> JobStatus:
        try:
            info = self.api().inspect_job(job_id=job_id, namespace=self.namespace)
        except HUB_ERRORS as exc:
            hub_error(exc, f"reading job {job_id}")
        return self._status_of(info)

    def _status_of(self, info: JobInfo) -> JobStatus:
        stage = JobStage(info.status.stage)  # whatever string the service sent, known or not
        tail = self._tail(info.id) if stage is JobStage.ERROR else []
        message = info.status.message and redact(info.status.message)
        started, ended = (when.isoformat() if when else None for when in (info.started_at, info.finished_at))
        return JobStatus(
            info.id, self.name, stage, message=message, log_tail=tail, started_at=started, finished_at=ended
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
            try:
                for line in self.logs(job_id, follow=True):
                    on_log(line)
            except JobError as exc:  # the library gave up reconnecting (5 failures in a row); the job may still run
                # Said only while the Hub answers: when it does not, the wait ends in one ContactLost line instead.
                if self._answers(job_id):
                    logger.warning("the log of job %s stopped (%s); polling its state until it ends", job_id, exc)
        # The log stream can end before the job does (a cut or malformed stream): the polled stage settles it.
        return self._status_of(self._wait_for_end(job_id))

    def _answers(self, job_id: str) -> bool:
        try:
            self.api().inspect_job(job_id=job_id, namespace=self.namespace)
        except HUB_ERRORS:
            return False
        return True

    def _wait_for_end(self, job_id: str) -> JobInfo:
        """`wait_for_job` (which returns on ERROR as on COMPLETED), retried while the Hub fails now and then: only
        MAX_POLL_FAILURES failures in a row, or an error retrying cannot fix, give up."""
        failures = 0
        while True:
            started = time.monotonic()
            try:
                return self.api().wait_for_job(job_id, namespace=self.namespace, poll_interval=self.poll_interval)
            except HUB_ERRORS as exc:
                if time.monotonic() - started > self.poll_interval:
                    failures = 0  # it polled successfully before this failure
                failures += 1
                if not _retryable(exc):
                    hub_error(exc, f"waiting for job {job_id} (it may still run: `hiddenparams status` asks again)")
                if failures >= MAX_POLL_FAILURES:
                    raise ContactLost(
                        f"lost contact with the Hub while following job {job_id} ({_what_failed(exc)}, {failures}"
                        f" tries in a row); the job keeps running there: `hiddenparams status` shows its state,"
                        f" `hiddenparams logs {job_id} --follow` follows it again"
                    ) from None
                time.sleep(self.poll_interval)

    def cancel(self, job_id: str) -> JobStatus:
        status = self.status(job_id)
        if status.finished:
            return status
        try:
            self.api().cancel_job(job_id=job_id, namespace=self.namespace)
        except HUB_ERRORS as exc:
            hub_error(exc, f"canceling job {job_id}")
        for _ in range(CANCEL_POLLS):
            time.sleep(CANCEL_POLL_SECONDS)
            if (status := self.status(job_id)).finished:
                break
        return status


def _what_failed(exc: Exception) -> str:
    status = http_status(exc)
    first_line = str(exc).splitlines()[0] if str(exc) else "no answer"
    return f"HTTP {status}" if status else f"{type(exc).__name__}: {first_line}"


def _retryable(exc: Exception) -> bool:
    """No answer (a dropped connection), rate limiting or a server error: worth asking again."""
    status = http_status(exc)
    return not isinstance(exc, OfflineModeIsEnabled) and (status is None or status == 429 or status >= 500)
