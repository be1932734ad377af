"""DELIMITED: one CSV record per key or value, one field per column, primitive types only.

Text rules are those of Apache Commons CSV's default format as ksqlDB uses it: ``"`` quotes, a
doubled quote inside quotes, no escape character; a null column is an empty field and an empty field
reads as null. Quoting on write is "minimal", including the library's conservative extras: a
record's first field is quoted unless it starts with a letter or digit, any field starting with a
character up to ``#`` or ending with one up to space is quoted. Only the first record of a payload
is read. The delimiter is ``,`` unless the ``delimiter`` property names another (a single character,
``TAB`` or ``SPACE``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from ksql.errors import KsqlException, SerializationError
from ksql.formats import _java
from ksql.formats.base import Column, Format, Serde, SerdeFeature, Values, raise_count_mismatch
from ksql.sqltypes import BaseType, SqlType

NAMED_DELIMITERS = {"TAB": "\t", "SPACE": " "}

_QUOTE = '"'


def parse_delimiter(value: str, property_name: str | None = None) -> str:
    """The delimiter character a ``*_DELIMITER`` property names.

    With ``property_name`` the message reads like ksqlDB's config validation
    (``Configuration VALUE_DELIMITER is invalid: ...``).
    """
    reason: str | None = None
    if not value.strip():
        reason = (
            "Delimiter cannot be empty, if you meant to have a tab or space for delimiter, please use "
            "the special values 'TAB' or 'SPACE'"
        )
    elif len(value) == 1:
        return value
    elif value in NAMED_DELIMITERS:
        return NAMED_DELIMITERS[value]
    else:
        reason = (
            f"Invalid delimiter value: '{value}'. Delimiter must be a single character or "
            f"{','.join(NAMED_DELIMITERS)}"
        )
    if property_name:
        raise KsqlException(f"Configuration {property_name} is invalid: {reason}\nExample valid value: ';'")
    raise KsqlException(reason)


# -- CSV text ---------------------------------------------------------------------------------


class CsvError(ValueError):
    pass


def _field(value: str, delimiter: str, first: bool) -> str:
    if not value:
        return '""' if first else ""  # an empty first field would read as an empty line
    c = value[0]
    if first and not ("0" <= c <= "9" or "A" <= c <= "Z" or "a" <= c <= "z"):
        quote = True
    elif c <= "#":
        quote = True
    elif "\n" in value or "\r" in value or _QUOTE in value or delimiter in value:
        quote = True
    else:
        quote = value[-1] <= " "
    if not quote:
        return value
    return _QUOTE + value.replace(_QUOTE, '""') + _QUOTE


def format_record(fields: Sequence[str | None], delimiter: str = ",") -> str:
    """One CSV record (no line terminator); ``None`` fields are written empty and unquoted."""
    return delimiter.join("" if f is None else _field(f, delimiter, i == 0) for i, f in enumerate(fields))


def _java_whitespace(c: str) -> bool:
    return c.isspace() and c not in "\xa0\u2007\u202f\x85"


def parse_record(text: str, delimiter: str = ",") -> list[str] | None:
    """Fields of the first CSV record of ``text``; ``None`` if it holds no record."""
    if _QUOTE not in text and "\n" not in text and "\r" not in text:
        return text.split(delimiter) if text else None
    n = len(text)
    i = 0
    while i < n and text[i] in "\r\n":  # leading empty lines are skipped
        i += 1
    if i == n:
        return None
    fields: list[str] = []
    while True:
        if i == n:  # end of input right after a delimiter: one more, empty, field
            fields.append("")
            return fields
        c = text[i]
        if c == delimiter:
            fields.append("")
            i += 1
            continue
        if c in "\r\n":
            fields.append("")
            return fields
        if c == _QUOTE:
            buf: list[str] = []
            i += 1
            while True:
                if i >= n:
                    raise CsvError("(startline 1) EOF reached before encapsulated token finished")
                c = text[i]
                if c == _QUOTE:
                    if i + 1 < n and text[i + 1] == _QUOTE:
                        buf.append(_QUOTE)
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(c)
                i += 1
            fields.append("".join(buf))
            while True:  # only whitespace may sit between the closing quote and the delimiter
                if i >= n:
                    return fields
                c = text[i]
                if c == delimiter:
                    i += 1
                    break
                if c in "\r\n":
                    return fields
                if not _java_whitespace(c):
                    raise CsvError("(line 1) invalid char between encapsulated token and delimiter")
                i += 1
            continue
        j = i
        while j < n and text[j] != delimiter and text[j] not in "\r\n":
            j += 1
        fields.append(text[i:j])
        if j == n or text[j] != delimiter:
            return fields
        i = j + 1


# -- column codecs ----------------------------------------------------------------------------

Parser = Callable[[str], Any]
Printer = Callable[[Any], str]


def _decimal_parser(t: SqlType) -> Parser:
    precision, scale = t.precision or 0, t.scale or 0
    return lambda s: _java.ensure_fit(_java.parse_decimal(s), precision, scale)


def _decimal_printer(t: SqlType) -> Printer:
    scale = t.scale or 0

    def show(v: Any) -> str:
        return _java.decimal_plain(_java.rescale(_java.to_decimal(v), scale))

    return show


_PARSERS: dict[BaseType, Callable[[SqlType], Parser]] = {
    BaseType.BOOLEAN: lambda t: lambda s: s.lower() == "true",  # Boolean.parseBoolean: never fails
    BaseType.INTEGER: lambda t: lambda s: _java.parse_int(s, 32),
    BaseType.BIGINT: lambda t: lambda s: _java.parse_int(s, 64),
    BaseType.DOUBLE: lambda t: _java.parse_double,
    BaseType.STRING: lambda t: lambda s: s,
    BaseType.DECIMAL: _decimal_parser,
    BaseType.TIMESTAMP: lambda t: lambda s: _java.parse_int(s, 64),
    BaseType.DATE: lambda t: lambda s: _java.parse_int(s, 32),
    BaseType.TIME: lambda t: lambda s: _java.parse_int(s, 32),
    BaseType.BYTES: lambda t: _java.b64decode,
}

_PRINTERS: dict[BaseType, Callable[[SqlType], Printer]] = {
    BaseType.BOOLEAN: lambda t: lambda v: "true" if v else "false",
    BaseType.INTEGER: lambda t: lambda v: str(int(v)),
    BaseType.BIGINT: lambda t: lambda v: str(int(v)),
    BaseType.DOUBLE: lambda t: lambda v: _java.double_str(float(v)),
    BaseType.STRING: lambda t: lambda v: v if type(v) is str else str(v),
    BaseType.DECIMAL: _decimal_printer,
    BaseType.TIMESTAMP: lambda t: lambda v: str(int(v)),
    BaseType.DATE: lambda t: lambda v: str(int(v)),
    BaseType.TIME: lambda t: lambda v: str(int(v)),
    BaseType.BYTES: lambda t: lambda v: _java.b64encode(bytes(v)),
}


class DelimitedSerde(Serde):
    def __init__(self, columns: Sequence[Column], *, is_key: bool, delimiter: str, topic: str = "") -> None:
        super().__init__(columns, is_key=is_key, topic=topic)
        self.delimiter = delimiter
        self._parsers = [_PARSERS[t.base](t) for _, t in self.columns]
        self._printers = [_PRINTERS[t.base](t) for _, t in self.columns]

    def serialize(self, values: Sequence[Any] | None) -> bytes | None:
        if values is None:
            return None
        self._check_count(values)
        try:
            fields = [None if v is None else p(v) for p, v in zip(self._printers, values, strict=True)]
        except (TypeError, ValueError, ArithmeticError) as e:
            raise SerializationError("Error serializing CSV message") from e
        text = format_record(fields, self.delimiter)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace")

    def deserialize(self, data: bytes | None) -> Values | None:
        if data is None:
            return None
        if not self.columns:
            return []
        try:
            fields = parse_record(data.decode("utf-8", "replace"), self.delimiter)
            if not fields:
                raise SerializationError("No fields in record")
            if len(fields) != len(self._parsers):
                raise_count_mismatch(len(self._parsers), len(fields), serialization=False, topic=self.topic)
            return [None if not f else p(f) for p, f in zip(self._parsers, fields, strict=True)]
        except (SerializationError, KsqlException, ValueError) as e:
            raise SerializationError("Error deserializing delimited") from e


class DelimitedFormat(Format):
    name: ClassVar[str] = "DELIMITED"
    features = frozenset({SerdeFeature.UNWRAP_SINGLES})
    supported_properties = frozenset({"delimiter"})
    serializes_empty = True

    def __init__(self, properties: Mapping[str, str] | None = None) -> None:
        raw = (properties or {}).get("delimiter")
        self.delimiter = "," if raw is None else parse_delimiter(raw)
        super().__init__(properties)

    def _check_columns(self, columns: Sequence[Column], *, is_key: bool) -> None:
        for name, t in columns:
            if t.base not in _PARSERS:
                raise KsqlException(
                    f"The '{self.name}' format does not support type '{t.base.value}', column: `{name}`"
                )

    def _make_serde(self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str) -> Serde:
        return DelimitedSerde(columns, is_key=is_key, delimiter=self.delimiter, topic=topic)
