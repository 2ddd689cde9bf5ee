"""Canonical rows -> TRL conversational prompt-completion rows.

`prompt` is the system + user turns from the prompt module; `completion` is one assistant turn whose content is
the strict JSON in canonical key order and nothing else (the chat template appends EOS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from .prompt import completion_messages, prompt_messages
from .schema import Params, validate_params
from .errors import HiddenParamsError

SPLITS = ("train", "validation", "test")


class DataError(HiddenParamsError, ValueError):
    """Bad data; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Row:
    id: str
    request_text: str
    hidden_params: Params

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "request_text": self.request_text, "hidden_params": self.hidden_params}


def json_objects(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank JSONL line. Decodes line by line so that a bad byte names its line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open("rb") as fh:
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
        if not checked.valid:
            raise DataError(f"{where}: field 'hidden_params': {checked.message}")
        rows.append(Row(str(obj.get("id", f"{path.stem}-{lineno}")), text, checked.params))
    return rows


def to_prompt_completion(row: Row) -> dict[str, Any]:
    return {"prompt": prompt_messages(row.request_text), "completion": completion_messages(row.hidden_params)}


def write_jsonl(records: Iterable[dict[str, Any]], path: str | Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


def convert_dir(src: str | Path, out: str | Path) -> dict[str, int]:
    """Convert every split present in `src` (train is required). Returns rows written per split."""
    src, out = Path(src), Path(out)
    if not (src / "train.jsonl").is_file():
        raise DataError(f"{src}: no train.jsonl (run `hiddenparams split` first)")
    counts = {}
    for split in SPLITS:
        if (src / f"{split}.jsonl").is_file():
            rows = read_rows(src / f"{split}.jsonl")
            counts[split] = write_jsonl((to_prompt_completion(r) for r in rows), out / f"{split}.jsonl")
    if counts["train"] == 0:
        raise DataError(f"{src / 'train.jsonl'}: no rows to train on")
    return counts
