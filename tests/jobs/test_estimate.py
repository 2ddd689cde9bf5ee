"""The estimate before any spend (jobs/estimate.py) and the bill after (status): the arithmetic checked against
numbers derived here by hand from the models' configs, the per-token activation figure against a measurement of the
real layer, and the CLI against the fake Hub of test_jobs_hf.py."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
from safetensors import safe_open
from test_jobs_hf import NS, _cli, _err

from hiddenparams.config import TrainConfig
from hiddenparams.jobs.estimate import (
    ASSUMED_MFU,
    ASSUMED_SETUP_MINUTES,
    DataLengths,
    billed,
    estimate_flavor,
    estimate_run,
    hardware_from_hub,
    hardware_table,
    layer_activation_bytes,
    memory,
    model_shape,
    summary_lines,
    work,
)
from hiddenparams.ledger import Ledger
from hiddenparams.model.load import full_config, known_config

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "models" / "tiny-ministral3"
MINISTRAL = "mistralai/Ministral-3-3B-Instruct-2512"
GB = 1e9


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shape_3b():
    return model_shape(full_config(known_config(MINISTRAL)))


@pytest.fixture(scope="module")
def shape_tiny():
    return model_shape(full_config(json.loads((TINY / "config.json").read_text())))


def test_the_tiny_models_size_from_its_config_equals_its_weights_file(shape_tiny):
    with safe_open(str(TINY / "model.safetensors"), "pt") as weights:
        stored = sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())
    assert shape_tiny.parameters == stored
    # hidden 128, 2 layers, 4 heads x 32, 2 KV heads x 32, MLP 384, vocab 1537, tied:
    layer = 128 * 128 + 2 * 128 * 64 + 128 * 128 + 3 * 128 * 384 + 2 * 128
    assert shape_tiny.language_parameters == 1537 * 128 + 2 * layer + 128


def test_the_3b_shape_from_its_config_alone(shape_3b):
    """Hand arithmetic on the published shape: hidden 3072, 26 layers, 32 x 128 query heads, 8 x 128 KV heads, MLP
    9216, vocab 131072, tied; Pixtral 1024 wide, 24 layers, MLP 4096, 16-pixel patches; projector merging 2x2."""
    layer = 3072 * 4096 + 2 * 3072 * 1024 + 4096 * 3072 + 3 * 3072 * 9216 + 2 * 3072
    assert layer == 116_398_080
    assert shape_3b.language_parameters == 131072 * 3072 + 26 * layer + 3072 == 3_429_006_336
    vision = 3 * 16 * 16 * 1024 + 1024 + 24 * (4 * 1024 * 1024 + 3 * 1024 * 4096 + 2 * 1024)
    projector = 1024 + 1024 * 4 * 1024 + 1024 * 3072 + 3072 * 3072
    assert shape_3b.parameters == 3_429_006_336 + vision + projector == 3_849_274_368
    # The FP8 checkpoint: projections one byte each, everything else bf16 -- the 4.7 GB download of issue 17.
    assert shape_3b.checkpoint_bytes() == 2 * 3_849_274_368 - 26 * (layer - 2 * 3072) == 4_672_358_400
    per_layer = 2 * (3072 + 4096) + 2 * (3072 + 1024) + 3 * (3072 + 9216)
    assert shape_3b.lora_parameters(16) == 16 * per_layer * 26 == 24_707_072


def test_the_3b_size_matches_the_model_transformers_builds_from_that_config(shape_3b):
    import torch
    from transformers import AutoConfig, Mistral3ForConditionalGeneration

    with torch.device("meta"):
        model = Mistral3ForConditionalGeneration(AutoConfig.for_model(**known_config(MINISTRAL)))
    assert shape_3b.parameters == sum(p.numel() for p in model.parameters())
    text = model.config.text_config
    assert (text.num_attention_heads, text.num_key_value_heads, text.head_dim) == (32, 8, 128)


def test_lora_size_is_what_peft_trains_on_the_tiny_model(shape_tiny):
    from peft import LoraConfig, get_peft_model

    from hiddenparams.model.load import load_model, lora_targets

    model, _ = load_model(str(TINY))
    peft_model = get_peft_model(model, LoraConfig(r=8, target_modules=lora_targets(model.config)))
    assert shape_tiny.lora_parameters(8) == sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    # The N of the FLOP count is the N the throughput benchmark's MFU divides by, counted on the real model.
    assert shape_tiny.flop_parameters == _bench("train_throughput").flop_parameters(peft_model)


def test_the_activation_formula_is_what_the_real_layer_saves(shape_tiny):
    bench = _bench("activation_memory")
    config = bench.text_config(str(TINY))
    assert bench.per_token(config, 16, checkpointing=False) == layer_activation_bytes(shape_tiny, 16)
    assert bench.per_token(config, 16, checkpointing=True) == 2 * 128


def test_the_gpu_checks_random_model_has_the_3b_heads_from_its_config():
    sys.path.insert(0, str(ROOT / "bench"))
    random_model = _bench("random_model")
    full = random_model.scaled_shape(26, None)
    assert (full.num_attention_heads, full.num_key_value_heads, full.head_dim, full.hidden_size) == (32, 8, 128, 3072)
    narrow = random_model.scaled_shape(1, 64)  # the CPU rehearsal: same heads, head_dim and MLP scaled
    assert (narrow.num_attention_heads, narrow.num_key_value_heads, narrow.head_dim) == (32, 8, 2)
    assert narrow.intermediate_size == 192


def _lengths(longest: int = 150) -> DataLengths:
    return DataLengths(train=[longest] + [100] * 639, validation=[90] * 80)


def test_memory_of_the_3b_run_by_hand(shape_3b):
    cfg = TrainConfig(per_device_train_batch_size=32, lora_r=16)
    plain = memory(shape_3b, cfg, _lengths(), checkpointing=False, batch_size=32, dtype_bytes=2)
    assert plain.batch_tokens == 32 * 150  # padded to the longest row
    per_layer = 38 * 3072 + 12 * 9216 + 10 * 4096 + 4 * 1024 + 14 * 16 + 4 * 128 + 4 * 32 + 10
    assert per_layer == 273_258  # docs/BENCHMARKS.md "Activation memory": the measured figure
    assert plain.weights == 3_849_274_368 * 2
    assert plain.adapter_and_optimizer == 24_707_072 * 16
    assert plain.activations == 4800 * (26 * per_layer + 8 * 3072)
    assert plain.total / GB == pytest.approx(7.699 + 0.395 + 34.220, abs=0.001)
    checkpointed = memory(shape_3b, cfg, _lengths(), checkpointing=True, batch_size=32, dtype_bytes=2)
    assert checkpointed.activations == 4800 * (26 * 2 * 3072 + per_layer + 8 * 3072)
    padding_free = memory(
        shape_3b,
        dataclasses.replace(cfg, padding_free=True),
        _lengths(),
        checkpointing=False,
        batch_size=32,
        dtype_bytes=2,
    )
    assert padding_free.batch_tokens == 150 + 31 * 100


def test_minutes_and_dollars_of_the_3b_run_by_hand(shape_3b):
    cfg = TrainConfig(per_device_train_batch_size=32, num_train_epochs=2, eval_steps=10)
    done = work(shape_3b, cfg, _lengths(), gpus=1)
    assert done.steps == 2 * 640 // 32 == 40 and done.evaluations == 4 + 1  # every 10 steps, and the final one
    n = 26 * 116_398_080 + 3072 + 131072 * 3072  # the layers, the final norm and the LM head
    assert done.train_flops == 4 * n * 2 * (150 + 639 * 100)
    assert done.eval_flops == 2 * n * 80 * 90 * 5
    a100 = estimate_flavor(hardware_table()["a100-large"], shape_3b, cfg, _lengths(), ASSUMED_MFU)
    train_minutes = (done.train_flops + done.eval_flops) / (312e12 * 0.30) / 60
    download_minutes = 4_672_358_400 / 100e6 / 60
    assert a100.minutes == pytest.approx(train_minutes + ASSUMED_SETUP_MINUTES + download_minutes)
    assert a100.usd == math.ceil(a100.minutes) * 2.50 / 60
    two = estimate_flavor(hardware_table()["a10g-largex2"], shape_3b, cfg, _lengths(), ASSUMED_MFU)
    halved = work(shape_3b, cfg, _lengths(), gpus=2)
    assert halved.steps == 20 and halved.evaluations == 2 + 1  # two processes share the rows
    assert two.train_minutes == pytest.approx((halved.train_flops + halved.eval_flops) / (2 * 125e12 * 0.30) / 60)


def test_the_tiny_run_by_hand(shape_tiny):
    cfg = TrainConfig(per_device_train_batch_size=4, num_train_epochs=1, eval_steps=50, lora_r=16)
    lengths = DataLengths(train=[20, 30, 40, 50, 60], validation=[25])
    plain = memory(shape_tiny, cfg, lengths, checkpointing=False, batch_size=4, dtype_bytes=2)
    assert plain.batch_tokens == 4 * 60
    assert plain.activations == 240 * (2 * 11_386 + 8 * 128)  # 11,386: measured, docs/BENCHMARKS.md
    done = work(shape_tiny, cfg, lengths, gpus=1)
    n = 2 * (128 * 128 + 2 * 128 * 64 + 128 * 128 + 3 * 128 * 384 + 2 * 128) + 128 + 1537 * 128
    assert (done.steps, done.evaluations, done.train_flops) == (2, 1, 4 * n * 200)  # only the final evaluation


def test_a10g_small_refuses_the_3b_run_with_the_hint_and_a100_large_holds_it(shape_3b):
    cfg = TrainConfig(per_device_train_batch_size=32)
    run = estimate_run(shape_3b, cfg, _lengths(), "a10g-small", hardware_table())
    assert run.refusal and "a10g-small" in run.refusal and "24 GB" in run.refusal
    assert "activation_checkpointing: true" in run.refusal
    assert "per_device_train_batch_size: 8 with gradient_accumulation_steps: 4" in run.refusal
    assert "a100-large" in run.refusal and run.chosen.fits_with_checkpointing and not run.chosen.fits
    assert estimate_run(shape_3b, cfg, _lengths(), "a100-large", hardware_table()).refusal is None
    fitting = [e.flavor for e in run.fitting]
    assert "a100-large" in fitting and "a10g-large" not in fitting and "t4-small" not in fitting


def test_a_cpu_flavor_is_refused_for_a_model_over_1b_unless_allowed(shape_3b, shape_tiny):
    cfg = TrainConfig()
    refused = estimate_run(shape_3b, cfg, _lengths(), "cpu-basic", hardware_table())
    assert "--allow-cpu" in refused.refusal and "3.8B" in refused.refusal
    allowed = estimate_run(shape_3b, cfg, _lengths(), "cpu-xl", hardware_table(), allow_cpu=True)
    assert allowed.refusal is None and allowed.chosen.minutes is None  # no FLOP/s figure for a CPU
    assert estimate_run(shape_tiny, cfg, _lengths(), "cpu-basic", hardware_table()).refusal is None


def test_summary_names_the_assumed_mfu_and_the_dated_prices(shape_3b):
    run = estimate_run(
        shape_3b, TrainConfig(per_device_train_batch_size=32), _lengths(), "a100-large", hardware_table()
    )
    lines = summary_lines(run.to_dict())
    assert lines[0].startswith("* a100-large") and "fits" in lines[0] and "$" in lines[0]
    assert "MFU 30% assumed" in lines[-1] and "dated table of 2026-12-02" in lines[-1]
    assert len(lines) <= 7


def test_hub_hardware_is_read_as_per_gpu_memory_and_hourly_price():
    from huggingface_hub import JobHardwareInfo

    info = JobHardwareInfo(
        name="l40sx4",
        prettyName="4x Nvidia L40S",
        cpu="48 vCPU",
        ram="382 GB",
        accelerator={"type": "gpu", "model": "L40S", "quantity": "4", "vram": "192 GB", "manufacturer": "Nvidia"},
        unitCostMicroUSD=138333,
        unitCostUSD=0.138333,
        unitLabel="minute",
    )
    hw = hardware_from_hub([info])["l40sx4"]
    assert (hw.gpu, hw.gpus, hw.gpu_memory_gb, hw.ram_gb) == ("L40S", 4, 48.0, 382.0)
    assert hw.usd_per_hour == pytest.approx(8.30, abs=0.001) and hw.source == "Hub list_jobs_hardware"


def test_billing_counts_every_started_minute():
    bill = billed("a100-large", "2026-05-01T10:01:00+00:00", "2026-05-01T10:13:30+00:00", hardware_table())
    assert (bill["billed_minutes"], bill["usd"]) == (13, round(13 * 2.50 / 60, 4))
    assert billed("a100-large", "2026-05-01T10:01:00+00:00", None, hardware_table()) is None


# The CLI, against the fake Hub.


@pytest.fixture
def requests_dir(tmp_path) -> Path:
    """64 training and 8 validation requests converted by the project's own convert stage (the real prompt)."""
    from hiddenparams.data.convert import to_prompt_completion
    from hiddenparams.data.rows import Row, write_jsonl
    from hiddenparams.data.sample import generate_rows

    rows = [Row(**row) for row in generate_rows(72, seed=7)]
    out = tmp_path / "requests"
    write_jsonl(out / "train.jsonl", map(to_prompt_completion, rows[:64]))
    write_jsonl(out / "validation.jsonl", map(to_prompt_completion, rows[64:]))
    return out


def test_dry_run_of_the_3b_config_prints_the_estimate_and_refuses_a10g_small(hub, requests_dir):
    config, data_dir = ROOT / "configs" / "ministral-3-3b.yaml", requests_dir
    ok = _cli("train", "--config", str(config), "--data-dir", str(data_dir), "--dry-run")
    assert ok.exit_code == 0, ok.output
    err = ok.stderr
    assert "* a100-large" in err and "fits" in err and "MFU 30% assumed" in err and "dated table" in err
    spec = json.loads(_cli("train", "--config", str(config), "--data-dir", str(data_dir), "--dry-run", "--json").stdout)
    estimate = spec["estimate"]
    assert estimate["chosen"]["flavor"] == "a100-large" and estimate["chosen"]["fits"]
    assert estimate["tokenizer"] == "the tekken tokenizer (mistral-common)" and estimate["longest_row"] > 0
    refused = _cli("train", "--config", str(config), "--data-dir", str(data_dir), "--dry-run", "--flavor", "a10g-small")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "a10g-small" in _err(refused) and "activation_checkpointing: true" in _err(refused)
    cpu = _cli("train", "--config", str(config), "--data-dir", str(data_dir), "--dry-run", "--flavor", "cpu-basic")
    assert cpu.exit_code == 1 and "--allow-cpu" in _err(cpu)
    allowed = _cli(
        "train", "--config", str(config), "--data-dir", str(data_dir), "--dry-run", "--flavor", "cpu-xl", "--allow-cpu"
    )
    assert allowed.exit_code == 0, allowed.output
    assert hub.requests == []  # all of it offline


def test_the_submit_records_the_estimate_and_status_the_bill(hub, config_3b, tmp_path):
    root = str(tmp_path / "a")
    hub.repo_files[f"{NS}/ministral-hp"] = ["adapter_config.json", "adapter_model.safetensors"]
    submitted = _cli("train", "--config", str(config_3b), "--artifacts-dir", root)
    assert submitted.exit_code == 0, submitted.output
    assert "* a100-large" in submitted.stderr and "Hub list_jobs_hardware" in submitted.stderr
    estimate = Ledger(root).read()[0]["details"]["estimate"]
    assert estimate["price_source"] == "Hub list_jobs_hardware" and estimate["usd_per_hour"] == pytest.approx(3.0)
    assert estimate["mfu_source"] == "assumed" and estimate["minutes"] > 0
    _cli("status", "--json", "--artifacts-dir", root)  # RUNNING
    done = json.loads(_cli("status", "--json", "--artifacts-dir", root).stdout)["jobs"][0]
    assert done["state"] == "COMPLETED"
    # The fake job ran 10:01:00 -> 10:13:30: 13 started minutes at the Hub's $0.05 a minute.
    assert (done["billing"]["billed_minutes"], done["billing"]["usd"]) == (13, 0.65)
    assert done["estimate"]["minutes"] == estimate["minutes"]
    finished = [r for r in Ledger(root).read() if r["event"] == "finished"][0]
    assert finished["details"]["billing"]["usd"] == 0.65
    table = _cli("status", "--artifacts-dir", root).stdout  # the cell wraps in the narrow test terminal
    assert all(part in table for part in ("13 min,", "$0.65", "billed", "estimated"))


def test_a_row_over_max_length_is_refused_by_the_dry_run_and_by_the_job_never_truncated(hub, requests_dir, tmp_path):
    from hiddenparams.jobs.train_job import TrainDataError, sequence_budget
    from hiddenparams.model.load import counting_tokenizer

    config = ROOT / "configs" / "ministral-3-3b.yaml"
    result = _cli(
        "train", "--config", str(config), "--data-dir", str(requests_dir), "--dry-run", "--set", "max_length=20"
    )
    assert result.exit_code == 1 and f"{requests_dir / 'train.jsonl'}:1:" in _err(result)
    assert "over 20 tokens (max_length)" in _err(result) and hub.requests == []

    tokenizer, _ = counting_tokenizer(str(TINY))
    rows = [json.loads(line) for line in (requests_dir / "train.jsonl").read_text().splitlines()[:3]]
    longest = sequence_budget(tokenizer, {"train": rows}, None)
    assert sequence_budget(tokenizer, {"train": rows}, longest) == longest
    refusal = rf"1 row\(s\) over {longest - 1} tokens \(max_length\): train row \d: {longest} tokens"
    with pytest.raises(TrainDataError, match=refusal):
        sequence_budget(tokenizer, {"train": rows}, longest - 1)
