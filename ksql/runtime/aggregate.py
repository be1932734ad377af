"""GROUP BY aggregation: unwindowed, tumbling, hopping and session windows, EMIT FINAL, HAVING.

State per (group key, window) holds the accumulators and the aggregate's timestamp. Over a table
input a change first undoes the previous row's contribution, then adds the new one; when both land
in the same group only the final result is emitted, as Kafka Streams does.

Time is the operator's own *observed* stream time: the largest timestamp among the records that
reached it (records removed by a WHERE clause do not move it). A window closes once it ends at or
before ``observed - grace``; records for closed windows are dropped.

Emitted changes carry the previous result row in ``old`` when ``send_old`` is set (HAVING needs it
to tell whether a group leaves the result, Kafka Streams' "send old values").

Retention, as Kafka Streams' window stores: a time window stays in the store until the largest
window start put exceeds its start by the retention (a session: the largest session end exceeds
its end); then it is deleted, a tombstone going to the changelog. Expiry goes by a heap of window
starts (session ends), so a record costs a heap check, not a scan of the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from itertools import count
from typing import Any

from ksql.functions.registry import Udaf
from ksql.runtime.operators import Operator
from ksql.runtime.records import Rec
from ksql.runtime.task import hashable
from ksql.schema import ROWTIME, WINDOWEND, WINDOWSTART
from ksql.types import Key, Row

DEFAULT_GRACE_MS = 24 * 3600 * 1000

# store keys of the operator's own bookkeeping (observed time, last emitted close time)
_META = ("$meta",)
_SESSIONS = "$sessions"


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

    @property
    def retention(self) -> int:
        """How long the store keeps a window: long enough to close it (size, or gap, plus grace),
        or the RETENTION clause when that is longer."""
        least = (self.gap_ms if self.kind == "SESSION" else self.size_ms) + self.grace_ms
        return least if self.retention_ms is None else max(self.retention_ms, least)


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
        send_old: bool = False,
    ) -> None:
        super().__init__()
        self.store_name = store_name
        self.group_fns = group_fns
        self.group_names = group_names
        self.calls = calls
        self.window = window
        self.table_input = table_input
        self.emit_final = emit_final
        self.send_old = send_old
        # EMIT FINAL: windows not yet emitted, rebuilt from the store after a restart
        self._open: dict[Any, dict[Any, Key]] | None = None
        # retention: time windows of EMIT CHANGES by start (EMIT FINAL deletes a window once it is
        # emitted); sessions by the earliest end of each key's sessions (``_due``), heap entries
        # (end, seq, key) going stale when a key's earliest end changes
        self._retention = window.retention if window is not None else 0
        self._starts: list[int] = []
        self._by_start: dict[int, list[Any]] = {}
        self._ends: list[tuple[int, int, Key]] = []
        self._due: dict[Any, int] = {}
        self._seq = count()
        # ksqlDB's record cache (see enable_cache): changed groups waiting for the next flush
        self._pending: dict[Any, tuple[Key, tuple[int, int] | None, Row | None]] | None = None
        self._gk, self._initial_fn, self._add_fn, self._result_fn, self._result_w = _compile(
            group_fns, group_names, calls)
        # upstream operators call the specific handler directly (see Operator._wire)
        if window is None:
            self.__dict__["process"] = self._process_table if table_input else self._process_stream
        elif window.kind == "SESSION":
            self.__dict__["process"] = self._process_session
        else:
            self.__dict__["process"] = self._process_windowed

    def open(self, ctx: Any) -> None:
        super().open(ctx)
        self._store = ctx.store(self.store_name)

    # -- the record cache ---------------------------------------------------------------------
    def enable_cache(self) -> None:
        """Emit each changed group once per commit instead of once per record (ksqlDB's record
        cache, when ``cache.max.bytes.buffering`` is on and the sink keeps only the latest change
        per key anyway): the result row is built at :meth:`flush`, in the order of the groups'
        latest changes, carrying as ``old`` the row emitted at the previous flush."""
        if self.emit_final or (self.window is not None and self.window.kind == "SESSION") or self.table_input:
            return  # these emit on their own schedule or need every change (undo of the old row)
        self._pending = {}

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        data = self._store.data
        result, result_w, forward = self._result_fn, self._result_w, self.forward
        for sk, (key, window, old) in pending.items():
            entry = data.get(sk)
            if entry is None:
                continue  # the window expired meanwhile
            accs, ts = entry[0], entry[1]
            row = result(key, accs, ts) if window is None else result_w(key, accs, window, ts)
            forward(Rec(key, row, ts, old, window))

    def _defer(self, sk: Any, key: Key, window: tuple[int, int] | None, old: Row | None) -> None:
        """Mark a group changed; ``old`` is kept from its first change since the last flush."""
        pending = self._pending
        assert pending is not None
        last = pending.pop(sk, None)  # re-inserted: the flush goes in the order of latest changes
        pending[sk] = (key, window, old) if last is None else last

    # -- helpers ------------------------------------------------------------------------------
    def _group_key(self, row: Row) -> Key | None:
        key = self._gk(row)
        if key is None:
            self._null_group()
        return key

    def _null_group(self) -> None:
        self.ctx.log_error(  # type: ignore[union-attr]
            "Group-by column resolved to null. The source row will be excluded from the table."
        )

    def _result_row(self, key: Key, accs: list[Any], window: tuple[int, int] | None, ts: int) -> Row:
        if window is None:
            return self._result_fn(key, accs, ts)
        return self._result_w(key, accs, window, ts)

    def _old_row(self, key: Key, entry: Any, window: tuple[int, int] | None) -> Row | None:
        # computed before the accumulators are updated: some aggregates change their state in place
        if not self.send_old or entry is None:
            return None
        return self._result_row(key, entry[0], window, entry[1])

    def _add(self, accs: list[Any], row: Row) -> list[Any]:
        return self._add_fn(accs, row)

    def _undo(self, accs: list[Any], row: Row) -> list[Any]:
        return [c.udaf.undo(a, *[f(row) for f in c.arg_fns]) for c, a in zip(self.calls, accs, strict=True)]

    def _initial(self) -> list[Any]:
        return self._initial_fn()

    def _meta(self) -> dict[str, int]:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        return dict(store.get(_META) or {})

    def _observe(self, ts: int, meta: dict[str, int]) -> int:
        observed = max(meta.get("observed", ts), ts)
        meta["observed"] = observed
        return observed

    def _save_meta(self, meta: dict[str, int]) -> None:
        self.ctx.store(self.store_name).put(_META, meta)  # type: ignore[union-attr]

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

    def _process_stream(self, rec: Rec, port: int = 0) -> None:
        row = rec.row
        if row is None:
            return
        key = self._gk(row)
        if key is None:
            self._null_group()
            return
        store = self._store
        data = store.data
        sk = (key, None)
        try:
            entry = data.get(sk)
        except TypeError:
            sk = hashable(sk)
            entry = data.get(sk)
        ts = rec.ts
        if entry is None:
            old = None
            accs = self._add_fn(self._initial_fn(), row)
        else:
            old = self._old_row(key, entry, None) if self.send_old else None
            accs = self._add_fn(entry[0], row)
            if entry[1] > ts:
                ts = entry[1]
        data[sk] = store.dirty[sk] = (accs, ts)
        if self._pending is not None:
            self._defer(sk, key, None, old)
            return
        self.forward(Rec(key, self._result_fn(key, accs, ts), ts, old))

    def _process_table(self, rec: Rec, port: int = 0) -> None:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        old_key = self._group_key(rec.old) if rec.old is not None else None
        new_key = self._group_key(rec.row) if rec.row is not None else None
        if old_key is not None:
            entry = store.get((old_key, None))
            if entry is not None:
                old = self._old_row(old_key, entry, None)
                accs, agg_ts = entry
                accs = self._undo(accs, rec.old)  # type: ignore[arg-type]
                ts = max(agg_ts, rec.ts)
                store.put((old_key, None), (accs, ts))
                if old_key != new_key:
                    self.forward(Rec(old_key, self._result_row(old_key, accs, None, ts), ts, old=old))
        if new_key is not None:
            entry = store.get((new_key, None))
            old = self._old_row(new_key, entry, None)
            accs, agg_ts = entry if entry is not None else (self._initial(), rec.ts)
            accs = self._add(accs, rec.row)  # type: ignore[arg-type]
            ts = max(agg_ts, rec.ts)
            store.put((new_key, None), (accs, ts))
            self.forward(Rec(new_key, self._result_row(new_key, accs, None, ts), ts, old=old))

    # -- tumbling and hopping windows -----------------------------------------------------------
    def _process_windowed(self, rec: Rec, port: int = 0) -> None:
        row = rec.row
        if row is None:
            return
        key = self._gk(row)
        if key is None:
            self._null_group()
            return
        w = self.window
        assert w is not None
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        data, dirty = store.data, store.dirty
        meta = data.get(_META)
        meta = {} if meta is None else dict(meta)
        ts = rec.ts
        observed = meta.get("observed", ts)
        if ts > observed:
            observed = ts
        meta["observed"] = observed
        close = observed - w.grace_ms
        for window in w.windows_for(ts):
            if window[1] <= close:
                self.ctx.log_error(  # type: ignore[union-attr]
                    f"Skipping record for expired window. timestamp=[{ts}] window=[{window[0]},{window[1]}) "
                    f"expiration=[{close}]"
                )
                continue
            sk = (key, window)
            try:
                entry = data.get(sk)
            except TypeError:
                sk = hashable(sk)
                entry = data.get(sk)
            if entry is None:
                old = None
                accs, agg_ts = self._add_fn(self._initial_fn(), row), ts
                if not self.emit_final:
                    bucket = self._by_start.get(window[0])
                    if bucket is None:
                        bucket = self._by_start[window[0]] = []
                        heappush(self._starts, window[0])
                    bucket.append(sk)
            else:
                old = self._old_row(key, entry, window) if self.send_old else None
                accs, agg_ts = self._add_fn(entry[0], row), max(entry[1], ts)
            data[sk] = dirty[sk] = (accs, agg_ts, key, window)
            max_start = meta.get("max_start")
            if max_start is None or window[0] > max_start:
                meta["max_start"] = window[0]
            if self.emit_final:
                self._open_windows().setdefault(window[0], {})[hashable(key)] = key
            elif self._pending is not None:
                self._defer(sk, key, window, old)
            else:
                self.forward(Rec(key, self._result_w(key, accs, window, agg_ts), agg_ts, old, window))
        if self.emit_final:
            self._emit_closed_windows(meta, close)
        else:
            starts = self._starts
            if starts and starts[0] <= meta.get("max_start", starts[0]) - self._retention:
                self._expire_windows(meta["max_start"] - self._retention)
        data[_META] = dirty[_META] = meta

    # -- retention ----------------------------------------------------------------------------
    def _expire_windows(self, last_start: int) -> None:
        """Delete the windows that start at or before ``last_start`` (EMIT CHANGES)."""
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        starts, by_start = self._starts, self._by_start
        while starts and starts[0] <= last_start:
            for sk in by_start.pop(heappop(starts), ()):
                store.delete(sk)

    def _schedule_session(self, key: Key, end: int) -> None:
        """Visit ``key`` once the retention passes ``end``, unless an earlier visit is due."""
        hk = hashable(key)
        due = self._due.get(hk)
        if due is None or end < due:
            self._due[hk] = end
            heappush(self._ends, (end, next(self._seq), key))

    def _expire_sessions(self, before: int) -> None:
        """Delete the sessions that end before ``before``, with the session lists that become empty."""
        ends, due = self._ends, self._due
        if not ends or ends[0][0] >= before:
            return
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        while ends and ends[0][0] < before:
            end, _, key = heappop(ends)
            hk = hashable(key)
            if due.get(hk) != end:
                continue  # stale: the key's earliest end changed since
            del due[hk]
            listed = store.get((key, _SESSIONS))
            if listed is None:
                continue
            live = [s for s in listed[2] if s[1] >= before]
            if len(live) != len(listed[2]):
                for s in listed[2]:
                    if s[1] < before:
                        store.delete((key, s))
                if live:
                    store.put((key, _SESSIONS), (_SESSIONS, key, live))
            if live:
                self._schedule_session(key, min(s[1] for s in live))
            else:
                self._drop_session_list(key)

    def _drop_session_list(self, key: Key) -> None:
        """``key`` has no session left: forget it (store, EMIT FINAL owners, expiry schedule)."""
        self.ctx.store(self.store_name).delete((key, _SESSIONS))  # type: ignore[union-attr]
        hk = hashable(key)
        self._due.pop(hk, None)
        if self._open is not None:
            self._open.get(_SESSIONS, {}).pop(hk, None)

    def on_restored(self) -> None:
        """After the store was restored: index its windows for expiry and delete those already
        expired relative to the restored stream time (tombstones go out with the next commit)."""
        w = self.window
        if w is None:
            return
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        meta = store.get(_META) or {}
        self._open = None  # EMIT FINAL's index is rebuilt from the store when next needed
        if w.kind == "SESSION":
            self._ends, self._due = [], {}
            for _, value in store.items():
                if type(value) is tuple and len(value) == 3 and value[0] == _SESSIONS and value[2]:
                    self._schedule_session(value[1], min(s[1] for s in value[2]))
            if "max_end" in meta:
                self._expire_sessions(meta["max_end"] - self._retention)
        elif not self.emit_final:
            self._by_start = {}
            for sk, value in store.items():
                if type(value) is tuple and len(value) == 4:
                    self._by_start.setdefault(value[3][0], []).append(sk)
            self._starts = list(self._by_start)
            heapify(self._starts)
            if "max_start" in meta:
                self._expire_windows(meta["max_start"] - self._retention)

    def _open_windows(self) -> dict[Any, dict[Any, Key]]:
        """EMIT FINAL bookkeeping: window start (or ``_SESSIONS``) -> group keys with windows not yet
        emitted. Rebuilt from the store after a restart."""
        if self._open is None:
            self._open = {}
            store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
            session = self.window is not None and self.window.kind == "SESSION"
            for _, value in store.items():
                if not isinstance(value, tuple):
                    continue
                if session and len(value) == 3 and value[0] == _SESSIONS:
                    self._open.setdefault(_SESSIONS, {})[hashable(value[1])] = value[1]
                elif not session and len(value) == 4:
                    _accs, _ts, key, window = value
                    self._open.setdefault(window[0], {})[hashable(key)] = key
        return self._open

    def _emit_closed_windows(self, meta: dict[str, int], close: int) -> None:
        w = self.window
        assert w is not None
        last = meta.get("last_close")
        if last is not None and last >= close:
            return
        upper = close - w.size_ms  # the latest window start that is closed
        if upper < 0:
            return
        lower = -1 if last is None else last - w.size_ms
        # the store has already dropped windows older than its retention
        first = max(lower + 1, meta.get("max_start", 0) - w.retention)
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        index = self._open_windows()
        for start in sorted(s for s in index if s <= upper):
            keys = index.pop(start)
            for key in keys.values():
                window = (start, start + w.size_ms)
                entry = store.get((key, window))
                if entry is None:
                    continue
                if start >= first:
                    accs, ts = entry[0], entry[1]
                    self.forward(Rec(key, self._result_row(key, accs, window, ts), ts, window=window))
                store.delete((key, window))
        meta["last_close"] = close

    # -- session windows ----------------------------------------------------------------------
    def _process_session(self, rec: Rec, port: int = 0) -> None:
        if rec.row is None:
            return
        key = self._group_key(rec.row)
        if key is None:
            return
        w = self.window
        assert w is not None
        ts = rec.ts
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        meta = self._meta()
        close = self._observe(ts, meta) - w.grace_ms - w.gap_ms
        listed = store.get((key, _SESSIONS))
        sessions: list[tuple[int, int]] = list(listed[2]) if listed is not None else []
        # sessions past the store's retention are gone: they neither merge nor come back
        expired_before = meta.get("max_end", ts) - w.retention
        live = [s for s in sessions if s[1] >= expired_before]
        for s in sessions:
            if s[1] < expired_before:
                store.delete((key, s))
        merged = [s for s in live if s[1] + w.gap_ms >= ts and s[0] - w.gap_ms <= ts]
        start = min([ts] + [s[0] for s in merged])
        end = max([ts] + [s[1] for s in merged])
        if end < close:
            self.ctx.log_error(  # type: ignore[union-attr]
                f"Skipping record for expired session. timestamp=[{ts}] window=[{start},{end}] "
                f"expiration=[{close}]"
            )
            if live:
                if len(live) != len(sessions):
                    store.put((key, _SESSIONS), (_SESSIONS, key, live))
            elif listed is not None:
                self._drop_session_list(key)
            self._save_meta(meta)
            return
        accs = self._initial()
        for s in merged:
            s_accs = store.get((key, s))[0]
            accs = [c.udaf.merge(a, b) for c, a, b in zip(self.calls, accs, s_accs, strict=True)]
        accs = self._add(accs, rec.row)
        for s in merged:
            entry = store.get((key, s))
            store.delete((key, s))
            if not self.emit_final:
                old = self._old_row(key, entry, s)
                self.forward(Rec(key, None, s[1], old=old, window=s))
        window = (start, end)
        store.put((key, window), (accs, end, key, window))
        keep = sorted([s for s in live if s not in merged] + [window])
        store.put((key, _SESSIONS), (_SESSIONS, key, keep))
        self._schedule_session(key, end)
        meta["max_end"] = max(meta.get("max_end", end), end)
        if self.emit_final:
            self._open_windows().setdefault(_SESSIONS, {})[hashable(key)] = key
            self._emit_closed_sessions(meta, close)
        else:
            self.forward(Rec(key, self._result_row(key, accs, window, end), end, window=window))
        # after the emission above: EMIT FINAL has emitted every session this deletes
        self._expire_sessions(meta["max_end"] - self._retention)
        self._save_meta(meta)

    def _emit_closed_sessions(self, meta: dict[str, int], close: int) -> None:
        last = meta.get("last_close")
        if last is not None and last >= close:
            return
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        owners = self._open_windows().get(_SESSIONS, {})
        out: list[tuple[tuple[int, int], Key, Any]] = []
        for key in owners.values():
            listed = store.get((key, _SESSIONS))
            for s in listed[2] if listed is not None else []:
                if s[1] < close and (last is None or s[1] >= last):
                    out.append((s, key, store.get((key, s))))
        out.sort(key=lambda e: (e[0][1], e[0][0]))
        for s, key, entry in out:
            if entry is not None:
                self.forward(Rec(key, self._result_row(key, entry[0], s, entry[1]), entry[1], window=s))
        meta["last_close"] = close


def _compile(group_fns: list[Callable[[Row], Any]], group_names: list[str], calls: list[AggCall]) -> tuple[
    Callable[[Row], Key | None], Callable[[], list[Any]], Callable[[list[Any], Row], list[Any]],
    Callable[[Key, list[Any], int], Row], Callable[[Key, list[Any], tuple[int, int], int], Row],
]:
    """Generated per-query functions: the group key of a row (None when a part is null), the
    initial accumulators, the accumulators after adding a row, and the result row (group columns,
    aggregates, then window bounds and ROWTIME) without and with a window."""
    ns: dict[str, Any] = {}
    parts = []
    for i, f in enumerate(group_fns):
        col = getattr(f, "ksql_column", None)
        if col is not None:
            parts.append(f"row.get({col!r})")
        else:
            ns[f"_g{i}"] = f
            parts.append(f"_g{i}(row)")
    null = " or ".join(f"k[{i}] is None" for i in range(len(parts))) or "False"
    gk = f"def gk(row):\n    k = ({''.join(p + ', ' for p in parts)})\n    return None if {null} else k\n"
    adds, inits, results = [], [], [f"{n!r}: key[{i}]" for i, n in enumerate(group_names)]
    arg_lines = []
    for i, c in enumerate(calls):
        ns[f"_a{i}"] = c.udaf.add
        ns[f"_i{i}"] = c.udaf.initial
        inits.append(f"_i{i}()")
        args = []
        for j, f in enumerate(c.arg_fns):
            col = getattr(f, "ksql_column", None)
            if col is not None:
                args.append(f"row.get({col!r})")
            else:
                ns[f"_f{i}_{j}"] = f
                args.append(f"_f{i}_{j}(row)")
        inline = getattr(c.udaf, "inline_add", None)
        if inline is None:
            adds.append(f"_a{i}(accs[{i}]{''.join(', ' + a for a in args)})")
        else:
            # the aggregate's add as an expression, its arguments computed once into locals
            names = {f"a{j}": f"_x{i}_{j}" for j in range(len(args))}
            arg_lines += [f"    {names[f'a{j}']} = {a}\n" for j, a in enumerate(args)]
            for helper, fn in getattr(c.udaf, "inline_ns", {}).items():
                names[helper] = f"_h{i}_{helper}"
                ns[names[helper]] = fn
            adds.append(inline.format(s=f"accs[{i}]", **names))
        if type(c.udaf).result is Udaf.result:
            results.append(f"{c.name!r}: accs[{i}]")
        else:
            ns[f"_r{i}"] = c.udaf.result
            results.append(f"{c.name!r}: _r{i}(accs[{i}])")
    src = (
        gk
        + f"def initial():\n    return [{', '.join(inits)}]\n"
        + "def add(accs, row):\n" + "".join(arg_lines) + f"    return [{', '.join(adds)}]\n"
        + f"def result(key, accs, ts):\n    return {{{', '.join([*results, f'{ROWTIME!r}: ts'])}}}\n"
        + "def result_w(key, accs, w, ts):\n    return {"
        + ", ".join([*results, f"{WINDOWSTART!r}: w[0]", f"{WINDOWEND!r}: w[1]", f"{ROWTIME!r}: ts"]) + "}\n"
    )
    exec(compile(src, "<aggregate>", "exec"), ns)
    return ns["gk"], ns["initial"], ns["add"], ns["result"], ns["result_w"]


class HavingOp(Operator):
    """HAVING over an aggregate's changes: a group that stops matching becomes a tombstone; one that
    did not match before and still does not produces nothing."""

    def __init__(self, predicate: Callable[[Row], Any]) -> None:
        super().__init__()
        self.predicate = predicate

    def process(self, rec: Rec, port: int = 0) -> None:
        p = self.predicate
        new_ok = rec.row is not None and p(rec.row) is True
        old_ok = rec.old is not None and p(rec.old) is True
        if new_ok:
            self.forward(rec.with_(old=rec.old if old_ok else None))
        elif old_ok:
            self.forward(rec.with_(row=None))
