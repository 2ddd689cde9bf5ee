"""Hub helpers every stage shares: local path or Hub id, the repo-id rule, job durations, and pushing a folder.

A model, adapter or dataset is named by one string that is either a local path or a Hub repo id. The rule is here
once, so the loader, the job checks and `status` agree on which one a string is (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from huggingface_hub.utils import HFValidationError, validate_repo_id

from .errors import HiddenParamsError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


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
        operations = [CommitOperationAdd(prefix + f.relative_to(folder).as_posix(), str(f))
                      for f in sorted(Path(folder).rglob("*")) if f.is_file()]  # fmt: skip
        operations += [CommitOperationAdd(name, data) for name, data in extra_files.items()]
        commit = api.create_commit(repo_id=repo_id, operations=operations, commit_message=message)
    else:
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), path_in_repo=path_in_repo, commit_message=message
        )
    url = f"{api.endpoint}/{repo_id}" + (f"/tree/main/{path_in_repo}" if path_in_repo else "")
    return {"repo": repo_id, "url": url, "commit": commit.oid} | ({"path": path_in_repo} if path_in_repo else {})
