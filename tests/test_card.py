"""Model cards: each kind says what it is; only a merged model carries the merge tag and the merge note."""

from hiddenparams.card import model_card
from hiddenparams.merge import MERGE_NOTE


def test_a_full_fine_tune_is_not_called_merged():
    card = model_card("base/model", "full")
    assert "merge" not in card.lower() and MERGE_NOTE not in card
    assert "full-finetune" in card and "library_name: transformers" in card


def test_a_merged_model_carries_the_merge_tag_and_note_once():
    card = model_card("base/model", "merged", extra=MERGE_NOTE)
    assert "merged-lora" in card and card.count(MERGE_NOTE) == 1


def test_an_adapter_card_names_peft():
    card = model_card("base/model", "adapter-only", data_summary={"rows": {"train": 3}})
    assert "library_name: peft" in card and "- lora" in card and '"train": 3' in card
