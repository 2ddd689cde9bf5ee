"""The synthetic sample generator: determinism, validity, the shipped file, and the latent model's promises."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hiddenparams.data import sample_vocab
from hiddenparams.cli import app
from hiddenparams.data.sample import generate_rows, generate_texts
from hiddenparams.schema import KEYS, validate_params

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "data" / "sample" / "train.jsonl"
DOCUMENTED_COMMAND = "hiddenparams make-sample --out data/sample/train.jsonl --n 5000 --seed 0"


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate_rows(5000, seed=0)


def _normalised(text: str) -> str:
    """The split stage's exact-duplicate key, as docs/ARCHITECTURE.md ("Duplicates") defines it."""
    text = re.sub(r"[^\w\s]", "", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(text.split())


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([r["hidden_params"][key] for r in rows], dtype=float)


def _mentioning(rows: list[dict], pattern: str) -> list[dict]:
    found = [r for r in rows if re.search(pattern, r["request_text"], re.IGNORECASE)]
    assert len(found) >= 30, f"too few rows match {pattern!r} to judge an average"
    return found


def test_same_seed_same_rows_other_seed_other_rows():
    assert generate_rows(400, seed=3) == generate_rows(400, seed=3)
    other = generate_rows(400, seed=4)
    assert [r["request_text"] for r in other] != [r["request_text"] for r in generate_rows(400, seed=3)]
    assert generate_texts(400, seed=3) == [r["request_text"] for r in generate_rows(400, seed=3)]


def test_rows_are_canonical_and_valid(rows):
    assert [r["id"] for r in rows[:2]] == ["s000001", "s000002"]
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert list(row) == ["id", "request_text", "hidden_params"]
        assert list(row["hidden_params"]) == list(KEYS)
        assert validate_params(row["hidden_params"]).valid, row
        assert isinstance(row["request_text"], str) and row["request_text"].strip(), row


def test_labels_use_the_whole_range(rows):
    for key in KEYS:
        values = _column(rows, key)
        assert values.min() <= 1 and values.max() >= 9, key
        assert values.std() > 1.5, key


def test_texts_are_mostly_5_to_30_words(rows):
    words = np.array([len(r["request_text"].split()) for r in rows])
    assert 8 <= np.median(words) <= 20
    assert ((words >= 5) & (words <= 30)).mean() > 0.9


def test_shipped_file_is_the_documented_command(tmp_path):
    assert DOCUMENTED_COMMAND in (ROOT / "docs" / "SAMPLE_DATA.md").read_text(encoding="utf-8")
    out = tmp_path / "train.jsonl"
    args = DOCUMENTED_COMMAND.split()[1:]
    args[args.index("--out") + 1] = str(out)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == SHIPPED.read_bytes()
    shipped = [json.loads(line) for line in SHIPPED.read_text(encoding="utf-8").splitlines()]
    assert shipped == generate_rows(5000, seed=0)


def test_make_sample_json_output(tmp_path):
    out = tmp_path / "deeper" / "s.jsonl"
    result = CliRunner().invoke(app, ["make-sample", "--out", str(out), "--n", "7", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"out": str(out), "rows": 7, "seed": 2}
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == generate_rows(7, 2)


def test_indirect_cues_move_their_keys(rows):
    nostalgia, energy = _column(rows, "nostalgia"), _column(rows, "energy")
    family = _mentioning(rows, r"grandm|grandpa|grandfather|nan's|childhood|being a kid|as kids")
    assert _column(family, "nostalgia").mean() > nostalgia.mean() + 1.5
    sleepy = _mentioning(rows, r"sleep|bedtime")
    assert _column(sleepy, "energy").mean() < energy.mean() - 2.0
    gym = _mentioning(rows, r"gym|workout|leg day|HIIT")
    assert _column(gym, "energy").mean() > energy.mean() + 1.5
    acoustic = _mentioning(rows, r"acoustic guitar|string quartet|bluegrass")
    electronic = _mentioning(rows, r"\bEDM\b|techno|drum and bass")
    assert _column(acoustic, "acousticness").mean() > _column(electronic, "acousticness").mean() + 4


def test_labels_are_learnable_from_text(rows):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    texts = [r["request_text"] for r in rows]
    labels = np.array([[r["hidden_params"][k] for k in KEYS] for r in rows], dtype=float)
    train, test = slice(0, 4000), slice(4000, None)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = Ridge(alpha=1.0).fit(vectorizer.fit_transform(texts[train]), labels[train])
    predicted = np.clip(np.rint(model.predict(vectorizer.transform(texts[test]))), 0, 10)
    mean_mae = np.abs(labels[test] - np.rint(labels[train].mean(axis=0))).mean()
    ridge_mae = np.abs(labels[test] - predicted).mean()
    assert ridge_mae < 0.5 * mean_mae, (ridge_mae, mean_mae)


def test_non_english_and_emoji_rows_exist(rows):
    texts = [r["request_text"] for r in rows]
    non_ascii = [t for t in texts if not t.isascii()]
    assert 0.03 * len(texts) < len(non_ascii) < 0.15 * len(texts)
    joined = " ".join(texts).casefold()
    for word in ("für", "pour", "para", "canción", "geburtstag"):
        assert word in joined, word
    assert any(e in joined for e in sample_vocab.EMOJIS)


def test_duplicates_near_duplicates_and_conflicts_exist(rows):
    labels_by_text: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    for r in rows:
        labels_by_text[_normalised(r["request_text"])].append(tuple(r["hidden_params"].values()))
    repeats = len(rows) - len(labels_by_text)
    assert 0.005 * len(rows) < repeats < 0.03 * len(rows)
    conflicts = sum(len(set(v)) > 1 for v in labels_by_text.values())
    assert 0 < conflicts < repeats

    seen: set[str] = set()
    near = 0
    for text in (r["request_text"] for r in rows):
        prefixed = any(text.startswith(p) and text[len(p) :] in seen for p in sample_vocab.NEAR_DUP_PREFIXES)
        suffixed = any(
            text.endswith(s) and any(text[: -len(s)] + end in seen for end in ("", ".", "!", "?"))
            for s in sample_vocab.NEAR_DUP_SUFFIXES
        )
        near += prefixed or suffixed
        seen.add(text)
    assert 0.01 * len(rows) < near < 0.04 * len(rows)


def test_effects_are_written_by_key_name():
    assert sample_vocab.fx(nostalgia=2)[KEYS.index("nostalgia")] == 2
    with pytest.raises(ValueError, match="tempo"):
        sample_vocab.fx(tempo=1)
