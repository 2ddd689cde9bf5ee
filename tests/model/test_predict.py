"""predict: the Python API (load once, predict many) and the CLI's three inputs, on the tiny model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.model.generation import Decoding, generate_all
from hiddenparams.model.predict import PredictConfig, Predictor, prediction
from hiddenparams.schema import KEYS, parse_strict, to_json

runner = CliRunner()
TEXTS = ["rainy-day jazz for reading", "LOUD gym techno, fast please", "songs my grandmother used to hum"]


def test_prediction_shapes():
    params = dict(zip(KEYS, [7, 4, 6, 2, 5, 3]))
    assert prediction("r", f"  {to_json(params)}\n") == {"request_text": "r", "params": params}
    bad = prediction("r", '{"energy": 7}')
    assert bad["request_text"] == "r" and bad["output"] == '{"energy": 7}' and bad["error"].startswith("missing_key")


def test_predictor_loads_once_and_predicts_what_eval_generates(tiny_model_dir, full_model):
    predictor = Predictor.load(PredictConfig(model_id=str(tiny_model_dir), decoding=Decoding(batch_size=2)))
    results = predictor.predict(TEXTS)
    outputs = generate_all(full_model[0], full_model[1], TEXTS)
    assert [r["request_text"] for r in results] == TEXTS
    for result, output in zip(results, outputs):
        expected = parse_strict(output)
        assert result.get("params") == expected.params and result.get("error") == expected.message
    assert predictor.predict(TEXTS[:1]) == results[:1]  # the same loaded model serves again
    with pytest.raises(ValueError, match="request 2 is blank"):
        predictor.predict(["ok", "  "])


def test_predict_cli_from_arguments_file_and_stdin(tiny_model_dir, tiny_adapter_dir, tmp_path):
    model = ["--base-model-id", str(tiny_model_dir), "--adapter-model-id", str(tiny_adapter_dir)]
    from_args = runner.invoke(app, ["predict", *model, *TEXTS])
    assert from_args.exit_code == 0, from_args.output
    lines = [json.loads(line) for line in from_args.stdout.splitlines()]
    assert [line["request_text"] for line in lines] == TEXTS
    assert all(("params" in line) != ("error" in line and "output" in line) for line in lines)

    requests = tmp_path / "requests.txt"
    requests.write_text("\n".join(TEXTS) + "\n\n", encoding="utf-8")
    from_file = runner.invoke(app, ["predict", *model, "--file", str(requests)])
    assert from_file.exit_code == 0 and from_file.stdout == from_args.stdout

    stdin = "".join(json.dumps({"id": f"q{i}", "request_text": t}) + "\n" for i, t in enumerate(TEXTS))
    from_stdin = runner.invoke(app, ["predict", *model], input=stdin)
    assert from_stdin.exit_code == 0, from_stdin.output
    piped = [json.loads(line) for line in from_stdin.stdout.splitlines()]
    assert [p["id"] for p in piped] == ["q0", "q1", "q2"]
    assert [{k: v for k, v in p.items() if k != "id"} for p in piped] == lines


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["--model-id", "x", "a text", "--file", "f.txt"], None, "not both"),
        (["--model-id", "x"], '{"request_text": "ok"}\nnot json\n', "stdin:2"),
        (["--model-id", "x"], '{"text": "wrong field"}\n', "stdin:1"),
        (["--model-id", "x", "  "], None, "blank"),
        (["a text"], None, "either"),
    ],
)
def test_predict_cli_bad_input(args, stdin, message, said):
    result = runner.invoke(app, ["predict", *args], input=stdin)
    assert result.exit_code != 0 and message in said(result)


def test_predict_keeps_one_output_line_per_input_line(tiny_model_dir, tmp_path, said):
    """A bad or blank line is answered by an error object in its place; every other line is answered."""
    model = ["--model-id", str(tiny_model_dir)]
    stdin = '{"request_text": "calm piano"}\nnot json\n\n{"text": "no request_text"}\n{"id": "q5", "request_text": "loud"}\n'
    result = runner.invoke(app, ["predict", *model], input=stdin)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 5
    assert lines[0]["request_text"] == "calm piano" and ("params" in lines[0] or "output" in lines[0])
    assert lines[1]["line"] == 2 and "stdin:2: not a JSON line" in lines[1]["error"]
    assert lines[2]["line"] == 3 and "blank" in lines[2]["error"]
    assert lines[3]["line"] == 4 and "request_text" in lines[3]["error"]
    assert lines[4]["id"] == "q5" and lines[4]["request_text"] == "loud"
    assert "stdin:2" in said(result)

    requests = tmp_path / "requests.txt"
    requests.write_text("calm piano\n\nloud\n\n", encoding="utf-8")
    from_file = runner.invoke(app, ["predict", *model, "--file", str(requests)])
    assert from_file.exit_code == 0, from_file.output
    answers = [json.loads(line) for line in from_file.stdout.splitlines()]
    assert [a.get("request_text") for a in answers] == ["calm piano", None, "loud"]  # trailing blanks end the file
    assert answers[1]["error"].endswith("blank line: no request")


def test_an_over_long_request_is_answered_with_a_warning_naming_the_context(tiny_model_dir, said):
    long_text = "rainy jazz " * 400  # far past the tiny model's 512-token context
    result = runner.invoke(app, ["predict", "--model-id", str(tiny_model_dir), "short one", long_text])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2
    assert "request 2" in said(result) and "context of 512 tokens" in said(result)
    assert "request 1:" not in said(result)
