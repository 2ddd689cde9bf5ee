"""The training-throughput benchmark's pure parts: token counting, the MFU formula, N, and its BENCHMARKS.md section."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "bench" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_real_tokens_exclude_padding_and_padding_free_batches_have_none(bench):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    rows = [{"input_ids": [1, 5, 6]}, {"input_ids": [1, 7, 8, 9, 2]}]
    padded = DataCollatorForLanguageModeling(pad_token_id=11)(rows)
    flat = DataCollatorForLanguageModeling(pad_token_id=11, padding_free=True)(rows)
    real, fed = bench.batch_tokens(padded)
    assert (int(real), fed) == (8, 10)
    real, fed = bench.batch_tokens(flat)
    assert (int(real), fed) == (8, 8)


def test_mfu_is_four_n_tokens_over_peak(bench):
    assert bench.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert bench.peak_flops("NVIDIA H100 PCIe") == 756e12
    assert bench.peak_flops("Intel(R) Xeon(R) Processor") is None
    assert bench.mfu(3_000_000_000, 30_000, 989e12) == pytest.approx(4 * 3e9 * 3e4 / 989e12)
    assert bench.mfu(3_000_000_000, 30_000, None) is None


def test_n_is_the_language_model_with_its_tied_head_once_and_no_adapter_or_vision_tower(bench):
    from peft import LoraConfig, get_peft_model

    from hiddenparams.model.load import lora_targets
    from hiddenparams.model.tiny import TinySpec, build_model

    model = build_model(TinySpec(), vocab_size=256)
    language_model = model.get_decoder()
    n = bench.flop_parameters(model)
    assert n == sum(p.numel() for p in language_model.parameters())  # tied: the embedding counted once, as the head
    assert n < sum(p.numel() for p in model.parameters())  # the vision tower and projector are not in N
    wrapped = get_peft_model(model, LoraConfig(r=4, target_modules=lora_targets(model.config), task_type="CAUSAL_LM"))
    assert bench.flop_parameters(wrapped) == n


def test_record_puts_the_section_after_the_title_and_replaces_only_the_measured_part(bench, tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    others = "## Eval throughput\n\neval figures\n\n## Split throughput\n\nsplit figures\n"
    path.write_text("# Benchmarks\n\n" + others, encoding="utf-8")

    bench.record("### CPU", "### CPU\n\ncpu figures 1", path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\n## Train throughput\n")
    assert text.endswith(others)
    assert "cpu figures 1" in text and "Not yet measured: no GPU" in text

    bench.record("### GPU", "### GPU\n\ngpu figures", path)
    bench.record("### CPU", "### CPU\n\ncpu figures 2", path)
    text = path.read_text(encoding="utf-8")
    assert "gpu figures" in text and "cpu figures 2" in text and "cpu figures 1" not in text
    assert "Not yet measured" not in text
    assert text.count("## Train throughput") == 1 and text.endswith(others)


def test_cpu_is_the_default_without_cuda_and_full_size_needs_it(bench, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only refusal")
    monkeypatch.setattr(sys, "argv", ["train_throughput.py", "--full-size"])
    with pytest.raises(SystemExit, match="--full-size needs --device cuda"):
        bench.main()
