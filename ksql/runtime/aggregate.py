"""GROUP BY aggregation: unwindowed, tumbling, hopping and session windows, EMIT FINAL.

State per (group key, window) holds the accumulators and the aggregate's timestamp. Over a table
input a change first undoes the previous row's contribution, then adds the new one; when both land
in the same group only the final result is emitted, as Kafka Streams does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ksql.functions.registry import Udaf
from ksql.runtime.operators import Operator
from ksql.runtime.records import Rec
from ksql.schema import ROWTIME, WINDOWEND, WINDOWSTART
from ksql.types import Key, Row

DEFAULT_GRACE_MS = 24 * 3600 * 1000


@dataclass
class AggCall:
    name: str  # output column holding the result
    udaf: Udaf
    arg_fns: list[Callable[[Row], Any]]


@dataclass
class Windowing:
    kind: str  # TUMBLING | HOPPING | SESSION
    size_ms: int = 0
    advance_ms: int = 0
    gap_ms: int = 0
    grace_ms: int = DEFAULT_GRACE_MS
    retention_ms: int | None = None

    def windows_for(self, ts: int) -> list[tuple[int, int]]:
        if self.kind == "TUMBLING":
            start = ts - ts % self.size_ms
            return [(start, start + self.size_ms)]
        # HOPPING: every window [start, start+size) that contains ts
        adv, size = self.advance_ms, self.size_ms
        first = ts - ts % adv
        out = []
        start = first
        while start > ts - size and start >= 0:
            out.append((start, start + size))
            start -= adv
        out.reverse()
        return out


class AggregateOp(Operator):
    def __init__(
        self,
        store_name: str,
        group_fns: list[Callable[[Row], Any]],
        group_names: list[str],
        calls: list[AggCall],
        window: Windowing | None,
        table_input: bool,
        emit_final: bool = False,
    ) -> None:
        super().__init__()
        self.store_name = store_name
        self.group_fns = group_fns
        self.group_names = group_names
        self.calls = calls
        self.window = window
        self.table_input = table_input
        self.emit_final = emit_final
        self._pending_final: dict[tuple[Key, tuple[int, int]], int] = {}

    # -- helpers ------------------------------------------------------------------------------
    def _group_key(self, row: Row) -> Key | None:
        key = tuple(f(row) for f in self.group_fns)
        if any(k is None for k in key):
            self.ctx.log_error(  # type: ignore[union-attr]
                "Group-by column resolved to null. The source row will be excluded from the table."
            )
            return None
        return key

    def _result_row(self, key: Key, accs: list[Any], window: tuple[int, int] | None, ts: int) -> Row:
        row: Row = dict(zip(self.group_names, key, strict=True))
        for call, acc in zip(self.calls, accs, strict=True):
            row[call.name] = call.udaf.result(acc)
        if window is not None:
            row[WINDOWSTART], row[WINDOWEND] = window
        row[ROWTIME] = ts
        return row

    def _emit(self, key: Key, accs: list[Any] | None, window: tuple[int, int] | None, ts: int) -> None:
        if self.emit_final and window is not None:
            self._pending_final[(key, window)] = ts
            return
        row = None if accs is None else self._result_row(key, accs, window, ts)
        self.forward(Rec(key, row, ts, window=window))

    def _add(self, accs: list[Any], row: Row) -> list[Any]:
        return [c.udaf.add(a, *[f(row) for f in c.arg_fns]) for c, a in zip(self.calls, accs, strict=True)]

    def _undo(self, accs: list[Any], row: Row) -> list[Any]:
        return [c.udaf.undo(a, *[f(row) for f in c.arg_fns]) for c, a in zip(self.calls, accs, strict=True)]

    def _initial(self) -> list[Any]:
        return [c.udaf.initial() for c in self.calls]

    # -- processing ---------------------------------------------------------------------------
    def process(self, rec: Rec, port: int = 0) -> None:
        if self.window is not None and self.window.kind == "SESSION":
            self._process_session(rec)
        elif self.window is not None:
            self._process_windowed(rec)
        elif self.table_input:
            self._process_table(rec)
        else:
            self._process_stream(rec)

    def _process_stream(self, rec: Rec) -> None:
        if rec.row is None:
            return
        key = self._group_key(rec.row)
        if key is None:
            return
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        entry = store.get((key, None))
        accs, agg_ts = (entry if entry is not None else (self._initial(), rec.ts))
        accs = self._add(accs, rec.row)
        ts = max(agg_ts, rec.ts)
        store.put((key, None), (accs, ts))
        self._emit(key, accs, None, ts)

    def _process_table(self, rec: Rec) -> None:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        old_key = self._group_key(rec.old) if rec.old is not None else None
        new_key = self._group_key(rec.row) if rec.row is not None else None
        if old_key is not None:
            entry = store.get((old_key, None))
            if entry is not None:
                accs, agg_ts = entry
                accs = self._undo(accs, rec.old)  # type: ignore[arg-type]
                ts = max(agg_ts, rec.ts)
                store.put((old_key, None), (accs, ts))
                if old_key != new_key:
                    self._emit(old_key, accs, None, ts)
        if new_key is not None:
            entry = store.get((new_key, None))
            accs, agg_ts = entry if entry is not None else (self._initial(), rec.ts)
            accs = self._add(accs, rec.row)  # type: ignore[arg-type]
            ts = max(agg_ts, rec.ts)
            store.put((new_key, None), (accs, ts))
            self._emit(new_key, accs, None, ts)

    def _process_windowed(self, rec: Rec) -> None:
        if rec.row is None:
            return
        key = self._group_key(rec.row)
        if key is None:
            return
        w = self.window
        assert w is not None
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        stream_time = self.ctx.stream_time  # type: ignore[union-attr]
        for window in w.windows_for(rec.ts):
            if window[1] <= stream_time - w.grace_ms:
                self.ctx.log_error(f"Skipping record for expired window {window}")  # type: ignore[union-attr]
                continue
            entry = store.get((key, window))
            accs, agg_ts = entry if entry is not None else (self._initial(), rec.ts)
            accs = self._add(accs, rec.row)
            ts = max(agg_ts, rec.ts)
            store.put((key, window), (accs, ts))
            self._emit(key, accs, window, ts)

    def _process_session(self, rec: Rec) -> None:
        if rec.row is None:
            return
        key = self._group_key(rec.row)
        if key is None:
            return
        w = self.window
        assert w is not None
        ts = rec.ts
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        stream_time = self.ctx.stream_time  # type: ignore[union-attr]
        if ts + w.gap_ms < stream_time - w.grace_ms and ts < stream_time - w.grace_ms:
            self.ctx.log_error("Skipping record for expired session")  # type: ignore[union-attr]
            return
        sessions: list[tuple[int, int]] = store.get((key, "sessions")) or []
        start, end = ts, ts
        merged_accs = self._initial()
        agg_ts = ts
        keep: list[tuple[int, int]] = []
        merged: list[tuple[int, int]] = []
        for s in sessions:
            if s[1] + w.gap_ms >= ts and s[0] - w.gap_ms <= ts:
                merged.append(s)
            else:
                keep.append(s)
        for s in merged:
            accs, s_ts = store.get((key, s))
            merged_accs = [c.udaf.merge(a, b) for c, a, b in zip(self.calls, merged_accs, accs, strict=True)]
            agg_ts = max(agg_ts, s_ts)
            start, end = min(start, s[0]), max(end, s[1])
            store.delete((key, s))
            if s != (start, end) or True:
                self._emit(key, None, s, s_ts)
        merged_accs = self._add(merged_accs, rec.row)
        window = (start, end)
        store.put((key, window), (merged_accs, agg_ts))
        keep.append(window)
        keep.sort()
        store.put((key, "sessions"), keep)
        if self.emit_final:
            for s in merged:
                self._pending_final.pop((key, s), None)
        self._emit(key, merged_accs, window, agg_ts)

    def on_stream_time(self, stream_time: int) -> None:
        if not self._pending_final:
            return
        w = self.window
        assert w is not None
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        closed = [
            (k, win) for (k, win) in self._pending_final
            if win[1] + (w.gap_ms if w.kind == "SESSION" else 0) + w.grace_ms <= stream_time
            or (w.kind != "SESSION" and win[1] + w.grace_ms <= stream_time)
        ]
        closed.sort(key=lambda kw: (kw[1][1], kw[1][0]))
        for k, win in closed:
            ts = self._pending_final.pop((k, win))
            entry = store.get((k, win))
            if entry is None:
                continue
            accs, agg_ts = entry
            self.forward(Rec(k, self._result_row(k, accs, win, agg_ts), agg_ts, window=win))
