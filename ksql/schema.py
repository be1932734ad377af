"""Logical schemas of sources: key, value and header columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ksql.sqltypes import BIGINT, BYTES, INTEGER, STRING, SqlType, array, struct

KEY = "KEY"
VALUE = "VALUE"
HEADER = "HEADER"

ROWTIME = "ROWTIME"
ROWPARTITION = "ROWPARTITION"
ROWOFFSET = "ROWOFFSET"
WINDOWSTART = "WINDOWSTART"
WINDOWEND = "WINDOWEND"

PSEUDO_COLUMNS: dict[str, SqlType] = {ROWTIME: BIGINT, ROWPARTITION: INTEGER, ROWOFFSET: BIGINT}
WINDOW_BOUNDS: dict[str, SqlType] = {WINDOWSTART: BIGINT, WINDOWEND: BIGINT}
SYSTEM_COLUMN_NAMES = set(PSEUDO_COLUMNS) | set(WINDOW_BOUNDS)

HEADERS_TYPE = array(struct([("KEY", STRING), ("VALUE", BYTES)]))


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    namespace: str = VALUE  # KEY | VALUE | HEADER
    header_key: str | None = None  # HEADER('k') columns; None with HEADER namespace = all headers


@dataclass
class LogicalSchema:
    columns: list[Column] = field(default_factory=list)

    @property
    def key(self) -> list[Column]:
        return [c for c in self.columns if c.namespace == KEY]

    @property
    def value(self) -> list[Column]:
        return [c for c in self.columns if c.namespace == VALUE]

    @property
    def headers(self) -> list[Column]:
        return [c for c in self.columns if c.namespace == HEADER]

    def find(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def types(self) -> dict[str, SqlType]:
        return {c.name: c.type for c in self.columns}

    def sql(self) -> str:
        """``ID INT KEY, V STRING`` as the test files' ``post.sources[].schema`` spells it."""
        parts = []
        for c in self.columns:
            s = f"{_quote(c.name)} {c.type.sql()}"
            if c.namespace == KEY:
                s += " KEY"
            elif c.namespace == HEADER:
                s += f" HEADER('{c.header_key}')" if c.header_key is not None else " HEADERS"
            parts.append(s)
        return ", ".join(parts)

    def header_string(self, mark_keys: bool) -> str:
        """Schema string of REST query headers: `` `K` INTEGER KEY, `V` STRING``."""
        parts = []
        for c in self.columns:
            s = f"`{c.name}` {c.type}"
            if mark_keys and c.namespace == KEY:
                s += " KEY"
            parts.append(s)
        return ", ".join(parts)


def _quote(name: str) -> str:
    if name.isupper() and name.replace("_", "").isalnum() and not name[0].isdigit():
        return name
    return f"`{name}`"


def fields_json(schema: LogicalSchema) -> list[dict[str, Any]]:
    return [field_info(c) for c in schema.columns]


def type_info(t: SqlType) -> dict[str, Any]:
    from ksql.sqltypes import BaseType

    b = t.base
    out: dict[str, Any] = {"type": b.value if b is not BaseType.NULL else "STRING", "fields": None, "memberSchema": None}
    if b is BaseType.ARRAY or b is BaseType.MAP:
        out["memberSchema"] = type_info(t.element)  # type: ignore[arg-type]
    elif b is BaseType.STRUCT:
        out["fields"] = [{"name": n, "schema": type_info(ft)} for n, ft in t.fields]
    elif b is BaseType.DECIMAL:
        out["parameters"] = {"precision": t.precision, "scale": t.scale}
    return out


def field_info(c: Column) -> dict[str, Any]:
    d: dict[str, Any] = {"name": c.name, "schema": type_info(c.type)}
    if c.namespace == KEY:
        d["type"] = "KEY"
    elif c.namespace == HEADER:
        d["type"] = "HEADER"
        if c.header_key is not None:
            d["headerKey"] = c.header_key
    return d
