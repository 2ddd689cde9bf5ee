"""Hub helpers every stage shares, in one place: local path or Hub id, the repo-id rule, job durations, pushing a
folder, the checks made before a job is submitted (a model or dataset on the Hub), and Hub failures turned into
errors that say what to do.

A model, adapter or dataset is named by one string that is either a local path or a Hub repo id. The rule is here
once, so the loader, the job checks and `status` agree on which one a string is (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import httpx2
from huggingface_hub import HfApi, constants, try_to_load_from_cache
from huggingface_hub.errors import GatedRepoError, OfflineModeIsEnabled, RepositoryNotFoundError
from huggingface_hub.utils import HFValidationError, validate_repo_id

from .errors import HiddenParamsError, JobError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
HUB_URL = "https://huggingface.co"
HUB_ERRORS = (httpx2.HTTPError, OfflineModeIsEnabled)  # what a Hub request raises when it gets no good answer


class HubNameError(HiddenParamsError, ValueError):
    """A repo id or a duration the Hub would refuse, found before any request is sent."""


def is_local(ref: str | Path) -> bool:
    """Whether `ref` names a local path rather than a Hub repo id: it exists here, or it is shaped like a path
    (absolute, `./`, `../`, `~`, more than one `/`, or under a folder that exists here). A path-shaped ref that
    does not exist is a missing folder, never silently a Hub id: `data/converted` before `convert` is a typo."""
    text = str(ref)
    path = Path(text).expanduser()
    if path.exists() or path.is_absolute() or text.startswith((".", "~")) or "\\" in text or text.count("/") > 1:
        return True
    return "/" in text and Path(text.split("/")[0]).is_dir()


def repo_id_problem(repo_id: str, namespaced: bool = False) -> str | None:
    """Why `repo_id` is not a valid Hub repo id (huggingface_hub's own rule), or None. With `namespaced`, it must
    also name its owner (`namespace/name`): where something is pushed, or whose namespace runs a job."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return str(exc)
    if namespaced and "/" not in repo_id:
        return f"{repo_id!r} has no namespace: write it as namespace/name"
    return None


def timeout_seconds(timeout: str | int | None) -> int | None:
    """A job time limit in seconds from `90m`, `4h`, `1.5h` or `3600` (seconds); None stays None."""
    if timeout is None:
        return None
    match = _DURATION.match(str(timeout).strip())
    if not match:
        raise HubNameError(f"timeout {timeout!r} is not a duration like 90m, 4h or 3600")
    return int(float(match.group(1)) * _SECONDS[match.group(2)])


def push_folder(
    folder: Path,
    repo_id: str,
    message: str,
    private: bool = True,
    path_in_repo: str | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> dict[str, str]:
    """The whole folder in one commit (under `path_in_repo` when given), with `extra_files` ({path in repo: bytes},
    e.g. an updated README.md at the root) in the same commit; the model repo created if missing. The token comes
    from HF_TOKEN or the saved login, never an argument. Returns the repo, its URL and the commit."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    if extra_files:
        prefix = f"{path_in_repo.strip('/')}/" if path_in_repo else ""
        operations = [
            CommitOperationAdd(prefix + f.relative_to(folder).as_posix(), str(f))
            for f in sorted(Path(folder).rglob("*"))
            if f.is_file()
        ]
        operations += [CommitOperationAdd(name, data) for name, data in extra_files.items()]
        commit = api.create_commit(repo_id=repo_id, operations=operations, commit_message=message)
    else:
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), path_in_repo=path_in_repo, commit_message=message
        )
    url = f"{api.endpoint}/{repo_id}" + (f"/tree/main/{path_in_repo}" if path_in_repo else "")
    return {"repo": repo_id, "url": url, "commit": commit.oid} | ({"path": path_in_repo} if path_in_repo else {})


def http_status(exc: Exception) -> int | None:
    """The HTTP status of the Hub's answer; None when there was no answer."""
    return getattr(getattr(exc, "response", None), "status_code", None)


def hub_error(exc: Exception, doing: str) -> NoReturn:
    """Turn a Hub failure into a JobError that says what to do. Never includes the request headers."""
    if isinstance(exc, OfflineModeIsEnabled):
        raise JobError(f"{doing}: HF_HUB_OFFLINE is set; unset it to reach the Hub") from None
    status = http_status(exc)
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


class PreflightError(JobError):
    """The run would fail: found before any job is submitted or any GPU second is spent."""


def valid_repo_id(repo_id: str, what: str) -> None:
    if why := repo_id_problem(repo_id):
        raise PreflightError(f"{what} {repo_id!r} is not a valid repo id: {why}")


def check_model_on_hub(api: HfApi, model_id: str, what: str = "model_id") -> None:
    if constants.is_offline_mode():
        if isinstance(try_to_load_from_cache(model_id, "config.json"), str):
            return
        raise PreflightError(f"{what} {model_id!r}: HF_HUB_OFFLINE is set and the model is not in the local cache")
    try:
        api.model_info(model_id)
    except RepositoryNotFoundError:
        raise PreflightError(
            f"{what} {model_id!r}: no such local folder, and no such model on the Hub (or private to another account)"
        ) from None
    except GatedRepoError:
        raise PreflightError(f"{what} {model_id!r} is gated: accept its terms at {HUB_URL}/{model_id}") from None
    except HUB_ERRORS as exc:
        hub_error(exc, f"checking {what} {model_id}")


def check_dataset_on_hub(api: HfApi, dataset_id: str, what: str) -> None:
    try:
        api.dataset_info(dataset_id)
    except RepositoryNotFoundError:
        raise PreflightError(f"{what} {dataset_id!r}: no such local folder, and no such dataset on the Hub") from None
    except HUB_ERRORS as exc:
        hub_error(exc, f"checking {what} {dataset_id}")


class DatasetFileError(HiddenParamsError):
    """A file a job needs from a Hub dataset repo could not be downloaded; the message names the repo, the commit
    and the file. The stage that asked says what the repo should hold."""


def dataset_file(repo: str, name: str, revision: str | None = None) -> Path:
    """One file of a Hub dataset repo at `revision` (the commit a submit uploaded), through the local cache."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    try:
        return Path(hf_hub_download(repo, name, repo_type="dataset", revision=revision))
    except (EntryNotFoundError, HfHubHTTPError) as exc:
        where = f"{repo}@{revision}" if revision else repo
        raise DatasetFileError(
            f"{where}: cannot download {name} from the Hub dataset ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
