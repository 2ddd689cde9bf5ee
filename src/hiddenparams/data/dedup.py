"""Exact duplicates after normalisation: the first occurrence is kept, later ones are rejected as `duplicate` (same
labels) or `conflict` (labels differ), each naming the kept record.

Keeping the first keeps the outcome independent of any voting rule and keeps every label visible in rejected.jsonl.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .neardup import normalise
from .records import Reason, Rejected
from .rows import Row
from ..schema import KEYS

EXAMPLES = 5  # examples listed per kind of problem in the split and check-splits reports


@dataclass
class Deduped:
    kept: list[Row]
    texts: list[str]  # normalised text of each kept record
    rejected: list[Rejected]
    conflict_groups: int
    conflict_examples: list[dict[str, Any]]


def _label_diff(a: dict[str, int], b: dict[str, int]) -> str:
    return ", ".join(f"{k} {a[k]} vs {b[k]}" for k in KEYS if a[k] != b[k])


def exact_dedup(records: Sequence[Row]) -> Deduped:
    """Keep the first record of each normalised text; reject later ones as duplicate (same labels) or conflict."""
    first: dict[str, int] = {}
    kept: list[Row] = []
    texts: list[str] = []
    rejected: list[Rejected] = []
    conflicted: set[int] = set()
    examples: list[dict[str, Any]] = []
    for record in records:
        norm = normalise(record.request_text)
        index = first.get(norm)
        if index is None:
            first[norm] = len(kept)
            kept.append(record)
            texts.append(norm)
            continue
        original = kept[index]
        same_as = f"same normalised text as {original.source}:{original.line} (id {original.id!r}), which is kept"
        if record.hidden_params == original.hidden_params:
            reason, field_name, detail = Reason.DUPLICATE, "request_text", same_as
        else:
            diff = _label_diff(original.hidden_params, record.hidden_params)
            reason, field_name, detail = Reason.CONFLICT, "hidden_params", f"{same_as}; labels differ ({diff})"
            if index not in conflicted and len(examples) < EXAMPLES:
                examples.append(
                    {"text": original.request_text, "kept": original.hidden_params, "other": record.hidden_params}
                )
            conflicted.add(index)
        message = f"{record.source}:{record.line} field {field_name}: {reason.value}: {detail}"
        rejected.append(Rejected(record.source, record.line, reason, message, field_name, record=record, kept=original))
    return Deduped(kept, texts, rejected, len(conflicted), examples)

