"""Test-file records ↔ topic bytes, for the source or sink that owns a topic.

The conversion itself is ``ksql.formats.testdata`` (test files give records as they appear on the
wire: a JSON document, a DELIMITED line, a KAFKA primitive; AVRO/PROTOBUF/JSON_SR records as JSON
read against the registered schema); this module only picks the columns, format and window of the
topic's source. A topic without a source is read as JSON values and KAFKA string keys.
"""

from __future__ import annotations

from typing import Any

from ksql.catalog import DataSource, FormatInfo
from ksql.formats import testdata
from ksql.formats.base import Format
from ksql.schemaregistry.client import SchemaRegistryClient
from ksql.sqltypes import SqlType

Side = tuple[str | Format, list[tuple[str, SqlType]], dict[str, Any]]


def _format(info: FormatInfo, src: DataSource, is_key: bool, registry: SchemaRegistryClient | None) -> str | Format:
    """The format by name, or for the schema-registry formats an instance holding ``registry``."""
    from ksql.engine.schemas import source_format_properties
    from ksql.formats.registry import format_class, get_format
    from ksql.formats.sr import SchemaRegistryFormat

    try:
        cls = format_class(info.name)
    except Exception:
        return info.name
    if not issubclass(cls, SchemaRegistryFormat) or (registry is None and cls.needs_registry):
        return info.name
    return get_format(info.name, source_format_properties(info, src.name, is_key), registry=registry)


def _value_side(src: DataSource | None, registry: SchemaRegistryClient | None) -> Side:
    if src is None:
        return "JSON", [], {}
    fmt = _format(src.value_format, src, False, registry)
    return fmt, [(c.name, c.type) for c in src.schema.value], {} if isinstance(fmt, Format) else src.value_format.properties


def _key_side(src: DataSource | None, registry: SchemaRegistryClient | None) -> Side:
    if src is None:
        return "KAFKA", [], {}
    fmt = _format(src.key_format, src, True, registry)
    return fmt, [(c.name, c.type) for c in src.schema.key], {} if isinstance(fmt, Format) else src.key_format.properties


def encode_value(value: Any, src: DataSource | None, registry: SchemaRegistryClient | None = None) -> bytes | None:
    fmt, cols, props = _value_side(src, registry)
    return testdata.encode_test_value(
        value, cols, fmt, properties=props, topic=src.topic if src else None,
        wrap_single=src.value_format.wrap_single if src else None)


def decode_value(data: bytes | None, src: DataSource | None, registry: SchemaRegistryClient | None = None) -> Any:
    fmt, cols, props = _value_side(src, registry)
    return testdata.decode_to_test_json(data, cols, fmt, properties=props,
                                        wrap_single=src.value_format.wrap_single if src else None)


def encode_key(key: Any, window: dict[str, Any] | None, src: DataSource | None,
               registry: SchemaRegistryClient | None = None) -> bytes | None:
    fmt, cols, props = _key_side(src, registry)
    return testdata.encode_test_key(key, cols, fmt, properties=props, window=window,  # type: ignore[arg-type]
                                    topic=src.topic if src else None)


def decode_key(data: bytes | None, src: DataSource | None,
               registry: SchemaRegistryClient | None = None) -> tuple[Any, dict[str, Any] | None]:
    fmt, cols, props = _key_side(src, registry)
    window = src.window if src is not None else None
    return testdata.decode_test_key(  # type: ignore[return-value]
        data, cols, fmt, properties=props,
        window_type=window.kind if window is not None else None,
        window_size=window.size_ms if window is not None else None,
    )
