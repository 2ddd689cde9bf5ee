"""The strict parser against the rules of docs/ARCHITECTURE.md ("Strict validity"): properties first, then codes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hiddenparams.schema import KEYS, MAX_VALUE, MIN_VALUE, Invalid, parse_strict, to_json

JSON_WS = " \t\n\r"

params_st = st.fixed_dictionaries({k: st.integers(MIN_VALUE, MAX_VALUE) for k in KEYS})
ws_st = st.text(alphabet=JSON_WS, max_size=3)


@st.composite
def rendered_st(draw: st.DrawFn) -> tuple[dict[str, int], str]:
    """Valid params rendered by json.dumps with any key order, separators' whitespace and indent."""
    params = draw(params_st)
    order = draw(st.permutations(KEYS))
    text = json.dumps(
        {k: params[k] for k in order},
        indent=draw(st.none() | st.integers(0, 4) | ws_st),
        separators=("," + draw(ws_st), ":" + draw(ws_st)),
    )
    return params, text


def render_pairs(pairs: list[tuple[str, str]]) -> str:
    """An object from (key, value literal) pairs, for what json.dumps cannot write (duplicates, bad literals)."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


def pairs_of(params: dict[str, int]) -> list[tuple[str, str]]:
    return [(k, str(params[k])) for k in KEYS]


def code(text: str) -> Invalid | None:
    return parse_strict(text).error


# --- valid ---------------------------------------------------------------------------------------------------


@given(rendered_st(), ws_st, ws_st)
def test_any_rendering_of_valid_params_is_valid_and_round_trips(rendered, before, after):
    params, text = rendered
    result = parse_strict(before + text + after)
    assert result.valid and result.error is None and result.message is None
    assert result.params == params
    assert list(result.params) == list(KEYS)


@given(params_st)
def test_canonical_rendering_round_trips(params):
    assert parse_strict(to_json(params)).params == params


# --- invalid: one property per rule --------------------------------------------------------------------------


@given(rendered_st(), st.sampled_from(["```json\n", "```\n", "```JSON ", "```"]), st.sampled_from(["\n```", "```", ""]))
def test_code_fence(rendered, fence_open, fence_close):
    assert code(fence_open + rendered[1] + fence_close) == Invalid.CODE_FENCE


# Prose with a visible character and no "{" (which would start an object), "[" (an array) or "`" (a fence).
prose_st = st.text(alphabet=st.characters(blacklist_characters="{[`", blacklist_categories=("Cs",)), min_size=1).filter(
    str.strip
)


@given(rendered_st(), prose_st)
def test_text_before(rendered, prefix):
    assert code(prefix + rendered[1]) == Invalid.TEXT_BEFORE


@given(rendered_st(), prose_st, ws_st)
def test_text_after(rendered, suffix, gap):
    assert code(rendered[1] + gap + suffix) == Invalid.TRAILING_TEXT


@given(rendered_st(), rendered_st(), ws_st)
def test_second_object(first, second, gap):
    assert code(first[1] + gap + second[1]) == Invalid.MULTIPLE_OBJECTS


@given(rendered_st(), ws_st)
def test_trailing_comma(rendered, gap):
    text = rendered[1].rstrip()
    assert code(text[:-1] + "," + gap + "}") == Invalid.NOT_JSON


@given(params_st, st.sampled_from(["// note\n", "/* note */", "# note\n"]), st.sampled_from(["before", "inside"]))
def test_comments(params, comment, where):
    text = to_json(params)
    text = comment + text if where == "before" else "{" + comment + text[1:]
    assert not parse_strict(text).valid


@given(params_st, st.sampled_from(KEYS), st.integers(MIN_VALUE, MAX_VALUE), st.integers(0, len(KEYS)))
def test_duplicate_key(params, key, value, at):
    pairs = pairs_of(params)
    pairs.insert(at, (key, str(value)))
    assert code(render_pairs(pairs)) == Invalid.DUPLICATE_KEY


@given(params_st, st.sets(st.sampled_from(KEYS), min_size=1))
def test_missing_key(params, dropped):
    assert code(render_pairs([p for p in pairs_of(params) if p[0] not in dropped])) == Invalid.MISSING_KEY


@given(params_st, st.text().filter(lambda k: k not in KEYS), st.integers(MIN_VALUE, MAX_VALUE))
def test_extra_key(params, extra, value):
    assert code(render_pairs(pairs_of(params) + [(extra, str(value))])) == Invalid.EXTRA_KEY


@given(params_st, st.sampled_from(KEYS), st.data())
def test_case_different_key(params, key, data):
    flips = data.draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)).filter(any))
    variant = "".join(c.upper() if flip else c for c, flip in zip(key, flips))
    pairs = [(variant if k == key else k, v) for k, v in pairs_of(params)]
    assert not parse_strict(render_pairs(pairs)).valid


BAD_LITERALS = {
    "5.0": Invalid.NOT_INTEGER,
    "1e1": Invalid.NOT_INTEGER,
    "5.5": Invalid.NOT_INTEGER,
    "1E0": Invalid.NOT_INTEGER,
    "-0.0": Invalid.NOT_INTEGER,
    '"5"': Invalid.NOT_INTEGER,
    "true": Invalid.NOT_INTEGER,
    "false": Invalid.NOT_INTEGER,
    "null": Invalid.NOT_INTEGER,
    "[5]": Invalid.NOT_INTEGER,
    '{"value": 5}': Invalid.NOT_INTEGER,
    "NaN": Invalid.NON_FINITE,
    "Infinity": Invalid.NON_FINITE,
    "-Infinity": Invalid.NON_FINITE,
    "-1": Invalid.OUT_OF_RANGE,
    "11": Invalid.OUT_OF_RANGE,
    "10000000000000000000000000": Invalid.OUT_OF_RANGE,
    "9" * 5000: Invalid.OUT_OF_RANGE,  # past CPython's int-parsing limit: must not raise
    "05": Invalid.NOT_JSON,
    "+5": Invalid.NOT_JSON,
    "0x5": Invalid.NOT_JSON,
    "'5'": Invalid.NOT_JSON,
}


@given(params_st, st.sampled_from(KEYS), st.sampled_from(sorted(BAD_LITERALS)))
def test_bad_value_literal(params, key, literal):
    pairs = [(k, literal if k == key else v) for k, v in pairs_of(params)]
    assert code(render_pairs(pairs)) == BAD_LITERALS[literal]


@given(params_st, st.sampled_from(KEYS), st.integers().filter(lambda v: not MIN_VALUE <= v <= MAX_VALUE))
def test_out_of_range(params, key, value):
    pairs = [(k, str(value) if k == key else v) for k, v in pairs_of(params)]
    assert code(render_pairs(pairs)) == Invalid.OUT_OF_RANGE


@given(params_st, st.sampled_from(KEYS), params_st)
def test_nested_object_value(params, key, inner):
    pairs = [(k, to_json(inner) if k == key else v) for k, v in pairs_of(params)]
    assert code(render_pairs(pairs)) == Invalid.NOT_INTEGER


@given(st.lists(rendered_st(), max_size=3), ws_st)
def test_top_level_array(items, gap):
    assert code("[" + gap + ",".join(text for _, text in items) + "]") == Invalid.NOT_OBJECT


@given(ws_st)
def test_empty(blank):
    assert code(blank) == Invalid.EMPTY


# --- never raises, and valid means exactly what the rules say -----------------------------------------------


def check_verdict(text: str) -> None:
    result = parse_strict(text)  # must not raise
    assert result.valid == (result.params is not None) == (result.error is None)
    if result.valid:
        # Only a strictly valid object passes: the plain decoder agrees, and the value is exactly the schema.
        decoded = json.loads(text.strip())
        assert decoded == result.params
        assert list(decoded) and set(decoded) == set(KEYS)
        assert all(type(v) is int and MIN_VALUE <= v <= MAX_VALUE for v in decoded.values())
    else:
        assert isinstance(result.error, Invalid) and result.message


@settings(max_examples=300)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    check_verdict(text)


# Near-valid text: a valid rendering with a few characters deleted, replaced or inserted from JSON's alphabet.
edits_st = st.lists(
    st.tuples(st.integers(0, 200), st.sampled_from(["", *'{}[]":,.-+eE0123456789 \n'])), min_size=1, max_size=4
)


@settings(max_examples=300)
@given(rendered_st(), edits_st, st.booleans())
def test_mangled_objects_never_raise(rendered, edits, replace):
    text = rendered[1]
    for pos, char in edits:
        pos %= len(text) + 1
        text = text[:pos] + char + text[pos + replace :]
    check_verdict(text)


# --- unit cases with their exact codes -----------------------------------------------------------------------

P = {k: i for i, k in enumerate(KEYS)}
OK = to_json(P)


@pytest.mark.parametrize(
    "text, expected",
    [
        (OK, None),
        ("  \n\t" + OK + "\n\n ", None),
        (json.dumps(P, indent=2), None),
        (json.dumps(dict(reversed(list(P.items())))), None),
        ('{"energy": -0, "warmth": 1, "brightness": 2, "acousticness": 3, "complexity": 4, "nostalgia": 5}', None),
        ("", Invalid.EMPTY),
        ("   \n", Invalid.EMPTY),
        ("```json\n" + OK + "\n```", Invalid.CODE_FENCE),
        ("Here you go: " + OK, Invalid.TEXT_BEFORE),
        ("/* params */ " + OK, Invalid.TEXT_BEFORE),
        (OK + " Hope this helps!", Invalid.TRAILING_TEXT),
        (OK + " // done", Invalid.TRAILING_TEXT),
        (OK + "\n```", Invalid.TRAILING_TEXT),
        (OK + OK, Invalid.MULTIPLE_OBJECTS),
        (OK + "\n" + OK, Invalid.MULTIPLE_OBJECTS),
        (OK[:-1] + ",}", Invalid.NOT_JSON),
        ('{"energy": 0, // hot\n' + OK[1:], Invalid.NOT_JSON),
        ("{" + OK[1:].replace(", ", ",\n", 1), None),
        ('{"energy": 0, "energy": 0, ' + OK[1:].split(", ", 1)[1], Invalid.DUPLICATE_KEY),
        (render_pairs([(k, "1") for k in KEYS[:-1]]), Invalid.MISSING_KEY),
        (render_pairs([("Energy", "1")] + [(k, "1") for k in KEYS[1:]]), Invalid.MISSING_KEY),
        (render_pairs([(k, "1") for k in KEYS] + [("tempo", "1")]), Invalid.EXTRA_KEY),
        (OK.replace("0", "0.0", 1), Invalid.NOT_INTEGER),
        (OK.replace("0", '"0"', 1), Invalid.NOT_INTEGER),
        (OK.replace("0", "true", 1), Invalid.NOT_INTEGER),
        (OK.replace("0", "null", 1), Invalid.NOT_INTEGER),
        (OK.replace("0", "NaN", 1), Invalid.NON_FINITE),
        (OK.replace("0", "-Infinity", 1), Invalid.NON_FINITE),
        ("NaN", Invalid.NON_FINITE),
        (OK.replace("0", "11", 1), Invalid.OUT_OF_RANGE),
        (OK.replace("0", "-1", 1), Invalid.OUT_OF_RANGE),
        ("[" + OK + "]", Invalid.NOT_OBJECT),
        ("[1, 2]", Invalid.NOT_OBJECT),
        ("5", Invalid.NOT_OBJECT),
        ('"energy"', Invalid.NOT_OBJECT),
        ("{", Invalid.NOT_JSON),
        ("energy=5", Invalid.NOT_JSON),
        ("{'energy': 1}", Invalid.NOT_JSON),
        ("[" * 100_000, Invalid.NOT_JSON),
    ],
)
def test_exact_codes(text, expected):
    result = parse_strict(text)
    assert result.error == expected, result.message
    if expected is not None:
        assert result.message.startswith(expected.value)
