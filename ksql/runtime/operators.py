"""Stateless operators and the operator base: source decoding, filter, project, re-key, flat-map, sink.

Operators form a small push-based graph per query task: ``process(rec, port)`` handles one change
and ``forward`` hands results downstream. Stateful ones (aggregate, join) live in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from ksql.errors import StreamsException
from ksql.runtime.records import Rec
from ksql.schema import ROWOFFSET, ROWPARTITION, ROWTIME, WINDOWEND, WINDOWSTART
from ksql.topics.partitioner import partition_for_key
from ksql.types import Row

if TYPE_CHECKING:
    from ksql.runtime.task import TaskContext
    from ksql.topics.base import Record


class Operator:
    def __init__(self) -> None:
        self.downstream = []
        self.ctx: TaskContext | None = None

    @property
    def downstream(self) -> list[tuple[Operator, int]]:
        return self._downstream

    @downstream.setter
    def downstream(self, ops: list[tuple[Operator, int]]) -> None:
        self._downstream = ops
        self._wire()

    def _wire(self) -> None:
        """With a single downstream operator on port 0, ``forward`` is that operator's ``process``
        itself: one call less per record and operator."""
        if type(self).forward is not Operator.forward:
            return
        ops = self._downstream
        if len(ops) == 1 and ops[0][1] == 0:
            self.__dict__["forward"] = ops[0][0].process
        else:
            self.__dict__.pop("forward", None)

    def to(self, op: Operator, port: int = 0) -> Operator:
        self._downstream.append((op, port))
        self._wire()
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
        # decoded keys by their bytes (keys repeat); only keys of immutable values are kept
        self._keys: dict[bytes | None, tuple[tuple[Any, ...], tuple[int, int] | None]] = {}
        self._build = _row_builder(self.key_names, self.value_names, self.header_fns)
        self._null_key_check = is_table and bool(key_names)

    def open(self, ctx: TaskContext) -> None:
        super().open(ctx)
        if not self.header_fns and self.timestamp_fn is None and not self.windowed:
            self.__dict__["process_record"] = self._fast_process_record()

    def _wire(self) -> None:
        super()._wire()
        if "process_record" in self.__dict__:  # the generated handler holds ``forward``: renew it
            self.__dict__["process_record"] = self._fast_process_record()

    def _decode_key(self, kb: bytes | None) -> tuple[tuple[Any, ...], tuple[int, int] | None] | None:
        """The decoded key, remembered by its bytes; None (logged) when it cannot be decoded."""
        try:
            decoded = self.decode_key(kb)
        except Exception as e:
            self.ctx.log_deserialization_error(self.topic, "key", e)  # type: ignore[union-attr]
            return None
        if all(type(k) in _IMMUTABLE for k in decoded[0]):
            if len(self._keys) >= _KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[kb] = decoded
        return decoded

    def _fast_process_record(self) -> Callable[[Record], None]:
        """``process_record`` generated for this source (no header columns, timestamp column or
        windowed key): the row is built inline, and JSON values are read by the serde's flat
        reader straight from orjson's parse when the record allows it (else the serde decides)."""
        serde = getattr(self.decode_value, "__self__", None)
        flat = getattr(serde, "flat_reader", None)
        ns: dict[str, Any] = {
            "_keys_get": self._keys.get, "_decode_key": self._decode_key, "_decode": self.decode_value,
            "_ctx": self.ctx, "_topic": self.topic, "_Rec": Rec, "_fwd": self.forward, "_flat": flat,
            "_FB": getattr(serde, "FALLBACK", None), "_slow": self._build, "_loads": orjson.loads,
            "_JDE": orjson.JSONDecodeError,
        }
        nk, nv = len(self.key_names), len(self.value_names)
        items = [f"{n!r}: key[{i}]" for i, n in enumerate(self.key_names)]
        items += [f"{n!r}: values[{i}]" for i, n in enumerate(self.value_names)]
        items += [f"{ROWPARTITION!r}: r.partition", f"{ROWOFFSET!r}: r.offset", f"{ROWTIME!r}: ts"]
        lines = [
            "def process_record(r):",
            "    kb = r.key",
            "    decoded = _keys_get(kb)",
            "    if decoded is None:",
            "        decoded = _decode_key(kb)",
            "        if decoded is None:",
            "            return",
            "    key = decoded[0]",
        ]
        if self._null_key_check:
            lines += ["    if all(k is None for k in key):",
                      "        _ctx.log_error(f'Skipping record from {_topic} with null key')",
                      "        return"]
        lines += ["    v = r.value", "    ts = r.timestamp", "    values = None", "    if v is not None:"]
        if flat is not None:
            lines += ["        values = _FB",
                      "        try:",
                      "            node = _loads(v)",
                      "        except _JDE:",
                      "            pass",
                      "        else:",
                      "            if type(node) is dict:",
                      "                values = _flat(node)",
                      "        if values is _FB:"]
            indent = "            "
        else:
            indent = "        "
        lines += [f"{indent}try:",
                  f"{indent}    values = _decode(v)",
                  f"{indent}except Exception as e:",
                  f"{indent}    _ctx.log_deserialization_error(_topic, 'value', e)",
                  f"{indent}    return",
                  "    if values is None:",
                  "        row = None",
                  f"    elif len(key) == {nk} and len(values) == {nv}:",
                  f"        row = {{{', '.join(items)}}}",
                  "    else:",
                  "        row = _slow(key, values, r.headers, r.partition, r.offset)",
                  f"        row[{ROWTIME!r}] = ts",
                  "    if ts > _ctx.stream_time:",
                  "        _ctx.stream_time = ts",
                  "    _fwd(_Rec(key, row, ts, None, None, r.partition, r.offset, r.headers))"]
        exec(compile("\n".join(lines) + "\n", "<source record>", "exec"), ns)
        return ns["process_record"]  # type: ignore[no-any-return]

    def process_record(self, r: Record) -> None:
        ctx = self.ctx
        assert ctx is not None
        kb = r.key
        decoded = self._keys.get(kb)
        if decoded is None:
            decoded = self._decode_key(kb)
            if decoded is None:
                return
        key, window = decoded
        if self._null_key_check and all(k is None for k in key):
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
            row = self._build(key, values, r.headers, r.partition, r.offset)
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
        if ts > ctx.stream_time:
            ctx.stream_time = ts
        self.forward(Rec(key, row, ts, None, window, r.partition, r.offset, r.headers))

    def process(self, rec: Rec, port: int = 0) -> None:  # pragma: no cover - sources take raw records
        self.forward(rec)


class NullKey(tuple):  # type: ignore[type-arg]
    """The key of a record whose Kafka key was null, for a multi-column key: equal to the tuple of
    nulls, but a sink that gets it through unchanged writes a null key again (not a struct of
    nulls, which is what a key whose columns all happen to be null is written as)."""

    __slots__ = ()


_IMMUTABLE = frozenset({int, str, bool, float, bytes, type(None), Decimal})
_MISS = object()
_KEY_CACHE_SIZE = 1 << 16


def _row_builder(
    key_names: list[str], value_names: list[str], header_fns: list[tuple[str, Callable[[Any], Any]]]
) -> Callable[[tuple[Any, ...], list[Any], Any, int, int], Row]:
    """A generated ``build(key, values, headers, partition, offset)``: the source row as one dict
    display (key columns, value columns, header columns, ROWPARTITION, ROWOFFSET)."""
    ns: dict[str, Any] = {"_slow": _build_row_slow, "_kn": key_names, "_vn": value_names, "_hf": header_fns}
    items = [f"{n!r}: key[{i}]" for i, n in enumerate(key_names)]
    items += [f"{n!r}: values[{i}]" for i, n in enumerate(value_names)]
    for i, (n, fn) in enumerate(header_fns):
        ns[f"_h{i}"] = fn
        items.append(f"{n!r}: _h{i}(headers)")
    items += [f"{ROWPARTITION!r}: partition", f"{ROWOFFSET!r}: offset"]
    src = (
        "def build(key, values, headers, partition, offset):\n"
        f"    if len(key) != {len(key_names)} or len(values) != {len(value_names)}:\n"
        "        return _slow(_kn, _vn, _hf, key, values, headers, partition, offset)\n"
        f"    return {{{', '.join(items)}}}\n"
    )
    exec(compile(src, "<source row builder>", "exec"), ns)
    return ns["build"]  # type: ignore[no-any-return]


def _build_row_slow(key_names: list[str], value_names: list[str], header_fns: list[tuple[str, Callable[[Any], Any]]],
                    key: tuple[Any, ...], values: list[Any], headers: Any, partition: int, offset: int) -> Row:
    row = dict(zip(key_names, key, strict=False))
    row.update(zip(value_names, values, strict=False))
    for name, fn in header_fns:
        row[name] = fn(headers)
    row[ROWPARTITION] = partition
    row[ROWOFFSET] = offset
    return row


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
        if not is_table:  # upstream operators call the stream handler directly (see Operator._wire)
            self.__dict__["process"] = self._process_stream

    def _process_stream(self, rec: Rec, port: int = 0) -> None:
        row = rec.row
        if row is not None and self.predicate(row) is True:
            self.forward(rec)

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
        self._compiled: Callable[[Row], Row] | None = None

    def _project(self, row: Row | None) -> Row | None:
        if row is None:
            return None
        p = self._compiled
        if p is None:
            p = self._compiled = _compile_projection(self.columns)
        return p(row)

    def process(self, rec: Rec, port: int = 0) -> None:
        p = self._compiled
        if p is None:
            p = self._compiled = _compile_projection(self.columns)
        row = rec.row
        old = rec.old
        self.forward(Rec(rec.key, None if row is None else p(row), rec.ts, None if old is None else p(old),
                         rec.window, rec.partition, rec.offset, rec.headers))


def _compile_projection(columns: list[tuple[str, Callable[[Row], Any]]]) -> Callable[[Row], Row]:
    """One generated function building the output row as a dict display; a column that only reads
    an input column (the compiler marks it ``ksql_column``) is read inline."""
    ns: dict[str, Any] = {}
    items = []
    for i, (name, fn) in enumerate(columns):
        col = getattr(fn, "ksql_column", None)
        if col is not None:
            items.append(f"{name!r}: row.get({col!r})")
        else:
            ns[f"_f{i}"] = fn
            items.append(f"{name!r}: _f{i}(row)")
    body = f"    out = {{{', '.join(items)}}}\n"
    if ROWTIME not in {name for name, _ in columns}:
        body += f"    if {ROWTIME!r} in row:\n        out[{ROWTIME!r}] = row[{ROWTIME!r}]\n"
    src = "def project(row):\n" + body + "    return out\n"
    exec(compile(src, "<projection>", "exec"), ns)
    return ns["project"]  # type: ignore[no-any-return]


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
        # partitions of the output topic, set for windowed output: Kafka Streams partitions a
        # windowed key on its inner key, so every window of a key lands where the key does
        self.partitions = 0
        # ksqlDB's record cache: a table keeps only the latest change per key until the next commit
        self.cache = False
        self._cached: dict[Any, Rec] = {}
        self._key_of = _getter(key_names, tuple)
        self._kbytes: dict[Any, bytes | None] = {}
        self._partition_of: dict[Any, int] = {}
        self._values_of = _getter(value_names, list)

    def process(self, rec: Rec, port: int = 0) -> None:
        if self.cache and self.is_table:
            k = (rec.key, rec.window)
            try:
                hash(k)
            except TypeError:
                from ksql.runtime.task import hashable

                k = hashable(k)
            cached = self._cached
            cached.pop(k, None)  # the flush order is the order of the latest changes
            cached[k] = rec
            return
        self._write(rec)

    def cached_count(self) -> int:
        return len(self._cached)

    def flush(self) -> None:
        cached, self._cached = self._cached, {}
        for rec in cached.values():
            self._write(rec)

    def _write(self, rec: Rec) -> None:
        ctx = self.ctx
        assert ctx is not None
        row = rec.row
        if row is not None:
            key = self._key_of(row)
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
        # serialized keys by key (keys repeat); only keys of immutable values are kept
        kcache = self._kbytes
        ck = (key, rec.window)
        try:
            cached = kcache.get(ck, _MISS)
        except TypeError:  # a struct or array in the key
            cached = _MISS
        try:
            if type(rec.key) is NullKey and rec.window is None and not any(k is not None for k in key):
                kb = None
            elif cached is _MISS:
                kb = self.encode_key(key, rec.window)
                if all(type(k) in _IMMUTABLE for k in key):
                    if len(kcache) >= _KEY_CACHE_SIZE:
                        kcache.clear()
                    kcache[ck] = kb
            else:
                kb = cached  # type: ignore[assignment]
            vb = None if row is None else self.encode_value(self._values_of(row))
        except Exception as e:
            # logged, then the query stops: Kafka Streams fails on a record it cannot serialize
            ctx.log_serialization_error(self.topic, e)
            raise StreamsException(f"Unable to serialize record. topic={self.topic}: {e}") from e
        if self.partitions and rec.window is not None:
            ctx.emit(self.topic, kb, vb, ts, rec.headers, self.partition_of(key))
        else:
            ctx.emit(self.topic, kb, vb, ts, rec.headers)  # Kafka Streams carries the input's headers
        if self.taps:
            for tap in self.taps:
                tap(rec.with_(key=key))

    def partition_of(self, key: tuple[Any, ...]) -> int:
        """The output partition of a windowed record: its inner key's (-1: the backend picks)."""
        try:
            cached = self._partition_of.get((key, self.partitions))
        except TypeError:  # a struct or array in the key
            cached = None
        if cached is not None:
            return cached
        inner = self.encode_key(key, None)
        p = -1 if inner is None or not self.partitions else partition_for_key(inner, self.partitions)
        if all(type(k) in _IMMUTABLE for k in key):  # keys repeat: remember their partition
            if len(self._partition_of) >= _KEY_CACHE_SIZE:
                self._partition_of.clear()
            self._partition_of[(key, self.partitions)] = p
        return p


def _getter(names: list[str], kind: type) -> Callable[[Row], Any]:
    """``row -> tuple/list of row.get(name)`` as one generated expression."""
    items = "".join(f"row.get({n!r}), " for n in names)
    src = f"lambda row: ({items})" if kind is tuple else f"lambda row: [{items}]"
    return eval(compile(src, "<row getter>", "eval"))  # type: ignore[no-any-return]
