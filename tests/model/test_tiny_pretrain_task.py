"""make-tiny-model measures how well the base does its own pre-training JSON task (`pretraining_task_mae`)."""

import json
import re

import pytest
import torch
from transformers import AutoTokenizer

from hiddenparams.data.sample import generate_texts
from hiddenparams.demo import TINY_MODEL
from hiddenparams.model.tiny import pretraining_task_mae


class FixedAnswerer:
    """Answers every prompt with `answer(keys)`, the keys read from the prompt: a model of known behaviour."""

    def __init__(self, tokenizer, answer):
        self.tokenizer, self.answer = tokenizer, answer

    def eval(self):
        return self

    def parameters(self):  # where to put the prompts
        return iter([torch.zeros(1)])

    def generate(self, input_ids, attention_mask, **_):
        rows = []
        for prompt in self.tokenizer.batch_decode(input_ids):
            keys = re.search(r"with the keys (.*?), each", prompt).group(1).split(", ")
            rows.append(self.tokenizer(self.answer(keys) + "</s>", add_special_tokens=False)["input_ids"])
        width = max(map(len, rows))
        pad = self.tokenizer.pad_token_id
        answers = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        return torch.cat([input_ids, answers], dim=1)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(TINY_MODEL)


def test_answering_five_everywhere_scores_the_constant_baseline(tokenizer):
    texts = generate_texts(40, seed=3)
    model = FixedAnswerer(tokenizer, lambda keys: json.dumps(dict.fromkeys(keys, 5)))
    result = pretraining_task_mae(model, tokenizer, texts, factors=6, every=5, batch_size=16)
    assert result["rows"] == result["valid"] == 40
    assert result["mae"] == result["constant_mae"] > 1


def test_measuring_leaves_the_tokenizer_as_it_was(tokenizer):
    from hiddenparams.model.load import load_model

    before = tokenizer.backend_tokenizer.to_str()
    model, _ = load_model(str(TINY_MODEL))
    pretraining_task_mae(model, tokenizer, generate_texts(4, seed=3), factors=6, every=5)
    assert tokenizer.backend_tokenizer.to_str() == before  # make-tiny-model saves the tokenizer it measured with


def test_malformed_answers_are_counted_not_scored(tokenizer):
    model = FixedAnswerer(tokenizer, lambda keys: "not json")
    result = pretraining_task_mae(model, tokenizer, generate_texts(10, seed=3), factors=6, every=5)
    assert result == {**result, "rows": 10, "valid": 0, "mae": None}


def test_the_shipped_base_has_learned_its_pre_training_task(tokenizer):
    """On requests it was not pre-trained on, the shipped base answers other keys' values far better than a constant:
    it can add up its words' effects, which is what the adapter builds on (docs/BENCHMARKS.md "Demo")."""
    from hiddenparams.model.load import load_model
    from hiddenparams.model.tiny import TinySpec

    spec = TinySpec()
    model, _ = load_model(str(TINY_MODEL))
    texts = generate_texts(32, seed=2000)
    result = pretraining_task_mae(model, tokenizer, texts, spec.effect_factors, spec.factor_every)
    assert result["rows"] == 32 and result["valid"] >= 30
    assert result["mae"] < result["constant_mae"] / 4


@pytest.mark.slow
def test_make_tiny_model_records_and_prints_the_measurement(tmp_path, hf_token):
    from typer.testing import CliRunner

    from hiddenparams.cli import app

    out = tmp_path / "tiny"
    result = CliRunner().invoke(app, ["make-tiny-model", "--out", str(out), "--pretrain-steps", "2"])
    assert result.exit_code == 0, result.output
    task = json.loads((out / "tiny_model.json").read_text())["pretrain_task"]
    assert task["rows"] == 128 and task["constant_mae"] > 1
    assert f"pre-training task on 128 unseen requests: {task['valid']} answered" in result.output
    hf_token.assert_absent(tmp_path, result.output)
