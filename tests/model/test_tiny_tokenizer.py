"""The embedded default's tokenizer: the tekken chat structure kept, text lower-cased, "10" one token."""

import pytest

from hiddenparams.data.sample import generate_texts
from hiddenparams.eval.value_scores import value_pieces
from hiddenparams.model.chat_format import TEKKEN_CONTROL_TOKENS
from hiddenparams.model.tiny import build_tokenizer
from hiddenparams.schema import KEYS


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(generate_texts(400, seed=7), vocab_size=400)


def test_case_does_not_change_the_tokens_of_a_request(tokenizer):
    assert tokenizer("PLAY Something Cozy")["input_ids"] == tokenizer("play something cozy")["input_ids"]


def test_control_tokens_keep_their_tekken_ids_and_are_not_lower_cased(tokenizer):
    messages = [
        {"role": "system", "content": "Rules"},
        {"role": "user", "content": "HI"},
        {"role": "assistant", "content": '{"energy": 10}'},
    ]
    ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    for name in ("[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[INST]", "[/INST]"):
        assert ids[tokens.index(name)] == TEKKEN_CONTROL_TOKENS.index(name)
    assert tokens[0] == "<s>" and tokens[-1] == "</s>"


def test_ten_is_one_token_and_other_numbers_split_digit_by_digit(tokenizer):
    def pieces(text):
        return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])

    assert pieces("10") == ["10"]
    assert [p for p in pieces("7 140") if p != "Ġ"] == ["7", "1", "4", "0"]
    assert tokenizer.decode(tokenizer('{"energy": 10, "warmth": 1}', add_special_tokens=False)["input_ids"]) == (
        '{"energy": 10, "warmth": 1}'
    )


def test_value_scoring_still_splits_at_every_value(tokenizer):
    pieces = value_pieces(tokenizer)  # raises if a value's tokens merge with their neighbours
    ten = pieces.candidates[0][10]
    assert tokenizer.convert_ids_to_tokens(ten) == ["10", ","]
    assert len(pieces.candidates[len(KEYS) - 1][10]) == 2


def test_tekken_like_tokenizer_is_still_available(tokenizer):
    plain = build_tokenizer(generate_texts(400, seed=7), vocab_size=400, lowercase=False, ten_token=False)
    assert plain("PLAY")["input_ids"] != plain("play")["input_ids"]
    assert len(plain("10", add_special_tokens=False)["input_ids"]) == 2


def test_pretraining_corpus_never_holds_our_keys_and_its_values_spread_like_our_labels(tokenizer):
    import json
    import re
    import statistics

    from hiddenparams.model.tiny import TinySpec, pretraining_corpus

    spec = TinySpec()
    texts = generate_texts(600, seed=11)
    corpus = pretraining_corpus(tokenizer, texts, 0, spec.effect_factors, spec.factor_every, spec.json_share)
    answers = [json.loads(m.group(1)) for doc in corpus if (m := re.search(r"\[/INST\](\{.*\})</s>", doc))]
    assert 0.75 < len(answers) / len(texts) < 0.85  # json_share of the documents are JSON turns
    assert all(set(a).isdisjoint(KEYS) and all(0 <= v <= 10 for v in a.values()) for a in answers)
    values = [v for a in answers for v in a.values()]
    # Our labels: standard deviation 2.4, 11% at 0 or 10. A spread far off either way teaches the base another task.
    assert 2.0 < statistics.pstdev(values) < 3.2
    assert 0.05 < sum(v in (0, 10) for v in values) / len(values) < 0.25


def test_pretraining_values_are_sums_of_per_word_effects_read_through_shared_factors():
    from hiddenparams.model.tiny import _key_signs, _word_effects, _word_factors

    effect = {}
    for word in ("cozy", "jazz", "loud", "piano"):
        effect[word] = {k: _word_effects(word, k, 6, 5) - 5 for k in ("tempo", "mood", "grit")}
        factors = _word_factors(word, 6, 5)
        assert effect[word] == {k: sum(s * f for s, f in zip(_key_signs(k, 6), factors)) for k in effect[word]}
    text = "cozy jazz loud piano"
    for key in ("tempo", "mood", "grit"):
        total = 5 + sum(effect[w][key] for w in effect)
        assert _word_effects(text.upper(), key, 6, 5) == max(0, min(10, total))
