"""A running query task: consume a batch → operators → state → emit → produce → commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ksql.runtime.operators import Operator, SourceOp
from ksql.topics.base import Record, TopicBackend

log = logging.getLogger("ksql.runtime")


class DictStore:
    """Key-value state for one store of one task, with a journal of changes since the last commit.

    Keys and values are Python objects; the journal is what goes to the changelog at commit.
    """

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.dirty: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        return self.data.get(key)

    def put(self, key: Any, value: Any) -> None:
        self.data[key] = value
        self.dirty[key] = value

    def delete(self, key: Any) -> None:
        self.data.pop(key, None)
        self.dirty[key] = None

    def items(self) -> list[tuple[Any, Any]]:
        return list(self.data.items())

    def take_changes(self) -> dict[Any, Any]:
        changes, self.dirty = self.dirty, {}
        return changes


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
        self._plog = processing_log

    def store(self, name: str) -> DictStore:
        s = self.stores.get(name)
        if s is None:
            s = self.stores[name] = DictStore()
        return s

    def advance_stream_time(self, ts: int) -> None:
        if ts > self.stream_time:
            self.stream_time = ts

    def emit(self, topic: str, key: bytes | None, value: bytes | None, ts: int, headers: Any = ()) -> None:
        self.out.append((topic, Record(key, value, ts, tuple(headers))))

    def log_error(self, message: str) -> None:
        self._plog(ProcessingLogEntry(self.query_id, message, 1))

    def log_deserialization_error(self, topic: str, target: str, e: Exception) -> None:
        self._plog(ProcessingLogEntry(
            self.query_id, f"Failed to deserialize {target} from topic: {topic}. {e}", 0))

    def log_serialization_error(self, topic: str, e: Exception) -> None:
        self._plog(ProcessingLogEntry(self.query_id, f"Error serializing message to topic: {topic}. {e}", 3))


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
        for op in operators:
            op.open(self.ctx)

    async def init_positions(self, reset: str = "earliest") -> None:
        committed = await self.backend.committed(self.group)
        tps = [(t, p) for t, n in self.partitions.items() for p in range(n)]
        starts = await self.backend.start_offsets(tps)
        ends = await self.backend.end_offsets(tps)
        for tp in tps:
            if tp in committed:
                self.positions[tp] = committed[tp]
            else:
                self.positions[tp] = starts[tp] if reset == "earliest" else ends[tp]

    async def poll(self, max_records: int = 500) -> list[tuple[str, Record]]:
        batch: list[tuple[str, Record]] = []
        for (topic, p), pos in self.positions.items():
            recs = await self.backend.read(topic, p, pos, max_records)
            batch.extend((topic, r) for r in recs)
        batch.sort(key=lambda tr: tr[1].seq)
        return batch[:max_records] if len(self.positions) > 1 else batch

    def process_batch(self, batch: list[tuple[str, Record]]) -> None:
        ctx = self.ctx
        for topic, r in batch:
            for src in self.sources.get(topic, ()):
                src.process_record(r)
            self.positions[(topic, r.partition)] = r.offset + 1
            for op in self.operators:
                op.on_stream_time(ctx.stream_time)

    async def commit(self) -> None:
        produced: dict[str, list[Record]] = {}
        for topic, rec in self.ctx.out:
            produced.setdefault(topic, []).append(rec)
        self.ctx.out = []
        for s in self.ctx.stores.values():
            s.take_changes()
        await self.backend.commit(self.group, dict(self.positions), produced)

    async def run_until_idle(self, max_batches: int = 1_000_000) -> int:
        """Process until no more input is available; returns the number of records handled."""
        total = 0
        for _ in range(max_batches):
            batch = await self.poll()
            if not batch:
                break
            self.process_batch(batch)
            total += len(batch)
            await self.commit()
        return total
