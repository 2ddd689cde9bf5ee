"""Bad inputs on every command, one table: each ends with the documented exit code, a message naming the problem and
its place (file, line, field), no Python traceback, and no file of the user's lost or half-written.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.cli.app import EXIT_BUG

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "train.jsonl"
TINY = ROOT / "models" / "tiny-ministral3"
PRECIOUS = "precious: not to be overwritten\n"

NONZERO = -1  # any non-zero exit code


def _lines(n: int, start: int = 0) -> str:
    return "".join(SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[start : start + n])


def _canonical(folder: Path, train: int = 300, validation: int = 60, test: int = 60) -> Path:
    """A split folder as `split` writes it (canonical rows), without running split."""
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for name, n in (("train", train), ("validation", validation), ("test", test)):
        (folder / f"{name}.jsonl").write_text(_lines(n, start), encoding="utf-8")
        start += n
    return folder


def _precious(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PRECIOUS)
    return path


def _truncated_model(tmp: Path) -> Path:
    model = tmp / "truncated"
    shutil.copytree(TINY, model)
    with open(model / "model.safetensors", "r+b") as f:
        f.truncate(1_000_000)
    return model


def _converted(folder: Path, train: int = 1, validation: int = 0) -> Path:
    """Converted prompt-completion rows: `train` rows of train.jsonl, an empty validation.jsonl when 0."""
    row = {
        "prompt": [{"role": "user", "content": "calm piano"}],
        "completion": [{"role": "assistant", "content": "{}"}],
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text((json.dumps(row) + "\n") * train)
    (folder / "validation.jsonl").write_text((json.dumps(row) + "\n") * validation)
    return folder


def _tiny_config(tmp: Path, **fields: object) -> Path:
    text = (ROOT / "configs" / "tiny.yaml").read_text()
    text += "".join(f"\n{k}: {v}" for k, v in fields.items())
    path = tmp / "run.yaml"
    path.write_text(text.replace("model_id: models/tiny-ministral3", f"model_id: {TINY}"))
    return path


@dataclass
class Case:
    id: str
    setup: Callable[[Path], list[str]]  # builds the inputs under tmp, returns the command line
    code: int  # NONZERO: any non-zero exit code
    says: tuple[str, ...]  # substrings of the output: the message of the check the case targets, and the place
    stdin: str | None = None
    keep: tuple[str, ...] = ()  # files (relative to tmp) that must still hold PRECIOUS afterwards
    absent: tuple[str, ...] = field(default_factory=tuple)  # paths (relative to tmp) that must not exist afterwards


def _run_split_of(n: int) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        (tmp / "in.jsonl").write_text(_lines(n))
        return ["split", str(tmp / "in.jsonl"), "--out", str(tmp / "s")]

    return setup


def _float_labels_csv(tmp: Path) -> list[str]:
    rows = [json.loads(line) for line in _lines(700).splitlines()]
    header = "id,request_text," + ",".join(rows[0]["hidden_params"])
    body = [
        f'{r["id"]},"{r["request_text"].replace(chr(34), "")}",'
        + ",".join(f"{v}.0" for v in r["hidden_params"].values())
        for r in rows
    ]
    (tmp / "floats.csv").write_text("\n".join([header, *body]) + "\n")
    return ["split", str(tmp / "floats.csv"), "--out", str(tmp / "s")]


def _score_setup(tmp: Path, predictions: str | None = None, train: bool = True, out: str = "out") -> list[str]:
    data = _canonical(tmp / "d", train=50 if train else 0, validation=0, test=5)
    if not train:
        (data / "train.jsonl").unlink()
    outputs = predictions if predictions is not None else "".join(json.dumps({"output": "{}"}) + "\n" for _ in range(5))
    (tmp / "p.jsonl").write_text(outputs)
    return ["score", "--data", str(data / "test.jsonl"), "--predictions", str(tmp / "p.jsonl"), "--out", str(tmp / out)]


def _score_empty_vocabulary(tmp: Path) -> list[str]:
    args = _score_setup(tmp)
    rows = [json.loads(line) for line in (tmp / "d" / "train.jsonl").read_text().splitlines()]
    (tmp / "d" / "train.jsonl").write_text("".join(json.dumps(r | {"request_text": "!!"}) + "\n" for r in rows))
    return args


def _ledger(tmp: Path, text: str) -> Path:
    ledger = tmp / "artifacts" / "hf_jobs" / "submissions.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_text(text)
    return tmp / "artifacts"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _corrupt_run(run: Path) -> Path:
    _write(run / "eval" / "base" / "eval_report.json", "{")
    return run


def _score_into_a_file(tmp: Path) -> list[str]:
    _precious(tmp / "f.json")
    return _score_setup(tmp, out="f.json")


def _empty(path: Path) -> Path:
    path.write_text("")
    return path


def _bad_json_split(folder: Path) -> Path:
    _canonical(folder, train=60, validation=60, test=60)
    lines = (folder / "train.jsonl").read_text().splitlines(keepends=True)
    (folder / "train.jsonl").write_text(lines[0] + "{not json\n" + "".join(lines[1:]))
    return folder


def _bad_label_split(folder: Path) -> Path:
    _canonical(folder, train=5, validation=2, test=2)
    rows = [json.loads(line) for line in (folder / "train.jsonl").read_text().splitlines()]
    rows[2]["hidden_params"]["energy"] = 42
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


CASES = [
    # --- split ---
    Case(
        "split-missing-input",
        lambda t: ["split", str(t / "nope.jsonl"), "--out", str(t / "s")],
        NONZERO,
        ("nope.jsonl: no such file or directory",),
        absent=("s",),
    ),
    Case(
        "split-bad-fraction",
        lambda t: ["split", str(SAMPLE), "--out", str(t / "s"), "--val-frac", "1.5"],
        NONZERO,
        ("'val_frac' (1.5)", "(--val-frac, --test-frac) must be >= 0 and sum to less than 1"),
        absent=("s",),
    ),
    Case(
        "split-nine-rows",
        _run_split_of(9),
        NONZERO,  # #3
        ("9 valid rows split into train 9, validation 0, test 0", "too small to measure", "--allow-small"),
        absent=("s",),
    ),
    Case(
        "split-out-is-a-file",
        lambda t: ["split", str(SAMPLE), "--out", str(_precious(t / "f.jsonl"))],
        NONZERO,
        ("f.jsonl: is a file, not a folder",),
        keep=("f.jsonl",),
    ),  # #5
    Case(
        "split-out-not-empty",
        lambda t: [  # #6
            "split",
            str(SAMPLE),
            "--out",
            str(_precious(t / "o" / "train.jsonl").parent),
        ],
        NONZERO,
        ("the folder is not empty (train.jsonl); pass --overwrite",),
        keep=("o/train.jsonl",),
    ),
    Case(
        "split-float-labels-accepted",
        _float_labels_csv,
        0,  # #10
        ("labels written as integral floats (4.0), read as integers: 700", "train.jsonl"),
    ),
    Case(
        "split-input-is-empty",
        lambda t: ["split", str(_empty(t / "e.jsonl")), "--out", str(t / "s")],
        NONZERO,
        ("no valid record in", "e.jsonl: all 0 input records are rejected"),
        absent=("s/train.jsonl",),
    ),
    # --- check-splits ---
    Case("check-splits-missing-dir", lambda t: ["check-splits", str(t / "nope")], 2, ("nope: no such directory",)),
    Case(
        "check-splits-of-a-file",
        lambda t: ["check-splits", str(SAMPLE)],
        2,
        ("train.jsonl: is a file; give the folder that holds train/validation/test files",),
    ),
    Case(
        "check-splits-bad-json-line",
        lambda t: ["check-splits", str(_bad_json_split(t / "s"))],
        1,
        ("train: 1 invalid rows", "unparseable"),
    ),
    # --- convert ---
    Case(
        "convert-missing-src",
        lambda t: ["convert", str(t / "nope"), "--out", str(t / "c")],
        NONZERO,
        ("nope: no such folder (give the folder `hiddenparams split` wrote)",),
        absent=("c",),
    ),
    Case(
        "convert-out-is-a-file",
        lambda t: [  # #5
            "convert",
            str(_canonical(t / "s")),
            "--out",
            str(_precious(t / "some_file.jsonl")),
        ],
        NONZERO,
        ("some_file.jsonl: is a file, not a folder",),
        keep=("some_file.jsonl",),
    ),
    Case(
        "convert-empty-train",
        lambda t: [  # #3
            "convert",
            str(_canonical(t / "s", train=0, validation=5, test=5)),
            "--out",
            str(t / "c"),
        ],
        NONZERO,
        ("train.jsonl: no rows to train on",),
        absent=("c/train.jsonl",),
    ),
    Case(
        "convert-empty-validation-not-passed-on",
        lambda t: [  # #3, #4: said, and no empty file for training
            "convert",
            str(_canonical(t / "s", train=9, validation=0, test=0)),
            "--out",
            str(t / "c"),
        ],
        0,
        ("validation.jsonl is empty: no validation.jsonl written",),
        absent=("c/validation.jsonl",),
    ),
    Case(
        "convert-bad-label",
        lambda t: ["convert", str(_bad_label_split(t / "s")), "--out", str(t / "c")],
        NONZERO,
        ("train.jsonl:3: field 'hidden_params': out_of_range: energy=42 is outside 0..10",),
    ),
    # --- train --dry-run ---
    Case(
        "train-negative-epochs",
        lambda t: [  # #2
            "train",
            "-c",
            str(_tiny_config(t)),
            "--data-dir",
            str(_converted(t / "c", 5, 5)),
            "--set",
            "num_train_epochs=-1",
            "--dry-run",
        ],
        NONZERO,
        ("run.yaml: field 'num_train_epochs': -1.0 trains nothing: must be > 0",),
    ),
    Case(
        "train-negative-max-steps",
        lambda t: [  # #7
            "train",
            "-c",
            str(_tiny_config(t)),
            "--data-dir",
            str(_converted(t / "c", 5, 5)),
            "--max-steps",
            "-5",
            "--dry-run",
        ],
        NONZERO,
        ("field 'max_steps': -5 trains nothing",),
    ),
    Case(
        "train-unknown-field",
        lambda t: ["train", "-c", str(_tiny_config(t)), "--set", "lora_rr=8", "--dry-run"],
        NONZERO,
        ("unknown field(s) 'lora_rr'; known: model_id",),
    ),
    Case(
        "train-missing-config",
        lambda t: ["train", "-c", str(t / "nope.yaml"), "--dry-run"],
        NONZERO,
        ("nope.yaml: no such config file",),
    ),
    Case(
        "train-yaml-syntax-error",
        lambda t: ["train", "-c", str(_write(t / "bad.yaml", "lora_r: 8\nlora_alpha: [16\n")), "--dry-run"],
        NONZERO,
        ("bad.yaml: not valid YAML", "line 2, column 13"),
    ),
    Case(
        "train-missing-local-data-dir",
        lambda t: [  # #7
            "train",
            "-c",
            str(_tiny_config(t)),
            "--data-dir",
            str(t / "not-converted"),
            "--dry-run",
        ],
        NONZERO,
        ("data_dir", "not-converted: no such folder (a path, not a Hub dataset id)"),
    ),
    Case(
        "train-missing-relative-model",
        lambda t: [  # #7
            "train",
            "-c",
            str(_tiny_config(t)),
            "--data-dir",
            str(_converted(t / "c", 5, 5)),
            "--model-id",
            "./models/no-such-model",
            "--dry-run",
        ],
        NONZERO,
        ("model_id ./models/no-such-model: no such folder",),
    ),
    Case(
        "train-empty-validation",
        lambda t: [  # #4
            "train",
            "-c",
            str(_tiny_config(t)),
            "--data-dir",
            str(_converted(t / "c", 1, 0)),
            "--dry-run",
        ],
        NONZERO,
        ("validation.jsonl: empty validation set (no rows)",),
    ),
    # --- eval ---
    Case(
        "eval-missing-data",
        lambda t: [
            "eval",
            "--model-id",
            str(TINY),
            "--data",
            str(t / "nope.jsonl"),
            "--out",
            str(t / "e"),
            "--device",
            "cpu",
        ],
        NONZERO,
        ("--data", "nope.jsonl: no such file"),
        absent=("e",),
    ),
    Case(
        "eval-truncated-model",
        lambda t: [  # #1
            "eval",
            "--model-id",
            str(_truncated_model(t)),
            "--data",
            str(_canonical(t / "s") / "test.jsonl"),
            "--out",
            str(t / "e"),
            "--device",
            "cpu",
        ],
        NONZERO,
        ("model.safetensors: truncated or corrupt weights file",),
    ),
    Case(
        "eval-out-not-empty",
        lambda t: [  # #6
            "eval",
            "--model-id",
            str(TINY),
            "--data",
            str(_canonical(t / "s", test=2) / "test.jsonl"),
            "--out",
            str(_precious(t / "e" / "eval_report.json").parent),
            "--device",
            "cpu",
        ],
        NONZERO,
        ("the folder is not empty (eval_report.json); pass --overwrite",),
        keep=("e/eval_report.json",),
    ),
    # --- score ---
    Case(
        "score-out-is-a-file",
        _score_into_a_file,
        NONZERO,
        ("f.json: is a file, not a folder",),  # #5
        keep=("f.json",),
    ),
    Case(
        "score-too-few-predictions",
        lambda t: _score_setup(t, predictions=json.dumps({"output": "{}"}) + "\n"),
        NONZERO,
        ("p.jsonl: 1 predictions for 5 data rows",),
        absent=("out",),
    ),
    Case(
        "score-predictions-not-json",
        lambda t: _score_setup(t, predictions='{"output": "{}"}\nnot json\n'),
        NONZERO,
        ("p.jsonl:2: not valid JSON",),
        absent=("out",),
    ),
    Case(
        "score-without-train-split",
        lambda t: _score_setup(t, train=False),
        0,  # #8
        ("valid_cases=0/5", "train_mean: not computed: no --train given and no train.jsonl beside"),
    ),
    Case(
        "score-empty-vocabulary",
        _score_empty_vocabulary,
        0,  # #8
        ("valid_cases=0/5", "tfidf_ridge: not computed: TF-IDF finds no vocabulary in the 50 train texts"),
    ),
    # --- predict ---
    Case(
        "predict-truncated-model",
        lambda t: [  # #1
            "predict",
            "--model-id",
            str(_truncated_model(t)),
            "--device",
            "cpu",
            "x",
        ],
        NONZERO,
        ("model.safetensors: truncated or corrupt weights file",),
    ),
    Case(
        "predict-missing-file",
        lambda t: ["predict", "--model-id", str(TINY), "--device", "cpu", "--file", str(t / "nope.txt")],
        NONZERO,
        ("--file", "nope.txt: no such file"),
    ),
    Case(
        "predict-missing-model",
        lambda t: ["predict", "--model-id", str(t / "no-model"), "--device", "cpu", "x"],
        NONZERO,
        ("no-model: cannot read config.json from the local folder",),
    ),
    Case(
        "predict-bad-stdin-line",
        lambda t: [  # #9: the bad line gets an error object, the others an answer
            "predict",
            "--model-id",
            str(TINY),
            "--device",
            "cpu",
        ],
        0,
        ("stdin:2: not a JSON line", '{"line": 2, "error":', '{"request_text": "a",'),
        stdin='{"request_text": "a"}\nbad\n',
    ),
    # --- merge ---
    Case(
        "merge-missing-adapter",
        lambda t: [
            "merge",
            "--base-model-id",
            str(TINY),
            "--adapter-model-id",
            str(t / "no-adapter"),
            "--out",
            str(t / "m"),
            "--device",
            "cpu",
        ],
        NONZERO,
        ("--adapter-model-id", "no-adapter: no such folder"),
        absent=("m",),
    ),
    Case(
        "merge-out-not-empty",
        lambda t: [
            "merge",
            "--base-model-id",
            str(TINY),
            "--adapter-model-id",
            str(t / "no-adapter"),
            "--out",
            str(_precious(t / "m" / "model.safetensors").parent),
            "--device",
            "cpu",
        ],
        NONZERO,
        ("m: the folder is not empty (model.safetensors); pass --overwrite to replace it",),
        keep=("m/model.safetensors",),
    ),
    # --- status / logs / cancel ---
    Case(
        "logs-unknown-job",
        lambda t: ["logs", "local-nope", "--artifacts-dir", str(t / "artifacts")],
        NONZERO,
        ("no local job 'local-nope' under",),
    ),
    Case(
        "cancel-unknown-job",
        lambda t: ["cancel", "local-nope", "--artifacts-dir", str(t / "artifacts")],
        NONZERO,
        ("no local job 'local-nope' under",),
    ),
    # A damaged ledger line (an append cut short) is skipped, never fatal; its warning: test_a_damaged_ledger_line_...
    Case(
        "status-damaged-ledger-line",
        lambda t: ["status", "--artifacts-dir", str(_ledger(t, '{"event": "job_submitted"\n'))],
        0,
        ("no jobs or models in", "submissions.jsonl yet"),
    ),
    # --- report ---
    Case(
        "report-empty-folder",
        lambda t: ["report", str(t)],
        NONZERO,
        ("nothing to report (no eval/*/eval_report.json, ledger or split report)",),
    ),
    Case(
        "report-corrupt-eval-report",
        lambda t: ["report", str(_corrupt_run(t))],
        NONZERO,
        ("eval_report.json: not valid JSON", "line 1)"),
    ),
    Case(
        "report-of-a-file",
        lambda t: ["report", str(_precious(t / "r.txt"))],
        NONZERO,
        ("r.txt: nothing to report",),
        keep=("r.txt",),
    ),
    # --- demo ---
    Case(
        "demo-out-not-empty",
        lambda t: ["demo", "--out", str(_precious(t / "d" / "keep.txt").parent)],
        NONZERO,
        ("is not empty: give a new --out",),
        keep=("d/keep.txt",),
    ),
    Case(
        "demo-out-is-a-file",
        lambda t: ["demo", "--out", str(_precious(t / "d.txt"))],
        NONZERO,  # #5
        ("d.txt: not a directory",),
        keep=("d.txt",),
    ),
]


def _param(case: Case) -> object:
    return pytest.param(case, id=case.id)


def test_the_table_covers_every_command():
    assert len(CASES) >= 30
    for command in (
        "split",
        "check-splits",
        "convert",
        "train",
        "eval",
        "score",
        "predict",
        "merge",
        "status",
        "logs",
        "cancel",
        "report",
        "demo",
    ):
        assert any(c.id.startswith(command) for c in CASES), command


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative defaults (./artifacts) land in the test's folder
    monkeypatch.delenv("HIDDENPARAMS_DEBUG", raising=False)
    args = case.setup(tmp_path)
    result = CliRunner().invoke(app, args, input=case.stdin)
    output = result.output
    assert "Traceback" not in output, output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    if case.code == NONZERO:
        assert result.exit_code != 0, output
    else:
        assert result.exit_code == case.code, output
    flat = " ".join(output.split())  # the message may wrap on a narrow console
    for text in case.says:
        assert text in flat, f"{text!r} not in: {output}"
    for name in case.keep:
        assert (tmp_path / name).read_text() == PRECIOUS, f"{name} was overwritten"
    for name in case.absent:
        assert not (tmp_path / name).exists(), f"{name} was left behind"


def test_check_splits_finds_in_the_folder_what_split_refused(tmp_path):
    """The two commands share their checks: splits too small to measure, which `split` refuses (and writes with a
    warning under --allow-small), `check-splits` then finds in the folder, in the same words, and says to rebuild."""
    (tmp_path / "in.jsonl").write_text(_lines(500))
    split = ["split", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "s")]
    refused = CliRunner().invoke(app, split)
    problems = re.findall(
        r"(?:validation|test): only \d+ rows \(fewer than 50\): too small to measure", " ".join(refused.output.split())
    )
    assert refused.exit_code == 1 and len(problems) == 2 and not (tmp_path / "s").exists(), refused.output
    written = CliRunner().invoke(app, [*split, "--allow-small"])
    assert written.exit_code == 0 and all(f"warning: {p}" in " ".join(written.output.split()) for p in problems)
    checked = CliRunner().invoke(app, ["check-splits", str(tmp_path / "s")])
    said = " ".join(checked.output.split())
    assert checked.exit_code == 1 and "REBUILD: the splits in" in said, checked.output
    assert all(f"- {problem}" in said for problem in problems), (problems, checked.output)


def test_a_damaged_ledger_line_is_skipped_with_a_warning_naming_it(tmp_path, caplog):
    root = _ledger(tmp_path, '{"event": "job_submitted"\n')
    with caplog.at_level(logging.WARNING, logger="hiddenparams.ledger"):  # pytest holds the log records
        result = CliRunner().invoke(app, ["status", "--artifacts-dir", str(root)])
    assert result.exit_code == 0, result.output
    ledger = root / "hf_jobs" / "submissions.jsonl"
    assert f"{ledger}:1: skipping a damaged ledger line (Expecting ',' delimiter" in caplog.text


# --- the handler itself ----------------------------------------------------------------------------------------


def _bug(*args: object, **kwargs: object) -> None:
    raise ZeroDivisionError("a bug in hiddenparams")


def test_a_bug_is_one_line_and_the_traceback_only_with_debug(tmp_path, monkeypatch):
    import hiddenparams.eval.run_report

    monkeypatch.setattr(hiddenparams.eval.run_report, "build_run_report", _bug)
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == EXIT_BUG and "Traceback" not in result.output
    assert "internal error (ZeroDivisionError: a bug in hiddenparams)" in result.output
    assert "--debug" in result.output

    debug = CliRunner().invoke(app, ["--debug", "report", str(tmp_path)])
    assert "Traceback" in debug.output and debug.exit_code == result.exit_code
    monkeypatch.setenv("HIDDENPARAMS_DEBUG", "1")
    assert "Traceback" in CliRunner().invoke(app, ["report", str(tmp_path)]).output


def test_a_user_error_carries_its_exit_code_and_hint(tmp_path, monkeypatch):
    import hiddenparams.eval.run_report
    from hiddenparams.errors import HiddenParamsError

    class Refused(HiddenParamsError):
        exit_code = 3
        hint = "do the other thing"

    def refuse(*args: object, **kwargs: object) -> None:
        raise Refused("refused [b]as[/b] it should")

    monkeypatch.setattr(hiddenparams.eval.run_report, "build_run_report", refuse)
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 3
    assert "error: refused [b]as[/b] it should" in result.output  # the message is text, not markup
    assert "hint: do the other thing" in result.output


def test_flags_take_no_value_in_help():
    for command in ("train", "eval", "status", "split"):
        result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
        assert "<bool>" not in result.output, command
