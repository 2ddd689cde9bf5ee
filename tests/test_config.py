import pytest

from hiddenparams.config import ConfigError, TrainConfig, load_config, parse_overrides


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
        ({"backend": "hf-jobs"}, "hub_model_id"),
        ({"hub_model_id": "not a repo"}, "hub_model_id"),
        ({"lora_r": "many"}, "lora_r"),
        ({"lora_target_modules": ".*lm_head"}, "lora_target_modules"),
        ({"backend": "hf-jobs", "hub_model_id": "me/x", "timeout": "soon"}, "timeout"),
    ],
)
def test_bad_values_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=field):
        load_config(None, overrides)


def test_hash_is_stable_and_sensitive(tmp_path):
    a, b = TrainConfig(), TrainConfig(lora_r=8)
    assert a.config_hash() == TrainConfig().config_hash() != b.config_hash()
    saved = a.save(tmp_path / "resolved_config.yaml")
    assert load_config(saved) == a
