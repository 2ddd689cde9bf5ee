import dataclasses
from pathlib import Path

import pytest

from hiddenparams.config import ConfigError, RunOn, TrainConfig, load_config, load_configs, parse_overrides

ROOT = Path(__file__).resolve().parents[1]


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model_id: some/model\nlora_r: 8\nlearning_rate: 1e-4\nbf16: null\n")
    cfg = load_config(path, parse_overrides(["lora_r=4", "max-steps=7"]))
    assert (cfg.model_id, cfg.lora_r, cfg.learning_rate, cfg.max_steps, cfg.bf16) == ("some/model", 4, 1e-4, 7, None)


def test_unknown_field_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model_id: x\nlora_rank: 8\n")
    with pytest.raises(ConfigError, match="lora_rank"):
        load_config(path)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"hub_model_id": "not a repo"}, "field 'hub_model_id'"),
        ({"hub_model_id": "no-namespace"}, "field 'hub_model_id'"),
        ({"lora_r": "many"}, "field 'lora_r'"),
        ({"lora_target_modules": ".*lm_head"}, "field 'lora_target_modules'"),
        ({"backend": "hf-jobs", "hub_model_id": "me/x", "timeout": "soon"}, "field 'timeout'"),
        ({"temperature": -1}, "unknown field"),  # decoding is eval's and predict's, never a training setting
        ({"backend": "slurm"}, "field 'backend'"),
        ({"num_train_epochs": -1}, "field 'num_train_epochs'"),
        ({"num_train_epochs": 0}, "field 'num_train_epochs'"),
        ({"max_steps": 0}, "field 'max_steps'"),
        ({"max_steps": -2}, "field 'max_steps'"),
    ],
)
def test_bad_values_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=field):
        load_configs(None, overrides, TrainConfig, RunOn)


def test_steps_decide_when_given_so_epochs_may_be_anything():
    cfg, _ = load_configs(None, {"num_train_epochs": 0, "max_steps": 5}, TrainConfig, RunOn)
    assert cfg.max_steps == 5


def test_where_it_runs_is_apart_from_what_it_trains():
    _, run_on = load_configs(ROOT / "configs" / "ministral-3-3b.yaml", {}, TrainConfig, RunOn)
    assert (run_on.backend, run_on.flavor, run_on.timeout) == ("hf-jobs", "a100-large", "3h")
    assert not {f.name for f in dataclasses.fields(RunOn)} & {f.name for f in dataclasses.fields(TrainConfig)}
    cfg_tiny, run_on_tiny = load_configs(ROOT / "configs" / "tiny.yaml", {}, TrainConfig, RunOn)
    assert run_on_tiny == RunOn(backend="local") and cfg_tiny.model_id == "models/tiny-ministral3"
    with pytest.raises(ConfigError, match="unknown field.*'backend'"):  # a stage config alone has no backend
        load_config(ROOT / "configs" / "ministral-3-3b.yaml")


def test_hash_is_stable_and_sensitive(tmp_path):
    a, b = TrainConfig(), TrainConfig(lora_r=8)
    assert a.config_hash() == TrainConfig().config_hash() != b.config_hash()
    saved = a.save(tmp_path / "resolved_config.yaml")
    assert load_config(saved) == a
