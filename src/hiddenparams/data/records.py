"""Reading labelled requests: JSONL, CSV or Parquet (chosen by extension), or a folder of train/validation/test files.

Validation is per physical record: each one becomes exactly one `Row` (a canonical row) or one `Rejected` (with
its file, line, reason code, a message naming the field, and its raw text), so nothing is silently dropped. Blank
lines are not records; they are counted per file. Problems with a whole file (missing, unsupported extension,
unreadable Parquet, an ambiguous folder) raise `DataError`.

Labels written as integral floats (`4.0`: pandas writes an integer column holding a missing value as floats) are read
as integers and counted; any other non-integer stays rejected. Model outputs are judged by `schema.parse_strict`,
where `4.0` stays invalid.
"""

from __future__ import annotations

import base64
import csv
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from .rows import DataError, Row
from ..schema import KEYS, Invalid, validate_params

# File stems accepted for each split when a folder is read (common spellings of the same three splits).
SPLIT_STEMS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test",),
}
FORMATS: dict[str, str] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}

_BOM = "\ufeff"
_KNOWN_FIELDS = frozenset(("id", "request_text", "hidden_params", *KEYS))
# A CSV cell is text; only a cell that is exactly a JSON integer literal counts as an integer ("07", "5.0", " 5" don't).
_INT_LITERAL = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
# A decimal cell ("4.0", "5.5") is read as the float it spells; only an integral one then passes as an integer.
_DECIMAL_LITERAL = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+\Z")
_SURROGATE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by the surrogateescape decoder
# A JSON escape such as "\ud83d" without its pair decodes to a lone surrogate: not text, and not writable as UTF-8.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_BLANK_LINES_LISTED = 20


# A label that breaks the schema is rejected with the schema's own code, so Reason is derived from schema.Invalid and a
# new parser code is a new reason here at once. Problems with the record itself have codes of their own. Values are
# short stable codes (they appear in rejected.jsonl).
_RECORD_REASONS = {
    "UNPARSEABLE": "unparseable",
    "NOT_AN_OBJECT": "not_an_object",
    "MISSING_REQUEST_TEXT": "missing_request_text",
    "BAD_ID": "bad_id",
    "UNDECODABLE": "undecodable",
    "DUPLICATE": "duplicate",
    "CONFLICT": "conflict",
}
# hidden_params that is not an object shares the record's own code (rejected.jsonl has always said not_an_object).
_LABEL_REASONS = {m.name: m.value for m in Invalid if m is not Invalid.NOT_OBJECT}
Reason = Enum("Reason", {**_LABEL_REASONS, **_RECORD_REASONS}, type=str, module=__name__, qualname="Reason")


def label_reason(error: Invalid) -> Reason:
    """The rejection reason of a label that fails the schema check with `error`."""
    return Reason.NOT_AN_OBJECT if error is Invalid.NOT_OBJECT else Reason[error.name]


@dataclass(slots=True)
class Rejected:
    """A record that does not go into any split. `raw` keeps its original text (or fields) so nothing is lost."""

    source: str
    line: int
    reason: Reason
    message: str
    field: str | None = None
    raw: Any = None
    raw_base64: str | None = None  # exact bytes of an undecodable line
    record: Row | None = None  # the parsed record, for duplicate/conflict
    kept: Row | None = None  # the record kept in its place, for duplicate/conflict

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "line": self.line,
            "reason": self.reason.value,
            "message": self.message,
            "field": self.field,
        }
        if self.record is not None:
            out.update(self.record.to_dict())
        if self.kept is not None:
            out["kept"] = {"id": self.kept.id, "source": self.kept.source, "line": self.kept.line}
        if self.raw is not None:
            out["raw"] = self.raw
        if self.raw_base64 is not None:
            out["raw_base64"] = self.raw_base64
        return out


@dataclass
class SourceStats:
    path: str
    format: str
    records: int = 0
    rejected: int = 0
    coerced_integral_floats: int = 0  # valid records whose labels held an integral float such as 4.0
    blank_lines: int = 0
    blank_line_numbers: list[int] = field(default_factory=list)  # the first few, for the report

    def blank(self, line: int) -> None:
        self.blank_lines += 1
        if len(self.blank_line_numbers) < _MAX_BLANK_LINES_LISTED:
            self.blank_line_numbers.append(line)


@dataclass
class ReadResult:
    records: list[Row] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    sources: list[SourceStats] = field(default_factory=list)

    @property
    def n_input(self) -> int:
        """Input records (blank lines are not records): each is in `records` or in `rejected`, never both."""
        return len(self.records) + len(self.rejected)

    @property
    def coerced_integral_floats(self) -> int:
        return sum(s.coerced_integral_floats for s in self.sources)

    def extend(self, other: ReadResult) -> None:
        self.records.extend(other.records)
        self.rejected.extend(other.rejected)
        self.sources.extend(other.sources)


class _DuplicateField(ValueError):
    pass


def _unique_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _DuplicateField(f"field {dup!r} appears twice")
    return out


# json.loads would silently keep the last of two equal keys; an ambiguous record is rejected instead.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_fields)


def _decode_json(text: str) -> Any:
    return _DECODER.decode(text)


class _Builder:
    """Turns one decoded record of one file into a `Row` or a `Rejected` and counts it."""

    def __init__(self, stats: SourceStats):
        self.stats = stats
        self.name = Path(stats.path).name
        self.result = ReadResult(sources=[stats])

    def reject(
        self,
        line: int,
        reason: Reason,
        detail: str,
        field: str | None = None,
        raw: Any = None,
        raw_base64: str | None = None,
    ) -> None:
        where = f"{self.stats.path}:{line}" + (f" field {field}" if field else "")
        self.stats.rejected += 1
        self.result.rejected.append(
            Rejected(self.stats.path, line, reason, f"{where}: {reason.value}: {detail}", field, raw, raw_base64)
        )

    def undecodable(self, line: int, raw: bytes) -> None:
        self.reject(
            line,
            Reason.UNDECODABLE,
            "bytes that are not UTF-8",
            raw=raw.decode("utf-8", "backslashreplace"),
            raw_base64=base64.b64encode(raw).decode("ascii"),
        )

    def add(self, obj: Any, line: int, raw: Any) -> None:
        if not isinstance(obj, dict):
            self.reject(line, Reason.NOT_AN_OBJECT, f"a record must be an object, got {type(obj).__name__}", raw=raw)
            return
        text = obj.get("request_text")
        if not isinstance(text, str) or not text.strip():
            what = (
                "absent"
                if "request_text" not in obj
                else f"{json.dumps(text, default=str)[:40]} is not a non-blank string"
            )
            self.reject(line, Reason.MISSING_REQUEST_TEXT, what, "request_text", raw)
            return
        if _LONE_SURROGATE.search(text):
            self.reject(line, Reason.UNDECODABLE, "a lone surrogate escape is not text", "request_text", raw)
            return
        unknown = [] if _KNOWN_FIELDS.issuperset(obj) else [k for k in obj if k not in _KNOWN_FIELDS]
        if unknown:
            self.reject(line, Reason.EXTRA_KEY, f"unexpected field {', '.join(map(repr, unknown))}", unknown[0], raw)
            return
        flat = [k for k in KEYS if k in obj]
        if "hidden_params" in obj and flat:
            self.reject(
                line, Reason.EXTRA_KEY, f"{flat[0]!r} given both inside hidden_params and beside it", flat[0], raw
            )
            return
        params: Any = obj["hidden_params"] if "hidden_params" in obj else {k: obj[k] for k in flat}
        if isinstance(params, str):  # hidden_params as JSON text (a CSV cell, or a string column)
            try:
                params = _decode_json(params)
            except (ValueError, RecursionError) as exc:
                self.reject(line, Reason.UNPARSEABLE, f"not JSON: {exc}", "hidden_params", raw)
                return
        coerced = False
        if isinstance(params, dict):
            params, coerced = _integral_floats_to_int(params)
        checked = validate_params(params)
        if checked.params is None:
            assert checked.error is not None
            self.reject(line, label_reason(checked.error), checked.detail, "hidden_params", raw)
            return
        rid = obj.get("id")
        if rid is None or (isinstance(rid, str) and not rid.strip()):
            rid = f"{self.name}:{line}"  # stable: the same file and line give the same id on every run
        elif isinstance(rid, int) and not isinstance(rid, bool):
            rid = str(rid)
        elif not isinstance(rid, str) or _LONE_SURROGATE.search(rid):
            got = json.dumps(rid, default=str)[:40]
            self.reject(line, Reason.BAD_ID, f"id must be a string (text) or an integer, got {got}", "id", raw)
            return
        self.stats.records += 1
        self.stats.coerced_integral_floats += coerced
        self.result.records.append(Row(rid, text, checked.params, self.stats.path, line))


def _integral_floats_to_int(params: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """4.0 -> 4 (an integer a float column spelled as a float); 5.5, inf, nan, True and "4" are left to be rejected."""
    out = {k: int(v) if type(v) is float and v.is_integer() else v for k, v in params.items()}
    return out, any(type(v) is float and v.is_integer() for v in params.values())


def _strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _split_lines(data: Any) -> Any:
    """Physical lines (str or bytes) split on LF only, so a CR stays for the caller to strip and a Unicode line
    separator inside a text stays in it. A final newline does not start an extra line."""
    lines = data.split(b"\n" if isinstance(data, bytes) else "\n")
    if not lines[-1]:
        lines.pop()
    return lines


def _read_jsonl(data: bytes, builder: _Builder) -> None:
    # Decoding line by line confines bad bytes to their line, and is faster than decoding the whole file at once.
    # The BOM is stripped from the first line, not the file: a file holding only a BOM still has one (blank) line.
    for number, raw in enumerate(_split_lines(data), start=1):
        raw = _strip_bom(raw) if number == 1 else raw
        raw = raw[:-1] if raw.endswith(b"\r") else raw  # CRLF: the CR belongs to the line end
        try:
            text = raw.decode("utf-8").lstrip(_BOM)
        except UnicodeDecodeError:
            builder.undecodable(number, raw)
            continue
        if not text.strip():
            builder.stats.blank(number)
            continue
        try:
            obj = _decode_json(text)
        except (ValueError, RecursionError) as exc:
            builder.reject(number, Reason.UNPARSEABLE, f"not JSON: {exc}", raw=text)
            continue
        builder.add(obj, number, text)


def _csv_value(name: str, cell: str) -> Any:
    if name in KEYS and _INT_LITERAL.match(cell):
        return int(cell)
    if name in KEYS and _DECIMAL_LITERAL.match(cell):
        return float(cell)
    return cell


def _read_csv(data: bytes, builder: _Builder) -> None:
    data = _strip_bom(data)
    try:
        text = data.decode("utf-8")
        clean = True
    except UnicodeDecodeError:
        # Keep going past bad bytes: they survive as lone surrogates, and only records containing them are rejected.
        text = data.decode("utf-8", "surrogateescape")
        clean = False
    lines = [line + "\n" for line in _split_lines(text)]
    reader = csv.reader(iter(lines))
    header: list[str] | None = None
    end = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = reader.line_num
            builder.reject(
                start, Reason.UNPARSEABLE, f"not CSV: {exc}", raw="".join(lines[start - 1 : end]).rstrip("\r\n")
            )
            continue
        end = reader.line_num
        raw = "".join(lines[start - 1 : end]).rstrip("\r\n")
        if not raw.strip():
            builder.stats.blank(start)
            continue
        if not clean and _SURROGATE.search(raw):
            builder.undecodable(start, raw.encode("utf-8", "surrogateescape"))
            continue
        if header is None:
            header = [name.strip().lstrip(_BOM) for name in row]
            continue
        if len(row) != len(header):
            builder.reject(
                start, Reason.UNPARSEABLE, f"row has {len(row)} cells but the header has {len(header)}", raw=raw
            )
            continue
        # An empty cell of an unknown column carries nothing, so it is no extra field; a filled one is.
        cells = [(name, _csv_value(name, cell)) for name, cell in zip(header, row) if cell or name in _KNOWN_FIELDS]
        try:
            obj = _unique_fields(cells)
        except _DuplicateField as exc:
            builder.reject(start, Reason.UNPARSEABLE, f"header: {exc}", raw=raw)
            continue
        builder.add(obj, start, raw)


def _read_parquet(path: Path, builder: _Builder) -> None:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a damaged or non-Parquet file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    for number, row in enumerate(rows, start=1):  # "line" of a Parquet record = row index + 1
        raw = json.loads(json.dumps(row, default=lambda v: v.hex() if isinstance(v, bytes) else str(v)))
        bad = next((k for k, v in row.items() if isinstance(v, bytes) and not _is_utf8(v)), None)
        if bad is not None:
            builder.reject(number, Reason.UNDECODABLE, "bytes that are not UTF-8", bad, raw)
            continue
        row = {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in row.items()}
        builder.add(row, number, raw)


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; use {', '.join(FORMATS)}")
    return fmt


def read_file(path: Path) -> ReadResult:
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    builder = _Builder(SourceStats(str(path), fmt))
    if fmt == "parquet":
        _read_parquet(path, builder)
        return builder.result
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    (_read_jsonl if fmt == "jsonl" else _read_csv)(data, builder)
    return builder.result


def find_split_files(directory: Path) -> dict[str, Path]:
    """The train/validation/test files in a folder (each optional). Two candidates for one split is an error."""
    directory = Path(directory)
    if not directory.exists():
        raise DataError(f"{directory}: no such directory")
    if not directory.is_dir():
        raise DataError(f"{directory}: is a file; give the folder that holds train/validation/test files")
    found: dict[str, Path] = {}
    for split, stems in SPLIT_STEMS.items():
        matches = sorted(
            p for p in directory.iterdir() if p.is_file() and p.stem.lower() in stems and p.suffix.lower() in FORMATS
        )
        if len(matches) > 1:
            raise DataError(f"{directory}: several files for the {split} split: {', '.join(p.name for p in matches)}")
        if matches:
            found[split] = matches[0]
    if not found:
        raise DataError(f"{directory}: no train/validation/test file ({', '.join(FORMATS)}) in this folder")
    return found


def read_input(path: Path) -> ReadResult:
    """A file, or the union of a folder's train/validation/test files (each record remembers its own file)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if not path.is_dir():
        return read_file(path)
    result = ReadResult()
    for file in find_split_files(path).values():
        result.extend(read_file(file))
    return result

