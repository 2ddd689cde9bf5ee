"""Evaluation on the tiny model: batched greedy generation, the three modes, the files, and bad input."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import fields

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.config import config_hash, load_configs
from hiddenparams.data.rows import Row
from hiddenparams.eval.evaluate import EvalConfig
from hiddenparams.eval.modes import evaluate
from hiddenparams.eval.score import Case
from hiddenparams.eval.value_scores import ValueDistribution, distribution_report, score_values, value_pieces
from hiddenparams.ledger import Ledger
from hiddenparams.model.generation import (
    MAX_NEW_TOKENS_MARGIN,
    Decoding,
    context_warnings,
    generate_all,
    max_new_tokens_for,
    prompt_ids,
)
from hiddenparams.provenance import code_version, file_sha256
from hiddenparams.schema import KEYS, MAX_VALUE, MIN_VALUE, VALUES, to_json

runner = CliRunner()


def ledger_events(root):
    return [(r["event"], r) for r in Ledger(root).read()]


def test_max_new_tokens_fits_the_longest_object(full_model):
    _, tokenizer, _ = full_model
    longest = tokenizer(to_json(dict.fromkeys(KEYS, MAX_VALUE)), add_special_tokens=False)["input_ids"]
    assert max_new_tokens_for(tokenizer) == len(longest) + 1 + MAX_NEW_TOKENS_MARGIN


def test_batched_generation_equals_one_row_at_a_time(full_model, eval_rows):
    model, tokenizer, _ = full_model
    texts = [r.request_text for r in eval_rows[:6]]
    batched = generate_all(model, tokenizer, texts, Decoding(batch_size=64))
    assert batched == generate_all(model, tokenizer, texts, Decoding(batch_size=1))
    # Prompts of different lengths and outputs that differ per row: left padding really was exercised.
    assert len({len(prompt_ids(tokenizer, t)) for t in texts}) > 1 and len(set(batched)) == len(texts)


def test_value_scores_are_the_models_probabilities_of_the_canonical_text(adapted_model, eval_rows):
    """The cached, batched candidate scoring equals a plain forward over prompt + canonical JSON text."""
    model, tokenizer, _ = adapted_model
    texts = [r.request_text for r in eval_rows[:3]]
    pieces = value_pieces(tokenizer)
    (batch,) = score_values(model, tokenizer, texts, batch_size=8)
    for row, scores in zip(batch.indices, batch.outputs):
        chosen = scores.argmax(-1).tolist()  # later keys are conditioned on the argmax of earlier ones
        for k in (0, 3, len(KEYS) - 1):
            for v in (0, 7, 10):
                values = chosen[:k] + [v] + [0] * (len(KEYS) - 1 - k)
                ids = (
                    prompt_ids(tokenizer, texts[row])
                    + tokenizer(to_json(dict(zip(KEYS, values))), add_special_tokens=False)["input_ids"]
                )
                start = (
                    len(prompt_ids(tokenizer, texts[row]))
                    + len(pieces.forced[k])
                    + sum(len(pieces.forced[j]) + len(pieces.candidates[j][values[j]]) for j in range(k))
                )
                end = start + len(pieces.candidates[k][v])
                with torch.inference_mode():
                    logprobs = model(input_ids=torch.tensor([ids[:end]])).logits[0].float().log_softmax(-1)
                expected = sum(logprobs[i - 1, ids[i]].item() for i in range(start, end))
                assert scores[k, v] == pytest.approx(expected, abs=1e-4)


def test_eval_full_mode_writes_predictions_report_and_ledger(tiny_model_dir, eval_data_dir, tmp_path):
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            "eval",
            "--model-id",
            str(tiny_model_dir),
            "--data",
            str(eval_data_dir / "test.jsonl"),
            "--out",
            str(out),
            "--batch-size",
            "5",
            "--max-new-tokens",
            "12",
            "--artifacts-dir",
            str(tmp_path / "artifacts"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "eval_report.json").read_text())
    assert report["decoding"]["max_new_tokens"] == 12 == report["config"]["decoding"]["max_new_tokens"]
    assert report["decoding"]["mode"] == "greedy" and report["decoding"]["temperature"] == 0
    provenance = report["provenance"]
    assert set(provenance) == {"config_hash", "data_sha256", "code_version"}
    assert provenance["config_hash"] == config_hash(load_configs(None, report["config"], EvalConfig)[0])
    assert provenance["data_sha256"] == {
        "data": file_sha256(eval_data_dir / "test.jsonl"),
        "train": file_sha256(eval_data_dir / "train.jsonl"),
    }
    assert provenance["code_version"] == code_version()
    assert f"valid_cases={report['valid_cases']}/12" in result.stdout
    assert report["total"] == 12 and report["model"]["mode"] == "full" and report["decoding"]["mode"] == "greedy"
    assert {"train_mean", "tfidf_ridge"} <= set(report["baselines"])
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    rows = [json.loads(line) for line in (eval_data_dir / "test.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == [r["id"] for r in rows]  # rewritten in data order at the end
    assert [p["output"] for p in predictions] == [c["output"] for c in report["cases"]]
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    assert not (out / "constrained").exists() and not (out / "distribution.json").exists()
    ((event, record),) = ledger_events(tmp_path / "artifacts")
    assert event == "evaluated" and record["repo_kind"] == "full"
    assert record["details"]["valid_cases"] == report["valid_cases"] and record["details"]["mode"] == "full"


def test_eval_adapter_mode_constrained_and_distribution_stay_apart(
    tiny_model_dir, tiny_adapter_dir, eval_data_dir, tmp_path, said
):
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            "eval",
            "--base-model-id",
            str(tiny_model_dir),
            "--adapter-model-id",
            str(tiny_adapter_dir),
            "--data",
            str(eval_data_dir / "test.jsonl"),
            "--out",
            str(out),
            "--max-rows",
            "8",
            "--constrained",
            "--distribution",
            "--artifacts-dir",
            str(tmp_path / "artifacts"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    headline = json.loads((out / "eval_report.json").read_text())
    assert headline["model"]["mode"] == "base+adapter" and headline["total"] == 8
    assert "valid_cases=" in result.stderr and json.loads(result.stdout)["valid_cases"] == headline["valid_cases"]

    constrained = json.loads((out / "constrained" / "eval_report.json").read_text())
    assert constrained["decoding"]["mode"] == "constrained"
    assert constrained["valid_cases"] == constrained["total"] == 8  # it can only produce the valid object
    for case in constrained["cases"]:
        assert len(case["prediction"]) == len(KEYS) and all(MIN_VALUE <= v <= MAX_VALUE for v in case["prediction"])
    assert (out / "constrained" / "report.html").is_file()
    # The headline is the greedy generation, untouched by the other modes.
    greedy = [json.loads(line)["output"] for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [c["output"] for c in headline["cases"]] == greedy

    dist = json.loads((out / "distribution.json").read_text())
    assert dist["total"] == 8 and set(dist["mae"]) == {"argmax", "expected", "expected_rounded"}
    for case in dist["cases"]:
        for key in KEYS:
            assert sum(case["probs"][key]) == pytest.approx(1.0, abs=1e-3)
        assert case["argmax"] == [c for c in constrained["cases"] if c["id"] == case["id"]][0]["prediction"]
    assert "vs_headline" in dist and "distribution (not the headline)" in said(result)


def test_distribution_arithmetic_and_comparison_with_greedy():
    # Row 1: key 0 split evenly between 4 and 6 (expected 5), every other key certain of 2.
    logprobs = np.full((2, len(KEYS), len(VALUES)), -1e9)
    logprobs[:, :, 2] = np.log(0.5)
    logprobs[0, 0, 2] = -1e9
    logprobs[0, 0, [4, 6]] = np.log(0.25)
    dist = ValueDistribution.from_logprobs(logprobs)
    assert dist.probs.sum(-1) == pytest.approx(np.ones((2, len(KEYS))))
    assert dist.expected[0, 0] == pytest.approx(5.0) and dist.std[0, 0] == pytest.approx(1.0)
    assert dist.mass[0, 0] == pytest.approx(0.5) and dist.argmax[1].tolist() == [2] * len(KEYS)

    rows = [Row("a", "x", dict.fromkeys(KEYS, 5)), Row("b", "y", dict.fromkeys(KEYS, 2))]
    greedy = [Case("a", True, None, None, "", [5] * 6, [9] + [2] * 5), Case("b", False, "x", "x", "", [2] * 6, None)]
    vs = distribution_report(rows, dist, greedy).vs_headline
    assert vs is not None and vs.rows == 1
    assert vs.against == "greedy decoding"
    assert vs.mae["headline"] == pytest.approx((4 + 3 * 5) / 6)
    assert vs.mae["expected"] == pytest.approx(3 * 5 / 6)
    assert vs.expected_beats_headline is True
    assert "vs_headline" not in distribution_report(rows, dist, None).to_json()


def test_crash_mid_eval_keeps_the_finished_batches(full_model, eval_rows, tmp_path, monkeypatch):
    model, tokenizer, _ = full_model
    real_generate = model.generate
    calls = []

    def generate_then_fail(*args, **kwargs):  # a test double at the generation boundary
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", generate_then_fail)
    path = tmp_path / "predictions.jsonl"
    with pytest.raises(RuntimeError, match="simulated"):
        evaluate(model, tokenizer, eval_rows, eval_rows, Decoding(batch_size=4), predictions_path=path)
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(kept) == 4
    monkeypatch.undo()
    by_id = {r.id: r for r in eval_rows}
    again = generate_all(model, tokenizer, [by_id[p["id"]].request_text for p in kept])
    assert [p["output"] for p in kept] == again


@pytest.mark.parametrize("case", ["empty", "no_tokenizer", "wrong_base", "neither", "both", "base_only"])
def test_bad_input_fails_before_any_generation(case, tiny_model_dir, tiny_adapter_dir, eval_data_dir, tmp_path, said):
    data = eval_data_dir / "test.jsonl"
    train = ["--train", str(eval_data_dir / "train.jsonl")]
    if case == "empty":
        data = tmp_path / "test.jsonl"
        data.write_text("\n")
        model, message = ["--model-id", str(tiny_model_dir)], "empty"
    elif case == "no_tokenizer":
        bare = tmp_path / "bare"
        bare.mkdir()
        for name in ("config.json", "model.safetensors"):
            shutil.copy(tiny_model_dir / name, bare / name)
        model, message = ["--model-id", str(bare)], "tokenizer"
    elif case == "wrong_base":
        other = tmp_path / "other-base"  # loads fine, but is not the model the adapter was trained on
        shutil.copytree(tiny_model_dir, other)
        config = json.loads((other / "config.json").read_text())
        config["text_config"]["rope_parameters"]["rope_theta"] = 10_000.0
        (other / "config.json").write_text(json.dumps(config))
        model, message = ["--base-model-id", str(other), "--adapter-model-id", str(tiny_adapter_dir)], "trained on"
    elif case == "neither":
        model, message = [], "either"
    elif case == "both":
        model, message = ["--model-id", str(tiny_model_dir), "--base-model-id", str(tiny_model_dir)], "either"
    else:
        model, message = ["--base-model-id", str(tiny_model_dir)], "adapter"
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", *model, "--data", str(data), *train, "--out", str(out)])
    assert result.exit_code != 0
    assert message in said(result)
    assert not (out / "predictions.jsonl").exists()


def test_eval_refuses_a_non_empty_out_unless_overwrite(tiny_model_dir, eval_data_dir, tmp_path, said):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    args = [
        "eval",
        "--model-id",
        str(tiny_model_dir),
        "--data",
        str(eval_data_dir / "test.jsonl"),
        "--out",
        str(out),
        "--max-rows",
        "2",
        "--artifacts-dir",
        str(tmp_path / "a"),
    ]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "not empty" in said(refused) and "--overwrite" in said(refused)
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]
    done = runner.invoke(app, [*args, "--overwrite"])
    assert done.exit_code == 0, done.output
    assert (out / "precious.txt").read_text() == "keep me" and (out / "eval_report.json").is_file()


def test_a_bad_adapter_is_refused_before_the_base_loads(
    tiny_model_dir, tiny_adapter_dir, eval_data_dir, tmp_path, said
):
    broken_base = tmp_path / "base"  # would fail to load: the adapter's error must come first
    shutil.copytree(tiny_model_dir, broken_base)
    with open(broken_base / "model.safetensors", "r+b") as f:
        f.truncate(1000)
    no_config = tmp_path / "adapter"
    shutil.copytree(tiny_adapter_dir, no_config)
    (no_config / "adapter_config.json").unlink()
    data = ["--data", str(eval_data_dir / "test.jsonl")]
    result = runner.invoke(
        app,
        [
            "eval",
            "--base-model-id",
            str(broken_base),
            "--adapter-model-id",
            str(no_config),
            *data,
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code != 0 and "no adapter_config.json" in said(result)
    missing = runner.invoke(
        app,
        [
            "eval",
            "--base-model-id",
            str(broken_base),
            "--adapter-model-id",
            str(tmp_path / "nowhere"),
            *data,
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert missing.exit_code != 0 and "no such folder" in said(missing)


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_truncated_weights_are_named_with_what_to_do(command, tiny_model_dir, eval_data_dir, tmp_path, said):
    broken = tmp_path / "model"
    shutil.copytree(tiny_model_dir, broken)
    with open(broken / "model.safetensors", "r+b") as f:
        f.truncate(1_000_000)
    extra = (
        ["--data", str(eval_data_dir / "test.jsonl"), "--out", str(tmp_path / "o")]
        if command == "eval"
        else ["a request"]
    )
    result = runner.invoke(app, [command, "--model-id", str(broken), *extra])
    assert result.exit_code != 0
    assert f"{broken / 'model.safetensors'}: truncated or corrupt" in said(result) and "again" in said(result)
    assert "Traceback" not in result.output


def test_rows_past_the_models_context_are_named(full_model):
    model, tokenizer, _ = full_model
    warnings = context_warnings(model, tokenizer, ["calm piano", "rainy jazz " * 400], ["row a", "row b"])
    assert len(warnings) == 1 and warnings[0].startswith("row b:") and "context of 512 tokens" in warnings[0]


def test_eval_help_lists_the_flags_users_have_with_their_help():
    result = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    flags = [
        "--model-id",
        "--base-model-id",
        "--adapter-model-id",
        "--data",
        "--out",
        "--train",
        "--batch-size",
        "--max-rows",
        "--constrained",
        "--distribution",
        "--device",
        "--push-results-to",
        "--backend",
        "--flavor",
        "--namespace",
        "--timeout",
        "--dry-run",
        "--wait",
        "--artifacts-dir",
        "--json",
        "--config",
        "--set",
        "--overwrite",
        "--max-new-tokens",
    ]
    for flag in flags:
        assert f" {flag} " in result.stdout, flag
    for f in [*fields(EvalConfig), *fields(Decoding)]:  # every config field is a flag, with its field's help
        if f.name == "decoding":
            continue
        assert f.metadata["help"].split(" (")[0][:60] in result.stdout, f.name


def test_sampling_is_seeded_and_never_shares_a_greedy_runs_hash(full_model, eval_rows):
    model, tokenizer, _ = full_model
    texts = [r.request_text for r in eval_rows[:6]]
    sampled = Decoding(temperature=1.5, seed=3, batch_size=4)
    first = generate_all(model, tokenizer, texts, sampled)
    assert generate_all(model, tokenizer, texts, sampled) == first  # the seed repeats it
    assert generate_all(model, tokenizer, texts, Decoding(temperature=1.5, seed=4, batch_size=4)) != first
    assert generate_all(model, tokenizer, texts, Decoding(batch_size=4)) != first  # greedy is another answer
    greedy = EvalConfig(data="t.jsonl", out="o", model_id="m")
    assert config_hash(greedy) != config_hash(dataclasses.replace(greedy, decoding=sampled))
    assert (
        sampled.label() == "sampling (temperature=1.5, top_p=1.0, seed=3)" and Decoding().label() == "greedy decoding"
    )
    nucleus = Decoding(temperature=1.5, top_p=0.5, seed=3, batch_size=4)  # the same seed, a narrower nucleus
    assert nucleus.generation_config(tokenizer).top_p == 0.5
    assert generate_all(model, tokenizer, texts, nucleus) != first
    assert config_hash(dataclasses.replace(greedy, decoding=nucleus)) != config_hash(
        dataclasses.replace(greedy, decoding=sampled)
    )


def test_top_p_reaches_the_eval_job_and_its_report_from_the_flag(tmp_path):
    from hiddenparams.config import RunOn
    from hiddenparams.model.generation import Decoding as D

    cfg, _ = load_configs(
        None, {"data": "t.jsonl", "out": "o", "model_id": "m", "temperature": 0.9, "top_p": 0.8}, EvalConfig, RunOn
    )
    assert cfg.decoding == D(temperature=0.9, top_p=0.8)
    with pytest.raises(Exception, match="field 'top_p'"):
        load_configs(None, {"data": "t.jsonl", "out": "o", "model_id": "m", "top_p": 0}, EvalConfig, RunOn)
