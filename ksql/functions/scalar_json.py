"""JSON functions: EXTRACTJSONFIELD, the JSON_* family, IS_JSON_STRING and TO_JSON_STRING.

Parsing follows ksqlDB's Jackson setup: the first JSON value in the text is read and anything after
it ignored, blank text is "missing" rather than an error, and non-integral numbers stay exact
(``Decimal``). Output is compact JSON; a node printed back (EXTRACTJSONFIELD, JSON_RECORDS,
JSON_ITEMS) shows decimals as ``BigDecimal.toString`` does, while JSON_CONCAT and TO_JSON_STRING
print them plain.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from ksql.errors import KsqlFunctionException
from ksql.expressions.values import date_str, java_double_str, time_str, timestamp_str
from ksql.functions.registry import AnyType, Overload, ScalarFunction, register_scalar
from ksql.sqltypes import BOOLEAN, INTEGER, STRING, BaseType, SqlType, array, map_of

CATEGORY = "JSON"


class _Missing:
    """Jackson's MissingNode: what blank input parses to."""


MISSING = _Missing()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
_JSON_SPACE = " \t\n\r"


def parse_json(text: str) -> Any:
    """The first JSON value in ``text``, or MISSING for blank text; KsqlFunctionException if invalid."""
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    if start == len(text):
        return MISSING
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError) as e:
        raise KsqlFunctionException(f"Invalid JSON format:{text}") from e
    return value


# ----------------------------------------------------------------------------------------------
# Writing JSON
# ----------------------------------------------------------------------------------------------

_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def json_string(s: str) -> str:
    out = []
    for c in s:
        esc = _SHORT_ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif c < " ":
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _decimal_text(d: Decimal, plain: bool) -> str:
    if d == 0 and d.is_signed():
        d = d.copy_abs()  # BigDecimal has no negative zero
    return format(d, "f") if plain else str(d)


def write_json(v: Any, plain_decimals: bool = False) -> str:
    """Compact JSON text of a parsed JSON value."""
    if v is None or v is MISSING:
        return "null" if v is None else ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Decimal):
        return _decimal_text(v, plain_decimals)
    if isinstance(v, float):
        return java_double_str(v)
    if isinstance(v, str):
        return json_string(v)
    if isinstance(v, list):
        return "[" + ",".join(write_json(x, plain_decimals) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(
            json_string(str(k)) + ":" + write_json(x, plain_decimals) for k, x in v.items()
        ) + "}"
    raise KsqlFunctionException(f"JSON serialization error: unsupported value {v!r}")


def node_text(v: Any) -> str:
    """``JsonNode.toString()``."""
    return write_json(v, plain_decimals=False)


# ----------------------------------------------------------------------------------------------
# EXTRACTJSONFIELD
# ----------------------------------------------------------------------------------------------


def _invalid_path(path: str) -> KsqlFunctionException:
    return KsqlFunctionException(f"Invalid JSON path: '{path}'")


@lru_cache(maxsize=256)
def json_path_tokens(path: str) -> tuple[str, ...]:
    """Tokens of a ``$.a.b[0]['c']`` path."""
    if not path.startswith("$"):
        raise _invalid_path(path)
    tokens: list[str] = []
    i, n = 1, len(path)
    stop = ".[]\"' \t\n\r"

    def unquoted(i: int) -> tuple[str, int]:
        j = i
        while j < n and path[j] not in stop:
            j += 1
        if j == i:
            raise _invalid_path(path)
        return path[i:j], j

    while True:
        while i < n and path[i] in " \t\n\r":
            i += 1
        if i >= n:
            return tuple(tokens)
        c = path[i]
        if c == ".":
            token, i = unquoted(i + 1)
        elif c == "[":
            i += 1
            if i < n and path[i] in "\"'":
                quote, buf = path[i], []
                i += 1
                while i < n and path[i] != quote:
                    if path[i] == "\\" and i + 1 < n:
                        i += 1
                    buf.append(path[i])
                    i += 1
                if i >= n:
                    raise _invalid_path(path)
                token, i = "".join(buf), i + 1
            else:
                token, i = unquoted(i)
            if i >= n or path[i] != "]":
                raise _invalid_path(path)
            i += 1
        else:
            raise _invalid_path(path)
        tokens.append(token)


def _java_int(token: str) -> int | None:
    body = token[1:] if token[:1] in "+-" else token
    if not body or not body.isascii() or not body.isdigit():
        return None
    return int(token)


def extract_json_field(text: str | None, path: str | None) -> str | None:
    if text is None or path is None:
        return None
    tokens = json_path_tokens(path)
    node = parse_json(text)
    for token in tokens:
        if isinstance(node, list):
            index = _java_int(token)
            if index is None or not 0 <= index < len(node):
                return None
            node = node[index]
        elif isinstance(node, dict):
            if token not in node:
                return None
            node = node[token]
        else:
            return None
    return node if isinstance(node, str) else node_text(node)


# ----------------------------------------------------------------------------------------------
# JSON_* functions
# ----------------------------------------------------------------------------------------------


def _array_contains(arg_types: list[SqlType], ret: SqlType) -> Callable[[str | None, Any], bool | None]:
    base = arg_types[1].base

    def matches(element: Any, val: Any) -> bool:
        if val is None:
            return element is None
        if base in (BaseType.INTEGER, BaseType.BIGINT):
            return type(element) is int and element == val
        if base is BaseType.DOUBLE:
            return isinstance(element, Decimal) and float(element) == val
        if base is BaseType.STRING:
            return isinstance(element, str) and element == val
        if base is BaseType.BOOLEAN:
            return isinstance(element, bool) and element == val
        return False

    def call(text: str | None, val: Any) -> bool | None:
        if text is None:
            return None
        try:
            node = parse_json(text)
        except KsqlFunctionException:
            return False
        if not isinstance(node, list):
            return False
        return any(matches(e, val) for e in node)

    return call


def json_array_length(text: str | None) -> int | None:
    if text is None:
        return None
    node = parse_json(text)
    return len(node) if isinstance(node, list) else None


def json_keys(text: str | None) -> list[str] | None:
    if text is None:
        return None
    node = parse_json(text)
    return list(node) if isinstance(node, dict) else None


def json_records(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    node = parse_json(text)
    return {k: node_text(v) for k, v in node.items()} if isinstance(node, dict) else None


def json_items(text: str | None) -> list[str] | None:
    if text is None:
        return None
    node = parse_json(text)
    if not isinstance(node, list):
        raise KsqlFunctionException(f"Invalid JSON format:{text}")
    return [node_text(v) for v in node]


def is_json_string(text: str | None) -> bool:
    if text is None:
        return False
    try:
        return parse_json(text) is not MISSING
    except KsqlFunctionException:
        return False


def json_concat(*texts: str | None) -> str | None:
    nodes: list[Any] = []
    for text in texts:
        if text is None:
            return None
        node = parse_json(text)
        if node is MISSING:
            return None
        nodes.append(node)
    if not nodes:
        return None
    if all(isinstance(n, dict) for n in nodes):
        merged: dict[str, Any] = {}
        for n in nodes:
            merged.update(n)
        return write_json(merged, plain_decimals=True)
    items: list[Any] = []
    for n in nodes:
        items.extend(n if isinstance(n, list) else [n])
    return write_json(items, plain_decimals=True)


# ----------------------------------------------------------------------------------------------
# TO_JSON_STRING
# ----------------------------------------------------------------------------------------------


def _quoted(render: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda v: json_string(render(v))


def _double_json(v: float) -> str:
    text = java_double_str(v)
    return json_string(text) if text in ("NaN", "Infinity", "-Infinity") else text


def value_writer(t: SqlType) -> Callable[[Any], str]:
    """A function writing a value of SQL type ``t`` as ksqlDB's TO_JSON_STRING does."""
    b = t.base
    inner: Callable[[Any], str]
    if b is BaseType.BOOLEAN:
        inner = lambda v: "true" if v else "false"  # noqa: E731
    elif b in (BaseType.INTEGER, BaseType.BIGINT):
        inner = str
    elif b is BaseType.DOUBLE:
        inner = _double_json
    elif b is BaseType.DECIMAL:
        inner = lambda v: _decimal_text(Decimal(v), True)  # noqa: E731
    elif b is BaseType.STRING:
        inner = json_string
    elif b is BaseType.BYTES:
        inner = _quoted(lambda v: base64.b64encode(v).decode("ascii"))
    elif b is BaseType.DATE:
        inner = _quoted(date_str)
    elif b is BaseType.TIME:
        inner = _quoted(lambda ms: time_str(ms - ms % 1000))  # LocalTime of whole seconds
    elif b is BaseType.TIMESTAMP:
        inner = _quoted(timestamp_str)
    elif b is BaseType.ARRAY:
        elem = value_writer(t.element)  # type: ignore[arg-type]
        inner = lambda v: "[" + ",".join(elem(x) for x in v) + "]"  # noqa: E731
    elif b is BaseType.MAP:
        key_text = _key_text(t.key)  # type: ignore[arg-type]
        val = value_writer(t.element)  # type: ignore[arg-type]

        def inner(v: Any) -> str:
            entries = sorted((key_text(k), x) for k, x in v.items())
            return "{" + ",".join(json_string(k) + ":" + val(x) for k, x in entries) + "}"

    elif b is BaseType.STRUCT:
        fields = sorted((name, value_writer(ft)) for name, ft in t.fields)

        def inner(v: Any) -> str:
            return "{" + ",".join(json_string(n) + ":" + w(v.get(n)) for n, w in fields) + "}"

    else:
        inner = lambda v: "null"  # noqa: E731

    return lambda v: "null" if v is None else inner(v)


def _key_text(t: SqlType) -> Callable[[Any], str]:
    if t.base is BaseType.STRING:
        return str
    if t.base is BaseType.BOOLEAN:
        return lambda k: "true" if k else "false"
    if t.base is BaseType.DOUBLE:
        return java_double_str
    return str


def _to_json_string(arg_types: list[SqlType], ret: SqlType) -> Callable[[Any], str]:
    return value_writer(arg_types[0])


def _register() -> None:
    def fn(name: str, description: str, overloads: list[Overload]) -> None:
        register_scalar(ScalarFunction(name, CATEGORY, description, overloads))

    fn("EXTRACTJSONFIELD", "Extracts the value at a JSONPath from a JSON string, as a STRING.", [
        Overload([STRING, STRING], STRING, extract_json_field),
    ])
    fn("JSON_ARRAY_CONTAINS", "Returns whether a JSON array string contains a value.", [
        Overload([STRING, AnyType()], BOOLEAN, factory=_array_contains),
    ])
    fn("JSON_ARRAY_LENGTH", "Returns the length of a JSON array string, or NULL if not an array.", [
        Overload([STRING], INTEGER, json_array_length),
    ])
    fn("JSON_KEYS", "Returns the top-level keys of a JSON object string.", [
        Overload([STRING], array(STRING), json_keys),
    ])
    fn("JSON_RECORDS", "Returns the top-level entries of a JSON object string as a map of JSON strings.", [
        Overload([STRING], map_of(STRING, STRING), json_records),
    ])
    fn("JSON_ITEMS", "Returns the items of a JSON array string as an array of JSON strings.", [
        Overload([STRING], array(STRING), json_items),
    ])
    fn("JSON_CONCAT", "Merges JSON objects, or concatenates JSON values into one array.", [
        Overload([STRING], STRING, json_concat, variadic=True),
    ])
    fn("IS_JSON_STRING", "Returns whether a string parses as a JSON value.", [
        Overload([STRING], BOOLEAN, is_json_string),
    ])
    fn("TO_JSON_STRING", "Serializes any value to a JSON string.", [
        Overload([AnyType()], STRING, factory=_to_json_string),
    ])


_register()
