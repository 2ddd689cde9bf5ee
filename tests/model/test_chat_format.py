"""The Ministral-3 chat format on the real tekken vocabulary (shipped by mistral-common; no download)."""

import pytest

from hiddenparams.model.chat_format import (
    ChatFormatError,
    check_chat_format,
    load_tekken_tokenizer,
    reference_token_ids,
    render_ids,
)
from hiddenparams.prompt import SYSTEM_PROMPT, completion_messages, prompt_messages
from hiddenparams.schema import KEYS, to_json

REQUESTS = [
    "Something cozy for my grandmother's 80th birthday",
    "música tranquila para estudiar, café y lluvia ☔",
    "  HIGH energy gym mix!!  ",
    "lo-fi beats 2 study 2",
]


@pytest.fixture(scope="module")
def tekken():
    return load_tekken_tokenizer()


def test_vocabulary_ids_are_ministral3s(tekken):
    assert len(tekken) == 131072
    ids = tekken.convert_tokens_to_ids(
        ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "<pad>", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"]
    )
    assert ids == [0, 1, 2, 3, 4, 11, 17, 18]
    assert (tekken.bos_token_id, tekken.eos_token_id, tekken.pad_token_id) == (1, 2, 11)


@pytest.mark.parametrize("text", REQUESTS)
def test_template_matches_mistral_common_finetuning_rendering(tekken, text):
    messages = prompt_messages(text) + completion_messages(dict(zip(KEYS, [7, 4, 6, 2, 5, 3])))
    assert render_ids(tekken, messages) == reference_token_ids(messages)


@pytest.mark.parametrize("text", REQUESTS)
def test_prompt_is_prefix_and_completion_ends_with_eos(tekken, text):
    params = dict(zip(KEYS, [10, 0, 3, 9, 1, 8]))
    prompt_ids = render_ids(tekken, prompt_messages(text), add_generation_prompt=True)
    full_ids = render_ids(tekken, prompt_messages(text) + completion_messages(params))
    assert full_ids[: len(prompt_ids)] == prompt_ids
    assert full_ids[-1] == tekken.eos_token_id
    assert full_ids[0] == tekken.bos_token_id
    # The completion tokens decode to exactly the strict JSON, then EOS: nothing else for the model to learn.
    assert tekken.decode(full_ids[len(prompt_ids) : -1]) == to_json(params)
    # Control tokens are single ids, not text.
    assert full_ids[1] == 17 and prompt_ids[-1] == 4
    check_chat_format(tekken, prompt_messages(text), completion_messages(params))


def test_system_prompt_is_explicit_and_rendered_once(tekken):
    text = tekken.apply_chat_template(prompt_messages("jazz"), tokenize=False, add_generation_prompt=True)
    assert text == f"<s>[SYSTEM_PROMPT]{SYSTEM_PROMPT}[/SYSTEM_PROMPT][INST]Request: jazz[/INST]"


def test_check_chat_format_rejects_template_without_eos(tekken):
    tekken = load_tekken_tokenizer()
    tekken.chat_template = tekken.chat_template.replace("{{- eos_token -}}", "")
    with pytest.raises(ChatFormatError, match="EOS"):
        check_chat_format(tekken, prompt_messages("x"), completion_messages(dict.fromkeys(KEYS, 1)))
