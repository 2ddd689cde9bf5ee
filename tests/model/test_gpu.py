"""GPU tier (`pytest -m gpu`): the 3B-shaped path in bf16 and FP8 dequantisation on CUDA. Skips without CUDA.

Not yet run on hardware by the session that wrote it (no GPU was lent); written to be run where one is.
"""

import pytest
import torch
from test_model import loaded_name, to_fp8_checkpoint

from hiddenparams.model.load import load_model, lora_targets
from hiddenparams.model.tiny import TinySpec, build_model

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_fp8_checkpoint_is_dequantised_on_gpu(tmp_path):
    build_model(TinySpec(), vocab_size=256).save_pretrained(tmp_path / "bf16")
    reference = to_fp8_checkpoint(tmp_path / "bf16", tmp_path / "fp8")
    model, report = load_model(str(tmp_path / "fp8"), dtype=torch.bfloat16, device_map="cuda")
    assert report.fp8_dequantized
    params = dict(model.named_parameters())
    for key, expected in reference.items():
        got = params[loaded_name(key)]
        assert got.dtype == torch.bfloat16 and got.is_cuda
        torch.testing.assert_close(got.float().cpu(), expected, atol=2e-3, rtol=1e-2)


def test_full_size_ministral3_shape_takes_lora_steps_in_bf16():
    from peft import LoraConfig, get_peft_model
    from transformers import Ministral3Config, Mistral3Config, Mistral3ForConditionalGeneration, PixtralVisionConfig

    text = Ministral3Config(
        vocab_size=131072,
        hidden_size=3072,
        intermediate_size=9216,
        num_hidden_layers=26,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        tie_word_embeddings=True,
    )
    vision = PixtralVisionConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2, head_dim=32
    )
    config = Mistral3Config(text_config=text, vision_config=vision, image_token_index=10, tie_word_embeddings=True)
    with torch.device("cuda"):
        model = Mistral3ForConditionalGeneration(config).to(torch.bfloat16)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=lora_targets(model.config)))
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    optimizer = torch.optim.AdamW(trainable, lr=1e-3)
    ids = torch.randint(20, 131072, (8, 160), device="cuda")
    for _ in range(3):
        loss = model(input_ids=ids, labels=ids).loss
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert any(not torch.equal(b, p.detach()) for b, p in zip(before, trainable))
    assert all("language_model" in n for n, p in model.named_parameters() if p.requires_grad)
