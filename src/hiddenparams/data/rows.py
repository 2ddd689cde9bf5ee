"""The canonical row (`{"id", "request_text", "hidden_params"}`), the split names, and JSONL reading and writing.

Every stage that reads or writes rows goes through here: `read_rows` is strict (the split stage's output is
canonical, so any bad line is an error naming file, line and field), and `write_jsonl` writes atomically (a temporary
file renamed into place), so a crash never leaves a truncated file that looks finished. The lenient reader of raw,
messy user input, which rejects bad records one by one instead, is `records.py`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HiddenParamsError
from ..files import atomic_file
from ..schema import Params, validate_params

SPLITS: tuple[str, ...] = ("train", "validation", "test")


class DataError(HiddenParamsError, ValueError):
    """Bad data (a whole input, or a line of canonical rows); the message names the file, the line and the field."""


@dataclass(frozen=True, slots=True)
class Row:
    """A canonical row, plus where it was read from (`source`, `line`; empty for rows made in memory)."""

    id: str
    request_text: str
    hidden_params: Params
    source: str = ""
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "request_text": self.request_text, "hidden_params": self.hidden_params}


def json_objects(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank JSONL line. Decodes line by line so that a bad byte names its line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg} at char {exc.pos})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def read_rows(path: str | Path) -> list[Row]:
    """Read canonical rows (the split stage's output). Any bad line is an error naming file, line and field."""
    path = Path(path)
    rows: list[Row] = []
    for lineno, obj in json_objects(path):
        where = f"{path}:{lineno}"
        text = obj.get("request_text")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: field 'request_text' is missing or blank")
        checked = validate_params(obj.get("hidden_params"))
        if checked.params is None:
            raise DataError(f"{where}: field 'hidden_params': {checked.message}")
        rows.append(Row(str(obj.get("id", f"{path.stem}-{lineno}")), text, checked.params, str(path), lineno))
    return rows


def write_jsonl(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as UTF-8 JSON lines, atomically; creates the parent folder. Returns how many were written."""
    count = 0
    # A lone surrogate (from a JSON escape in a rejected record) is written as its JSON escape \udXXX: lossless.
    with atomic_file(path, errors="backslashreplace") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
