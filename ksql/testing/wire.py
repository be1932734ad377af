"""Test-file records ↔ topic bytes, for the source or sink that owns a topic.

The conversion itself is ``ksql.formats.testdata`` (test files give records as they appear on the
wire: a JSON document, a DELIMITED line, a KAFKA primitive); this module only picks the columns,
format and window of the topic's source. A topic without a source is read as JSON values and
KAFKA string keys.
"""

from __future__ import annotations

from typing import Any

from ksql.catalog import DataSource
from ksql.formats import testdata
from ksql.sqltypes import SqlType


def _value_side(src: DataSource | None) -> tuple[str, list[tuple[str, SqlType]], dict[str, Any]]:
    if src is None:
        return "JSON", [], {}
    return src.value_format.name, [(c.name, c.type) for c in src.schema.value], src.value_format.properties


def _key_side(src: DataSource | None) -> tuple[str, list[tuple[str, SqlType]], dict[str, Any]]:
    if src is None:
        return "KAFKA", [], {}
    return src.key_format.name, [(c.name, c.type) for c in src.schema.key], src.key_format.properties


def encode_value(value: Any, src: DataSource | None) -> bytes | None:
    fmt, cols, props = _value_side(src)
    return testdata.encode_test_value(value, cols, fmt, properties=props)


def decode_value(data: bytes | None, src: DataSource | None) -> Any:
    fmt, cols, props = _value_side(src)
    return testdata.decode_to_test_json(data, cols, fmt, properties=props)


def encode_key(key: Any, window: dict[str, Any] | None, src: DataSource | None) -> bytes | None:
    fmt, cols, props = _key_side(src)
    return testdata.encode_test_key(key, cols, fmt, properties=props, window=window)  # type: ignore[arg-type]


def decode_key(data: bytes | None, src: DataSource | None) -> tuple[Any, dict[str, Any] | None]:
    fmt, cols, props = _key_side(src)
    window = src.window if src is not None else None
    return testdata.decode_test_key(  # type: ignore[return-value]
        data, cols, fmt, properties=props,
        window_type=window.kind if window is not None else None,
        window_size=window.size_ms if window is not None else None,
    )
