"""The schema registry interface: subjects hold numbered versions of schemas, every distinct schema
has a global id.

Two implementations: :class:`~ksql.schemaregistry.memory.InMemorySchemaRegistry` (tests, and
``mock://`` URLs) and :class:`~ksql.schemaregistry.rest.RestSchemaRegistry` (Confluent Schema
Registry's REST API). :func:`registry_from_config` picks one from ``ksql.schema.registry.url``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ksql.errors import KsqlException

AVRO = "AVRO"
PROTOBUF = "PROTOBUF"
JSON = "JSON"


@dataclass(frozen=True)
class SchemaReference:
    """An import of a PROTOBUF schema (``name`` as imported) resolved to a subject's version."""

    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class RegisteredSchema:
    """A schema as the registry stores it: its text, type and references."""

    schema: str
    schema_type: str = AVRO
    references: tuple[SchemaReference, ...] = ()

    def canonical(self) -> str:
        """The text two equal schemas share (JSON schemas compare as parsed documents)."""
        if self.schema_type in (AVRO, JSON):
            try:
                return json.dumps(json.loads(self.schema), sort_keys=True, separators=(",", ":"))
            except ValueError:
                return self.schema
        return self.schema.strip()


@dataclass(frozen=True)
class SchemaVersion:
    subject: str
    version: int
    id: int
    schema: RegisteredSchema


class SchemaRegistryError(KsqlException):
    """A registry request failed; ``status`` is the HTTP status (404: no such subject/version/id)."""

    def __init__(self, message: str, status: int = 500, error_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class SchemaRegistryClient(ABC):
    """What the engine needs from a schema registry."""

    @abstractmethod
    def register(self, subject: str, schema: RegisteredSchema, *, schema_id: int | None = None) -> int:
        """Add ``schema`` as the subject's newest version (no-op if it already is a version);
        returns its id. ``schema_id`` asks for a specific id (test fixtures)."""

    @abstractmethod
    def latest(self, subject: str) -> SchemaVersion | None:
        """The subject's newest version; ``None`` if the subject does not exist."""

    @abstractmethod
    def version(self, subject: str, version: int) -> SchemaVersion | None: ...

    @abstractmethod
    def by_id(self, schema_id: int) -> RegisteredSchema | None: ...

    @abstractmethod
    def subjects(self) -> list[str]: ...

    @abstractmethod
    def versions(self, subject: str) -> list[int]: ...

    @abstractmethod
    def delete_subject(self, subject: str) -> list[int]:
        """Remove the subject; returns the versions it had ([] if it did not exist)."""

    def lookup(self, subject: str, schema: RegisteredSchema) -> int | None:
        """The id of ``schema`` if it is one of the subject's versions."""
        want = schema.canonical()
        for v in reversed(self.versions(subject)):
            sv = self.version(subject, v)
            if sv is not None and sv.schema.canonical() == want:
                return sv.id
        return None

    def subject_exists(self, subject: str) -> bool:
        return self.latest(subject) is not None

    def referenced_texts(self, schema: RegisteredSchema) -> dict[str, str]:
        """Texts of the schemas ``schema`` imports, by import name (transitively)."""
        out: dict[str, str] = {}
        todo = list(schema.references)
        while todo:
            ref = todo.pop()
            if ref.name in out:
                continue
            sv = self.version(ref.subject, ref.version)
            if sv is None:
                raise SchemaRegistryError(
                    f"Schema reference {ref.name} (subject {ref.subject}, version {ref.version}) not found",
                    404)
            out[ref.name] = sv.schema.schema
            todo.extend(sv.schema.references)
        return out


def subject_name(topic: str, is_key: bool) -> str:
    """Confluent's TopicNameStrategy: ``<topic>-key`` / ``<topic>-value``."""
    return f"{topic}-{'key' if is_key else 'value'}"


def registry_from_config(config: Any) -> SchemaRegistryClient | None:
    """The client for ``ksql.schema.registry.url`` (``None`` when not set). ``mock://<scope>`` URLs
    name in-process registries shared by everything using the same scope, as Confluent's serializers
    do."""
    url = str(config.get("ksql.schema.registry.url") or "").strip()
    if not url:
        return None
    if url.startswith("mock://"):
        from ksql.schemaregistry.memory import mock_registry

        return mock_registry(url[len("mock://"):])
    from ksql.schemaregistry.rest import RestSchemaRegistry

    auth = config.get("ksql.schema.registry.basic.auth.user.info")
    return RestSchemaRegistry(url, user_info=str(auth) if auth else None)
