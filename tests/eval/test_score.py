"""The score core (metrics by hand, baselines, input errors), its report, and the `score` command."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.config import config_hash
from hiddenparams.data.rows import DataError, Row, read_rows
from hiddenparams.eval.evaluate import ScoreConfig
from hiddenparams.eval.report import Link, Section, Table, eval_sections, render_eval_report, write_report
from hiddenparams.eval.score import Case, read_predictions, representative_failures, score
from hiddenparams.provenance import code_version, file_sha256
from hiddenparams.schema import KEYS, to_json

SAMPLE_TRAIN = Path(__file__).resolve().parents[2] / "data" / "sample" / "train.jsonl"


def row(id_: str, values: list[int], text: str = "a request") -> Row:
    return Row(id_, text, dict(zip(KEYS, values)))


# Targets and outputs chosen so every metric below can be checked by hand.
ROWS = [
    row("r1", [5, 5, 5, 5, 5, 5]),
    row("r2", [0, 10, 3, 7, 2, 8]),
    row("r3", [2, 8, 5, 5, 0, 10]),
]
OUTPUTS = [
    to_json(ROWS[0].hidden_params),  # exact
    to_json(dict(zip(KEYS, [1, 10, 5, 7, 2, 4]))),  # errors 1 0 2 0 0 4
    "{}",  # invalid: in over_all scored as the worst in-range guess, errors 8 8 5 5 10 10
]
# Train means 0.5 1.5 2 3.5 4 5.5 -> halves round up -> constant prediction 1 2 2 4 4 6.
TRAIN = [row("t1", [0, 1, 2, 3, 4, 5], "quiet"), row("t2", [1, 2, 2, 4, 4, 6], "loud")]


def per_key(*values: float) -> dict:
    return dict(zip(KEYS, values))


def assert_metrics(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value), name


@pytest.fixture(scope="module")
def report() -> dict:
    return score(ROWS, OUTPUTS, TRAIN).to_dict()


def test_report_shape(report):
    assert report["valid_cases"] == 2 and report["total"] == 3
    assert set(report) == {"valid_cases", "total", "metrics", "baselines", "baselines_skipped", "error_counts", "cases"}
    assert report["baselines_skipped"] == {}
    assert report["error_counts"] == {"missing_key": 1}
    first, _, bad = report["cases"]
    assert first == {
        "id": "r1",
        "valid": True,
        "error_code": None,
        "error": None,
        "output": OUTPUTS[0],
        "target": [5] * 6,
        "prediction": [5] * 6,
        "request_text": ROWS[0].request_text,
    }
    assert bad["valid"] is False and bad["prediction"] is None and bad["target"] == [2, 8, 5, 5, 0, 10]
    assert bad["error_code"] == "missing_key" and bad["error"].startswith("missing_key: missing energy")
    json.dumps(report, allow_nan=False)  # plain JSON, no NaN


def test_metrics_over_valid_by_hand(report):
    expected = {
        "n": 2,
        "mae": 3.5 / 6,
        "mae_per_key": per_key(0.5, 0, 1, 0, 0, 2),
        "exact": per_key(0.5, 1, 0.5, 1, 1, 0.5),
        "within1": per_key(1, 1, 0.5, 1, 1, 0.5),
        "all_exact": 0.5,
    }
    assert_metrics(report["metrics"]["over_valid"], expected)
    # The headline is the over-valid numbers, at the top level of `metrics`.
    headline = {k: v for k, v in expected.items() if k != "n"}
    assert_metrics({k: report["metrics"][k] for k in headline}, headline)


def test_metrics_over_all_count_invalid_as_worst(report):
    assert_metrics(
        report["metrics"]["over_all"],
        {
            "n": 3,
            "mae": 53 / 18,
            "mae_per_key": per_key(9 / 3, 8 / 3, 7 / 3, 5 / 3, 10 / 3, 14 / 3),
            "exact": per_key(1 / 3, 2 / 3, 1 / 3, 2 / 3, 2 / 3, 1 / 3),
            "within1": per_key(2 / 3, 2 / 3, 1 / 3, 2 / 3, 2 / 3, 1 / 3),
            "all_exact": 1 / 3,
        },
    )


def test_train_mean_baseline_by_hand(report):
    baseline = report["baselines"]["train_mean"]
    assert baseline["prediction"] == per_key(1, 2, 2, 4, 4, 6)
    assert_metrics(
        {k: v for k, v in baseline.items() if k != "prediction"},
        {
            "n": 3,
            "mae": 49 / 18,
            "mae_per_key": per_key(2, 17 / 3, 7 / 3, 5 / 3, 7 / 3, 7 / 3),
            "exact": per_key(0, 0, 0, 0, 0, 0),
            "within1": per_key(2 / 3, 0, 1 / 3, 2 / 3, 1 / 3, 1 / 3),
            "all_exact": 0,
        },
    )


def test_tfidf_baseline_has_the_metric_fields(report):
    ridge = report["baselines"]["tfidf_ridge"]
    assert set(ridge) == {"n", "mae", "mae_per_key", "exact", "within1", "all_exact", "predictions"}
    assert ridge["n"] == 3 and set(ridge["mae_per_key"]) == set(KEYS)
    # The per-row answers are the ones its metrics were computed from.
    errors = [
        abs(p - t) for row, pred in zip(ROWS, ridge["predictions"]) for p, t in zip(pred, row.hidden_params.values())
    ]
    assert sum(errors) / len(errors) == pytest.approx(ridge["mae"])


def test_zero_valid_cases_gives_null_headline_not_a_crash(tmp_path):
    result = score(ROWS, ["", "nope", "```"], TRAIN).to_dict()
    metrics = result["metrics"]
    assert result["valid_cases"] == 0
    assert metrics["over_valid"] is None
    assert all(metrics[k] is None for k in ("mae", "mae_per_key", "exact", "within1", "all_exact"))
    # Worst errors: r1 5 5 5 5 5 5, r2 10 10 7 7 8 8, r3 8 8 5 5 10 10.
    assert metrics["over_all"]["mae"] == pytest.approx((30 + 50 + 46) / 18)
    assert metrics["over_all"]["all_exact"] == 0
    render_eval_report(result, tmp_path, "nothing valid")
    assert "—" in (tmp_path / "report.md").read_text()


def test_score_is_deterministic():
    assert score(ROWS, OUTPUTS, TRAIN).to_dict() == score(ROWS, OUTPUTS, TRAIN).to_dict()


def test_no_rows_is_an_error():
    with pytest.raises(DataError, match="empty"):
        score([], [], TRAIN)


def test_representative_failures_show_each_reason_first():
    cases = [Case(str(i), False, c, c, "", [], None) for i, c in enumerate("aabbbcdef")]
    cases.insert(0, Case("ok", True, None, None, "", [], []))
    picked = representative_failures(cases, limit=5)
    assert [c.error_code for c in picked] == ["b", "a", "c", "d", "e"]
    assert [c.id for c in representative_failures(cases, limit=9)][6:] == ["1", "3", "4"]


# --- baselines learn: TF-IDF + ridge must beat the train mean when text carries the labels ---------------------

CUES = {
    "energy": ["workout", "party", "running"],
    "warmth": ["cozy", "fireplace", "cuddle"],
    "brightness": ["sunny", "sparkling", "beach"],
    "acousticness": ["guitar", "unplugged", "campfire"],
    "complexity": ["jazz", "progressive", "polyrhythm"],
    "nostalgia": ["grandmother", "childhood", "eighties"],
}


def learnable_rows(n: int, seed: int) -> list[Row]:
    """Requests whose cue words raise their key, so a text model can learn what a constant cannot."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        present = {k for k in KEYS if rng.random() < 0.5}
        words = [rng.choice(CUES[k]) for k in present] + rng.sample(["please", "some", "music", "for", "tonight"], 2)
        rng.shuffle(words)
        values = [rng.randint(6, 10) if k in present else rng.randint(0, 4) for k in KEYS]
        rows.append(row(f"s{seed}-{i}", values, " ".join(words)))
    return rows


def test_tfidf_beats_train_mean_on_a_learnable_fixture():
    rows = learnable_rows(150, seed=1)
    baselines = score(rows, [""] * len(rows), learnable_rows(600, seed=0)).baselines
    assert baselines["tfidf_ridge"].metrics.mae < 0.7 * baselines["train_mean"].metrics.mae


@pytest.mark.skipif(not SAMPLE_TRAIN.exists(), reason="data/sample/train.jsonl not generated yet")
def test_tfidf_beats_train_mean_on_the_sample_data():
    rows = read_rows(SAMPLE_TRAIN)
    held_out, train = rows[:300], rows[300:2300]
    baselines = score(held_out, [""] * len(held_out), train).baselines
    assert baselines["tfidf_ridge"].metrics.mae < baselines["train_mean"].metrics.mae


# --- reading predictions ----------------------------------------------------------------------------------


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def pred_lines(outputs: list[str], ids: list[str] | None = None) -> list[str]:
    return [json.dumps({"output": o} | ({"id": ids[i]} if ids else {})) for i, o in enumerate(outputs)]


IDS = [r.id for r in ROWS]


def test_read_predictions_with_and_without_ids(tmp_path):
    assert read_predictions(write_lines(tmp_path / "a.jsonl", pred_lines(OUTPUTS)), IDS) == OUTPUTS
    # ids, a BOM, CRLF and blank lines are all fine.
    path = tmp_path / "b.jsonl"
    path.write_bytes(("\ufeff" + "\r\n\r\n".join(pred_lines(OUTPUTS, IDS)) + "\r\n").encode())
    assert read_predictions(path, IDS) == OUTPUTS


@pytest.mark.parametrize(
    "lines, message",
    [
        (pred_lines(OUTPUTS[:2]), r"2 predictions for 3 data rows"),
        (pred_lines(OUTPUTS + ["extra"]), r"4 predictions for 3 data rows"),
        (pred_lines(OUTPUTS, ["r1", "r3", "r2"]), r"p\.jsonl:2: id 'r3' but data row 2 has id 'r2'"),
        (pred_lines(OUTPUTS[:1]) + ['{"output": "x"'] + pred_lines(OUTPUTS[2:]), r"p\.jsonl:2: not valid JSON"),
        (pred_lines(OUTPUTS[:2]) + ['{"output": 5}'], r"p\.jsonl:3: field 'output' must be a string"),
        (pred_lines(OUTPUTS[:2]) + ['["x"]'], r"p\.jsonl:3: expected a JSON object"),
    ],
)
def test_bad_predictions_are_rejected_before_scoring(tmp_path, lines, message):
    with pytest.raises(DataError, match=message):
        read_predictions(write_lines(tmp_path / "p.jsonl", lines), IDS)


def test_undecodable_bytes_name_their_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"output": "a"}\n{"output": "\xff"}\n')
    with pytest.raises(DataError, match=r"p\.jsonl:2: not UTF-8"):
        read_predictions(path, ["a", "b"])


# --- reports -------------------------------------------------------------------------------------------------


def test_html_escapes_model_output(tmp_path):
    hostile = '<script>alert("x")</script> | `x` *y*'
    result = score(ROWS, [OUTPUTS[0], OUTPUTS[1], hostile], TRAIN).to_dict()
    paths = render_eval_report(result, tmp_path, "<b>title</b>")
    page = paths["html"].read_text()
    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;title&lt;/b&gt;" in page
    assert 'src="http' not in page and 'src="data:image/png;base64,' in page  # self-contained
    markdown = paths["markdown"].read_text()
    assert "<script" not in markdown and "&lt;script&gt;" in markdown and "\\|" in markdown


def test_links_and_literal_cells_are_escaped(tmp_path):
    link = Link("<job>", 'https://example.org/a?b=1&c="2"')
    table = Table(["job", "output"], [[link, "a|b\n<i>" + "x" * 300]], literal_columns=frozenset({1}))
    paths = write_report(tmp_path, "links", [Section("Jobs", [table])])
    page = paths["html"].read_text()
    assert '<a href="https://example.org/a?b=1&amp;c=&quot;2&quot;">&lt;job&gt;</a>' in page
    assert "<code>a|b\n&lt;i&gt;" in page and "x" * 201 not in page  # long outputs are clipped
    assert '| [&lt;job&gt;](<https://example.org/a?b=1&c="2">) | a\\|b ⏎ &lt;i&gt;' in paths["markdown"].read_text()


def test_several_modes_side_by_side(tmp_path, report):
    base = score(ROWS, ["", "", OUTPUTS[0]], TRAIN).to_dict()
    paths = write_report(tmp_path, "run", eval_sections({"base": base, "base+adapter": report, "merged": report}))
    markdown = paths["markdown"].read_text()
    for mode in ("base (over valid)", "base+adapter (over all)", "merged (over valid)", "baseline: train mean"):
        assert mode in markdown
    plots = {p.name for p in (tmp_path / "plots").iterdir()}
    assert plots >= {"mae_per_key.png", "validity.png", "invalid_reasons.png", "pred_vs_true_base-adapter.png"}
    # merged answered exactly as base+adapter: named, not drawn twice
    assert "pred_vs_true_merged.png" not in plots and "merged: the same output as base+adapter" in markdown


# --- the command ---------------------------------------------------------------------------------------------


@pytest.fixture()
def split_dir(tmp_path) -> Path:
    write_lines(tmp_path / "test.jsonl", [json.dumps(r.to_dict()) for r in ROWS])
    write_lines(tmp_path / "train.jsonl", [json.dumps(r.to_dict()) for r in TRAIN])
    write_lines(tmp_path / "preds.jsonl", pred_lines(OUTPUTS, IDS))
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(app, ["score", *args])


def test_cli_score_prints_valid_cases_and_writes_three_files(split_dir):
    out = split_dir / "out"
    result = invoke(
        "--data", str(split_dir / "test.jsonl"), "--predictions", str(split_dir / "preds.jsonl"), "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert "valid_cases=2/3" in result.stdout.splitlines()
    assert "missing_key" in result.stderr  # the representative malformed output and its reason
    written = json.loads((out / "eval_report.json").read_text())
    assert written["valid_cases"] == 2 and written["inputs"]["train"] == str(split_dir / "train.jsonl")
    assert (out / "report.md").is_file() and (out / "report.html").is_file()


def test_cli_score_json(split_dir):
    result = invoke(
        "--data",
        str(split_dir / "test.jsonl"),
        "--predictions",
        str(split_dir / "preds.jsonl"),
        "--out",
        str(split_dir / "out"),
        "--train",
        str(split_dir / "train.jsonl"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["valid_cases"] == 2 and "cases" not in summary and summary["metrics"]["over_all"]["n"] == 3
    assert "valid_cases=2/3" in result.stderr


def test_cli_score_report_carries_provenance(split_dir):
    out = split_dir / "out"
    result = invoke(
        "--data", str(split_dir / "test.jsonl"), "--predictions", str(split_dir / "preds.jsonl"), "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "eval_report.json").read_text())
    provenance = report["provenance"]
    assert set(provenance) == {"config_hash", "data_sha256", "code_version"}
    assert provenance["config_hash"] == config_hash(ScoreConfig(**report["config"]))
    assert report["config"]["data"] == str(split_dir / "test.jsonl") and report["config"]["out"] == str(out)
    assert provenance["data_sha256"] == {
        name: file_sha256(split_dir / file)
        for name, file in (("data", "test.jsonl"), ("predictions", "preds.jsonl"), ("train", "train.jsonl"))
    }
    assert provenance["code_version"] == code_version()


@pytest.mark.parametrize(
    "change, extra, message",
    [
        (lambda d: write_lines(d / "preds.jsonl", pred_lines(OUTPUTS[:2])), [], "2 predictions for 3 data rows"),
        (lambda d: None, ["--train", "missing.jsonl"], "--train missing.jsonl: no such file"),
        (lambda d: write_lines(d / "test.jsonl", ["{"]), [], "test.jsonl:1"),
        (lambda d: (d / "out").write_text("a file"), [], "a file, not a folder"),
        (lambda d: ((d / "out").mkdir(), (d / "out" / "x").write_text("x")), [], "not empty"),
    ],
)
def test_cli_score_bad_input_exits_non_zero(split_dir, change, extra, message, said):
    change(split_dir)
    result = invoke(
        "--data",
        str(split_dir / "test.jsonl"),
        "--predictions",
        str(split_dir / "preds.jsonl"),
        "--out",
        str(split_dir / "out"),
        *extra,
    )
    assert result.exit_code != 0
    # rich wraps the message at the runner's 80 columns, inside the long tmp path too: compare without whitespace.
    assert message.replace(" ", "") in said(result).replace(" ", "")
    assert not (split_dir / "out" / "eval_report.json").exists()


def test_cli_score_without_a_train_split_skips_the_baselines_and_says_why(split_dir, said):
    (split_dir / "train.jsonl").unlink()
    out = split_dir / "out"
    result = invoke(
        "--data", str(split_dir / "test.jsonl"), "--predictions", str(split_dir / "preds.jsonl"), "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "eval_report.json").read_text())
    assert report["baselines"] == {} and set(report["baselines_skipped"]) == {"train_mean", "tfidf_ridge"}
    assert "no train.jsonl beside" in report["baselines_skipped"]["tfidf_ridge"]
    assert "not computed" in said(result) and (out / "report.html").is_file()


def test_train_texts_without_vocabulary_skip_tfidf_only():
    """Texts TF-IDF's word analyser finds no word in (single letters) must not crash the scorer."""
    train = [row(f"t{i}", [i % 11] * 6, "x") for i in range(4)]
    report = score(ROWS, OUTPUTS, train)
    assert set(report.baselines) == {"train_mean"} and "vocabulary" in report.baselines_skipped["tfidf_ridge"]
    assert "tfidf_ridge" not in report.to_dict()["baselines"]


def test_tfidf_ridge_is_fitted_once_per_split_and_its_answers_cannot_be_altered_by_a_caller():
    from hiddenparams.data.sample import generate_rows
    from hiddenparams.eval.score import _fit_tfidf_ridge, _tfidf_ridge

    rows = [Row(r["id"], r["request_text"], r["hidden_params"]) for r in generate_rows(120, seed=3)]
    train, texts = rows[:100], [r.request_text for r in rows[100:]]
    _fit_tfidf_ridge.cache_clear()
    first = _tfidf_ridge(train, texts)
    first[:] = -1  # a caller writing into its copy
    second = _tfidf_ridge(train, texts)
    assert _fit_tfidf_ridge.cache_info().hits == 1
    assert second.min() >= 0 and second.shape == (20, len(KEYS))
    flipped = [r.hidden_params | {"energy": 10 - r.hidden_params["energy"]} for r in train]
    relabelled = [Row(r.id, r.request_text, params) for r, params in zip(train, flipped)]
    assert not (_tfidf_ridge(relabelled, texts) == second).all()  # other labels are another fit, not a stale answer
