"""SQL types of the ksql dialect and how their values are held in Python.

Value representation (shared by every module that touches row values):

=========  ==============================================
BOOLEAN    bool
INTEGER    int (32-bit range enforced by casts/arithmetic)
BIGINT     int (64-bit range)
DOUBLE     float
DECIMAL    decimal.Decimal, quantized to the type's scale
STRING     str
BYTES      bytes
TIMESTAMP  int, milliseconds since the epoch (UTC)
DATE       int, days since the epoch
TIME       int, milliseconds since midnight
ARRAY      list
MAP        dict
STRUCT     dict keyed by field name, in declared field order
=========  ==============================================

NULL is ``None`` everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BaseType(StrEnum):
    BOOLEAN = "BOOLEAN"
    INTEGER = "INTEGER"
    BIGINT = "BIGINT"
    DOUBLE = "DOUBLE"
    DECIMAL = "DECIMAL"
    STRING = "STRING"
    BYTES = "BYTES"
    TIMESTAMP = "TIMESTAMP"
    DATE = "DATE"
    TIME = "TIME"
    ARRAY = "ARRAY"
    MAP = "MAP"
    STRUCT = "STRUCT"
    # Type of a bare NULL literal before it is unified with something concrete.
    NULL = "NULL"


NUMERIC_BASES = (BaseType.INTEGER, BaseType.BIGINT, BaseType.DECIMAL, BaseType.DOUBLE)


@dataclass(frozen=True)
class SqlType:
    base: BaseType
    precision: int | None = None
    scale: int | None = None
    element: SqlType | None = None  # ARRAY element, MAP value
    key: SqlType | None = None  # MAP key
    fields: tuple[tuple[str, SqlType], ...] = field(default_factory=tuple)  # STRUCT

    # -- rendering -------------------------------------------------------------------
    def __str__(self) -> str:
        b = self.base
        if b is BaseType.DECIMAL:
            return f"DECIMAL({self.precision}, {self.scale})"
        if b is BaseType.ARRAY:
            return f"ARRAY<{self.element}>"
        if b is BaseType.MAP:
            return f"MAP<{self.key}, {self.element}>"
        if b is BaseType.STRUCT:
            if not self.fields:
                return "STRUCT< >"
            return "STRUCT<" + ", ".join(f"`{n}` {t}" for n, t in self.fields) + ">"
        return b.value

    def sql(self) -> str:
        """Rendering used in `post.sources[].schema` of the test files: no back-quotes."""
        b = self.base
        if b is BaseType.ARRAY:
            return f"ARRAY<{self.element.sql()}>"  # type: ignore[union-attr]
        if b is BaseType.MAP:
            return f"MAP<{self.key.sql()}, {self.element.sql()}>"  # type: ignore[union-attr]
        if b is BaseType.STRUCT:
            return "STRUCT<" + ", ".join(f"{n} {t.sql()}" for n, t in self.fields) + ">"
        return str(self)

    # -- predicates ------------------------------------------------------------------
    @property
    def is_numeric(self) -> bool:
        return self.base in NUMERIC_BASES

    @property
    def is_integral(self) -> bool:
        return self.base in (BaseType.INTEGER, BaseType.BIGINT)

    def field_type(self, name: str) -> SqlType | None:
        for n, t in self.fields:
            if n == name:
                return t
        return None


# Singletons for the primitive types.
BOOLEAN = SqlType(BaseType.BOOLEAN)
INTEGER = SqlType(BaseType.INTEGER)
BIGINT = SqlType(BaseType.BIGINT)
DOUBLE = SqlType(BaseType.DOUBLE)
STRING = SqlType(BaseType.STRING)
BYTES = SqlType(BaseType.BYTES)
TIMESTAMP = SqlType(BaseType.TIMESTAMP)
DATE = SqlType(BaseType.DATE)
TIME = SqlType(BaseType.TIME)
NULL = SqlType(BaseType.NULL)


def decimal(precision: int, scale: int) -> SqlType:
    return SqlType(BaseType.DECIMAL, precision=precision, scale=scale)


def array(element: SqlType) -> SqlType:
    return SqlType(BaseType.ARRAY, element=element)


def map_of(key: SqlType, value: SqlType) -> SqlType:
    return SqlType(BaseType.MAP, key=key, element=value)


def struct(fields: list[tuple[str, SqlType]] | tuple[tuple[str, SqlType], ...]) -> SqlType:
    return SqlType(BaseType.STRUCT, fields=tuple(fields))


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def decimal_of_integral(t: SqlType) -> SqlType:
    """The DECIMAL an integral type widens to (ksqlDB: INT -> DECIMAL(10,0), BIGINT -> DECIMAL(19,0))."""
    if t.base is BaseType.INTEGER:
        return decimal(10, 0)
    if t.base is BaseType.BIGINT:
        return decimal(19, 0)
    return t


_WIDENING = {
    BaseType.INTEGER: 0,
    BaseType.BIGINT: 1,
    BaseType.DECIMAL: 2,
    BaseType.DOUBLE: 3,
}


def can_implicitly_cast(src: SqlType, dst: SqlType) -> bool:
    """ksqlDB's implicit widening for function arguments and comparisons."""
    if src == dst or src.base is BaseType.NULL:
        return True
    if src.base in _WIDENING and dst.base in _WIDENING:
        return _WIDENING[src.base] <= _WIDENING[dst.base]
    if src.base is dst.base and src.base is BaseType.DECIMAL:
        return True
    if src.base is BaseType.ARRAY and dst.base is BaseType.ARRAY:
        return can_implicitly_cast(src.element, dst.element)  # type: ignore[arg-type]
    if src.base is BaseType.MAP and dst.base is BaseType.MAP:
        return can_implicitly_cast(src.key, dst.key) and can_implicitly_cast(  # type: ignore[arg-type]
            src.element, dst.element  # type: ignore[arg-type]
        )
    return False


def widest_numeric(a: SqlType, b: SqlType) -> SqlType:
    """Common type of two numeric types for comparisons and CASE/array unification."""
    if a.base is BaseType.NULL:
        return b
    if b.base is BaseType.NULL:
        return a
    if a.base is BaseType.DECIMAL or b.base is BaseType.DECIMAL:
        if a.base is BaseType.DOUBLE or b.base is BaseType.DOUBLE:
            return DOUBLE
        da, db = decimal_of_integral(a), decimal_of_integral(b)
        scale = max(da.scale or 0, db.scale or 0)
        digits = max((da.precision or 0) - (da.scale or 0), (db.precision or 0) - (db.scale or 0))
        return decimal(min(digits + scale, 38), scale)
    return a if _WIDENING[a.base] >= _WIDENING[b.base] else b


_NAMES = {
    "BOOLEAN": BOOLEAN,
    "INT": INTEGER,
    "INTEGER": INTEGER,
    "BIGINT": BIGINT,
    "DOUBLE": DOUBLE,
    "STRING": STRING,
    "VARCHAR": STRING,
    "BYTES": BYTES,
    "TIMESTAMP": TIMESTAMP,
    "DATE": DATE,
    "TIME": TIME,
}


def primitive(name: str) -> SqlType | None:
    """Look a primitive type up by any of its SQL spellings (case-insensitive)."""
    return _NAMES.get(name.upper())
