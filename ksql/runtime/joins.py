"""Joins: stream-stream (windowed), stream-table, table-table and foreign-key table-table.

Both inputs arrive already keyed by the join key with rows whose column names carry the source
alias prefix (``L_ID``); the joined row is the union of the two sides' columns, the missing side
filled with nulls. Port 0 is the left input, port 1 the right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ksql.runtime.operators import Operator
from ksql.runtime.records import Rec
from ksql.types import Key, Row

DEFAULT_GRACE_MS = 24 * 3600 * 1000


def _merge(left: Row | None, right: Row | None, left_nulls: Row, right_nulls: Row) -> Row:
    out = dict(left_nulls if left is None else left)
    out.update(right_nulls if right is None else right)
    return out


class _JoinBase(Operator):
    def __init__(
        self,
        kind: str,
        left_columns: list[str],
        right_columns: list[str],
        key_fn: Callable[[Key, Row], Key] | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind  # INNER | LEFT | RIGHT | FULL
        self.left_nulls = dict.fromkeys(left_columns)
        self.right_nulls = dict.fromkeys(right_columns)
        self.key_fn = key_fn  # computes the output key (e.g. a synthetic ROWKEY)

    def _out(self, key: Key, left: Row | None, right: Row | None, ts: int, window: Any = None) -> None:
        row = _merge(left, right, self.left_nulls, self.right_nulls)
        out_key = self.key_fn(key, row) if self.key_fn is not None else key
        self.forward(Rec(out_key, row, ts, window=window))

    def _tombstone(self, key: Key, ts: int, left: Row | None = None, right: Row | None = None) -> None:
        out_key = key
        if self.key_fn is not None:
            out_key = self.key_fn(key, _merge(left, right, self.left_nulls, self.right_nulls))
        self.forward(Rec(out_key, None, ts))


class StreamStreamJoinOp(_JoinBase):
    def __init__(
        self,
        kind: str,
        left_columns: list[str],
        right_columns: list[str],
        before_ms: int,
        after_ms: int,
        grace_ms: int | None,
        store_name: str,
        key_fn: Callable[[Key, Row], Key] | None = None,
    ) -> None:
        super().__init__(kind, left_columns, right_columns, key_fn)
        self.before = before_ms
        self.after = after_ms
        self.grace = grace_ms
        self.store_name = store_name
        # With an explicit grace period, unmatched outer rows wait for the window to close
        # instead of being emitted at once (no spurious null-padded results).
        self.deferred = grace_ms is not None
        self._pending: list[tuple[int, int, Key, Row, int]] = []  # (close_at, side, key, row, ts)

    def process(self, rec: Rec, port: int = 0) -> None:
        if rec.row is None or any(k is None for k in rec.key):
            return
        ctx = self.ctx
        assert ctx is not None
        store = ctx.store(self.store_name)
        stream_time = ctx.stream_time
        grace = self.grace if self.grace is not None else DEFAULT_GRACE_MS
        ts = rec.ts
        if ts < stream_time - (self.before + self.after + grace) and self.grace is not None:
            ctx.log_error("Skipping late record for stream-stream join")
            return
        this_side, other_side = (port, 1 - port)
        # window on the other side: left at t matches right in [t - before, t + after]
        if port == 0:
            lo, hi = ts - self.before, ts + self.after
        else:
            lo, hi = ts - self.after, ts + self.before
        others = store.get((other_side, rec.key)) or []
        matched = False
        for i, (ots, orow, _joined) in enumerate(others):
            if lo <= ots <= hi:
                matched = True
                others[i] = (ots, orow, True)
                left, right = (rec.row, orow) if port == 0 else (orow, rec.row)
                self._out(rec.key, left, right, max(ts, ots))
        if matched:
            store.put((other_side, rec.key), others)
        mine = store.get((this_side, rec.key)) or []
        mine.append((ts, rec.row, matched))
        # drop what can no longer join
        horizon = max(stream_time, ts) - (self.before + self.after + grace)
        mine = [m for m in mine if m[0] >= horizon]
        store.put((this_side, rec.key), mine)
        outer_this = (port == 0 and self.kind in ("LEFT", "FULL")) or (port == 1 and self.kind in ("RIGHT", "FULL"))
        if not matched and outer_this:
            if self.deferred:
                close_at = ts + (self.after if port == 0 else self.before) + grace
                self._pending.append((close_at, port, rec.key, rec.row, ts))
            else:
                left, right = (rec.row, None) if port == 0 else (None, rec.row)
                self._out(rec.key, left, right, ts)

    def on_stream_time(self, stream_time: int) -> None:
        if not self._pending:
            return
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        still: list[tuple[int, int, Key, Row, int]] = []
        for item in self._pending:
            close_at, side, key, row, ts = item
            if close_at > stream_time:
                still.append(item)
                continue
            entries = store.get((side, key)) or []
            joined = any(e[0] == ts and e[1] is row and e[2] for e in entries)
            if not joined:
                left, right = (row, None) if side == 0 else (None, row)
                self._out(key, left, right, ts)
        self._pending = still


class StreamTableJoinOp(_JoinBase):
    """Port 0: the stream; port 1: the table's changes (kept, never emitted)."""

    def __init__(self, kind: str, left_columns: list[str], right_columns: list[str], store_name: str,
                 key_fn: Callable[[Key, Row], Key] | None = None) -> None:
        super().__init__(kind, left_columns, right_columns, key_fn)
        self.store_name = store_name

    def process(self, rec: Rec, port: int = 0) -> None:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        if port == 1:
            if rec.row is None:
                store.delete(rec.key)
            else:
                store.put(rec.key, rec.row)
            return
        if rec.row is None or any(k is None for k in rec.key):
            return
        right = store.get(rec.key)
        if right is None and self.kind == "INNER":
            return
        self._out(rec.key, rec.row, right, rec.ts)


class TableTableJoinOp(_JoinBase):
    def __init__(self, kind: str, left_columns: list[str], right_columns: list[str], store_name: str,
                 key_fn: Callable[[Key, Row], Key] | None = None) -> None:
        super().__init__(kind, left_columns, right_columns, key_fn)
        self.store_name = store_name

    def process(self, rec: Rec, port: int = 0) -> None:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        key = rec.key
        if any(k is None for k in key):
            return
        this_entry = store.get((port, key))
        other_entry = store.get((1 - port, key))
        if rec.row is None:
            if this_entry is None:
                return
            store.delete((port, key))
        else:
            store.put((port, key), (rec.row, rec.ts))
        other_row, other_ts = other_entry if other_entry is not None else (None, rec.ts)
        ts = max(rec.ts, other_ts) if other_entry is not None else rec.ts
        new = rec.row
        left, right = (new, other_row) if port == 0 else (other_row, new)
        kind = self.kind
        outer_this = (port == 0 and kind in ("LEFT", "FULL")) or (port == 1 and kind in ("RIGHT", "FULL"))
        outer_other = (port == 0 and kind in ("RIGHT", "FULL")) or (port == 1 and kind in ("LEFT", "FULL"))
        if new is not None:
            if other_row is not None or outer_this:
                self._out(key, left, right, ts)
            elif this_entry is not None and other_row is None and not outer_this:
                pass
            return
        # this side was deleted
        if other_row is not None and outer_other:
            self._out(key, left, right, ts)
        elif other_row is not None or outer_this:
            old_left, old_right = (this_entry[0], other_row) if port == 0 else (other_row, this_entry[0])
            self._tombstone(key, ts, old_left, old_right)


class ForeignKeyJoinOp(_JoinBase):
    """Left table joined to the right table on ``fk(left row) = right key``. Output key: left key."""

    def __init__(self, kind: str, left_columns: list[str], right_columns: list[str], store_name: str,
                 fk_fn: Callable[[Row], Any]) -> None:
        super().__init__(kind, left_columns, right_columns)
        self.store_name = store_name
        self.fk_fn = fk_fn

    def process(self, rec: Rec, port: int = 0) -> None:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        if port == 0:
            key = rec.key
            prev = store.get((0, key))
            if prev is not None:
                prev_fk = prev[2]
                idx = store.get((2, prev_fk)) or set()
                idx.discard(key)
                store.put((2, prev_fk), idx)
            if rec.row is None:
                if prev is None:
                    return
                store.delete((0, key))
                self.forward(Rec(key, None, rec.ts))
                return
            fk = self.fk_fn(rec.row)
            fk_key = (fk,)
            store.put((0, key), (rec.row, rec.ts, fk_key))
            idx = store.get((2, fk_key)) or set()
            idx.add(key)
            store.put((2, fk_key), idx)
            right = store.get((1, fk_key)) if fk is not None else None
            if right is not None:
                self._out(key, rec.row, right[0], max(rec.ts, right[1]))
            elif self.kind == "LEFT":
                self._out(key, rec.row, None, rec.ts)
            elif prev is not None:
                self.forward(Rec(key, None, rec.ts))
            return
        # right side change: re-join every left row pointing at this key
        rkey = rec.key
        if rec.row is None:
            if store.get((1, rkey)) is None:
                return
            store.delete((1, rkey))
        else:
            store.put((1, rkey), (rec.row, rec.ts))
        for lkey in sorted(store.get((2, rkey)) or set(), key=repr):
            left = store.get((0, lkey))
            if left is None:
                continue
            if rec.row is not None:
                self._out(lkey, left[0], rec.row, max(rec.ts, left[1]))
            elif self.kind == "LEFT":
                self._out(lkey, left[0], None, rec.ts)
            else:
                self.forward(Rec(lkey, None, rec.ts))


class PrefixOp(Operator):
    """Renames a side's columns to the join's qualified names (``L_ID``) and re-keys it."""

    def __init__(self, mapping: list[tuple[str, str]], key_fn: Callable[[Row], Key] | None) -> None:
        super().__init__()
        self.mapping = mapping
        self.key_fn = key_fn

    def _rename(self, row: Row | None) -> Row | None:
        if row is None:
            return None
        return {new: row.get(old) for old, new in self.mapping}

    def process(self, rec: Rec, port: int = 0) -> None:
        row = self._rename(rec.row)
        old = self._rename(rec.old)
        key = rec.key
        if self.key_fn is not None:
            src = rec.row if rec.row is not None else rec.old
            if src is None:
                return
            key = self.key_fn(src)
        self.forward(rec.with_(key=key, row=row, old=old))
