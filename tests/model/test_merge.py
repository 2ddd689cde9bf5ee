"""Merge on the tiny model: verified equal to base+adapter, refused when it is not, nothing written then."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from peft.tuners.lora import LoraModel
from safetensors import safe_open
from typer.testing import CliRunner

from hiddenparams.cli import app
from hiddenparams.config import ConfigError, load_config
from hiddenparams.ledger import Ledger
from hiddenparams.model.generation import generate_all
from hiddenparams.model.load import load_for_inference, load_model, load_tokenizer
from hiddenparams.model.merge import MergeConfig
from hiddenparams.model.merge_check import PROBE_REQUESTS, merge_in_place
from hiddenparams.provenance import file_sha256

runner = CliRunner()


def merge_args(base, adapter, out, artifacts, *extra):
    return [
        "merge",
        "--base-model-id",
        str(base),
        "--adapter-model-id",
        str(adapter),
        "--out",
        str(out),
        "--artifacts-dir",
        str(artifacts),
        *extra,
    ]


@pytest.fixture(scope="module")
def merged_dir(tiny_model_dir, tiny_adapter_dir, eval_data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    result = runner.invoke(
        app,
        merge_args(
            tiny_model_dir,
            tiny_adapter_dir,
            root / "merged",
            root / "artifacts",
            "--probe-data",
            str(eval_data_dir / "test.jsonl"),
        ),
    )
    assert result.exit_code == 0, result.output
    return root / "merged", root / "artifacts", result


def test_merge_writes_a_verified_full_model(merged_dir, tiny_model_dir, said):
    out, artifacts, result = merged_dir
    assert "it does not improve quality" in said(result)
    assert "max |logit difference|" in said(result) and "tolerance 0.001" in said(result)
    files = {p.name for p in out.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "chat_template.jinja",
        "README.md",
        "merge_info.json",
    } <= files
    assert not any(name.startswith("adapter_") or name.endswith(".bin") for name in files)
    with safe_open(out / "model.safetensors", "pt") as f:
        assert not any("lora" in key for key in f.keys())
    info = json.loads((out / "merge_info.json").read_text())
    check = info["equivalence"]
    assert check["max_abs_diff"] <= check["tolerance"] == 1e-3 and check["dtype"] == "float32"
    assert check["probes"] == len(PROBE_REQUESTS) + 12 and info["probes"]["data_rows"] == 12
    generation = json.loads((out / "generation_config.json").read_text())
    tokenizer = load_tokenizer(str(out))
    assert generation["eos_token_id"] == tokenizer.eos_token_id and generation["pad_token_id"] == tokenizer.pad_token_id
    card = (out / "README.md").read_text()
    # A local base is no Hub id: the card says so instead of putting a path of this disk in `base_model`.
    assert "base_model" not in card.split("---")[1] and f"local folder (`{tiny_model_dir.name}`)" in card
    assert "merged model" in card and "Merging simplifies deployment" in card
    (record,) = Ledger(artifacts).read()
    assert record["event"] == "merged" and record["repo_kind"] == "full" and record["model_repo"] == str(out.resolve())


def test_merged_model_generates_what_base_plus_adapter_generates(merged_dir, adapted_model, full_model, eval_rows):
    out, _, _ = merged_dir
    merged, tokenizer, _ = load_for_inference(model_id=str(out))
    texts = [r.request_text for r in eval_rows]
    adapter_outputs = generate_all(adapted_model[0], adapted_model[1], texts)
    assert generate_all(merged, tokenizer, texts) == adapter_outputs
    assert generate_all(full_model[0], full_model[1], texts) != adapter_outputs  # the adapter does change the answers


def test_merge_refuses_and_writes_nothing_when_the_merged_weights_differ(
    tiny_model_dir, tiny_adapter_dir, tmp_path, monkeypatch, said
):
    real_unload = LoraModel.unload

    def unload_with_noise(self, *args, **kwargs):  # a broken merge: one weight off by a little
        merged = real_unload(self, *args, **kwargs)
        with torch.no_grad():
            merged.model.language_model.layers[0].mlp.down_proj.weight[0, :8] += 0.05
        return merged

    monkeypatch.setattr(LoraModel, "unload", unload_with_noise)
    out = tmp_path / "merged"
    result = runner.invoke(app, merge_args(tiny_model_dir, tiny_adapter_dir, out, tmp_path / "artifacts"))
    assert result.exit_code != 0
    assert "refusing to write" in said(result) and "nothing was written" in said(result)
    assert "tolerance 0.001" in said(result)
    assert list(tmp_path.iterdir()) == []  # no output folder, no staging folder, no ledger line


def test_merge_into_a_used_folder_is_refused_before_loading(tmp_path, said):
    out = tmp_path / "merged"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = runner.invoke(app, merge_args("no/such-base", "no/such-adapter", out, tmp_path / "artifacts"))
    assert result.exit_code != 0 and "the folder is not empty (keep.txt); pass --overwrite to replace it" in said(
        result
    )
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_push_uploads_the_folder_in_one_commit(tiny_model_dir, tiny_adapter_dir, tmp_path, monkeypatch):
    from huggingface_hub import CommitInfo, HfApi

    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create_repo", repo_id, kw)))

    def upload_folder(self, **kwargs):  # the Hub boundary: the weights go through hf_xet, which no HTTP mock sees
        calls.append(
            ("upload_folder", kwargs["repo_id"], sorted(p.name for p in Path(kwargs["folder_path"]).iterdir()))
        )
        return CommitInfo(
            commit_url="https://huggingface.co/me/merged/commit/abc",
            commit_message="m",
            commit_description="",
            oid="abc",
        )

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    result = runner.invoke(
        app,
        merge_args(
            tiny_model_dir, tiny_adapter_dir, tmp_path / "m", tmp_path / "a", "--push-to", "me/merged", "--json"
        ),
    )
    assert result.exit_code == 0, result.output
    assert [c[0] for c in calls] == ["create_repo", "upload_folder"] and calls[1][1] == "me/merged"
    assert "model.safetensors" in calls[1][2] and "merge_info.json" in calls[1][2]
    assert json.loads(result.stdout)["pushed"]["commit"] == "abc"
    (record,) = Ledger(tmp_path / "a").read()
    assert (record["event"], record["model_repo"], record["repo_kind"]) == ("merged", "me/merged", "full")


def test_fp8_base_is_merged_in_bf16_never_fp8(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from test_model import to_fp8_checkpoint  # the Instruct-2512 layout, as the model-loading tests build it

    base = tmp_path / "fp8-base"
    to_fp8_checkpoint(tiny_model_dir, base)
    load_tokenizer(str(tiny_model_dir)).save_pretrained(base)
    model, report = load_model(str(base))
    assert report.fp8_dequantized
    adapter = tmp_path / "adapter"
    get_peft_model(model, LoraConfig(target_modules=r".*language_model.*\.(q_proj|v_proj)", r=2)).save_pretrained(
        adapter
    )
    out = tmp_path / "merged"
    result = runner.invoke(app, merge_args(base, adapter, out, tmp_path / "artifacts"))
    assert result.exit_code == 0, result.output
    check = json.loads((out / "merge_info.json").read_text())["equivalence"]
    assert check["dtype"] == "bfloat16"
    # An untrained adapter (B = 0) changes nothing: the pass is true, and the output says it proves little.
    assert check["adapter_effect"] == 0 and check["discriminating"] is False and "cannot tell" in result.output
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    with safe_open(out / "model.safetensors", "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes == {"BF16"}


def test_merge_in_place_equals_peft_merge_and_unload(tiny_model_dir, tiny_adapter_dir, monkeypatch):
    """The memory-lean merge (row blocks of float32 deltas, no copy of the model) gives PEFT's merged weights; blocks
    of 7 rows make the tiny model's weights span several blocks, as the 3B's do with the default 1024."""
    import hiddenparams.model.merge_check

    monkeypatch.setattr(hiddenparams.model.merge_check, "ROWS_PER_CHUNK", 7)
    ours = merge_in_place(load_for_inference(base_model_id=str(tiny_model_dir), adapter_id=str(tiny_adapter_dir))[0])
    peft = load_for_inference(base_model_id=str(tiny_model_dir), adapter_id=str(tiny_adapter_dir))[0].merge_and_unload()
    theirs = dict(peft.named_parameters())
    assert not any("lora" in name for name, _ in ours.named_parameters())
    for name, param in ours.named_parameters():
        torch.testing.assert_close(param, theirs[name], rtol=1e-6, atol=1e-6)


def test_merge_info_carries_provenance_and_the_adapters_training_records(tiny_model_dir, tiny_adapter_dir, tmp_path):
    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_adapter_dir, adapter)
    (adapter / "resolved_config.yaml").write_text("model_id: tiny\nlora_r: 4\n")
    (adapter / "train_summary.json").write_text(json.dumps({"train_loss": 1.25, "config_hash": "abc"}))
    out = tmp_path / "merged"
    result = runner.invoke(app, merge_args(tiny_model_dir, adapter, out, tmp_path / "artifacts", "--json"))
    assert result.exit_code == 0, result.output
    info = json.loads((out / "merge_info.json").read_text())
    assert info["adapter"] == {
        "resolved_config": {"model_id": "tiny", "lora_r": 4},
        "train_summary": {"train_loss": 1.25, "config_hash": "abc"},
    }
    prov = info["provenance"]
    assert prov["data_sha256"] == {"adapter_weights": file_sha256(adapter / "adapter_model.safetensors")}
    assert len(prov["config_hash"]) == 16 and prov["code_version"]
    assert info["config"]["adapter_model_id"] == str(adapter) and info["config"]["out"] == str(out)
    assert json.loads(result.stdout)["provenance"] == prov
    (record,) = Ledger(tmp_path / "artifacts").read()
    assert record["config_hash"] == prov["config_hash"]


def test_merge_config_loads_from_yaml_and_rejects_what_it_cannot_use(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base_model_id: me/base\nadapter_model_id: me/adapter\nout: merged\ntolerance: 0.25\n")
    cfg = load_config(path, {"push_to": "me/merged"}, cls=MergeConfig)
    assert (cfg.tolerance, cfg.push_to, cfg.private) == (0.25, "me/merged", True)
    for overrides, field in (
        ({"out": ""}, "out"),
        ({"tolerance": -1}, "tolerance"),
        ({"probe_data": "nope.jsonl"}, "probe_data"),
        ({"bogus": 1}, "bogus"),
    ):
        with pytest.raises(ConfigError, match=field):
            load_config(path, overrides, cls=MergeConfig)


def test_merge_runs_as_a_local_job_and_the_ledger_records_it(tiny_model_dir, tiny_adapter_dir, tmp_path, said):
    out, artifacts = tmp_path / "merged", tmp_path / "artifacts"
    result = runner.invoke(
        app, merge_args(tiny_model_dir, tiny_adapter_dir, out, artifacts, "--backend", "local", "--wait", "--json")
    )
    assert result.exit_code == 0, result.output
    assert "it does not improve quality" in said(result)
    shown = json.loads(result.stdout)
    assert shown["state"] == "COMPLETED" and shown["merged"]["max_abs_logit_diff"] <= 1e-3
    assert json.loads((out / "merge_info.json").read_text())["equivalence"]["dtype"] == "float32"
    events = [(r["event"], r["job_id"]) for r in Ledger(artifacts).read()]
    assert [e for e, _ in events] == ["submitted", "finished", "merged"]
    assert {job for _, job in events} == {shown["job_id"]}
    merged = Ledger(artifacts).read()[-1]
    assert merged["model_repo"] == str(out.resolve()) and merged["repo_kind"] == "full"
    assert merged["config_hash"] == shown["config_hash"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--backend", "hf-jobs", "--dry-run"), "--push-to"),
        (("--backend", "hf-jobs", "--dry-run", "--push-to", "me/merged"), "local folder the job cannot see"),
        (("--backend", "nowhere", "--dry-run"), "field 'backend': 'nowhere' is not one of local, hf-jobs"),
        (("--wait",), "only with --backend"),
        (("--flavor", "a10g-small"), "--flavor: only with --backend"),
    ],
)
def test_merge_job_refusals_happen_before_anything_is_submitted(
    tiny_model_dir, tiny_adapter_dir, tmp_path, extra, message, said
):
    result = runner.invoke(app, merge_args(tiny_model_dir, tiny_adapter_dir, tmp_path / "m", tmp_path / "a", *extra))
    assert result.exit_code != 0 and message in said(result)
    assert not (tmp_path / "a").exists() and not (tmp_path / "m").exists()


def test_merge_on_hf_jobs_dry_run_shows_the_job(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = runner.invoke(
        app,
        [
            "merge",
            "--base-model-id",
            "me/base",
            "--adapter-model-id",
            "me/adapter",
            "--out",
            "merged",
            "--push-to",
            "me/merged",
            "--backend",
            "hf-jobs",
            "--dry-run",
            "--json",
            "--artifacts-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    assert spec["flavor"] == "cpu-upgrade" and spec["namespace"] == "me" and spec["model_repo"] == "me/merged"
    assert spec["config"]["push_to"] == "me/merged" and spec["command"][-2] == "--config-json"
    assert json.loads(spec["command"][-1]) == spec["config"]


def test_a_bf16_merge_passes_and_one_that_lost_the_adapter_is_refused(
    tiny_model_dir, tiny_adapter_dir, tmp_path, monkeypatch, said
):
    """In half precision the default tolerance is a share of what the adapter itself changes: rounding passes, a merge
    that drops the adapter (differing by its whole effect) does not."""
    out = tmp_path / "merged"
    config = tmp_path / "merge.yaml"  # the command's flags are MergeConfig's fields: a YAML file of them works too
    config.write_text(f"base_model_id: {tiny_model_dir}\nadapter_model_id: {tiny_adapter_dir}\nout: {out}\n")
    result = runner.invoke(
        app, ["merge", "--config", str(config), "--dtype", "bfloat16", "--artifacts-dir", str(tmp_path / "a")]
    )
    assert result.exit_code == 0, result.output
    check = json.loads((out / "merge_info.json").read_text())["equivalence"]
    assert check["dtype"] == "bfloat16" and 0 < check["max_abs_diff"] <= check["tolerance"]
    assert check["tolerance"] == max(0.5, 0.3 * check["adapter_effect"]) and check["adapter_effect"] > 1

    import hiddenparams.model.merge_check

    monkeypatch.setattr(
        hiddenparams.model.merge_check, "merge_in_place", lambda adapted: adapted.unload()
    )  # merges nothing
    lost = tmp_path / "lost"
    result = runner.invoke(
        app, merge_args(tiny_model_dir, tiny_adapter_dir, lost, tmp_path / "b", "--dtype", "bfloat16")
    )
    assert result.exit_code != 0 and "refusing to write" in said(result) and "--dtype float32" in said(result)
    assert not lost.exists()


def test_embeddings_trained_in_full_without_the_tie_are_saved_untied(tiny_model_dir, tmp_path):
    """An adapter that trained `embed_tokens` in full without keeping the tie to `lm_head`: the merged model has two
    tensors, and its saved config must say so, or a reload rebuilds the head from the new embeddings."""
    from peft import LoraConfig, get_peft_model
    from peft.utils.other import ModulesToSaveWrapper

    model, _ = load_model(str(tiny_model_dir))
    config = LoraConfig(
        target_modules=r".*language_model.*\.(q_proj|v_proj)",
        r=2,
        init_lora_weights=False,
        modules_to_save=["embed_tokens"],
    )
    adapted = get_peft_model(model, config)
    (wrapper,) = [m for m in adapted.modules() if isinstance(m, ModulesToSaveWrapper)]
    with torch.no_grad():
        wrapper.modules_to_save["default"].weight.add_(torch.randn_like(wrapper.modules_to_save["default"].weight))
    adapter = tmp_path / "adapter"
    adapted.save_pretrained(adapter)
    load_tokenizer(str(tiny_model_dir)).save_pretrained(adapter)
    out = tmp_path / "merged"
    result = runner.invoke(app, merge_args(tiny_model_dir, adapter, out, tmp_path / "artifacts"))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["text_config"]["tie_word_embeddings"] is False
    reloaded, tokenizer, _ = load_for_inference(model_id=str(out))
    reference, _, _ = load_for_inference(base_model_id=str(tiny_model_dir), adapter_id=str(adapter))
    ids = torch.tensor([tokenizer("quiet piano for a rainy night")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, reference(input_ids=ids).logits, atol=1e-3, rtol=0)


def test_overwrite_replaces_a_used_folder_only_once_the_merge_passed(tiny_model_dir, tiny_adapter_dir, tmp_path, said):
    out = tmp_path / "merged"
    out.mkdir()
    (out / "old.txt").write_text("an earlier merge")
    result = runner.invoke(app, merge_args(tiny_model_dir, tiny_adapter_dir, out, tmp_path / "a", "--overwrite"))
    assert result.exit_code == 0, said(result)
    names = {p.name for p in out.iterdir()}
    assert "old.txt" not in names and {"config.json", "merge_info.json"} <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".merged.")]  # no staging folder left behind
