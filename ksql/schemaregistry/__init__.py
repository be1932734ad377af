"""Schema registry clients: one small interface, an in-process registry and a REST client.

Typical use::

    registry = InMemorySchemaRegistry()
    sid = registry.register("orders-value", RegisteredSchema('"string"'))
    registry.latest("orders-value")          # SchemaVersion(subject, version=1, id=sid, schema)
    registry.by_id(sid)                      # RegisteredSchema('"string"', 'AVRO')
"""

from ksql.schemaregistry.client import (
    AVRO,
    JSON,
    PROTOBUF,
    RegisteredSchema,
    SchemaReference,
    SchemaRegistryClient,
    SchemaRegistryError,
    SchemaVersion,
    registry_from_config,
    subject_name,
)
from ksql.schemaregistry.memory import InMemorySchemaRegistry, mock_registry
from ksql.schemaregistry.rest import RestSchemaRegistry

__all__ = [
    "AVRO",
    "JSON",
    "PROTOBUF",
    "InMemorySchemaRegistry",
    "RegisteredSchema",
    "RestSchemaRegistry",
    "SchemaReference",
    "SchemaRegistryClient",
    "SchemaRegistryError",
    "SchemaVersion",
    "mock_registry",
    "registry_from_config",
    "subject_name",
]
