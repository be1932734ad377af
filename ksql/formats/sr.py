"""What the schema-registry formats share (AVRO, PROTOBUF, JSON_SR; PROTOBUF_NOSR too, whose
schema comes from the columns alone).

Records carry Confluent's wire format: a zero magic byte, the writer schema's registry id (4 bytes,
big-endian), then the payload (PROTOBUF adds the message's index path). A serde writes with the
schema generated from its columns (registered under ``<topic>-key`` / ``<topic>-value`` on first
use) or, with a ``schemaId`` property, with that registered schema; it reads any record whose
writer schema the registry knows, coercing it to the columns.

Each format translates between its schemas and Connect schemas (``ksql.formats.connect``); this
module holds what the formats share. Without a registry (no ``ksql.schema.registry.url``) building a
registry format raises :class:`SchemaRegistryNotConfigured`, as ksqlDB does.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ksql.errors import KsqlException, SerializationError
from ksql.formats.base import (
    Column,
    Format,
    SchemaRegistryNotConfigured,
    Serde,
    SerdeFeature,
    Values,
    columns_str,
)
from ksql.formats.connect import CSchema, CType, columns_schema, from_ksql, struct_from_ksql, to_ksql, to_sql
from ksql.schemaregistry.client import RegisteredSchema, SchemaRegistryClient, subject_name
from ksql.sqltypes import struct

MAGIC_BYTE = 0

# format property names (ksqlDB's FormatInfo properties)
FULL_SCHEMA_NAME = "fullSchemaName"
SCHEMA_ID = "schemaId"


def schema_registry_error(name: str, topic: str | None = None) -> SchemaRegistryNotConfigured:
    if topic:
        return SchemaRegistryNotConfigured(
            f"Cannot create topic '{topic}' with format {name} without configuring "
            "'ksql.schema.registry.url'"
        )
    return SchemaRegistryNotConfigured(
        f"Format '{name}' needs a schema registry: set 'ksql.schema.registry.url' in the server "
        "configuration, or use JSON, DELIMITED or KAFKA instead."
    )


class PhysicalSchema(ABC):
    """A schema of one format, ready to encode and decode payloads (the bytes after the header)."""

    schema_type: ClassVar[str]

    def __init__(self, registered: RegisteredSchema, connect: CSchema, name: str | None) -> None:
        self.registered = registered
        self.connect = connect
        self.name = name  # the root record/message full name

    @abstractmethod
    def encode(self, value: Any) -> bytes: ...

    @abstractmethod
    def decode(self, payload: bytes) -> Any:
        """The Connect value of a payload; framing (e.g. PROTOBUF message indexes) included."""

    def prefix(self) -> bytes:
        """Bytes written between the schema id and the payload."""
        return b""

    def definitions(self) -> list[str]:
        """Full names of the schema's top-level definitions (several need a schema full name)."""
        return [self.name] if self.name else []


def wire_header(schema_id: int) -> bytes:
    return bytes([MAGIC_BYTE]) + schema_id.to_bytes(4, "big", signed=True)


def split_header(data: bytes) -> tuple[int, bytes]:
    if len(data) < 5 or data[0] != MAGIC_BYTE:
        raise SerializationError("Unknown magic byte!")
    return int.from_bytes(data[1:5], "big", signed=True), data[5:]


class SchemaRegistryFormat(Format):
    """Base of the formats that infer and register schemas."""

    schema_type: ClassVar[str]
    needs_registry: ClassVar[bool] = True
    supported_properties = frozenset({FULL_SCHEMA_NAME, SCHEMA_ID})

    def __init__(self, properties: Mapping[str, str] | None = None, *,
                 registry: SchemaRegistryClient | None = None, topic: str | None = None) -> None:
        super().__init__(properties)
        if self.needs_registry and registry is None:
            raise schema_registry_error(self.name, topic)
        self.registry = registry

    # -- schema translation (per format) -----------------------------------------------------
    @abstractmethod
    def physical_for(self, cs: CSchema, *, is_key: bool) -> PhysicalSchema:
        """The format's schema for a Connect schema built from columns (named per properties)."""

    @abstractmethod
    def parse(self, registered: RegisteredSchema) -> PhysicalSchema:
        """A registered schema (references resolved through the registry)."""

    def physical_for_columns(self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool) -> PhysicalSchema:
        # serdes are rebuilt often (an INSERT VALUES builds one per row): generated schemas are shared
        key = (type(self), tuple(sorted(self.properties.items())), tuple(columns), is_key, unwrapped)
        cached = _GENERATED.get(key)
        if cached is None:
            cached = self.physical_for(columns_schema(columns, unwrapped=unwrapped), is_key=is_key)
            if len(_GENERATED) > 4096:
                _GENERATED.clear()
            _GENERATED[key] = cached
        return cached

    def schema_id(self) -> int | None:
        v = self.properties.get(SCHEMA_ID)
        return None if v is None else int(v)

    def full_schema_name(self) -> str | None:
        v = self.properties.get(FULL_SCHEMA_NAME)
        return v.strip() if v and v.strip() else None

    def physical_by_id(self, schema_id: int) -> PhysicalSchema:
        return _parsed_by_id(self, schema_id)

    def with_registry(self, registry: SchemaRegistryClient | None) -> SchemaRegistryFormat:
        return type(self)(self.properties, registry=registry)

    # -- serdes ----------------------------------------------------------------------------
    def unwrapped_for(self, n_columns: int, *, is_key: bool, wrap_single: bool | None) -> bool:
        """Whether a serde of ``n_columns`` columns writes the single column's value bare."""
        return self._unwrapped(n_columns, is_key=is_key, wrap_single=wrap_single)

    def _unwrapped(self, n_columns: int, *, is_key: bool, wrap_single: bool | None) -> bool:
        if is_key:  # single keys are unwrapped where the format can unwrap
            return n_columns == 1 and SerdeFeature.UNWRAP_SINGLES in self.features
        return super()._unwrapped(n_columns, is_key=is_key, wrap_single=wrap_single)

    def _make_serde(self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str) -> Serde:
        return RegistrySerde(self, columns, is_key=is_key, unwrapped=unwrapped, topic=topic)

    def _check_columns(self, columns: Sequence[Column], *, is_key: bool) -> None:
        # translating checks names and types the format cannot carry
        if columns:
            self.physical_for_columns(columns, is_key=is_key, unwrapped=False)


_GENERATED: dict[tuple[Any, ...], PhysicalSchema] = {}
_PARSED: dict[tuple[str, type, RegisteredSchema, str], PhysicalSchema] = {}
_PARSED_LOCK = threading.Lock()


def _parsed_by_id(fmt: SchemaRegistryFormat, schema_id: int) -> PhysicalSchema:
    assert fmt.registry is not None
    registered = fmt.registry.by_id(schema_id)
    if registered is None:
        raise SerializationError(f"Schema not found; error code: 40403 (schema id {schema_id})")
    # parsed schemas are shared by content: ids mean different schemas in different registries
    key = (fmt.name, type(fmt), registered, fmt.full_schema_name() or "")
    cached = _PARSED.get(key)
    if cached is not None:
        return cached
    physical = fmt.parse(registered)
    with _PARSED_LOCK:
        if len(_PARSED) > 4096:
            _PARSED.clear()
        _PARSED[key] = physical
    return physical


class RegistrySerde(Serde):
    """Confluent wire format around a format's payloads."""

    def __init__(self, fmt: SchemaRegistryFormat, columns: Sequence[Column], *, is_key: bool,
                 unwrapped: bool, topic: str = "") -> None:
        super().__init__(columns, is_key=is_key, topic=topic)
        self.fmt = fmt
        self.unwrapped = unwrapped
        sid = fmt.schema_id()
        self.writer_id = sid
        self.writer = fmt.physical_by_id(sid) if sid is not None else fmt.physical_for_columns(
            columns, is_key=is_key, unwrapped=unwrapped)
        self._names = [n for n, _ in self.columns]
        self._readers: dict[int, PhysicalSchema] = {}
        # the columns' own schema: rows need no reshaping to be written, nor records to be read
        self._direct = sid is None and to_sql(self.writer.connect, upper=False) == (
            self.columns[0][1] if unwrapped else struct(self.columns))

    # -- writing ---------------------------------------------------------------------------
    def connect_value(self, values: Sequence[Any]) -> Any:
        if self._direct:
            return values[0] if self.unwrapped else dict(zip(self._names, values, strict=True))
        if self.unwrapped:
            return from_ksql(self.writer.connect, values[0])
        if self.writer.connect.type is not CType.STRUCT:
            raise SerializationError(f"Expected a record schema to write {columns_str(self.columns)}")
        return struct_from_ksql(self.writer.connect, dict(zip(self._names, values, strict=True)))

    def _id(self) -> int:
        if self.writer_id is None:
            registry = self.fmt.registry
            assert registry is not None
            subject = subject_name(self.topic, self.is_key)
            self.writer_id = registry.lookup(subject, self.writer.registered) or registry.register(
                subject, self.writer.registered)
        return self.writer_id

    def serialize(self, values: Sequence[Any] | None) -> bytes | None:
        if values is None:
            return None
        self._check_count(values)
        if self.unwrapped and values[0] is None:
            return None
        try:
            payload = self.writer.encode(self.connect_value(values))
            return wire_header(self._id()) + self.writer.prefix() + payload
        except SerializationError as e:
            raise SerializationError(f"Error serializing message to topic: {self.topic}. {e.message}") from e
        except (KsqlException, ValueError, TypeError, KeyError, AttributeError, OverflowError) as e:
            raise SerializationError(f"Error serializing message to topic: {self.topic}. {e}") from e

    # -- reading ---------------------------------------------------------------------------
    def reader(self, data: bytes) -> tuple[PhysicalSchema, bytes]:
        schema_id, payload = split_header(data)
        if schema_id == self.writer_id:
            return self.writer, payload
        physical = self._readers.get(schema_id)
        if physical is None:
            physical = self._readers[schema_id] = self.fmt.physical_by_id(schema_id)
        return physical, payload

    def deserialize(self, data: bytes | None) -> Values | None:
        if data is None:
            return None
        try:
            physical, payload = self.reader(data)
            return self.to_columns(physical.connect, physical.decode(payload))
        except SerializationError as e:
            raise SerializationError(
                f"Failed to deserialize {self.target} from topic: {self.topic}. {e.message}") from e
        except (KsqlException, ValueError, TypeError, KeyError, IndexError, EOFError) as e:
            raise SerializationError(
                f"Failed to deserialize {self.target} from topic: {self.topic}. {e}") from e

    def to_columns(self, cs: CSchema, value: Any) -> Values | None:
        if value is None:
            return None
        if self._direct and cs is self.writer.connect:
            return [value] if self.unwrapped else [value.get(n) for n in self._names]
        if self.unwrapped:
            return [to_ksql(self.columns[0][1], cs, value)]
        if cs.type is not CType.STRUCT:
            raise SerializationError(f"Cannot deserialize type {cs.type.value} as type struct for path: ")
        out: Values = []
        for name, t in self.columns:
            f = cs.field_named(name)
            out.append(None if f is None else to_ksql(t, f.schema, value.get(f.name), f"->{name}"))
        return out
