"""Near-duplicate machinery: normalisation, n-gram hashes, MinHash + LSH candidates, confirmed pairs."""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hiddenparams.data.neardup import (
    NearDupConfig,
    Timer,
    band_pairs,
    gram_hashes,
    lsh_flags,
    normalise,
    signatures,
    similar_pairs,
)

NEAR = NearDupConfig()


def family(seed: int, size: int) -> list[str]:
    """A 120-character text and variants one character apart: 5-gram Jaccard of about 0.9 with the base."""
    rnd = random.Random(seed)
    words = "calm warm bright loud soft dark piano guitar strings synth drums choir night road rain summer".split()
    base = " ".join(rnd.choice(words) for _ in range(40))[:120]
    variants = [base]
    for k in range(1, size):
        pos = 10 + (k * 23) % 100
        variants.append(base[:pos] + "xyzq"[k % 4] + base[pos + 1 :])
    return variants



# ------------------------------------------------------------------------------------------- normalisation


def slow_normalise(text: str) -> str:
    """The definition, spelled out character by character."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(c for c in folded if not unicodedata.category(c).startswith("P"))
    return " ".join(kept.split())


@settings(max_examples=300)
@given(st.text(max_size=40) | st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_normalise_matches_its_definition(text: str) -> None:
    assert normalise(text) == slow_normalise(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Chill\tLo-Fi,  beats!! ", "chill lofi beats"),
        ("\uff21\uff22\uff23 Stra\u00dfe", "abc strasse"),  # full-width (NFKC) and casefold
        ("\u00a1Hola! \u00abm\u00fasica\u00bb \u2014 ya\u2026", "hola m\u00fasica ya"),  # Unicode punctuation
        ("caf\u0065\u0301", "caf\u00e9"),  # combining accent composed by NFKC
    ],
)
def test_normalise_examples(text: str, expected: str) -> None:
    assert normalise(text) == expected


# ------------------------------------------------------------------------------------------- near-duplicates


def test_gram_hashes_cover_each_window_and_short_texts_are_one_gram() -> None:
    flat, offsets = gram_hashes(["abcdefg", "abc", "", "xbcdefg"], 5)
    assert np.diff(offsets).tolist() == [3, 1, 1, 3]
    first, last = flat[0:3], flat[5:8]
    assert first[1:].tolist() == last[1:].tolist() and first[0] != last[0]  # shared windows hash equally
    assert flat[3] != flat[4]  # "abc" and "" differ


@settings(max_examples=100)
@given(st.lists(st.text(max_size=12), max_size=6))
def test_gram_hashes_of_a_text_do_not_depend_on_its_neighbours(texts: list[str]) -> None:
    flat, offsets = gram_hashes(texts, 5)
    for k, text in enumerate(texts):
        alone, _ = gram_hashes([text], 5)
        assert flat[offsets[k] : offsets[k + 1]].tolist() == alone.tolist()
        assert len(alone) == max(1, len(text) - 4)


def test_rensa_lsh_flags_every_text_that_shares_a_band() -> None:
    texts = [t for f in range(6) for t in family(f, 3)] + [f"unrelated text number {k} " * 3 for k in range(30)]
    flags = lsh_flags(texts, NEAR, Timer())
    sig = signatures(texts, NEAR)
    in_pairs = {int(x) for band in range(NEAR.num_bands) for x in np.concatenate(band_pairs(sig, band, 8))}
    assert in_pairs and in_pairs <= set(np.flatnonzero(flags).tolist())


def test_similar_pairs_finds_the_planted_families_only() -> None:
    families = [family(f, 4) for f in range(5)]
    texts = [t for f in families for t in f] + ["a short one", "another request entirely, for a road trip"]
    pairs = similar_pairs(texts, NEAR, Timer())
    found = set(zip(pairs.i.tolist(), pairs.j.tolist()))
    base_to_variant = {(4 * f, 4 * f + v) for f in range(5) for v in range(1, 4)}  # Jaccard ~0.92
    within_family = {(4 * f + a, 4 * f + b) for f in range(5) for a in range(4) for b in range(a + 1, 4)}
    assert base_to_variant <= found <= within_family
    sig = signatures(texts, NEAR)
    assert all((sig[i] == sig[j]).mean() >= NEAR.threshold for i, j in found)
