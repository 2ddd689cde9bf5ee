import json

import pytest
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.convert import DataError, convert_dir, read_rows
from hiddenparams.prompt import SYSTEM_PROMPT
from hiddenparams.schema import KEYS, parse_strict

ROW = {"id": "a", "request_text": "calm piano", "hidden_params": dict(zip(KEYS, [1, 7, 4, 9, 3, 6]))}


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")


def test_convert_writes_prompt_completion_rows(tmp_path):
    write(tmp_path / "train.jsonl", [ROW, {**ROW, "id": "b", "request_text": "fête 🎉"}])
    write(tmp_path / "test.jsonl", [ROW])
    counts = convert_dir(tmp_path, tmp_path / "out")
    assert counts == {"train": 2, "test": 1}
    lines = (tmp_path / "out" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert set(first) == {"prompt", "completion"}
    assert first["prompt"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert first["prompt"][1]["role"] == "user" and "calm piano" in first["prompt"][1]["content"]
    (answer,) = first["completion"]
    assert answer["role"] == "assistant"
    parsed = parse_strict(answer["content"])
    assert parsed.valid and parsed.params == ROW["hidden_params"]
    assert list(json.loads(answer["content"])) == list(KEYS)  # canonical key order
    assert "fête 🎉" in lines[1]  # non-ASCII kept as is


@pytest.mark.parametrize(
    "bad, field",
    [
        ('{"id": "x", "request_text": " ", "hidden_params": {}}', "request_text"),
        (json.dumps({**ROW, "hidden_params": {**ROW["hidden_params"], "energy": 11}}), "hidden_params"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_row_names_file_line_and_field(tmp_path, bad, field):
    write(tmp_path / "train.jsonl", [ROW, bad])
    with pytest.raises(DataError) as err:
        read_rows(tmp_path / "train.jsonl")
    assert "train.jsonl:2" in str(err.value) and field in str(err.value)


def test_cli_convert_and_missing_train(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["convert", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "train.jsonl" in str(result.exception)  # printed by the CLI's one handler
    write(tmp_path / "train.jsonl", [ROW])
    result = runner.invoke(app, ["convert", str(tmp_path), "--out", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == {"train": 1}


def test_undecodable_bytes_name_their_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(json.dumps(ROW).encode() + b"\n" + b'{"id": "\xff"}\n')
    with pytest.raises(DataError, match=r"train\.jsonl:2: not UTF-8"):
        read_rows(path)
