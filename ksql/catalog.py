"""The metastore: sources (streams and tables), custom types and persistent queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ksql.dialect.nodes import TypeRef
from ksql.errors import KsqlException
from ksql.schema import LogicalSchema
from ksql.sqltypes import BaseType, SqlType


@dataclass
class FormatInfo:
    name: str  # JSON | DELIMITED | KAFKA | NONE | ...
    properties: dict[str, Any] = field(default_factory=dict)  # e.g. delimiter
    wrap_single: bool | None = None  # value: WRAP_SINGLE_VALUE; key: unwrapped unless a struct


@dataclass
class WindowInfo:
    kind: str  # TUMBLING | HOPPING | SESSION
    size_ms: int | None = None


@dataclass
class DataSource:
    name: str
    kind: str  # STREAM | TABLE
    schema: LogicalSchema
    topic: str
    key_format: FormatInfo
    value_format: FormatInfo
    sql: str
    timestamp_column: str | None = None
    timestamp_format: str | None = None
    window: WindowInfo | None = None
    is_source: bool = False  # CREATE SOURCE ...: read-only
    created_by: str | None = None  # id of the CSAS/CTAS query that writes it

    @property
    def is_table(self) -> bool:
        return self.kind == "TABLE"


@dataclass
class PersistentQueryInfo:
    id: str
    sql: str
    sink: str | None
    sink_topic: str | None
    sources: list[str]
    kind: str  # CSAS | CTAS | INSERT | CST
    state: str = "RUNNING"


class MetaStore:
    def __init__(self) -> None:
        self.sources: dict[str, DataSource] = {}
        self.types: dict[str, SqlType] = {}
        self.queries: dict[str, PersistentQueryInfo] = {}

    def copy(self) -> MetaStore:
        other = MetaStore()
        other.sources = dict(self.sources)
        other.types = dict(self.types)
        other.queries = dict(self.queries)
        return other

    def get_source(self, name: str) -> DataSource | None:
        return self.sources.get(name)

    def require_source(self, name: str) -> DataSource:
        s = self.sources.get(name)
        if s is None:
            raise KsqlException(f"{name} does not exist.")
        return s

    def resolve_type(self, t: SqlType | TypeRef) -> SqlType:
        if isinstance(t, TypeRef):
            found = self.types.get(t.name.upper()) or self.types.get(t.name)
            if found is None:
                raise KsqlException(f"Unknown type: {t.name}")
            return found
        if t.base is BaseType.ARRAY:
            return SqlType(BaseType.ARRAY, element=self.resolve_type(t.element))  # type: ignore[arg-type]
        if t.base is BaseType.MAP:
            return SqlType(BaseType.MAP, key=self.resolve_type(t.key), element=self.resolve_type(t.element))  # type: ignore[arg-type]
        if t.base is BaseType.STRUCT:
            return SqlType(BaseType.STRUCT, fields=tuple((n, self.resolve_type(ft)) for n, ft in t.fields))
        return t

    def readers_of(self, name: str) -> list[str]:
        return [q.id for q in self.queries.values() if name in q.sources]

    def writers_of(self, name: str) -> list[str]:
        return [q.id for q in self.queries.values() if q.sink == name]
