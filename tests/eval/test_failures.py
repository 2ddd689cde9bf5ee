"""Where a model fails: worst rows, slices beside the baselines, and the paired interval against a baseline."""

import pytest

from hiddenparams.data.rows import Row
from hiddenparams.eval import failures
from hiddenparams.eval.score import score
from hiddenparams.schema import KEYS, to_json

TRAIN = [
    Row(f"t{i}", f"calm piano {i}" if i % 2 else f"loud drums {i}", dict.fromkeys(KEYS, 2 if i % 2 else 8))
    for i in range(20)
]


def test_language_is_told_by_stop_words_or_by_script():
    assert failures.language("Quero música para um dia de praia") == "Portuguese"
    assert failures.language("quiero algo tranquilo para estudiar") == "Spanish"
    assert failures.language("need something for a rainy night") == "English"
    assert failures.language("Спокойная музыка для сна") == "Cyrillic script"
    assert failures.language("lofi 🎶") == "other (Latin script)"
    assert [failures.length_bin(t) for t in ("jazz", "a b c d e", " ".join("x" * 25))] == [
        "1–4 words",
        "5–9 words",
        "20+ words",
    ]


def test_worst_rows_slices_and_the_paired_interval_are_computed_from_the_rows():
    rows = [
        Row(
            f"x{i}",
            "some calm piano for me" if i % 2 else "Quero música para um dia de praia",
            dict.fromkeys(KEYS, 2 if i % 2 else 9),
        )
        for i in range(8)
    ]
    # Right on the English rows, off by 4 on every key of the Portuguese ones, one output invalid.
    outputs = [to_json(r.hidden_params if i % 2 else dict.fromkeys(KEYS, 5)) for i, r in enumerate(rows)]
    outputs[0] = "nope"
    report = score(rows, outputs, TRAIN).to_dict()

    worst = failures.worst_rows(report, 2)
    assert [w.case["id"] for w in worst] == ["x2", "x4"] and worst[0].errors == [-4] * 6 and worst[0].mae == 4

    by_name = {(s.group, s.name): s for s in failures.slices(report)}
    portuguese, english = by_name[("language", "Portuguese")], by_name[("language", "English")]
    assert english.n == portuguese.n == 4 and english.mae == 0
    assert portuguese.mae == pytest.approx((9 + 4 * 3) / 4)  # the invalid row counts as the worst answer (9 off)
    assert portuguese.baselines["tfidf_ridge"] == pytest.approx(
        sum(
            abs(p - t)
            for c, p_row in zip(report["cases"], report["baselines"]["tfidf_ridge"]["predictions"])
            if c["id"] in ("x0", "x2", "x4", "x6")
            for p, t in zip(p_row, c["target"])
        )
        / 24
    )
    assert by_name[("labels", "a key at 0–1 or 9–10")].n == 4

    diff = failures.paired_bootstrap(report, "tfidf_ridge")
    model_mae = report["metrics"]["over_all"]["mae"]
    assert diff.difference == pytest.approx(model_mae - report["baselines"]["tfidf_ridge"]["mae"])
    assert diff.low <= diff.difference <= diff.high and diff.rows == 8
    assert failures.paired_bootstrap(report, "tfidf_ridge") == diff  # seeded: the same report, the same interval
    losing = failures.losing_keys(report, "tfidf_ridge")
    assert [k for k, _, _ in losing] == list(KEYS) and all(m > b for _, m, b in losing)
