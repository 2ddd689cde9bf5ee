"""The one source of truth for the six hidden parameters: keys, range, rendering and the strict parser.

Every stage (conversion, training, evaluation, the job script, the model card) imports from here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

KEYS: tuple[str, ...] = ("energy", "warmth", "brightness", "acousticness", "complexity", "nostalgia")
MIN_VALUE = 0
MAX_VALUE = 10
VALUES: tuple[int, ...] = tuple(range(MIN_VALUE, MAX_VALUE + 1))

Params = dict[str, int]


class Invalid(str, Enum):
    """Why a generation (or an input label) is not a valid parameter object. Values are short stable codes."""

    EMPTY = "empty"
    CODE_FENCE = "code_fence"
    TEXT_BEFORE = "text_before"
    NOT_JSON = "not_json"
    TRAILING_TEXT = "trailing_text"
    MULTIPLE_OBJECTS = "multiple_objects"
    NOT_OBJECT = "not_object"
    DUPLICATE_KEY = "duplicate_key"
    MISSING_KEY = "missing_key"
    EXTRA_KEY = "extra_key"
    NOT_INTEGER = "not_integer"
    NON_FINITE = "non_finite"
    OUT_OF_RANGE = "out_of_range"


@dataclass(frozen=True)
class ParseResult:
    params: Params | None
    error: Invalid | None = None
    detail: str = ""

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str | None:
        if self.error is None:
            return None
        return f"{self.error.value}: {self.detail}" if self.detail else self.error.value


class _Reject(Exception):
    def __init__(self, error: Invalid, detail: str = ""):
        super().__init__(detail)
        self.error = error
        self.detail = detail


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Reject(Invalid.DUPLICATE_KEY, f"key {key!r} appears twice")
        seen[key] = value
    return seen


def _reject_float(literal: str) -> Any:
    raise _Reject(Invalid.NOT_INTEGER, f"{literal} is not an integer literal")


def _reject_constant(literal: str) -> Any:
    raise _Reject(Invalid.NON_FINITE, f"{literal} is not valid JSON")


def _parse_int(literal: str) -> int:
    # int() raises ValueError past 4300 digits (CPython's DoS guard); a literal that long is out of range anyway.
    if len(literal) > 20:
        raise _Reject(Invalid.OUT_OF_RANGE, f"a {len(literal)}-character integer is outside {MIN_VALUE}..{MAX_VALUE}")
    return int(literal)


# Python's json accepts NaN/Infinity and floats; these hooks make it as strict as the JSON grammar and our schema.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates,
    parse_float=_reject_float,
    parse_int=_parse_int,
    parse_constant=_reject_constant,
)
_FENCE = re.compile(r"^```")


def check_params(obj: Any) -> Params:
    """Validate an already-decoded object against the schema. Raises `_Reject` (via `parse_params`)."""
    if not isinstance(obj, dict):
        raise _Reject(Invalid.NOT_OBJECT, f"top level is {type(obj).__name__}, not an object")
    missing = [k for k in KEYS if k not in obj]
    if missing:
        raise _Reject(Invalid.MISSING_KEY, f"missing {', '.join(missing)}")
    extra = [k for k in obj if k not in KEYS]
    if extra:
        raise _Reject(Invalid.EXTRA_KEY, f"unexpected {', '.join(map(repr, extra))}")
    for key in KEYS:
        value = obj[key]
        # bool is a subclass of int in Python; JSON true/false is not an integer here.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Reject(Invalid.NOT_INTEGER, f"{key}={json.dumps(value)} is not an integer")
        if not MIN_VALUE <= value <= MAX_VALUE:
            raise _Reject(Invalid.OUT_OF_RANGE, f"{key}={value} is outside {MIN_VALUE}..{MAX_VALUE}")
    return {k: int(obj[k]) for k in KEYS}


def validate_params(obj: Any) -> ParseResult:
    """Schema check for a decoded value (input labels). Same rules as the strict parser after decoding."""
    try:
        return ParseResult(check_params(obj))
    except _Reject as exc:
        return ParseResult(None, exc.error, exc.detail)


def parse_strict(text: str) -> ParseResult:
    """Parse a model generation under the strict rules.

    Valid only if, after stripping surrounding whitespace, the text is exactly one JSON object with exactly the
    six keys, each an integer literal in range, no duplicate keys, and nothing before or after it.
    """
    s = text.strip()
    if not s:
        return ParseResult(None, Invalid.EMPTY, "no output")
    if _FENCE.match(s):
        return ParseResult(None, Invalid.CODE_FENCE, "output is wrapped in a code fence")
    try:
        # A top-level array is JSON, not prose before an object: let it decode and fail as NOT_OBJECT.
        if not s.startswith(("{", "[")) and "{" in s:
            raise _Reject(Invalid.TEXT_BEFORE, f"text before the object: {s[: s.index('{')][:40]!r}")
        obj, end = _DECODER.raw_decode(s)  # a bare scalar decodes here and is NOT_OBJECT below
        if end != len(s):
            rest = s[end:].lstrip()
            if rest.startswith("{"):
                raise _Reject(Invalid.MULTIPLE_OBJECTS, "a second object follows the first")
            raise _Reject(Invalid.TRAILING_TEXT, f"text after the object: {rest[:40]!r}")
        return ParseResult(check_params(obj))
    except _Reject as exc:
        return ParseResult(None, exc.error, exc.detail)
    except json.JSONDecodeError as exc:
        return ParseResult(None, Invalid.NOT_JSON, f"{exc.msg} at char {exc.pos}")
    except RecursionError:
        return ParseResult(None, Invalid.NOT_JSON, "nesting too deep")


def to_json(params: Params) -> str:
    """The canonical completion text: keys in canonical order, compact separators, nothing after."""
    return json.dumps({k: int(params[k]) for k in KEYS}, separators=(", ", ": "))


def json_prefix_for(key: str) -> str:
    """The constant text that precedes `key`'s value in `to_json` output (used by constrained decoding)."""
    i = KEYS.index(key)
    return ("{" if i == 0 else ", ") + json.dumps(key) + ": "
