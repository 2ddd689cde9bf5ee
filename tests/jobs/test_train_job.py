"""The training job on the shipped tiny Ministral-3-architecture model: real TRL + PEFT code, tiny config."""

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
from trl import SFTConfig

from hiddenparams.config import load_config
from hiddenparams.data.convert import convert_dir
from hiddenparams.jobs.train_job import NOT_FOR_TRL, TrainDataError, build_trainer, smoke_checks, train
from hiddenparams.ledger import Ledger
from hiddenparams.model.load import ModelLoadError
from hiddenparams.schema import KEYS

ROOT = Path(__file__).resolve().parents[2]
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
    values = {
        "model_id": str(TINY),
        "data_dir": str(converted),
        "output_dir": str(out),
        "report_to": "none",
        "per_device_train_batch_size": 16,
        "learning_rate": 4e-3,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "logging_steps": 2,
        "eval_steps": 10,
        "save_steps": 10,
        **overrides,
    }
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
def test_a_few_steps_lower_the_loss_and_save_a_resumable_adapter(converted, tmp_path, hf_token, capsys):
    cfg = config(converted, tmp_path, max_steps=24)
    summary = train(cfg)
    assert summary["last_logged_loss"] < summary["first_logged_loss"]
    adapter = tmp_path / "adapter"
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "resolved_config.yaml",
        "train_summary.json",
        "README.md",
    ):
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
    printed = capsys.readouterr()
    hf_token.assert_absent(tmp_path, printed.out + printed.err)


def test_data_tokenizer_and_chat_format_are_checked_before_any_weight(converted, tmp_path):
    """The job fails on its data or tokenizer before it loads (on the Hub: downloads) the checkpoint, and the smoke
    checks need no weights at all."""
    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(TINY / "config.json", model)  # a config, and neither tokenizer nor weights
    with pytest.raises(ModelLoadError, match="no usable tokenizer"):
        build_trainer(config(converted, tmp_path / "run", model_id=str(model)))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(TINY / name, model)
    cfg = config(converted, tmp_path / "run", model_id=str(model))
    found = smoke_checks(cfg)
    assert found["data"]["rows"] == {"train": 256, "validation": 64} and found["push_to"] is None
    assert found["max_length"] >= max(found["first_rows_tokens"]) > 50
    with pytest.raises(ModelLoadError, match="cannot load weights"):  # only now: the weights
        build_trainer(cfg)

    bad = tmp_path / "bad"
    shutil.copytree(converted, bad)
    rows = (bad / "train.jsonl").read_text().splitlines()
    row = json.loads(rows[1])
    row["prompt"][1]["role"] = "tool"  # a role the chat template refuses
    (bad / "train.jsonl").write_text("\n".join([rows[0], json.dumps(row), *rows[2:]]) + "\n")
    with pytest.raises(TrainDataError, match="train.jsonl row 2"):
        build_trainer(config(bad, tmp_path / "run2", model_id=str(model)))


def test_the_pushed_folder_holds_the_tensorboard_curves_and_the_summary_reaches_the_ledger(
    converted, hub, config_3b, tmp_path, capsys, monkeypatch
):
    """A real 2-step training with TensorBoard on, pushed to the mocked Hub: the commit holds `runs/` with the event
    files (the Hub's Metrics tab reads them), and the job's TRAIN_SUMMARY line becomes the `trained` ledger event."""
    from test_jobs_hf import NS, _cli

    from hiddenparams.jobs.train_job import TB_ENV, main

    root = str(tmp_path / "artifacts")
    assert _cli("train", "--config", str(config_3b), "--artifacts-dir", root).exit_code == 0  # a submitted job
    monkeypatch.delenv(TB_ENV, raising=False)
    cfg = config(
        converted,
        tmp_path / "run",
        max_steps=2,
        eval_steps=1,
        logging_steps=1,
        report_to="tensorboard",
        hub_model_id=f"{NS}/ministral-hp",
    )
    assert main(["--config-json", json.dumps(cfg.to_dict())]) == 0
    assert TB_ENV not in os.environ  # set only while the trainer was built: the next run logs to its own folder
    out = capsys.readouterr().out
    (commit,) = hub.calls("POST", rf"/api/models/{NS}/ministral-hp/commit/main")
    pushed = {json.loads(line)["value"].get("path") for line in commit.content.splitlines()}
    events = [p for p in pushed if p and p.startswith("runs/") and "tfevents" in p]
    assert events and "adapter_model.safetensors" in pushed
    copied = sorted(str(p.relative_to(cfg.model_dir())) for p in (cfg.model_dir() / "runs").rglob("*tfevents*"))
    assert copied == sorted(events)

    hub.stages, hub.log_lines = ["COMPLETED"], out.rstrip().splitlines()
    hub.repo_files[f"{NS}/ministral-hp"] = sorted(p for p in pushed if p)
    assert _cli("status", "--artifacts-dir", root).exit_code == 0
    trained = Ledger(root).read()[-1]
    assert trained["event"] == "trained" and trained["repo_kind"] == "adapter-only"
    assert trained["model_repo"] == f"{NS}/ministral-hp" and trained["config_hash"] == cfg.config_hash()
    details = trained["details"]
    assert details["global_step"] == 2 and details["tensorboard"] == "runs" and details["eval_loss"] > 0
    assert details["pushed"]["repo"] == f"{NS}/ministral-hp" and details["rows"] == {"train": 256, "validation": 64}


def test_the_job_trains_on_the_shipped_hub_dataset_at_its_commit_and_pushes_the_adapter(
    hub, hf_token, converted, tmp_path, monkeypatch, capsys
):
    """The training job's Hub side, against the mocked Hub: the data a submit ships (with the wheel, in one commit)
    read back by `load_dataset` at that commit, one step on the tiny model, and the adapter folder pushed in one
    commit, its weights through LFS."""
    import datasets
    from huggingface_hub import HfApi, ModelCard, constants
    from safetensors.torch import load
    from test_jobs_hf import NS

    from hiddenparams.jobs.ship import ship
    from hiddenparams.jobs.train_job import SPLITS, main

    data_repo, model_repo = f"{NS}/tiny-hp-data", f"{NS}/tiny-hp"
    files = {f"{split}.jsonl": str(converted / f"{split}.jsonl") for split in SPLITS}
    message = "hiddenparams: train job code and data"
    shipped = ship(HfApi(), data_repo, "hiddenparams.jobs.train_job", "a100-large", files, message)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # as the `hub` fixture does for huggingface_hub
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    hub.requests.clear()

    out = tmp_path / "run"
    cfg = {
        "model_id": str(TINY),
        "data_dir": data_repo,
        "output_dir": str(out),
        "hub_model_id": model_repo,
        "max_steps": 1,
        "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 64,
        "report_to": "none",
        "lora_r": 4,
    }
    code = main(["--config-json", json.dumps(cfg), "--set", f"data_revision={shipped.revision}"])
    printed = capsys.readouterr()
    assert code == 0, printed.err

    # The data was read at the shipped commit, and only there: never at `main`, which may have moved on.
    read = [r.url.path for r in hub.requests if r.url.host == "huggingface.co" and data_repo in r.url.path]
    assert read and all(f"/{shipped.revision}" in path for path in read), [p for p in read if shipped.revision not in p]
    assert {f"/datasets/{data_repo}/resolve/{shipped.revision}/{split}.jsonl" for split in SPLITS} <= set(read)
    summary = json.loads(printed.out.rstrip().splitlines()[-1].removeprefix("TRAIN_SUMMARY "))["details"]
    assert summary["data_revision"] == shipped.revision and summary["global_step"] == 1
    assert summary["rows"] == {"train": 256, "validation": 64}

    # One commit to the model repo, created private, holding the whole adapter folder as the job wrote it.
    create = json.loads(hub.calls("POST", "/api/repos/create")[0].content)
    assert (create["organization"], create["name"], create.get("type", "model"), create["visibility"]) == (
        NS,
        "tiny-hp",
        "model",
        "private",
    )
    (commit,) = hub.calls("POST", rf"/api/models/{model_repo}/commit/main")
    assert summary["pushed"] == {
        "repo": model_repo,
        "url": f"https://huggingface.co/{model_repo}",
        "commit": shipped.revision,
    }  # the commit id the fake Hub answers
    pushed = hub.committed[f"{model_repo}@{shipped.revision}"]
    adapter = out / "adapter"
    for name in (
        "adapter_model.safetensors",
        "adapter_config.json",
        "README.md",
        "tokenizer.json",
        "tokenizer_config.json",
        "resolved_config.yaml",
    ):
        assert pushed[name] == (adapter / name).read_bytes(), name
    weights = load(pushed["adapter_model.safetensors"])
    assert weights and all("lora_A" in k or "lora_B" in k for k in weights)
    assert json.loads(pushed["adapter_config.json"])["base_model_name_or_path"] == str(TINY)
    card = ModelCard(pushed["README.md"].decode())
    assert card.data.base_model is None and card.data.library_name == "peft"  # a local base has no Hub id to name
    assert card.data.datasets == [data_repo]
    assert f"at revision `{shipped.revision}`" in card.text  # the card names the data commit it was trained on
    log = json.loads(pushed["train_summary.json"])  # the run's log: losses, data, provenance
    assert log["global_step"] == 1 and log["data"]["revision"] == shipped.revision and log["eval_losses"]
    entries = [json.loads(line) for line in commit.content.splitlines()]
    lfs = {e["value"]["path"] for e in entries if e["key"] == "lfsFile"}
    assert lfs == {"adapter_model.safetensors", "training_args.bin"}  # binary: through LFS, as the Hub takes them

    hf_token.assert_absent(out, printed.out + printed.err, *(content.decode("latin-1") for content in pushed.values()))


def test_a_hub_dataset_without_converted_files_is_refused_naming_the_file(hub, tmp_path, monkeypatch):
    from huggingface_hub import constants

    from hiddenparams.jobs.train_job import load_data

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    revision = "1" * 40
    with pytest.raises(
        TrainDataError, match=rf"^data_dir alice/nothing@{revision}: cannot download train.jsonl"
    ) as err:
        load_data("alice/nothing", revision)
    assert str(err.value).endswith("it must hold the output of `hiddenparams convert`")
