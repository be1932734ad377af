"""KAFKA: a single primitive column written with Kafka's own serializers: INTEGER as 4 big-endian
bytes, BIGINT as 8, DOUBLE as an 8-byte IEEE 754 double, STRING as UTF-8, BYTES as they are. A null
column is a null record."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ksql.errors import KsqlException, SerializationError
from ksql.formats.base import Column, Format, Serde, SerdeFeature, Values, columns_str
from ksql.sqltypes import BaseType

_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_DOUBLE = struct.Struct(">d")


def _fixed(codec: struct.Struct, deserializer: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    def decode(data: bytes) -> Any:
        if len(data) != codec.size:
            raise SerializationError(f"Size of data received by {deserializer} is not {codec.size}")
        return codec.unpack(data)[0]

    return codec.pack, decode


def _decode_string(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _encode_string(v: Any) -> bytes:
    text = v if type(v) is str else str(v)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


# Column type -> (serialize, deserialize) of the one value.
CODECS: dict[BaseType, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    BaseType.INTEGER: _fixed(_INT, "IntegerDeserializer"),
    BaseType.BIGINT: _fixed(_LONG, "LongDeserializer"),
    BaseType.DOUBLE: _fixed(_DOUBLE, "DoubleDeserializer"),
    BaseType.STRING: (_encode_string, _decode_string),
    BaseType.BYTES: (bytes, bytes),
}


class KafkaSerde(Serde):
    def __init__(self, columns: Sequence[Column], *, is_key: bool, topic: str = "") -> None:
        super().__init__(columns, is_key=is_key, topic=topic)
        self._encode, self._decode = CODECS[self.columns[0][1].base]

    def serialize(self, values: Sequence[Any] | None) -> bytes | None:
        if values is None:
            return None
        self._check_count(values)
        v = values[0]
        if v is None:
            return None
        try:
            return self._encode(v)
        except (struct.error, TypeError, ValueError) as e:
            raise SerializationError(f"Error serializing KAFKA message to topic: {self.topic}. {e}") from e

    def deserialize(self, data: bytes | None) -> Values | None:
        if data is None:
            return None
        try:
            return [self._decode(data)]
        except SerializationError as e:
            raise SerializationError(f"Error deserializing KAFKA message from topic: {self.topic}") from e


class KafkaFormat(Format):
    name: ClassVar[str] = "KAFKA"
    features = frozenset({SerdeFeature.UNWRAP_SINGLES})

    def _check_columns(self, columns: Sequence[Column], *, is_key: bool) -> None:
        if not columns:
            return
        if len(columns) != 1:
            raise KsqlException(
                f"The '{self.name}' format only supports a single field. Got: {columns_str(columns, is_key)}"
            )
        t = columns[0][1]
        if t.base not in CODECS:
            raise KsqlException(f"The '{self.name}' format does not support type '{t.base.value}'")

    def _make_serde(self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str) -> Serde:
        return KafkaSerde(columns, is_key=is_key, topic=topic)
