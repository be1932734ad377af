"""Formats whose schemas live in a schema registry: AVRO, PROTOBUF, JSON_SR, and PROTOBUF_NOSR
(PROTOBUF payloads without the registry: the schema comes from the columns).

The shared machinery (wire header, serde, registry plumbing) is in ``ksql.formats.sr``; each format
has its own module.
"""

from ksql.formats.avro import AvroFormat
from ksql.formats.json_schema import JsonSchemaFormat
from ksql.formats.protobuf import ProtobufFormat, ProtobufNoSrFormat
from ksql.formats.sr import PhysicalSchema, RegistrySerde, SchemaRegistryFormat, schema_registry_error

__all__ = [
    "AvroFormat",
    "JsonSchemaFormat",
    "PhysicalSchema",
    "ProtobufFormat",
    "ProtobufNoSrFormat",
    "RegistrySerde",
    "SchemaRegistryFormat",
    "schema_registry_error",
]
