"""JSON: a key or value is a JSON object with one field per column, or, for a single column that is
unwrapped (keys by default, values with ``WRAP_SINGLE_VALUE=false``), the column's bare JSON value.

Reading follows ksqlDB's lenient coercion: object fields match column/struct-field names exactly,
else case-insensitively; a missing field is null; numbers and numeric strings convert between the
numeric types (Java truncation/overflow rules), anything converts to STRING, DECIMAL comes from a
number or a string and must fit its type exactly, BYTES from base64 text. Floating-point JSON
numbers are read exactly (as ``Decimal``) so DECIMAL columns lose nothing.

Writing is compact; DECIMAL is a plain JSON number carrying the type's scale, DOUBLE uses Java's
``Double.toString`` digits, BYTES is base64 text, struct fields keep their declared names.
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, ClassVar

import orjson

from ksql.errors import KsqlException, SerializationError
from ksql.formats import _java
from ksql.formats.base import Column, Format, Serde, SerdeFeature, Values, has_non_string_map_key
from ksql.sqltypes import BaseType, SqlType, struct

Reader = Callable[[Any], Any]
Writer = Callable[[Any], str]

_ABSENT = object()


class _Missing:
    """Jackson's MissingNode: what an empty or all-whitespace payload parses to."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class _CoercionError(Exception):
    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class JsonParseError(ValueError):
    pass


# -- parsing ----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise JsonParseError(
        f"Non-standard token '{name}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
    )


_DECODER = _json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
_WS = " \t\n\r"


def loads(data: bytes | str) -> Any:
    """Parse one JSON document the way ksqlDB's reader does: floating-point numbers as exact
    ``Decimal``, trailing content ignored, an empty document as :data:`MISSING`."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JsonParseError(f"Invalid UTF-8 start byte 0x{data[e.start]:02x}") from None
    else:
        text = data
    i, n = 0, len(text)
    if text.startswith("\ufeff"):
        i = 1
    while i < n and text[i] in _WS:
        i += 1
    if i == n:
        return MISSING
    try:
        value, _end = _DECODER.raw_decode(text, i)
    except _json.JSONDecodeError as e:
        raise JsonParseError(_parse_message(text, e)) from None
    except (ValueError, RecursionError) as e:  # e.g. integers beyond the digit limit
        raise JsonParseError(str(e)) from None
    return value


def _exact(node: Any) -> bool:
    """True when a parsed value holds no float: orjson's parse of such a document is what
    :func:`loads` gives (a float, e.g. any fraction or an integer beyond 64 bits, needs
    :func:`loads` for its exact ``Decimal``)."""
    t = type(node)
    if t is dict:
        items = node.values()
    elif t is list:
        items = node
    else:
        return t is not float
    for v in items:
        tv = type(v)
        if tv is float or ((tv is dict or tv is list) and not _exact(v)):
            return False
    return True


def fast_loads(data: bytes) -> Any:
    """:func:`loads`, by orjson when that gives the same value (most documents), else by :func:`loads`."""
    try:
        node = orjson.loads(data)
    except orjson.JSONDecodeError:  # BOM, trailing content, empty, NaN, ...: the exact reader decides
        return loads(data)
    return node if _exact(node) else loads(data)


def _parse_message(text: str, e: _json.JSONDecodeError) -> str:
    pos = e.pos
    if pos < len(text) and (text[pos].isalnum() or text[pos] in "_-'"):
        j = pos
        while j < len(text) and j - pos < 256 and not (text[j] in _WS or text[j] in ',:[]{}"'):
            j += 1
        token = text[pos:j]
        return (
            f"Unrecognized token '{token}': was expecting "
            "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
        )
    if e.msg.startswith("Unterminated string"):
        return "Unexpected end-of-input: was expecting closing quote for a string value"
    if pos >= len(text):
        return "Unexpected end-of-input: expected close marker"
    return f"Unexpected character ('{text[pos]}' (code {ord(text[pos])})): {e.msg.lower()}"


# -- generic text (test data, STRING coercion of objects) ---------------------------------------


def dumps(value: Any) -> str:
    """Compact JSON text of a plain Python JSON value; ``Decimal`` is written exactly as it reads."""
    if value is None:
        return "null"
    t = type(value)
    if t is str:
        return encode_basestring(value)
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)
    if t is Decimal:
        return _java.decimal_str(value)
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            return encode_basestring(_java.double_str(value))
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(encode_basestring(str(k)) + ":" + dumps(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, (bytes, bytearray)):
        return encode_basestring(_java.b64encode(bytes(value)))
    raise TypeError(f"Cannot write {t.__name__} as JSON")


# -- reading: JSON value -> column value --------------------------------------------------------


def node_name(v: Any) -> str:
    """Jackson's node class for a parsed value (used in ksqlDB's conversion errors)."""
    t = type(v)
    if t is bool:
        return "BooleanNode"
    if t is int:
        if _java.INT32_MIN <= v <= _java.INT32_MAX:
            return "IntNode"
        return "LongNode" if _java.INT64_MIN <= v <= _java.INT64_MAX else "BigIntegerNode"
    if t is Decimal:
        return "DecimalNode"
    if t is str:
        return "TextNode"
    if t is list:
        return "ArrayNode"
    if t is dict:
        return "ObjectNode"
    if v is None:
        return "NullNode"
    if v is MISSING:
        return "MissingNode"
    return t.__name__


def _invalid(v: Any, required: object) -> _CoercionError:
    return _CoercionError(f"Can't convert type. sourceType: {node_name(v)}, requiredType: {required}")


def _failed_string(target: str) -> _CoercionError:
    return _CoercionError(f"Can't coerce string to type. targetType: {target}")


def _read_boolean(v: Any) -> Any:
    if v is None or type(v) is bool:
        return v
    raise _invalid(v, "BOOLEAN")


def _integral(bits: int, target: str) -> Reader:
    wrap = _java.wrap32 if bits == 32 else _java.wrap64

    def read(v: Any) -> Any:
        if v is None:
            return None
        tv = type(v)
        if tv is int or tv is Decimal:
            return wrap(int(v))  # Java intValue()/asLong(): truncate, keep the low bits
        if tv is str:
            try:
                return _java.parse_int(v, bits)
            except ValueError:
                raise _failed_string(target) from None
        raise _invalid(v, target)

    return read


def _read_double(v: Any) -> Any:
    if v is None:
        return None
    tv = type(v)
    if tv is Decimal:
        return float(v)
    if tv is int:
        try:
            return float(v)
        except OverflowError:
            return float("inf") if v > 0 else float("-inf")
    if tv is str:
        try:
            return _java.parse_double(v)
        except ValueError:
            raise _failed_string("DOUBLE") from None
    raise _invalid(v, "DOUBLE")


def _read_string(v: Any) -> Any:
    if v is None:
        return None
    tv = type(v)
    if tv is str:
        return v
    if tv is bool:
        return "true" if v else "false"
    if tv is int:
        return str(v)
    if tv is Decimal:
        return _java.decimal_str(v)
    if tv is dict:
        return dumps(v)
    if tv is list:
        return "[" + ", ".join("null" if e is None else _read_string(e) for e in v) + "]"
    if v is MISSING:
        return ""
    raise _invalid(v, "STRING")


def _decimal_reader(t: SqlType) -> Reader:
    precision, scale = t.precision or 0, t.scale or 0

    def read(v: Any) -> Any:
        if v is None:
            return None
        tv = type(v)
        try:
            if tv is Decimal:
                return _java.ensure_fit(v, precision, scale)
            if tv is int:
                return _java.ensure_fit(Decimal(v), precision, scale)
            if tv is str:
                return _java.ensure_fit(_java.parse_decimal(v), precision, scale)
        except (KsqlException, ValueError) as e:
            raise _CoercionError(e.message if isinstance(e, KsqlException) else str(e)) from None
        raise _invalid(v, t)

    return read


def _read_bytes(v: Any) -> Any:
    if v is None:
        return None
    if type(v) is str:
        try:
            return _java.b64decode(v)
        except ValueError as e:
            raise _CoercionError(str(e)) from None
    raise _invalid(v, "BYTES")


def _array_reader(t: SqlType) -> Reader:
    element = reader(t.element)  # type: ignore[arg-type]

    def read(v: Any) -> Any:
        if v is None:
            return None
        if type(v) is not list:
            raise _invalid(v, t)
        out = []
        for i, e in enumerate(v):
            try:
                out.append(element(e))
            except _CoercionError as err:
                err.path = f"[{i}]{err.path}"
                raise
        return out

    return read


def _map_reader(t: SqlType) -> Reader:
    value = reader(t.element)  # type: ignore[arg-type]

    def read(v: Any) -> Any:
        if v is None:
            return None
        if type(v) is not dict:
            raise _invalid(v, t)
        out = {}
        for k, e in v.items():
            try:
                out[k] = value(e)
            except _CoercionError as err:
                err.path = f".{k}.value{err.path}"
                raise
        return _java.hash_map(out)

    return read


def _fields_reader(fields: Sequence[tuple[str, SqlType]], shown: object, as_dict: bool) -> Reader:
    """Object -> struct dict or row list; declared names match exactly first, then the JSON field
    names upper-cased (unquoted identifiers are stored upper-case)."""
    plan = [(name, reader(ft)) for name, ft in fields]

    def read(v: Any) -> Any:
        if v is None:
            return None
        if type(v) is not dict:
            raise _invalid(v, shown)
        upper: dict[str, Any] | None = None
        out = []
        for name, rd in plan:
            node = v.get(name, _ABSENT)
            if node is _ABSENT:
                if upper is None:
                    upper = {k.upper(): x for k, x in v.items()}
                node = upper.get(name)
            try:
                out.append(rd(node))
            except _CoercionError as err:
                err.path = f".{name}{err.path}"
                raise
        if as_dict:
            return {name: x for (name, _), x in zip(plan, out, strict=True)}
        return out

    return read


def reader(t: SqlType) -> Reader:
    """Coercion of a parsed JSON value into the Python value of SQL type ``t``."""
    b = t.base
    if b is BaseType.BOOLEAN:
        return _read_boolean
    if b is BaseType.INTEGER:
        return _integral(32, "INTEGER")
    if b is BaseType.BIGINT:
        return _integral(64, "BIGINT")
    if b is BaseType.TIMESTAMP:
        return _integral(64, "TIMESTAMP")
    if b is BaseType.DATE:
        return _integral(32, "DATE")
    if b is BaseType.TIME:
        return _integral(32, "TIME")
    if b is BaseType.DOUBLE:
        return _read_double
    if b is BaseType.STRING:
        return _read_string
    if b is BaseType.DECIMAL:
        return _decimal_reader(t)
    if b is BaseType.BYTES:
        return _read_bytes
    if b is BaseType.ARRAY:
        return _array_reader(t)
    if b is BaseType.MAP:
        return _map_reader(t)
    if b is BaseType.STRUCT:
        return _fields_reader(t.fields, t, as_dict=True)
    raise KsqlException(f"Type is not supported: {t}")


# -- writing: column value -> JSON text ---------------------------------------------------------


def _write_boolean(v: Any) -> str:
    return "null" if v is None else ("true" if v else "false")


def _write_integral(v: Any) -> str:
    return "null" if v is None else str(int(v))


def _write_double(v: Any) -> str:
    if v is None:
        return "null"
    s = _java.double_str(float(v))
    return s if s[-1].isdigit() else '"' + s + '"'  # NaN/Infinity are written as strings


def _write_string(v: Any) -> str:
    if v is None:
        return "null"
    return encode_basestring(v if type(v) is str else str(v))


def _write_bytes(v: Any) -> str:
    return "null" if v is None else '"' + _java.b64encode(bytes(v)) + '"'


def _decimal_writer(t: SqlType) -> Writer:
    scale = t.scale or 0

    def write(v: Any) -> str:
        if v is None:
            return "null"
        return _java.decimal_plain(_java.rescale(_java.to_decimal(v), scale))

    return write


def _array_writer(t: SqlType) -> Writer:
    element = writer(t.element)  # type: ignore[arg-type]

    def write(v: Any) -> str:
        if v is None:
            return "null"
        return "[" + ",".join(map(element, v)) + "]"

    return write


def _map_writer(t: SqlType) -> Writer:
    value = writer(t.element)  # type: ignore[arg-type]

    def write(v: Any) -> str:
        if v is None:
            return "null"
        return "{" + ",".join(
            encode_basestring("null" if k is None else str(k)) + ":" + value(x) for k, x in v.items()
        ) + "}"

    return write


def _struct_writer(t: SqlType) -> Writer:
    plan = [(encode_basestring(name) + ":", name, writer(ft)) for name, ft in t.fields]

    def write(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, Mapping):
            return "{" + ",".join(q + w(v.get(name)) for q, name, w in plan) + "}"
        return "{" + ",".join(q + w(x) for (q, _, w), x in zip(plan, v, strict=True)) + "}"

    return write


def writer(t: SqlType) -> Writer:
    """JSON text of a Python value of SQL type ``t``."""
    b = t.base
    if b is BaseType.BOOLEAN:
        return _write_boolean
    if b in (BaseType.INTEGER, BaseType.BIGINT, BaseType.TIMESTAMP, BaseType.DATE, BaseType.TIME):
        return _write_integral
    if b is BaseType.DOUBLE:
        return _write_double
    if b is BaseType.STRING:
        return _write_string
    if b is BaseType.DECIMAL:
        return _decimal_writer(t)
    if b is BaseType.BYTES:
        return _write_bytes
    if b is BaseType.ARRAY:
        return _array_writer(t)
    if b is BaseType.MAP:
        return _map_writer(t)
    if b is BaseType.STRUCT:
        return _struct_writer(t)
    raise KsqlException(f"Type is not supported: {t}")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: the JVM's encoder writes '?'
        return text.encode("utf-8", "replace")


# -- compiled row readers and writers ------------------------------------------------------------
# One generated function per serde: the common value types are checked and passed through inline,
# anything else goes through the per-type reader/writer above (which also raises the errors).

_INLINE_READ = {
    BaseType.INTEGER: "({x} if type({x}) is int and -2147483648 <= {x} <= 2147483647 else {r}({x}))",
    BaseType.DATE: "({x} if type({x}) is int and -2147483648 <= {x} <= 2147483647 else {r}({x}))",
    BaseType.TIME: "({x} if type({x}) is int and -2147483648 <= {x} <= 2147483647 else {r}({x}))",
    BaseType.BIGINT: "({x} if type({x}) is int and -9223372036854775808 <= {x} <= 9223372036854775807 else {r}({x}))",
    BaseType.TIMESTAMP: "({x} if type({x}) is int and -9223372036854775808 <= {x} <= 9223372036854775807 "
    "else {r}({x}))",
    BaseType.STRING: "({x} if type({x}) is str else {r}({x}))",
    BaseType.BOOLEAN: "({x} if type({x}) is bool else {r}({x}))",
}

_INLINE_WRITE = {
    BaseType.INTEGER: "(str({x}) if type({x}) is int else {w}({x}))",
    BaseType.BIGINT: "(str({x}) if type({x}) is int else {w}({x}))",
    BaseType.DATE: "(str({x}) if type({x}) is int else {w}({x}))",
    BaseType.TIME: "(str({x}) if type({x}) is int else {w}({x}))",
    BaseType.TIMESTAMP: "(str({x}) if type({x}) is int else {w}({x}))",
    BaseType.STRING: "(_enc({x}) if type({x}) is str else {w}({x}))",
}


def _compile_fields_reader(columns: Sequence[tuple[str, SqlType]], slow: Reader) -> Reader:
    """Object -> row list for objects that name every column exactly; others take ``slow``."""
    ns: dict[str, Any] = {"_A": _ABSENT, "_slow": slow, "_CoercionError": _CoercionError}
    gets, exprs = [], []
    for i, (name, t) in enumerate(columns):
        ns[f"_r{i}"] = reader(t)
        gets.append(f"    x{i} = g({name!r}, _A)\n")
        exprs.append(_INLINE_READ.get(t.base, "{r}({x})").format(x=f"x{i}", r=f"_r{i}"))
    absent = " or ".join(f"x{i} is _A" for i in range(len(columns))) or "False"
    src = (
        "def read(v):\n"
        "    if type(v) is not dict:\n        return _slow(v)\n"
        "    g = v.get\n" + "".join(gets) +
        f"    if {absent}:\n        return _slow(v)\n"
        f"    try:\n        return [{', '.join(exprs)}]\n"
        "    except _CoercionError:\n        return _slow(v)  # raises with the field's path\n"
    )
    exec(compile(src, "<json row reader>", "exec"), ns)
    return ns["read"]  # type: ignore[no-any-return]


_INT32 = "({x} is None or (type({x}) is int and -2147483648 <= {x} <= 2147483647))"
_INT64 = "({x} is None or (type({x}) is int and -9223372036854775808 <= {x} <= 9223372036854775807))"
_FLAT_CHECK = {
    BaseType.INTEGER: _INT32,
    BaseType.DATE: _INT32,
    BaseType.TIME: _INT32,
    BaseType.BIGINT: _INT64,
    BaseType.TIMESTAMP: _INT64,
    BaseType.STRING: "({x} is None or type({x}) is str)",
    BaseType.BOOLEAN: "({x} is None or type({x}) is bool)",
    BaseType.DOUBLE: "({x} is None or type({x}) is float or type({x}) is int)",
}
_FALLBACK = object()


def _compile_flat_reader(columns: Sequence[tuple[str, SqlType]]) -> Callable[[dict[str, Any]], Any] | None:
    """For rows of primitive columns: orjson's object -> row list when every column is present
    under its exact name with a value that needs no conversion (then orjson's parse is exact: its
    floats are correctly rounded), else ``_FALLBACK`` (the exact reader decides). None when a
    column type is not covered."""
    if not columns or any(t.base not in _FLAT_CHECK for _, t in columns):
        return None
    gets, checks, exprs = [], [], []
    for i, (name, t) in enumerate(columns):
        x = f"x{i}"
        gets.append(f"    {x} = g({name!r}, _A)\n")
        checks.append(_FLAT_CHECK[t.base].format(x=x))
        exprs.append(f"(float({x}) if type({x}) is int else {x})" if t.base is BaseType.DOUBLE else x)
    src = (
        "def read(v):\n    g = v.get\n" + "".join(gets)
        + f"    if {' and '.join(checks)}:\n        return [{', '.join(exprs)}]\n"
        "    return _FB\n"
    )
    ns: dict[str, Any] = {"_A": _ABSENT, "_FB": _FALLBACK}
    exec(compile(src, "<json flat reader>", "exec"), ns)
    return ns["read"]  # type: ignore[no-any-return]


def _compile_fields_writer(columns: Sequence[tuple[str, SqlType]]) -> Callable[[Sequence[Any]], str]:
    ns: dict[str, Any] = {"_enc": encode_basestring}
    parts = []
    for i, (name, t) in enumerate(columns):
        ns[f"_w{i}"] = writer(t)
        prefix = ("{" if i == 0 else ",") + encode_basestring(name) + ":"
        parts.append(repr(prefix) + " + " + _INLINE_WRITE.get(t.base, "{w}({x})").format(x=f"v[{i}]", w=f"_w{i}"))
    body = " + ".join(parts) + " + '}'" if parts else "'{}'"
    src = f"def write(v):\n    return {body}\n"
    exec(compile(src, "<json row writer>", "exec"), ns)
    return ns["write"]  # type: ignore[no-any-return]


# -- format -----------------------------------------------------------------------------------


class JsonSerde(Serde):
    def __init__(self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str = "") -> None:
        super().__init__(columns, is_key=is_key, topic=topic)
        self.unwrapped = unwrapped
        if unwrapped:
            t = self.columns[0][1]
            self._read = reader(t)
            self._write = writer(t)
        else:
            self._read = _compile_fields_reader(
                self.columns, _fields_reader(self.columns, struct(self.columns), as_dict=False))
            self._write = _compile_fields_writer(self.columns)
        self._flat = None if unwrapped else _compile_flat_reader(self.columns)
        self._n = len(self.columns)

    # for readers that parse with orjson themselves (a query's source): ``flat_reader(node)``
    # gives the values of a parsed object, or FALLBACK when ``deserialize`` must decide
    FALLBACK = _FALLBACK

    @property
    def flat_reader(self) -> Callable[[dict[str, Any]], Any] | None:
        return self._flat

    def serialize(self, values: Sequence[Any] | None) -> bytes | None:
        if values is None:
            return None
        if len(values) != self._n:
            self._check_count(values)
        try:
            if self.unwrapped:
                return None if values[0] is None else _utf8(self._write(values[0]))
            text = self._write(values)
            try:
                return text.encode()  # type: ignore[no-any-return]
            except UnicodeEncodeError:
                return _utf8(text)
        except (TypeError, ValueError, AttributeError, ArithmeticError) as e:
            raise SerializationError(f"Error serializing message to topic: {self.topic}. {e}") from e

    def deserialize(self, data: bytes | None) -> Values | None:
        if data is None:
            return None
        flat = self._flat
        if flat is not None:
            try:
                node = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
            else:
                if type(node) is dict:
                    values = flat(node)
                    if values is not _FALLBACK:
                        return values  # type: ignore[no-any-return]
        try:
            node = fast_loads(data)
            if node is None:
                return None
            value = self._read(node)
        except _CoercionError as e:
            raise SerializationError(
                f"Failed to deserialize {self.target} from topic: {self.topic}. {e.message}, path: ${e.path}"
            ) from None
        except JsonParseError as e:
            raise SerializationError(
                f"Failed to deserialize {self.target} from topic: {self.topic}. {e}"
            ) from None
        if self.unwrapped:
            return None if value is None else [value]
        return value  # type: ignore[no-any-return]


class JsonFormat(Format):
    name: ClassVar[str] = "JSON"
    features = frozenset({SerdeFeature.WRAP_SINGLES, SerdeFeature.UNWRAP_SINGLES})
    serializes_empty = True

    def _check_columns(self, columns: Sequence[Column], *, is_key: bool) -> None:
        if any(has_non_string_map_key(t) for _, t in columns):
            raise KsqlException("JSON only supports MAP types with STRING keys")

    def _make_serde(self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str) -> Serde:
        return JsonSerde(columns, is_key=is_key, unwrapped=unwrapped, topic=topic)
