"""What flows between operators of a running query."""

from __future__ import annotations

from typing import Any

from ksql.types import Headers, Key, Row


class Rec:
    """One change travelling through a query.

    ``row`` is the full row (key columns, value columns, pseudo columns) or None for a tombstone.
    For tables, ``old`` is the previous row under the same key when an operator needs it
    (aggregations over tables undo it). ``window`` is ``(start, end)`` for windowed keys.
    """

    __slots__ = ("key", "row", "old", "ts", "window", "partition", "offset", "headers")

    def __init__(
        self,
        key: Key,
        row: Row | None,
        ts: int,
        old: Row | None = None,
        window: tuple[int, int] | None = None,
        partition: int = 0,
        offset: int = 0,
        headers: Headers = (),
    ) -> None:
        self.key = key
        self.row = row
        self.ts = ts
        self.old = old
        self.window = window
        self.partition = partition
        self.offset = offset
        self.headers = headers

    def with_(self, **kw: Any) -> Rec:
        r = Rec(self.key, self.row, self.ts, self.old, self.window, self.partition, self.offset, self.headers)
        for k, v in kw.items():
            setattr(r, k, v)
        return r

    def __repr__(self) -> str:
        return f"Rec(key={self.key!r}, row={self.row!r}, old={self.old!r}, ts={self.ts}, window={self.window})"
