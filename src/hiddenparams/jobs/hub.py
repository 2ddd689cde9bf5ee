"""The Hub checks that every job launcher makes before submitting (`train.py`, `eval.py`).

A job on hf-jobs cannot see this machine: its models must be on the Hub (its local data files go with its code, see
`ship.py`). These checks run before anything is submitted, so a typo costs a request, not a GPU hour.
"""

from __future__ import annotations

from huggingface_hub import HfApi, constants, try_to_load_from_cache
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
from huggingface_hub.utils import HFValidationError, validate_repo_id

from .base import JobError
from .hf import HUB_ERRORS, HUB_URL, hub_error


class PreflightError(JobError):
    """The run would fail: found before any job is submitted or any GPU second is spent."""


def valid_repo_id(repo_id: str, what: str) -> None:
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise PreflightError(f"{what} {repo_id!r} is not a valid repo id: {exc}") from None


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
