"""PostgreSQL frontend/backend protocol v3: reading client messages, building server messages.

A client message is a type byte, a 4-byte length (counting itself) and a body; the startup packet
has no type byte. Every builder returns the complete message as ``bytes``.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from rest.pgwire.errors import PROTOCOL_VIOLATION, FatalError, PgError

PROTOCOL_V3 = 196608  # 3.0
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
MAX_MESSAGE = 64 * 1024 * 1024

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_HEADER = struct.Struct("!ci")
_NULL = _I32.pack(-1)


# -- reading ---------------------------------------------------------------------------------------
async def read_startup(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The first packet of a connection: (protocol code, rest of the body)."""
    (length,) = _I32.unpack(await reader.readexactly(4))
    if length < 8 or length > 10_000:
        raise FatalError(PROTOCOL_VIOLATION, f"invalid length of startup packet: {length}")
    body = await reader.readexactly(length - 4)
    return _I32.unpack_from(body)[0], body[4:]


async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    kind, length = _HEADER.unpack(await reader.readexactly(5))
    if length < 4 or length > MAX_MESSAGE:
        raise FatalError(PROTOCOL_VIOLATION, f"invalid message length {length} for message type {kind!r}")
    return kind, await reader.readexactly(length - 4)


class Reader:
    """Sequential decoding of one message body."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int16(self) -> int:
        v: int = _I16.unpack_from(self.data, self._advance(2))[0]
        return v

    def int32(self) -> int:
        v: int = _I32.unpack_from(self.data, self._advance(4))[0]
        return v

    def uint32(self) -> int:
        v: int = _U32.unpack_from(self.data, self._advance(4))[0]
        return v

    def cstr(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise PgError(PROTOCOL_VIOLATION, "invalid string in message")
        s = self.data[self.pos:end].decode("utf-8", "replace")
        self.pos = end + 1
        return s

    def take(self, n: int) -> bytes:
        start = self._advance(n)
        return self.data[start:start + n]

    def byte(self) -> bytes:
        return self.take(1)

    def _advance(self, n: int) -> int:
        start = self.pos
        if start + n > len(self.data):
            raise PgError(PROTOCOL_VIOLATION, "insufficient data left in message")
        self.pos = start + n
        return start


def startup_params(body: bytes) -> dict[str, str]:
    parts = body.split(b"\0")
    params: dict[str, str] = {}
    for i in range(0, len(parts) - 1, 2):
        if not parts[i]:
            break
        params[parts[i].decode("utf-8", "replace")] = parts[i + 1].decode("utf-8", "replace")
    return params


# -- building --------------------------------------------------------------------------------------
def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + _I32.pack(len(body) + 4) + body


def _cstr(s: str) -> bytes:
    return s.encode() + b"\0"


AUTH_OK = message(b"R", _I32.pack(0))
AUTH_CLEARTEXT = message(b"R", _I32.pack(3))
PARSE_COMPLETE = message(b"1")
BIND_COMPLETE = message(b"2")
CLOSE_COMPLETE = message(b"3")
NO_DATA = message(b"n")
PORTAL_SUSPENDED = message(b"s")
EMPTY_QUERY = message(b"I")
SSL_REFUSED = b"N"


def auth_md5(salt: bytes) -> bytes:
    return message(b"R", _I32.pack(5) + salt)


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", _cstr(name) + _cstr(value))


def backend_key_data(pid: int, secret: int) -> bytes:
    return message(b"K", _I32.pack(pid) + _I32.pack(secret))


def ready_for_query(status: bytes) -> bytes:
    return message(b"Z", status)


def negotiate_protocol_version(minor: int, unknown: list[str]) -> bytes:
    return message(b"v", _I32.pack(minor) + _I32.pack(len(unknown)) + b"".join(_cstr(o) for o in unknown))


def command_complete(tag: str) -> bytes:
    return message(b"C", _cstr(tag))


def parameter_description(oids: list[int]) -> bytes:
    return message(b"t", _I16.pack(len(oids)) + b"".join(_U32.pack(o) for o in oids))


@dataclass(frozen=True, slots=True)
class Field:
    """One column of a RowDescription."""

    name: str
    type_oid: int
    type_len: int = -1
    type_mod: int = -1
    table_oid: int = 0
    attnum: int = 0


_FIELD = struct.Struct("!IhIhih")


def row_description(fields: list[Field], formats: list[int]) -> bytes:
    parts = [_I16.pack(len(fields))]
    for f, fmt in zip(fields, formats, strict=True):
        parts.append(_cstr(f.name))
        parts.append(_FIELD.pack(f.table_oid, f.attnum, f.type_oid, f.type_len, f.type_mod, fmt))
    return message(b"T", b"".join(parts))


def data_row(values: list[bytes | None]) -> bytes:
    parts = [_I16.pack(len(values))]
    for v in values:
        if v is None:
            parts.append(_NULL)
        else:
            parts.append(_I32.pack(len(v)))
            parts.append(v)
    body = b"".join(parts)
    return b"D" + _I32.pack(len(body) + 4) + body


def error_response(e: PgError) -> bytes:
    return message(b"E", _notice_fields(e))


def notice_response(severity: str, code: str, text: str) -> bytes:
    return message(b"N", _notice_fields(PgError(code, text, severity=severity)))


def _notice_fields(e: PgError) -> bytes:
    fields = [b"S" + _cstr(e.severity), b"V" + _cstr(e.severity), b"C" + _cstr(e.code), b"M" + _cstr(e.message)]
    if e.detail:
        fields.append(b"D" + _cstr(e.detail))
    if e.hint:
        fields.append(b"H" + _cstr(e.hint))
    if e.position is not None:
        fields.append(b"P" + _cstr(str(e.position)))
    return b"".join(fields) + b"\0"
