"""Synthetic music requests with labels from a documented latent model (the embedded default dataset).

Every request is composed from parts. Each part is a `Cue` with a latent effect on the six keys:

- an occasion or activity (workout, studying, grandmother's 80th birthday, falling asleep, ...), said either as a
  phrase ("for my grandmother's 80th birthday") or as a situation ("It's my grandma's 80th on Saturday");
- a genre or instrument (acoustic guitar, synthwave, string quartet, lo-fi, jazz trio, EDM, ...);
- a mood adjective (mellow, upbeat, dark, cozy, ...);
- an era or memory cue ("like the 80s", "songs from my childhood", "brand new releases only");
- a tempo phrase ("nothing too fast", "around 140 bpm").

Every part is optional, with presence rates `PRESENCE`. The labels of a request are

    clip(round(BASE + sum of the effects of its parts + noise), 0, 10)

where noise is Gaussian with standard deviation `NOISE_SD`, drawn per text (a fixed table indexed by the CRC-32 of
the text before case and final punctuation) so that a text that recurs by chance gets the same labels instead of a
spurious conflict. Then, in order:

- label noise: `LABEL_NOISE_RATE` of rows get one random key shifted by 2..4 either way (clipped);
- non-English: `FOREIGN_RATE` of rows are Spanish, French, German or Portuguese, from cues that have a translation;
- surface noise: lower case (`LOWER_RATE`), upper case (`UPPER_RATE`), an emoji (`EMOJI_RATE`), one typo, a swapped
  or dropped letter (`TYPO_RATE`); none of these changes the labels;
- duplicates: `NEAR_DUP_RATE` of rows copy an earlier row's text with a small word edit (same labels), and
  `REPEAT_RATE` copy it exactly up to case and punctuation; a fifth of those repeats carry a label one step off on
  one key, as two annotators would disagree, so the split stage sees real duplicates, near-duplicates and conflicts.

Everything is drawn from `numpy.random.default_rng(seed)` in whole columns, so one million rows take seconds and a
given (n, seed) always gives the same rows. The occasions carry most of the indirect meaning: "to fall asleep"
lowers energy, a grandparent's birthday raises nostalgia and warmth, although neither names a parameter.
"""

from __future__ import annotations

import zlib
from functools import cache

import numpy as np

from .sample_vocab import (
    EMOJIS,
    ENDS,
    FOREIGN,
    LANGS,
    NEAR_DUP_PREFIXES,
    NEAR_DUP_SUFFIXES,
    NOUNS,
    OCCASIONS,
    OPENERS,
    REPEAT_ENDINGS,
    SITUATION_TEMPLATES,
    SLOTS,
    TEMPLATES,
    Cue,
    fx,
)
from ..schema import KEYS, MAX_VALUE, MIN_VALUE

BASE = 5.0
NOISE_SD = 0.6
PRESENCE = {"occasion": 0.85, "genre": 0.65, "mood": 0.6, "era": 0.35, "tempo": 0.25}
SITUATION_RATE = 0.3  # of the rows whose occasion has situation sentences
LABEL_NOISE_RATE = 0.03
FOREIGN_RATE = 0.03
LOWER_RATE = 0.12
UPPER_RATE = 0.015
EMOJI_RATE = 0.04
TYPO_RATE = 0.05
NEAR_DUP_RATE = 0.02
REPEAT_RATE = 0.01
REPEAT_CONFLICT_SHARE = 0.2



def _effects(cues: tuple[Cue, ...]) -> np.ndarray:
    """Effect matrix with an all-zero last row, the index of an absent part."""
    return np.array([c.effect for c in cues] + [fx()], dtype=np.float64)


def _phrase_table(cues: tuple[Cue, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every English phrase of a slot in one object array, with each cue's offset and count; the absent part is ''."""
    phrases = [p for c in cues for p in c.phrases] + [""]
    counts = np.array([len(c.phrases) for c in cues] + [1])
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return np.array(phrases, dtype=object), offsets, counts


@cache
def _text_noise() -> np.ndarray:
    """Fixed Gaussian noise, one row per CRC-32 bucket: the same text gets the same noise under every seed."""
    return np.random.default_rng(20240611).normal(0.0, NOISE_SD, size=(1 << 16, len(KEYS)))


def _typo(text: str, u_pos: float, swap: bool) -> str:
    letters = [i for i, ch in enumerate(text[:-1]) if ch.isalpha() and text[i + 1].isalpha()]
    if not letters:
        return text
    i = letters[int(u_pos * len(letters))]
    if swap:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + text[i + 1 :]


def _tidy(text: str) -> str:
    text = " ".join(text.split())
    for loose, tight in ((" ,", ","), (" .", "."), (" ?", "?"), (" :", ":"), (",,", ",")):
        text = text.replace(loose, tight)
    return text.strip(" ,:")


def _generate(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Texts and integer labels (n x 6) of n requests."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)

    def uniform() -> np.ndarray:
        return rng.random(n)

    def pick(k: int) -> np.ndarray:
        return (uniform() * k).astype(np.int64)

    lang = np.where(uniform() < FOREIGN_RATE, pick(len(LANGS)), -1)
    foreign = lang >= 0

    index: dict[str, np.ndarray] = {}
    english: dict[str, list[str]] = {}
    latent = np.full((n, len(KEYS)), BASE)
    for slot, cues in SLOTS:
        idx = pick(len(cues))
        for li, code in enumerate(LANGS):
            rows = lang == li
            eligible = np.array([i for i, c in enumerate(cues) if code in c.intl])
            idx[rows] = eligible[pick(len(eligible))[rows]]
        idx = np.where(uniform() < PRESENCE[slot], idx, len(cues))
        index[slot] = idx
        latent += _effects(cues)[idx]
        phrases, offsets, counts = _phrase_table(cues)
        english[slot] = phrases[offsets[idx] + (uniform() * counts[idx]).astype(np.int64)].tolist()

    has_situations = np.array([bool(c.situations) for c in OCCASIONS] + [False])
    situation = (uniform() < SITUATION_RATE) & has_situations[index["occasion"]] & ~foreign
    occ_list = index["occasion"].tolist()
    u_situation = uniform().tolist()
    # Kept as uniforms: English and foreign rows index lists of different lengths with them.
    u_template, u_opener = uniform().tolist(), uniform().tolist()
    noun, end = pick(len(NOUNS)).tolist(), pick(len(ENDS)).tolist()
    u_case = uniform().tolist()
    emoji = np.where(uniform() < EMOJI_RATE, pick(len(EMOJIS)), -1).tolist()
    typo = (uniform() < TYPO_RATE).tolist()
    u_typo_pos, typo_swap = uniform().tolist(), (uniform() < 0.5).tolist()
    u_dup = uniform()
    dup = np.where(u_dup < NEAR_DUP_RATE, 1, np.where(u_dup < NEAR_DUP_RATE + REPEAT_RATE, 2, 0))
    dup[:1] = 0  # the first row has nothing to copy
    source = (uniform() * np.arange(n)).astype(np.int64).tolist()
    edit = pick(len(NEAR_DUP_PREFIXES) + len(NEAR_DUP_SUFFIXES)).tolist()
    slot_lists = [english[s] for s, _ in SLOTS]
    lang_list, situation_list, dup_list = lang.tolist(), situation.tolist(), dup.tolist()
    parts = {s: index[s].tolist() for s, _ in SLOTS}

    texts: list[str] = []
    clean_keys = np.empty(n, dtype=np.int64)
    for i in range(n):
        if dup_list[i]:
            text = _copy(texts[source[i]], dup_list[i], edit[i])
            texts.append(text)
            clean_keys[i] = -1
            continue
        if lang_list[i] >= 0:
            text = _foreign_text(LANGS[lang_list[i]], {s: parts[s][i] for s, _ in SLOTS}, u_opener[i], u_template[i])
        else:
            c, g, md, e, t = (lst[i] for lst in slot_lists)
            if md and g:
                m = f"{md} {g}"
            elif md:
                m = f"{NOUNS[noun[i]]} {md}" if NOUNS[noun[i]] == "something" else f"{md} {NOUNS[noun[i]]}"
            else:
                m = g or NOUNS[noun[i]]
            o = OPENERS[int(u_opener[i] * len(OPENERS))]
            if situation_list[i]:
                situations = OCCASIONS[occ_list[i]].situations
                s = situations[int(u_situation[i] * len(situations))]
                tpl = SITUATION_TEMPLATES[int(u_template[i] * len(SITUATION_TEMPLATES))]
                text = tpl.format(s=s, o=o, m=m, e=e, t=t)
            else:
                text = TEMPLATES[int(u_template[i] * len(TEMPLATES))].format(o=o, m=m, c=c, e=e, t=t)
            text = _tidy(text)
        # Keyed before case and final punctuation, which the split's normalisation ignores too.
        clean_keys[i] = zlib.crc32(text.casefold().encode()) & 0xFFFF
        if lang_list[i] < 0:
            text += ENDS[end[i]]
        text = text[0].upper() + text[1:]
        if u_case[i] < LOWER_RATE:
            text = text.lower()
        elif u_case[i] > 1.0 - UPPER_RATE:
            text = text.upper()
        if emoji[i] >= 0:
            text = f"{text} {EMOJIS[emoji[i]]}"
        if typo[i]:
            text = _typo(text, u_typo_pos[i], typo_swap[i])
        texts.append(text)

    original = clean_keys >= 0
    noisy = latent + np.where(original[:, None], _text_noise()[np.maximum(clean_keys, 0)], 0.0)
    labels = np.clip(np.rint(noisy), MIN_VALUE, MAX_VALUE).astype(np.int64)
    flip = (uniform() < LABEL_NOISE_RATE) & original
    key = pick(len(KEYS))
    shift = (pick(3) + 2) * np.where(uniform() < 0.5, -1, 1)
    labels[flip, key[flip]] = np.clip(labels[flip, key[flip]] + shift[flip], MIN_VALUE, MAX_VALUE)

    conflict = (uniform() < REPEAT_CONFLICT_SHARE).tolist()
    step = np.where(uniform() < 0.5, -1, 1).tolist()
    key_list = key.tolist()
    for i in np.flatnonzero(dup).tolist():  # in row order, so a copy of a copy sees its source's final labels
        labels[i] = labels[source[i]]
        if dup_list[i] == 2 and conflict[i]:
            k = key_list[i]
            v = labels[i, k]
            labels[i, k] = v + step[i] if MIN_VALUE <= v + step[i] <= MAX_VALUE else v - step[i]
    return texts, labels


def _foreign_text(code: str, parts: dict[str, int], u_opener: float, u_template: float) -> str:
    openers, music, something, templates = FOREIGN[code]
    said = {s: (cues[parts[s]].intl[code] if parts[s] < len(cues) else "") for s, cues in SLOTS}
    mood = said["mood"]
    d = f"{something} {mood}" if mood else ""
    text = templates[int(u_template * len(templates))].format(
        o=openers[int(u_opener * len(openers))], m=said["genre"] or music, c=said["occasion"], d=d, e=said["era"],
        t=said["tempo"],
    )
    if code == "es" and text.startswith("¿"):
        text += "?"
    return _tidy(text)


def _copy(text: str, kind: int, edit: int) -> str:
    """A near-duplicate (kind 1: one small word edit) or a repeat (kind 2: same words, other case or punctuation)."""
    if kind == 1:
        if edit < len(NEAR_DUP_PREFIXES):
            return NEAR_DUP_PREFIXES[edit] + text
        return text.rstrip(".!?") + NEAR_DUP_SUFFIXES[edit - len(NEAR_DUP_PREFIXES)]
    variant = edit % 4
    if variant == 0:
        return text.lower()
    return text.rstrip(".!?") + REPEAT_ENDINGS[variant]


def generate_rows(n: int, seed: int = 0) -> list[dict]:
    """`n` canonical rows `{"id", "request_text", "hidden_params"}` with ids `s000001`...; fixed by (n, seed)."""
    texts, labels = _generate(n, seed)
    return [
        {"id": f"s{i + 1:06d}", "request_text": text, "hidden_params": dict(zip(KEYS, row))}
        for i, (text, row) in enumerate(zip(texts, labels.tolist()))
    ]


def generate_texts(n: int, seed: int = 0) -> list[str]:
    """The request texts of `generate_rows(n, seed)`, without labels (for plain language-model pre-training).

    Use a seed other than the labelled data's so that pre-training text and evaluation text are drawn apart.
    """
    return _generate(n, seed)[0]
