"""Files and folders written whole or not at all, the one way everything here writes them.

- `atomic_file` / `write_atomic`: a file is written to a hidden temporary file beside it and renamed over it, so a
  reader (or a crash) never sees half of it.
- `staged_folder`: an output folder is built in a hidden folder beside the target and renamed into place, so a
  failure never leaves a half-written folder or destroys the old one; a non-empty target is refused unless the user
  says `--overwrite` (`check_out`, made before any work).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from .errors import HiddenParamsError


@contextmanager
def atomic_file(path: str | Path, **open_args: Any) -> Iterator[TextIO]:
    """Write `path` (UTF-8, `\n` newlines, its folder created) through a hidden temporary file beside it, renamed over
    `path` when the block succeeds and removed when it fails. `open_args` go to `open` (`errors=...`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n", **open_args) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, text: str) -> None:
    """Readers see the whole file or none of it."""
    with atomic_file(path) as fh:
        fh.write(text)


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
    and `out` is left as it was. The folder is made with a plain mkdir (the umask's modes, unlike `mkdtemp`'s 0700):
    it becomes the user's output folder."""
    out = Path(out)
    check_out(out, overwrite)
    stage = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage.mkdir()
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
