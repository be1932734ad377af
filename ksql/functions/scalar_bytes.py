"""Encoding functions: ENCODE between text encodings, and STRING/BYTES/number conversions.

Two codecs are in play, as in ksqlDB: ENCODE uses the lenient Apache-commons rules (hex may carry
a ``0x``/``X'..'`` wrapper, base64 ignores stray characters) while TO_BYTES/FROM_BYTES use the
strict JDK codecs (hex is printed upper-case, base64 must be well formed).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Callable

from ksql.errors import KsqlFunctionException
from ksql.functions.registry import Overload, ScalarFunction, register_scalar
from ksql.sqltypes import BIGINT, BYTES, DOUBLE, INTEGER, STRING

CATEGORY = "STRING"
CONVERSIONS = "CONVERSIONS"

# ----------------------------------------------------------------------------------------------
# Lenient codecs for ENCODE
# ----------------------------------------------------------------------------------------------

_WRAPPED_HEX = re.compile(r"[xX]'.*'", re.DOTALL)
_HEX = re.compile(r"[0-9a-fA-F]*")
_B64_CHARS = re.compile(r"[^A-Za-z0-9+/\-_]")


def _strip_hex(text: str) -> str:
    if text.startswith("0x"):
        # an odd-length 0x literal gets a leading zero nibble (X'..' and bare hex must be even)
        digits = text[2:]
        return "0" + digits if len(digits) % 2 else digits
    if _WRAPPED_HEX.fullmatch(text):
        return text[2:-1]
    return text


def _decode_hex(text: str) -> bytes:
    if len(text) % 2:
        raise KsqlFunctionException("Odd number of characters.")
    if not _HEX.fullmatch(text):
        raise KsqlFunctionException(f"Illegal hexadecimal character in {text}")
    return bytes.fromhex(text)


def _lenient_b64decode(text: str) -> bytes:
    # commons-codec: stop at padding, skip characters outside both alphabets, drop a dangling char
    body = text.split("=", 1)[0]
    body = _B64_CHARS.sub("", body).replace("-", "+").replace("_", "/")
    if len(body) % 4 == 1:
        body = body[:-1]
    return base64.b64decode(body + "=" * (-len(body) % 4))


def _decode_as(text: str, encoding: str) -> bytes:
    if encoding == "hex":
        return _decode_hex(_strip_hex(text))
    if encoding == "utf8":
        return text.encode("utf-8", "surrogatepass")
    if encoding == "ascii":
        return text.encode("ascii", "replace")
    return _lenient_b64decode(text)


def _encode_as(data: bytes, encoding: str) -> str:
    if encoding == "hex":
        return data.hex()
    if encoding == "utf8":
        return data.decode("utf-8", "replace")
    if encoding == "ascii":
        return data.decode("ascii", "replace")
    return base64.b64encode(data).decode("ascii")


_ENCODINGS = ("hex", "utf8", "ascii", "base64")


def encode(text: str | None, input_encoding: str | None, output_encoding: str | None) -> str | None:
    if text is None or input_encoding is None or output_encoding is None:
        return None
    src, dst = input_encoding.lower(), output_encoding.lower()
    if src not in _ENCODINGS or dst not in _ENCODINGS or src == dst:
        raise KsqlFunctionException("Supported input and output encodings are: hex, utf8, ascii and base64")
    return _encode_as(_decode_as(text, src), dst)


# ----------------------------------------------------------------------------------------------
# Strict codecs for TO_BYTES / FROM_BYTES
# ----------------------------------------------------------------------------------------------


def _encoding(name: str) -> str:
    low = name.lower()
    if low not in _ENCODINGS:
        raise KsqlFunctionException(
            f"Unknown encoding type '{name}'. Supported formats are 'hex', 'utf8', 'ascii', and 'base64'."
        )
    return low


def to_bytes(text: str | None, encoding: str | None) -> bytes | None:
    if text is None or encoding is None:
        return None
    enc = _encoding(encoding)
    if enc == "hex":
        if len(text) % 2:
            raise KsqlFunctionException(f"hexBinary needs to be even-length: {text}")
        if not _HEX.fullmatch(text):
            raise KsqlFunctionException(f"contains illegal character for hexBinary: {text}")
        return bytes.fromhex(text)
    if enc == "utf8":
        return text.encode("utf-8", "surrogatepass")
    if enc == "ascii":
        return text.encode("ascii", "replace")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise KsqlFunctionException(f"Illegal base64 input: {e}") from e


def from_bytes(data: bytes | None, encoding: str | None) -> str | None:
    if data is None or encoding is None:
        return None
    enc = _encoding(encoding)
    if enc == "hex":
        return data.hex().upper()
    return _encode_as(data, enc)


# ----------------------------------------------------------------------------------------------
# Numbers from bytes
# ----------------------------------------------------------------------------------------------


def _from_bytes(fmt: str, size: int) -> Callable[..., int | float | None]:
    def call(data: bytes | None, byte_order: str | None = "BIG_ENDIAN") -> int | float | None:
        if byte_order is not None and byte_order.upper() == "BIG_ENDIAN":
            prefix = ">"
        elif byte_order is not None and byte_order.upper() == "LITTLE_ENDIAN":
            prefix = "<"
        else:
            raise KsqlFunctionException(
                f"Byte order must be BIG_ENDIAN or LITTLE_ENDIAN. Unknown byte order '{byte_order}'."
            )
        if data is None:
            return None
        if len(data) != size:
            raise KsqlFunctionException(f"Number of bytes must be equal to {size}, but found {len(data)}")
        value: int | float = struct.unpack(prefix + fmt, data)[0]
        return value

    return call


def _register() -> None:
    def fn(name: str, category: str, description: str, overloads: list[Overload]) -> None:
        register_scalar(ScalarFunction(name, category, description, overloads))

    fn("ENCODE", CATEGORY, "Re-encodes a string between hex, utf8, ascii and base64.", [
        Overload([STRING, STRING, STRING], STRING, encode),
    ])
    fn("TO_BYTES", CATEGORY, "Converts a STRING in the given encoding (hex, utf8, ascii, base64) to BYTES.", [
        Overload([STRING, STRING], BYTES, to_bytes),
    ])
    fn("FROM_BYTES", CATEGORY, "Converts BYTES to a STRING in the given encoding (hex, utf8, ascii, base64).", [
        Overload([BYTES, STRING], STRING, from_bytes),
    ])
    for name, ret, fmt, size in (
        ("INT_FROM_BYTES", INTEGER, "i", 4),
        ("BIGINT_FROM_BYTES", BIGINT, "q", 8),
        ("DOUBLE_FROM_BYTES", DOUBLE, "d", 8),
    ):
        impl = _from_bytes(fmt, size)
        desc = f"Converts {size} BYTES to a {ret} in BIG_ENDIAN (default) or LITTLE_ENDIAN order."
        fn(name, CONVERSIONS, desc, [
            Overload([BYTES], ret, impl),
            Overload([BYTES, STRING], ret, impl),
        ])


_register()
