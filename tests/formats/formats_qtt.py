"""Pick the cases of ksqlDB's QTT files that exercise only serialization, and replay them.

Two shapes qualify:

* a source with declared columns and a sink ``CREATE STREAM|TABLE OUTPUT [WITH (...)] AS SELECT *
  FROM INPUT``: every input record is deserialized with the source's serdes and serialized with the
  sink's, which must give the expected output records;
* a source (optionally plus such a sink) whose expected error comes from format validation.

A small statement reader below understands just enough of those statements (column lists with
nested types, WITH properties).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ksql import sqltypes
from ksql.errors import KsqlException, SerializationError
from ksql.formats import (
    Column,
    Format,
    check_schema,
    format_class,
    get_format,
    key_features,
    parse_delimiter,
    value_features,
    wrap_single_of,
)
from ksql.formats.testdata import decode_test_key, decode_to_test_json, encode_test_key, encode_test_value
from ksql.sqltypes import SqlType

QTT = Path("/work/shared/ksql-qtt/qtt")
FILES = [
    "json", "serdes", "delimited", "kafka", "none", "formats", "key-schemas", "multi-col-keys",
    "decimal", "bytes", "date", "time", "timestamp", "null", "elements",
]  # fmt: skip
SR_FORMATS = {"AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"}
FORMAT_ERRORS = (
    "format", "Format", "WRAP_SINGLE_VALUE", "Delimiter", "delimiter", "Map keys", "JSON only supports",
    "does not support the following configs",
)  # fmt: skip


class Unsupported(Exception):
    """The case is outside what this harness replays."""


# -- statement reading --------------------------------------------------------------------------


def _split_top(text: str, sep: str = ",") -> list[str]:
    parts, depth, cur, quote = [], 0, [], None
    for c in text:
        if quote:
            cur.append(c)
            if c == quote:
                quote = None
            continue
        if c in "`'":
            quote = c
        elif c in "<(":
            depth += 1
        elif c in ">)":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(c)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def _ident(text: str) -> tuple[str, str]:
    """(name, rest) of text starting with an identifier."""
    text = text.strip()
    if text.startswith("`"):
        end = text.index("`", 1)
        return text[1:end], text[end + 1 :].strip()
    m = re.match(r"[A-Za-z_@][A-Za-z0-9_@$]*", text)
    if not m:
        raise Unsupported(f"identifier in {text!r}")
    return m.group(0).upper(), text[m.end() :].strip()


def parse_type(text: str) -> SqlType:
    text = text.strip()
    up = text.upper()
    if up.startswith("ARRAY<") and up.endswith(">"):
        return sqltypes.array(parse_type(text[6:-1]))
    if up.startswith("MAP<") and up.endswith(">"):
        k, v = _split_top(text[4:-1])
        return sqltypes.map_of(parse_type(k), parse_type(v))
    if up.startswith("STRUCT<") and up.endswith(">"):
        fields = []
        for f in _split_top(text[7:-1]):
            name, rest = _ident(f)
            fields.append((name, parse_type(rest)))
        return sqltypes.struct(fields)
    m = re.fullmatch(r"DECIMAL\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)", up)
    if m:
        return sqltypes.decimal(int(m.group(1)), int(m.group(2)))
    t = sqltypes.primitive(up)
    if t is None:
        raise Unsupported(f"type {text!r}")
    return t


@dataclass
class Source:
    name: str
    table: bool
    key: list[Column]
    value: list[Column]
    props: dict[str, str]
    declared: bool = True  # columns given (not inferred from a schema registry)


@dataclass
class Sink:
    name: str
    table: bool
    props: dict[str, str]

    @property
    def topic(self) -> str:
        return self.props.get("KAFKA_TOPIC", self.name)


def _props(text: str) -> dict[str, str]:
    out = {}
    for p in _split_top(text):
        k, _, v = p.partition("=")
        v = v.strip()
        out[k.strip().upper()] = v[1:-1] if v.startswith("'") else v
    return out


_CREATE = re.compile(r"CREATE\s+(STREAM|TABLE)\s+(\w+)\s*(\((.*)\))?\s*WITH\s*\((.*)\)\s*;?\s*$", re.I | re.S)
_CSAS = re.compile(
    r"CREATE\s+(STREAM|TABLE)\s+(\w+)\s*(WITH\s*\((.*)\))?\s*AS\s+SELECT\s+\*\s+FROM\s+(\w+)\s*;?\s*$",
    re.I | re.S,
)


def parse_source(stmt: str) -> Source:
    m = _CREATE.match(stmt.strip())
    if not m:
        raise Unsupported("not a CREATE source")
    key, value = [], []
    for col in _split_top(m.group(4) or ""):
        name, rest = _ident(col)
        kind = re.search(r"\s+(PRIMARY\s+KEY|KEY|HEADERS?.*)$", rest, re.I)
        if kind and kind.group(1).upper().startswith("HEADER"):
            raise Unsupported("header columns")
        t = parse_type(rest[: kind.start()] if kind else rest)
        (key if kind else value).append((name, t))
    src = Source(m.group(2).upper(), m.group(1).upper() == "TABLE", key, value, _props(m.group(5)))
    src.declared = m.group(4) is not None
    return src


def parse_sink(stmt: str, from_name: str) -> Sink:
    m = _CSAS.match(stmt.strip())
    if not m or m.group(5).upper() != from_name:
        raise Unsupported("not CREATE ... AS SELECT * FROM <previous>")
    return Sink(m.group(2).upper(), m.group(1).upper() == "TABLE", _props(m.group(4) or ""))


# -- formats of a source or sink ----------------------------------------------------------------


@dataclass
class Serdes:
    key_format: Format
    value_format: Format
    key: Any
    value: Any
    key_columns: list[Column]
    value_columns: list[Column]
    value_props: dict[str, str] = field(default_factory=dict)


def _wrap(props: dict[str, str]) -> bool | None:
    v = props.get("WRAP_SINGLE_VALUE")
    return None if v is None else v.lower() == "true"


def format_names(
    props: dict[str, str], engine: dict[str, str], inherit: tuple[str, str] | None
) -> tuple[str, str]:
    if "FORMAT" in props and "VALUE_FORMAT" in props:
        raise KsqlException(
            "Cannot supply both 'VALUE_FORMAT' and 'FORMAT' properties, as 'FORMAT' sets both key and value "
            "formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."
        )
    key = props.get("KEY_FORMAT") or props.get("FORMAT")
    value = props.get("VALUE_FORMAT") or props.get("FORMAT")
    if inherit:
        key, value = key or inherit[0], value or inherit[1]
    key = key or engine.get("ksql.persistence.default.format.key", "KAFKA")
    value = value or engine.get("ksql.persistence.default.format.value")
    if not value:
        raise KsqlException(
            "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide one or set "
            "a default via the 'ksql.persistence.default.format.value' config."
        )
    return key.upper(), value.upper()


def _delimiter_props(props: dict[str, str], which: str, fmt_name: str) -> dict[str, str]:
    raw = props.get(f"{which}_DELIMITER")
    if raw is None:
        return {}
    try:
        parse_delimiter(raw, f"{which}_DELIMITER")
    except KsqlException as e:  # the WITH-clause check that ksqlDB runs while preparing a statement
        raise KsqlException(f"Failed to prepare statement: {e.message}") from e
    return {"delimiter": raw}


def build_serdes(
    key_cols: list[Column],
    value_cols: list[Column],
    props: dict[str, str],
    engine: dict[str, str],
    inherit: Serdes | None = None,
    topic: str = "t",
) -> Serdes:
    names = format_names(
        props, engine, (inherit.key_format.name, inherit.value_format.name) if inherit else None
    )
    for n in names:
        if format_class(n).name in SR_FORMATS:
            raise Unsupported("schema registry format")
    kprops = _delimiter_props(props, "KEY", names[0])
    vprops = _delimiter_props(props, "VALUE", names[1])
    if inherit:
        if not kprops and inherit.key_format.name == names[0]:
            kprops = dict(inherit.key_format.properties)
        if not vprops and inherit.value_format.name == names[1]:
            vprops = dict(inherit.value_format.properties)
    kf, vf = get_format(names[0], kprops), get_format(names[1], vprops)
    vfeat = value_features(vf, len(value_cols), wrap_single=_wrap(props))
    check_schema(kf, key_cols, is_key=True, features=key_features(kf, len(key_cols)))
    check_schema(vf, value_cols, is_key=False, features=vfeat)
    return Serdes(
        kf,
        vf,
        kf.serde(key_cols, is_key=True, topic=topic),
        vf.serde(value_cols, is_key=False, wrap_single=wrap_single_of(vfeat), topic=topic),
        key_cols,
        value_cols,
    )


# -- cases --------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    statements: list[str]
    properties: dict[str, str]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    error: str | None


def _load(path: Path) -> Any:
    return json.loads(path.read_text(), parse_float=Decimal)


def load_cases() -> list[Case]:
    cases = []
    for fname in FILES:
        for t in _load(QTT / f"{fname}.json")["tests"]:
            if t.get("enabled") is False:
                continue
            variants: list[tuple[str, list[str], dict[str, str]]] = []
            props = {k: str(v) for k, v in t.get("properties", {}).items()}
            for fmt in t.get("format") or [None]:
                for cfg in t.get("config") or [None]:
                    stmts = [s.replace("{FORMAT}", fmt) if fmt else s for s in t["statements"]]
                    p = {k: (cfg if v == "{CONFIG}" else v) for k, v in props.items()}
                    suffix = (f" - {fmt}" if fmt else "") + (f" - {cfg}" if cfg else "")
                    variants.append((t["name"] + suffix, stmts, p))
            err = t.get("expectedException", {}).get("message") if "expectedException" in t else None
            for name, stmts, p in variants:
                cases.append(
                    Case(f"{fname}: {name}", stmts, p, t.get("inputs", []), t.get("outputs", []), err)
                )
    return cases


def plan(case: Case) -> tuple[Source, list[Sink]]:
    if not case.statements:
        raise Unsupported("no statements")
    if any("WINDOW" in s.upper() for s in case.statements):
        raise Unsupported("windowed")
    source = parse_source(case.statements[0])
    sinks: list[Sink] = []
    for stmt in case.statements[1:]:
        sinks.append(parse_sink(stmt, sinks[-1].name if sinks else source.name))
    return source, sinks


def _chain(case: Case, source: Source, sinks: list[Sink]) -> list[Serdes]:
    serdes = [build_serdes(source.key, source.value, source.props, case.properties, topic=source.name)]
    for sink in sinks:
        if sink.table != source.table:
            raise Unsupported("stream/table change")
        serdes.append(
            build_serdes(
                source.key, source.value, sink.props, case.properties, inherit=serdes[-1], topic=sink.topic
            )
        )
    return serdes


def run_error_case(case: Case) -> str | None:
    """The message of the format error the statements raise (None if they pass)."""
    source, sinks = plan(case)
    try:
        _chain(case, source, sinks)
    except KsqlException as e:
        return e.message
    return None


def run_passthrough(case: Case) -> tuple[str, list[dict[str, Any]]]:
    """The last sink's topic and the records it receives, in test-file form."""
    source, sinks = plan(case)
    if not sinks or not source.declared:
        raise Unsupported("no pass-through sink")
    if any("window" in r for r in case.inputs):
        raise Unsupported("windowed input")
    chain = _chain(case, source, sinks)
    src = chain[0]
    produced = []
    for rec in case.inputs:
        kb = encode_test_key(rec.get("key"), src.key_columns, src.key_format)
        vb = encode_test_value(rec.get("value"), src.value_columns, src.value_format)
        try:
            key = src.key.deserialize(kb)
            value = src.value.deserialize(vb)
        except SerializationError:
            continue  # logged to the processing log and skipped
        if source.table and source.key and (key is None or all(k is None for k in key)):
            continue  # tables drop records without a key
        if not source.key:
            key = []
        for out in chain[1:]:  # each hop writes and the next reads back
            okey = out.key.serialize(key)
            oval = out.value.serialize(value)
            key = out.key.deserialize(okey) if source.key else []
            value = out.value.deserialize(oval)
        produced.append(
            {
                "key": decode_test_key(okey, out.key_columns, out.key_format)[0],
                "value": decode_to_test_json(oval, out.value_columns, out.value_format),
            }
        )
    return sinks[-1].topic, produced


# -- comparison (the runner's job; simplified here) -----------------------------------------------


def same(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float, Decimal)) and isinstance(actual, (int, float, Decimal)):
        return abs(Decimal(str(expected)) - Decimal(str(actual))) <= Decimal("0.000001")
    if isinstance(expected, str) and isinstance(actual, Decimal):
        return Decimal(expected) == actual
    if isinstance(expected, dict) and isinstance(actual, dict):
        if len(expected) != len(actual):
            return False
        upper = {k.upper(): v for k, v in actual.items()}
        return all(
            k in actual and same(v, actual[k]) or same(v, upper.get(k.upper(), object()))
            for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(same(a, b) for a, b in zip(expected, actual, strict=True))
    return bool(expected == actual)
