"""Stateless operators and the operator base: source decoding, filter, project, re-key, flat-map, sink.

Operators form a small push-based graph per query task: ``process(rec, port)`` handles one change
and ``forward`` hands results downstream. Stateful ones (aggregate, join) live in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ksql.runtime.records import Rec
from ksql.schema import ROWOFFSET, ROWPARTITION, ROWTIME, WINDOWEND, WINDOWSTART
from ksql.types import Row

if TYPE_CHECKING:
    from ksql.runtime.task import TaskContext
    from ksql.topics.base import Record


class Operator:
    def __init__(self) -> None:
        self.downstream: list[tuple[Operator, int]] = []
        self.ctx: TaskContext | None = None

    def to(self, op: Operator, port: int = 0) -> Operator:
        self.downstream.append((op, port))
        return op

    def open(self, ctx: TaskContext) -> None:
        self.ctx = ctx

    def process(self, rec: Rec, port: int = 0) -> None:
        raise NotImplementedError

    def forward(self, rec: Rec) -> None:
        for op, port in self.downstream:
            op.process(rec, port)

    def on_stream_time(self, stream_time: int) -> None:
        """Called after each input record; window-closing operators emit here."""


Decoder = Callable[[bytes | None], list[Any] | None]


class SourceOp(Operator):
    """Decodes raw topic records into rows; bad records go to the processing log and are skipped."""

    def __init__(
        self,
        name: str,
        topic: str,
        key_names: list[str],
        value_names: list[str],
        decode_key: Callable[[bytes | None], tuple[tuple[Any, ...], tuple[int, int] | None]],
        decode_value: Decoder,
        is_table: bool,
        timestamp_fn: Callable[[Row, int], int] | None = None,
        header_fns: list[tuple[str, Callable[[Any], Any]]] | None = None,
        windowed: bool = False,
        drop_null_keys: bool = False,
    ) -> None:
        super().__init__()
        self.name = name
        self.topic = topic
        self.key_names = key_names
        self.value_names = value_names
        self.decode_key = decode_key
        self.decode_value = decode_value
        self.is_table = is_table
        self.timestamp_fn = timestamp_fn
        self.header_fns = header_fns or []
        self.windowed = windowed
        self.drop_null_keys = drop_null_keys

    def process_record(self, r: Record) -> None:
        ctx = self.ctx
        assert ctx is not None
        try:
            key, window = self.decode_key(r.key)
        except Exception as e:
            ctx.log_deserialization_error(self.topic, "key", e)
            return
        if self.is_table and all(k is None for k in key) and self.key_names:
            ctx.log_error(f"Skipping record from {self.topic} with null key")
            return
        if r.value is None:
            values = None
        else:
            try:
                values = self.decode_value(r.value)
            except Exception as e:
                ctx.log_deserialization_error(self.topic, "value", e)
                return
        # a stream record with a null value flows on as a null row: projections pass it through
        # (a null value downstream), filters, joins, aggregations and table functions drop it
        ts = r.timestamp
        if values is None:
            row = None
        else:
            row = dict(zip(self.key_names, key, strict=False))
            row.update(zip(self.value_names, values, strict=False))
            for name, fn in self.header_fns:
                row[name] = fn(r.headers)
            row[ROWPARTITION] = r.partition
            row[ROWOFFSET] = r.offset
            if window is not None:
                row[WINDOWSTART], row[WINDOWEND] = window
            if self.timestamp_fn is not None:
                try:
                    ts = self.timestamp_fn(row, ts)
                except Exception as e:
                    ctx.log_error(f"Failed to extract timestamp from row: {e}")
                    return
                if ts is None or ts < 0:
                    ctx.log_error("Skipping record with invalid timestamp")
                    return
            row[ROWTIME] = ts
        ctx.advance_stream_time(ts)
        self.forward(Rec(key, row, ts, window=window, partition=r.partition, offset=r.offset, headers=r.headers))

    def process(self, rec: Rec, port: int = 0) -> None:  # pragma: no cover - sources take raw records
        self.forward(rec)


class TableMaterializeOp(Operator):
    """Keeps the latest row per key of a table so downstream operators see the previous row."""

    def __init__(self, store_name: str) -> None:
        super().__init__()
        self.store_name = store_name

    def process(self, rec: Rec, port: int = 0) -> None:
        store = self.ctx.store(self.store_name)  # type: ignore[union-attr]
        k = (rec.key, rec.window)
        old = store.get(k)
        if rec.row is None:
            if old is None:
                return  # deleting a key that was never there changes nothing
            store.delete(k)
        else:
            store.put(k, rec.row)
        rec.old = old
        self.forward(rec)


class FilterOp(Operator):
    def __init__(self, predicate: Callable[[Row], Any], is_table: bool) -> None:
        super().__init__()
        self.predicate = predicate
        self.is_table = is_table

    def process(self, rec: Rec, port: int = 0) -> None:
        p = self.predicate
        if not self.is_table:
            if rec.row is not None and p(rec.row) is True:
                self.forward(rec)
            return
        new_ok = rec.row is not None and p(rec.row) is True
        old_ok = rec.old is not None and p(rec.old) is True
        if new_ok:
            self.forward(rec.with_(old=rec.old if old_ok else None))
        elif old_ok or rec.old is None:
            # the key leaves (or never entered) the filtered table: a tombstone
            self.forward(rec.with_(row=None, old=rec.old if old_ok else None))


class ProjectOp(Operator):
    """Computes the output row: ``columns`` are (name, fn) pairs; key columns included."""

    def __init__(self, columns: list[tuple[str, Callable[[Row], Any]]]) -> None:
        super().__init__()
        self.columns = columns

    def _project(self, row: Row | None) -> Row | None:
        if row is None:
            return None
        out = {name: fn(row) for name, fn in self.columns}
        if ROWTIME in row and ROWTIME not in out:
            out[ROWTIME] = row[ROWTIME]
        return out

    def process(self, rec: Rec, port: int = 0) -> None:
        row = self._project(rec.row)
        old = self._project(rec.old) if rec.old is not None else None
        self.forward(rec.with_(row=row, old=old))


class RekeyOp(Operator):
    """PARTITION BY / implicit repartition: computes the new key from the row."""

    def __init__(self, key_fns: list[Callable[[Row], Any]], key_names: list[str],
                 input_key_names: list[str] | None = None) -> None:
        super().__init__()
        self.key_fns = key_fns
        self.key_names = key_names
        self.input_key_names = input_key_names or []  # the input's key columns, as the row names them

    def process(self, rec: Rec, port: int = 0) -> None:
        if rec.row is None:
            # a stream's null value keeps flowing; its new key holds the expressions that read
            # key columns only (the others have no value to read: NULL)
            self.forward(rec.with_(key=tuple(self._from_key(f, rec.key) for f in self.key_fns), old=None))
            return
        key = tuple(f(rec.row) for f in self.key_fns)
        row = dict(rec.row)
        for n, v in zip(self.key_names, key, strict=True):
            row[n] = v
        self.forward(rec.with_(key=key, row=row, old=None))

    def _from_key(self, fn: Callable[[Row], Any], key: tuple[Any, ...]) -> Any:
        row = _ReadTracker(zip(self.input_key_names, key, strict=False))
        value = fn(row)
        return value if row.read <= row.keys() else None


class _ReadTracker(dict[str, Any]):
    """A row that remembers which columns an expression read."""

    def __init__(self, items: Any) -> None:
        super().__init__(items)
        self.read: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(name)
        return super().get(name, default)

    def __getitem__(self, name: str) -> Any:
        self.read.add(name)
        return super().__getitem__(name)


class FlatMapOp(Operator):
    """Table functions: each input row becomes one row per element (zipped across functions)."""

    def __init__(self, functions: list[tuple[str, Callable[[Row], list[Any] | None]]]) -> None:
        super().__init__()
        self.functions = functions

    def process(self, rec: Rec, port: int = 0) -> None:
        if rec.row is None:
            return
        results = [(name, fn(rec.row) or []) for name, fn in self.functions]
        n = max((len(v) for _, v in results), default=0)
        for i in range(n):
            row = dict(rec.row)
            for name, vals in results:
                row[name] = vals[i] if i < len(vals) else None
            self.forward(rec.with_(row=row))


class SinkOp(Operator):
    """Serializes rows and queues them for the output topic."""

    def __init__(
        self,
        topic: str,
        encode_key: Callable[[tuple[Any, ...], tuple[int, int] | None], bytes | None],
        encode_value: Callable[[list[Any]], bytes | None],
        key_names: list[str],
        value_names: list[str],
        header_names: list[str] | None = None,
        is_table: bool = False,
        timestamp_fn: Callable[[Row], int] | None = None,
    ) -> None:
        super().__init__()
        self.topic = topic
        self.encode_key = encode_key
        self.encode_value = encode_value
        self.key_names = key_names
        self.value_names = value_names
        self.is_table = is_table
        self.timestamp_fn = timestamp_fn
        self.taps: list[Callable[[Rec], None]] = []
        # ksqlDB's record cache: a table keeps only the latest change per key until the next commit
        self.cache = False
        self._cached: dict[Any, Rec] = {}

    def process(self, rec: Rec, port: int = 0) -> None:
        if self.cache and self.is_table:
            from ksql.runtime.task import hashable

            self._cached.pop(hashable((rec.key, rec.window)), None)
            self._cached[hashable((rec.key, rec.window))] = rec
            return
        self._write(rec)

    def flush(self) -> None:
        cached, self._cached = self._cached, {}
        for rec in cached.values():
            self._write(rec)

    def _write(self, rec: Rec) -> None:
        ctx = self.ctx
        assert ctx is not None
        row = rec.row
        if row is not None:
            key = tuple(row.get(n) for n in self.key_names) if self.key_names else ()
        else:
            key = rec.key if len(rec.key) == len(self.key_names) else tuple(rec.key[: len(self.key_names)])
            if len(key) < len(self.key_names):
                key = key + (None,) * (len(self.key_names) - len(key))
        ts = rec.ts
        if row is not None and self.timestamp_fn is not None:
            try:
                ts = self.timestamp_fn(row)
            except Exception as e:
                ctx.log_error(f"Failed to extract sink timestamp: {e}")
                return
        try:
            kb = self.encode_key(key, rec.window)
            vb = None if row is None else self.encode_value([row.get(n) for n in self.value_names])
        except Exception as e:
            ctx.log_serialization_error(self.topic, e)
            return
        ctx.emit(self.topic, kb, vb, ts, rec.headers)  # Kafka Streams carries the input's headers
        for tap in self.taps:
            tap(rec.with_(key=key))
