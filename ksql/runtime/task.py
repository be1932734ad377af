"""A running query task: consume a batch → operators → state → emit → produce → commit."""

from __future__ import annotations

import gc
import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ksql.errors import StreamsException
from ksql.runtime.operators import Operator, SinkOp, SourceOp
from ksql.topics.base import Record, TopicBackend

log = logging.getLogger("ksql.runtime")


class ProcessingFailed(StreamsException):
    """A record's processing failed: the query stops (``__cause__`` is the error)."""


def hashable(obj: Any) -> Any:
    """Store keys may hold STRUCT (dict) or ARRAY (list) values: freeze them for hashing."""
    if type(obj) is tuple:
        try:
            hash(obj)  # the common case: primitives only, nothing to convert
            return obj
        except TypeError:
            return tuple(hashable(o) for o in obj)
    if isinstance(obj, dict):
        return ("$struct", tuple((k, hashable(v)) for k, v in obj.items()))
    if isinstance(obj, list):
        return ("$array", tuple(hashable(v) for v in obj))
    return obj


class DictStore:
    """Key-value state for one store of one task, with a journal of changes since the last commit.

    Keys and values are Python objects, all held in memory; the journal is what goes to the
    changelog topic and the local (RocksDB) store at commit.
    """

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.dirty: dict[Any, Any] = {}

    # A key that hashes as it is is its own store key (what ``hashable`` returns for it); only keys
    # holding structs or arrays take the conversion.
    def get(self, key: Any) -> Any:
        try:
            return self.data.get(key)
        except TypeError:
            return self.data.get(hashable(key))

    def put(self, key: Any, value: Any) -> None:
        try:
            self.data[key] = value
        except TypeError:
            key = hashable(key)
            self.data[key] = value
        self.dirty[key] = value

    def delete(self, key: Any) -> None:
        try:
            self.data.pop(key, None)
        except TypeError:
            key = hashable(key)
            self.data.pop(key, None)
        self.dirty[key] = _DELETED

    def items(self) -> list[tuple[Any, Any]]:
        return list(self.data.items())

    def take_changes(self) -> dict[Any, Any]:
        changes, self.dirty = self.dirty, {}
        return changes


_DELETED = object()
_ENTRY_BYTES = 100  # estimated size of a cached row or a changed state entry


@dataclass
class ProcessingLogEntry:
    query_id: str
    message: str
    type: int  # 0 deserialization, 1 record processing, 2 production, 3 serialization
    ts: int = field(default_factory=lambda: int(time.time() * 1000))


class TaskContext:
    def __init__(self, query_id: str, processing_log: Callable[[ProcessingLogEntry], None]) -> None:
        self.query_id = query_id
        self.stores: dict[str, DictStore] = {}
        self.stream_time = -(2**62)
        self.out: list[tuple[str, Record]] = []
        self.out_bytes = 0  # key + value bytes in ``out``
        self._plog = processing_log

    def store(self, name: str) -> DictStore:
        s = self.stores.get(name)
        if s is None:
            s = self.stores[name] = DictStore()
        return s

    def advance_stream_time(self, ts: int) -> None:
        if ts > self.stream_time:
            self.stream_time = ts

    def emit(self, topic: str, key: bytes | None, value: bytes | None, ts: int, headers: Any = (),
             partition: int = -1) -> None:
        self.out.append((topic, Record(key, value, ts, headers if type(headers) is tuple else tuple(headers),
                                       partition)))
        self.out_bytes += (len(key) if key is not None else 0) + (len(value) if value is not None else 0) + 16

    def log_error(self, message: str) -> None:
        self._plog(ProcessingLogEntry(self.query_id, message, 1))

    def log_deserialization_error(self, topic: str, target: str, e: Exception) -> None:
        self._plog(ProcessingLogEntry(
            self.query_id, f"Failed to deserialize {target} from topic: {topic}. {e}", 0))

    def log_serialization_error(self, topic: str, e: Exception) -> None:
        self._plog(ProcessingLogEntry(self.query_id, f"Error serializing message to topic: {topic}. {e}", 3))


_GC_GEN0 = 50_000


def tune_gc() -> None:
    """Query processing allocates many short-lived objects next to a large, long-lived state (store
    entries, cached rows): with CPython's default thresholds the collector rescans that state over
    and over (a windowed aggregation ran at half speed). Young collections every 50,000 net
    allocations instead of 700; set once per process, and never lowered."""
    gen0, gen1, gen2 = gc.get_threshold()
    if gen0 < _GC_GEN0:
        gc.set_threshold(_GC_GEN0, max(gen1, 20), max(gen2, 20))


class QueryTask:
    """Runs the operator graph of one query over its input partitions.

    Records of several input topics are merged in their global write order (the embedded log's
    ``seq``), which is the order the data was produced in.
    """

    def __init__(
        self,
        query_id: str,
        group: str,
        backend: TopicBackend,
        sources: dict[str, list[SourceOp]],  # topic -> source operators reading it
        operators: list[Operator],
        processing_log: Callable[[ProcessingLogEntry], None],
        partitions: dict[str, int],
    ) -> None:
        self.query_id = query_id
        self.group = group
        self.backend = backend
        self.sources = sources
        self.operators = operators
        self.ctx = TaskContext(query_id, processing_log)
        self.partitions = partitions
        self.positions: dict[tuple[str, int], int] = {}
        self.sink_taps: list[Callable[[Any], None]] = []
        self.state: Any = None  # a state.manager.StateManager when state is persisted
        self.store_names = sorted({n for op in operators if (n := getattr(op, "store_name", None))})
        # operators that act when stream time moves (window close, held-back join rows)
        self.timed = [op for op in operators if type(op).on_stream_time is not Operator.on_stream_time]
        # Commit cadence (ksqlDB's commit.interval.ms and cache.max.bytes.buffering): while catching
        # up, a commit happens once the interval has passed or the buffered output and state changes
        # reach the byte bound; otherwise at the end of each run_until_idle. A bound of 0 (the test
        # driver's setting, as in ksqlDB's TopologyTestDriver) commits after every batch.
        self.commit_interval_ms = 0
        self.max_buffered_bytes = 0
        self._last_commit = time.monotonic()
        self._uncommitted = False
        self.sink_ops: list[SinkOp] = [op for op in operators if isinstance(op, SinkOp)]
        # what a commit flushes, upstream first: record caches of aggregations, then of sinks
        self.flushing: list[Callable[[], None]] = [
            f for op in operators if not isinstance(op, SinkOp) and callable(f := getattr(op, "flush", None))]
        self.flushing += [op.flush for op in self.sink_ops]
        tune_gc()
        for op in operators:
            op.open(self.ctx)

    def changelog_topic(self, store: str) -> str:
        return f"{self.group}-{store}-changelog"

    async def restore(self, state: Any) -> int:
        """Open the local stores and bring them up to date with their changelog topics.

        Each store is loaded from its local copy (RocksDB), then the changelog records written after
        the offset that copy reflects are applied; a local copy that is missing or ahead of the
        changelog is rebuilt from the changelog alone. Returns the number of changelog records read.
        """
        self.state = state
        applied = 0
        for name in self.store_names:
            topic = self.changelog_topic(name)
            if await self.backend.describe_topic(topic) is None:
                await self.backend.create_topic(topic, 1, 1, {"cleanup.policy": "compact"})
            local = state.open(self.query_id, name, 0)
            end = (await self.backend.end_offsets([(topic, 0)]))[(topic, 0)]
            start = local.get_changelog_offset() or 0
            store = self.ctx.store(name)
            if start > end:
                log.warning("Local state of %s/%s is ahead of its changelog: rebuilding", self.query_id, name)
                local.write([(k, None) for k, _ in local.iterate()], 0)
                start = 0
            for k, v in local.iterate():
                store.data[pickle.loads(k)] = pickle.loads(v)
            offset = start
            while offset < end:
                recs = await self.backend.read(topic, 0, offset, 10_000)
                if not recs:
                    break
                batch = []
                for r in recs:
                    key = pickle.loads(r.key) if r.key is not None else None
                    if r.value is None:
                        store.data.pop(key, None)
                    else:
                        store.data[key] = pickle.loads(r.value)
                    batch.append((r.key, r.value))
                offset = recs[-1].offset + 1
                local.write(batch, offset)  # many changelog records per local write
                applied += len(recs)
            store.dirty = {}
            if applied:
                log.info("Restored %d changelog records into %s/%s", applied, self.query_id, name)
        # windowed stores index their windows for expiry and drop those the restored stream time
        # has already expired (their deletes go to the changelog with the next commit)
        for op in self.operators:
            hook = getattr(op, "on_restored", None)
            if hook is not None:
                hook()
        if any(s.dirty for s in self.ctx.stores.values()):
            self._uncommitted = True
        return applied

    async def init_positions(self, reset: str = "earliest") -> None:
        committed = await self.backend.committed(self.group)
        tps = [(t, p) for t, n in self.partitions.items() for p in range(n)]
        starts = await self.backend.start_offsets(tps)
        ends = await self.backend.end_offsets(tps)
        for tp in tps:
            if tp in committed:
                # records before the log start were deleted (retention): go on from the start
                self.positions[tp] = max(committed[tp], starts[tp])
            else:
                self.positions[tp] = starts[tp] if reset == "earliest" else ends[tp]

    async def poll(self, max_records: int = 2000) -> list[tuple[str, Record]]:
        # all input partitions in one read, in processing order (see TopicBackend.read_many)
        return await self.backend.read_many(self.positions, max_records, self.group)

    def process_batch(self, batch: list[tuple[str, Record]]) -> None:
        ctx = self.ctx
        sources = self.sources
        positions = self.positions
        timed = self.timed
        self._uncommitted = True
        try:
            if not timed and all(len(s) == 1 for s in sources.values()):
                # the common shape, one source per topic and no timers: one call per record
                handlers = {t: s[0].process_record for t, s in sources.items()}
                for topic, r in batch:
                    handlers[topic](r)
                    positions[(topic, r.partition)] = r.offset + 1
                return
            for topic, r in batch:
                for src in sources.get(topic, ()):
                    src.process_record(r)
                positions[(topic, r.partition)] = r.offset + 1
                if timed:
                    for op in timed:
                        op.on_stream_time(ctx.stream_time)
        except ProcessingFailed:
            raise
        except Exception as e:
            # an error no operator handled stops the query, as an exception escaping a Kafka Streams
            # processor does (a KsqlFunctionException of an aggregate, a sink that cannot serialize)
            raise ProcessingFailed(
                f"Exception caught in process. taskId=0_{r.partition}, topic={topic}, "
                f"partition={r.partition}, offset={r.offset}: {type(e).__name__}: {e}"
            ) from e

    def buffered_bytes(self) -> int:
        """A cheap estimate of what the next commit writes: emitted records, cached sink rows and
        changed state entries (the latter two at a flat per-entry size)."""
        entries = sum(len(s.dirty) for s in self.ctx.stores.values())
        entries += sum(op.cached_count() for op in self.sink_ops)
        return self.ctx.out_bytes + entries * _ENTRY_BYTES

    def commit_due(self) -> bool:
        if self.max_buffered_bytes <= 0 or self.commit_interval_ms <= 0:
            return True
        if (time.monotonic() - self._last_commit) * 1000 >= self.commit_interval_ms:
            return True
        return self.buffered_bytes() >= self.max_buffered_bytes

    async def commit(self) -> None:
        """Commit protocol:

        1. collect the sink records produced since the last commit;
        2. turn each store's changes into changelog records;
        3. append sink records, changelog records and the input offsets in one atomic commit;
        4. write the same changes to the local stores with the changelog offset they reach.
        A crash after step 3 leaves the local stores behind their changelogs; restore catches up.
        Work processed since the last commit is only in memory: after a crash it is processed again
        from the committed input offsets, against the state as of that commit.
        """
        for flush in self.flushing:
            flush()
        produced: dict[str, list[Record]] = {}
        for topic, rec in self.ctx.out:
            recs = produced.get(topic)
            if recs is None:
                recs = produced[topic] = []
            recs.append(rec)
        self.ctx.out = []
        self.ctx.out_bytes = 0
        local_batches: dict[str, list[tuple[bytes, bytes | None]]] = {}
        now = int(time.time() * 1000)
        for name, store in self.ctx.stores.items():
            changes = store.take_changes()
            if self.state is None or not changes:
                continue
            batch = [
                (pickle.dumps(k), None if v is _DELETED else pickle.dumps(v)) for k, v in changes.items()
            ]
            local_batches[name] = batch
            produced[self.changelog_topic(name)] = [Record(k, v, now, partition=0) for k, v in batch]
        await self.backend.commit(self.group, dict(self.positions), produced)
        self._uncommitted = False
        self._last_commit = time.monotonic()
        if local_batches:
            topics = [(self.changelog_topic(n), 0) for n in local_batches]
            ends = await self.backend.end_offsets(topics)
            for name, batch in local_batches.items():
                self.state.open(self.query_id, name, 0).write(batch, ends[(self.changelog_topic(name), 0)])

    async def run_until_idle(self, max_batches: int = 1_000_000) -> int:
        """Process until no more input is available (committing as :meth:`commit_due` says, and
        always once idle); returns the number of records handled. Returning after ``max_batches``
        may leave work uncommitted for the next call (or :meth:`commit`)."""
        total = 0
        for _ in range(max_batches):
            batch = await self.poll()
            if not batch:
                break
            self.process_batch(batch)
            total += len(batch)
            if self.commit_due():
                await self.commit()
        else:
            return total
        if self._uncommitted:
            await self.commit()
        return total
