"""Split labelled requests into train/validation/test without leakage, and judge splits made elsewhere.

The pipeline, each step a function on data:
  normalise -> exact dedup (first occurrence kept) -> near-duplicate groups (MinHash of character 5-gram sets,
  LSH, candidate pairs confirmed by the MinHash Jaccard estimate, union-find) -> whole groups assigned greedily,
  stratified on every key's label values -> an independent cross-split leakage check of the result -> report.

Conflicts: when normalised texts are equal but labels differ, the first occurrence is kept (like a plain duplicate)
and each later one is rejected as `conflict`, naming the kept record; the report counts the groups. Keeping the first
keeps the outcome independent of any voting rule and keeps every label visible in rejected.jsonl for review.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rensa import RMinHash, RMinHashLSH

from .records import SPLITS, ReadResult, Reason, Record, Rejected, find_split_files, read_file, write_jsonl
from .schema import KEYS, MIN_VALUE, VALUES

PhaseCallback = Callable[[str], None]

# Texts are processed in chunks so that the gram arrays of 1M texts never sit in memory at once.
_CHUNK = 65536
# `to_rows` builds Python ints (about 40 bytes each): convert signatures in small chunks.
_ROWS_CHUNK = 8192
# Pairs are confirmed in blocks of two (block, num_perm) uint32 copies: 8,192 pairs (8 MB) stay in cache.
_PAIR_BLOCK = 8192
# Drift between two splits is flagged above max(_DRIFT_FLOOR, _DRIFT_NOISE * sqrt(1/n_a + 1/n_b)): the second term is
# about twice the total-variation distance that two random samples of those sizes show over 11 label values.
_DRIFT_FLOOR = 0.10
_DRIFT_NOISE = 2.5
_EXAMPLES = 5


@dataclass(frozen=True)
class NearDupConfig:
    """Near-duplicate detection: MinHash of character n-gram sets, LSH banding, candidates confirmed by estimate."""

    threshold: float = 0.8
    num_perm: int = 128
    # 16 bands of 8 rows: a pair at Jaccard 0.8 becomes a candidate with probability 0.95, at 0.9 with 0.9999.
    num_bands: int = 16
    ngram: int = 5
    minhash_seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.num_perm <= 0 or self.num_bands <= 0 or self.num_perm % self.num_bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a positive multiple of num_bands ({self.num_bands})")
        if self.ngram <= 0:
            raise ValueError(f"ngram must be positive, got {self.ngram}")


@dataclass(frozen=True)
class SplitConfig:
    val_frac: float = 0.1
    test_frac: float = 0.1
    seed: int = 0
    near: NearDupConfig = field(default_factory=NearDupConfig)
    # A near-duplicate group larger than this share of the smallest split's target size is reported as a warning.
    max_group_share: float = 0.5

    def __post_init__(self) -> None:
        if self.val_frac < 0 or self.test_frac < 0 or self.val_frac + self.test_frac >= 1:
            raise ValueError(
                f"--val-frac ({self.val_frac}) and --test-frac ({self.test_frac}) must be >= 0 and sum to less than 1"
            )

    @property
    def fractions(self) -> np.ndarray:
        return np.array([1.0 - self.val_frac - self.test_frac, self.val_frac, self.test_frac])


@dataclass(frozen=True)
class CheckConfig:
    near: NearDupConfig = field(default_factory=NearDupConfig)
    min_eval_rows: int = 50
    max_drift: float | None = None  # None: the size-aware threshold of `drift_threshold`


class Timer:
    """Seconds per phase; `on_phase` lets a caller (the CLI's status line) show which phase runs."""

    def __init__(self, on_phase: PhaseCallback | None = None):
        self.seconds: dict[str, float] = {}
        self.on_phase = on_phase

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self.on_phase is not None:
            self.on_phase(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------------- text


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


_ASCII_PUNCTUATION = bytes(c for c in range(128) if _is_punctuation(chr(c)))


@functools.cache
def _punctuation_re() -> re.Pattern[str]:
    """One character class of every Unicode punctuation code point (categories Pc Pd Ps Pe Pi Pf Po)."""
    ranges: list[str] = []
    start = prev = -2
    for cp in range(sys.maxunicode + 1):
        if _is_punctuation(chr(cp)):
            if cp != prev + 1:
                if start >= 0:
                    ranges.append(f"\\U{start:08x}-\\U{prev:08x}")
                start = cp
            prev = cp
    ranges.append(f"\\U{start:08x}-\\U{prev:08x}")
    return re.compile("[" + "".join(ranges) + "]")


def normalise(text: str) -> str:
    """NFKC, casefold, punctuation removed, whitespace collapsed: the text that dedup and leakage compare."""
    if text.isascii():  # NFKC leaves ASCII alone and casefold is lower(): a much faster path for most texts
        text = text.lower().encode("ascii").translate(None, _ASCII_PUNCTUATION).decode("ascii")
    else:
        text = _punctuation_re().sub("", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------- grams and MinHash

_PAD = "\uffff"  # a noncharacter: pads texts shorter than one gram so the whole text is its single gram
_PRIME = np.uint64(0x100000001B3)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place: spreads the polynomial gram hash over all 64 bits."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def gram_hashes(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every character n-gram of every text, as one flat array plus row offsets (len+1).

    Vectorised over the code points of all texts joined: no Python object per gram. A text shorter than n
    characters (the empty text included) is padded, so its whole text is one gram.
    """
    padded = [t if len(t) >= n else t + _PAD * (n - len(t)) for t in texts]
    lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    offsets = np.zeros(len(padded) + 1, dtype=np.uint64)
    if not padded:
        return np.zeros(0, dtype=np.uint64), offsets
    points = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    windows = len(points) - n + 1
    h = points[:windows].copy()
    for k in range(1, n):
        h *= _PRIME
        h += points[k : k + windows]
    _mix(h)
    np.cumsum(lengths - n + 1, out=offsets[1:])
    # Drop the windows that start in the last n-1 characters of a text: they run into the next text.
    inside = np.ones(windows, dtype=bool)
    ends = np.cumsum(lengths)[:-1]
    for k in range(1, n):
        inside[ends - k] = False
    return h[inside], offsets


def _digests(texts: Sequence[str], near: NearDupConfig):  # -> rensa.RMinHashDigestMatrix
    flat, offsets = gram_hashes(texts, near.ngram)
    return RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, near.num_perm, near.minhash_seed)


def signatures(texts: Sequence[str], near: NearDupConfig) -> np.ndarray:
    """MinHash signatures as a (len(texts), num_perm) uint32 array."""
    out = np.empty((len(texts), near.num_perm), dtype=np.uint32)
    for start in range(0, len(texts), _ROWS_CHUNK):
        chunk = texts[start : start + _ROWS_CHUNK]
        out[start : start + len(chunk)] = np.asarray(_digests(chunk, near).to_rows(), dtype=np.uint32)
    return out


def lsh_flags(texts: Sequence[str], near: NearDupConfig, timer: Timer) -> np.ndarray:
    """True for each text that shares at least one LSH band with another text (rensa's RMinHashLSH, in Rust).

    Only flagged texts can be near-duplicates, so only their signatures are brought into numpy afterwards.
    """
    lsh = RMinHashLSH(near.threshold, near.num_perm, near.num_bands)
    matrices = []
    for start in range(0, len(texts), _CHUNK):
        with timer.phase("grams+minhash"):
            matrix = _digests(texts[start : start + _CHUNK], near)
        with timer.phase("lsh"):
            lsh.insert_matrix(matrix, start_key=start)
        matrices.append(matrix)
    with timer.phase("lsh"):
        flags = [np.asarray(lsh.query_duplicate_flags_matrix(m), dtype=bool) for m in matrices]
    return np.concatenate(flags) if flags else np.zeros(0, dtype=bool)


def _band_keys(sig: np.ndarray, band: int, rows: int) -> np.ndarray:
    cols = sig[:, band * rows : (band + 1) * rows].astype(np.uint64)
    key = cols[:, 0].copy()
    for c in range(1, rows):
        key *= _PRIME
        key += cols[:, c]
    return _mix(key)


def band_pairs(sig: np.ndarray, band: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) of rows of `sig` that agree on all values of one band."""
    n = len(sig)
    keys = _band_keys(sig, band, rows)
    order = np.argsort(keys, kind="stable")  # stable: equal keys keep index order, so order[p] < order[p + d]
    sorted_keys = keys[order]
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = sorted_keys[1:] != sorted_keys[:-1]
    run_end = np.append(np.flatnonzero(new_run)[1:], n)[np.cumsum(new_run) - 1]  # exclusive end of each run
    position = np.arange(n)
    firsts: list[np.ndarray] = []
    seconds: list[np.ndarray] = []
    # All pairs inside each run, by distance d: position p pairs with p + d while both are in the same run.
    distance = 1
    active = position[run_end - position > distance]
    while active.size:
        firsts.append(order[active])
        seconds.append(order[active + distance])
        distance += 1
        active = active[run_end[active] - active > distance]
    if not firsts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(firsts), np.concatenate(seconds)


def confirm(sig: np.ndarray, i: np.ndarray, j: np.ndarray, threshold: float) -> np.ndarray:
    """Which pairs have a MinHash Jaccard estimate >= threshold (the same test as rensa's `jaccard`)."""
    num_perm = sig.shape[1]
    # The same float test as rensa's estimate (count / num_perm >= threshold), turned into a mismatch budget.
    allowed = num_perm - next(c for c in range(num_perm + 1) if c / num_perm >= threshold)
    out = np.zeros(len(i), dtype=bool)
    for start in range(0, len(i), _PAIR_BLOCK):
        a, b = i[start : start + _PAIR_BLOCK], j[start : start + _PAIR_BLOCK]
        # np.take is ~3x faster than sig[a] for whole rows, and cache-sized blocks another ~2x.
        misses = np.count_nonzero(np.take(sig, a, axis=0) != np.take(sig, b, axis=0), axis=1)
        out[start : start + len(a)] = misses <= allowed
    return out


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    # np.unique without return_inverse hashes in numpy 2.3, which is ~40x slower than this on 10^7 int64.
    values = np.sort(values)
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


PairFilter = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Flagged:
    """The texts that LSH flagged (only these can have a near-duplicate) and their MinHash signatures."""

    index: np.ndarray  # position in the texts of each signature row
    sig: np.ndarray  # (len(index), num_perm) uint32

    def by_text(self, texts: Sequence[str]) -> SignatureTable:
        return SignatureTable({texts[k]: row for row, k in enumerate(self.index.tolist())}, self.sig)


@dataclass
class SignatureTable:
    """Signatures of LSH-flagged texts looked up by the (normalised) text itself."""

    row: dict[str, int]
    sig: np.ndarray

    def flagged(self, texts: Sequence[str]) -> Flagged:
        where = np.full(len(self.sig), -1, dtype=np.int64)  # position in `texts` of each row's text
        for k, text in enumerate(texts):
            row = self.row.get(text)
            if row is not None:
                where[row] = k
        present = where >= 0
        # Usually every row is present: keep the rows in place rather than copy a (rows, num_perm) matrix.
        return Flagged(where[present], self.sig if present.all() else self.sig[present])


def flag_texts(texts: Sequence[str], near: NearDupConfig, timer: Timer) -> Flagged:
    flagged = np.flatnonzero(lsh_flags(texts, near, timer))
    with timer.phase("grams+minhash"):
        return Flagged(flagged, signatures([texts[k] for k in flagged.tolist()], near))


@dataclass
class SimilarPairs:
    i: np.ndarray  # indices into the texts, i < j, each pair once
    j: np.ndarray
    flagged: int  # texts sharing an LSH band with another
    candidates: int  # band collisions examined (a pair colliding in several bands counts in each)


def similar_pairs(
    texts: Sequence[str],
    near: NearDupConfig,
    timer: Timer,
    keep: PairFilter | None = None,
    flagged: Flagged | None = None,
) -> SimilarPairs:
    """Pairs of texts whose MinHash Jaccard estimate is >= the threshold: LSH candidates, each one confirmed.

    `keep` narrows the candidates before they are confirmed (the leakage check keeps only cross-split pairs).
    `flagged` reuses `flag_texts(texts)` when the caller already has it. Bands are handled one at a time, so only
    one band's candidates are ever in memory.
    """
    found = flagged if flagged is not None else flag_texts(texts, near, timer)
    index, sig = found.index, found.sig
    n = max(len(texts), 1)
    confirmed: list[np.ndarray] = []
    candidates = 0
    with timer.phase("lsh"):
        for band in range(near.num_bands):
            i, j = band_pairs(sig, band, near.num_perm // near.num_bands)
            if keep is not None:
                wanted = keep(index[i], index[j])
                i, j = i[wanted], j[wanted]
            candidates += len(i)
            ok = confirm(sig, i, j, near.threshold)
            a, b = index[i[ok]], index[j[ok]]
            confirmed.append(np.minimum(a, b) * n + np.maximum(a, b))
        pairs = _sorted_unique(np.concatenate(confirmed)) if confirmed else np.zeros(0, dtype=np.int64)
    return SimilarPairs(pairs // n, pairs % n, len(index), candidates)


def group_roots(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Union-find over the pairs: root[k] is the smallest index in k's group (its first member)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving keeps chains short
            x = parent[x]
        return x

    for a, b in zip(i.tolist(), j.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.arange(n)
    touched = _sorted_unique(np.concatenate([i, j]))
    roots[touched] = [find(x) for x in touched.tolist()]
    return roots


# ------------------------------------------------------------------------------------------------ exact dedup


@dataclass
class Deduped:
    kept: list[Record]
    texts: list[str]  # normalised text of each kept record
    rejected: list[Rejected]
    conflict_groups: int
    conflict_examples: list[dict[str, Any]]


def _label_diff(a: dict[str, int], b: dict[str, int]) -> str:
    return ", ".join(f"{k} {a[k]} vs {b[k]}" for k in KEYS if a[k] != b[k])


def exact_dedup(records: Sequence[Record]) -> Deduped:
    """Keep the first record of each normalised text; reject later ones as duplicate (same labels) or conflict."""
    first: dict[str, int] = {}
    kept: list[Record] = []
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
            if index not in conflicted and len(examples) < _EXAMPLES:
                examples.append(
                    {"text": original.request_text, "kept": original.hidden_params, "other": record.hidden_params}
                )
            conflicted.add(index)
        message = f"{record.source}:{record.line} field {field_name}: {reason.value}: {detail}"
        rejected.append(Rejected(record.source, record.line, reason, message, field_name, record=record, kept=original))
    return Deduped(kept, texts, rejected, len(conflicted), examples)


# ------------------------------------------------------------------------------------------------- assignment


STRATIFICATION = (
    "iterative stratification over the key=value label cells: each split wants its fraction of the rows of every "
    "cell; groups go largest first, then in seeded random order, to the split with the largest remaining want for "
    "the group's cells (ties: the split furthest below its size)"
)


def assign_groups(roots: np.ndarray, labels: np.ndarray, cfg: SplitConfig) -> np.ndarray:
    """Split index (0 train, 1 validation, 2 test) per row; all rows of a group get the same split.

    Matching every key's value counts (6 keys x 11 values) directly keeps each per-key distribution close in all
    three splits; on the 5,000-row sample it gave a largest divergence about 7x smaller than stratifying on
    low/mid/high profiles, whose strata are too small to fill validation and test evenly.
    """
    fractions = cfg.fractions
    counts = np.bincount(roots, minlength=len(roots))  # roots are first members: one non-zero count per group
    group_ids = np.flatnonzero(counts)
    sizes = counts[group_ids]
    cells = labels - MIN_VALUE + len(VALUES) * np.arange(len(KEYS))  # (rows, keys) -> cell index
    cell_rows = np.bincount(cells.ravel(), minlength=len(VALUES) * len(KEYS))
    need = [(f * cell_rows).tolist() for f in fractions]  # rows each split still wants, per cell
    total_need = (len(roots) * fractions).tolist()
    open_splits = [k for k, f in enumerate(fractions) if f > 0]
    cell_lists = cells.tolist()
    members: dict[int, list[int]] = {}  # only for groups of several rows; a single row is its own group
    for row in np.flatnonzero(counts[roots] > 1).tolist():
        members.setdefault(int(roots[row]), []).append(row)
    order = np.lexsort((np.random.default_rng(cfg.seed).permutation(len(group_ids)), -sizes))
    choice = np.empty(len(group_ids), dtype=np.int8)
    # A plain loop (a few us per group): each choice depends on all earlier ones.
    for g, root, size in zip(order.tolist(), group_ids[order].tolist(), sizes[order].tolist()):
        group_cells = [c for r in members[root] for c in cell_lists[r]] if size > 1 else cell_lists[root]
        best, best_key = open_splits[0], None
        for k in open_splits:
            wants = need[k]
            key = (sum([wants[c] for c in group_cells]), total_need[k])
            if best_key is None or key > best_key:
                best, best_key = k, key
        choice[g] = best
        wants = need[best]
        for c in group_cells:
            wants[c] -= 1
        total_need[best] -= size
    return choice[(np.cumsum(counts > 0) - 1)[roots]]


# ------------------------------------------------------------------------------------ histograms, drift, leakage


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


def divergence(hists: dict[str, dict[str, list[int]]], max_drift: float | None = None) -> dict[str, Any]:
    """Total-variation distance of each key's histogram between each pair of non-empty splits, and the largest."""
    sizes = {s: sum(h[KEYS[0]]) for s, h in hists.items()}
    names = [s for s in hists if sizes[s] > 0]
    pairs = []
    for x, a in enumerate(names):
        for b in names[x + 1 :]:
            per_key = {key: round(_tvd(hists[a][key], hists[b][key]), 4) for key in KEYS}
            worst = max(per_key, key=lambda k: per_key[k])
            limit = max_drift if max_drift is not None else drift_threshold(sizes[a], sizes[b])
            pairs.append(
                {
                    "splits": [a, b],
                    "max_tvd": per_key[worst],
                    "key": worst,
                    "threshold": round(limit, 4),
                    "per_key": per_key,
                }
            )
    top = max(pairs, key=lambda p: p["max_tvd"], default=None)
    return {
        "measure": "total-variation distance between per-key label histograms",
        "max_tvd": top["max_tvd"] if top else None,
        "key": top["key"] if top else None,
        "splits": top["splits"] if top else None,
        "drifting_pairs": [p["splits"] for p in pairs if p["max_tvd"] > p["threshold"]],
        "pairs": pairs,
    }


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
            for k in np.flatnonzero(multi)[:_EXAMPLES]
        ]

        def crosses(i: np.ndarray, j: np.ndarray) -> np.ndarray:
            # Both texts only in the same one split is fine; anything else links two different splits.
            return ~((split_mask[i] == split_mask[j]) & ~multi[i])

        flagged = known.flagged(unique) if known is not None else None
        pairs = similar_pairs(unique, near, Timer(), keep=crosses, flagged=flagged)
        for a, b in zip(pairs.i[:_EXAMPLES].tolist(), pairs.j[:_EXAMPLES].tolist()):
            examples.append(
                {
                    "kind": "near",
                    "texts": [unique[a], unique[b]],
                    "splits": [_split_names(int(split_mask[a]), names), _split_names(int(split_mask[b]), names)],
                }
            )
    return Leakage(int(multi.sum()), len(pairs.i), examples)


# ------------------------------------------------------------------------------------------------------ split


@dataclass
class SplitResult:
    splits: dict[str, list[Record]]
    rejected: list[Rejected]
    report: dict[str, Any]


def _labels(records: Sequence[Record]) -> np.ndarray:
    return np.array([[r.hidden_params[k] for k in KEYS] for r in records], dtype=np.int64).reshape(-1, len(KEYS))


def _group_report(
    roots: np.ndarray, choice: np.ndarray, dedup: Deduped, pairs: SimilarPairs, cfg: SplitConfig
) -> dict[str, Any]:
    sizes = np.bincount(roots, minlength=len(roots))  # non-zero only at each group's first member
    multi = np.flatnonzero(sizes > 1)
    fractions = cfg.fractions
    smallest_target = len(roots) * fractions[fractions > 0].min()
    limit = cfg.max_group_share * smallest_target
    warnings = []
    for root in multi[np.argsort(-sizes[multi], kind="stable")]:
        if sizes[root] <= limit:
            break
        first = dedup.kept[root].request_text[:60]
        warnings.append(
            f"near-duplicate group of {sizes[root]} texts (first: {first!r}) is larger than {cfg.max_group_share:g} x "
            f"the smallest split's target ({smallest_target:.0f} rows): it all went to {SPLITS[choice[root]]}; "
            "check for templated texts or raise --threshold"
        )
    largest = int(multi[np.argmax(sizes[multi])]) if len(multi) else None
    return {
        "threshold": cfg.near.threshold,
        "flagged_by_lsh": pairs.flagged,
        "candidate_pairs": pairs.candidates,
        "confirmed_pairs": len(pairs.i),
        "groups": len(multi),
        "rows_in_groups": int(sizes[multi].sum()),
        "largest_group": int(sizes[largest]) if largest is not None else 1,
        "largest_group_examples": [dedup.kept[k].request_text for k in np.flatnonzero(roots == largest)[:3]]
        if largest is not None
        else [],
        "warning_limit_rows": round(limit, 1),
        "warnings": warnings,
    }


def split_records(read: ReadResult, cfg: SplitConfig, on_phase: PhaseCallback | None = None) -> SplitResult:
    """The pure core of `hiddenparams split`: valid records in, three splits + rejected + report out."""
    timer = Timer(on_phase)
    with timer.phase("dedup"):
        dedup = exact_dedup(read.records)
    flagged = flag_texts(dedup.texts, cfg.near, timer)
    pairs = similar_pairs(dedup.texts, cfg.near, timer, flagged=flagged)
    with timer.phase("grouping"):
        roots = group_roots(len(dedup.texts), pairs.i, pairs.j)
    with timer.phase("assignment"):
        labels = _labels(dedup.kept)
        choice = assign_groups(roots, labels, cfg)
        splits = {name: [r for r, c in zip(dedup.kept, choice.tolist()) if c == k] for k, name in enumerate(SPLITS)}
        hists = label_histograms({name: labels[choice == k] for k, name in enumerate(SPLITS)})
        groups = _group_report(roots, choice, dedup, pairs, cfg)
    # The kept texts are exactly the splits' texts, so their signatures can be reused by the leakage check.
    known = flagged.by_text(dedup.texts)
    del flagged
    leakage = cross_split_leakage({n: [r.request_text for r in rs] for n, rs in splits.items()}, cfg.near, timer, known)

    rejected = sorted(read.rejected + dedup.rejected, key=lambda r: (r.source, r.line))
    counts = {name: len(rows) for name, rows in splits.items()} | {"rejected": len(rejected)}
    if sum(counts.values()) != read.n_input:  # a bug, never bad input: every record must land somewhere
        raise RuntimeError(f"accounting error: {counts} do not add up to {read.n_input} input records")
    by_reason: dict[str, int] = {}
    for r in rejected:
        by_reason[r.reason.value] = by_reason.get(r.reason.value, 0) + 1
    warnings = list(groups["warnings"])
    if leakage.total:
        warnings.append(f"{leakage.total} cross-split leaks found after assignment (must be 0): this is a bug")
    id_counts: dict[str, int] = {}
    for r in dedup.kept:
        id_counts[r.id] = id_counts.get(r.id, 0) + 1
    repeated_ids = sum(1 for c in id_counts.values() if c > 1)
    if repeated_ids:
        warnings.append(f"{repeated_ids} ids are used by more than one kept row (ids are kept as given)")
    origin: dict[str, dict[str, int]] = {}
    for name, rows in splits.items():
        for r in rows:
            per = origin.setdefault(r.source, {s: 0 for s in SPLITS})
            per[name] += 1
    report = {
        "params": asdict(cfg),
        "inputs": [asdict(s) for s in read.sources],
        "counts": {"input_records": read.n_input, **counts, "blank_lines": sum(s.blank_lines for s in read.sources)},
        "rejected_by_reason": dict(sorted(by_reason.items())),
        "duplicates": {
            "policy": "first occurrence of each normalised text kept; later ones rejected as duplicate (same labels) "
            "or conflict (labels differ), naming the kept record",
            "duplicate": by_reason.get(Reason.DUPLICATE.value, 0),
            "conflict": by_reason.get(Reason.CONFLICT.value, 0),
            "conflict_groups": dedup.conflict_groups,
            "conflict_examples": dedup.conflict_examples,
        },
        "near_duplicates": groups,
        "stratification": STRATIFICATION,
        "histograms": hists,
        "divergence": divergence(hists),
        "leakage": leakage.to_json(),
        "origin": origin,
        "warnings": warnings,
        "timings_s": {k: round(v, 3) for k, v in timer.seconds.items()},
    }
    return SplitResult(splits, rejected, report)


def write_split(result: SplitResult, out: Path) -> dict[str, Path]:
    """Write the four data files and both reports into `out`; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.jsonl" for name in (*SPLITS, "rejected")}
    for name in SPLITS:
        write_jsonl(paths[name], (r.canonical() for r in result.splits[name]))
    write_jsonl(paths["rejected"], (r.to_json() for r in result.rejected))
    paths["report_json"] = out / "split_report.json"
    paths["report_md"] = out / "split_report.md"
    paths["report_json"].write_text(json.dumps(result.report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["report_md"].write_text(split_markdown(result.report), encoding="utf-8")
    return paths


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(map(str, row)) + " |" for row in rows
    ]


def split_markdown(report: dict[str, Any]) -> str:
    c = report["counts"]
    div = report["divergence"]
    nd = report["near_duplicates"]
    leak = report["leakage"]
    lines = ["# Split report", ""]
    lines += _table(["", "rows"], [[k, c[k]] for k in ("input_records", *SPLITS, "rejected", "blank_lines")])
    lines += [
        "",
        f"Every input record is in exactly one of train/validation/test/rejected ({c['input_records']} in all).",
    ]
    lines += ["", "## Rejected by reason", ""]
    lines += (
        _table(["reason", "rows"], sorted(report["rejected_by_reason"].items()))
        if report["rejected_by_reason"]
        else ["None."]
    )
    d = report["duplicates"]
    lines += [
        "",
        f"Duplicates: {d['duplicate']}; conflicts: {d['conflict']} in {d['conflict_groups']} groups. "
        f"Policy: {d['policy']}.",
    ]
    lines += [
        "",
        "## Leakage across splits",
        "",
        f"{leak['total']} (exact {leak['exact']}, near {leak['near']}); must be 0.",
    ]
    lines += ["", "## Near-duplicate groups", ""]
    if nd.get("groups"):
        lines += [
            f"{nd['groups']} groups holding {nd['rows_in_groups']} rows (MinHash Jaccard >= {nd['threshold']}); "
            f"largest: {nd['largest_group']} rows, e.g. "
            + "; ".join(repr(t[:60]) for t in nd["largest_group_examples"])
            + "."
        ]
    else:
        lines += ["None."]
    lines += ["", "## Label distribution", ""]
    if div["max_tvd"] is not None:
        lines += [
            f"Largest divergence: total-variation distance {div['max_tvd']} on `{div['key']}` between "
            f"{div['splits'][0]} and {div['splits'][1]}.",
            "",
        ]
    hists = report["histograms"]
    for key in KEYS:
        lines += [f"### {key}", ""]
        totals = {s: max(1, sum(hists[s][key])) for s in SPLITS}
        lines += _table(
            ["value", *SPLITS],
            [[v, *(f"{100 * hists[s][key][k] / totals[s]:.1f}%" for s in SPLITS)] for k, v in enumerate(VALUES)],
        )
        lines.append("")
    lines += ["## Warnings", ""] + ([f"- {w}" for w in report["warnings"]] or ["None."])
    lines += ["", "## Parameters", "", "```json", json.dumps(report["params"], indent=2), "```", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- check-splits


@dataclass
class CheckResult:
    rebuild: bool
    reasons: list[str]
    report: dict[str, Any]


def check_splits(directory: Path, cfg: CheckConfig, on_phase: PhaseCallback | None = None) -> CheckResult:
    """Judge the train/validation/test files in `directory`; `rebuild` is True when their quality is low."""
    timer = Timer(on_phase)
    files = find_split_files(directory)
    reasons: list[str] = []
    per_split: dict[str, dict[str, Any]] = {}
    records: dict[str, list[Record]] = {}
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
            per_split[name] = {
                "file": str(files[name]),
                "rows": len(read.records),
                "invalid": len(read.rejected),
                "invalid_by_reason": by_reason,
                "invalid_examples": [r.message for r in read.rejected[:_EXAMPLES]],
                "duplicates_within": len(norms) - len(set(norms)),
            }
            if read.rejected:
                reasons.append(
                    f"{name}: {len(read.rejected)} invalid rows ({', '.join(f'{k} {v}' for k, v in by_reason.items())})"
                )
            if name == "train" and not read.records:
                reasons.append("train: no valid rows")
            if per_split[name]["duplicates_within"]:
                reasons.append(
                    f"{name}: {per_split[name]['duplicates_within']} exact duplicates (after normalisation) "
                    "inside the split"
                )
    for name in ("validation", "test"):
        if name in records and len(records[name]) < cfg.min_eval_rows:
            reasons.append(
                f"{name}: only {len(records[name])} rows (fewer than {cfg.min_eval_rows}): too small to measure"
            )
    leakage = cross_split_leakage({n: [r.request_text for r in rs] for n, rs in records.items()}, cfg.near, timer)
    if leakage.exact:
        reasons.append(f"{leakage.exact} normalised texts appear in more than one split")
    if leakage.near:
        reasons.append(f"{leakage.near} near-duplicate pairs (MinHash Jaccard >= {cfg.near.threshold}) cross splits")
    hists = label_histograms({n: _labels(rs) for n, rs in records.items()})
    div = divergence(hists, cfg.max_drift)
    for pair in div["pairs"]:
        if pair["max_tvd"] > pair["threshold"]:
            a, b = pair["splits"]
            reasons.append(
                f"label drift between {a} and {b}: total-variation distance {pair['max_tvd']} on {pair['key']} "
                f"(threshold {pair['threshold']})"
            )
    report = {
        "directory": str(directory),
        "verdict": "rebuild" if reasons else "ok",
        "reasons": reasons,
        "splits": per_split,
        "leakage": leakage.to_json(),
        "divergence": div,
        "histograms": hists,
        "params": asdict(cfg),
        "timings_s": {k: round(v, 3) for k, v in timer.seconds.items()},
    }
    return CheckResult(bool(reasons), reasons, report)
