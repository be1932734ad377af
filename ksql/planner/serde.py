"""Binds sources and sinks to their key/value formats: decoding operators, encoders, format choice."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ksql.catalog import DataSource, FormatInfo
from ksql.errors import KsqlException
from ksql.expressions import casts
from ksql.formats.delimited import parse_delimiter
from ksql.runtime.operators import NullKey, SinkOp, SourceOp
from ksql.schema import LogicalSchema
from ksql.sqltypes import BaseType, SqlType
from ksql.types import Row

if TYPE_CHECKING:
    from ksql.engine.config import Config
    from ksql.planner.planner import QueryPlan
    from ksql.schemaregistry.client import SchemaRegistryClient

KNOWN_FORMATS = {"JSON", "DELIMITED", "KAFKA", "NONE", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR", "DEBEZIUM"}


class SerdeFactory:
    def __init__(self, config: Config, registry: SchemaRegistryClient | None = None) -> None:
        self.config = config
        self.registry = registry  # for AVRO, PROTOBUF and JSON_SR (None: those formats are refused)

    def with_config(self, config: Config) -> SerdeFactory:
        return SerdeFactory(config, self.registry)

    def format_of(self, info: FormatInfo, src: DataSource | None = None, *, is_key: bool = False) -> Any:
        from ksql import formats
        from ksql.engine.schemas import source_format_properties

        props = source_format_properties(info, src.name, is_key) if src is not None else info.properties
        return formats.get_format(info.name, props, registry=self.registry,
                                  topic=src.topic if src is not None else None)

    # -- choosing formats -----------------------------------------------------------------------
    def formats_from_props(self, props: dict[str, Any], config: Config, schema: LogicalSchema, *,
                           is_create: bool, kind: str) -> tuple[FormatInfo, FormatInfo]:
        fmt = props.get("FORMAT")
        kf = props.get("KEY_FORMAT")
        vf = props.get("VALUE_FORMAT")
        if fmt is not None and (kf is not None or vf is not None):
            which = "KEY_FORMAT" if kf is not None else "VALUE_FORMAT"
            raise KsqlException(
                f"Cannot supply both '{which}' and 'FORMAT' properties, as 'FORMAT' sets both key and value "
                "formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."
            )
        if fmt is not None:
            kf = vf = fmt
        if vf is None:
            vf = config.get("ksql.persistence.default.format.value")
            if vf is None:
                raise KsqlException(
                    "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide one "
                    "or set a default via the 'ksql.persistence.default.format.value' config."
                )
        if kf is None:
            # Debezium keys are JSON objects of the primary-key columns: read them with the same format
            debezium = str(vf).upper() == "DEBEZIUM"
            kf = "DEBEZIUM" if debezium else config.get("ksql.persistence.default.format.key") or "KAFKA"
            if not schema.key:
                kf = "NONE"
        key = FormatInfo(str(kf).upper(), self._format_props(props, "KEY"))
        value = FormatInfo(str(vf).upper(), self._format_props(props, "VALUE"),
                           _wrap(props.get("WRAP_SINGLE_VALUE")))
        if key.name == "NONE":
            key.properties.clear()
        for f in (key, value):
            if f.name not in KNOWN_FORMATS:
                raise KsqlException(f"Unknown format: {f.name}")
        if props.get("WRAP_SINGLE_VALUE") is not None and len(schema.value) != 1 and value.name not in ("NONE",):
            raise KsqlException("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")
        return key, value

    def _format_props(self, props: dict[str, Any], which: str) -> dict[str, Any]:
        from ksql.engine.schemas import format_properties

        out: dict[str, Any] = dict(format_properties(props, which))
        d = props.get(f"{which}_DELIMITER")
        if d is None and which == "VALUE":
            d = props.get("VALUE_DELIMITER")
        if d is not None:
            try:
                parse_delimiter(str(d), f"{which}_DELIMITER")
            except KsqlException as e:  # a WITH-clause config error: reported at statement preparation
                raise KsqlException(f"Failed to prepare statement: {e.message}") from e
            out["delimiter"] = d
        return out

    def sink_formats(self, props: dict[str, Any], config: Config, plan: QueryPlan,
                     source: DataSource) -> tuple[FormatInfo, FormatInfo]:
        for name in ("FORMAT", "KEY_FORMAT", "VALUE_FORMAT"):  # an unknown name is reported first
            given = props.get(name)
            if given is not None and str(given).upper() not in KNOWN_FORMATS:
                raise KsqlException(f"Unknown format: {str(given).upper()}")
        fmt = props.get("FORMAT")
        kf = props.get("KEY_FORMAT") or fmt
        vf = props.get("VALUE_FORMAT") or fmt
        if kf is None:
            kf = source.key_format.name
            if kf == "DEBEZIUM":  # change events in, plain rows out
                kf = "JSON"
            if kf == "NONE" and plan.schema.key:
                kf = config.get("ksql.persistence.default.format.key") or "KAFKA"
        if not plan.schema.key:
            if props.get("KEY_FORMAT") is not None and str(props["KEY_FORMAT"]).upper() != "NONE":
                raise KsqlException("Key format specified for stream without key columns.")
            kf = "NONE"
        if vf is None:
            vf = source.value_format.name
            if vf == "DEBEZIUM":
                vf = "JSON"
        from ksql.engine.schemas import TOPIC_SCHEMA_PROPERTIES

        key_props = dict(source.key_format.properties) if str(kf).upper() == source.key_format.name else {}
        value_props = dict(source.value_format.properties) if str(vf).upper() == source.value_format.name else {}
        for inherited in (key_props, value_props):  # a schema id or name belongs to the source's topic
            for name in TOPIC_SCHEMA_PROPERTIES:
                inherited.pop(name, None)
        key_props.update(self._format_props(props, "KEY"))
        value_props.update(self._format_props(props, "VALUE"))
        key = FormatInfo(str(kf).upper(), key_props)
        wrap = _wrap(props.get("WRAP_SINGLE_VALUE"))
        value = FormatInfo(str(vf).upper(), value_props, wrap)
        for f in (key, value):
            if f.name not in KNOWN_FORMATS:
                raise KsqlException(f"Unknown format: {f.name}")
        if props.get("WRAP_SINGLE_VALUE") is not None and len(plan.schema.value) != 1:
            raise KsqlException("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")
        return key, value

    # -- serdes ---------------------------------------------------------------------------------
    def key_serde(self, src: DataSource) -> Any:
        cols = [(c.name, c.type) for c in src.schema.key]
        return self.format_of(src.key_format, src, is_key=True).serde(cols, is_key=True, topic=src.topic)

    def value_serde(self, src: DataSource) -> Any:
        cols = [(c.name, c.type) for c in src.schema.value]
        return self.format_of(src.value_format, src).serde(
            cols, is_key=False, wrap_single=src.value_format.wrap_single, topic=src.topic)

    def validate(self, src: DataSource) -> None:
        from ksql import formats

        for info, cols, is_key in (
            (src.key_format, src.schema.key, True),
            (src.value_format, src.schema.value, False),
        ):
            fmt = self.format_of(info, src, is_key=is_key)
            columns = [(c.name, c.type) for c in cols]
            check = getattr(formats, "check_schema", None)
            if check is not None:
                check(fmt, columns, is_key=is_key)
            else:
                fmt.validate_columns(columns, is_key=is_key)
        self.key_serde(src)
        self.value_serde(src)

    def _windowed(self) -> Any:
        from ksql.formats import windowed

        return windowed

    def decode_key_fn(self, src: DataSource) -> Callable[[bytes | None], tuple[tuple[Any, ...], tuple[int, int] | None]]:
        serde = self.key_serde(src)
        n = len(src.schema.key)
        if src.window is None:
            absent: tuple[Any, ...] = NullKey((None,) * n) if n > 1 else (None,) * n

            def decode(data: bytes | None) -> tuple[tuple[Any, ...], None]:
                if data is None:
                    return absent, None
                vals = serde.deserialize(data)
                return (tuple(vals) if vals is not None else absent), None

            return decode
        w = self._windowed()
        session = src.window.kind == "SESSION"
        size = src.window.size_ms or 0

        def decode_w(data: bytes | None) -> tuple[tuple[Any, ...], tuple[int, int] | None]:
            if data is None:
                return (None,) * n, None
            inner, start, end = w.deserialize_windowed(data, session, size)
            vals = serde.deserialize(inner)
            return (tuple(vals) if vals is not None else (None,) * n), (start, end)

        return decode_w

    def source_op(self, src: DataSource) -> SourceOp:
        value_serde = self.value_serde(src)
        header_fns: list[tuple[str, Callable[[Any], Any]]] = []
        for c in src.schema.headers:
            if c.header_key is None:
                header_fns.append((c.name, _all_headers))
            else:
                header_fns.append((c.name, _one_header(c.header_key)))
        return SourceOp(
            src.name, src.topic, [c.name for c in src.schema.key], [c.name for c in src.schema.value],
            self.decode_key_fn(src), value_serde.deserialize, src.is_table, self.timestamp_fn(src),
            header_fns, src.window is not None,
        )

    def timestamp_fn(self, src: DataSource) -> Callable[[Row, int], int] | None:
        if src.timestamp_column is None:
            return None
        col = src.schema.find(src.timestamp_column)
        assert col is not None
        name = col.name
        if col.type.base is BaseType.STRING:
            from ksql.functions.javatime import parse_timestamp

            pattern = src.timestamp_format or ""

            def from_string(row: Row, ts: int) -> int:
                v = row.get(name)
                if v is None:
                    raise KsqlException(f"Timestamp column {name} is null")
                return parse_timestamp(v, pattern)

            return from_string

        def from_column(row: Row, ts: int) -> int:
            v = row.get(name)
            if v is None:
                raise KsqlException(f"Timestamp column {name} is null")
            return int(v)

        return from_column

    def sink_op(self, sink: DataSource, plan: QueryPlan) -> SinkOp:
        key_serde = self.key_serde(sink)
        value_serde = self.value_serde(sink)
        window = plan.window if sink.window is not None else None
        key_ser = key_serde.serialize
        if window is not None:
            w = self._windowed()
            session = window.kind == "SESSION"

            def encode_key(key: tuple[Any, ...], win: tuple[int, int] | None) -> bytes | None:
                inner = key_ser(list(key)) if key else None
                if win is None:
                    return inner
                return w.serialize_windowed(inner or b"", win[0], win[1], session=session)
        else:
            def encode_key(key: tuple[Any, ...], win: tuple[int, int] | None) -> bytes | None:
                if not key or all(k is None for k in key):
                    return None if not key or len(key) == 1 else key_ser(list(key))
                return key_ser(list(key))

        ts_fn = None
        if sink.timestamp_column is not None:
            src_fn = self.timestamp_fn(sink)
            if src_fn is not None:
                def ts_fn(row: Row, f: Any = src_fn) -> int:
                    ts = f(row, 0)
                    if ts < 0:  # Kafka rejects negative record timestamps: the row is dropped
                        raise KsqlException(f"Invalid negative timestamp: {ts}")
                    return ts
        return SinkOp(sink.topic, encode_key, value_serde.serialize, [c.name for c in sink.schema.key],
                      [c.name for c in sink.schema.value], None, sink.is_table, ts_fn)

    def encode_row(self, target: DataSource, key: list[Any], values: list[Any]) -> tuple[bytes | None, bytes | None]:
        kb = self.key_serde(target).serialize(key) if target.schema.key else None
        vb = self.value_serde(target).serialize(values)
        return kb, vb

    def coerce(self, value: Any, src: SqlType, dst: SqlType, name: str) -> Any:
        if src == dst:
            return value
        try:
            conv = casts.converter(src, dst)
        except KsqlException as e:
            raise KsqlException(f"Expected type {dst} for field {name} but got {value!r}({src})") from e
        if src.base is BaseType.STRING and dst.base not in (BaseType.STRING, BaseType.TIMESTAMP, BaseType.DATE,
                                                             BaseType.TIME, BaseType.BYTES):
            raise KsqlException(f"Expected type {dst} for field {name} but got {value!r}({src})")
        return value if conv is None else conv(value)


def _one_header(key: str) -> Callable[[Any], Any]:
    def last_value(headers: Any) -> Any:
        return next((v for k, v in reversed(headers) if k == key), None)

    return last_value


def _all_headers(headers: Any) -> list[dict[str, Any]]:
    return [{"KEY": k, "VALUE": v} for k, v in headers]


def _wrap(v: Any) -> bool | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    return str(v).strip().lower() == "true"


