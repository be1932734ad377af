"""The topic interface every backend implements (embedded log, Kafka).

A topic has numbered partitions; each partition is an append-only sequence of records addressed by
offset. Records carry raw bytes: serialization happens in ``ksql.formats``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from ksql.types import Headers, Offsets, TopicPartition


@dataclass(slots=True)
class Record:
    key: bytes | None
    value: bytes | None
    timestamp: int  # event time, ms
    headers: Headers = ()
    partition: int = -1  # -1 on produce: the backend picks by key hash (murmur2, as Kafka does)
    offset: int = -1  # set by the backend on append/read
    # Embedded backend: position in the global append order across all topics. Lets a reader of
    # several topics process records in the order they were written (what ksqlDB's test driver does).
    seq: int = -1


def check_record(rec: Record) -> None:
    """Reject a record a producer could not send (what Kafka's serializers would refuse)."""
    if not isinstance(rec.timestamp, int):
        raise TypeError(f"record timestamp must be int milliseconds, got {rec.timestamp!r}")
    if rec.key is not None and not isinstance(rec.key, bytes):
        raise TypeError(f"record key must be bytes or None, got {type(rec.key).__name__}")
    if rec.value is not None and not isinstance(rec.value, bytes):
        raise TypeError(f"record value must be bytes or None, got {type(rec.value).__name__}")
    for name, value in rec.headers:
        if value is not None and not isinstance(value, bytes):
            raise TypeError(f"header {name!r} value must be bytes or None, got {type(value).__name__}")


@dataclass
class TopicInfo:
    name: str
    partitions: int
    replicas: int = 1
    config: dict[str, str] = field(default_factory=dict)  # e.g. {"cleanup.policy": "compact"}


class TopicBackend(ABC):
    """Admin, produce, read and consumer-group offsets. All methods are coroutines so that the Kafka
    backend can implement them on aiokafka; the embedded backend completes them without waiting."""

    @abstractmethod
    async def create_topic(
        self, name: str, partitions: int = 1, replicas: int = 1, config: dict[str, str] | None = None
    ) -> TopicInfo: ...

    @abstractmethod
    async def delete_topic(self, name: str) -> None: ...

    @abstractmethod
    async def describe_topic(self, name: str) -> TopicInfo | None: ...

    @abstractmethod
    async def list_topics(self) -> list[TopicInfo]: ...

    @abstractmethod
    async def produce(self, topic: str, records: list[Record]) -> list[Record]:
        """Append records (one atomic batch); returns them with partition and offset set."""

    @abstractmethod
    async def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        """Records from ``offset`` on (possibly none)."""

    async def read_many(
        self, positions: Mapping[TopicPartition, int], max_records: int = 2000, group: str | None = None
    ) -> list[tuple[str, Record]]:
        """Records of several partitions at once, each from its position, as (topic, record) in the
        order to process them: the embedded log's write order (``seq``); a backend without ``seq``
        (Kafka) merges by record timestamp, keeping each partition's order. ``group``: the consumer
        group reading (lets a backend keep one reader per group). At most ``max_records`` when
        several partitions are read; empty only when every partition is at its end. The records
        may be the client library's own (Kafka: aiokafka's ConsumerRecord, headers a list): only
        their ``key, value, timestamp, headers, partition, offset`` are to be read."""
        batch: list[tuple[str, Record]] = []
        for (topic, p), pos in positions.items():
            batch.extend((topic, r) for r in await self.read(topic, p, pos, max_records))
        if len(positions) > 1:
            batch.sort(key=lambda tr: tr[1].seq)
            del batch[max_records:]
        return batch

    @abstractmethod
    async def end_offsets(self, partitions: list[TopicPartition]) -> Offsets: ...

    @abstractmethod
    async def start_offsets(self, partitions: list[TopicPartition]) -> Offsets: ...

    @abstractmethod
    async def commit(self, group: str, offsets: Offsets, produced: dict[str, list[Record]] | None = None) -> None:
        """Atomically append ``produced`` records (topic -> records) and store ``offsets`` for
        ``group``: after a crash either all of it is visible or none of it is."""

    @abstractmethod
    async def committed(self, group: str) -> Offsets: ...

    @abstractmethod
    async def close(self) -> None: ...
