"""Order-preserving byte encodings for composite state keys.

Integers are 8 bytes big-endian with the sign bit flipped, so bytewise order is numeric order
(negative timestamps included). A caller's key is framed by its length, so that the key part of two
composite keys can never run into the time part that follows it.
"""

from __future__ import annotations

from struct import Struct

from state.store import prefix_end

_U64 = Struct(">Q")
_U32 = Struct(">I")
_SIGN = 1 << 63
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
INT_SIZE = 8


def encode_int(value: int) -> bytes:
    return _U64.pack((value + _SIGN) & 0xFFFFFFFFFFFFFFFF)


def decode_int(raw: bytes, pos: int = 0) -> int:
    return int(_U64.unpack_from(raw, pos)[0]) - _SIGN


def frame_key(key: bytes) -> bytes:
    return _U32.pack(len(key)) + key


def unframe_key(raw: bytes, pos: int = 0) -> tuple[bytes, int]:
    """The framed key at ``pos`` and the position after it."""
    n = _U32.unpack_from(raw, pos)[0]
    start = pos + _U32.size
    return raw[start : start + n], start + n


def time_range(prefix: bytes, time_from: int, time_to: int) -> tuple[bytes, bytes]:
    """Bounds ``[lo, hi)`` of the keys ``prefix + encode_int(t)...`` with ``time_from <= t <= time_to``."""
    lo = prefix + encode_int(min(max(time_from, INT64_MIN), INT64_MAX))
    if time_to < time_from or time_to < INT64_MIN:
        return lo, lo
    if time_to >= INT64_MAX:
        end = prefix_end(prefix)
        assert end is not None, "time ranges are scanned under a non-empty prefix"
        return lo, end
    return lo, prefix + encode_int(time_to + 1)
