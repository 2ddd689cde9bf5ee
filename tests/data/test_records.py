"""Reading input: every physical record becomes exactly one valid record or one rejection with its line and reason."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hiddenparams.data.records import Reason, label_reason, read_file, read_input
from hiddenparams.data.rows import DataError, write_jsonl
from hiddenparams.schema import KEYS, Invalid, parse_strict
from hiddenparams.data.split import SplitConfig, split_records, write_split

GOOD = {k: 5 for k in KEYS}


def rec(text: str = "some calm piano for reading", rid: str | None = "r", **params: object) -> dict:
    out: dict = {"request_text": text, "hidden_params": {**GOOD, **params}}
    if rid is not None:
        out["id"] = rid
    return out


def line(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


# (line number, raw bytes, expected reason or None for a valid record, or "blank")
MESSY: list[tuple[bytes, str | None]] = [
    (b"\xef\xbb\xbf" + line(rec("Caf\u00e9 m\u00fasica para dormir \u2615", "a")), None),  # BOM, non-ASCII
    (line({"id": "b", "request_text": "upbeat gym mix", **GOOD}), None),  # the six keys as top-level fields
    (b"", "blank"),
    (b"   \t", "blank"),
    (b'{"request_text": "broken", ', Reason.UNPARSEABLE.value),
    (line(rec(energy=True)), Reason.NOT_INTEGER.value),
    (line(rec(warmth=None)), Reason.NOT_INTEGER.value),
    (
        b'{"id": "f", "request_text": "x y z", "hidden_params": {"energy": 5.5, "warmth": 5, "brightness": 5, '
        b'"acousticness": 5, "complexity": 5, "nostalgia": 5}}',
        Reason.NOT_INTEGER.value,
    ),
    (line(rec(brightness=11)), Reason.OUT_OF_RANGE.value),
    (line(rec(acousticness=-1)), Reason.OUT_OF_RANGE.value),
    (line(rec(complexity=[5])), Reason.NOT_INTEGER.value),
    (line({"request_text": "missing one", "hidden_params": {k: 5 for k in KEYS[:-1]}}), Reason.MISSING_KEY.value),
    (line(rec(tempo=5)), Reason.EXTRA_KEY.value),
    (line(rec("   ")), Reason.MISSING_REQUEST_TEXT.value),
    (b'{"request_text": "caf\xe9 jazz", "energy": 5}', Reason.UNDECODABLE.value),
    (b"[1, 2, 3]", Reason.NOT_AN_OBJECT.value),
    (line(rec(nostalgia="5")), Reason.NOT_INTEGER.value),
    (line(rec("no id given, still fine", rid=None)), None),
    (b'{"request_text": "twice", "request_text": "again", "hidden_params": {}}', Reason.UNPARSEABLE.value),
    (line({"id": "j", "request_text": "params as JSON text", "hidden_params": json.dumps(GOOD)}), None),
    (line(rec(rid=["x"])), Reason.BAD_ID.value),
    (line({"request_text": "unknown column", "hidden_params": GOOD, "note": "hi"}), Reason.EXTRA_KEY.value),
    (line({"hidden_params": GOOD}), Reason.MISSING_REQUEST_TEXT.value),
    (line({"request_text": 7, "hidden_params": GOOD}), Reason.MISSING_REQUEST_TEXT.value),
    (
        b'{"request_text": "nan", "hidden_params": {"energy": NaN, "warmth": 5, "brightness": 5, '
        b'"acousticness": 5, "complexity": 5, "nostalgia": 5}}',
        Reason.NOT_INTEGER.value,
    ),
    (line({"request_text": "both shapes", "hidden_params": GOOD, "energy": 5}), Reason.EXTRA_KEY.value),
    (b'{"request_text": "lone \\ud83d surrogate", "hidden_params": ' + line(GOOD) + b"}", Reason.UNDECODABLE.value),
    (b'{"id": "\\udc80", "request_text": "surrogate id", "hidden_params": ' + line(GOOD) + b"}", Reason.BAD_ID.value),
]


def write_messy(path: Path) -> Path:
    path.write_bytes(b"\r\n".join(raw for raw, _ in MESSY) + b"\r\n")  # CRLF throughout
    return path


def test_messy_jsonl_rejects_each_faulty_line_by_number_and_keeps_every_valid_one(tmp_path: Path) -> None:
    result = read_file(write_messy(tmp_path / "messy.jsonl"))
    expected = {n: reason for n, (_, reason) in enumerate(MESSY, start=1) if reason not in (None, "blank")}
    assert {r.line: r.reason.value for r in result.rejected} == expected
    assert [r.line for r in result.records] == [n for n, (_, reason) in enumerate(MESSY, start=1) if reason is None]
    assert result.sources[0].blank_line_numbers == [3, 4]
    assert result.n_input == len(MESSY) - 2

    first, flat, no_id, as_text = result.records
    assert first.request_text == "Caf\u00e9 m\u00fasica para dormir \u2615" and first.id == "a"  # BOM and CR gone
    assert flat.hidden_params == GOOD and flat.id == "b"
    assert no_id.id == "messy.jsonl:18"  # stable: file name and line
    assert as_text.hidden_params == GOOD


def test_rejections_name_file_line_and_field_and_keep_the_raw_text(tmp_path: Path) -> None:
    path = write_messy(tmp_path / "messy.jsonl")
    by_line = {r.line: r for r in read_file(path).rejected}
    out_of_range = by_line[9]
    assert out_of_range.message.startswith(f"{path}:9 field hidden_params: out_of_range:")
    assert "brightness=11" in out_of_range.message
    assert json.loads(out_of_range.raw) == rec(brightness=11)
    assert "tempo" in by_line[13].message and by_line[13].field == "hidden_params"
    assert "'note'" in by_line[22].message and by_line[22].field == "note"
    assert by_line[14].field == "request_text"
    assert by_line[21].field == "id"
    undecodable = by_line[15]
    assert base64.b64decode(undecodable.raw_base64) == MESSY[14][0]  # the exact bytes survive
    assert "\\xe9" in undecodable.raw
    assert json.loads(json.dumps(undecodable.to_json()))["reason"] == "undecodable"


CSV_TEXT = (
    "\ufeffid,request_text,energy,warmth,brightness,acousticness,complexity,nostalgia\r\n"  # line 1: header
    'c1,"a multi-line\r\nrequest, with a comma",1,2,3,4,5,6\r\n'  # lines 2-3
    "c2,plain,5,5,5,5,5.5,5\r\n"  # line 4: 5.5
    "c3,leading zero,07,5,5,5,5,5\r\n"  # line 5: not an integer literal
    "\r\n"  # line 6: blank
    "c4,empty cell,,5,5,5,5,5\r\n"  # line 7
    "c5,too big,11,5,5,5,5,5\r\n"  # line 8
    "c6,negative,-1,5,5,5,5,5\r\n"  # line 9
    "c7,short row,5,5\r\n"  # line 10
    ",no id,0,10,0,10,0,10\r\n"  # line 11: valid, generated id
    "c8,  ,5,5,5,5,5,5\r\n"  # line 12: blank text
    "c9,\u00e9t\u00e9 \u00e0 Paris,5,5,5,5,5,5\r\n"  # line 13: non-ASCII
)


def test_csv_cells_are_integers_only_when_they_are_integer_literals(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    result = read_file(path)
    assert {r.line: r.reason.value for r in result.rejected} == {
        4: "not_integer",
        5: "not_integer",
        7: "not_integer",
        8: "out_of_range",
        9: "out_of_range",
        10: "unparseable",
        12: "missing_request_text",
    }
    assert [(r.line, r.id) for r in result.records] == [(2, "c1"), (11, "in.csv:11"), (13, "c9")]
    assert result.records[0].request_text == "a multi-line\r\nrequest, with a comma"
    assert result.records[0].hidden_params == dict(zip(KEYS, range(1, 7)))
    assert result.sources[0].blank_line_numbers == [6]
    assert result.rejected[0].raw == "c2,plain,5,5,5,5,5.5,5"


def test_csv_hidden_params_as_json_text_and_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "nested.csv"
    good = json.dumps(GOOD).replace('"', '""')
    path.write_bytes(
        b"request_text,hidden_params\n"
        + f'ok,"{good}"\n'.encode()
        + b'caf\xe9,"'
        + good.encode()
        + b'"\n'
        + b'bad json,"{nope"\n'
        + b'not an object,"[1]"\n'
    )
    result = read_file(path)
    assert [r.line for r in result.records] == [2]
    assert {r.line: r.reason.value for r in result.rejected} == {3: "undecodable", 4: "unparseable", 5: "not_an_object"}


def test_parquet_rows_are_numbered_from_one(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    table = pa.table(
        {
            "id": ["p1", "p2", None],
            "request_text": ["nested row", "float label", "null label"],
            "hidden_params": [GOOD, {**GOOD, "energy": 5}, {**GOOD, "energy": None}],
        }
    )
    pq.write_table(table, path)
    result = read_file(path)
    assert [(r.line, r.id) for r in result.records] == [(1, "p1"), (2, "p2")]
    assert {r.line: r.reason.value for r in result.rejected} == {3: "not_integer"}

    flat = tmp_path / "flat.parquet"
    pq.write_table(
        pa.table({"request_text": ["a", "b"], **{k: [5.0, 5.5] if k == "energy" else [5, 5] for k in KEYS}}), flat
    )
    flat_read = read_file(flat)  # a float column, as pandas writes one: 5.0 is the integer 5, 5.5 is no integer
    assert [r.hidden_params["energy"] for r in flat_read.records] == [5] and flat_read.coerced_integral_floats == 1
    assert {r.line: r.reason.value for r in flat_read.rejected} == {2: "not_integer"}


def test_integral_float_labels_are_integers_and_counted_anything_else_stays_rejected(tmp_path: Path) -> None:
    path = tmp_path / "floats.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"request_text": "a", "hidden_params": {"energy": 4.0, "warmth": 5, "brightness": 5, '
                '"acousticness": 5, "complexity": 5, "nostalgia": 10.0}}',
                '{"request_text": "b", "energy": 1e1, "warmth": 0.0, "brightness": 5, "acousticness": 5, '
                '"complexity": 5, "nostalgia": 5}',
                json.dumps(rec("c", energy=5.5)),
                json.dumps(rec("d", energy=True)),
                json.dumps(rec("e", energy="4")),
                json.dumps(rec("f", energy=11.0)),
                '{"request_text": "g", "hidden_params": {"energy": 1e400, "warmth": 5, "brightness": 5, '
                '"acousticness": 5, "complexity": 5, "nostalgia": 5}}',
            ]
        )
        + "\n"
    )
    result = read_file(path)
    assert [(r.request_text, r.hidden_params["energy"], type(r.hidden_params["energy"])) for r in result.records] == [
        ("a", 4, int),
        ("b", 10, int),
    ]
    assert {r.line: r.reason.value for r in result.rejected} == {
        3: "not_integer",
        4: "not_integer",
        5: "not_integer",
        6: "out_of_range",
        7: "not_integer",
    }
    assert result.coerced_integral_floats == 2
    csv_path = tmp_path / "floats.csv"
    csv_path.write_text("request_text," + ",".join(KEYS) + "\npandas float,4.0,5.0,0.0,10.0,1.0,2.0\nhalf,4.5,5,5,5,5,5\n")
    csv_read = read_file(csv_path)
    assert [r.hidden_params for r in csv_read.records] == [dict(zip(KEYS, [4, 5, 0, 10, 1, 2]))]
    assert {r.line: r.reason.value for r in csv_read.rejected} == {3: "not_integer"}
    # Model outputs stay strict: the scorer's parser still refuses 4.0.
    assert parse_strict(json.dumps({k: 4.0 for k in KEYS})).error is Invalid.NOT_INTEGER


def test_every_schema_code_is_a_rejection_reason() -> None:
    """Reason is derived from schema.Invalid: a new parser code can never crash the reader."""
    for invalid in Invalid:
        reason = label_reason(invalid)
        assert isinstance(reason, Reason)
        assert reason.value == ("not_an_object" if invalid is Invalid.NOT_OBJECT else invalid.value)
    assert len(Reason.__members__) == len(list(Reason))  # no two codes collapsed into one (an Enum alias)
    assert Reason("duplicate") is Reason.DUPLICATE and isinstance(Reason.UNPARSEABLE, str)


def test_a_damaged_parquet_file_is_a_file_level_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="bad.parquet"):
        read_file(path)


def test_directory_input_is_the_union_of_its_split_files(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", [rec("one", "t1"), rec("two", "t2")])
    (tmp_path / "val.csv").write_text(
        'id,request_text,hidden_params\nv1,three,"' + json.dumps(GOOD).replace('"', '""') + '"\n'
    )
    pq.write_table(pa.Table.from_pylist([rec("four", "x1")]), tmp_path / "test.parquet")
    (tmp_path / "notes.txt").write_text("ignored: not a split file")
    result = read_input(tmp_path)
    assert sorted((Path(r.source).name, r.line, r.id) for r in result.records) == [
        ("test.parquet", 1, "x1"),
        ("train.jsonl", 1, "t1"),
        ("train.jsonl", 2, "t2"),
        ("val.csv", 2, "v1"),
    ]
    (tmp_path / "train.csv").write_text("request_text\n")
    with pytest.raises(DataError, match="several files for the train split"):
        read_input(tmp_path)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.jsonl", "no such file"),
        ("data.txt", "unsupported file type"),
        ("empty_dir", "no train/validation/test"),
    ],
)
def test_file_level_errors_name_the_input(tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    if name == "data.txt":
        path.write_text("x")
    if name == "empty_dir":
        path.mkdir()
    with pytest.raises(DataError, match=message) as err:
        read_input(path)
    assert str(path) in str(err.value)


def test_a_file_holding_only_a_bom_is_one_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf")
    result = read_file(path)
    assert result.n_input == 0 and result.sources[0].blank_line_numbers == [1]


def test_written_rows_read_back_unchanged(tmp_path: Path) -> None:
    rows = [rec("\u00e9t\u00e9 \u2028 line separator inside", "u1"), rec("plain", "u2")]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    back = read_file(tmp_path / "rows.jsonl")
    assert [r.to_dict() for r in back.records] == rows and not back.rejected


# ----------------------------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-20, 20) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mangled_record(draw: st.DrawFn) -> bytes:
    obj: dict = rec(draw(st.text(max_size=30)), draw(st.none() | st.text(max_size=5)))
    params = obj["hidden_params"]
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["drop", "set", "add", "flatten", "text", "truncate"]))
        key = draw(st.sampled_from(KEYS))
        if action == "drop":
            params.pop(key, None)
        elif action == "set":
            params[key] = draw(json_value)
        elif action == "add":
            obj[draw(st.text(max_size=6))] = draw(json_value)
        elif action == "flatten":
            obj.update(obj.pop("hidden_params", {}) or {})
        elif action == "text":
            obj["request_text"] = draw(json_value)
    raw = json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.binary(max_size=4) | st.just(b"\\ud800")) + raw[cut:]
    return raw


def physical_lines(data: bytes) -> int:
    lines = data.split(b"\n")
    return len(lines) - (1 if lines[-1] == b"" else 0)


@FUZZ
@given(st.lists(mangled_record() | st.binary(max_size=40), max_size=12), st.sampled_from([b"\n", b"\r\n"]))
def test_fuzzed_jsonl_never_raises_and_accounts_for_every_line(
    tmp_path_factory, records: list[bytes], eol: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.jsonl"
    data = eol.join(records)
    path.write_bytes(data)
    result = read_file(path)
    stats = result.sources[0]
    assert result.n_input + stats.blank_lines == physical_lines(data)
    lines = sorted([r.line for r in result.records] + [r.line for r in result.rejected])
    assert len(lines) == len(set(lines))  # one outcome per line
    for r in result.records:
        assert set(r.hidden_params) == set(KEYS) and all(
            type(v) is int and 0 <= v <= 10 for v in r.hidden_params.values()
        )
        assert r.request_text.strip()
    for r in result.rejected:
        assert isinstance(r.reason, Reason) and str(path) in r.message
    # Whatever the reader lets through can be split and written (no surrogates, nothing unserialisable).
    out = path.parent / "out"
    write_split(split_records(result, SplitConfig()), out)
    written = sum(
        len((out / f"{name}.jsonl").read_bytes().splitlines()) for name in ("train", "validation", "test", "rejected")
    )
    assert written == result.n_input


@FUZZ
@given(st.binary(max_size=300) | st.text(alphabet=st.sampled_from('ab,"\r\n\u00e9 5'), max_size=120).map(str.encode))
def test_fuzzed_csv_never_raises_and_numbers_records_inside_the_file(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_bytes(data)
    result = read_file(path)
    total = physical_lines(data)
    outcomes = [r.line for r in result.records] + [r.line for r in result.rejected]
    assert len(outcomes) == len(set(outcomes))
    assert all(1 <= n <= total for n in outcomes)
    for r in result.rejected:
        json.dumps(r.to_json())
