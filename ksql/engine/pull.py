"""Pull queries on tables: what the WHERE clause lets a query read, and the tables it reads.

**Access.** ``pull_where`` holds ksqlDB's rules for the WHERE clause and refuses what they
forbid (table scans when ``ksql.query.pull.table.scan.enabled`` is false, among others). What is
left here: the keys to look up when every disjunct of the clause (in disjunctive normal form:
``IN`` becomes ``=`` disjuncts, ``BETWEEN`` two bounds) pins every key column with ``=``, with
ksqlDB's errors for NULL keys and values a key column cannot hold, and for window bounds it
cannot use. The WHERE clause still filters every row read: the keys only decide which are read.

**Materializations.** A table written by a running persistent query (CTAS) is served from rows
that query's sink hands over in process as it writes them, so a pull query sees what the query
has computed, before it reaches the topic. Rows written before the hand-over started are read
once from the sink topic, until the writer's committed input offsets show that everything it
wrote earlier has landed; from then on the topic is not read again. A source table (CREATE
SOURCE TABLE) is caught up from its topic on demand. Either way the rows come back in the order
a scan of ksqlDB's store returns them: partition by partition, by serialized key.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ksql.catalog import DataSource
from ksql.engine.config import Config
from ksql.engine.pull_where import check_table_pull_where, invalid_where
from ksql.errors import KsqlException
from ksql.expressions import values as V
from ksql.expressions.compiler import ExpressionCompiler, Scope, expr_sql
from ksql.runtime.operators import Operator, SinkOp, SourceOp
from ksql.runtime.records import Rec
from ksql.runtime.task import ProcessingLogEntry, TaskContext
from ksql.schema import ROWTIME, WINDOWEND, WINDOWSTART, Column
from ksql.sqltypes import BaseType, SqlType
from ksql.topics.partitioner import partition_for_key
from ksql.types import Key

if TYPE_CHECKING:
    from ksql.engine.engine import KsqlEngine, RunningQuery

TABLE_SCAN_DISABLED = ("Query requires table scan to be enabled. Table scans can be enabled by setting "
                       "ksql.query.pull.table.scan.enabled=true")
# beyond this many disjuncts the DNF is not worth building: the query scans
_MAX_DISJUNCTS = 1024

_OP_NAMES: dict[type, str] = {
    exp.EQ: "EQUAL", exp.NEQ: "NOT_EQUAL", exp.GT: "GREATER_THAN", exp.GTE: "GREATER_THAN_OR_EQUAL",
    exp.LT: "LESS_THAN", exp.LTE: "LESS_THAN_OR_EQUAL", exp.NullSafeEQ: "IS_NOT_DISTINCT_FROM",
    exp.NullSafeNEQ: "IS_DISTINCT_FROM",
}
_WINDOW_BOUND_OPS = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_WINDOW_COLUMNS = (WINDOWSTART, WINDOWEND)
_RANGE_KEY_TYPES = (BaseType.STRING, BaseType.BYTES)


def _log_processing(entry: ProcessingLogEntry) -> None:
    pass  # rows a materialization cannot decode were already reported by the query that wrote them


# -- access paths -------------------------------------------------------------------------------
def key_access(where: exp.Expression | None, src: DataSource, config: Config) -> list[Key] | None:
    """The keys a pull query on ``src`` looks up, or None for a scan. ksqlDB's rules (and errors)
    for the clause come first (``pull_where``); then each disjunct's key values are resolved,
    raising ksqlDB's errors for NULL keys and values the key columns cannot hold."""
    if where is None:
        if not config.get_bool("ksql.query.pull.table.scan.enabled", True):
            raise KsqlException(TABLE_SCAN_DISABLED)
        return None
    if check_table_pull_where(where, src, config):
        return None
    try:
        disjuncts = _dnf(where)
    except _TooComplex:
        return None
    lookups: list[Key] = []
    for leaves in disjuncts:
        if src.window is not None:
            _check_window_bounds(leaves)
        constraint = _key_constraint(leaves, src.schema.key)
        if constraint is None or constraint[1]:
            return None  # a range (or no usable bound): read everything, the WHERE clause filters
        if constraint[0] not in lookups:
            lookups.append(constraint[0])
    return lookups


class _TooComplex(Exception):
    pass


def _dnf(e: exp.Expression) -> list[list[exp.Expression]]:
    """The disjuncts of ``e`` in disjunctive normal form, each a list of conjoined leaves."""
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.And):
        left, right = _dnf(e.this), _dnf(e.expression)
        if len(left) * len(right) > _MAX_DISJUNCTS:
            raise _TooComplex
        return [a + b for a in left for b in right]
    if isinstance(e, exp.Or):
        out = _dnf(e.this) + _dnf(e.expression)
        if len(out) > _MAX_DISJUNCTS:
            raise _TooComplex
        return out
    if isinstance(e, exp.Between):
        return [[exp.GTE(this=e.this.copy(), expression=e.args["low"].copy()),
                 exp.LTE(this=e.this.copy(), expression=e.args["high"].copy())]]
    if isinstance(e, exp.In) and e.expressions and not e.args.get("query"):
        return [[exp.EQ(this=e.this.copy(), expression=v.copy())] for v in e.expressions]
    return [[e]]


def _column_side(cmp: exp.Expression) -> tuple[exp.Column | None, exp.Expression, bool]:
    """(column, other side, whether the column is on the right), the right side preferred."""
    left, right = cmp.this, cmp.expression
    while isinstance(left, exp.Paren):
        left = left.this
    while isinstance(right, exp.Paren):
        right = right.this
    if isinstance(right, exp.Column):
        return right, left, True
    if isinstance(left, exp.Column):
        return left, right, False
    return None, right, False


def _key_constraint(leaves: list[exp.Expression], keys: list[Column]) -> tuple[Key, bool] | None:
    """(key, is_range) of one disjunct; None when it bounds keys in a way only a scan serves."""
    chosen: dict[str, tuple[type, Any]] = {}
    by_name = {c.name: c for c in keys}
    for leaf in leaves:
        if type(leaf) not in _OP_NAMES:
            continue
        col, other, _ = _column_side(leaf)
        if col is None or col.name not in by_name or any(True for _ in other.find_all(exp.Column)):
            continue
        value = _resolve_key(other, by_name[col.name], leaf)
        held = chosen.get(col.name)
        # the most selective bound wins: an equality over anything, else the first bound seen
        if held is not None and (held[0] is exp.EQ or not isinstance(leaf, exp.EQ)):
            continue
        chosen[col.name] = (type(leaf), value)
    if not chosen:
        return None
    if len(chosen) > 1 or next(iter(chosen.values()))[0] is exp.EQ:
        if len(chosen) != len(keys) or any(op is not exp.EQ for op, _ in chosen.values()):
            return None
        return tuple(chosen[c.name][1] for c in keys), False
    ((name, (op, value)),) = chosen.items()
    if by_name[name].type.base in _RANGE_KEY_TYPES and op in (exp.GT, exp.GTE, exp.LT, exp.LTE):
        return (value,), True
    return None


def _constant(node: exp.Expression) -> tuple[Any, SqlType]:
    c = ExpressionCompiler(Scope({})).compile(node, safe=False)
    return c.fn({}), c.type


def _resolve_key(node: exp.Expression, column: Column, hint: exp.Expression) -> Any:
    value: Any = None
    vtype: SqlType | None = None
    if not isinstance(node, exp.Null):
        value, vtype = _constant(node)
    if value is None or vtype is None:
        raise KsqlException(f"Primary key columns can not be NULL: {expr_sql(hint)}")
    coerced = _strict_coerce(value, vtype, column.type)
    if coerced is _NO:
        raise KsqlException(f"'{_java_text(value)}' can not be converted to the type of the key column: "
                            f"{column.name} {column.type} KEY")
    return coerced


_NO = object()
_WIDENS = {BaseType.INTEGER: (BaseType.BIGINT, BaseType.DECIMAL, BaseType.DOUBLE),
           BaseType.BIGINT: (BaseType.DECIMAL, BaseType.DOUBLE),
           BaseType.DECIMAL: (BaseType.DOUBLE,)}


def _strict_coerce(value: Any, vtype: SqlType, ktype: SqlType) -> Any:
    """A constant as a key column holds it, allowing only widening numeric conversions."""
    vb, kb = vtype.base, ktype.base
    if vb is not kb and kb not in _WIDENS.get(vb, ()):
        return _NO
    if kb is BaseType.DOUBLE:
        return float(value)
    if kb is BaseType.DECIMAL:
        try:
            d = Decimal(value).quantize(Decimal(1).scaleb(-(ktype.scale or 0)))
        except InvalidOperation:
            return _NO
        if ktype.precision is not None and len(d.as_tuple().digits) > ktype.precision:
            return _NO
        return d
    if kb is BaseType.INTEGER and not -(2**31) <= value < 2**31:
        return _NO
    return value


def _java_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass
class _Bound:
    equal: int | None = None
    lower: int | None = None
    upper: int | None = None


def _check_window_bounds(leaves: list[exp.Expression]) -> None:
    """ksqlDB's rules for WINDOWSTART/WINDOWEND bounds within one disjunct."""
    bounds = {WINDOWSTART: _Bound(), WINDOWEND: _Bound()}
    for leaf in leaves:
        if not isinstance(leaf, _WINDOW_BOUND_OPS):
            continue
        col, other, inverted = _column_side(leaf)
        if col is None or col.name not in _WINDOW_COLUMNS:
            continue
        name = col.name
        b = bounds[name]
        value = _bound_value(other)
        kind = _OP_NAMES[type(leaf)]
        ok = True
        if isinstance(leaf, exp.EQ):
            ok, b.equal = b.equal is None, value
        elif isinstance(leaf, (exp.LT, exp.LTE)) != inverted:
            kind = "LESS_THAN"
            ok, b.upper = b.upper is None, value
        else:
            kind = "GREATER_THAN"
            ok, b.lower = b.lower is None, value
        if b.equal is not None and (b.upper is not None or b.lower is not None):
            raise invalid_where(f"`{expr_sql(leaf)}` cannot be combined with other {name} bounds", True)
        if not ok:
            raise invalid_where(f"Duplicate {name} bounds on: {kind}", True)


def _bound_value(node: exp.Expression) -> int:
    if isinstance(node, exp.Literal) and node.is_string:
        return window_bound_ms(node.this)
    try:
        value, vtype = _constant(node)
    except KsqlException:
        value, vtype = None, None
    if vtype is None or vtype.base not in (BaseType.INTEGER, BaseType.BIGINT) or value is None:
        raise invalid_where("Window bounds must resolve to an INT, BIGINT, or STRING containing a datetime.", True)
    return int(value)


_HOUR_24 = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ])24((?::00(?::00(?:\.0+)?)?)?)(.*)$")


def window_bound_ms(text: str) -> int:
    """A (possibly partial) datetime bounding WINDOWSTART/WINDOWEND, in epoch millis. As in ksqlDB,
    hour 24 of a day is midnight of the next."""
    try:
        m = _HOUR_24.match(text.strip())
        if m is not None:
            return V.parse_timestamp(f"{m.group(1)}00{m.group(2)}{m.group(3)}") + 86_400_000
        return V.parse_timestamp(text)
    except Exception:
        raise invalid_where(f"Failed to parse datetime: {text}", True) from None


def with_window_bounds_resolved(where: exp.Expression | None) -> exp.Expression | None:
    """``where`` with each datetime string compared to WINDOWSTART/WINDOWEND replaced by its epoch
    millis (strings that are not datetimes raise ksqlDB's error)."""
    if where is None:
        return None
    comparisons: list[exp.Expression] = list(where.find_all(*_OP_NAMES))
    if not any(_window_string(c) is not None for c in comparisons):
        return where
    where = where.copy()
    comparisons = list(where.find_all(*_OP_NAMES))
    for node in comparisons:
        lit = _window_string(node)
        if lit is not None:
            lit.replace(exp.Literal.number(window_bound_ms(lit.this)))
    return where


def _window_string(cmp: exp.Expression) -> exp.Literal | None:
    for col, other in ((cmp.this, cmp.expression), (cmp.expression, cmp.this)):
        if (isinstance(col, exp.Column) and col.name in _WINDOW_COLUMNS and isinstance(other, exp.Literal)
                and other.is_string):
            return other
    return None


# -- materializations -----------------------------------------------------------------------------
def freeze(value: Any) -> Any:
    """A hashable stand-in for a key (keys may hold arrays, maps and structs)."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return ("\0map", tuple((freeze(k), freeze(v)) for k, v in value.items()))
    return value


class _Materialized:
    """Latest row per (key, window) of one table."""

    def __init__(self, source: DataSource, op: SourceOp, partitions: int) -> None:
        self.source = source
        self.op = op
        self.partitions = partitions
        self.positions = dict.fromkeys(range(partitions), 0)
        # (key, window) -> (partition, serialized key, change): the first two order a scan the way
        # a key-value store of serialized keys iterates, partition by partition
        self.rows: dict[Any, tuple[int, bytes, Rec]] = {}
        self.by_key: dict[Any, set[Any]] = {}  # key -> its (key, window) entries
        self.raw_key = b""  # serialized key of the topic record being applied
        self._skip: set[bytes | None] = set()  # serialized keys whose topic records are stale
        self.writer: SinkOp | None = None
        self._fence: dict[tuple[str, int], int] | None = None
        self._group = ""
        self._on_change: Callable[[Rec], None] | None = None
        self.topic_done = False  # the topic holds nothing the writer has not handed over
        self.lock = asyncio.Lock()
        op.to(_ApplyTo(self))

    # -- writes -----------------------------------------------------------------------------------
    def apply(self, rec: Rec, partition: int, raw_key: bytes) -> None:
        key = freeze(rec.key)
        k = (key, rec.window)
        if rec.row is None:
            self.rows.pop(k, None)
            entries = self.by_key.get(key)
            if entries is not None:
                entries.discard(k)
                if not entries:
                    del self.by_key[key]
        else:
            self.rows[k] = (partition, raw_key, rec)
            self.by_key.setdefault(key, set()).add(k)

    def feed_from(self, running: RunningQuery) -> None:
        """Take every change the running query's sink writes from now on (synchronously: nothing
        it writes can fall between the topic read and the hand-over)."""
        sink = running.sink
        assert sink is not None
        self.writer = sink
        self._fence = dict(running.task.positions)
        self._group = running.task.group
        names = self.op.key_names + self.op.value_names
        encode_key, ts_fn, partitions = sink.encode_key, sink.timestamp_fn, self.partitions

        def on_change(rec: Rec) -> None:
            raw = encode_key(rec.key, rec.window)
            self._skip.add(raw)
            row = None
            ts = rec.ts
            if rec.row is not None:
                if ts_fn is not None:
                    ts = ts_fn(rec.row)  # the sink wrote the record, so this succeeded there
                row = {n: rec.row.get(n) for n in names}
                if rec.window is not None:
                    row[WINDOWSTART], row[WINDOWEND] = rec.window
                row[ROWTIME] = ts
            # where the sink put the record: a windowed key goes by its inner key
            part_key = encode_key(rec.key, None) if rec.window is not None else raw
            partition = partition_for_key(part_key, partitions) if part_key is not None else 0
            self.apply(Rec(rec.key, row, ts, window=rec.window), partition, raw or b"")

        self._on_change = on_change
        sink.taps.append(on_change)

    def detach(self) -> None:
        if self.writer is not None and self._on_change is not None and self._on_change in self.writer.taps:
            self.writer.taps.remove(self._on_change)
        self.writer = None

    async def refresh(self, engine: KsqlEngine) -> None:
        """Bring the rows up to date: read what the topic has that was not handed over."""
        if self.topic_done:
            return
        if self._fence is None:
            await self._catch_up(engine)
            return
        committed = await engine.backend.committed(self._group)
        landed = all(committed.get(tp, -1) >= pos for tp, pos in self._fence.items())
        await self._catch_up(engine)
        # the writer committed past what it had read when the hand-over began: all it wrote
        # before is in the topic now, and was just read
        self.topic_done = landed

    async def _catch_up(self, engine: KsqlEngine) -> None:
        skip = self._skip
        for p in range(self.partitions):
            while True:
                recs = await engine.backend.read(self.source.topic, p, self.positions[p], 1000)
                if not recs:
                    break
                for r in recs:
                    self.positions[p] = r.offset + 1
                    if r.key in skip:
                        continue  # the writer has handed over a newer change of this key
                    self.raw_key = r.key or b""
                    self.op.process_record(r)

    def snapshot(self, keys: list[Key] | None = None) -> list[Rec]:
        """All rows, or those of the given keys, in scan order."""
        if keys is None:
            entries = list(self.rows.values())
        else:
            wanted = {k for key in keys for k in self.by_key.get(freeze(key), ())}
            entries = [self.rows[k] for k in wanted]
        return [rec for _, _, rec in sorted(entries, key=lambda e: (e[0], e[1]))]


class _ApplyTo(Operator):
    def __init__(self, table: _Materialized) -> None:
        super().__init__()
        self.table = table

    def process(self, rec: Rec, port: int = 0) -> None:
        self.table.apply(rec, rec.partition, self.table.raw_key)


class Materializations:
    """The queryable tables of an engine: tables written by a running persistent query (CTAS)
    and source tables (CREATE SOURCE TABLE)."""

    def __init__(self, engine: KsqlEngine) -> None:
        self.engine = engine
        self.tables: dict[str, _Materialized] = {}
        self._lock = asyncio.Lock()

    def is_queryable(self, src: DataSource) -> bool:
        if src.kind != "TABLE":
            return False
        return src.is_source or (src.created_by is not None and src.created_by in self.engine.queries)

    async def rows(self, src: DataSource, keys: list[Key] | None = None) -> list[Rec]:
        """The table's current rows (only those of ``keys`` when given), in scan order."""
        m = await self._table(src)
        async with m.lock:
            await m.refresh(self.engine)
            return m.snapshot(keys)

    async def _table(self, src: DataSource) -> _Materialized:
        async with self._lock:
            for name in [n for n, t in self.tables.items() if self.engine.metastore.get_source(n) is not t.source]:
                self.tables.pop(name).detach()
            writer = self.engine.queries.get(src.created_by) if src.created_by else None
            m = self.tables.get(src.name)
            if m is not None and m.source is src and (writer is None or m.writer is writer.sink):
                return m
            if m is not None:
                m.detach()
            info = await self.engine.backend.describe_topic(src.topic)
            op = self.engine.serdes.source_op(src)
            op.open(TaskContext(f"materialize_{src.name}", _log_processing))
            m = self.tables[src.name] = _Materialized(src, op, info.partitions if info else 1)
            if writer is not None and writer.sink is not None and not src.schema.headers:
                m.feed_from(writer)
            return m

    def close(self) -> None:
        for m in self.tables.values():
            m.detach()
        self.tables.clear()

