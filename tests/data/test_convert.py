import json

import pytest
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.config import config_hash
from hiddenparams.data.convert import ConvertConfig, convert_dir, run
from hiddenparams.provenance import code_version, file_sha256
from hiddenparams.prompt import SYSTEM_PROMPT
from hiddenparams.data.rows import DataError, read_rows
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
    assert result.exit_code != 0 and "train.jsonl" in result.output  # printed by the CLI's one handler
    write(tmp_path / "train.jsonl", [ROW])
    result = runner.invoke(app, ["convert", str(tmp_path), "--out", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == {"train": 1}


def test_undecodable_bytes_name_their_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(json.dumps(ROW).encode() + b"\n" + b'{"id": "\xff"}\n')
    with pytest.raises(DataError, match=r"train\.jsonl:2: not UTF-8"):
        read_rows(path)


def test_empty_train_is_refused_and_an_empty_validation_split_is_left_out_with_a_note(tmp_path):
    src = tmp_path / "split"
    src.mkdir()
    write(src / "train.jsonl", [])
    with pytest.raises(DataError, match="train.jsonl: no rows to train on"):
        convert_dir(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()

    write(src / "train.jsonl", [ROW])
    write(src / "validation.jsonl", [])
    result = run(ConvertConfig(str(src), str(tmp_path / "out")))
    assert result.rows == {"train": 1}
    assert not (tmp_path / "out" / "validation.jsonl").exists()
    assert any("validation.jsonl is empty" in note and "without evaluation" in note for note in result.notes)


def test_manifest_carries_rows_and_provenance(tmp_path):
    src = tmp_path / "split"
    src.mkdir()
    write(src / "train.jsonl", [ROW, {**ROW, "id": "b"}])
    write(src / "test.jsonl", [ROW])
    cfg = ConvertConfig(str(src), str(tmp_path / "out"))
    result = run(cfg)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(result.to_json()))
    assert manifest["rows"] == {"train": 2, "test": 1}
    prov = manifest["provenance"]
    assert set(prov) == {"config_hash", "data_sha256", "code_version"}
    assert prov["config_hash"] == config_hash(cfg) and prov["code_version"] == code_version()
    assert prov["data_sha256"] == {name: file_sha256(src / name) for name in ("train.jsonl", "test.jsonl")}


def test_cli_convert_refuses_a_non_empty_out_and_a_file_as_out(tmp_path):
    runner = CliRunner()
    write(tmp_path / "train.jsonl", [ROW])
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = runner.invoke(app, ["convert", str(tmp_path), "--out", str(out)])
    assert result.exit_code != 0 and "not empty" in result.output and "--overwrite" in result.output
    assert (out / "keep.txt").read_text() == "precious"
    result = runner.invoke(app, ["convert", str(tmp_path), "--out", str(out), "--overwrite", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train.jsonl"]
    result = runner.invoke(app, ["convert", str(tmp_path), "--out", str(tmp_path / "train.jsonl")])
    assert result.exit_code != 0 and "is a file, not a folder" in result.output


def test_with_a_model_the_longest_row_is_recorded_and_rows_over_the_cap_are_refused_with_file_and_line(tmp_path):
    from pathlib import Path

    from hiddenparams.model.chat_format import row_tokens
    from hiddenparams.data.convert import to_prompt_completion
    from hiddenparams.model.load import counting_tokenizer

    tiny = str(Path(__file__).resolve().parents[2] / "models" / "tiny-ministral3")
    long_row = {**ROW, "id": "long", "request_text": "calm piano " * 40}
    write(tmp_path / "train.jsonl", [ROW, long_row, {**ROW, "id": "c"}])
    tokenizer, _ = counting_tokenizer(tiny)
    short, long = (row_tokens(tokenizer, to_prompt_completion(r)) for r in read_rows(tmp_path / "train.jsonl")[:2])
    assert short < long

    result = run(ConvertConfig(str(tmp_path), str(tmp_path / "out"), model_id=tiny))
    assert result.lengths == {"tokenizer": f"{tiny}'s tokenizer", "max_length": 512,  # the tiny model's context
                              "longest": {"tokens": long, "at": f"{tmp_path / 'train.jsonl'}:2"}}
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["lengths"]["longest"]["tokens"] == long

    with pytest.raises(DataError) as refused:
        run(ConvertConfig(str(tmp_path), str(tmp_path / "out2"), model_id=tiny, max_length=long - 1))
    assert f"{tmp_path / 'train.jsonl'}:2: {long} tokens" in str(refused.value) and "1 row(s)" in str(refused.value)
    assert not (tmp_path / "out2").exists()  # nothing written, nothing truncated
    cli = CliRunner().invoke(app, ["convert", str(tmp_path), "--out", str(tmp_path / "o3"), "--model-id", tiny,
                                   "--max-length", str(long)])
    assert cli.exit_code == 0, cli.output
    assert CliRunner().invoke(app, ["convert", str(tmp_path), "--out", str(tmp_path / "o4"), "--max-length", "9"]).exit_code
