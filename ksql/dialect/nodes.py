"""Statement nodes of the ksql dialect.

Scalar expressions stay sqlglot expressions (``exp.Column``, ``exp.Add``, ``exp.Anonymous``...), with a
few ksql-specific nodes defined here (``Dereference``, ``KsqlCast``, ``KsqlLambda``). Identifiers
are already normalized by the parser: unquoted names upper-cased, back-quoted names kept as written.

Statements are plain dataclasses: the planner and engine read their fields directly. Every statement
carries ``text``: the statement exactly as the user wrote it, with its trailing ``;``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from ksql.sqltypes import SqlType

# --------------------------------------------------------------------------------------------
# Types as written: a SqlType, possibly containing references to custom types (CREATE TYPE).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeRef:
    """A reference to a custom type registered with CREATE TYPE (resolved by the catalog)."""

    name: str

    def __str__(self) -> str:
        return self.name


# --------------------------------------------------------------------------------------------
# Expression nodes
# --------------------------------------------------------------------------------------------


class Dereference(exp.Expression):
    """``expr->FIELD``: struct field access. ``field`` is a normalized str."""

    arg_types = {"this": True, "field": True}


class KsqlCast(exp.Expression):
    """``CAST(expr AS type)``. ``to`` is a :class:`SqlType` (or :class:`TypeRef`)."""

    arg_types = {"this": True, "to": True}


class KsqlLambda(exp.Expression):
    """``x => body`` or ``(x, y) => body``. ``params`` is a list of normalized str names."""

    arg_types = {"params": True, "this": True}


class IntervalUnitExpr(exp.Expression):
    """A bare time unit used as a function argument, e.g. ``TIMESTAMPADD(SECONDS, 5, ts)``.
    ``this`` is the normalized unit name (``SECONDS``)."""

    arg_types = {"this": True}


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


@dataclass
class SelectItem:
    """One projection. ``expr`` is None for ``*``; ``star_qualifier`` names ``A`` in ``A.*``.
    ``struct_all`` marks ``expr->*``: every field of the struct ``expr`` as its own column."""

    expr: exp.Expression | None
    alias: str | None = None
    star_qualifier: str | None = None
    struct_all: bool = False


@dataclass
class SourceRef:
    """A source in FROM or JOIN: ``name`` normalized; ``alias`` normalized or None."""

    name: str
    alias: str | None = None


@dataclass
class Within:
    """``WITHIN n UNIT`` or ``WITHIN (before UNIT, after UNIT)``, plus optional GRACE PERIOD (ms)."""

    before_ms: int
    after_ms: int
    grace_ms: int | None = None


@dataclass
class JoinClause:
    kind: str  # INNER | LEFT | RIGHT | FULL
    source: SourceRef
    on: exp.Expression
    within: Within | None = None


@dataclass
class WindowSpec:
    kind: str  # TUMBLING | HOPPING | SESSION
    size_ms: int | None = None  # TUMBLING/HOPPING
    advance_ms: int | None = None  # HOPPING
    gap_ms: int | None = None  # SESSION
    grace_ms: int | None = None
    retention_ms: int | None = None


@dataclass
class Query:
    select: list[SelectItem]
    from_: SourceRef | None
    joins: list[JoinClause] = field(default_factory=list)
    window: WindowSpec | None = None
    where: exp.Expression | None = None
    group_by: list[exp.Expression] = field(default_factory=list)
    partition_by: list[exp.Expression] = field(default_factory=list)
    having: exp.Expression | None = None
    emit: str | None = None  # CHANGES | FINAL | None
    limit: int | None = None
    # ``SELECT ... FROM EXPLODE(x)``-style table-function source: not supported, parse error.


# --------------------------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------------------------


@dataclass
class Statement:
    text: str = field(default="", kw_only=True)


@dataclass
class ColumnDef:
    name: str
    type: SqlType | TypeRef
    key: bool = False  # KEY (streams) or PRIMARY KEY (tables)
    primary: bool = False  # PRIMARY KEY was written
    headers: bool = False  # HEADERS: all headers as ARRAY<STRUCT<KEY STRING, VALUE BYTES>>
    header_key: str | None = None  # HEADER('k'): one header's bytes


@dataclass
class CreateSource(Statement):
    kind: str  # STREAM | TABLE
    name: str
    columns: list[ColumnDef]
    # WITH properties, names upper-cased, values as Python literals (str, int, float, bool).
    properties: dict[str, Any]
    or_replace: bool = False
    if_not_exists: bool = False
    source: bool = False  # CREATE SOURCE STREAM/TABLE (read-only)


@dataclass
class CreateAsSelect(Statement):
    kind: str  # STREAM | TABLE
    name: str
    query: Query
    properties: dict[str, Any]
    or_replace: bool = False
    if_not_exists: bool = False


@dataclass
class InsertInto(Statement):
    target: str
    query: Query
    properties: dict[str, Any] = field(default_factory=dict)
    target_position: tuple[int, int] | None = None  # (line, column) of the target's name


@dataclass
class InsertValues(Statement):
    target: str
    columns: list[str] | None  # None when no column list was written
    values: list[exp.Expression]


@dataclass
class QueryStatement(Statement):
    """A bare SELECT (push or pull query)."""

    query: Query


@dataclass
class Show(Statement):
    what: str  # STREAMS|TABLES|QUERIES|TOPICS|PROPERTIES|FUNCTIONS|TYPES|VARIABLES|CONNECTORS
    extended: bool = False
    all: bool = False  # SHOW ALL TOPICS


@dataclass
class Describe(Statement):
    name: str | None  # None for DESCRIBE STREAMS / DESCRIBE TABLES
    what: str = "SOURCE"  # SOURCE | FUNCTION | STREAMS | TABLES | CONNECTOR
    extended: bool = False


@dataclass
class Explain(Statement):
    query_id: str | None = None
    statement: Statement | None = None


@dataclass
class Drop(Statement):
    kind: str  # STREAM | TABLE | TYPE
    name: str
    if_exists: bool = False
    delete_topic: bool = False


@dataclass
class Terminate(Statement):
    query_id: str | None  # None means ALL


@dataclass
class SetProperty(Statement):
    name: str
    value: str


@dataclass
class UnsetProperty(Statement):
    name: str


@dataclass
class Define(Statement):
    name: str
    value: str


@dataclass
class Undefine(Statement):
    name: str


@dataclass
class CreateType(Statement):
    name: str
    type: SqlType | TypeRef
    if_not_exists: bool = False


@dataclass
class AlterSource(Statement):
    """``ALTER STREAM|TABLE name ADD [COLUMN] c type, ...``: value columns to append."""

    kind: str  # STREAM | TABLE
    name: str
    columns: list[ColumnDef]


@dataclass
class Print(Statement):
    topic: str  # case preserved
    from_beginning: bool = False
    interval: int | None = None
    limit: int | None = None


@dataclass
class CreateConnector(Statement):
    """``CREATE SOURCE|SINK CONNECTOR``: forwarded to Kafka Connect; property names keep their case."""

    kind: str  # SOURCE | SINK
    name: str
    properties: dict[str, Any] = field(default_factory=dict)
    if_not_exists: bool = False


@dataclass
class DropConnector(Statement):
    name: str
    if_exists: bool = False


@dataclass
class Assert(Statement):
    """ASSERT TOPIC/SCHEMA (accepted; the engine answers existence checks)."""

    what: str  # TOPIC | SCHEMA
    name: str  # topic name, or schema subject ("" when only an ID was given); case preserved
    exists: bool = True
    properties: dict[str, Any] = field(default_factory=dict)
    schema_id: Any = None  # ASSERT SCHEMA ... ID literal
    timeout_ms: int | None = None
