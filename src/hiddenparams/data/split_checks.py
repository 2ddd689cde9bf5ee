"""How good are three splits: label histograms and drift, cross-split leakage (computed afresh from the texts), size
minimums, and `check-splits`, which judges a folder of splits made anywhere.

`split` refuses to write splits that break the same rules (`split_problems`), so a split that `split` accepts is one
that `check-splits` accepts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ConfigError, flag
from .dedup import EXAMPLES
from .neardup import (
    NearDupConfig,
    PhaseCallback,
    SignatureTable,
    Timer,
    normalise,
    similar_pairs,
)
from .records import find_split_files, read_file
from .rows import SPLITS, Row
from ..schema import KEYS, MIN_VALUE, VALUES
from .stratify import label_matrix

# Drift between two splits is flagged above max(_DRIFT_FLOOR, _DRIFT_NOISE * sqrt(1/n_a + 1/n_b)): the second term is
# about twice the total-variation distance that two random samples of those sizes show over 11 label values.
_DRIFT_FLOOR = 0.10
_DRIFT_NOISE = 2.5
# Fewer validation or test rows than this measure nothing: one row moves an exact-match rate by 2 points or more.
MIN_EVAL_ROWS = 50


def label_histograms(labels_by_split: dict[str, np.ndarray]) -> dict[str, dict[str, list[int]]]:
    """Per split, per key: counts of each value MIN_VALUE..MAX_VALUE."""
    return {
        split: {
            key: np.bincount(labels[:, k] - MIN_VALUE, minlength=len(VALUES)).tolist()
            if len(labels)
            else [0] * len(VALUES)
            for k, key in enumerate(KEYS)
        }
        for split, labels in labels_by_split.items()
    }


def _tvd(p: list[int], q: list[int]) -> float:
    a, b = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    return float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())


def drift_threshold(n_a: int, n_b: int) -> float:
    """Largest acceptable total-variation distance between two splits' histograms of one key."""
    return max(_DRIFT_FLOOR, _DRIFT_NOISE * math.sqrt(1 / n_a + 1 / n_b))


@dataclass
class DriftPair:
    """How far apart two splits' label histograms are: total-variation distance per key, the worst key, and the
    threshold it is judged against."""

    splits: list[str]
    max_tvd: float
    key: str
    threshold: float
    per_key: dict[str, float]

    @property
    def drifts(self) -> bool:
        return self.max_tvd > self.threshold


@dataclass
class Divergence:
    """Every pair of non-empty splits, and the worst pair (`max_tvd`, `key`, `splits`; None with fewer than two)."""

    max_tvd: float | None
    key: str | None
    splits: list[str] | None
    drifting_pairs: list[list[str]]
    pairs: list[DriftPair]

    def to_json(self) -> dict[str, Any]:
        return {"measure": "total-variation distance between per-key label histograms", **asdict(self)}


def divergence(hists: dict[str, dict[str, list[int]]], max_drift: float | None = None) -> Divergence:
    """Total-variation distance of each key's histogram between each pair of non-empty splits, and the largest."""
    sizes = {s: sum(h[KEYS[0]]) for s, h in hists.items()}
    names = [s for s in hists if sizes[s] > 0]
    pairs = []
    for x, a in enumerate(names):
        for b in names[x + 1 :]:
            per_key = {key: round(_tvd(hists[a][key], hists[b][key]), 4) for key in KEYS}
            worst = max(per_key, key=lambda k: per_key[k])
            limit = max_drift if max_drift is not None else drift_threshold(sizes[a], sizes[b])
            pairs.append(DriftPair([a, b], per_key[worst], worst, round(limit, 4), per_key))
    top = max(pairs, key=lambda p: p.max_tvd, default=None)
    return Divergence(
        max_tvd=top.max_tvd if top else None,
        key=top.key if top else None,
        splits=top.splits if top else None,
        drifting_pairs=[p.splits for p in pairs if p.drifts],
        pairs=pairs,
    )


@dataclass
class Leakage:
    exact: int  # normalised texts found in more than one split
    near: int  # confirmed near-duplicate pairs of different normalised texts in different splits
    examples: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return self.exact + self.near

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "exact": self.exact, "near": self.near, "examples": self.examples}


def _split_names(mask: int, names: Sequence[str]) -> list[str]:
    return [name for k, name in enumerate(names) if mask >> k & 1]


def cross_split_leakage(
    texts_by_split: dict[str, Sequence[str]],
    near: NearDupConfig,
    timer: Timer,
    known: SignatureTable | None = None,
) -> Leakage:
    """Exact (normalised) and near-duplicate matches between different splits, computed from the texts alone.

    It trusts nothing from the grouping or the assignment: texts are normalised afresh and every LSH candidate
    across splits is confirmed. `known` (the signatures of the LSH-flagged texts among exactly these texts, by
    normalised text) saves computing MinHash and LSH flags a second time.
    """
    names = list(texts_by_split)
    with timer.phase("leakage"):
        masks: dict[str, int] = {}  # normalised text -> bit set of the splits holding it
        for k, texts in enumerate(texts_by_split.values()):
            for text in texts:
                norm = normalise(text)
                masks[norm] = masks.get(norm, 0) | 1 << k
        unique = list(masks)
        split_mask = np.fromiter(masks.values(), dtype=np.int64, count=len(masks))
        multi = split_mask & (split_mask - 1) != 0  # more than one bit: the same text in several splits
        examples = [
            {"kind": "exact", "text": unique[k], "splits": _split_names(int(split_mask[k]), names)}
            for k in np.flatnonzero(multi)[:EXAMPLES]
        ]

        def crosses(i: np.ndarray, j: np.ndarray) -> np.ndarray:
            # Both texts only in the same one split is fine; anything else links two different splits.
            return ~((split_mask[i] == split_mask[j]) & ~multi[i])

        flagged = known.flagged(unique) if known is not None else None
        pairs = similar_pairs(unique, near, Timer(), keep=crosses, flagged=flagged)
        for a, b in zip(pairs.i[:EXAMPLES].tolist(), pairs.j[:EXAMPLES].tolist()):
            examples.append(
                {
                    "kind": "near",
                    "texts": [unique[a], unique[b]],
                    "splits": [_split_names(int(split_mask[a]), names), _split_names(int(split_mask[b]), names)],
                }
            )
    return Leakage(int(multi.sum()), len(pairs.i), examples)


def split_problems(
    sizes: Mapping[str, int],
    wanted: Collection[str],
    div: Divergence,
    min_eval_rows: int = MIN_EVAL_ROWS,
) -> list[str]:
    """Why splits of these sizes and this label divergence are not usable: no train rows, a `wanted` evaluation split
    with fewer than `min_eval_rows` rows, or label drift past its threshold. The one rule of `split` and
    `check-splits`."""
    problems = ["train: no valid rows"] if sizes.get("train") == 0 else []
    for name in ("validation", "test"):
        if name in wanted and sizes.get(name, 0) < min_eval_rows:
            problems.append(
                f"{name}: only {sizes.get(name, 0)} rows (fewer than {min_eval_rows}): too small to measure"
            )
    for pair in div.pairs:
        if pair.drifts:
            a, b = pair.splits
            problems.append(
                f"label drift between {a} and {b}: total-variation distance {pair.max_tvd} on {pair.key} "
                f"(threshold {pair.threshold})"
            )
    return problems


@dataclass(frozen=True)
class CheckConfig(NearDupConfig):
    directory: str = ""  # folder with train/validation/test (JSONL, CSV or Parquet)
    min_eval_rows: int = field(
        default=MIN_EVAL_ROWS, metadata=flag("Smallest acceptable validation/test size (the minimum split applies).")
    )
    max_drift: float | None = field(
        default=None,
        metadata=flag(
            "Largest acceptable total-variation distance of a key's labels between two splits (default:"
            " max(0.10, 2.5*sqrt(1/n_a + 1/n_b)), about twice what random splits of those sizes show)."
        ),
    )

    def validate(self, source: str = "config") -> None:
        super().validate(source)
        if self.min_eval_rows < 1:
            raise ConfigError(f"{source}: field 'min_eval_rows': must be >= 1, got {self.min_eval_rows}")
        if self.max_drift is not None and not 0 < self.max_drift <= 1:
            raise ConfigError(f"{source}: field 'max_drift': must be in (0, 1], got {self.max_drift}")


def _wanted(directory: Path) -> list[str]:
    """The splits asked for, as recorded by `split` in split_report.json; all three for splits made elsewhere."""
    try:
        params = json.loads((directory / "split_report.json").read_text(encoding="utf-8"))["params"]
        fractions = {"validation": float(params["val_frac"]), "test": float(params["test_frac"])}
    except (OSError, ValueError, KeyError, TypeError):
        return list(SPLITS)
    return [name for name in SPLITS if fractions.get(name, 1.0) > 0]


@dataclass
class SplitFileCheck:
    """One split file as check-splits read it."""

    file: str
    rows: int
    invalid: int
    invalid_by_reason: dict[str, int]
    invalid_examples: list[str]
    duplicates_within: int  # exact duplicates (after normalisation) inside the file


@dataclass
class CheckReport:
    """What check-splits found; `to_json()` is what `check-splits --json` prints (with the rebuild command)."""

    directory: str
    reasons: list[str]  # why the splits should be rebuilt; empty when they are fine
    splits: dict[str, SplitFileCheck]
    leakage: Leakage
    divergence: Divergence
    histograms: dict[str, dict[str, list[int]]]
    params: CheckConfig
    timings_s: dict[str, float]

    @property
    def rebuild(self) -> bool:
        return bool(self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "verdict": "rebuild" if self.rebuild else "ok",
            **asdict(self),
            "leakage": self.leakage.to_json(),
            "divergence": self.divergence.to_json(),
        }


def check_splits(cfg: CheckConfig, on_phase: PhaseCallback | None = None) -> CheckReport:
    """Judge the train/validation/test files in `cfg.directory`; `rebuild` is True when their quality is low.

    Every split must be usable, except one that the folder's split_report.json says was not asked for (`split
    --val-frac 0`)."""
    directory = Path(cfg.directory)
    timer = Timer(on_phase)
    files = find_split_files(directory)
    reasons: list[str] = []
    per_split: dict[str, SplitFileCheck] = {}
    records: dict[str, list[Row]] = {}
    with timer.phase("read"):
        for name in SPLITS:
            if name not in files:
                reasons.append(f"no {name} file")
                continue
            read = read_file(files[name])
            records[name] = read.records
            by_reason: dict[str, int] = {}
            for r in read.rejected:
                by_reason[r.reason.value] = by_reason.get(r.reason.value, 0) + 1
            norms = [normalise(r.request_text) for r in read.records]
            per_split[name] = check = SplitFileCheck(
                file=str(files[name]),
                rows=len(read.records),
                invalid=len(read.rejected),
                invalid_by_reason=by_reason,
                invalid_examples=[r.message for r in read.rejected[:EXAMPLES]],
                duplicates_within=len(norms) - len(set(norms)),
            )
            if read.rejected:
                reasons.append(
                    f"{name}: {len(read.rejected)} invalid rows ({', '.join(f'{k} {v}' for k, v in by_reason.items())})"
                )
            if check.duplicates_within:
                reasons.append(
                    f"{name}: {check.duplicates_within} exact duplicates (after normalisation) inside the split"
                )
    leakage = cross_split_leakage({n: [r.request_text for r in rs] for n, rs in records.items()}, cfg, timer)
    if leakage.exact:
        reasons.append(f"{leakage.exact} normalised texts appear in more than one split")
    if leakage.near:
        reasons.append(f"{leakage.near} near-duplicate pairs (MinHash Jaccard >= {cfg.threshold}) cross splits")
    hists = label_histograms({n: label_matrix(rs) for n, rs in records.items()})
    div = divergence(hists, cfg.max_drift)
    sizes = {name: len(rows) for name, rows in records.items()}
    reasons += split_problems(sizes, _wanted(directory), div, cfg.min_eval_rows)
    timings = {k: round(v, 3) for k, v in timer.seconds.items()}
    return CheckReport(str(directory), reasons, per_split, leakage, div, hists, cfg, timings)
