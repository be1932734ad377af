"""Aliases that the engine speaks in."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]  # column name -> value (see ksql.sqltypes for value representation)
Key = tuple[Any, ...]  # key column values in key-schema order
Headers = tuple[tuple[str, bytes | None], ...]
TopicPartition = tuple[str, int]
Offsets = dict[TopicPartition, int]  # next offset to read, per partition
Millis = int  # event time and durations: integer milliseconds
