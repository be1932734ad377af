"""Scalar string functions: length, case, trimming, padding, searching, splitting and masking.

ksqlDB's string functions run on Java strings; where Java and Python disagree (``String.trim``,
``\\s`` in ``INITCAP``, ``Character.getType`` in the masks) the Java rule is reproduced here.
Lengths and positions count code points.
"""

from __future__ import annotations

import unicodedata
import uuid as _uuid
from collections.abc import Callable
from typing import Any

from ksql.errors import KsqlFunctionException
from ksql.functions.registry import Overload, ScalarFunction, register_scalar
from ksql.sqltypes import BYTES, INTEGER, STRING, array, map_of

CATEGORY = "STRING"
OTHER = "OTHER"


def null_safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` so that any NULL argument yields NULL."""

    def call(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        return fn(*args)

    return call


# ----------------------------------------------------------------------------------------------
# Case, trimming, length
# ----------------------------------------------------------------------------------------------

# Java's String.trim() strips every char <= U+0020, nothing else.
_JAVA_TRIM = "".join(chr(c) for c in range(0x21))
_JAVA_SPACE = " \t\n\x0b\f\r"  # Java regex \s without UNICODE_CHARACTER_CLASS


def java_trim(s: str) -> str:
    return s.strip(_JAVA_TRIM)


def initcap(s: str) -> str:
    # Words are runs of non-\s chars plus their trailing \s; leading whitespace is dropped,
    # as ksqlDB's regex-based implementation does.
    out: list[str] = []
    low = s.lower()
    i, n = 0, len(low)
    while i < n and low[i] in _JAVA_SPACE:
        i += 1
    while i < n:
        j = i
        while j < n and low[j] not in _JAVA_SPACE:
            j += 1
        k = j
        while k < n and low[k] in _JAVA_SPACE:
            k += 1
        out.append(low[i].upper() + low[i + 1 : k])
        i = k
    return "".join(out)


# ----------------------------------------------------------------------------------------------
# SUBSTRING, INSTR, REPLACE
# ----------------------------------------------------------------------------------------------


def _start_index(length: int, pos: int) -> int:
    return max(length + pos, 0) if pos < 0 else max(min(pos - 1, length), 0)


def substring(value: Any, pos: int | None, length: int | None = None, *, has_len: bool) -> Any:
    if value is None or pos is None or (has_len and length is None):
        return None
    start = _start_index(len(value), pos)
    if not has_len:
        return value[start:]
    assert length is not None
    end = max(min(start + length, len(value)), start)
    return value[start:end]


def _commons_substring(s: str, start: int) -> str:
    if start < 0:
        start = max(len(s) + start, 0)
    return s[start:] if start <= len(s) else ""


def _ordinal_index_of(s: str, sub: str, ordinal: int) -> int:
    if ordinal <= 0:
        return -1
    if sub == "":
        return 0
    index, found = -1, 0
    while found < ordinal:
        index = s.find(sub, index + 1)
        if index < 0:
            return -1
        found += 1
    return index


def instr(s: str | None, sub: str | None, position: int | None = 1, occurrence: int | None = 1) -> int | None:
    if s is None or sub is None:
        return 0
    if position is None or occurrence is None:
        return None
    if abs(position) > len(s):
        return 0
    reverse = position < 0
    hay, needle, pos = (s[::-1], sub[::-1], -position) if reverse else (s, sub, position)
    i = _ordinal_index_of(_commons_substring(hay, pos - 1), needle, occurrence)
    if i == -1:
        return 0
    return len(hay) - pos - i - len(needle) + 2 if reverse else i + pos


# ----------------------------------------------------------------------------------------------
# Padding
# ----------------------------------------------------------------------------------------------


def _pad(value: Any, target: int | None, padding: Any, left: bool) -> Any:
    if value is None or padding is None or len(padding) == 0 or target is None or target < 0:
        return None
    fill_len = max(target - len(value), 0)
    reps = fill_len // len(padding) + 1
    fill = (padding * reps)[:fill_len]
    return (fill + value)[:target] if left else (value + fill)[:target]


# ----------------------------------------------------------------------------------------------
# CONCAT, CONCAT_WS, ELT, FIELD, CHR
# ----------------------------------------------------------------------------------------------


def _concat_ws(*args: Any) -> Any:
    if len(args) < 2:
        raise KsqlFunctionException("Function Concat_WS expects at least two input arguments.")
    sep = args[0]
    if sep is None:
        return None
    return sep.join(a for a in args[1:] if a is not None)


def _elt(n: int | None, *args: str | None) -> str | None:
    if n is None or n < 1 or n > len(args):
        return None
    return args[n - 1]


def _field(s: str | None, *args: str | None) -> int:
    if s is None:
        return 0
    for i, a in enumerate(args):
        if a == s:
            return i + 1
    return 0


def _chr_code(code: int | None) -> str | None:
    if code is None or not 0 <= code <= 0x10FFFF:
        return None
    return chr(code)


def _chr_text(text: str | None) -> str | None:
    if text is None or len(text) < 6 or not text.startswith("\\u"):
        return None
    return _unescape_java(text)


def _unescape_java(text: str) -> str:
    """Java-style ``\\uXXXX`` (and simple) escapes; surrogate pairs combine into one char."""
    out: list[str] = []
    i, n = 0, len(text)
    simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "\\": "\\", "'": "'", '"': '"'}
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "u":
                j = i + 1
                while j < n and text[j] == "u":
                    j += 1
                hexpart = text[j : j + 4]
                try:
                    if len(hexpart) != 4:
                        raise ValueError(hexpart)
                    out.append(chr(int(hexpart, 16)))
                except ValueError as e:
                    raise KsqlFunctionException(f"Unable to parse unicode value: {hexpart}") from e
                i = j + 4
                continue
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
        out.append(c)
        i += 1
    joined = "".join(out)
    return joined.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# ----------------------------------------------------------------------------------------------
# SPLIT, SPLIT_TO_MAP
# ----------------------------------------------------------------------------------------------


def split(value: Any, delimiter: Any) -> list[Any] | None:
    if value is None or delimiter is None:
        return None
    if len(delimiter) == 0:
        if len(value) == 0:
            return [value]
        return [value[i : i + 1] for i in range(len(value))]
    pieces: list[Any] = value.split(delimiter)
    return pieces


def split_to_map(text: str | None, entry_delim: str | None, kv_delim: str | None) -> dict[str, str] | None:
    if text is None or entry_delim is None or kv_delim is None:
        return None
    if not entry_delim or not kv_delim or entry_delim == kv_delim:
        return None
    out: dict[str, str] = {}
    for entry in text.split(entry_delim):
        if entry and kv_delim in entry:
            parts = entry.split(kv_delim)
            out[parts[0]] = parts[1]
    return out


# ----------------------------------------------------------------------------------------------
# Masking
# ----------------------------------------------------------------------------------------------

_DEFAULT_MASKS = ("X", "x", "n", "-")


def _mask_char(spec: str | None) -> str | None:
    if spec is None:
        return None  # NULL keeps that class of character unmasked
    if len(spec) != 1:
        raise KsqlFunctionException(
            f"Invalid mask character. Must be only single character, but was '{spec}'"
        )
    return spec


def _masker(masks: tuple[str | None, ...]) -> Callable[[str], str]:
    upper, lower, digit, other = masks

    def one(c: str) -> str:
        cat = unicodedata.category(c)
        m = upper if cat == "Lu" else lower if cat == "Ll" else digit if cat == "Nd" else other
        return c if m is None else m

    return lambda s: "".join(one(c) for c in s)


def _mask_fn(name: str, kind: str) -> Callable[..., str | None]:
    """``kind``: all, left, right, keep_left, keep_right."""

    def call(value: str | None, *rest: Any) -> str | None:
        if kind == "all":
            n = 0
            mask_args = rest
        else:
            if rest[0] is None:
                return None
            n = rest[0]
            mask_args = rest[1:]
            if n < 0:
                raise KsqlFunctionException(
                    f"function {name} requires a non-negative number of characters to mask or skip"
                )
        masks = tuple(_mask_char(m) for m in mask_args) if mask_args else _DEFAULT_MASKS
        if value is None:
            return None
        mask = _masker(masks)
        k = min(n, len(value))
        if kind == "all":
            return mask(value)
        if kind == "left":
            return mask(value[:k]) + value[k:]
        if kind == "keep_left":
            return value[:k] + mask(value[k:])
        cut = len(value) - k
        if kind == "right":
            return value[:cut] + mask(value[cut:])
        return mask(value[:cut]) + value[cut:]  # keep_right

    return call


def _uuid_from_bytes(b: bytes | None) -> str | None:
    if b is None or len(b) != 16:
        return None
    return str(_uuid.UUID(bytes=b))


# ----------------------------------------------------------------------------------------------
# Registration
# ----------------------------------------------------------------------------------------------


def _fn(name: str, description: str, overloads: list[Overload], category: str = CATEGORY) -> None:
    register_scalar(ScalarFunction(name, category, description, overloads))


def _register() -> None:
    _fn("LEN", "Returns the length of a STRING or the number of bytes in a BYTES value.", [
        Overload([STRING], INTEGER, null_safe(len)),
        Overload([BYTES], INTEGER, null_safe(len)),
    ])
    _fn("CONCAT", "Concatenates strings or bytes; NULL inputs are skipped.", [
        Overload([STRING], STRING, lambda *a: "".join(x for x in a if x is not None), variadic=True),
        Overload([BYTES], BYTES, lambda *a: b"".join(x for x in a if x is not None), variadic=True),
    ])
    _fn("CONCAT_WS", "Concatenates strings or bytes with a separator; NULL inputs are skipped.", [
        Overload([STRING, STRING], STRING, _concat_ws, variadic=True),
        Overload([BYTES, BYTES], BYTES, _concat_ws, variadic=True),
    ])
    _fn("UCASE", "Converts a string to upper case.", [Overload([STRING], STRING, null_safe(str.upper))])
    _fn("LCASE", "Converts a string to lower case.", [Overload([STRING], STRING, null_safe(str.lower))])
    _fn("TRIM", "Removes leading and trailing whitespace.", [Overload([STRING], STRING, null_safe(java_trim))])
    _fn("INITCAP", "Capitalizes the first letter of each word and lower-cases the rest.", [
        Overload([STRING], STRING, null_safe(initcap)),
    ])
    sub_desc = "Returns the portion of a string or bytes value, 1-based; negative positions count from the end."
    _fn("SUBSTRING", sub_desc, [
        Overload([STRING, INTEGER], STRING, lambda v, p: substring(v, p, has_len=False)),
        Overload([STRING, INTEGER, INTEGER], STRING, lambda v, p, n: substring(v, p, n, has_len=True)),
        Overload([BYTES, INTEGER], BYTES, lambda v, p: substring(v, p, has_len=False)),
        Overload([BYTES, INTEGER, INTEGER], BYTES, lambda v, p, n: substring(v, p, n, has_len=True)),
    ])
    _fn("REPLACE", "Replaces all instances of a substring with another string.", [
        Overload([STRING, STRING, STRING], STRING, null_safe(lambda s, a, b: s.replace(a, b))),
    ])
    _fn("INSTR", "Returns the 1-based position of a substring, or 0 if not found.", [
        Overload([STRING, STRING], INTEGER, instr),
        Overload([STRING, STRING, INTEGER], INTEGER, instr),
        Overload([STRING, STRING, INTEGER, INTEGER], INTEGER, instr),
    ])
    _fn("LPAD", "Pads a string or bytes on the left to the target length.", [
        Overload([STRING, INTEGER, STRING], STRING, lambda v, n, p: _pad(v, n, p, True)),
        Overload([BYTES, INTEGER, BYTES], BYTES, lambda v, n, p: _pad(v, n, p, True)),
    ])
    _fn("RPAD", "Pads a string or bytes on the right to the target length.", [
        Overload([STRING, INTEGER, STRING], STRING, lambda v, n, p: _pad(v, n, p, False)),
        Overload([BYTES, INTEGER, BYTES], BYTES, lambda v, n, p: _pad(v, n, p, False)),
    ])
    _fn("CHR", "Returns the character for a decimal code point or a '\\uXXXX' string.", [
        Overload([INTEGER], STRING, _chr_code),
        Overload([STRING], STRING, _chr_text),
    ])
    _fn("ELT", "Returns the N-th of the string arguments (1-based), or NULL.", [
        Overload([INTEGER, STRING], STRING, _elt, variadic=True),
    ], OTHER)
    _fn("FIELD", "Returns the 1-based position of a string among the arguments, or 0.", [
        Overload([STRING, STRING], INTEGER, _field, variadic=True),
    ], OTHER)
    _fn("SPLIT", "Splits a string or bytes value into an array on a delimiter.", [
        Overload([STRING, STRING], array(STRING), split),
        Overload([BYTES, BYTES], array(BYTES), split),
    ])
    _fn("SPLIT_TO_MAP", "Splits a string into key-value pairs and returns them as a map.", [
        Overload([STRING, STRING, STRING], map_of(STRING, STRING), split_to_map),
    ], OTHER)
    masks4 = [STRING, STRING, STRING, STRING]
    mask_desc = "Masks characters: upper-case to 'X', lower-case to 'x', digits to 'n', others to '-'."
    _fn("MASK", mask_desc, [
        Overload([STRING], STRING, _mask_fn("mask", "all")),
        Overload([STRING, *masks4], STRING, _mask_fn("mask", "all")),
    ])
    for name, kind in (
        ("MASK_LEFT", "left"),
        ("MASK_RIGHT", "right"),
        ("MASK_KEEP_LEFT", "keep_left"),
        ("MASK_KEEP_RIGHT", "keep_right"),
    ):
        impl = _mask_fn(name.lower(), kind)
        _fn(name, mask_desc, [
            Overload([STRING, INTEGER], STRING, impl),
            Overload([STRING, INTEGER, *masks4], STRING, impl),
        ])
    _fn("UUID", "Returns a random (version 4) UUID, or the UUID held in 16 bytes.", [
        Overload([], STRING, lambda: str(_uuid.uuid4())),
        Overload([BYTES], STRING, _uuid_from_bytes),
    ])


_register()

# The encoding and NULL-handling functions live in their own modules; register them with this one.
from ksql.functions import scalar_bytes, scalar_nulls  # noqa: E402,F401
