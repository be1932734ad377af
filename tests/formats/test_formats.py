"""Formats: behaviour pinned to ksqlDB's (expected values taken from its QTT files where they exist)."""

from __future__ import annotations

import math
import struct as binary
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

import ksql.formats as formats
from ksql.errors import KsqlException, SerializationError
from ksql.formats import (
    FORMATS,
    SchemaRegistryNotConfigured,
    SerdeFeature,
    WindowedSerde,
    check_schema,
    deserialize_windowed,
    get_format,
    key_features,
    parse_delimiter,
    serialize_windowed,
    value_features,
)
from ksql.formats._java import double_str, ensure_fit, parse_double, parse_int
from ksql.formats.delimited import format_record, parse_record
from ksql.formats.testdata import decode_test_key, decode_to_test_json, encode_test_key, encode_test_value
from ksql.sqltypes import (
    BIGINT,
    BOOLEAN,
    BYTES,
    DATE,
    DOUBLE,
    INTEGER,
    STRING,
    TIME,
    TIMESTAMP,
    array,
    decimal,
    map_of,
    struct,
)


@pytest.fixture
def make_serde():
    """Factory: a serde for ``columns`` with sensible defaults."""

    def make(fmt: str, columns: list[tuple[str, Any]], *, is_key: bool = False, wrap_single: bool | None = None,
             properties: dict[str, str] | None = None, topic: str = "t"):  # fmt: skip
        return get_format(fmt, properties).serde(columns, is_key=is_key, wrap_single=wrap_single, topic=topic)

    return make


# -- registry --------------------------------------------------------------------------------------


def test_all_is_complete() -> None:
    public = {n for n, v in vars(formats).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert public == set(formats.__all__)


def test_registry_table() -> None:
    assert set(FORMATS) == {
        "JSON",
        "DELIMITED",
        "KAFKA",
        "NONE",
        "AVRO",
        "PROTOBUF",
        "PROTOBUF_NOSR",
        "JSON_SR",
        "DEBEZIUM",
    }
    assert get_format("json").name == "JSON"
    assert get_format("Delimited", {"delimiter": "|"}) == get_format("DELIMITED", {"delimiter": "|"})


def test_unknown_format() -> None:
    with pytest.raises(KsqlException, match="^Unknown format: FOO$"):
        get_format("foo")


@pytest.mark.parametrize("name", ["AVRO", "protobuf", "JSON_SR"])
def test_schema_registry_formats_are_refused(name: str) -> None:
    with pytest.raises(SchemaRegistryNotConfigured, match=f"Format '{name.upper()}' needs a schema registry"):
        get_format(name)
    with pytest.raises(SchemaRegistryNotConfigured, match="Cannot create topic 'orders' with format AVRO without "
                       "configuring 'ksql.schema.registry.url'"):  # fmt: skip
        get_format("AVRO", topic="orders")


def test_protobuf_nosr_needs_no_registry() -> None:
    assert get_format("PROTOBUF_NOSR").name == "PROTOBUF_NOSR"


def test_format_properties_are_validated() -> None:
    with pytest.raises(KsqlException, match=r"^JSON does not support the following configs: \[delimiter\]$"):
        get_format("JSON", {"delimiter": "|"})


# -- wrapping and schema checks -------------------------------------------------------------------


def test_wrap_single_value_rules() -> None:
    assert value_features(FORMATS["JSON"], 1, wrap_single=False) == (SerdeFeature.UNWRAP_SINGLES,)
    assert value_features(FORMATS["KAFKA"], 1, wrap_single=False) == (SerdeFeature.UNWRAP_SINGLES,)
    assert value_features(FORMATS["JSON"], 1, default_wrap=False) == (SerdeFeature.UNWRAP_SINGLES,)
    assert value_features(FORMATS["DELIMITED"], 1, default_wrap=True) == ()
    with pytest.raises(
        KsqlException, match="^Format 'KAFKA' does not support 'WRAP_SINGLE_VALUE' set to 'true'.$"
    ):
        value_features(FORMATS["KAFKA"], 1, wrap_single=True)
    with pytest.raises(
        KsqlException, match="Format 'PROTOBUF' does not support 'WRAP_SINGLE_VALUE' set to 'false'."
    ):
        value_features(FORMATS["PROTOBUF"], 1, wrap_single=False)
    with pytest.raises(
        KsqlException, match="'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"
    ):
        value_features(FORMATS["JSON"], 2, wrap_single=True)
    assert key_features(FORMATS["JSON"], 1) == (SerdeFeature.UNWRAP_SINGLES,)
    assert key_features(FORMATS["KAFKA"], 1) == ()


def test_check_schema_messages() -> None:
    with pytest.raises(KsqlException) as e:
        check_schema(get_format("KAFKA"), [("K", BOOLEAN)], is_key=True)
    assert e.value.message == (
        "Key format does not support schema.\nformat: KAFKA\n"
        "schema: Persistence{columns=[`K` BOOLEAN KEY], features=[]}\n"
        "reason: The 'KAFKA' format does not support type 'BOOLEAN'"
    )
    with pytest.raises(KsqlException, match=r"reason: The 'KAFKA' format only supports a single field. "
                       r"Got: \[`ID` INTEGER KEY, `AGE` INTEGER KEY\]$"):  # fmt: skip
        check_schema(get_format("KAFKA"), [("ID", INTEGER), ("AGE", INTEGER)], is_key=True)
    with pytest.raises(
        KsqlException, match=r"Key column name: `K`. Column type: ARRAY<MAP<INTEGER, DOUBLE>>. See"
    ):
        check_schema(get_format("JSON"), [("K", array(map_of(INTEGER, DOUBLE)))], is_key=True)
    with pytest.raises(KsqlException, match="^JSON only supports MAP types with STRING keys$"):
        get_format("JSON").validate_columns([("M", map_of(INTEGER, DOUBLE))], is_key=False)
    check_schema(get_format("JSON"), [("K", struct([("F", DOUBLE)]))], is_key=True)


# -- JSON -----------------------------------------------------------------------------------------


def test_json_fields_match_case_insensitively(make_serde) -> None:
    serde = make_serde("JSON", [("ID", BIGINT), ("c1", INTEGER), ("S", struct([("PERSON", STRING)]))])
    assert serde.deserialize(b'{"id": 1, "C1": 5, "s": {"Person": "x"}}') == [1, None, {"PERSON": "x"}]
    assert serde.deserialize(b'{"ID": 1, "id": 2, "c1": 7}') == [1, 7, None]  # exact name first
    assert serde.deserialize(b"{}") == [None, None, None]
    assert serde.deserialize(b"null") is None
    assert serde.deserialize(None) is None


@pytest.mark.parametrize(
    ("t", "raw", "value"),
    [
        (INTEGER, b'"123"', 123),
        (INTEGER, b"1.9", 1),
        (INTEGER, b"4294967297", 1),  # Java's intValue() keeps the low 32 bits
        (BIGINT, b'"-5"', -5),
        (DOUBLE, b"1", 1.0),
        (DOUBLE, b'"1e3"', 1000.0),
        (DOUBLE, b'"NaN"', math.nan),
        (STRING, b"10", "10"),
        (STRING, b"1.50", "1.50"),
        (STRING, b"true", "true"),
        (STRING, b'{"a": 1, "b": [1.0, "x"]}', '{"a":1,"b":[1.0,"x"]}'),
        (STRING, b'[1, "a", null]', "[1, a, null]"),
        (BOOLEAN, b"true", True),
        (decimal(4, 2), b"1.5", Decimal("1.50")),
        (decimal(4, 2), b'"-1.5"', Decimal("-1.50")),
        (decimal(6, 4), b"10", Decimal("10.0000")),
        (
            decimal(33, 16),
            b"12345678987654321.2345678987654321",
            Decimal("12345678987654321.2345678987654321"),
        ),
        (BYTES, b'"dmFyaWF0aW9ucw=="', b"variations"),
        (TIMESTAMP, b"1600000000000", 1600000000000),
        (TIMESTAMP, b'"10"', 10),
        (DATE, b"-10", -10),
        (TIME, b"10", 10),
        (array(STRING), b"[1, 2, 3]", ["1", "2", "3"]),
        (map_of(STRING, INTEGER), b'{"a": 1, "b": null}', {"a": 1, "b": None}),
    ],
)
def test_json_coercion(make_serde, t, raw: bytes, value: Any) -> None:
    (got,) = make_serde("JSON", [("V", t)], wrap_single=False).deserialize(raw)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(got)
    else:
        assert got == value and type(got) is type(value)
    if isinstance(value, Decimal):
        assert got.as_tuple().exponent == -t.scale


@pytest.mark.parametrize(
    ("t", "raw", "message"),
    [
        (BOOLEAN, b'"true"', "Can't convert type. sourceType: TextNode, requiredType: BOOLEAN, path: $"),
        (INTEGER, b'"abc"', "Can't coerce string to type. targetType: INTEGER, path: $"),
        (INTEGER, b"true", "Can't convert type. sourceType: BooleanNode, requiredType: INTEGER, path: $"),
        (array(INTEGER), b'[1, "x"]', "Can't coerce string to type. targetType: INTEGER, path: $[1]"),
        (struct([("A", array(BIGINT))]), b'{"a": {}}',
         "Can't convert type. sourceType: ObjectNode, requiredType: ARRAY<BIGINT>, path: $.A"),
        (map_of(STRING, INTEGER), b'{"k": "x"}', "targetType: INTEGER, path: $.k.value"),
        (decimal(4, 2), b"1.234",
         "Cannot fit decimal '1.234' into DECIMAL(4, 2) without rounding. (Requires 4,3), path: $"),
        (decimal(4, 2), b"100",
         "Numeric field overflow: A field with precision 4 and scale 2 must round to an absolute value less "
         "than 10^2. Got 100, path: $"),
        (BYTES, b'"not base64!"', "Value is not a valid Base64 encoded string: not base64!, path: $"),
    ],
)  # fmt: skip
def test_json_coercion_errors(make_serde, t, raw: bytes, message: str) -> None:
    with pytest.raises(SerializationError) as e:
        make_serde("JSON", [("V", t)], wrap_single=False, topic="input").deserialize(raw)
    assert e.value.message.startswith("Failed to deserialize value from topic: input. ")
    assert e.value.message.endswith(message)


def test_json_wrapped_row_errors(make_serde) -> None:
    serde = make_serde("JSON", [("V", INTEGER), ("W", STRING)], topic="s")
    with pytest.raises(SerializationError, match=r"sourceType: IntNode, requiredType: STRUCT<`V` INTEGER, `W` "
                       r"STRING>, path: \$$"):  # fmt: skip
        serde.deserialize(b"10")
    with pytest.raises(SerializationError, match=r"^Failed to deserialize value from topic: s. Unrecognized token "
                       r"'abc': was expecting"):  # fmt: skip
        serde.deserialize(b"abc")
    with pytest.raises(SerializationError, match="sourceType: MissingNode"):
        serde.deserialize(b"")
    assert serde.deserialize(b'{"V": 1} trailing') == [1, None]


def test_json_key_is_unwrapped_by_default(make_serde) -> None:
    key = make_serde("JSON", [("K", struct([("F", DOUBLE)]))], is_key=True)
    assert key.deserialize(b'{"f": 45.67}') == [{"F": 45.67}]
    assert key.serialize([{"F": 45.67}]) == b'{"F":45.67}'
    assert key.serialize([None]) is None
    multi = make_serde("JSON", [("K", INTEGER), ("K2", INTEGER)], is_key=True)
    assert multi.deserialize(b'{"K": null, "K2": 2}') == [None, 2]
    assert multi.serialize([None, 2]) == b'{"K":null,"K2":2}'
    assert make_serde("JSON", [("K", STRING)], is_key=True, wrap_single=True).serialize(["a"]) == b'{"K":"a"}'


def test_json_value_wrapping(make_serde) -> None:
    wrapped = make_serde("JSON", [("FOO", BOOLEAN)])
    assert wrapped.serialize([True]) == b'{"FOO":true}'
    assert wrapped.serialize([None]) == b'{"FOO":null}'
    unwrapped = make_serde("JSON", [("FOO", BOOLEAN)], wrap_single=False)
    assert unwrapped.serialize([True]) == b"true"
    assert unwrapped.serialize([None]) is None  # as ksqlDB: the record becomes a tombstone
    assert unwrapped.deserialize(b"null") is None
    assert unwrapped.deserialize(b"false") == [False]
    with pytest.raises(KsqlException, match="only valid for single-field value schemas"):
        make_serde("JSON", [("A", INTEGER), ("B", INTEGER)], wrap_single=False)
    assert make_serde("JSON", [], is_key=False).serialize([]) == b"{}"


def test_json_serialization(make_serde) -> None:
    columns = [
        ("D", decimal(6, 4)), ("Z", decimal(10, 8)), ("F", DOUBLE), ("N", DOUBLE), ("B", BYTES), ("S", STRING),
        ("A", array(INTEGER)), ("M", map_of(STRING, BIGINT)), ("T", struct([("x", INTEGER), ("Y", STRING)])),
    ]  # fmt: skip
    values = [
        Decimal("10"), Decimal("0"), 1e16, math.nan, b"{", 'q"\n\u00e9',
        [1, None], {"k": 2}, {"x": 1, "Y": None},
    ]  # fmt: skip
    assert make_serde("JSON", columns).serialize(values) == (
        b'{"D":10.0000,"Z":0.00000000,"F":1.0E16,"N":"NaN","B":"ew==","S":"q\\"\\n\xc3\xa9",'
        b'"A":[1,null],"M":{"k":2},"T":{"x":1,"Y":null}}'
    )
    assert make_serde("JSON", columns).serialize(None) is None
    with pytest.raises(SerializationError, match="Column count mismatch on serialization"):
        make_serde("JSON", columns).serialize([1])


def test_json_round_trip(make_serde) -> None:
    columns = [("D", decimal(33, 16)), ("A", array(struct([("B", BYTES)]))), ("TS", TIMESTAMP)]
    serde = make_serde("JSON", columns)
    values = [Decimal("-12345.1200000000000000"), [{"B": b"\x00\xff"}, None], -1]
    assert serde.deserialize(serde.serialize(values)) == values


# -- DELIMITED ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (["0", "zero", "0"], "0,zero,0"),
        (["-10"], '"-10"'),  # first field not starting with a letter or digit is quoted
        (["-1", "a", "1"], '"-1",a,1'),
        (["!", "IQ==", "!"], '"!",IQ==,"!"'),  # any field starting at or below '#'
        ([" \t x \t", "y\t", "with white space", "\t wit"], '" \t x \t","y\t",with white space,"\t wit"'),
        (["s", "S", "s", ""], "s,S,s,"),
        ([None, None, "100"], ",,100"),
        (['" + x', "a,b"], '""" + x","a,b"'),
        ([""], '""'),
        ([None], ""),
        (["x", "a\nb"], 'x,"a\nb"'),
        (["\u00e9t\u00e9"], '"\u00e9t\u00e9"'),
    ],
)
def test_csv_writing(fields: list[str | None], text: str) -> None:
    assert format_record(fields) == text


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("0,zero,0", ["0", "zero", "0"]),
        ('"foo","bar"', ["foo", "bar"]),
        ('"a""b" ,c', ['a"b', "c"]),
        ("x,", ["x", ""]),
        (",", ["", ""]),
        ("a,b\nc,d", ["a", "b"]),
        ('"a\nb",c', ["a\nb", "c"]),
        ("\n\nq", ["q"]),
        ('a"b,c', ['a"b', "c"]),
        ("", None),
        ("\r\n", None),
    ],
)
def test_csv_reading(text: str, fields: list[str] | None) -> None:
    assert parse_record(text) == fields


def test_delimited_values(make_serde) -> None:
    columns = [("ID", BIGINT), ("NAME", STRING), ("DEC", decimal(33, 16)), ("B", BOOLEAN), ("D", DOUBLE),
               ("BY", BYTES), ("TS", TIMESTAMP)]  # fmt: skip
    serde = make_serde("DELIMITED", columns)
    assert serde.deserialize(b'100,"a,b",.12,TRUE,1e3,dmFyaWF0aW9ucw==,10') == [
        100, "a,b", Decimal("0.1200000000000000"), True, 1000.0, b"variations", 10,
    ]  # fmt: skip
    assert serde.deserialize(b",,,yes,,,") == [None, None, None, False, None, None, None]
    assert serde.serialize([100, "a,b", Decimal("-12345.12"), False, 1e7, b"{", None]) == (
        b'100,"a,b",-12345.1200000000000000,false,1.0E7,ew==,'
    )
    single = make_serde("DELIMITED", [("DEC", decimal(33, 16))])
    assert single.serialize([Decimal("-12345.12")]) == b'"-12345.1200000000000000"'
    assert single.deserialize(b'"-12345.12"') == [Decimal("-12345.1200000000000000")]
    assert single.serialize([None]) == b""


@pytest.mark.parametrize(
    ("raw", "cause"),
    [
        (b"1,2,3", "Column count mismatch on deserialization. topic: t, expected: 2, got: 3"),
        (b"x,a", 'For input string: "x"'),
        (b"", "No fields in record"),
        (b'"a"b,c', "invalid char between encapsulated token and delimiter"),
        (b'"abc', "EOF reached before encapsulated token finished"),
    ],
)
def test_delimited_errors(make_serde, raw: bytes, cause: str) -> None:
    with pytest.raises(SerializationError, match="^Error deserializing delimited$") as e:
        make_serde("DELIMITED", [("A", INTEGER), ("B", STRING)]).deserialize(raw)
    assert cause in str(e.value.__cause__)


def test_delimiters(make_serde) -> None:
    assert parse_delimiter("TAB") == "\t" and parse_delimiter("SPACE") == " " and parse_delimiter("|") == "|"
    tab = make_serde("DELIMITED", [("A", INTEGER), ("B", STRING)], properties={"delimiter": "TAB"})
    assert tab.deserialize(b"0\tzero") == [0, "zero"]
    assert tab.serialize([1, "a,b"]) == b"1\ta,b"
    key = make_serde(
        "DELIMITED", [("K1", STRING), ("K2", STRING)], is_key=True, properties={"delimiter": ";"}
    )
    assert key.deserialize(b"foo,bar;baz") == ["foo,bar", "baz"]
    with pytest.raises(KsqlException, match="^Configuration VALUE_DELIMITER is invalid: Invalid delimiter value: "
                       "'<~>'. Delimiter must be a single character or TAB,SPACE\nExample valid value: ';'$"):  # fmt: skip
        parse_delimiter("<~>", "VALUE_DELIMITER")
    with pytest.raises(
        KsqlException, match="^Delimiter cannot be empty, if you meant to have a tab or space"
    ):
        parse_delimiter(" ")


def test_delimited_rejects_nested_types() -> None:
    with pytest.raises(
        KsqlException, match=r"^The 'DELIMITED' format does not support type 'ARRAY', column: `K`$"
    ):
        get_format("DELIMITED").serde([("K", array(DOUBLE))], is_key=True)
    with pytest.raises(
        KsqlException, match="^Format 'DELIMITED' does not support 'WRAP_SINGLE_VALUE' set to 'true'"
    ):
        get_format("DELIMITED").serde([("V", INTEGER)], is_key=False, wrap_single=True)


# -- KAFKA and NONE ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "value", "data"),
    [
        (INTEGER, 2, b"\x00\x00\x00\x02"),
        (INTEGER, -1, b"\xff\xff\xff\xff"),
        (BIGINT, 10000000000, binary.pack(">q", 10000000000)),
        (DOUBLE, 3.0, binary.pack(">d", 3.0)),
        (STRING, "h\u00e9", "h\u00e9".encode()),
        (BYTES, b"\x00\x01", b"\x00\x01"),
    ],
)
def test_kafka_layouts(make_serde, t, value: Any, data: bytes) -> None:
    serde = make_serde("KAFKA", [("V", t)])
    assert serde.serialize([value]) == data
    assert serde.deserialize(data) == [value]
    assert serde.serialize([None]) is None and serde.deserialize(None) is None


def test_kafka_errors(make_serde) -> None:
    with pytest.raises(SerializationError, match="^Error deserializing KAFKA message from topic: t$") as e:
        make_serde("KAFKA", [("V", BIGINT)]).deserialize(b"\x00\x01")
    assert str(e.value.__cause__) == "Size of data received by LongDeserializer is not 8"
    with pytest.raises(
        KsqlException, match=r"only supports a single field. Got: \[`V0` INTEGER, `V1` STRING\]$"
    ):
        get_format("KAFKA").serde([("V0", INTEGER), ("V1", STRING)], is_key=False)
    for t in (BOOLEAN, decimal(2, 1), TIMESTAMP, array(INTEGER)):
        with pytest.raises(
            KsqlException, match=f"^The 'KAFKA' format does not support type '{t.base.value}'$"
        ):
            get_format("KAFKA").serde([("V", t)], is_key=False)


def test_keyless_keys_ignore_their_bytes(make_serde) -> None:
    for fmt in ("KAFKA", "JSON", "NONE", "DELIMITED"):
        serde = make_serde(fmt, [], is_key=True)
        assert serde.deserialize(b"data that should be ignored") == []
        assert serde.deserialize(None) == []
        assert serde.serialize([]) is None


def test_none_format(make_serde) -> None:
    assert make_serde("NONE", []).deserialize(b"x") == []
    assert make_serde("NONE", []).serialize([]) is None
    with pytest.raises(KsqlException, match=r"^The 'NONE' format can only be used when no columns are defined. "
                       r"Got: \[`K` STRING KEY\]$"):  # fmt: skip
        get_format("NONE").serde([("K", STRING)], is_key=True)


# -- windowed keys ----------------------------------------------------------------------------------


def test_windowed_layouts() -> None:
    inner = b"\x00\x00\x00\x0a"
    assert serialize_windowed(inner, 1000, 2000, session=False) == inner + binary.pack(">q", 1000)
    assert serialize_windowed(inner, 12, 465, session=True) == inner + binary.pack(">qq", 465, 12)
    assert deserialize_windowed(inner + binary.pack(">q", 1000), False, 30000) == (inner, 1000, 31000)
    assert deserialize_windowed(inner + binary.pack(">qq", 465, 12), True) == (inner, 12, 465)
    assert deserialize_windowed(binary.pack(">q", 2**63 - 10), False, 100)[2] == 2**63 - 1


def test_windowed_serde(make_serde) -> None:
    serde = WindowedSerde(make_serde("KAFKA", [("K", STRING)], is_key=True), session=False, window_size=1000)
    data = serde.serialize(["k"], 2000, 3000)
    assert data == b"k" + binary.pack(">q", 2000)
    assert serde.deserialize(data) == (["k"], 2000, 3000)
    assert serde.serialize(None, 0, 0) is None and serde.deserialize(None) is None


# -- test-file records ----------------------------------------------------------------------------


def test_test_records_round_trip() -> None:
    cols = [("K", INTEGER)]
    assert encode_test_value(1, cols, "KAFKA", is_key=True) == b"\x00\x00\x00\x01"
    assert decode_to_test_json(b"\x00\x00\x00\x01", cols, "KAFKA", is_key=True) == 1
    assert encode_test_value("dmFyaWF0aW9ucw==", [("B", BYTES)], "KAFKA") == b"variations"
    assert decode_to_test_json(b"variations", [("B", BYTES)], "KAFKA") == "dmFyaWF0aW9ucw=="
    assert encode_test_value(3.0, [("K", DOUBLE)], "KAFKA") == binary.pack(">d", 3.0)
    assert encode_test_value("ignored", [], "KAFKA", is_key=True) == b"ignored"
    value = {"DEC": Decimal("10.0"), "A": [1, None], "S": "x"}
    assert encode_test_value(value, [], "JSON") == b'{"DEC":10.0,"A":[1,null],"S":"x"}'
    assert decode_to_test_json(b'{"DEC":10.0000}', [], "JSON") == {"DEC": Decimal("10.0000")}
    assert encode_test_value("0|zero|0", [], "DELIMITED") == b"0|zero|0"
    assert encode_test_value(None, [], "JSON") is None


def test_windowed_test_keys() -> None:
    window = {"start": 0, "end": 30000, "type": "time"}
    data = encode_test_key(10, [("K", BIGINT)], "KAFKA", window=window)
    assert data == binary.pack(">qq", 10, 0)
    assert decode_test_key(data, [("K", BIGINT)], "KAFKA", window_type="TUMBLING", window_size=30000) == (
        10,
        window,
    )
    session = {"start": 12, "end": 465, "type": "session"}
    data = encode_test_key("k", [("K", STRING)], "KAFKA", window=session)
    assert decode_test_key(data, [("K", STRING)], "KAFKA", window_type="SESSION") == ("k", session)
    assert decode_test_key(b'"k"', [("K", STRING)], "JSON") == ("k", None)


# -- Java text forms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (1.0, "1.0"), (100.0, "100.0"), (0.001, "0.001"), (1234567.0, "1234567.0"), (1e7, "1.0E7"),
        (1.5e-5, "1.5E-5"), (-2e23, "-2.0E23"), (654.321, "654.321"), (0.0, "0.0"), (-0.0, "-0.0"),
        (math.inf, "Infinity"), (22026.465794806718, "22026.465794806718"), (1.0e-3 / 2, "5.0E-4"),
    ],
)  # fmt: skip
def test_double_str(x: float, text: str) -> None:
    assert double_str(x) == text


def test_java_parsing() -> None:
    assert parse_int("+7") == 7
    for bad in (" 1", "1.0", "2147483648", ""):
        with pytest.raises(ValueError, match="For input string"):
            parse_int(bad)
    assert parse_int("2147483648", 64) == 2147483648
    assert parse_double(" 1.5d ") == 1.5 and parse_double("-Infinity") == -math.inf
    with pytest.raises(ValueError):
        parse_double("1_0")
    assert ensure_fit(Decimal("12.0"), 6, 4) == Decimal("12.0000")
    assert str(ensure_fit(Decimal("-0.0"), 3, 1)) == "0.0"
