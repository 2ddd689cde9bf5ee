"""Model cards: each kind says what it is; the metadata is what the Hub reads (base model, license, model-index
results equal to the eval report's); the snippet on the card runs."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from huggingface_hub import ModelCard
from huggingface_hub.utils import validate_repo_id

from hiddenparams.data.rows import read_rows
from hiddenparams.eval.score import score
from hiddenparams.model.card import SYNTHETIC_NOTE, CardFacts, folder_card, model_card
from hiddenparams.model.merge import MERGE_NOTE
from hiddenparams.schema import KEYS, to_json

SRC = Path(__file__).resolve().parents[2] / "src"


def card_of(base="base/model", kind="full", **facts):
    return model_card(CardFacts(base, kind, facts.pop("model_ref", "me/model"), **facts))


def test_a_full_fine_tune_is_not_called_merged():
    card = card_of(kind="full").content
    assert "merge" not in card.lower() and MERGE_NOTE not in card
    assert "full-finetune" in card and "library_name: transformers" in card


def test_a_merged_model_carries_the_merge_tag_and_note_once():
    card = card_of(kind="merged", extra=MERGE_NOTE).content
    assert "merged-lora" in card and card.count(MERGE_NOTE) == 1


def test_an_adapter_card_names_peft_its_lora_hyperparameters_and_a_hub_dataset():
    summary = {"lora_target_modules": ["q_proj", "v_proj"], "data": {"source": "me/requests", "rows": {"train": 3}}}
    card = card_of(kind="adapter-only", training={"lora_r": 16, "lora_alpha": 32}, train_summary=summary)
    assert card.data.library_name == "peft" and "lora" in card.data.tags
    assert card.data.datasets == ["me/requests"]
    assert "| lora_r | 16 |" in card.text and "| lora_target_modules | q_proj, v_proj |" in card.text
    assert "base_model_id='base/model', adapter_model_id='me/model'" in card.text  # the snippet loads both


def test_a_hub_base_is_named_and_a_local_base_is_said_with_its_license(tmp_path):
    hub = card_of(base="mistralai/Ministral-3-3B-Instruct-2512")
    validate_repo_id(hub.data.base_model)
    assert hub.data.base_model == "mistralai/Ministral-3-3B-Instruct-2512"
    local = tmp_path / "my-base"
    local.mkdir()
    (local / "README.md").write_text("---\nlicense: apache-2.0\n---\n# base\n")
    card = card_of(base=str(local), synthetic=True)
    assert card.data.base_model is None and "local folder (`my-base`)" in card.text
    assert card.data.license == "apache-2.0"  # the base's own
    assert str(tmp_path) not in card.text.split("## Use")[0]  # no path of this disk in the prose
    assert SYNTHETIC_NOTE in card.text and "synthetic-data" in card.data.tags


def _snippet(card: ModelCard) -> str:
    (code,) = re.findall(r"```python\n(.*?)```", card.text, re.S)
    return code


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_folder_cards_load_with_model_index_equal_to_the_eval_report_and_their_snippet_runs(
    tiny_model_dir, tiny_adapter_dir, eval_data_dir, tmp_path
):
    rows, train = read_rows(eval_data_dir / "test.jsonl"), read_rows(eval_data_dir / "train.jsonl")
    outputs = [to_json(r.hidden_params) for r in rows[:9]] + ["{}", "nope", "```"]
    report = score(rows, outputs, train).to_dict()
    (tmp_path / "eval_report.json").write_text(json.dumps(report))
    folder_card(tiny_adapter_dir, report, synthetic=True).save(tmp_path / "README.md")

    card = ModelCard.load(tmp_path / "README.md")  # the file as the Hub would parse it
    assert card.data.base_model is None and "local folder" in card.text  # the base is a local folder here
    written = json.loads((tmp_path / "eval_report.json").read_text())
    metrics = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert metrics["valid_rate"] == written["valid_cases"] / written["total"] == 0.75
    assert (
        metrics["mae"] == written["metrics"]["mae"] and metrics["mae_over_all"] == written["metrics"]["over_all"]["mae"]
    )
    assert metrics["exact_match"] == sum(written["metrics"]["exact"].values()) / len(KEYS) == 1.0
    assert metrics["all_six_exact"] == written["metrics"]["all_exact"]
    assert {r.dataset_split for r in card.data.eval_results} == {"test"}

    # The snippet loads the adapter on its base, generates and parses strictly. The random tiny model answers
    # nonsense, so the strict parser's reason is printed: the path runs; six integers need a trained model
    # (test_demo.py checks the demo's cards that way).
    done = _run(_snippet(card))
    assert done.returncode == 0, done.stderr[-2000:]
    (last,) = done.stdout.strip().splitlines()[-1:]
    assert re.fullmatch(r"\[(\d+, ){5}\d+\]", last) or re.match(r"\w+: ", last), last


def snippet_prints_six_integers(card_path: Path) -> list[int]:
    """Run the snippet of a saved card; the six integers it printed (used on the demo's trained models)."""
    done = _run(_snippet(ModelCard.load(card_path)))
    assert done.returncode == 0, done.stderr[-2000:]
    values = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(values) == len(KEYS) and all(isinstance(v, int) and 0 <= v <= 10 for v in values), values
    return values
