"""Joins: stream-stream (windowed), stream-table, table-table and foreign-key table-table.

Both inputs arrive keyed by the join key, with rows whose column names carry the source alias
prefix (``L_ID``); the joined row is the union of the two sides' columns, the missing side filled
with nulls. Port 0 is the left input, port 1 the right. The output key is the join key (the left
table's key for foreign-key joins); windowed inputs match on key and window, and the output
carries the left record's window.

Semantics follow Kafka Streams, which ksqlDB runs on: only the stream side of a stream-table join
triggers output; table-table joins emit the new joined row (or a tombstone) per change; a
stream-stream join buffers each side for its join window plus grace, and with an explicit GRACE
PERIOD holds unmatched outer rows back until their window closes.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from itertools import count
from typing import Any

from ksql.runtime.operators import Operator
from ksql.runtime.records import Rec
from ksql.runtime.task import hashable
from ksql.schema import ROWTIME
from ksql.types import Key, Row

DEFAULT_RETENTION_MS = 24 * 3600 * 1000  # join windows without GRACE keep 24h (Kafka Streams' legacy default)


def _merge(left: Row | None, right: Row | None, left_nulls: Row, right_nulls: Row) -> Row:
    out = dict(left_nulls if left is None else left)
    out.update(right_nulls if right is None else right)
    return out


def _null_key(key: Key) -> bool:
    return not key or all(k is None for k in key)


def match_key(rec: Rec, window_kind: str | None) -> Any:
    """What two records must share to join: the key, plus the window for windowed sources.

    Time windows serialize only their start, so records of windows with different ends but the
    same start still match; session windows carry both bounds."""
    if window_kind is None or rec.window is None:
        return rec.key
    if window_kind == "SESSION":
        return (rec.key, rec.window)
    return (rec.key, rec.window[0])


class _JoinBase(Operator):
    def __init__(
        self,
        kind: str,
        left_columns: list[str],
        right_columns: list[str],
        store_name: str,
        window_kind: str | None = None,
        key_column: str | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind  # INNER | LEFT | RIGHT | FULL
        self.left_nulls = dict.fromkeys(left_columns)
        self.right_nulls = dict.fromkeys(right_columns)
        self.store_name = store_name
        self.window_kind = window_kind
        # the final join writes its key into the row so the projection can select it
        self.key_column = key_column

    def _preserves(self, port: int) -> bool:
        """Whether rows of this input survive without a match (outer side)."""
        if port == 0:
            return self.kind in ("LEFT", "FULL")
        return self.kind in ("RIGHT", "FULL")

    def _row(self, key: Key, left: Row | None, right: Row | None, ts: int) -> Row:
        row = _merge(left, right, self.left_nulls, self.right_nulls)
        row[ROWTIME] = ts
        if self.key_column is not None:
            row[self.key_column] = key[0] if key else None
        return row

    def _out(self, key: Key, left: Row | None, right: Row | None, ts: int, window: Any = None,
             old: Row | None = None, headers: Any = ()) -> Row:
        # the result carries the headers of the record that triggered it, as Kafka Streams does
        row = self._row(key, left, right, ts)
        self.forward(Rec(key, row, ts, old=old, window=window, headers=headers))
        return row

    def _tombstone(self, key: Key, ts: int, window: Any = None, old: Row | None = None, headers: Any = ()) -> None:
        self.forward(Rec(key, None, ts, old=old, window=window, headers=headers))


class StreamStreamJoinOp(_JoinBase):
    """Windowed join of two streams: left at t matches right in [t - before, t + after].

    Each side's records are kept for ``before + after + grace``; a fetch never returns records
    older than the other side's retention. Without a grace period (legacy join windows) an
    unmatched outer record is emitted at once; with one, it waits in an outer buffer until stream
    time passes its window end plus grace, and is dropped if a match arrives first.

    Records past a side's retention are deleted from its buffers as that side's stream time moves:
    a buffer is trimmed whenever its key gets a record, and deleted (a tombstone to the changelog)
    once its newest record expires. A heap per side schedules those deletions, one entry per key,
    so a record costs a dict lookup and a heap check, not a scan.
    """

    def __init__(
        self,
        kind: str,
        left_columns: list[str],
        right_columns: list[str],
        before_ms: int,
        after_ms: int,
        grace_ms: int | None,
        store_name: str,
        window_kind: str | None = None,
        key_column: str | None = None,
    ) -> None:
        super().__init__(kind, left_columns, right_columns, store_name, window_kind, key_column)
        self.before = before_ms
        self.after = after_ms
        self.deferred = grace_ms is not None
        size = before_ms + after_ms
        if grace_ms is None:
            self.grace = max(DEFAULT_RETENTION_MS, size) - size
        else:
            self.grace = grace_ms
        self.retention = size + self.grace
        # per side: heap of (ts, seq, match key) visits (one per buffer), and each buffer's newest ts
        self._heaps: tuple[list[tuple[int, int, Any]], list[tuple[int, int, Any]]] = ([], [])
        self._due: tuple[dict[Any, int], dict[Any, int]] = ({}, {})
        self._seq = count()
        self.expired_dropped = 0  # records too old to buffer (Kafka Streams: "expired segment")

    # state: ("buf", side, mkey) -> [(ts, key, row, window)], ("obs", side) -> observed time,
    # "time" -> shared stream time, "outer" -> [(ts, side, mkey, key, row, window)], "min" -> min outer ts
    def process(self, rec: Rec, port: int = 0) -> None:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        ts = rec.ts
        prev_time = store.get("time")
        stream_time = ts if prev_time is None else max(prev_time, ts)
        store.put("time", stream_time)
        if rec.row is None or _null_key(rec.key):
            return
        mk = match_key(rec, self.window_kind)
        other = 1 - port
        # this side's window store (records older than its retention are not kept)
        prev_obs = store.get(("obs", port))
        observed = ts if prev_obs is None else max(prev_obs, ts)
        store.put(("obs", port), observed)
        oldest = observed - self.retention + 1
        if ts >= oldest:
            buf = [e for e in store.get(("buf", port, mk)) or [] if e[0] >= oldest]
            buf.append((ts, rec.key, rec.row, rec.window))
            store.put(("buf", port, mk), buf)
            self._schedule(port, mk, ts)
        else:
            self.expired_dropped += 1
        heap = self._heaps[port]
        if heap and heap[0][0] < oldest:
            self._expire(store, port, oldest)

        before, after = (self.before, self.after) if port == 0 else (self.after, self.before)
        if self.deferred and ts == stream_time:
            self._emit_closed(store, port, stream_time, rec.headers)

        lo, hi = max(0, ts - before), max(0, ts + after)
        other_observed = store.get(("obs", other))
        if other_observed is not None:
            lo = max(lo, other_observed - self.retention + 1)
        matched = False
        for ots, _okey, orow, owin in sorted(store.get(("buf", other, mk)) or [], key=lambda e: e[0]):
            if not lo <= ots <= hi:
                continue
            matched = True
            if self.deferred:
                self._drop_pending(store, other, mk, ots)
            left, right = (rec.row, orow) if port == 0 else (orow, rec.row)
            self._out(rec.key, left, right, max(ts, ots), rec.window if port == 0 else owin, headers=rec.headers)
        if matched or not self._preserves(port):
            return
        if not self.deferred or hi < stream_time:
            left, right = (rec.row, None) if port == 0 else (None, rec.row)
            self._out(rec.key, left, right, ts, rec.window, headers=rec.headers)
            return
        pending = store.get("outer") or []
        pending.append((ts, port, mk, rec.key, rec.row, rec.window))
        store.put("outer", pending)
        low = store.get("min")
        store.put("min", ts if low is None else min(low, ts))

    def _schedule(self, side: int, mk: Any, ts: int) -> None:
        """Note a record at ``ts`` in ``mk``'s buffer on ``side``: a new buffer gets a visit at
        ``ts``; a visit finding newer records moves on to the newest."""
        hk = hashable(mk)
        newest = self._due[side]
        at = newest.get(hk)
        if at is None:
            newest[hk] = ts
            heappush(self._heaps[side], (ts, next(self._seq), mk))
        elif ts > at:
            newest[hk] = ts

    def _expire(self, store: Any, side: int, oldest: int) -> None:
        """Delete ``side``'s buffers whose newest record is older than ``oldest``."""
        heap, newest = self._heaps[side], self._due[side]
        while heap and heap[0][0] < oldest:
            _, seq, mk = heappop(heap)
            hk = hashable(mk)
            ts = newest[hk]
            if ts < oldest:
                del newest[hk]
                store.delete(("buf", side, mk))
            else:
                heappush(heap, (ts, seq, mk))

    def on_restored(self) -> None:
        """After the store was restored: schedule the buffers' expiry and delete those already
        expired relative to the restored stream time of their side."""
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        self._heaps, self._due = ([], []), ({}, {})
        for k, buf in store.items():
            if type(k) is tuple and len(k) == 3 and k[0] == "buf" and buf:
                self._schedule(k[1], k[2], max(e[0] for e in buf))
        for side in (0, 1):
            observed = store.get(("obs", side))
            if observed is not None:
                self._expire(store, side, observed - self.retention + 1)

    def _drop_pending(self, store: Any, side: int, mk: Any, ts: int) -> None:
        pending = store.get("outer")
        if not pending:
            return
        kept = [p for p in pending if not (p[1] == side and p[0] == ts and p[2] == mk)]
        if len(kept) != len(pending):
            store.put("outer", kept)

    def _emit_closed(self, store: Any, port: int, stream_time: int, headers: Any) -> None:
        """Emit held-back outer rows whose window closed (Kafka Streams checks on each record)."""
        pending = store.get("outer")
        if not pending:
            return
        lookback = self.before if port == 0 else self.after
        after = self.after if port == 0 else self.before
        low = store.get("min")
        if low is not None and low >= stream_time - lookback - self.grace:
            return
        # the buffer is ordered by timestamp, then side (right first), then key
        pending = sorted(pending, key=lambda p: (p[0], 1 if p[1] == 0 else 0, _sort_key(p[3])))
        emitted = 0
        for ts, side, _mk, key, row, window in pending:
            store.put("min", ts)
            if ts + after + self.grace >= stream_time:
                break
            left, right = (row, None) if side == 0 else (None, row)
            self._out(key, left, right, ts, window, headers=headers)
            emitted += 1
        rest = pending[emitted:]
        store.put("outer", rest)
        if not rest:
            store.put("min", None)


class StreamTableJoinOp(_JoinBase):
    """Port 0: the stream; port 1: the table's changes (kept, never emitted)."""

    def process(self, rec: Rec, port: int = 0) -> None:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        key = rec.key
        if not key or all(k is None for k in key):
            return
        mk = match_key(rec, self.window_kind)
        if port == 1:
            if rec.row is None:
                store.delete(mk)
            else:
                store.put(mk, rec.row)
            return
        row = rec.row
        if row is None:
            return
        right = store.get(mk)
        if right is None and self.kind == "INNER":
            return
        out = dict(row)
        out.update(self.right_nulls if right is None else right)
        out[ROWTIME] = rec.ts
        if self.key_column is not None:
            out[self.key_column] = key[0]
        self.forward(Rec(key, out, rec.ts, None, rec.window, 0, 0, rec.headers))


class TableTableJoinOp(_JoinBase):
    """Primary-key join of two tables, as Kafka Streams' KTable-KTable joins.

    An update of one side looks up the other side's current row. A side whose rows survive
    without a match (left of LEFT, right of RIGHT, both of FULL) emits the new joined row, or a
    tombstone when it was deleted; the other side only emits while the preserved side has a row.
    The result timestamp is the later of the two rows'. ``old`` carries the previous result.
    """

    def process(self, rec: Rec, port: int = 0) -> None:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        if _null_key(rec.key):
            return
        mk = match_key(rec, self.window_kind)
        old = store.get((port, mk))
        other = store.get((1 - port, mk))
        new = rec.row
        if new is None:
            if old is not None:
                store.delete((port, mk))
        else:
            store.put((port, mk), (new, rec.ts))
        other_row = other[0] if other is not None else None
        ts = max(rec.ts, other[1]) if other is not None else rec.ts
        this_kept, other_kept = self._preserves(port), self._preserves(1 - port)
        if other_row is None and not this_kept:
            return
        if other_row is None and new is None and old is None:
            return
        if new is None and not (other_kept and other_row is not None):
            result = None
        else:
            result = (new, other_row) if port == 0 else (other_row, new)
        prev = store.get(("out", mk))
        if result is None:
            store.delete(("out", mk))
            self._tombstone(rec.key, ts, rec.window, prev, rec.headers)
            return
        row = self._out(rec.key, result[0], result[1], ts, rec.window, prev, rec.headers)
        store.put(("out", mk), row)


class ForeignKeyJoinOp(_JoinBase):
    """Left table joined to the right table on ``fk(left row) = right key``. Output key: left key.

    A left change (re)subscribes its row to the right key it now points at; a right change
    re-joins every left row subscribed to it. An inner join emits a tombstone when a left row
    that existed before loses its match. ``old`` carries the previous result of the key.
    """

    def __init__(self, kind: str, left_columns: list[str], right_columns: list[str], store_name: str,
                 fk_fn: Callable[[Row], Any], key_column: str | None = None) -> None:
        super().__init__(kind, left_columns, right_columns, store_name, None, key_column)
        self.fk_fn = fk_fn

    def process(self, rec: Rec, port: int = 0) -> None:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        if port == 0:
            self._left(store, rec)
        else:
            self._right(store, rec)

    def _left(self, store: Any, rec: Rec) -> None:
        key = rec.key
        prev = store.get((0, key))
        if prev is not None:
            idx = set(store.get((2, prev[2])) or ())
            idx.discard(key)
            store.put((2, prev[2]), idx)
        if rec.row is None:
            if prev is None:
                return
            store.delete((0, key))
            self._result(store, key, None, None, rec.ts)
            return
        fk = self.fk_fn(rec.row)
        fk_key = (fk,)
        store.put((0, key), (rec.row, rec.ts, fk_key))
        if fk is not None:
            idx = set(store.get((2, fk_key)) or ())
            idx.add(key)
            store.put((2, fk_key), idx)
        right = store.get((1, fk_key)) if fk is not None else None
        if right is not None:
            self._result(store, key, rec.row, right[0], max(rec.ts, right[1]))
        elif self.kind == "LEFT":
            self._result(store, key, rec.row, None, rec.ts)
        elif prev is not None:
            self._result(store, key, None, None, rec.ts)

    def _right(self, store: Any, rec: Rec) -> None:
        rkey = rec.key
        if rec.row is None:
            if store.get((1, rkey)) is None:
                return
            store.delete((1, rkey))
        else:
            store.put((1, rkey), (rec.row, rec.ts))
        for lkey in sorted(store.get((2, rkey)) or (), key=_sort_key):
            left = store.get((0, lkey))
            if left is None:
                continue
            if rec.row is not None:
                self._result(store, lkey, left[0], rec.row, max(rec.ts, left[1]))
            elif self.kind == "LEFT":
                self._result(store, lkey, left[0], None, rec.ts)
            else:
                self._result(store, lkey, None, None, rec.ts)

    def _result(self, store: Any, key: Key, left: Row | None, right: Row | None, ts: int) -> None:
        """Emit the joined row (a tombstone when ``left`` is None), remembering it as the next
        change's previous result."""
        prev = store.get(("out", key))
        if left is None:
            store.delete(("out", key))
            self._tombstone(key, ts, old=prev)
            return
        store.put(("out", key), self._out(key, left, right, ts, old=prev))


def _sort_key(key: Any) -> tuple[Any, ...]:
    """Orders keys as their values do where comparable (numbers, strings), else by text."""
    if isinstance(key, tuple):
        return tuple(_sort_key(k) for k in key)
    if isinstance(key, bool) or key is None:
        return (2, repr(key))
    if isinstance(key, (int, float)):
        return (0, key)
    if isinstance(key, str):
        return (1, key)
    return (2, repr(key))


class PrefixOp(Operator):
    """Renames a source's columns to the join's qualified names (``L_ID``) and, when the join
    expression is not the source's key, re-keys the record by it (computed on the renamed row)."""

    def __init__(self, mapping: list[tuple[str, str]], key_fn: Callable[[Row], Key] | None) -> None:
        super().__init__()
        self.mapping = mapping
        self.key_fn = key_fn

    def _rename(self, row: Row | None) -> Row | None:
        if row is None:
            return None
        rename = self._renamer
        if rename is None:
            items = ", ".join(f"{new!r}: row.get({old!r})" for old, new in self.mapping)
            rename = self._renamer = eval(compile(f"lambda row: {{{items}}}", "<rename>", "eval"))
        return rename(row)  # type: ignore[no-any-return]

    _renamer: Callable[[Row], Row] | None = None

    def process(self, rec: Rec, port: int = 0) -> None:
        row = self._rename(rec.row)
        key = rec.key
        if self.key_fn is not None:
            if row is None:
                return  # a repartitioned stream drops tombstones
            key = self.key_fn(row)
        self.forward(Rec(key, row, rec.ts, None, rec.window, rec.partition, rec.offset, rec.headers))


class RekeyJoinInputOp(Operator):
    """Re-keys the result of an earlier join by the next join's expression.

    For a table input the previous row of each input key is remembered so that a change moving
    a row to another join key retracts it from the old one."""

    def __init__(self, key_fn: Callable[[Row], Key], is_table: bool, store_name: str) -> None:
        super().__init__()
        self.key_fn = key_fn
        self.is_table = is_table
        self.store_name = store_name

    def process(self, rec: Rec, port: int = 0) -> None:
        if not self.is_table:
            if rec.row is None:
                return
            self.forward(rec.with_(key=self.key_fn(rec.row), old=None))
            return
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        prev_key = store.get(rec.key)
        if rec.row is None:
            if prev_key is None:
                return
            store.delete(rec.key)
            self.forward(rec.with_(key=prev_key, old=None))
            return
        new_key = self.key_fn(rec.row)
        if prev_key is not None and prev_key != new_key:
            self.forward(Rec(prev_key, None, rec.ts, window=rec.window))
        store.put(rec.key, new_key)
        self.forward(rec.with_(key=new_key, old=None))


class JoinedTableFilterOp(Operator):
    """WHERE over a table-table join: a row that stops matching becomes a tombstone, but only if
    a row for that key was emitted before (the join supplies the previous result as ``old``)."""

    def __init__(self, predicate: Callable[[Row], Any]) -> None:
        super().__init__()
        self.predicate = predicate

    def process(self, rec: Rec, port: int = 0) -> None:
        new_ok = rec.row is not None and self.predicate(rec.row) is True
        old_ok = rec.old is not None and self.predicate(rec.old) is True
        if new_ok:
            self.forward(rec.with_(old=rec.old if old_ok else None))
        elif old_ok:
            self.forward(rec.with_(row=None, old=rec.old))
