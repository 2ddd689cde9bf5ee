"""What every job backend shares: the spec of a job, its handle and status, and the interface."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Protocol

from ..errors import JobError


class JobStage(str, Enum):
    """The stages of a job, the values of `huggingface_hub.JobStage` plus `UPDATING`, which the service sends too.

    The service sends the stage as a plain string and may add stages: any other string is accepted as a stage of its
    own (not a member, never terminal), so a new stage is shown as sent and a job in it is never taken for ended.
    """

    SCHEDULING = "SCHEDULING"
    RUNNING = "RUNNING"
    UPDATING = "UPDATING"  # still running (huggingface_hub's CLI lists RUNNING and UPDATING jobs as running)
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    ERROR = "ERROR"
    DELETED = "DELETED"

    @classmethod
    def _missing_(cls, value: object) -> JobStage | None:
        if not isinstance(value, str) or not value:
            return None
        stage = str.__new__(cls, value)
        stage._name_ = stage._value_ = value
        return stage

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STAGES

    @property
    def known(self) -> bool:
        return self.value in JobStage.__members__


TERMINAL_STAGES = frozenset({JobStage.COMPLETED, JobStage.CANCELED, JobStage.ERROR, JobStage.DELETED})
RUNNING_STAGES = frozenset({JobStage.RUNNING, JobStage.UPDATING})
LOG_TAIL_LINES = 20


# sysexits.h EX_TEMPFAIL: the job's outcome is unknown (contact lost), unlike 0 (completed) and 1 (failed).
EXIT_UNKNOWN = 75


class ContactLost(JobError):
    """Following a job stopped because the Hub did not answer, after the library's retries and ours: the job itself
    keeps running and its outcome is unknown here. Exits EXIT_UNKNOWN."""

    exit_code = EXIT_UNKNOWN


@dataclass
class JobSpec:
    """One job: a Python module (`hiddenparams.jobs.train_job`) or a `.py` script, with its arguments and resources.

    `num_processes > 1` runs it under `accelerate launch`. On hf-jobs that number comes from the flavor
    (`a100x4` -> 4); `flavor`, `timeout`, `namespace`, `upload` and `ship_repo` only matter there.
    """

    entry: str
    args: list[str] = field(default_factory=list)
    name: str = "job"  # what the job does (train, eval): a label on the job and a field in the ledger
    flavor: str = "cpu-basic"
    timeout: str | None = None
    namespace: str | None = None
    num_processes: int = 1
    env: dict[str, str] = field(default_factory=dict)  # never secrets: those go through the backend's own channel
    config_hash: str | None = None
    model_repo: str | None = None  # where the job's model lands: a Hub repo id or a local folder
    data: str | None = None  # where the job reads its data: a Hub dataset id or a local folder
    # hf-jobs only: local files (path in the repo -> file) committed with the job's code to `ship_repo`, a private
    # dataset repo; the job then gets `--set data_revision=<that commit>`.
    upload: dict[str, str] = field(default_factory=dict)
    ship_repo: str | None = None
    estimate: dict[str, Any] | None = None  # hf-jobs training: minutes and cost expected (jobs/estimate.py)
    smoke: bool = False  # the job runs with --smoke: the checks before the weights, on a cheap flavor (jobs/smoke.py)
    # hf-jobs: the flavor whose torch build the job installs (torch_builds); None: `flavor`'s. A smoke job keeps the
    # real run's, so it proves the very header the real run installs.
    torch_flavor: str | None = None

    @property
    def build_flavor(self) -> str:
        return self.torch_flavor or self.flavor

    @property
    def is_script(self) -> bool:
        return self.entry.endswith(".py")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JobHandle:
    job_id: str
    backend: str
    url: str  # the job's page on hf-jobs (`JobInfo.url`, so HF_ENDPOINT counts), file:// of the log locally
    namespace: str | None = None
    shipped: dict[str, Any] | None = None  # hf-jobs: the repo, commit and wheel the job's code and data came in


@dataclass
class JobStatus:
    job_id: str
    backend: str
    stage: JobStage
    message: str | None = None
    exit_code: int | None = None
    log_tail: list[str] = field(default_factory=list)  # filled for ERROR: the last lines of the job's log
    # hf-jobs: when the job started and ended running, as the Jobs API reports them (ISO 8601); what is billed
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.stage.terminal

    @property
    def ok(self) -> bool:
        return self.stage is JobStage.COMPLETED

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stage": self.stage.value}


class JobBackend(Protocol):
    name: str

    def describe(self, spec: JobSpec) -> dict[str, Any]:
        """What `submit` would run, computed offline and without secret values (the dry run prints it)."""
        ...

    def submit(self, spec: JobSpec) -> JobHandle: ...

    def status(self, job_id: str) -> JobStatus: ...

    def logs(self, job_id: str, follow: bool = False) -> Iterator[str]:
        """The job's log lines, redacted; with `follow`, until the job ends."""
        ...

    def cancel(self, job_id: str) -> JobStatus:
        """Ask the job to stop and wait a bounded while for it to end: the status returned may still be running."""
        ...

    def wait(self, job_id: str, on_log: Callable[[str], None] | None = None) -> JobStatus:
        """Block until the job ends; with `on_log`, follow its log into it meanwhile. Returns a finished status, or
        raises JobError when the job's state cannot be read any more; never raises on a failed job."""
        ...
