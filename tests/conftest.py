"""Shared fixtures: a tiny Ministral-3-architecture model and a LoRA adapter on it, built once per session in a
few seconds, so tests run the real model code without a trained model (and never a mock of the model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

# The mocked Hub and a 3B run config on it, shared with test_eval_job.py and test_jobs_service.py.
from test_jobs_hf import config_3b, data_dir, hub  # noqa: F401

from hiddenparams.convert import Row
from hiddenparams.sample import generate_rows
from hiddenparams.tiny import TinySpec, make_tiny_model

# The tiny model's matrices are too small to split across threads: on this shared 2-core machine a second intra-op
# thread made one forward pass 60x slower (1.8 ms -> 110 ms) while other processes held the cores.
torch.set_num_threads(1)

# Weights drawn wider than the 0.02 init: an init-scale random model repeats one token for every input, which
# would hide padding and cache bugs; at this scale greedy outputs depend on the input and some stop at EOS early.
RANDOM_WEIGHT_STD = 0.2


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from hiddenparams.model import load_model

    path = tmp_path_factory.mktemp("tiny-ministral3")
    make_tiny_model(path, TinySpec(pretrain_steps=0, corpus_size=2000))
    model, _ = load_model(str(path))
    torch.manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                torch.nn.init.normal_(param, std=RANDOM_WEIGHT_STD)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_adapter_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter with random A and B (a zero-initialised B would change nothing), saved with the tokenizer,
    recording `tiny_model_dir` as its base, as the training job saves one."""
    from peft import LoraConfig, get_peft_model

    from hiddenparams.model import load_model, load_tokenizer, lora_targets

    path = tmp_path_factory.mktemp("tiny-adapter")
    model, _ = load_model(str(tiny_model_dir))
    torch.manual_seed(1)
    config = LoraConfig(target_modules=lora_targets(model.config), init_lora_weights=False, r=4, task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(path)
    load_tokenizer(str(tiny_model_dir)).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def eval_data_dir(tmp_path_factory) -> Path:
    """test.jsonl (12 rows) and train.jsonl (48 rows) of generated canonical rows."""
    path = tmp_path_factory.mktemp("eval-data")
    rows = generate_rows(60, seed=11)
    for name, part in (("test", rows[:12]), ("train", rows[12:])):
        (path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def eval_rows(eval_data_dir) -> list[Row]:
    from hiddenparams.convert import read_rows

    return read_rows(eval_data_dir / "test.jsonl")


@pytest.fixture(scope="session")
def full_model(tiny_model_dir):
    """(model, tokenizer, description) of the tiny model in full-model mode, loaded once."""
    from hiddenparams.model import load_for_inference

    return load_for_inference(model_id=str(tiny_model_dir))


@pytest.fixture(scope="session")
def adapted_model(tiny_model_dir, tiny_adapter_dir):
    """(model, tokenizer, description) of the tiny base + adapter, loaded once."""
    from hiddenparams.model import load_for_inference

    return load_for_inference(base_model_id=str(tiny_model_dir), adapter_id=str(tiny_adapter_dir))


@pytest.fixture
def said():
    """A CliRunner result's stderr with rich's line wrapping undone, for phrase assertions."""
    return lambda result: " ".join(result.stderr.split())
