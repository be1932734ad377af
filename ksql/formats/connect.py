"""Kafka Connect's data model, the common ground of the schema-registry formats.

ksqlDB reads and writes AVRO, PROTOBUF and JSON_SR through Connect schemas: a format's schema is
translated to a :class:`CSchema` (and back), SQL columns are translated to one too, and record
values travel as Connect values. Keeping that middle layer keeps the three formats' rules in one
place: which SQL type a registered schema infers (:func:`to_sql`), how a decoded value is coerced to
a column's type (:func:`to_ksql`), how a row fits a registered schema (:func:`from_ksql`), and how
ksqlDB's test files spell values (:func:`spec_to_connect` / :func:`connect_to_spec`).

Connect values in Python: ints, floats, bools, str, bytes, ``Decimal`` (Decimal logical type),
int millis / days / millis-of-day (Timestamp / Date / Time logical types), lists, dicts (maps) and
dicts keyed by field name (structs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from ksql.errors import KsqlException, SerializationError
from ksql.formats import _java
from ksql.sqltypes import BaseType, SqlType, decimal, struct
from ksql.sqltypes import array as sql_array
from ksql.sqltypes import map_of as sql_map

DECIMAL = "org.apache.kafka.connect.data.Decimal"
DATE = "org.apache.kafka.connect.data.Date"
TIME = "org.apache.kafka.connect.data.Time"
TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"
PRECISION_PARAM = "connect.decimal.precision"
DEFAULT_PRECISION = 64  # a registered decimal without a precision


class CType(StrEnum):
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOLEAN = "boolean"
    STRING = "string"
    BYTES = "bytes"
    ARRAY = "array"
    MAP = "map"
    STRUCT = "struct"


INTEGRAL = (CType.INT8, CType.INT16, CType.INT32, CType.INT64)


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(eq=False)
class CField:
    name: str
    schema: CSchema
    default: Any = NO_DEFAULT  # a registered default (Avro field defaults)


@dataclass(eq=False)
class CSchema:
    type: CType
    optional: bool = True
    name: str | None = None  # logical type or record/message full name
    params: dict[str, str] = field(default_factory=dict)
    fields: list[CField] = field(default_factory=list)
    key: CSchema | None = None  # MAP
    value: CSchema | None = None  # MAP value, ARRAY element

    @property
    def is_decimal(self) -> bool:
        return self.type is CType.BYTES and self.name == DECIMAL

    @property
    def precision(self) -> int:
        return int(self.params.get(PRECISION_PARAM, DEFAULT_PRECISION))

    @property
    def scale(self) -> int:
        return int(self.params.get("scale", 0))

    def field_named(self, name: str) -> CField | None:
        """Exact name first, then case-insensitively (ksqlDB matches struct fields either way)."""
        for f in self.fields:
            if f.name == name:
                return f
        upper = name.upper()
        for f in self.fields:
            if f.name.upper() == upper:
                return f
        return None


def decimal_schema(precision: int, scale: int, optional: bool = True) -> CSchema:
    return CSchema(CType.BYTES, optional, DECIMAL, {"scale": str(scale), PRECISION_PARAM: str(precision)})


# -- SQL types -> Connect ----------------------------------------------------------------------

_PRIMITIVES: dict[BaseType, tuple[CType, str | None]] = {
    BaseType.BOOLEAN: (CType.BOOLEAN, None),
    BaseType.INTEGER: (CType.INT32, None),
    BaseType.BIGINT: (CType.INT64, None),
    BaseType.DOUBLE: (CType.FLOAT64, None),
    BaseType.STRING: (CType.STRING, None),
    BaseType.BYTES: (CType.BYTES, None),
    BaseType.TIMESTAMP: (CType.INT64, TIMESTAMP),
    BaseType.DATE: (CType.INT32, DATE),
    BaseType.TIME: (CType.INT32, TIME),
}


def from_sql(t: SqlType) -> CSchema:
    """The optional Connect schema of a SQL type (ksqlDB makes every level optional)."""
    b = t.base
    if b in _PRIMITIVES:
        ct, name = _PRIMITIVES[b]
        return CSchema(ct, True, name)
    if b is BaseType.DECIMAL:
        return decimal_schema(t.precision or 0, t.scale or 0)
    if b is BaseType.ARRAY:
        return CSchema(CType.ARRAY, value=from_sql(t.element))  # type: ignore[arg-type]
    if b is BaseType.MAP:
        return CSchema(CType.MAP, key=from_sql(t.key), value=from_sql(t.element))  # type: ignore[arg-type]
    if b is BaseType.STRUCT:
        return CSchema(CType.STRUCT, fields=[CField(n, from_sql(ft)) for n, ft in t.fields])
    raise KsqlException(f"Unsupported type: {t}")


def columns_schema(columns: Sequence[tuple[str, SqlType]], *, unwrapped: bool) -> CSchema:
    """A column list as a record value: a (required) struct of the columns, or with ``unwrapped``
    the single column's own schema."""
    if unwrapped:
        return from_sql(columns[0][1])
    return CSchema(CType.STRUCT, False, fields=[CField(n, from_sql(t)) for n, t in columns])


# -- Connect -> SQL types (schema inference) ---------------------------------------------------


class UnsupportedType(KsqlException):
    pass


def to_sql(cs: CSchema, *, upper: bool = True) -> SqlType:
    """The SQL type a registered schema infers. Struct field names are upper-cased unless
    ``upper`` is false; fields of unsupported types are left out; map keys become STRING."""
    t = cs.type
    if t in (CType.INT8, CType.INT16):
        return SqlType(BaseType.INTEGER)
    if t is CType.INT32:
        return SqlType(BaseType.TIME if cs.name == TIME else BaseType.DATE if cs.name == DATE else BaseType.INTEGER)
    if t is CType.INT64:
        return SqlType(BaseType.TIMESTAMP if cs.name == TIMESTAMP else BaseType.BIGINT)
    if t in (CType.FLOAT32, CType.FLOAT64):
        return SqlType(BaseType.DOUBLE)
    if t is CType.STRING:
        return SqlType(BaseType.STRING)
    if t is CType.BOOLEAN:
        return SqlType(BaseType.BOOLEAN)
    if t is CType.BYTES:
        return decimal(cs.precision, cs.scale) if cs.is_decimal else SqlType(BaseType.BYTES)
    if t is CType.ARRAY:
        return sql_array(to_sql(cs.value, upper=upper))  # type: ignore[arg-type]
    if t is CType.MAP:
        key = to_sql(cs.key, upper=upper)  # type: ignore[arg-type]
        if key.base not in (BaseType.INTEGER, BaseType.BIGINT, BaseType.BOOLEAN, BaseType.STRING):
            raise UnsupportedType(f"Unsupported type for map key: {cs.key.type.value}")  # type: ignore[union-attr]
        return sql_map(SqlType(BaseType.STRING), to_sql(cs.value, upper=upper))  # type: ignore[arg-type]
    fields: list[tuple[str, SqlType]] = []
    for f in cs.fields:
        try:
            fields.append((f.name.upper() if upper else f.name, to_sql(f.schema, upper=upper)))
        except UnsupportedType:
            continue  # ksqlDB skips fields it cannot represent
    return struct(fields)


def to_columns(cs: CSchema, *, is_key: bool, unwrapped: bool, upper: bool = True) -> list[tuple[str, SqlType]]:
    """The columns a registered key/value schema gives a CREATE statement without elements."""
    if unwrapped:
        return [("ROWKEY" if is_key else "ROWVAL", to_sql(cs, upper=upper))]
    if cs.type is not CType.STRUCT:
        raise KsqlException("KSQL stream/table schema must be structured")
    row = to_sql(cs, upper=upper)
    if not row.fields:
        raise KsqlException("Schema does not include any columns with types that ksqlDB supports.")
    return list(row.fields)


# -- decoded Connect values -> column values ---------------------------------------------------

_ACCEPTS: dict[BaseType, tuple[CType, ...]] = {
    BaseType.BOOLEAN: (CType.BOOLEAN,),
    BaseType.INTEGER: (CType.INT8, CType.INT16, CType.INT32),
    BaseType.BIGINT: INTEGRAL,
    BaseType.DOUBLE: (CType.FLOAT32, CType.FLOAT64),
    BaseType.STRING: (*INTEGRAL, CType.FLOAT32, CType.FLOAT64, CType.BOOLEAN, CType.STRING),
    BaseType.BYTES: (CType.BYTES,),
    BaseType.DECIMAL: (CType.BYTES,),
    BaseType.TIMESTAMP: (CType.INT64,),
    BaseType.DATE: (CType.INT32,),
    BaseType.TIME: (CType.INT32, CType.INT64),
    BaseType.ARRAY: (CType.ARRAY,),
    BaseType.MAP: (CType.MAP,),
    BaseType.STRUCT: (CType.STRUCT,),
}


def _connect_name(t: SqlType) -> str:
    if t.base is BaseType.DECIMAL:
        return "bytes"
    if t.base in _PRIMITIVES:
        return _PRIMITIVES[t.base][0].value
    return t.base.value.lower()


def to_ksql(t: SqlType, cs: CSchema, value: Any, path: str = "") -> Any:
    """A decoded value of schema ``cs`` as a value of SQL type ``t`` (ksqlDB's coercions: narrower
    integers widen, any primitive reads as STRING, struct fields match case-insensitively)."""
    accepted = _ACCEPTS.get(t.base, ())
    if cs.type not in accepted or (t.base is BaseType.DECIMAL) != cs.is_decimal and cs.type is CType.BYTES:
        raise SerializationError(
            f"Cannot deserialize type {cs.type.value} as type {_connect_name(t)} for path: {path}")
    if value is None:
        return None
    b = t.base
    if b is BaseType.STRING:
        return _string_of(value)
    if b in (BaseType.INTEGER, BaseType.BIGINT, BaseType.TIMESTAMP, BaseType.DATE, BaseType.TIME):
        return int(value)
    if b is BaseType.DOUBLE:
        return float(value)
    if b is BaseType.DECIMAL:
        d = value if isinstance(value, Decimal) else _java.to_decimal(value)
        try:
            return _java.rescale(d, t.scale or 0)
        except InvalidOperation:
            return d
    if b is BaseType.ARRAY:
        return [to_ksql(t.element, cs.value, v, path + "->ARRAY") for v in value]  # type: ignore[arg-type]
    if b is BaseType.MAP:
        return {to_ksql(t.key, cs.key, k, path + "->MAP_KEY"): to_ksql(  # type: ignore[arg-type]
            t.element, cs.value, v, path + "->MAP_VAL") for k, v in value.items()}  # type: ignore[arg-type]
    if b is BaseType.STRUCT:
        out: dict[str, Any] = {}
        for name, ft in t.fields:
            f = cs.field_named(name)
            out[name] = None if f is None else to_ksql(ft, f.schema, value.get(f.name), f"{path}->{name}")
        return out
    return value


def _string_of(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _java.double_str(v)
    return str(v)


# -- column values -> a registered schema's Connect values -------------------------------------


def from_ksql(cs: CSchema, value: Any, path: str = "") -> Any:
    """A column value shaped for schema ``cs`` (which may be a registered schema with other field
    names' case, extra fields with defaults, narrower numbers)."""
    if value is None:
        return None
    t = cs.type
    if t in INTEGRAL:
        return int(value)
    if t in (CType.FLOAT32, CType.FLOAT64):
        return float(value)
    if t is CType.STRING:
        return _string_of(value)
    if t is CType.BYTES and cs.is_decimal:
        return value if isinstance(value, Decimal) else _java.to_decimal(value)
    if t is CType.ARRAY:
        return [from_ksql(cs.value, v, path) for v in value]  # type: ignore[arg-type]
    if t is CType.MAP:
        return {from_ksql(cs.key, k, path): from_ksql(cs.value, v, path)  # type: ignore[arg-type]
                for k, v in value.items()}
    if t is CType.STRUCT:
        return struct_from_ksql(cs, value, path)
    return value


def struct_from_ksql(cs: CSchema, value: dict[str, Any], path: str = "") -> dict[str, Any]:
    upper = {k.upper(): k for k in value}
    out: dict[str, Any] = {}
    for f in cs.fields:
        key = f.name if f.name in value else upper.get(f.name.upper())
        if key is not None and (value[key] is not None or f.schema.optional or f.default is NO_DEFAULT):
            out[f.name] = from_ksql(f.schema, value[key], f"{path}->{f.name}")
        elif f.default is not NO_DEFAULT:  # absent, or NULL where the schema needs a value
            out[f.name] = f.default
        elif f.schema.optional:
            out[f.name] = None
        else:
            raise SerializationError(
                f"Missing default value for required field: [{f.name}]. "
                "This field appears in the schema but not in the SQL schema.")
    return out


# -- test-file values <-> Connect values (ksqlDB's test driver) ---------------------------------


def spec_to_connect(spec: Any, cs: CSchema) -> Any:
    """A test file's JSON value read against schema ``cs`` the way ksqlDB's test driver reads it
    (numbers from their text, base64 text for BYTES, struct fields matched case-insensitively)."""
    if spec is None:
        return None
    t = cs.type
    if t in INTEGRAL:
        return int(_spec_text(spec))
    if t in (CType.FLOAT32, CType.FLOAT64):
        return float(_spec_text(spec))
    if t is CType.BOOLEAN:
        return _spec_text(spec).lower() == "true"
    if t is CType.STRING:
        return _spec_text(spec)
    if t is CType.ARRAY:
        return [spec_to_connect(v, cs.value) for v in spec]  # type: ignore[arg-type]
    if t is CType.MAP:
        return {spec_to_connect(k, cs.key): spec_to_connect(v, cs.value)  # type: ignore[arg-type]
                for k, v in spec.items()}
    if t is CType.STRUCT:
        out: dict[str, Any] = {}
        for k, v in spec.items():
            f = cs.field_named(str(k))
            if f is not None:
                out[f.name] = spec_to_connect(v, f.schema)
        return out
    if cs.is_decimal:
        if isinstance(spec, (Decimal, int)) and not isinstance(spec, bool):
            return _java.ensure_fit(Decimal(spec), cs.precision, cs.scale)
        if isinstance(spec, str):
            return _java.rescale(_java.parse_decimal(spec), cs.scale)
        raise KsqlException("DECIMAL type requires JSON number in test data")
    if isinstance(spec, str):
        return _java.b64decode(spec)
    return spec


def _spec_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return _java.decimal_str(v)
    if isinstance(v, float):
        return _java.double_str(v)
    if isinstance(v, (dict, list)):
        from ksql.formats.json import dumps

        return dumps(v)
    return str(v)


def connect_to_spec(value: Any, cs: CSchema) -> Any:
    """A decoded value in test-file form (BYTES as base64 text)."""
    if value is None:
        return None
    t = cs.type
    if t is CType.ARRAY:
        return [connect_to_spec(v, cs.value) for v in value]  # type: ignore[arg-type]
    if t is CType.MAP:
        return {str(k) if not isinstance(k, bool) else _spec_text(k): connect_to_spec(v, cs.value)  # type: ignore[arg-type]
                for k, v in value.items()}
    if t is CType.STRUCT:
        return {f.name: connect_to_spec(value.get(f.name), f.schema) for f in cs.fields}
    if t is CType.BYTES and not cs.is_decimal:
        return _java.b64encode(bytes(value))
    return value
