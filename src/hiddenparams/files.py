"""Output folders: a non-empty one is refused unless the user says `--overwrite`, and a folder is written whole or not
at all (built in a hidden folder beside the target, then renamed into place), so a failure never leaves a
half-written folder or destroys the old one."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import HiddenParamsError


class OutputError(HiddenParamsError):
    """`--out` cannot be written: it is a file, or a folder holding files the user did not agree to replace."""


def check_out(out: Path, overwrite: bool, flag: str = "--out") -> None:
    """Refuse an `out` that is a file, or a non-empty folder without `overwrite`; before any work is done."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} {out}: is a file, not a folder; give the path of a folder (it is created)")
    if out.is_dir() and not overwrite:
        entries = sorted(p.name for p in out.iterdir())
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise OutputError(
                f"{flag} {out}: the folder is not empty ({shown}); pass --overwrite to replace it, "
                "or choose a new folder"
            )


@contextmanager
def staged_folder(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty hidden folder beside `out` to write into; on success it replaces `out`, on failure it is removed
    and `out` is left as it was."""
    out = Path(out)
    check_out(out, overwrite)
    stage = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage.mkdir()  # not mkdtemp: that makes the folder 0700, and it becomes the user's output folder
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot create a folder there ({exc.strerror or exc})") from exc
    try:
        yield stage
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        raise OutputError(f"--out {out}: writing failed ({exc.strerror or exc}); nothing was written") from exc
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    # A rename cannot replace a non-empty folder: move the old one aside first, and drop it only once the new is in.
    old = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old") if out.exists() else None
    if old is not None:
        os.replace(out, old)
    try:
        os.replace(stage, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
