"""split and check-splits: accounting, dedup, groups, no leakage (checked independently), size rules, output folders,
CLI."""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from test_neardup import family
from test_records import MESSY, write_messy
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.config import ConfigError, config_hash, load_config
from hiddenparams.data.neardup import NearDupConfig, normalise, signatures
from hiddenparams.provenance import code_version, file_sha256
from hiddenparams.data.records import Reason, read_file, read_input
from hiddenparams.data.rows import SPLITS, write_jsonl
from hiddenparams.data.sample import generate_rows
from hiddenparams.schema import KEYS
from hiddenparams.data.split import SplitConfig, run, split_records, write_split
from hiddenparams.data.split_report import SplitReport
from hiddenparams.data.split_checks import CheckConfig, check_splits, drift_threshold

NEAR = NearDupConfig()
runner = CliRunner()


def said(res) -> str:
    """What the user reads: the command's output, or the message of the error the CLI's one handler prints."""
    return " ".join((res.output + (str(res.exception) if res.exception else "")).split())


# ------------------------------------------------------------------------------------------------ helpers


def params(rnd: random.Random) -> dict[str, int]:
    return {k: rnd.randint(0, 10) for k in KEYS}


@cache
def dataset() -> tuple[list[dict], list[list[str]]]:
    """Realistic rows (the product's sample generator) plus planted near-duplicate families, exact copies and a
    conflict, shuffled."""
    rnd = random.Random(7)
    rows = generate_rows(1500, seed=3)
    families = [family(100 + f, 6) for f in range(8)]
    for texts in families:
        rows += [
            {"id": f"fam-{len(rows) + k}", "request_text": t, "hidden_params": params(rnd)} for k, t in enumerate(texts)
        ]
    copies = [dict(r, id=f"copy-{k}", request_text=r["request_text"].upper() + " !!") for k, r in enumerate(rows[:20])]
    conflict = dict(
        rows[30],
        id="conflict",
        hidden_params={**rows[30]["hidden_params"], "energy": (rows[30]["hidden_params"]["energy"] + 3) % 11},
    )
    rows = rows + copies + [conflict]
    rnd.shuffle(rows)
    return rows, families


def run_split(tmp_path: Path, rows: list[dict], cfg: SplitConfig = SplitConfig()) -> tuple[Path, SplitReport]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "in.jsonl"
    write_jsonl(src, rows)
    result = split_records(read_input(src), cfg)
    out = tmp_path / "out"
    write_split(result, out)
    return out, result.report


def load(out: Path) -> dict[str, list[dict]]:
    return {
        name: [json.loads(x) for x in (out / f"{name}.jsonl").read_text().splitlines()]
        for name in (*SPLITS, "rejected")
    }


def brute_force_cross_split_matches(splits: dict[str, list[dict]]) -> list[tuple[str, str]]:
    """Every pair of texts in different splits that is equal after normalisation or has a MinHash Jaccard estimate
    >= 0.8, found by comparing all pairs (no LSH, no groups): the independent check of the split."""
    norms = {s: [normalise(r["request_text"]) for r in rows] for s, rows in splits.items()}
    sigs = {s: signatures(texts, NEAR) for s, texts in norms.items()}
    found = []
    names = list(splits)
    for x, a in enumerate(names):
        for b in names[x + 1 :]:
            found += [(t, t) for t in set(norms[a]) & set(norms[b])]
            for start in range(0, len(sigs[a]), 128):
                block = sigs[a][start : start + 128]
                est = (block[:, None, :] == sigs[b][None, :, :]).mean(axis=2)
                found += [(norms[a][start + i], norms[b][j]) for i, j in zip(*np.nonzero(est >= NEAR.threshold))]
    return found


# ------------------------------------------------------------------------------------------------- split


def test_messy_file_every_record_lands_in_exactly_one_file(tmp_path: Path) -> None:
    src = write_messy(tmp_path / "messy.jsonl")
    result = split_records(read_input(src), SplitConfig())
    out = tmp_path / "out"
    write_split(result, out)
    files = load(out)
    assert sum(len(rows) for rows in files.values()) == len(MESSY) - 2  # two blank lines are not records
    rejected = {r["line"]: r["reason"] for r in files["rejected"]}
    assert rejected == {n: reason for n, (_, reason) in enumerate(MESSY, start=1) if reason not in (None, "blank")}
    kept = sorted(r["id"] for name in SPLITS for r in files[name])
    assert kept == sorted(["a", "b", "messy.jsonl:18", "j"])
    assert result.report.counts.blank_lines == 2


def test_split_accounting_dedup_and_no_leakage(tmp_path: Path) -> None:
    rows, families = dataset()
    out, report = run_split(tmp_path, rows)
    files = load(out)
    assert sum(len(v) for v in files.values()) == len(rows) == report.counts.input_records
    ids = [r["id"] for name in SPLITS for r in files[name]] + [r["id"] for r in files["rejected"]]
    assert sorted(ids) == sorted(r["id"] for r in rows)  # nothing lost, nothing invented
    assert report.leakage.total == 0
    splits = {name: files[name] for name in SPLITS}
    assert brute_force_cross_split_matches(splits) == []
    for texts in families:  # each planted family sits whole in one split
        where = {name for name in SPLITS for r in files[name] if r["request_text"] in texts}
        assert len(where) == 1
    assert report.near_duplicates.largest_group >= 6
    for row in files["train"][:5]:
        assert list(row) == ["id", "request_text", "hidden_params"] and list(row["hidden_params"]) == list(KEYS)


def test_duplicates_keep_the_first_and_conflicts_name_the_kept_record(tmp_path: Path) -> None:
    rnd = random.Random(1)
    base = [
        {"id": f"r{k}", "request_text": f"request number {k} " + "x" * k, "hidden_params": params(rnd)}
        for k in range(60)
    ]
    dup = dict(base[3], id="dup", request_text="  REQUEST number 3 " + "x" * 3 + "!")
    conflict = dict(
        base[4],
        id="conf",
        request_text=base[4]["request_text"] + ".",
        hidden_params={**base[4]["hidden_params"], "warmth": (base[4]["hidden_params"]["warmth"] + 1) % 11},
    )
    out, report = run_split(tmp_path, base + [dup, conflict])
    rejected = {r["id"]: r for r in load(out)["rejected"]}
    assert rejected["dup"]["reason"] == "duplicate" and rejected["dup"]["kept"]["id"] == "r3"
    assert rejected["conf"]["reason"] == "conflict" and rejected["conf"]["kept"]["id"] == "r4"
    assert "warmth" in rejected["conf"]["message"] and rejected["conf"]["line"] == 62
    assert report.duplicates.conflict_groups == 1 and report.rejected_by_reason == {
        "conflict": 1,
        "duplicate": 1,
    }


def test_stratification_keeps_label_distributions_close(tmp_path: Path) -> None:
    rows = generate_rows(3000, seed=11)
    _, report = run_split(tmp_path, rows)
    div = report.divergence
    assert div.max_tvd is not None and div.max_tvd < 0.05, div
    assert not div.drifting_pairs
    counts = report.counts
    assert abs(counts.validation - 0.1 * counts.kept) <= 3 and abs(counts.test - 0.1 * counts.kept) <= 3


def test_same_seed_same_split_other_seed_other_split(tmp_path: Path) -> None:
    rows = generate_rows(400, seed=5)
    a = load(run_split(tmp_path / "a", rows)[0])
    b = load(run_split(tmp_path / "b", rows)[0])
    c = load(run_split(tmp_path / "c", rows, SplitConfig(seed=1))[0])
    assert all(a[name] == b[name] for name in SPLITS)
    assert a["validation"] != c["validation"]


def test_a_group_too_big_for_the_smallest_split_is_a_warning(tmp_path: Path) -> None:
    rnd = random.Random(2)
    rows = [
        {"id": f"u{k}", "request_text": f"unique request {k} {rnd.random()}", "hidden_params": params(rnd)}
        for k in range(300)
    ]
    rows += [{"id": f"g{k}", "request_text": t, "hidden_params": params(rnd)} for k, t in enumerate(family(9, 40))]
    out, report = run_split(tmp_path, rows)
    assert report.near_duplicates.largest_group == 40
    assert len(report.warnings) == 1 and "40 texts" in report.warnings[0]
    where = {name for name, rs in load(out).items() for r in rs if r["id"].startswith("g")}
    assert where == {"train"}


def test_zero_validation_fraction_and_bad_fractions(tmp_path: Path) -> None:
    _, report = run_split(tmp_path, generate_rows(200, seed=1), SplitConfig(val_frac=0.0, test_frac=0.2))
    assert report.counts.validation == 0 and report.counts.test > 0
    with pytest.raises(ConfigError, match="sum to less than 1"):
        load_config(None, {"val_frac": 0.5, "test_frac": 0.5}, cls=SplitConfig)


def test_directory_input_is_resplit_and_origins_are_reported(tmp_path: Path) -> None:
    rows = generate_rows(600, seed=9)
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    write_jsonl(leaky / "train.jsonl", rows[:400])
    write_jsonl(leaky / "validation.jsonl", rows[400:500] + rows[:30])  # 30 rows leak from train
    write_jsonl(leaky / "test.jsonl", rows[500:])
    result = split_records(read_input(leaky), SplitConfig())
    assert result.report.leakage.total == 0
    assert set(result.report.origin) == {str(leaky / f"{n}.jsonl") for n in SPLITS}
    assert result.report.rejected_by_reason["duplicate"] >= 30


# ------------------------------------------------------------------------------------------- check-splits


@pytest.fixture(scope="module")
def good_splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out, _ = run_split(tmp_path_factory.mktemp("good"), generate_rows(2000, seed=21))
    return out


def copy_splits(src: Path, dst: Path) -> dict[str, list[dict]]:
    dst.mkdir()
    files = load(src)
    for name in SPLITS:
        write_jsonl(dst / f"{name}.jsonl", files[name])
    return files


def test_check_splits_accepts_the_products_own_output(good_splits: Path) -> None:
    result = check_splits(CheckConfig(directory=str(good_splits)))
    assert not result.rebuild, result.reasons
    assert result.leakage.total == 0 and result.to_json()["verdict"] == "ok"


def test_check_splits_finds_each_problem(good_splits: Path, tmp_path: Path) -> None:
    files = copy_splits(good_splits, tmp_path / "bad")
    val = files["validation"]
    near_copy = dict(val[1], id="near", request_text=val[1]["request_text"] + " pls")
    write_jsonl(tmp_path / "bad" / "train.jsonl", files["train"] + [val[0], near_copy])
    drifted = [dict(r, hidden_params={**r["hidden_params"], "energy": 10}) for r in files["test"]]
    (tmp_path / "bad" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in drifted) + "{oops\n")
    reasons = " | ".join(check_splits(CheckConfig(directory=str(tmp_path / "bad"))).reasons)
    assert "1 normalised texts appear in more than one split" in reasons
    assert "near-duplicate pairs" in reasons
    assert "test: 1 invalid rows (unparseable 1)" in reasons
    assert "label drift between" in reasons and "energy" in reasons

    small = tmp_path / "small"
    copy_splits(good_splits, small)
    write_jsonl(small / "validation.jsonl", files["validation"][:10])
    (small / "test.jsonl").unlink()
    reasons = " | ".join(check_splits(CheckConfig(directory=str(small))).reasons)
    assert "validation: only 10 rows" in reasons and "no test file" in reasons


def test_drift_threshold_shrinks_with_size() -> None:
    assert drift_threshold(100, 100) > drift_threshold(1000, 1000) > drift_threshold(5000, 5000) == 0.10


# ----------------------------------------------------------------------------------------------------- CLI


def test_cli_split_then_check(tmp_path: Path) -> None:
    src = write_messy(tmp_path / "messy.jsonl")
    res = runner.invoke(app, ["split", str(src), "--out", str(tmp_path / "out"), "--json", "--allow-small"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["report"]["counts"]["input_records"] == len(MESSY) - 2
    assert Path(data["files"]["report_md"]).read_text().startswith("# Split report")

    rows = generate_rows(800, seed=4)
    write_jsonl(tmp_path / "rows.jsonl", rows)
    res = runner.invoke(app, ["split", str(tmp_path / "rows.jsonl"), "--out", str(tmp_path / "s"), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert "validation.jsonl" in res.output and "leakage: 0" in res.output
    res = runner.invoke(app, ["check-splits", str(tmp_path / "s")])
    assert res.exit_code == 0 and "OK" in res.output, res.output


def test_cli_check_splits_exits_non_zero_on_leaky_splits(tmp_path: Path) -> None:
    rows = generate_rows(600, seed=8)
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    write_jsonl(leaky / "train.jsonl", rows[:480])
    write_jsonl(leaky / "validation.jsonl", rows[480:540] + rows[:5])
    write_jsonl(leaky / "test.jsonl", rows[540:])
    res = runner.invoke(app, ["check-splits", str(leaky)])
    assert res.exit_code == 1
    output = " ".join(res.output.split())  # rich wraps long lines
    assert "REBUILD" in output and "normalised texts appear in more than one split" in output
    assert f"hiddenparams split {leaky} --out" in output
    res = runner.invoke(app, ["check-splits", str(leaky), "--json"])
    assert res.exit_code == 1 and json.loads(res.stdout)["verdict"] == "rebuild"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["split", "{tmp}/nope.jsonl", "--out", "{tmp}/o"], "nope.jsonl: no such file"),
        (["split", "{tmp}/data.xlsx", "--out", "{tmp}/o"], "unsupported file type '.xlsx'"),
        (["split", "{tmp}/rows.jsonl", "--out", "{tmp}/o", "--val-frac", "0.9"], "sum to less than 1"),
        (["split", "{tmp}", "--out", "{tmp}"], "would overwrite the input"),
        (["check-splits", "{tmp}/missing"], "missing: no such directory"),
        (["check-splits", "{tmp}/rows.jsonl"], "rows.jsonl: is a file"),
        (["split", "{tmp}/rows.jsonl", "--out", "{tmp}/rows.jsonl/sub", "--allow-small"], "cannot create a folder"),
        (["split", "{tmp}/rows.jsonl", "--out", "{tmp}/o", "--set", "ngram=0"], "field 'ngram': must be positive"),
        (["split", "{tmp}/rows.jsonl", "--out", "{tmp}/o", "--set", "colour=red"], "unknown field(s) 'colour'"),
    ],
)
def test_cli_errors_name_the_problem(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "data.xlsx").write_text("x")
    write_jsonl(tmp_path / "rows.jsonl", generate_rows(20, seed=1))
    write_jsonl(tmp_path / "train.jsonl", generate_rows(20, seed=2))
    res = runner.invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert res.exit_code != 0
    assert message in said(res)


def test_cli_resplits_a_folder_of_csv_and_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = generate_rows(300, seed=6)
    src = tmp_path / "src"
    src.mkdir()
    flat = [{"id": r["id"], "request_text": r["request_text"], **r["hidden_params"]} for r in rows[:200]]
    pq.write_table(pa.Table.from_pylist(flat), src / "train.parquet")
    with (src / "test.csv").open("w", encoding="utf-8", newline="") as fh:
        import csv

        writer = csv.DictWriter(fh, ["id", "request_text", *KEYS])
        writer.writeheader()
        writer.writerows({"id": r["id"], "request_text": r["request_text"], **r["hidden_params"]} for r in rows[200:])
    res = runner.invoke(app, ["split", str(src), "--out", str(tmp_path / "new"), "--allow-small"])
    assert res.exit_code == 0, res.output
    files = load(tmp_path / "new")
    assert sum(len(v) for v in files.values()) == 300
    assert not [r for r in files["rejected"] if r["reason"] not in (Reason.DUPLICATE.value, Reason.CONFLICT.value)]
    assert read_file(tmp_path / "new" / "train.jsonl").rejected == []


# ------------------------------------------------------------------------------- size rules and output folders

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "train.jsonl"


def test_too_small_a_split_is_refused_and_allow_small_writes_what_check_splits_rejects(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "nine.jsonl", generate_rows(9, seed=3))
    res = runner.invoke(app, ["split", str(tmp_path / "nine.jsonl"), "--out", str(tmp_path / "s")])
    assert res.exit_code != 0
    message = said(res)
    assert "9 valid rows split into train" in message and "fewer than 50" in message
    assert "at least 500 valid rows" in message and "--allow-small" in message
    assert not (tmp_path / "s").exists()  # nothing written

    res = runner.invoke(app, ["split", str(tmp_path / "nine.jsonl"), "--out", str(tmp_path / "s"), "--allow-small"])
    assert res.exit_code == 0, said(res)
    report = json.loads((tmp_path / "s" / "split_report.json").read_text())
    assert any("written anyway: --allow-small" in w for w in report["warnings"])
    res = runner.invoke(app, ["check-splits", str(tmp_path / "s")])
    assert res.exit_code == 1 and "too small to measure" in said(res)


@pytest.mark.parametrize(
    ("rows", "flags"),
    [
        (620, []),  # just above the minimum for the default fractions
        (300, ["--val-frac", "0", "--test-frac", "0.2"]),  # no validation split asked for
        (None, []),  # the shipped sample
    ],
)
def test_what_split_accepts_check_splits_accepts(tmp_path: Path, rows: int | None, flags: list[str]) -> None:
    src = SAMPLE
    if rows is not None:
        src = tmp_path / "rows.jsonl"
        write_jsonl(src, generate_rows(rows, seed=12))
    res = runner.invoke(app, ["split", str(src), "--out", str(tmp_path / "s"), *flags])
    assert res.exit_code == 0, said(res)
    res = runner.invoke(app, ["check-splits", str(tmp_path / "s")])
    assert res.exit_code == 0 and "OK" in res.output, said(res)


def test_out_folder_is_refused_when_not_empty_replaced_with_overwrite_and_never_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "rows.jsonl"
    write_jsonl(src, generate_rows(700, seed=2))
    out = tmp_path / "o"
    out.mkdir()
    (out / "train.jsonl").write_text("precious\n")
    res = runner.invoke(app, ["split", str(src), "--out", str(out)])
    assert res.exit_code != 0 and "not empty" in said(res) and "--overwrite" in said(res)
    assert (out / "train.jsonl").read_text() == "precious\n"

    def broken_markdown(report: SplitReport) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(SplitReport, "markdown", broken_markdown)
    res = runner.invoke(app, ["split", str(src), "--out", str(out), "--overwrite"])
    assert res.exit_code != 0
    assert [p.name for p in out.iterdir()] == ["train.jsonl"] and (out / "train.jsonl").read_text() == "precious\n"
    res = runner.invoke(app, ["split", str(src), "--out", str(tmp_path / "new")])
    assert res.exit_code != 0 and not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o", "rows.jsonl"]  # no staging folder left behind
    monkeypatch.undo()

    res = runner.invoke(app, ["split", str(src), "--out", str(out), "--overwrite"])
    assert res.exit_code == 0, said(res)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["train.jsonl", "validation.jsonl", "test.jsonl", "rejected.jsonl", "split_report.json", "split_report.md"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o", "rows.jsonl"]

    res = runner.invoke(app, ["split", str(src), "--out", str(src)])
    assert res.exit_code != 0 and "would overwrite the input" in said(res)
    res = runner.invoke(app, ["split", str(src), "--out", str(tmp_path / "o" / "train.jsonl"), "--overwrite"])
    assert res.exit_code != 0 and "is a file, not a folder" in said(res)


def test_split_report_carries_provenance_and_counts_integral_floats(tmp_path: Path) -> None:
    rows = generate_rows(700, seed=4)
    src = tmp_path / "rows.jsonl"
    src.write_text(
        "".join(
            json.dumps(dict(r, hidden_params={k: float(v) for k, v in r["hidden_params"].items()}) if k < 7 else r)
            + "\n"
            for k, r in enumerate(rows)
        )
    )
    result = run(load_config(None, {"input": str(src), "out": str(tmp_path / "s")}, cls=SplitConfig))
    on_disk = json.loads((tmp_path / "s" / "split_report.json").read_text())
    assert on_disk == json.loads(json.dumps(result.to_json()["report"]))
    prov = on_disk["provenance"]
    assert set(prov) == {"config_hash", "data_sha256", "code_version"}
    assert prov["data_sha256"] == {str(src): file_sha256(src)}
    assert prov["config_hash"] == config_hash(SplitConfig(input=str(src), out=str(tmp_path / "s")))
    assert prov["code_version"] == code_version()
    assert on_disk["counts"]["coerced_integral_floats"] == 7 and "not_integer" not in on_disk["rejected_by_reason"]
    assert "7 records had labels written as integral floats" in (tmp_path / "s" / "split_report.md").read_text()
