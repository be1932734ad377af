"""Prepared statements by kind, and the results their portals read.

===========  ==========================================================================
KsqlSelect   a SELECT over our streams and tables: a ksql pull query, run by the same
             engine path as ``/query`` (``prepare`` + ``TransientQueries.start``)
CatalogSelect  a query over the virtual pg_catalog / information_schema
Command      SET, SHOW, BEGIN... answered by the session
Sleep        ``SELECT pg_sleep(n)``: waits without blocking other connections
Empty        an empty query string
===========  ==========================================================================
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ksql.catalog import DataSource
from ksql.dialect import nodes
from ksql.engine.transient import QueryFailure, QueryStream, ResultRow, prepare
from ksql.errors import KsqlException, KsqlStatementException
from ksql.planner.planner import Planner
from ksql.schema import PSEUDO_COLUMNS, WINDOW_BOUNDS
from ksql.sqltypes import NULL, SqlType
from rest.pgwire import types as T
from rest.pgwire.catalog_query import CatalogStatement
from rest.pgwire.commands import COMMAND_WORDS, Command, parse_command
from rest.pgwire.errors import (
    FEATURE_NOT_SUPPORTED,
    INTERNAL_ERROR,
    SYNTAX_ERROR,
    UNDEFINED_TABLE,
    PgError,
    from_ksql,
    unsupported,
)
from rest.pgwire.protocol import Field
from rest.pgwire.sqltext import (
    KsqlTranslator,
    Token,
    dummy_literal,
    infer_params,
    is_catalog_relation,
    param_count,
    pg_name,
    relations,
)

if TYPE_CHECKING:
    from rest.pgwire.session import Session

Encoder = Callable[[Any], bytes]


@dataclass(frozen=True)
class Column:
    field: Field
    text: Encoder
    binary: Encoder


def ksql_column(name: str, t: SqlType) -> Column:
    ct = T.column_type(t)
    return Column(Field(pg_name(name), ct.oid, ct.length, ct.typmod), ct.text, ct.binary)


def pg_column(f: Field) -> Column:
    text = T.text_of(f.type_oid)
    return Column(f, lambda v: text(v).encode(), T.binary_of(f.type_oid))


class Result:
    """What a portal reads: its columns (None for a command), then its rows."""

    def __init__(self, columns: list[Column] | None, tag: str) -> None:
        self.columns = columns
        self.tag = tag  # the command tag; "SELECT" gets the row count appended

    async def rows(self) -> AsyncIterator[list[Any]]:
        return
        yield  # pragma: no cover

    async def close(self) -> None:
        pass


class ListResult(Result):
    def __init__(self, columns: list[Column] | None, tag: str, rows: list[Any]) -> None:
        super().__init__(columns, tag)
        self._rows = rows

    async def rows(self) -> AsyncIterator[list[Any]]:
        for r in self._rows:
            yield list(r)


class StreamResult(Result):
    """The rows of a running pull query."""

    def __init__(self, stream: QueryStream) -> None:
        super().__init__([ksql_column(n, t) for n, t in stream.columns], "SELECT")
        self.stream = stream

    async def rows(self) -> AsyncIterator[list[Any]]:
        async for ev in self.stream.events():
            if isinstance(ev, ResultRow):
                yield ev.columns
            elif isinstance(ev, QueryFailure):
                raise PgError(INTERNAL_ERROR, f"query failed: {ev.message}")
            else:
                return

    async def close(self) -> None:
        await self.stream.close()


class Prepared:
    """A parsed statement: its parameter types, result shape, and how to run it."""

    param_types: list[int]
    # a portal of this kind is described by starting it (its columns are known for sure then)
    describe_by_running = False

    def __init__(self) -> None:
        self.param_types = []

    async def describe(self, session: Session) -> list[Field] | None:
        return None

    async def start(self, session: Session, params: list[Any]) -> Result:
        raise NotImplementedError


class Empty(Prepared):
    async def start(self, session: Session, params: list[Any]) -> Result:
        return Result(None, "")


class CommandStatement(Prepared):
    def __init__(self, command: Command) -> None:
        super().__init__()
        self.command = command

    async def describe(self, session: Session) -> list[Field] | None:
        if self.command.verb != "SHOW":
            return None
        if self.command.name is None:
            return [Field("name", T.TEXT), Field("setting", T.TEXT), Field("description", T.TEXT)]
        return [Field(self.command.name, T.TEXT)]

    async def start(self, session: Session, params: list[Any]) -> Result:
        rows, tag = await session.run_command(self.command)
        fields = await self.describe(session)
        return ListResult([pg_column(f) for f in fields] if fields else None, tag, rows or [])


class Sleep(Prepared):
    def __init__(self, seconds: float | None, param: int | None) -> None:
        super().__init__()
        self.seconds = seconds
        self.param = param
        self.param_types = [T.FLOAT8] if param is not None else []

    async def describe(self, session: Session) -> list[Field] | None:
        return [Field("pg_sleep", T.VOID, 4)]

    async def start(self, session: Session, params: list[Any]) -> Result:
        seconds = float(params[0]) if self.param is not None else float(self.seconds or 0)
        await asyncio.sleep(max(0.0, seconds))
        return ListResult([pg_column(Field("pg_sleep", T.VOID, 4))], "SELECT", [[""]])


class Declare(Prepared):
    """``DECLARE name CURSOR [WITH HOLD] FOR query``: a named portal that FETCH reads."""

    def __init__(self, name: str, query: Prepared, hold: bool) -> None:
        super().__init__()
        self.name = name
        self.query = query
        self.hold = hold
        self.param_types = query.param_types

    async def start(self, session: Session, params: list[Any]) -> Result:
        await session.declare(self.name, self.query, params, self.hold)
        return Result(None, "DECLARE CURSOR")


class Fetch(Prepared):
    """``FETCH [FORWARD] [n | ALL] [FROM] name``, or ``MOVE`` (the same without the rows)."""

    describe_by_running = True

    def __init__(self, name: str, count: int | None, move: bool) -> None:
        super().__init__()
        self.name = name
        self.count = count  # None: all
        self.move = move

    async def describe(self, session: Session) -> list[Field] | None:
        if self.move:
            return None
        columns = await session.cursor_columns(self.name)
        return [c.field for c in columns] if columns is not None else None

    async def start(self, session: Session, params: list[Any]) -> Result:
        columns, rows = await session.fetch(self.name, self.count)
        if self.move or columns is None:
            return Result(None, f"MOVE {len(rows)}" if self.move else f"FETCH {len(rows)}")
        return ListResult(columns, "FETCH", rows)


class CatalogSelect(Prepared):
    describe_by_running = True

    def __init__(self, stmt: CatalogStatement) -> None:
        super().__init__()
        self.stmt = stmt
        self.param_types = stmt.param_types

    async def describe(self, session: Session) -> list[Field] | None:
        if self.stmt.fields is not None:
            return self.stmt.fields
        fields, _ = session.run_catalog(self.stmt, [None] * len(self.param_types))
        return fields

    async def start(self, session: Session, params: list[Any]) -> Result:
        fields, rows = session.run_catalog(self.stmt, params)
        return ListResult([pg_column(f) for f in fields], "SELECT", rows)


class KsqlSelect(Prepared):
    """A pull query: the statement is translated into ksql once its parameters are bound."""

    describe_by_running = True

    def __init__(self, session: Session, tokens: list[Token], declared: list[int]) -> None:
        super().__init__()
        self.tokens = tokens
        self.sources: list[DataSource] = []
        for parts in relations(tokens):
            if len(parts) > 1 and parts[-2].lower() != "public":
                raise PgError("3F000", f'schema "{parts[-2]}" does not exist',
                              hint="Streams and tables are in the schema public.")
            src = session.find_source(parts[-1])
            if src is None:
                raise PgError(UNDEFINED_TABLE, f'relation "{".".join(parts)}" does not exist')
            self.sources.append(src)
        count = param_count(tokens)
        inferred = infer_params(tokens, count, self._column_oid)
        declared = list(declared) + [0] * max(0, count - len(declared))
        self.param_types = [d or i for d, i in zip(declared, inferred, strict=False)]
        self.translator = KsqlTranslator(session.resolve_name)
        self._fields: list[Field] | None = None

    def _column_oid(self, parts: list[str]) -> int | None:
        name = parts[-1]
        for cand in (name, name.upper()):
            if cand in PSEUDO_COLUMNS or cand in WINDOW_BOUNDS:
                return T.INT8
            for src in self.sources:
                col = src.schema.find(cand)
                if col is not None:
                    oid = T.column_type(col.type).oid
                    return None if oid == T.JSONB else oid
        return None

    async def describe(self, session: Session) -> list[Field] | None:
        if self._fields is None:
            text = self.translator.translate(self.tokens, [dummy_literal(o) for o in self.param_types])
            self._fields = [c.field for c in session.plan_columns(text)]
        return self._fields

    async def start(self, session: Session, params: list[Any]) -> Result:
        text = self.translator.translate(self.tokens, params)
        result = StreamResult(await session.run_pull(text))
        if self._fields is not None and [f.type_oid for f in self._fields] != [
                c.field.type_oid for c in result.columns or []]:
            await result.close()
            raise PgError(FEATURE_NOT_SUPPORTED, "cached plan must not change result type",
                          hint="The source changed since the statement was prepared: prepare it again.")
        return result


_NOT_HERE = {"INSERT", "CREATE", "DROP", "ALTER", "UPDATE", "DELETE", "TRUNCATE", "GRANT", "REVOKE", "COPY",
             "LISTEN", "NOTIFY", "DO", "CALL", "PREPARE", "EXECUTE", "LOCK", "VACUUM",
             "ANALYZE", "EXPLAIN", "COMMENT", "SAVEPOINT", "RELEASE", "REFRESH", "CLUSTER", "REINDEX",
             "CHECKPOINT", "LOAD", "SECURITY", "IMPORT", "MERGE", "TERMINATE", "PAUSE", "RESUME", "DESCRIBE",
             "LIST", "PRINT", "RUN", "DEFINE", "UNDEFINE", "ASSERT"}
_SELECTS = {"SELECT", "WITH", "VALUES", "TABLE"}


def prepare_statement(session: Session, text: str, tokens: list[Token], declared: list[int]) -> Prepared:
    if not tokens:
        return Empty()
    first = tokens[0].upper
    if first in COMMAND_WORDS:
        if param_count(tokens):
            raise PgError(SYNTAX_ERROR, f"{first} does not take parameters")
        return CommandStatement(parse_command(tokens))
    if first in _SELECTS or tokens[0].is_op("("):
        sleep = _sleep(tokens)
        if sleep is not None:
            return sleep
        rels = relations(tokens)
        if first == "SELECT" and any(not is_catalog_relation(r, lambda n: session.find_source(n) is not None)
                                     for r in rels):
            return KsqlSelect(session, tokens, declared)
        return CatalogSelect(session.prepare_catalog(text, declared))
    if first == "DECLARE":
        return _declare(session, text, tokens, declared)
    if first in ("FETCH", "MOVE"):
        return _fetch(tokens)
    if first in _NOT_HERE:
        raise unsupported(
            f"{first} is not supported over the PostgreSQL protocol",
            hint="This endpoint serves pull queries (SELECT) on streams and tables; send other statements "
                 "to the REST API (POST /ksql) and push queries to /query-stream.")
    raise PgError(SYNTAX_ERROR, f'syntax error at or near "{tokens[0].text}"', position=tokens[0].pos + 1)


def _declare(session: Session, text: str, tokens: list[Token], declared: list[int]) -> Declare:
    words = [t.upper for t in tokens]
    if len(tokens) < 4 or not tokens[1].is_name or "CURSOR" not in words or "FOR" not in words:
        raise PgError(SYNTAX_ERROR, "syntax error: DECLARE name [NO SCROLL] CURSOR [WITH HOLD] FOR query")
    options = words[2:words.index("CURSOR")]
    if "BINARY" in options or "SCROLL" in options and "NO" not in options:
        raise unsupported("binary and scrollable cursors are not supported")
    body = tokens[words.index("FOR") + 1:]
    hold = "WITH" in words[words.index("CURSOR"):words.index("FOR")]
    start = body[0].pos - tokens[0].pos if body else len(text)
    return Declare(tokens[1].ident, prepare_statement(session, text[start:], body, declared), hold)


def _fetch(tokens: list[Token]) -> Fetch:
    words = [t.upper for t in tokens]
    move = words[0] == "MOVE"
    rest = tokens[1:]
    if rest and rest[0].upper in ("FORWARD", "NEXT"):
        count: int | None = 1 if rest[0].upper == "NEXT" else None
        rest = rest[1:]
        if rest and rest[0].upper == "ALL":
            rest = rest[1:]
        elif rest and rest[0].kind == "number":
            count, rest = int(rest[0].text), rest[1:]
        elif words[1] == "FORWARD":
            count = 1
    elif rest and rest[0].upper == "ALL":
        count, rest = None, rest[1:]
    elif rest and rest[0].kind == "number":
        count, rest = int(rest[0].text), rest[1:]
    elif rest and rest[0].upper in ("PRIOR", "FIRST", "LAST", "ABSOLUTE", "RELATIVE", "BACKWARD"):
        raise unsupported(f"FETCH {rest[0].upper}: cursors only move forward")
    else:
        count = 1
    if rest and rest[0].upper in ("FROM", "IN"):
        rest = rest[1:]
    if len(rest) != 1 or not rest[0].is_name:
        raise PgError(SYNTAX_ERROR, "syntax error: FETCH [FORWARD] [n | ALL] [FROM] cursor")
    return Fetch(rest[0].ident, count, move)


def _sleep(tokens: list[Token]) -> Sleep | None:
    """``SELECT [pg_catalog.]pg_sleep(n)``."""
    words = tokens[1:]
    if len(words) >= 2 and words[0].upper == "PG_CATALOG" and words[1].is_op("."):
        words = words[2:]
    if len(words) != 4 or words[0].upper != "PG_SLEEP" or not words[1].is_op("(") or not words[3].is_op(")"):
        return None
    arg = words[2]
    if arg.kind == "number":
        return Sleep(float(arg.text), None)
    if arg.kind == "param" and arg.text == "$1":
        return Sleep(None, 0)
    return None


# -- the engine ----------------------------------------------------------------------------------
def check_query(stmt: nodes.Statement, text: str) -> nodes.QueryStatement:
    if not isinstance(stmt, nodes.QueryStatement):
        raise unsupported(f"statement not supported over the PostgreSQL protocol: {text}")
    if stmt.query.emit is not None:
        raise unsupported("push queries (EMIT CHANGES) are not supported over the PostgreSQL protocol",
                          hint="Use the REST API (/query-stream) for push queries.")
    return stmt


def parse_pull(text: str, engine_config: Any) -> nodes.QueryStatement:
    try:
        return check_query(prepare(text, engine_config, {}), text)
    except KsqlStatementException as e:
        err = from_ksql(e, None)
        err.detail = f"ksql statement: {text}"
        raise err from None


def plan_columns(engine: Any, text: str) -> list[Column]:
    """The columns a pull query will return, from its plan (nothing is read)."""
    stmt = parse_pull(text, engine.config)
    try:
        planner = Planner(engine.metastore, engine.serdes.with_config(engine.config), lambda m: None,
                          engine.config.props)
        plan = planner.plan(stmt.query, None, False)
    except KsqlException as e:
        raise from_ksql(e) from None
    names = list(plan.projection) or [c.name for c in plan.schema.columns]
    out = []
    for n in names:
        col = plan.schema.find(n)
        out.append(ksql_column(n, col.type if col is not None else NULL))
    return out
