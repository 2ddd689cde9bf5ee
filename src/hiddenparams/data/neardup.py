"""Near-duplicate texts: normalisation, character n-gram hashes, MinHash (rensa, Rust), LSH banding, candidate pairs
confirmed by the MinHash Jaccard estimate, and union-find groups.

Used by the split (groups never span two splits) and by the independent cross-split leakage check.
"""

from __future__ import annotations

import functools
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from rensa import RMinHash, RMinHashLSH

from ..config import ConfigError, flag

PhaseCallback = Callable[[str], None]

# Texts are processed in chunks so that the gram arrays of 1M texts never sit in memory at once.
_CHUNK = 65536
# `to_rows` builds Python ints (about 40 bytes each): convert signatures in small chunks.
_ROWS_CHUNK = 8192
# Pairs are confirmed in blocks of two (block, num_perm) uint32 copies: 8,192 pairs (8 MB) stay in cache.
_PAIR_BLOCK = 8192


@dataclass(frozen=True)
class NearDupConfig:
    """Near-duplicate detection: MinHash of character n-gram sets, LSH banding, candidates confirmed by estimate."""

    threshold: float = field(
        default=0.8, metadata=flag("Near-duplicate threshold: MinHash Jaccard estimate of 5-gram sets.")
    )
    num_perm: int = 128
    # 16 bands of 8 rows: a pair at Jaccard 0.8 becomes a candidate with probability 0.95, at 0.9 with 0.9999.
    num_bands: int = 16
    ngram: int = 5
    minhash_seed: int = 0

    def validate(self, source: str = "config") -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"{source}: field 'threshold': must be in (0, 1], got {self.threshold}")
        if self.num_perm <= 0 or self.num_bands <= 0 or self.num_perm % self.num_bands:
            raise ConfigError(
                f"{source}: field 'num_perm': {self.num_perm} must be a positive multiple of num_bands "
                f"({self.num_bands})"
            )
        if self.ngram <= 0:
            raise ConfigError(f"{source}: field 'ngram': must be positive, got {self.ngram}")


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

