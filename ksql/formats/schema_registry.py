"""Formats whose schemas live in a schema registry (or, for PROTOBUF_NOSR, in the topic's config).

Their names are known, so statements naming them fail with a message saying what is missing rather
than ``Unknown format``; their features are known, so WRAP_SINGLE_VALUE checks give ksqlDB's
messages. Building one raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, NoReturn

from ksql.errors import KsqlException
from ksql.formats.base import Column, Format, SchemaRegistryNotConfigured, SerdeFeature

_BOTH = frozenset({SerdeFeature.WRAP_SINGLES, SerdeFeature.UNWRAP_SINGLES})
_WRAP_ONLY = frozenset({SerdeFeature.WRAP_SINGLES})
_ALTERNATIVES = "Use JSON, DELIMITED or KAFKA instead."


def schema_registry_error(name: str, topic: str | None = None) -> SchemaRegistryNotConfigured:
    if topic:
        return SchemaRegistryNotConfigured(
            f"Cannot create topic '{topic}' with format {name} without configuring "
            f"'ksql.schema.registry.url'. This server does not support a schema registry yet. {_ALTERNATIVES}"
        )
    return SchemaRegistryNotConfigured(
        f"Format '{name}' needs a schema registry, which this server does not support yet "
        f"('ksql.schema.registry.url' is not configured). {_ALTERNATIVES}"
    )


class SchemaRegistryFormat(Format):
    needs_registry: ClassVar[bool] = True

    def __init__(self, properties: Mapping[str, str] | None = None, *, topic: str | None = None) -> None:
        if self.needs_registry:
            raise schema_registry_error(self.name, topic)
        raise KsqlException(f"Format '{self.name}' is not supported by this server yet. {_ALTERNATIVES}")

    def _make_serde(
        self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str
    ) -> NoReturn:
        raise AssertionError("unreachable: instances cannot be built")  # pragma: no cover


class AvroFormat(SchemaRegistryFormat):
    name: ClassVar[str] = "AVRO"
    features = _BOTH


class ProtobufFormat(SchemaRegistryFormat):
    name: ClassVar[str] = "PROTOBUF"
    features = _WRAP_ONLY


class JsonSchemaFormat(SchemaRegistryFormat):
    name: ClassVar[str] = "JSON_SR"
    features = _BOTH


class ProtobufNoSrFormat(SchemaRegistryFormat):
    name: ClassVar[str] = "PROTOBUF_NOSR"
    features = _WRAP_ONLY
    needs_registry = False
