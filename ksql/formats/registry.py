"""The table of format names; adding a format is adding a row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ksql.errors import KsqlException
from ksql.formats.base import Format
from ksql.formats.debezium import DebeziumFormat
from ksql.formats.delimited import DelimitedFormat
from ksql.formats.json import JsonFormat
from ksql.formats.kafka import KafkaFormat
from ksql.formats.none import NoneFormat
from ksql.formats.schema_registry import (
    AvroFormat,
    JsonSchemaFormat,
    ProtobufFormat,
    ProtobufNoSrFormat,
    SchemaRegistryFormat,
)

if TYPE_CHECKING:
    from ksql.schemaregistry.client import SchemaRegistryClient

FORMATS: dict[str, type[Format]] = {
    cls.name: cls
    for cls in (
        JsonFormat,
        DelimitedFormat,
        KafkaFormat,
        NoneFormat,
        AvroFormat,
        ProtobufFormat,
        ProtobufNoSrFormat,
        JsonSchemaFormat,
        DebeziumFormat,
    )
}


def format_class(name: str) -> type[Format]:
    """The class registered under ``name`` (any case); ``Unknown format: X`` otherwise."""
    cls = FORMATS.get(name.upper())
    if cls is None:
        raise KsqlException(f"Unknown format: {name.upper()}")
    return cls


def get_format(name: str, properties: Mapping[str, str] | None = None, *, topic: str | None = None,
               registry: SchemaRegistryClient | None = None) -> Format:
    """A format instance with validated properties (e.g. ``{"delimiter": "|"}``).

    Schema-registry formats use ``registry``; without one they raise
    :class:`~ksql.formats.base.SchemaRegistryNotConfigured` (``topic``, when known, goes into its
    message), except PROTOBUF_NOSR, which needs none.
    """
    cls = format_class(name)
    if issubclass(cls, SchemaRegistryFormat):
        return cls(properties, topic=topic, registry=registry)
    return cls(properties)
