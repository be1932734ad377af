"""AVRO, PROTOBUF, JSON_SR and PROTOBUF_NOSR: wire bytes, round trips, generated schemas, inference
from registered schemas, and the registry clients."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.errors import KsqlException, KsqlStatementException, SerializationError
from ksql.formats import get_format
from ksql.formats.avro import connect_to_avro, key_schema_name
from ksql.formats.base import SchemaRegistryNotConfigured
from ksql.formats.connect import columns_schema
from ksql.formats.protobuf_schema import ProtoSchema, read_message_indexes, write_message_indexes
from ksql.formats.testdata import decode_to_test_json, encode_test_value
from ksql.schemaregistry import (
    InMemorySchemaRegistry,
    RegisteredSchema,
    RestSchemaRegistry,
    mock_registry,
    registry_from_config,
)
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
from ksql.topics.embedded import EmbeddedLog

ALL_TYPES = [
    ("I", INTEGER), ("L", BIGINT), ("D", DOUBLE), ("B", BOOLEAN), ("S", STRING), ("BY", BYTES),
    ("DEC", decimal(4, 2)), ("TS", TIMESTAMP), ("DT", DATE), ("TM", TIME), ("A", array(STRING)),
    ("M", map_of(STRING, INTEGER)), ("ST", struct([("X", INTEGER), ("Y", STRING)])),
]
ROW = [1, 2**40, 1.5, True, "héllo", b"\x00\x01", Decimal("12.34"), 1_600_000_000_000, 19_000, 3_600_000,
       ["a", "b"], {"k": 7}, {"X": 5, "Y": "y"}]


@pytest.fixture
def registry() -> InMemorySchemaRegistry:
    return InMemorySchemaRegistry()


# -- wire format and round trips ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["AVRO", "PROTOBUF", "JSON_SR", "PROTOBUF_NOSR"])
def test_round_trip_of_every_type(registry: InMemorySchemaRegistry, name: str) -> None:
    serde = get_format(name, registry=registry).serde(ALL_TYPES, is_key=False, topic="t")
    data = serde.serialize(ROW)
    assert data is not None
    assert serde.deserialize(data) == ROW
    assert serde.serialize(None) is None and serde.deserialize(None) is None


@pytest.mark.parametrize("name", ["AVRO", "PROTOBUF", "JSON_SR"])
def test_confluent_header_carries_the_registered_id(registry: InMemorySchemaRegistry, name: str) -> None:
    registry.register("other-value", RegisteredSchema('"string"'))  # id 1: the next schema gets 2
    data = get_format(name, registry=registry).serde([("A", INTEGER)], is_key=False, topic="t").serialize([1])
    assert data is not None
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 2
    latest = registry.latest("t-value")
    assert latest is not None and latest.id == 2


def test_avro_bytes_exactly() -> None:
    registry = InMemorySchemaRegistry()
    data = get_format("AVRO", registry=registry).serde([("A", INTEGER), ("S", STRING)], is_key=False,
                                                        topic="t").serialize([1, "x"])
    # header, then per field: union branch 1 (zigzag 2) and the value (zigzag int 1 = 2; string len 1 = 2, 'x')
    assert data == b"\x00\x00\x00\x00\x01" + b"\x02\x02" + b"\x02\x02x"


def test_protobuf_bytes_exactly() -> None:
    registry = InMemorySchemaRegistry()
    data = get_format("PROTOBUF", registry=registry).serde([("A", INTEGER), ("S", STRING)], is_key=False,
                                                            topic="t").serialize([150, "x"])
    # header, message index [0] as one zero byte, then field 1 varint 150, field 2 "x"
    assert data == b"\x00\x00\x00\x00\x01\x00" + b"\x08\x96\x01" + b"\x12\x01x"
    nosr = get_format("PROTOBUF_NOSR").serde([("A", INTEGER), ("S", STRING)], is_key=False, topic="t")
    assert nosr.serialize([150, "x"]) == b"\x08\x96\x01\x12\x01x"


def test_json_sr_bytes_exactly() -> None:
    registry = InMemorySchemaRegistry()
    data = get_format("JSON_SR", registry=registry).serde([("A", INTEGER)], is_key=False,
                                                           topic="t").serialize([1])
    assert data == b'\x00\x00\x00\x00\x01{"A":1}'


def test_message_indexes() -> None:
    for indexes in ([0], [1], [2, 0, 3]):
        assert read_message_indexes(write_message_indexes(indexes)) == (indexes, len(write_message_indexes(indexes)))
    assert write_message_indexes([0]) == b"\x00"


def test_unwrapped_keys_and_values(registry: InMemorySchemaRegistry) -> None:
    avro = get_format("AVRO", registry=registry)
    key = avro.serde([("K", STRING)], is_key=True, topic="t")
    assert key.deserialize(key.serialize(["k"])) == ["k"]
    assert json.loads(registry.latest("t-key").schema.schema) == "string"  # type: ignore[union-attr]
    value = avro.serde([("V", INTEGER)], is_key=False, wrap_single=False, topic="t")
    assert value.serialize([None]) is None
    assert value.deserialize(value.serialize([3])) == [3]
    # protobuf keys stay messages
    pkey = get_format("PROTOBUF", registry=registry).serde([("K", INTEGER)], is_key=True, topic="p")
    assert pkey.deserialize(pkey.serialize([7])) == [7]
    assert "int32 K = 1;" in registry.latest("p-key").schema.schema  # type: ignore[union-attr]


def test_protobuf_unset_fields_read_as_defaults(registry: InMemorySchemaRegistry) -> None:
    serde = get_format("PROTOBUF", registry=registry).serde(
        [("I", INTEGER), ("S", STRING), ("ST", struct([("F", INTEGER)]))], is_key=False, topic="t")
    assert serde.deserialize(serde.serialize([None, None, None])) == [0, "", None]
    optional = get_format("PROTOBUF", {"nullableRepresentation": "optional"}, registry=registry).serde(
        [("I", INTEGER)], is_key=False, topic="o")
    assert optional.deserialize(optional.serialize([None])) == [None]
    wrapper = get_format("PROTOBUF", {"nullableRepresentation": "wrapper"}, registry=registry).serde(
        [("I", INTEGER)], is_key=False, topic="w")
    assert wrapper.deserialize(wrapper.serialize([None])) == [None]
    assert "google.protobuf.Int32Value I = 1;" in registry.latest("w-value").schema.schema  # type: ignore[union-attr]


def test_reading_coerces_to_the_columns(registry: InMemorySchemaRegistry) -> None:
    writer = get_format("AVRO", registry=registry).serde(
        [("a", INTEGER), ("F", DOUBLE)], is_key=False, topic="t")
    data = writer.serialize([5, 1.5])
    reader = get_format("AVRO", registry=registry).serde([("A", STRING), ("MISSING", INTEGER)], is_key=False,
                                                          topic="t")
    assert reader.deserialize(data) == ["5", None]
    wrong = get_format("AVRO", registry=registry).serde([("A", BOOLEAN)], is_key=False, topic="t")
    with pytest.raises(SerializationError, match="Cannot deserialize type int32 as type boolean"):
        wrong.deserialize(data)
    with pytest.raises(SerializationError, match="Unknown magic byte!"):
        reader.deserialize(b"{}")


# -- generated schemas ----------------------------------------------------------------------------


def test_avro_names_follow_ksqldb() -> None:
    cs = columns_schema([("F1", struct([("X", INTEGER)])), ("M", map_of(STRING, struct([("Y", INTEGER)])))],
                        unwrapped=False)
    schema = connect_to_avro(cs, key_schema_name("MY_SINK"))
    assert schema["name"] == "MySinkKey" and schema["namespace"] == "io.confluent.ksql.avro_schemas"
    assert schema["connect.name"] == "io.confluent.ksql.avro_schemas.MySinkKey"
    nested = schema["fields"][0]["type"][1]
    assert nested["name"] == "MySinkKey_F1" and "namespace" not in nested
    assert schema["fields"][0]["default"] is None
    assert schema["fields"][1]["type"][1]["values"][1]["name"] == "MySinkKey_M_MapValue"


def test_avro_refuses_names_and_map_keys_it_cannot_carry(registry: InMemorySchemaRegistry) -> None:
    avro = get_format("AVRO", registry=registry)
    with pytest.raises(KsqlException, match="Illegal initial character: 1abc"):
        avro.validate_columns([("1abc", INTEGER)], is_key=False)
    with pytest.raises(KsqlException, match="Avro only supports MAPs with STRING keys"):
        avro.validate_columns([("M", map_of(INTEGER, INTEGER))], is_key=False)
    with pytest.raises(KsqlException, match="PROTOBUF format only supports MAP types with STRING keys"):
        get_format("PROTOBUF", registry=registry).validate_columns([("M", map_of(INTEGER, INTEGER))], is_key=False)


def test_protobuf_schema_text(registry: InMemorySchemaRegistry) -> None:
    get_format("PROTOBUF", registry=registry).serde(
        [("I", INTEGER), ("ST", struct([("F", STRING)]))], is_key=False, topic="t").serialize([1, {"F": "x"}])
    text = registry.latest("t-value").schema.schema  # type: ignore[union-attr]
    assert text == ('syntax = "proto3";\n\nmessage ConnectDefault1 {\n  int32 I = 1;\n  ConnectDefault2 ST = 2;\n\n'
                    '  message ConnectDefault2 {\n    string F = 1;\n  }\n}\n')


def test_proto_parser_resolves_nested_types_imports_and_options() -> None:
    proto = ProtoSchema(
        'syntax = "proto3"; package a.b; import "dep.proto"; import "google/protobuf/timestamp.proto";'
        "message Outer { message Inner { int32 x = 1; } enum E { A = 0; B = 2; } Inner i = 1; E e = 2;"
        " dep.Other o = 3; google.protobuf.Timestamp t = 4; map<string, Inner> m = 5;"
        " oneof pick { string s = 6; int64 n = 7; } }",
        {"dep.proto": 'syntax = "proto3"; package dep; message Other { string y = 1; }'})
    outer, indexes = proto.message(None)
    assert outer.full_name == "a.b.Outer" and indexes == [0]
    types = {f.name: f.type for f in outer.fields}
    assert types["i"] == ".a.b.Outer.Inner" and types["o"] == ".dep.Other" and types["e"] == ".a.b.Outer.E"
    assert proto.message("Inner")[1] == [0, 0]


# -- test-file values -----------------------------------------------------------------------------


def test_test_driver_values_go_through_the_registered_schema(registry: InMemorySchemaRegistry) -> None:
    registry.register("t-value", RegisteredSchema(json.dumps(
        {"type": "record", "name": "r", "fields": [{"name": "c1", "type": "float"},
                                                  {"name": "b", "type": ["null", "bytes"]}]})))
    avro = get_format("AVRO", registry=registry)
    data = encode_test_value({"C1": 1.1234, "B": "AAE="}, [("C1", DOUBLE)], avro, topic="t")
    assert data is not None
    assert decode_to_test_json(data, [("C1", DOUBLE)], avro) == {"c1": 1.1233999729156494, "b": "AAE="}
    # the engine reads the same bytes into its columns
    assert avro.serde([("C1", DOUBLE), ("B", BYTES)], is_key=False, topic="t").deserialize(data) == [
        1.1233999729156494, b"\x00\x01"]


# -- the engine -----------------------------------------------------------------------------------


def _run(registry: InMemorySchemaRegistry | None, *statements: str) -> KsqlEngine:
    async def go() -> KsqlEngine:
        engine = KsqlEngine(EmbeddedLog(None), Config({}), persist_commands=False, schema_registry=registry)
        for sql in statements:
            await engine.execute(sql)
        return engine

    return asyncio.run(go())


def test_create_without_columns_infers_them(registry: InMemorySchemaRegistry) -> None:
    registry.register("t-key", RegisteredSchema('"int"'))
    registry.register("t-value", RegisteredSchema(json.dumps(
        {"type": "record", "name": "v", "fields": [{"name": "c1", "type": "string"},
                                                  {"name": "c2", "type": {"type": "array", "items": "long"}}]})))
    engine = _run(registry, "CREATE STREAM S WITH (kafka_topic='t', partitions=1, format='AVRO');",
                  "CREATE STREAM S2 WITH (kafka_topic='t', format='AVRO', key_schema_id=1, value_schema_id=2);")
    src = engine.metastore.get_source("S")
    assert src is not None and src.schema.sql() == "ROWKEY INTEGER KEY, C1 STRING, C2 ARRAY<BIGINT>"
    by_id = engine.metastore.get_source("S2")
    assert by_id is not None and by_id.schema.sql() == "ROWKEY INTEGER KEY, `c1` STRING, `c2` ARRAY<BIGINT>"


def test_inference_errors(registry: InMemorySchemaRegistry) -> None:
    with pytest.raises(KsqlStatementException, match="Schema for message values on topic 't' does not exist"):
        _run(registry, "CREATE STREAM S WITH (kafka_topic='t', partitions=1, value_format='AVRO');")
    with pytest.raises(KsqlStatementException, match="VALUE_FORMAT should support schema inference when "
                       "VALUE_SCHEMA_ID is provided. Current format is JSON."):  # fmt: skip
        _run(registry, "CREATE STREAM S WITH (kafka_topic='t', partitions=1, value_format='JSON', value_schema_id=1);")
    registry.register("p-value", RegisteredSchema('syntax = "proto3"; message A { int32 a = 1; } '
                                                  "message B { int32 b = 1; }", "PROTOBUF"))
    with pytest.raises(KsqlStatementException, match="Value schema has multiple schema definitions"):
        _run(registry, "CREATE STREAM S WITH (kafka_topic='p', partitions=1, value_format='PROTOBUF');")
    with pytest.raises(KsqlStatementException, match="Value schema is not in the expected format"):
        _run(registry, "CREATE STREAM S WITH (kafka_topic='p', partitions=1, value_format='AVRO');")


def test_sinks_register_their_schemas(registry: InMemorySchemaRegistry) -> None:
    _run(registry, "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', partitions=1, format='AVRO');",
         "CREATE STREAM OUT AS SELECT * FROM S;")
    key = registry.latest("OUT-key")
    value = registry.latest("OUT-value")
    assert key is not None and json.loads(key.schema.schema) == "string"
    assert value is not None and json.loads(value.schema.schema)["name"] == "KsqlDataSourceSchema"
    assert registry.latest("s-value") is not None  # a new source subject is registered too


def test_without_a_registry_the_formats_are_refused() -> None:
    with pytest.raises(KsqlStatementException, match="without configuring 'ksql.schema.registry.url'"):
        _run(None, "CREATE STREAM S (V INT) WITH (kafka_topic='s', partitions=1, value_format='AVRO');")
    engine = _run(None, "CREATE STREAM S (V INT) WITH (kafka_topic='s', partitions=1, value_format='PROTOBUF_NOSR');")
    assert engine.metastore.get_source("S") is not None
    with pytest.raises(SchemaRegistryNotConfigured):
        get_format("JSON_SR")


def test_assert_schema(registry: InMemorySchemaRegistry) -> None:
    registry.register("s-value", RegisteredSchema('"int"'))

    async def go() -> list[Any]:
        engine = KsqlEngine(EmbeddedLog(None), Config({}), persist_commands=False, schema_registry=registry)
        return await engine.execute("ASSERT SCHEMA SUBJECT 's-value' ID 1;")

    assert asyncio.run(go())[0]["exists"] is True
    with pytest.raises(KsqlStatementException, match="Schema with subject name x does not exist"):
        _run(registry, "ASSERT SCHEMA SUBJECT 'x';")


# -- registry clients -------------------------------------------------------------------------------


def test_in_memory_ids_and_versions(registry: InMemorySchemaRegistry) -> None:
    a = RegisteredSchema('{"type": "string"}')
    assert registry.register("x", a) == 1
    assert registry.register("x", RegisteredSchema('{"type":"string"}')) == 1  # same schema, same version
    assert registry.register("y", a) == 1  # ids are global
    assert registry.register("x", RegisteredSchema('"int"')) == 2
    assert registry.versions("x") == [1, 2] and registry.subjects() == ["x", "y"]
    assert registry.register("z", RegisteredSchema('"long"'), schema_id=100) == 100
    assert registry.by_id(100) == RegisteredSchema('"long"')
    assert registry.delete_subject("x") == [1, 2] and registry.latest("x") is None


def test_registry_from_config() -> None:
    assert registry_from_config(Config({})) is None
    assert registry_from_config(Config({"ksql.schema.registry.url": "mock://scope"})) is mock_registry("scope")
    rest = registry_from_config(Config({"ksql.schema.registry.url": "http://localhost:1"}))
    assert isinstance(rest, RestSchemaRegistry)
    rest.close()


def test_rest_client_speaks_the_registry_api() -> None:
    import httpx

    seen: list[tuple[str, str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        if request.url.path == "/subjects/t-value/versions" and request.method == "POST":
            return httpx.Response(200, json={"id": 7})
        if request.url.path == "/subjects/t-value/versions/latest":
            return httpx.Response(200, json={"subject": "t-value", "version": 3, "id": 7,
                                             "schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"})
        return httpx.Response(404, json={"error_code": 40403, "message": "Schema not found"})

    client = RestSchemaRegistry("http://registry:8081")
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(handler))
    assert client.register("t-value", RegisteredSchema('syntax = "proto3";', "PROTOBUF")) == 7
    assert seen[0] == ("POST", "/subjects/t-value/versions", {"schema": 'syntax = "proto3";', "schemaType": "PROTOBUF"})
    latest = client.latest("t-value")
    assert latest is not None and latest.version == 3 and latest.schema.schema_type == "PROTOBUF"
    assert client.by_id(7) is not None and client.by_id(8) is None  # 7 cached from the answers above
    client.close()
