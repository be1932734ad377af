"""Windowed keys, laid out as Kafka Streams writes them.

* time windows (tumbling, hopping): ``inner key bytes + 8-byte big-endian window start``; the end is
  not stored: it is ``start + window size``.
* session windows: ``inner key bytes + 8-byte end + 8-byte start``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from ksql.errors import SerializationError
from ksql.formats.base import Serde, Values

_LONG = struct.Struct(">q")
_TWO_LONGS = struct.Struct(">qq")
INT64_MAX = 2**63 - 1


def time_window_end(start: int, size: int) -> int:
    """End of a time window; saturates like Kafka Streams when it would overflow."""
    end = start + size
    return INT64_MAX if end > INT64_MAX else end


def serialize_windowed(inner: bytes | None, start: int, end: int, session: bool) -> bytes:
    """Key bytes of a windowed record; a null inner key is written as no bytes."""
    key = inner or b""
    if session:
        return key + _TWO_LONGS.pack(end, start)
    return key + _LONG.pack(start)


def deserialize_windowed(
    data: bytes, session: bool, window_size: int | None = None
) -> tuple[bytes, int, int]:
    """``(inner key bytes, start, end)`` of a windowed key.

    Time windows need ``window_size`` to know their end.
    """
    if session:
        if len(data) < 16:
            raise SerializationError(f"Session-windowed key too short: {len(data)} bytes")
        end, start = _TWO_LONGS.unpack_from(data, len(data) - 16)
        return data[:-16], start, end
    if len(data) < 8:
        raise SerializationError(f"Time-windowed key too short: {len(data)} bytes")
    if window_size is None:
        raise ValueError("a time-windowed key needs the window size to know its end")
    (start,) = _LONG.unpack_from(data, len(data) - 8)
    return data[:-8], start, time_window_end(start, window_size)


class WindowedSerde:
    """A key serde around an inner (unwindowed) key serde."""

    def __init__(self, inner: Serde, *, session: bool, window_size: int | None = None) -> None:
        if not session and window_size is None:
            raise ValueError("a time-windowed key serde needs the window size")
        self.inner = inner
        self.session = session
        self.window_size = window_size

    def serialize(self, values: Sequence[Any] | None, start: int, end: int) -> bytes | None:
        if values is None:
            return None
        return serialize_windowed(self.inner.serialize(values), start, end, self.session)

    def deserialize(self, data: bytes | None) -> tuple[Values | None, int, int] | None:
        """``(key values, window start, window end)``; ``None`` for a null key."""
        if data is None:
            return None
        inner, start, end = deserialize_windowed(data, self.session, self.window_size)
        return self.inner.deserialize(inner), start, end
