""".proto files: a parser for the schema text the registry holds, and the binary wire codec.

Covers proto2/proto3 as Confluent's registry uses them: packages, imports (references and the
well-known ``google/protobuf/*``, ``google/type/*`` and ``confluent/*`` files), nested messages and
enums, ``map<K, V>``, ``oneof``, labels, field options (``(confluent.field_meta)`` carries decimal
precision and scale). Services and extensions are skipped.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any

from ksql.errors import KsqlException

# -- model ----------------------------------------------------------------------------------------


@dataclass(eq=False)
class ProtoField:
    name: str
    number: int
    type: str  # scalar name or a (resolved: absolute, dot-prefixed) message/enum name
    label: str | None = None  # optional | repeated | required
    key_type: str | None = None  # map<key_type, type>
    options: dict[str, Any] = field(default_factory=dict)
    oneof: str | None = None
    message: ProtoMessage | None = None  # resolved message type
    enum: ProtoEnum | None = None  # resolved enum type

    @property
    def repeated(self) -> bool:
        return self.label == "repeated" or self.key_type is not None

    @property
    def is_map(self) -> bool:
        return self.key_type is not None


@dataclass(eq=False)
class ProtoEnum:
    name: str
    full_name: str  # without the leading dot
    values: dict[str, int] = field(default_factory=dict)

    def name_of(self, number: int) -> str:
        for k, v in self.values.items():
            if v == number:
                return k
        return str(number)


@dataclass(eq=False)
class ProtoMessage:
    name: str
    full_name: str  # without the leading dot
    fields: list[ProtoField] = field(default_factory=list)
    messages: list[ProtoMessage] = field(default_factory=list)
    enums: list[ProtoEnum] = field(default_factory=list)
    synthetic_oneofs: set[str] = field(default_factory=set)  # proto3 `optional` fields

    def by_number(self) -> dict[int, ProtoField]:
        cached: dict[int, ProtoField] | None = getattr(self, "_by_number", None)
        if cached is None:
            cached = {f.number: f for f in self.fields}
            self._by_number = cached
        return cached


@dataclass(eq=False)
class ProtoFile:
    syntax: str = "proto2"
    package: str = ""
    imports: list[str] = field(default_factory=list)
    messages: list[ProtoMessage] = field(default_factory=list)
    enums: list[ProtoEnum] = field(default_factory=list)
    type_names: list[str] = field(default_factory=list)  # top-level messages and enums, in order


SCALARS = {"double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
           "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes"}

WELL_KNOWN: dict[str, str] = {
    "google/protobuf/wrappers.proto": """syntax = "proto3"; package google.protobuf;
        message DoubleValue { double value = 1; } message FloatValue { float value = 1; }
        message Int64Value { int64 value = 1; } message UInt64Value { uint64 value = 1; }
        message Int32Value { int32 value = 1; } message UInt32Value { uint32 value = 1; }
        message BoolValue { bool value = 1; } message StringValue { string value = 1; }
        message BytesValue { bytes value = 1; }""",
    "google/protobuf/timestamp.proto": """syntax = "proto3"; package google.protobuf;
        message Timestamp { int64 seconds = 1; int32 nanos = 2; }""",
    "google/protobuf/duration.proto": """syntax = "proto3"; package google.protobuf;
        message Duration { int64 seconds = 1; int32 nanos = 2; }""",
    "google/protobuf/empty.proto": """syntax = "proto3"; package google.protobuf; message Empty {}""",
    "google/protobuf/descriptor.proto": """syntax = "proto2"; package google.protobuf;""",
    "google/type/date.proto": """syntax = "proto3"; package google.type;
        message Date { int32 year = 1; int32 month = 2; int32 day = 3; }""",
    "google/type/timeofday.proto": """syntax = "proto3"; package google.type;
        message TimeOfDay { int32 hours = 1; int32 minutes = 2; int32 seconds = 3; int32 nanos = 4; }""",
    "confluent/type/decimal.proto": """syntax = "proto3"; package confluent.type;
        message Decimal { bytes value = 1; uint32 precision = 2; int32 scale = 3; }""",
    "confluent/meta.proto": """syntax = "proto3"; package confluent;
        message Meta { string doc = 1; map<string, string> params = 2; }""",
}


class ProtoSchemaError(KsqlException):
    pass


# -- tokenizer ------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?))
  | (?P<ident>\.?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<sym>[{}\[\]()<>=;,:/.-])
    """,
    re.VERBOSE | re.DOTALL,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise ProtoSchemaError(f"Invalid protobuf schema: unexpected character {text[pos]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group()))
    return out


def _unquote(s: str) -> str:
    body = s[1:-1]
    return body.encode("latin-1", "backslashreplace").decode("unicode_escape") if "\\" in body else body


# -- parser ---------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> str:
        return self.toks[self.i][1] if self.i < len(self.toks) else ""

    def kind(self) -> str:
        return self.toks[self.i][0] if self.i < len(self.toks) else ""

    def next(self) -> str:
        if self.i >= len(self.toks):
            raise ProtoSchemaError("Invalid protobuf schema: unexpected end of schema")
        tok = self.toks[self.i][1]
        self.i += 1
        return tok

    def expect(self, tok: str) -> None:
        got = self.next()
        if got != tok:
            raise ProtoSchemaError(f"Invalid protobuf schema: expected '{tok}' but found '{got}'")

    def accept(self, tok: str) -> bool:
        if self.peek() == tok:
            self.i += 1
            return True
        return False

    def ident(self) -> str:
        if self.kind() != "ident":
            raise ProtoSchemaError(f"Invalid protobuf schema: expected a name but found '{self.peek()}'")
        return self.next()

    def number(self) -> int:
        tok = self.next()
        try:
            return int(tok, 0)
        except ValueError:
            raise ProtoSchemaError(f"Invalid protobuf schema: expected a number but found '{tok}'") from None

    # -- file --
    def file(self) -> ProtoFile:
        f = ProtoFile()
        while self.i < len(self.toks):
            tok = self.peek()
            if tok == "syntax" or tok == "edition":
                self.next()
                self.expect("=")
                f.syntax = _unquote(self.next())
                self.expect(";")
            elif tok == "package":
                self.next()
                f.package = self.ident()
                self.expect(";")
            elif tok == "import":
                self.next()
                if self.peek() in ("public", "weak"):
                    self.next()
                f.imports.append(_unquote(self.next()))
                self.expect(";")
            elif tok == "option":
                self.option()
            elif tok == "message":
                f.messages.append(self.message(f.package))
                f.type_names.append(f.messages[-1].full_name)
            elif tok == "enum":
                f.enums.append(self.enum(f.package))
                f.type_names.append(f.enums[-1].full_name)
            elif tok in ("service", "extend"):
                self.skip_block()
            elif tok == ";":
                self.next()
            else:
                raise ProtoSchemaError(f"Invalid protobuf schema: unexpected '{tok}'")
        return f

    def skip_block(self) -> None:
        while self.next() != "{":
            pass
        depth = 1
        while depth:
            tok = self.next()
            depth += tok == "{"
            depth -= tok == "}"

    def option(self) -> tuple[str, Any]:
        self.expect("option")
        name = self.option_name()
        self.expect("=")
        value = self.constant()
        self.expect(";")
        return name, value

    def option_name(self) -> str:
        parts = []
        while True:
            if self.accept("("):
                parts.append("(" + self.ident() + ")")
                self.expect(")")
            else:
                parts.append(self.ident())
            if self.peek().startswith(".") and self.kind() == "ident":
                parts.append(self.next())
                continue
            if not self.accept("."):
                return "".join(parts)

    def constant(self) -> Any:
        tok = self.peek()
        if tok == "{":
            return self.aggregate()
        if tok == "[":
            self.next()
            items = []
            while not self.accept("]"):
                items.append(self.constant())
                self.accept(",")
            return items
        self.next()
        if tok[:1] in "\"'":
            s = _unquote(tok)
            while self.peek()[:1] in ("\"", "'") and self.kind() == "str":
                s += _unquote(self.next())
            return s
        if tok == "-":
            return -self._num(self.next())
        if self.toks[self.i - 1][0] == "num":
            return self._num(tok)
        return {"true": True, "false": False}.get(tok, tok)

    @staticmethod
    def _num(tok: str) -> int | float:
        try:
            return int(tok, 0)
        except ValueError:
            return float(tok)

    def aggregate(self) -> dict[str, Any]:
        """A text-format message value: ``{ name: value name { ... } name: [ ... ] }``."""
        self.expect("{")
        out: dict[str, Any] = {}
        while not self.accept("}"):
            name = self.next()
            if name == "[":  # extension name in brackets
                name = self.ident()
                self.expect("]")
            self.accept(":")
            value = self.constant()
            if name in out:
                prev = out[name]
                out[name] = (prev if isinstance(prev, list) else [prev]) + [value]
            else:
                out[name] = value
            if not self.accept(","):
                self.accept(";")
        return out

    def field_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if self.accept("["):
            while True:
                name = self.option_name()
                self.expect("=")
                opts[name] = self.constant()
                if not self.accept(","):
                    break
            self.expect("]")
        return opts

    def message(self, scope: str) -> ProtoMessage:
        self.expect("message")
        name = self.ident()
        full = f"{scope}.{name}" if scope else name
        msg = ProtoMessage(name, full)
        self.expect("{")
        while not self.accept("}"):
            self.member(msg, None)
        return msg

    def member(self, msg: ProtoMessage, oneof: str | None) -> None:
        tok = self.peek()
        if tok == "message":
            msg.messages.append(self.message(msg.full_name))
        elif tok == "enum":
            msg.enums.append(self.enum(msg.full_name))
        elif tok == "option":
            self.option()
        elif tok == "oneof":
            self.next()
            group = self.ident()
            self.expect("{")
            while not self.accept("}"):
                self.member(msg, group)
        elif tok in ("reserved", "extensions"):
            while self.next() != ";":
                pass
        elif tok in ("extend", "service"):
            self.skip_block()
        elif tok == ";":
            self.next()
        elif tok == "map" and self.toks[self.i + 1][1] == "<":
            self.next()
            self.expect("<")
            key = self.ident()
            self.expect(",")
            value = self.ident()
            self.expect(">")
            name = self.ident()
            self.expect("=")
            number = self.number()
            opts = self.field_options()
            self.expect(";")
            msg.fields.append(ProtoField(name, number, value, "repeated", key, opts, oneof))
        else:
            label = None
            if tok in ("optional", "repeated", "required"):
                label = self.next()
            if self.peek() == "group":
                raise ProtoSchemaError("Invalid protobuf schema: groups are not supported")
            type_name = self.ident()
            name = self.ident()
            self.expect("=")
            number = self.number()
            opts = self.field_options()
            self.expect(";")
            f = ProtoField(name, number, type_name, label, None, opts, oneof)
            msg.fields.append(f)

    def enum(self, scope: str) -> ProtoEnum:
        self.expect("enum")
        name = self.ident()
        e = ProtoEnum(name, f"{scope}.{name}" if scope else name)
        self.expect("{")
        while not self.accept("}"):
            tok = self.peek()
            if tok == "option":
                self.option()
            elif tok == "reserved":
                while self.next() != ";":
                    pass
            elif tok == ";":
                self.next()
            else:
                value_name = self.ident()
                self.expect("=")
                negative = self.accept("-")
                number = self.number()
                self.field_options()
                self.expect(";")
                e.values.setdefault(value_name, -number if negative else number)
        return e


def parse_file(text: str) -> ProtoFile:
    return _Parser(text).file()


# -- linking --------------------------------------------------------------------------------------


class ProtoSchema:
    """A parsed main file with its imports, every type reference resolved."""

    def __init__(self, text: str, dependencies: dict[str, str] | None = None) -> None:
        self.text = text
        self.file = parse_file(text)
        self.types: dict[str, ProtoMessage | ProtoEnum] = {}
        deps = dict(dependencies or {})
        seen: set[str] = set()

        def load(f: ProtoFile) -> None:
            for imp in f.imports:
                if imp in seen:
                    continue
                seen.add(imp)
                src = deps.get(imp, WELL_KNOWN.get(imp))
                if src is None:
                    raise ProtoSchemaError(f"Invalid protobuf schema: cannot resolve import \"{imp}\"")
                dep = parse_file(src)
                load(dep)
                self._index(dep)

        load(self.file)
        self._index(self.file)
        for msg in self.all_messages():
            for f in msg.fields:
                self._link(msg, f)

    def _index(self, f: ProtoFile) -> None:
        def visit(m: ProtoMessage) -> None:
            self.types[m.full_name] = m
            for e in m.enums:
                self.types[e.full_name] = e
            for n in m.messages:
                visit(n)

        for m in f.messages:
            visit(m)
        for e in f.enums:
            self.types[e.full_name] = e

    def all_messages(self) -> list[ProtoMessage]:
        return [t for t in self.types.values() if isinstance(t, ProtoMessage)]

    def _link(self, msg: ProtoMessage, f: ProtoField) -> None:
        if f.type in SCALARS:
            return
        found = self.resolve(f.type, msg.full_name)
        if found is None:
            raise ProtoSchemaError(f"Invalid protobuf schema: unknown type {f.type} in message {msg.full_name}")
        if isinstance(found, ProtoMessage):
            f.message = found
        else:
            f.enum = found
        f.type = "." + found.full_name

    def resolve(self, ref: str, scope: str) -> ProtoMessage | ProtoEnum | None:
        if ref.startswith("."):
            return self.types.get(ref[1:])
        parts = scope.split(".") if scope else []
        while True:
            candidate = ".".join([*parts, ref])
            if candidate in self.types:
                return self.types[candidate]
            if not parts:
                return None
            parts.pop()

    def message(self, full_name: str | None) -> tuple[ProtoMessage, list[int]]:
        """The root message (the first one, or the one named) and its index path in the file."""
        if not self.file.messages:
            raise ProtoSchemaError("Invalid protobuf schema: no message definitions")
        if not full_name:
            return self.file.messages[0], [0]
        want = full_name.lstrip(".")

        def search(msgs: list[ProtoMessage], path: list[int]) -> tuple[ProtoMessage, list[int]] | None:
            for i, m in enumerate(msgs):
                if m.full_name == want or m.name == want:
                    return m, [*path, i]
                found = search(m.messages, [*path, i])
                if found is not None:
                    return found
            return None

        found = search(self.file.messages, [])
        if found is None:
            raise ProtoSchemaError(f"Schema with name {want} not found in the protobuf schema")
        return found

    def by_indexes(self, indexes: list[int]) -> ProtoMessage:
        msgs = self.file.messages
        msg: ProtoMessage | None = None
        for i in indexes:
            if i >= len(msgs):
                raise ProtoSchemaError(f"Invalid message indexes: {indexes}")
            msg = msgs[i]
            msgs = msg.messages
        if msg is None:
            raise ProtoSchemaError("Invalid message indexes: []")
        return msg


# -- wire codec -----------------------------------------------------------------------------------

VARINT, I64, LEN, I32 = 0, 1, 2, 5

_VARINT_TYPES = {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool"}
_I32_TYPES = {"fixed32", "sfixed32", "float"}
_I64_TYPES = {"fixed64", "sfixed64", "double"}


def wire_type(f: ProtoField) -> int:
    if f.enum is not None or f.type in _VARINT_TYPES:
        return VARINT
    if f.type in _I32_TYPES:
        return I32
    if f.type in _I64_TYPES:
        return I64
    return LEN


def write_varint(out: bytearray, v: int) -> None:
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise EOFError("Truncated protobuf varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ValueError("Malformed protobuf varint")


def zigzag(v: int) -> int:
    return (v << 1) ^ (v >> 63)


def unzigzag(v: int) -> int:
    return (v >> 1) ^ -(v & 1)


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def encode_scalar(out: bytearray, type_name: str, v: Any) -> None:
    """The value bytes (no tag) of a scalar or enum number."""
    if type_name in ("int32", "int64", "uint32", "uint64"):
        write_varint(out, int(v))
    elif type_name == "bool":
        out.append(1 if v else 0)
    elif type_name in ("sint32", "sint64"):
        write_varint(out, zigzag(int(v)))
    elif type_name == "fixed32":
        out += struct.pack("<I", int(v) & 0xFFFFFFFF)
    elif type_name == "sfixed32":
        out += struct.pack("<i", int(v))
    elif type_name == "float":
        out += struct.pack("<f", float(v))
    elif type_name == "fixed64":
        out += struct.pack("<Q", int(v) & 0xFFFFFFFFFFFFFFFF)
    elif type_name == "sfixed64":
        out += struct.pack("<q", int(v))
    elif type_name == "double":
        out += struct.pack("<d", float(v))
    elif type_name == "string":
        raw = str(v).encode("utf-8")
        write_varint(out, len(raw))
        out += raw
    elif type_name == "bytes":
        raw = bytes(v)
        write_varint(out, len(raw))
        out += raw
    else:  # enum number
        write_varint(out, int(v))


def decode_scalar(type_name: str, raw: int | bytes) -> Any:
    """A scalar from its varint / fixed / length-delimited raw form."""
    if isinstance(raw, bytes):
        if type_name == "string":
            return raw.decode("utf-8")
        if type_name == "bytes":
            return raw
        if type_name == "float":
            return struct.unpack("<f", raw)[0]
        if type_name == "double":
            return struct.unpack("<d", raw)[0]
        if type_name == "sfixed32":
            return struct.unpack("<i", raw)[0]
        if type_name == "sfixed64":
            return struct.unpack("<q", raw)[0]
        if type_name == "fixed32":
            return struct.unpack("<I", raw)[0]
        if type_name == "fixed64":
            return struct.unpack("<Q", raw)[0]
        raise ValueError(f"Unexpected length-delimited value for {type_name}")
    if type_name == "int32":
        return _signed(raw, 32)
    if type_name == "int64":
        return _signed(raw, 64)
    if type_name == "uint32":
        return raw & 0xFFFFFFFF
    if type_name == "uint64":
        return raw & 0xFFFFFFFFFFFFFFFF
    if type_name in ("sint32", "sint64"):
        return unzigzag(raw)
    if type_name == "bool":
        return raw != 0
    return _signed(raw, 32)  # enum number


_FIXED_SIZE = {I32: 4, I64: 8}


def read_fields(data: bytes | memoryview, msg: ProtoMessage) -> dict[int, list[Any]]:
    """Raw values by field number (repeated occurrences, packed runs expanded)."""
    out: dict[int, list[Any]] = {}
    known = msg.by_number()
    pos, end = 0, len(data)
    while pos < end:
        tag, pos = read_varint(data, pos)
        number, wt = tag >> 3, tag & 7
        if wt == VARINT:
            raw: Any
            raw, pos = read_varint(data, pos)
        elif wt in _FIXED_SIZE:
            size = _FIXED_SIZE[wt]
            raw = bytes(data[pos:pos + size])
            pos += size
        elif wt == LEN:
            size, pos = read_varint(data, pos)
            raw = bytes(data[pos:pos + size])
            pos += size
        else:
            raise ValueError(f"Unsupported protobuf wire type {wt}")
        if pos > end:
            raise EOFError("Truncated protobuf message")
        f = known.get(number)
        if f is None:
            continue
        if wt == LEN and f.repeated and not f.is_map and wire_type(f) != LEN:
            out.setdefault(number, []).extend(_unpack(raw, f))
        else:
            out.setdefault(number, []).append(raw)
    return out


def _unpack(raw: bytes, f: ProtoField) -> list[Any]:
    wt = wire_type(f)
    items: list[Any] = []
    pos = 0
    while pos < len(raw):
        if wt == VARINT:
            v, pos = read_varint(raw, pos)
            items.append(v)
        else:
            size = _FIXED_SIZE[wt]
            items.append(raw[pos:pos + size])
            pos += size
    return items


def write_tag(out: bytearray, number: int, wt: int) -> None:
    write_varint(out, (number << 3) | wt)


def write_message_indexes(indexes: list[int]) -> bytes:
    out = bytearray()
    if indexes == [0]:
        out.append(0)
        return bytes(out)
    write_varint(out, zigzag(len(indexes)))
    for i in indexes:
        write_varint(out, zigzag(i))
    return bytes(out)


def read_message_indexes(data: bytes, pos: int = 0) -> tuple[list[int], int]:
    n, pos = read_varint(data, pos)
    count = unzigzag(n)
    if count == 0:
        return [0], pos
    indexes = []
    for _ in range(count):
        v, pos = read_varint(data, pos)
        indexes.append(unzigzag(v))
    return indexes, pos
