"""Where an artifact came from: the config that made it, the data it read, the code that ran.

Every artifact folder (split, converted data, adapter, eval report, merged model) records `provenance(...)`:
`config_hash` (of the resolved config dataclass), `data_sha256` (one digest per input file, by name) and
`code_version` (package version + git commit when run from a checkout, as nanochat records beside its models).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from . import __version__
from .config import config_hash


def code_version() -> str:
    """`<version>+<commit>` from the checkout; where there is none (a Hugging Face job), the installed wheel's version,
    which carries the commit it was built from (`jobs/ship.py`)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    if sha:
        return f"{__version__}+{sha}"
    try:
        return version("hiddenparams")
    except PackageNotFoundError:
        return __version__


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(cfg: Any, data: Mapping[str, str | Path] | Iterable[str | Path] = ()) -> dict[str, Any]:
    """`{config_hash, data_sha256: {name: digest}, code_version}` for a config dataclass and its input files.

    `data` is a mapping of names to local files, or an iterable of files (named by their path). Inputs that are
    not local files (Hub repo ids) are recorded as such, not hashed.
    """
    items = data.items() if isinstance(data, Mapping) else ((str(p), p) for p in data)
    digests = {name: file_sha256(p) if Path(p).is_file() else f"not a local file: {p}" for name, p in items}
    return {"config_hash": config_hash(cfg), "data_sha256": digests, "code_version": code_version()}
