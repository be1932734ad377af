"""An in-process schema registry with the REST registry's id and version rules.

Ids are global: registering a schema equal to one registered before (under any subject) reuses its id;
registering a schema that already is a version of the subject returns that version's id.
"""

from __future__ import annotations

import threading

from ksql.schemaregistry.client import (
    RegisteredSchema,
    SchemaRegistryClient,
    SchemaRegistryError,
    SchemaVersion,
)


class InMemorySchemaRegistry(SchemaRegistryClient):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subjects: dict[str, list[SchemaVersion]] = {}
        self._by_id: dict[int, RegisteredSchema] = {}
        self._ids: dict[tuple[str, str], int] = {}  # (type, canonical text) -> id
        self._next_id = 1

    def register(self, subject: str, schema: RegisteredSchema, *, schema_id: int | None = None) -> int:
        with self._lock:
            versions = self._subjects.setdefault(subject, [])
            key = (schema.schema_type, schema.canonical())
            for sv in versions:
                if (sv.schema.schema_type, sv.schema.canonical()) == key and schema_id in (None, sv.id):
                    return sv.id
            if schema_id is not None:
                existing = self._by_id.get(schema_id)
                if existing is not None and (existing.schema_type, existing.canonical()) != key:
                    raise SchemaRegistryError(
                        f"Overwrite new schema with id {schema_id} is not permitted.", 409, 42207)
                new_id = schema_id
            else:
                new_id = self._ids.get(key) or self._allocate()
            self._by_id[new_id] = schema
            self._ids.setdefault(key, new_id)
            number = versions[-1].version + 1 if versions else 1
            versions.append(SchemaVersion(subject, number, new_id, schema))
            return new_id

    def _allocate(self) -> int:
        while self._next_id in self._by_id:
            self._next_id += 1
        self._next_id += 1
        return self._next_id - 1

    def latest(self, subject: str) -> SchemaVersion | None:
        versions = self._subjects.get(subject)
        return versions[-1] if versions else None

    def version(self, subject: str, version: int) -> SchemaVersion | None:
        for sv in self._subjects.get(subject, ()):
            if sv.version == version:
                return sv
        return None

    def by_id(self, schema_id: int) -> RegisteredSchema | None:
        return self._by_id.get(schema_id)

    def subjects(self) -> list[str]:
        return sorted(s for s, v in self._subjects.items() if v)

    def versions(self, subject: str) -> list[int]:
        return [sv.version for sv in self._subjects.get(subject, ())]

    def delete_subject(self, subject: str) -> list[int]:
        with self._lock:
            return [sv.version for sv in self._subjects.pop(subject, [])]


_SCOPES: dict[str, InMemorySchemaRegistry] = {}


def mock_registry(scope: str) -> InMemorySchemaRegistry:
    """The process-wide registry of a ``mock://<scope>`` URL."""
    return _SCOPES.setdefault(scope, InMemorySchemaRegistry())
