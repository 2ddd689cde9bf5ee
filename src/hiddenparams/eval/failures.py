"""Where a model fails, from an `eval_report.json` dict (score.py's schema): its worst rows, slices of the test rows
(language, request length, extreme labels) with the baselines' MAE on the same slice, and a paired bootstrap of its
MAE difference against a baseline. Pure: numbers in, numbers out; report.py draws and words them.

Every per-row error here is the over-all one (score.py): an invalid output counts as the worst in-range answer, so
a slice cannot look good by failing its hard rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..schema import KEYS, MAX_VALUE, MIN_VALUE
from .score import worst_prediction

Report = Mapping[str, Any]

# A handful of frequent function words per language: enough to tell the languages a music request is commonly
# written in apart without a model or a new dependency. A text is the language with the most hits, if any.
_STOP_WORDS = {
    "English": "the and for some something with to me my i of a an please play need want while song music like",
    "Spanish": "para una un algo quiero pon necesito con que busco canción mientras el la los las por música",
    "Portuguese": "para um uma algo quero toca preciso com que procuro enquanto dia o os as música",
    "French": "pour une un quelque chose je veux mets de des du la le les avec pendant musique besoin",
    "German": "für eine ein etwas ich brauche suche mit und spiel die der das beim zum musik gib mir",
}
_WORDS = {lang: frozenset(words.split()) for lang, words in _STOP_WORDS.items()}
_TOKEN = re.compile(r"\w+", re.UNICODE)


def script(text: str) -> str:
    """The writing system of most letters of `text` (LATIN, CYRILLIC, CJK, ...), from their Unicode names."""
    scripts = Counter(unicodedata.name(c, "UNKNOWN").split()[0] for c in text if c.isalpha())
    return scripts.most_common(1)[0][0] if scripts else "NONE"


def language(text: str) -> str:
    """A light guess: the script when it is not Latin, else the language whose stop words the text uses most."""
    written = script(text)
    if written not in ("LATIN", "NONE"):
        return f"{written.title()} script"
    words = [w.casefold() for w in _TOKEN.findall(text)]
    hits = {lang: sum(w in stop for w in words) for lang, stop in _WORDS.items()}
    best = max(hits.values())
    winners = [lang for lang, n in hits.items() if n == best]
    return winners[0] if best and len(winners) == 1 else "other (Latin script)"


LENGTH_BINS = ((1, 4), (5, 9), (10, 19), (20, None))  # request length in words
LENGTH_NAMES = [f"{low}+ words" if high is None else f"{low}–{high} words" for low, high in LENGTH_BINS]


def length_bin(text: str) -> str:
    n = len(text.split())
    return next(name for (_, high), name in zip(LENGTH_BINS, LENGTH_NAMES) if high is None or n <= high)


def has_extreme_label(target: Sequence[int]) -> bool:
    """Any key at either end of the scale (0-1 or 9-10): the rows a regressor to the mean gets most wrong."""
    return any(v <= MIN_VALUE + 1 or v >= MAX_VALUE - 1 for v in target)


# --- per-row errors ------------------------------------------------------------------------------------------


def targets(report: Report) -> np.ndarray:
    return np.array([c["target"] for c in report["cases"]], dtype=np.int64).reshape(-1, len(KEYS))


def row_errors(report: Report) -> np.ndarray:
    """(rows, 6) absolute errors of the model, an invalid output scored as the worst in-range answer."""
    truth = targets(report)
    worst = np.abs(worst_prediction(truth) - truth)
    predicted = np.array([c["prediction"] if c["valid"] else c["target"] for c in report["cases"]], dtype=np.int64)
    valid = np.array([c["valid"] for c in report["cases"]], dtype=bool)
    return np.where(valid[:, None], np.abs(predicted.reshape(truth.shape) - truth), worst)


def baseline_errors(report: Report) -> dict[str, np.ndarray]:
    """(rows, 6) absolute errors of each baseline whose per-row answers the report holds."""
    truth = targets(report)
    found = {}
    for name, baseline in (report.get("baselines") or {}).items():
        if baseline.get("predictions") is not None:
            answers = np.array(baseline["predictions"], dtype=np.int64)
        elif baseline.get("prediction") is not None:  # a constant: the same answer for every row
            answers = np.broadcast_to(np.array([baseline["prediction"][k] for k in KEYS]), truth.shape)
        else:
            continue
        found[name] = np.abs(answers - truth)
    return found


@dataclass(frozen=True)
class WorstRow:
    case: Mapping[str, Any]
    errors: list[int]  # signed: prediction - target, per key
    mae: float


def worst_rows(report: Report, limit: int = 10) -> list[WorstRow]:
    """The valid rows with the largest mean absolute error, largest first (invalid rows are listed apart)."""
    picked = []
    for case in report["cases"]:
        if case["valid"]:
            signed = [p - t for p, t in zip(case["prediction"], case["target"])]
            picked.append(WorstRow(case, signed, float(np.mean(np.abs(signed)))))
    picked.sort(key=lambda r: -r.mae)  # stable: ties keep data order
    return [r for r in picked[:limit] if r.mae > 0]


# --- slices --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    group: str  # what the rows are sliced by
    name: str
    n: int
    mae: float  # the model's, over all
    baselines: dict[str, float]


SLICERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "language": lambda c: language(c.get("request_text") or ""),
    "request length": lambda c: length_bin(c.get("request_text") or ""),
    "labels": lambda c: "a key at 0–1 or 9–10" if has_extreme_label(c["target"]) else "every key within 2–8",
}


def slices(report: Report) -> list[Slice]:
    """The model's MAE on each slice beside each baseline's on the same rows; language and length need the request
    texts (absent from reports written before they were kept) and are skipped without them."""
    errors, base = row_errors(report), baseline_errors(report)
    has_text = all(c.get("request_text") is not None for c in report["cases"])
    found = []
    for group, slicer in SLICERS.items():
        if group != "labels" and not has_text:
            continue
        names = [slicer(c) for c in report["cases"]]
        order = sorted(set(names), key=lambda n: (-names.count(n), n))  # the largest slice first
        if group == "request length":
            order = [n for n in LENGTH_NAMES if n in names]
        for name in order:
            rows = np.array([n == name for n in names])
            found.append(
                Slice(
                    group,
                    name,
                    int(rows.sum()),
                    float(errors[rows].mean()),
                    {b: float(e[rows].mean()) for b, e in base.items()},
                )
            )
    return found


# --- uncertainty ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedDifference:
    baseline: str
    difference: float  # model MAE - baseline MAE, over all rows (negative: the model is better)
    low: float  # 95% bootstrap interval of the difference
    high: float
    rows: int
    resamples: int


def paired_bootstrap(report: Report, baseline: str, resamples: int = 2000, seed: int = 0) -> PairedDifference | None:
    """The MAE difference against `baseline` with a 95% percentile interval from resampling rows (both models
    answered the same rows, so each resample keeps the pairs); None without the baseline's per-row answers."""
    base = baseline_errors(report).get(baseline)
    if base is None:
        return None
    per_row = row_errors(report).mean(axis=1) - base.mean(axis=1)
    rng = np.random.default_rng(seed)  # fixed: the same report gives the same interval
    draws = rng.integers(0, len(per_row), size=(resamples, len(per_row)))
    means = per_row[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedDifference(baseline, float(per_row.mean()), float(low), float(high), len(per_row), resamples)


def strongest_baseline(report: Report) -> str | None:
    """The baseline with the lowest MAE among those with per-row answers."""
    found = baseline_errors(report)
    return min(found, key=lambda b: float(found[b].mean())) if found else None


def losing_keys(report: Report, baseline: str) -> list[tuple[str, float, float]]:
    """(key, model MAE, baseline MAE) for each key where the model's MAE over all is above the baseline's."""
    model = report["metrics"]["over_all"]["mae_per_key"]
    other = report["baselines"][baseline]["mae_per_key"]
    return [(k, model[k], other[k]) for k in KEYS if model[k] > other[k]]
