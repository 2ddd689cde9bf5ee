"""Model loading traps, on the real model classes at toy size (CPU, seconds)."""

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hiddenparams.model.load import ModelLoadError, load_model, lora_targets
from hiddenparams.model.tiny import TinySpec, build_model

LM_LINEAR = re.compile(r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("vlm")
    build_model(TinySpec(), vocab_size=256).save_pretrained(path)
    return path


def to_fp8_checkpoint(src, dst, scale_name="weight_scale_inv"):
    """Rewrite a saved checkpoint in the Instruct-2512 layout: fp8 LM linears, scalar scales, static activations."""
    dst.mkdir()
    reference = {}
    tensors = {}
    for key, value in load_file(src / "model.safetensors").items():
        if LM_LINEAR.match(key):
            scale = value.abs().max().float() / 448.0
            quantized = (value.float() / scale).to(torch.float8_e4m3fn)
            stem = key[: -len("weight")]
            tensors[key] = quantized
            tensors[stem + scale_name] = scale.reshape(())
            tensors[stem + "activation_scale"] = torch.tensor(1.0)
            reference[key] = quantized.float() * scale
        else:
            tensors[key] = value
    save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((src / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "fp8",
        "weight_block_size": None,
        "activation_scheme": "static",
        "modules_to_not_convert": ["model.vision_tower", "model.multi_modal_projector", "lm_head"],
    }
    (dst / "config.json").write_text(json.dumps(config))
    return reference


def loaded_name(saved_key):
    # save_pretrained writes the original layout (language_model.model.*); the loaded module is model.language_model.*
    return saved_key.replace("language_model.model.", "model.language_model.")


def test_fp8_checkpoint_is_dequantised_with_its_scales(checkpoint, tmp_path):
    reference = to_fp8_checkpoint(checkpoint, tmp_path / "fp8")
    model, report = load_model(str(tmp_path / "fp8"))
    assert report.fp8_dequantized and report.model_class == "Mistral3ForConditionalGeneration"
    params = dict(model.named_parameters())
    for key, expected in reference.items():
        got = params[loaded_name(key)]
        assert got.dtype == torch.bfloat16
        # Values, not just "it loaded": raw fp8 values would reach 448.
        torch.testing.assert_close(got.float(), expected, atol=2e-3, rtol=1e-2)


def test_fp8_checkpoint_with_misnamed_scales_is_refused(checkpoint, tmp_path):
    to_fp8_checkpoint(checkpoint, tmp_path / "bad", scale_name="weight_scale")
    with pytest.raises(ModelLoadError):
        load_model(str(tmp_path / "bad"))


def test_missing_weight_is_an_error_not_a_random_init(checkpoint, tmp_path):
    (tmp_path / "partial").mkdir()
    tensors = load_file(checkpoint / "model.safetensors")
    dropped = next(k for k in tensors if LM_LINEAR.match(k))
    del tensors[dropped]
    save_file(tensors, tmp_path / "partial" / "model.safetensors", metadata={"format": "pt"})
    (tmp_path / "partial" / "config.json").write_text((checkpoint / "config.json").read_text())
    with pytest.raises(ModelLoadError, match="missing_keys"):
        load_model(str(tmp_path / "partial"))


def test_vlm_loads_as_mistral3_with_its_weights(checkpoint):
    model, report = load_model(str(checkpoint))
    assert report.model_class == "Mistral3ForConditionalGeneration"
    saved = load_file(checkpoint / "model.safetensors")
    params = dict(model.named_parameters())
    key = next(k for k in saved if LM_LINEAR.match(k))
    torch.testing.assert_close(params[loaded_name(key)], saved[key])
    assert model.lm_head.weight.data_ptr() == model.model.language_model.embed_tokens.weight.data_ptr()


def test_lora_targets_only_language_model_projections(checkpoint):
    from peft import LoraConfig, get_peft_model

    model, _ = load_model(str(checkpoint))
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=lora_targets(model.config)))
    wrapped = [n for n, m in peft_model.named_modules() if hasattr(m, "lora_A")]
    assert wrapped and all("language_model" in n for n in wrapped)
    assert not any("vision_tower" in n or "lm_head" in n or "projector" in n for n in wrapped)
    assert len(wrapped) == 7 * TinySpec().num_hidden_layers


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="config.json"):
        load_model(str(tmp_path / "nothing-here"))


def test_plain_causal_lm_loads_through_auto_class_with_its_own_lora_targets(tmp_path):
    """Llama/Qwen/Mistral-style checkpoints take the AutoModelForCausalLM path; LoRA targets their projections."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from hiddenparams.model.load import load_tokenizer

    tokenizer_dir = Path(__file__).resolve().parents[2] / "models" / "tiny-ministral3"
    config = LlamaConfig(
        vocab_size=1536,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (tmp_path / name).write_bytes((tokenizer_dir / name).read_bytes())
    model, report = load_model(str(tmp_path))
    assert report.model_class == "LlamaForCausalLM"
    assert load_tokenizer(str(tmp_path), model.config).eos_token == "</s>"
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=lora_targets(model.config)))
    wrapped = [n for n, m in peft_model.named_modules() if hasattr(m, "lora_A")]
    assert len(wrapped) == 7 * 2 and not any("lm_head" in n for n in wrapped)


def test_truncated_weights_file_is_a_clear_error(checkpoint, tmp_path):
    """An interrupted copy or download: named, with what to do, before transformers' SafetensorError."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    with open(broken / "model.safetensors", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(ModelLoadError, match=r"model\.safetensors: truncated or corrupt .* again"):
        load_model(str(broken))
