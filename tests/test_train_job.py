"""The training job on the shipped tiny Ministral-3-architecture model: real TRL + PEFT code, tiny config."""

import dataclasses
import json
from pathlib import Path

import pytest
from trl import SFTConfig

from hiddenparams.config import load_config
from hiddenparams.convert import convert_dir
from hiddenparams.schema import KEYS
from hiddenparams.train_job import NOT_FOR_TRL, build_trainer, train

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "models" / "tiny-ministral3"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    src = tmp_path_factory.mktemp("split")
    lines = (ROOT / "data" / "sample" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    (src / "train.jsonl").write_text("\n".join(lines[:256]) + "\n", encoding="utf-8")
    (src / "validation.jsonl").write_text("\n".join(lines[256:320]) + "\n", encoding="utf-8")
    out = tmp_path_factory.mktemp("converted")
    convert_dir(src, out)
    return out


def config(converted, out, **overrides):
    values = {"model_id": str(TINY), "data_dir": str(converted), "output_dir": str(out), "report_to": "none",
              "per_device_train_batch_size": 16, "learning_rate": 4e-3, "lora_r": 16, "lora_alpha": 32,
              "lora_dropout": 0.0, "logging_steps": 2, "eval_steps": 10, "save_steps": 10, **overrides}  # fmt: skip
    return load_config(None, values)


def test_tokenised_rows_train_only_the_completion_and_end_with_eos(converted, tmp_path):
    cfg = config(converted, tmp_path, max_steps=1, weight_decay=0.01, seed=7)
    trainer, tokenizer, info = build_trainer(cfg)
    # Every config field that is an SFTConfig field reaches TRL by name, but those the job computes or keeps.
    computed = {"output_dir", "max_length", "bf16", "report_to"} | NOT_FOR_TRL
    shared = {f.name for f in dataclasses.fields(SFTConfig)} & set(cfg.to_dict()) - computed
    assert {"learning_rate", "weight_decay", "seed", "activation_checkpointing", "eval_steps"} <= shared
    assert {name: getattr(trainer.args, name) for name in shared} == {name: getattr(cfg, name) for name in shared}
    row = trainer.train_dataset[0]
    ids, labels = row["input_ids"], row["labels"]
    start = next(i for i, label in enumerate(labels) if label != -100)
    # The prompt is a prefix ending with [/INST] and carries no loss; the completion is the strict JSON then </s>.
    assert ids[start - 1] == tokenizer.convert_tokens_to_ids("[/INST]")
    assert labels[start:] == ids[start:] and ids[-1] == tokenizer.eos_token_id
    completion = tokenizer.decode(ids[start:-1])
    first = json.loads((converted / "train.jsonl").read_text().splitlines()[0])
    assert completion == first["completion"][0]["content"]
    assert list(json.loads(completion)) == list(KEYS)
    # max_length comes from the data, not TRL's 1024 default.
    assert info["max_length"] == max(len(r["input_ids"]) for r in trainer.train_dataset) <= 256
    # LoRA wraps the language model only.
    wrapped = [n for n, m in trainer.model.named_modules() if hasattr(m, "lora_A")]
    assert wrapped and all("language_model" in n for n in wrapped)


@pytest.mark.slow
def test_a_few_steps_lower_the_loss_and_save_a_resumable_adapter(converted, tmp_path):
    cfg = config(converted, tmp_path, max_steps=24)
    summary = train(cfg)
    assert summary["last_logged_loss"] < summary["first_logged_loss"]
    adapter = tmp_path / "adapter"
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "resolved_config.yaml",
                 "train_summary.json", "README.md"):  # fmt: skip
        assert (adapter / name).is_file(), name
    assert not (adapter / "model.safetensors").exists()
    saved = json.loads((adapter / "train_summary.json").read_text())
    assert saved["config_hash"] == cfg.config_hash() and saved["data"]["sha256"]["train"]
    # The curves' source: the losses and learning rates the trainer logged, up to the last step.
    assert [h["loss"] for h in saved["log_history"] if "loss" in h][-1] == summary["last_logged_loss"]
    assert any("learning_rate" in h for h in saved["log_history"])
    assert not (tmp_path / "checkpoints" / "README.md").exists()  # TRL's template card ("[None]") is gone
    assert load_config(adapter / "resolved_config.yaml") == cfg
    # Resume continues from the last checkpoint rather than starting over.
    resumed = train(config(converted, tmp_path, max_steps=30, resume=True))
    # the trainer saves a last checkpoint at the final step; resume starts from there
    assert resumed["resumed_from"] and resumed["resumed_from"].endswith("checkpoint-24")
    assert resumed["global_step"] == 30
