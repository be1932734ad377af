"""A virtual ``pg_catalog`` and ``information_schema`` over our metastore, for the introspection
queries that drivers, ``psql`` and BI tools send.

The catalog tables live in an in-memory SQLite database (attached as schemas ``pg_catalog`` and
``information_schema``), rebuilt when the set of sources changes. A query is parsed as PostgreSQL
by sqlglot, rewritten where SQLite differs (casts to reg* types, ``= ANY(array)``, regex operators,
array aggregates, PostgreSQL's system functions) and run there; its result columns get PostgreSQL
types from the catalog's column types and the expressions' shapes.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from ksql.catalog import DataSource
from rest.pgwire import types as T
from rest.pgwire.catalog_query import CatalogStatement, translate
from rest.pgwire.catalog_tables import (
    DATABASE_OID,
    INFORMATION_SCHEMA_NS,
    OWNER_OID,
    PG_CATALOG_NS,
    PUBLIC_NS,
    SCHEMAS,
    VERSION_TEXT,
    Relation,
    SessionInfo,
    affinity,
    build_relations,
    catalog_rows,
    insert_rows,
    sqlite_value,
)
from rest.pgwire.errors import SYNTAX_ERROR, UNDEFINED_FUNCTION, UNDEFINED_TABLE, PgError
from rest.pgwire.protocol import Field


# -- functions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Function:
    fn: Callable[..., Any]
    nargs: int  # -1: any number
    returns: int


class Functions:
    """PostgreSQL's system functions as SQLite user functions, answered for the session asking."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        c = catalog
        s = lambda: catalog.session  # noqa: E731
        true = lambda *a: 1  # noqa: E731
        none = lambda *a: None  # noqa: E731
        self.table: dict[str, Function] = {
            "pg_table_is_visible": Function(lambda oid: 1 if oid is not None else None, 1, T.BOOL),
            "pg_type_is_visible": Function(true, 1, T.BOOL),
            "pg_function_is_visible": Function(true, 1, T.BOOL),
            "pg_collation_is_visible": Function(true, 1, T.BOOL),
            "pg_opclass_is_visible": Function(true, 1, T.BOOL),
            "pg_operator_is_visible": Function(true, 1, T.BOOL),
            "pg_conversion_is_visible": Function(true, 1, T.BOOL),
            "pg_get_userbyid": Function(lambda oid: s().user if oid == OWNER_OID else f"unknown (OID={oid})",
                                        1, T.NAME),
            "format_type": Function(lambda oid, mod: None if oid is None else (
                T.format_type(int(oid), -1 if mod is None else int(mod)) or "???"), 2, T.TEXT),
            "pg_get_expr": Function(none, -1, T.TEXT),
            "pg_get_indexdef": Function(none, -1, T.TEXT),
            "pg_get_constraintdef": Function(none, -1, T.TEXT),
            "pg_get_viewdef": Function(none, -1, T.TEXT),
            "pg_get_triggerdef": Function(none, -1, T.TEXT),
            "pg_get_ruledef": Function(none, -1, T.TEXT),
            "pg_get_functiondef": Function(none, -1, T.TEXT),
            "pg_get_function_arguments": Function(none, 1, T.TEXT),
            "pg_get_function_identity_arguments": Function(none, 1, T.TEXT),
            "pg_get_function_result": Function(none, 1, T.TEXT),
            "pg_get_partkeydef": Function(none, 1, T.TEXT),
            "pg_get_serial_sequence": Function(none, 2, T.TEXT),
            "pg_get_statisticsobjdef_columns": Function(none, 1, T.TEXT),
            "pg_relation_is_publishable": Function(lambda *a: 0, 1, T.BOOL),
            "obj_description": Function(c.describe, -1, T.TEXT),
            "col_description": Function(none, 2, T.TEXT),
            "shobj_description": Function(none, 2, T.TEXT),
            "current_database": Function(lambda: s().database, 0, T.NAME),
            "current_catalog": Function(lambda: s().database, 0, T.NAME),
            "current_schema": Function(lambda: "public", 0, T.NAME),
            "current_schemas": Function(lambda implicit: orjson.dumps(
                ["pg_catalog", "public"] if implicit else ["public"]).decode(), 1, 1003),
            "current_user": Function(lambda: s().user, 0, T.NAME),
            "session_user": Function(lambda: s().user, 0, T.NAME),
            "current_role": Function(lambda: s().user, 0, T.NAME),
            "user": Function(lambda: s().user, 0, T.NAME),
            "version": Function(lambda: VERSION_TEXT, 0, T.TEXT),
            "pg_backend_pid": Function(lambda: s().pid, 0, T.INT4),
            "current_setting": Function(self._current_setting, -1, T.TEXT),
            "set_config": Function(self._set_config, 3, T.TEXT),
            "pg_advisory_unlock_all": Function(lambda: "", 0, T.VOID),
            "has_table_privilege": Function(true, -1, T.BOOL),
            "has_column_privilege": Function(true, -1, T.BOOL),
            "has_any_column_privilege": Function(true, -1, T.BOOL),
            "has_schema_privilege": Function(true, -1, T.BOOL),
            "has_database_privilege": Function(true, -1, T.BOOL),
            "has_function_privilege": Function(true, -1, T.BOOL),
            "has_type_privilege": Function(true, -1, T.BOOL),
            "pg_has_role": Function(true, -1, T.BOOL),
            "pg_encoding_to_char": Function(lambda n: "UTF8" if n == 6 else "SQL_ASCII", 1, T.NAME),
            "pg_char_to_encoding": Function(lambda n: 6, 1, T.INT4),
            "pg_is_in_recovery": Function(lambda: 0, 0, T.BOOL),
            "pg_relation_size": Function(lambda *a: 0, -1, T.INT8),
            "pg_total_relation_size": Function(lambda *a: 0, 1, T.INT8),
            "pg_table_size": Function(lambda *a: 0, 1, T.INT8),
            "pg_indexes_size": Function(lambda *a: 0, 1, T.INT8),
            "pg_size_pretty": Function(lambda n: None if n is None else f"{int(n)} bytes", 1, T.TEXT),
            "pg_tablespace_location": Function(lambda *a: "", 1, T.TEXT),
            "quote_ident": Function(_quote_ident, 1, T.TEXT),
            "to_regtype": Function(lambda name: c.type_oid(name), 1, T.REGTYPE),
            "to_regclass": Function(lambda name: c.relation_oid(name), 1, T.REGCLASS),
            "to_regnamespace": Function(lambda name: c.namespace_oid(name), 1, T.REGNAMESPACE),
            "array_to_string": Function(_array_to_string, -1, T.TEXT),
            "array_length": Function(lambda a, dim: len(_json_list(a)) or None if dim == 1 else None, 2, T.INT4),
            "cardinality": Function(lambda a: len(_json_list(a)), 1, T.INT4),
            "array_upper": Function(lambda a, dim: len(_json_list(a)) or None if dim == 1 else None, 2, T.INT4),
            "array_lower": Function(lambda a, dim: 1 if _json_list(a) and dim == 1 else None, 2, T.INT4),
            # regular expressions and the reg* casts the rewriter introduces
            "regexp": Function(_regexp, 3, T.BOOL),
            "reg_name": Function(c.reg_name, 2, T.TEXT),
            "reg_oid": Function(c.reg_oid, 2, T.OID),
            "pg_bool": Function(_to_bool, 1, T.BOOL),
        }

    def register(self, db: sqlite3.Connection) -> None:
        for name, f in self.table.items():
            db.create_function(f"pgw_{name}", f.nargs, f.fn, deterministic=False)

    def _current_setting(self, name: str, missing_ok: Any = False) -> str | None:
        value = self.catalog.session.setting(name)
        if value is None and not missing_ok:
            raise sqlite3.OperationalError(f'unrecognized configuration parameter "{name}"')
        return value

    def _set_config(self, name: str, value: str, is_local: Any) -> str:
        self.catalog.session.set_setting(name, value)
        return value


def _quote_ident(s: str | None) -> str | None:
    if s is None:
        return None
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", s):
        return s
    return '"' + s.replace('"', '""') + '"'


def _json_list(a: Any) -> list[Any]:
    if a is None:
        return []
    try:
        v = orjson.loads(a) if isinstance(a, str) else a
    except orjson.JSONDecodeError:
        return []
    return v if isinstance(v, list) else []


def _array_to_string(a: Any, sep: str, null: str | None = None) -> str:
    items = _json_list(a)
    return sep.join(null if x is None and null is not None else str(x) for x in items if x is not None or null)


def _regexp(value: Any, pattern: Any, flags: str) -> int | None:
    if value is None or pattern is None:
        return None
    try:
        return 1 if re.search(str(pattern), str(value), re.I if "i" in flags else 0) else 0
    except re.error as e:
        raise sqlite3.OperationalError(f"invalid regular expression: {e}") from None


def _to_bool(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, str):
        return 1 if v.strip().lower() in ("t", "true", "y", "yes", "on", "1") else 0
    return 1 if v else 0


_MAX_DATABASES = 16


class Catalog:
    """The virtual catalog of one server: an SQLite database kept in step with the metastore."""

    def __init__(self, sources: Callable[[], Iterable[DataSource]]) -> None:
        self.sources = sources
        self.session: SessionInfo = _NO_SESSION
        self.functions = Functions(self)
        # one database per (database name, user) a client connected with: both show in the tables
        self._dbs: dict[tuple[str, str], sqlite3.Connection] = {}
        self._fingerprint: Any = None
        self._relations: list[Relation] = []

    # -- the database -------------------------------------------------------------------------
    def relations(self) -> list[Relation]:
        return self._relations

    def _refresh(self) -> sqlite3.Connection:
        srcs = list(self.sources())
        fp = tuple((s.name, s.kind, s.topic, tuple((c.name, str(c.type), c.namespace) for c in s.schema.columns))
                   for s in srcs)
        if fp != self._fingerprint:
            for old in self._dbs.values():
                old.close()
            self._dbs.clear()
            self._fingerprint = fp
            self._relations = build_relations(srcs)
        key = (self.session.database, self.session.user)
        found = self._dbs.pop(key, None)
        if found is None:
            found = self._build(*key)
            if len(self._dbs) >= _MAX_DATABASES:  # drop the least recently used
                self._dbs.pop(next(iter(self._dbs))).close()
        self._dbs[key] = found
        return found

    def _build(self, database: str, user: str) -> sqlite3.Connection:
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.execute("PRAGMA case_sensitive_like = ON")
        rows = catalog_rows(self._relations, database, user)
        for schema, tables in SCHEMAS.items():
            db.execute(f"ATTACH DATABASE ':memory:' AS {schema}")
            for table, cols in tables.items():
                db.execute(f"CREATE TABLE {schema}.{table} ("
                           + ", ".join(f'"{c}" {affinity(oid)}' for c, oid in cols) + ")")
                key = table if schema == "pg_catalog" else f"{schema}.{table}"
                insert_rows(db, f"{schema}.{table}", cols, rows.get(key, []))
        self.functions.register(db)
        return db

    def _fill_live(self, db: sqlite3.Connection, tables: set[str], sessions: list[SessionInfo]) -> None:
        if "pg_settings" in tables:
            cols = SCHEMAS["pg_catalog"]["pg_settings"]
            db.execute("DELETE FROM pg_catalog.pg_settings")
            insert_rows(db, "pg_catalog.pg_settings", cols, [
                {"name": k, "setting": v, "context": "user", "vartype": "string", "source": "default",
                 "boot_val": v, "reset_val": v} for k, v in self.session.all_settings()])
        if "pg_stat_activity" in tables:
            cols = SCHEMAS["pg_catalog"]["pg_stat_activity"]
            db.execute("DELETE FROM pg_catalog.pg_stat_activity")
            insert_rows(db, "pg_catalog.pg_stat_activity", cols, [
                {"datid": DATABASE_OID, "datname": s.database, "pid": s.pid, "usesysid": OWNER_OID,
                 "usename": s.user, "application_name": s.application_name, "state": "active" if s is self.session
                 else "idle", "backend_type": "client backend"} for s in sessions])

    # -- lookups used by the functions ---------------------------------------------------------
    def describe(self, oid: Any, catalog: Any = None) -> str | None:
        for rel in self._relations:
            if rel.oid == oid:
                return f"ksql {rel.source.kind.lower()} {rel.source.name} (topic {rel.source.topic})"
        return None

    def type_oid(self, name: Any) -> int | None:
        t = T.type_by_name(str(name)) if name is not None else None
        return t.oid if t is not None else None

    def relation_oid(self, name: Any) -> int | None:
        if name is None:
            return None
        parts = [p.strip('"') for p in str(name).split(".")]
        if len(parts) > 1 and parts[-2] not in ("public",):
            return None
        for rel in self._relations:
            if rel.name == parts[-1] or rel.source.name == parts[-1]:
                return rel.oid
        return None

    def namespace_oid(self, name: Any) -> int | None:
        return {"pg_catalog": PG_CATALOG_NS, "public": PUBLIC_NS,
                "information_schema": INFORMATION_SCHEMA_NS}.get(str(name))

    def reg_oid(self, kind: str, value: Any) -> int | None:
        """``'name'::regclass`` and friends: the OID a name stands for."""
        if value is None:
            return None
        if isinstance(value, int) or str(value).isdigit():
            return int(value)
        found = {"regclass": self.relation_oid, "regtype": self.type_oid,
                 "regnamespace": self.namespace_oid}.get(kind, lambda v: None)(value)
        if found is None:
            what = {"regclass": "relation", "regtype": "type", "regnamespace": "schema"}.get(kind, kind)
            raise sqlite3.OperationalError(f'{what} "{value}" does not exist')
        return found

    def reg_name(self, kind: str, value: Any) -> str | None:
        """``oid::regclass`` shown as text: the name an OID stands for."""
        if value is None:
            return None
        if not (isinstance(value, int) or str(value).isdigit()):
            return str(value)
        oid = int(value)
        if kind == "regclass":
            for rel in self._relations:
                if rel.oid == oid:
                    return rel.name
        elif kind == "regtype":
            t = T.TYPES.get(oid)
            if t is not None:
                return t.display
            if oid == 0:
                return "-"
        elif kind == "regnamespace":
            return {PG_CATALOG_NS: "pg_catalog", PUBLIC_NS: "public",
                    INFORMATION_SCHEMA_NS: "information_schema"}.get(oid, str(oid))
        return str(oid)

    # -- queries --------------------------------------------------------------------------------
    def prepare(self, text: str, declared: list[int]) -> CatalogStatement:
        return translate(text, declared, {name: f.returns for name, f in self.functions.table.items()})

    def run(self, stmt: CatalogStatement, params: list[Any], session: SessionInfo,
            sessions: list[SessionInfo]) -> tuple[list[Field], list[tuple[Any, ...]]]:
        self.session = session
        try:
            db = self._refresh()
            if stmt.live_tables:
                self._fill_live(db, stmt.live_tables, sessions)
            bound = {f"p{i + 1}": sqlite_value(v) for i, v in enumerate(params)}
            try:
                cur = db.execute(stmt.sql, bound)
            except sqlite3.OperationalError as e:
                raise _sqlite_error(e) from None
            except sqlite3.Error as e:
                raise PgError("XX000", f"catalog query failed: {e}") from None
            rows = cur.fetchall()
            if stmt.fields is None or len(stmt.fields) != len(cur.description or ()):
                stmt.fields = _fields_from(cur.description or ())
            return stmt.fields, rows
        finally:
            self.session = _NO_SESSION


def _sqlite_error(e: sqlite3.OperationalError) -> PgError:
    msg = str(e)
    m = re.match(r"no such table: (.*)", msg)
    if m:
        return PgError(UNDEFINED_TABLE, f'relation "{m.group(1)}" does not exist')
    m = re.match(r"no such function: (?:pgw_)?(.*)", msg)
    if m:
        return PgError(UNDEFINED_FUNCTION, f"function {m.group(1).lower()} does not exist")
    m = re.match(r"no such column: (.*)", msg)
    if m:
        return PgError("42703", f'column "{m.group(1)}" does not exist')
    if "does not exist" in msg or "unrecognized configuration" in msg:
        return PgError("42704", msg)
    if "invalid regular expression" in msg:
        return PgError("2201B", msg)
    return PgError(SYNTAX_ERROR, msg)


def _fields_from(description: Any) -> list[Field]:
    # columns the typer could not resolve are text: the same whatever the rows hold, so that a
    # statement describes the same way before and after it runs
    return [Field(d[0], T.TEXT) for d in description]


class _NoSession(SessionInfo):
    user = "ksql"
    database = "ksql"
    pid = 0
    application_name = ""

    def setting(self, name: str) -> str | None:
        return None

    def set_setting(self, name: str, value: str) -> None:
        pass

    def all_settings(self) -> list[tuple[str, str]]:
        return []


_NO_SESSION = _NoSession()
