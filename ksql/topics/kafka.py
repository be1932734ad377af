"""The Kafka backend: the topic interface on a real Kafka cluster, through aiokafka.

* Admin (create / describe / list / delete topics) through one admin client.
* Produce: records are grouped per partition into record batches (one request per partition and
  batch) by an idempotent producer; keys are partitioned with Kafka's murmur2, as the Java client does.
* Read: one long-lived consumer per reader (a query's consumer group, or one shared reader for
  single-partition reads), manually assigned, seeking only when the asked position is not where the
  previous read stopped. Every consumer reads ``read_committed``. A bulk read of several partitions
  merges them by record timestamp, keeping each partition's order, and stops where a partition that
  has more data runs out of buffered records (what Kafka Streams' partition group does), so that a
  join sees its two sides in time order.
* Commit: with ``exactly_once_v2`` one transactional producer per group (transactional id derived
  from the group) writes the sink and changelog records and the input offsets in one transaction;
  with ``at_least_once`` the records are produced and flushed, then the group's offsets committed.

A read returns no records only when the partition is at its end (the last stable offset) at the
time of the call, so "read until empty" means "read everything written before". Connection
problems are retried (reconnecting) for up to ``retry_timeout_s`` rather than failing the query.

Everything aiokafka holds is bound to the event loop that first uses the backend.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as KafkaTP
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    ConcurrentTransactions,
    IllegalStateError,
    InvalidProducerEpoch,
    KafkaError,
    KafkaTimeoutError,
    ProducerFenced,
    TransactionalIdAuthorizationFailed,
)

from ksql.engine.config import PROCESSING_GUARANTEES
from ksql.topics.base import Record, TopicBackend, TopicInfo, check_record
from ksql.topics.errors import InvalidTopicError, TopicBackendError, TopicExistsError, UnknownTopicError
from ksql.topics.partitioner import partition_for_key
from ksql.types import Offsets, TopicPartition

log = logging.getLogger("ksql.topics.kafka")

T = TypeVar("T")

AT_LEAST_ONCE = "at_least_once"
EXACTLY_ONCE_V2 = "exactly_once_v2"

_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state", "__cluster_metadata")
# Kafka error codes seen in admin responses
_UNKNOWN_TOPIC = 3
_TOPIC_EXISTS = 36
_INVALID_TOPIC_CODES = {17, 37, 38, 39, 40, 42}  # invalid topic / partitions / replication / assignment / config / request
_TOPIC_CONFIG_SOURCE = 1  # DescribeConfigs: a config set on the topic itself
_FATAL_TXN_ERRORS = (ProducerFenced, InvalidProducerEpoch, TransactionalIdAuthorizationFailed)
_BATCH_BYTES = 512 * 1024
_READER_IDLE_S = 120.0  # readers of groups unused this long are closed (transient queries)
_SHARED_READER_MAX = 64  # partitions the shared reader keeps assigned


class _RepeatFilter(logging.Filter):
    """While a broker is down aiokafka retries connections in a tight loop and logs every attempt
    (tens of thousands of lines a second): let each such message through once per interval."""

    NOISY = ("Unable connect to node", "Unable to update metadata", "Unable to request metadata",
             "Group Coordinator Request failed", "Failed fetch messages", "Got error produce response")

    def __init__(self, interval_s: float = 10.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        if not msg.startswith(self.NOISY):
            return True
        key = (record.name, msg)
        now = time.monotonic()
        if now - self.last.get(key, -self.interval_s) < self.interval_s:
            return False
        self.last[key] = now
        return True


_AIOKAFKA_LOGGERS = ("aiokafka", "aiokafka.conn", "aiokafka.consumer.group_coordinator",
                     "aiokafka.consumer.fetcher", "aiokafka.producer.sender")


def _limit_aiokafka_noise() -> None:
    for name in _AIOKAFKA_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RepeatFilter) for f in logger.filters):
            logger.addFilter(_RepeatFilter())


def normalize_guarantee(value: Any) -> str:
    """``at_least_once`` or ``exactly_once_v2``; raises ValueError for anything else."""
    g = PROCESSING_GUARANTEES.get(str(value).strip().lower())
    if g is None:
        raise ValueError(
            f"Invalid processing.guarantee '{value}': use at_least_once or exactly_once_v2 "
            "(exactly_once is accepted as exactly_once_v2)."
        )
    return g


def _retriable(e: BaseException) -> bool:
    if isinstance(e, _FATAL_TXN_ERRORS):
        return False
    if isinstance(e, (KafkaTimeoutError, ConcurrentTransactions, OSError, asyncio.TimeoutError)):
        return True
    return isinstance(e, KafkaError) and bool(getattr(e, "retriable", False))


# one queued record batch: topic, (index in the topic's list, record) pairs, future of its metadata
_Sent = tuple[str, list[tuple[int, Record]], "asyncio.Future[Any]"]


@dataclass(eq=False)
class _Reader:
    """A consumer and what it has fetched that the caller has not taken yet."""

    consumer: AIOKafkaConsumer
    group: str | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    assigned: set[KafkaTP] = field(default_factory=set)
    next: dict[KafkaTP, int] = field(default_factory=dict)  # where the caller's next read should start
    buffers: dict[KafkaTP, deque[Record]] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)


class KafkaBackend(TopicBackend):
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        processing_guarantee: str = AT_LEAST_ONCE,
        topic_prefix: str = "",
        client_id: str = "ksql-py",
        retry_timeout_s: float = 300.0,
        linger_ms: int = 2,
        request_timeout_ms: int = 30_000,
        fetch_wait_s: float = 10.0,
        topic_config: Mapping[str, str] | None = None,
    ) -> None:
        """``topic_prefix`` is put in front of every topic, consumer group and transactional id on
        the cluster and stripped from what is read back: it isolates users of one broker (tests).
        ``fetch_wait_s``: how long a read waits for records that are known to exist before it
        returns what it has. ``topic_config``: settings for every topic this backend creates (those
        given to create_topic win), e.g. ``{"retention.ms": "-1"}`` where records carry old event
        times: Kafka deletes by record timestamp, and would drop a topic of 1970 timestamps at its
        next retention check."""
        _limit_aiokafka_noise()
        self.bootstrap_servers = bootstrap_servers
        self.guarantee = normalize_guarantee(processing_guarantee)
        self.prefix = topic_prefix
        self.client_id = client_id
        self.retry_timeout_s = retry_timeout_s
        self.linger_ms = linger_ms
        self.request_timeout_ms = request_timeout_ms
        self.fetch_wait_s = fetch_wait_s
        self.topic_config = dict(topic_config or {})
        # the longest one Kafka operation may take before it is given up and retried
        self._op_timeout_s = request_timeout_ms / 1000 + 10
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_lock: asyncio.Lock | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self._offsets: AIOKafkaConsumer | None = None  # list-offsets lookups only, nothing assigned
        self._readers: dict[str | None, _Reader] = {}
        self._txn: dict[str, AIOKafkaProducer] = {}
        self._txn_locks: dict[str, asyncio.Lock] = {}
        self._last_committed: dict[str, Offsets] = {}
        self._partitions: dict[str, int] = {}  # physical topic -> partition count
        self._null_key_rr: dict[str, int] = {}
        self._closed = False

    # -- names -----------------------------------------------------------------------------------

    def _phys(self, name: str) -> str:
        return self.prefix + name

    def _logical(self, phys: str) -> str:
        return phys[len(self.prefix):]

    def _tp(self, topic: str, partition: int) -> KafkaTP:
        return KafkaTP(self.prefix + topic, partition)

    def transactional_id(self, group: str) -> str:
        return f"{self.prefix}{group}-txn"

    # -- clients ---------------------------------------------------------------------------------

    async def _ensure_started(self) -> None:
        if self._closed:
            raise TopicBackendError("The Kafka backend is closed; create a new KafkaBackend to use it.")
        loop = asyncio.get_running_loop()
        if self._loop is not None:
            if self._loop is not loop:
                raise TopicBackendError("A KafkaBackend is bound to the event loop that first used it.")
            if self._producer is not None:
                return
        self._loop = loop
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._producer is not None:
                return
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers, client_id=f"{self.client_id}-admin",
                request_timeout_ms=self.request_timeout_ms,
            )
            producer = self._new_producer(None)
            offsets = self._new_consumer(None)
            try:
                await self._retry("connect to Kafka", admin.start)
                await self._retry("start the producer", producer.start)
                await self._retry("start a consumer", offsets.start)
            except BaseException:
                await _quietly(admin.close())
                await _quietly(producer.stop())
                await _quietly(offsets.stop())
                raise
            self._admin, self._offsets, self._producer = admin, offsets, producer

    def _new_producer(self, transactional_id: str | None) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=f"{self.client_id}-producer",
            enable_idempotence=True,  # acks=all, no duplicates or reordering on retries
            transactional_id=transactional_id,
            linger_ms=self.linger_ms,
            max_batch_size=_BATCH_BYTES,
            request_timeout_ms=self.request_timeout_ms,
        )

    def _new_consumer(self, group: str | None) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=f"{self.client_id}-consumer",
            group_id=None if group is None else self._phys(group),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            fetch_max_wait_ms=200,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            request_timeout_ms=self.request_timeout_ms,
        )

    async def _retry(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Runs ``fn`` until it succeeds, retrying retriable Kafka errors with backoff."""
        deadline = time.monotonic() + self.retry_timeout_s
        delay = 0.05
        while True:
            try:
                return await fn()
            except Exception as e:
                if not _retriable(e) or time.monotonic() + delay > deadline:
                    if not isinstance(e, (KafkaError, OSError, asyncio.TimeoutError)):
                        raise
                    raise TopicBackendError(f"Kafka: could not {what}: {type(e).__name__}: {e}") from e
                log.warning("Kafka: %s failed (%s: %s); retrying in %.2fs", what, type(e).__name__, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    @property
    def admin(self) -> AIOKafkaAdminClient:
        assert self._admin is not None
        return self._admin

    # -- admin -------------------------------------------------------------------------------------

    async def create_topic(
        self, name: str, partitions: int = 1, replicas: int = 1, config: dict[str, str] | None = None
    ) -> TopicInfo:
        phys = self._phys(name)
        if not _LEGAL_NAME.fullmatch(phys) or name in (".", ".."):
            raise InvalidTopicError(
                f"Invalid topic name '{name}': use 1 to 249 characters from a-z, A-Z, 0-9, '.', '_' and '-'."
            )
        if partitions < 1:
            raise InvalidTopicError(f"Invalid partition count {partitions} for topic '{name}': use 1 or more.")
        if replicas < 1:
            raise InvalidTopicError(f"Invalid replication factor {replicas} for topic '{name}': use 1 or more.")
        await self._ensure_started()
        cfg = {**self.topic_config, **{k: str(v) for k, v in (config or {}).items()}}
        deadline = time.monotonic() + 30
        while True:
            resp = await self._retry(
                f"create topic '{name}'",
                lambda: self.admin.create_topics([NewTopic(phys, partitions, replicas, topic_configs=cfg)]),
            )
            code, message = _topic_error(resp.to_object()["topic_errors"], phys)
            if code == _TOPIC_EXISTS and time.monotonic() < deadline and await self._being_deleted(phys):
                await asyncio.sleep(0.1)  # a deleted topic of that name is still going away
                continue
            break
        if code == _TOPIC_EXISTS:
            raise TopicExistsError(name)
        if code in _INVALID_TOPIC_CODES:
            raise InvalidTopicError(f"Kafka refused topic '{name}': {message or f'error {code}'}")
        if code:
            raise TopicBackendError(f"Kafka could not create topic '{name}': {message or f'error {code}'}")
        await self._wait_for_leaders(phys, partitions)
        self._partitions[phys] = partitions
        return TopicInfo(name, partitions, replicas, dict(cfg))

    async def _being_deleted(self, phys: str) -> bool:
        return not await self._describe_phys([phys])

    async def _wait_for_leaders(self, phys: str, partitions: int) -> None:
        """Metadata lags creation: wait until every partition has a leader, so a produce or read
        right after creation does not fail."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            meta = await self._describe_phys([phys])
            parts = meta.get(phys)
            if parts is not None and len(parts) == partitions and all(p["leader"] >= 0 for p in parts):
                return
            await asyncio.sleep(0.05)
        log.warning("Kafka: topic %s still has partitions without a leader", phys)

    async def _describe_phys(self, names: list[str] | None) -> dict[str, list[dict[str, Any]]]:
        """Physical topic name -> partition metadata, for the topics that exist."""
        topics = await self._retry("describe topics", lambda: self.admin.describe_topics(names))
        return {t["topic"]: t["partitions"] for t in topics if t["error_code"] == 0}

    async def _topic_configs(self, names: list[str]) -> dict[str, dict[str, str]]:
        """The settings made on each topic itself (not broker defaults)."""
        if not names:
            return {}
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        responses = await self._retry("describe topic configs", lambda: self.admin.describe_configs(resources))
        out: dict[str, dict[str, str]] = {}
        for resp in responses:
            for res in resp.to_object()["resources"]:
                if res["error_code"]:
                    continue
                out[res["resource_name"]] = {
                    e["config_names"]: e["config_value"]
                    for e in res["config_entries"]
                    if e.get("config_source", 0 if e.get("is_default") else _TOPIC_CONFIG_SOURCE)
                    == _TOPIC_CONFIG_SOURCE and e["config_value"] is not None
                }
        return out

    async def describe_topic(self, name: str) -> TopicInfo | None:
        await self._ensure_started()
        phys = self._phys(name)
        meta = await self._describe_phys([phys])
        parts = meta.get(phys)
        if parts is None:
            return None
        self._partitions[phys] = len(parts)
        configs = await self._topic_configs([phys])
        return TopicInfo(name, len(parts), _replicas(parts), configs.get(phys, {}))

    async def list_topics(self) -> list[TopicInfo]:
        await self._ensure_started()
        meta = await self._describe_phys(None)
        names = sorted(n for n in meta if n.startswith(self.prefix) and n not in _INTERNAL_TOPICS)
        configs = await self._topic_configs(names)
        return [
            TopicInfo(self._logical(n), len(meta[n]), _replicas(meta[n]), configs.get(n, {})) for n in names
        ]

    async def delete_topic(self, name: str) -> None:
        await self._ensure_started()
        phys = self._phys(name)
        resp = await self._retry(f"delete topic '{name}'", lambda: self.admin.delete_topics([phys]))
        code, message = _topic_error(resp.to_object()["topic_error_codes"], phys)
        if code == _UNKNOWN_TOPIC:
            raise UnknownTopicError(name)
        if code:
            raise TopicBackendError(f"Kafka could not delete topic '{name}': {message or f'error {code}'}")
        self._partitions.pop(phys, None)
        for reader in list(self._readers.values()):
            async with reader.lock:
                gone = {tp for tp in reader.assigned if tp.topic == phys}
                if gone:
                    self._assign(reader, reader.assigned - gone)
        deadline = time.monotonic() + 30  # deletion is asynchronous on the broker
        while time.monotonic() < deadline and phys in await self._describe_phys([phys]):
            await asyncio.sleep(0.05)

    async def _partition_count(self, phys: str) -> int:
        n = self._partitions.get(phys)
        if n is None:
            parts = (await self._describe_phys([phys])).get(phys)
            if parts is None:
                raise UnknownTopicError(self._logical(phys))
            n = self._partitions[phys] = len(parts)
        return n

    # -- produce -----------------------------------------------------------------------------------

    async def produce(self, topic: str, records: list[Record]) -> list[Record]:
        await self._ensure_started()
        out = await self._retry(f"produce to '{topic}'", lambda: self._produce_once({topic: records}))
        return out.get(topic, [])

    async def _produce_once(self, produced: Mapping[str, list[Record]]) -> dict[str, list[Record]]:
        """One attempt on the shared producer, bounded in time (a producer whose sender died would
        leave its futures pending); a dead producer is replaced for the next attempt."""
        producer = await self._shared_producer()

        async def attempt() -> dict[str, list[Record]]:
            return await _results(await self._send(producer, produced))

        return await asyncio.wait_for(attempt(), self._op_timeout_s)

    async def _shared_producer(self) -> AIOKafkaProducer:
        producer = self._producer
        assert producer is not None
        task = producer._sender.sender_task
        if task is not None and task.done():
            log.warning("Kafka: the producer stopped working; starting a new one")
            fresh = self._new_producer(None)
            await asyncio.wait_for(fresh.start(), self._op_timeout_s)
            self._producer = fresh
            await _quietly(asyncio.wait_for(producer.stop(), 5))
            producer = fresh
        return producer

    async def _send(
        self, producer: AIOKafkaProducer, produced: Mapping[str, list[Record]]
    ) -> list[_Sent]:
        """Queues every record on ``producer`` as record batches, one or more per partition.
        Returns, per batch, its topic, its records (partition set, with their index in the
        topic's list) and the future of its metadata."""
        sent: list[_Sent] = []
        for topic, records in produced.items():
            if not records:
                continue
            phys = self._phys(topic)
            n = await self._partition_count(phys)
            by_partition: dict[int, list[tuple[int, Record]]] = {}
            for i, rec in enumerate(records):
                check_record(rec)
                if rec.partition >= 0:
                    if rec.partition >= n:
                        raise UnknownTopicError(topic, rec.partition)
                    p = rec.partition
                elif n == 1:
                    p = 0
                elif rec.key is None:
                    p = self._null_key_rr.get(phys, 0) % n
                    self._null_key_rr[phys] = p + 1
                else:
                    p = partition_for_key(rec.key, n)
                by_partition.setdefault(p, []).append(
                    (i, Record(rec.key, rec.value, rec.timestamp, tuple(rec.headers), p))
                )
            for p, recs in by_partition.items():
                batch = producer.create_batch()
                in_batch: list[tuple[int, Record]] = []
                for i, rec in recs:
                    headers = list(rec.headers)
                    if batch.append(timestamp=rec.timestamp, key=rec.key, value=rec.value, headers=headers) is None:
                        if not in_batch:
                            raise TopicBackendError(f"A record for topic '{topic}' is larger than a record batch")
                        sent.append((topic, in_batch, await producer.send_batch(batch, phys, partition=p)))
                        batch, in_batch = producer.create_batch(), []
                        batch.append(timestamp=rec.timestamp, key=rec.key, value=rec.value, headers=headers)
                    in_batch.append((i, rec))
                sent.append((topic, in_batch, await producer.send_batch(batch, phys, partition=p)))
        return sent

    # -- read ---------------------------------------------------------------------------------------

    async def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        got = await self.read_many({(topic, partition): offset}, max_records)
        return [Record(r.key, r.value, r.timestamp, tuple(r.headers), r.partition, r.offset) for _, r in got]

    async def read_many(
        self, positions: Mapping[TopicPartition, int], max_records: int = 2000, group: str | None = None
    ) -> list[tuple[str, Record]]:
        if not positions:
            return []
        await self._ensure_started()
        reader = await self._reader(group)
        async with reader.lock:
            reader.last_used = time.monotonic()
            tps: dict[KafkaTP, str] = {}
            for (topic, p), _ in positions.items():
                phys = self._phys(topic)
                if p < 0 or p >= await self._partition_count(phys):
                    raise UnknownTopicError(topic, p)
                tps[KafkaTP(phys, p)] = topic
            if not set(tps) <= reader.assigned:
                # the shared reader collects the partitions single reads ask for; past a bound it
                # starts over with just these, so it does not keep fetching every topic ever read
                wider = reader.assigned | set(tps)
                self._assign(reader, wider if len(wider) <= _SHARED_READER_MAX else set(tps))
            consumer = reader.consumer
            for (topic, p), pos in positions.items():
                tp = self._tp(topic, p)
                if reader.next.get(tp) != pos:
                    consumer.seek(tp, max(pos, 0))
                    reader.buffers[tp].clear()
                    reader.next[tp] = pos
            try:
                await asyncio.wait_for(self._fill(reader, list(tps), max_records),
                                       self.fetch_wait_s + self._op_timeout_s)
            except Exception as e:
                if not _retriable(e):
                    raise
                # the broker is away: report nothing for now, the caller polls again
                log.warning("Kafka: read of %s failed (%s: %s)", sorted(tps), type(e).__name__, e)
            return self._merge(reader, tps, max_records)

    async def _reader(self, group: str | None) -> _Reader:
        reader = self._readers.get(group)
        if reader is None:
            await self._close_idle_readers()
            consumer = self._new_consumer(group)
            await self._retry("start a consumer", consumer.start)
            reader = self._readers.setdefault(group, _Reader(consumer, group))
            if reader.consumer is not consumer:
                await _quietly(consumer.stop())
        return reader

    async def _close_idle_readers(self) -> None:
        now = time.monotonic()
        for group, reader in list(self._readers.items()):
            if group is not None and now - reader.last_used > _READER_IDLE_S and not reader.lock.locked():
                del self._readers[group]
                await _quietly(reader.consumer.stop())

    def _assign(self, reader: _Reader, tps: set[KafkaTP]) -> None:
        # assign() replaces the assignment and forgets every position: seek again on the next read
        reader.consumer.assign(sorted(tps))
        reader.assigned = set(tps)
        reader.next.clear()
        reader.buffers = {tp: reader.buffers.get(tp) or deque() for tp in tps}
        for buf in reader.buffers.values():
            buf.clear()

    async def _fill(self, reader: _Reader, tps: list[KafkaTP], max_records: int) -> None:
        """Buffers records for every partition that has some to read (waiting for partitions known
        to have records up to ``fetch_wait_s``)."""
        consumer = reader.consumer
        empty = [tp for tp in tps if not reader.buffers[tp]]
        if not empty:
            return
        self._take(reader, await consumer.getmany(*empty, timeout_ms=0, max_records=max_records))
        empty = [tp for tp in empty if not reader.buffers[tp]]
        if not empty:
            return
        assert self._offsets is not None
        ends = await self._offsets.end_offsets(empty)  # read_committed: the last stable offsets
        behind = [tp for tp in empty if await consumer.position(tp) < ends[tp]]
        deadline = time.monotonic() + self.fetch_wait_s
        while behind:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("Kafka: no records arrived within %.1fs for %s", self.fetch_wait_s, behind)
                return
            # short waits: a fetch holding only transaction markers or aborted records moves the
            # position to the end without returning records, and getmany would wait on
            got = await consumer.getmany(*behind, timeout_ms=int(min(left, 0.01) * 1000) + 1, max_records=max_records)
            self._take(reader, got)
            behind = [tp for tp in behind if not reader.buffers[tp] and await consumer.position(tp) < ends[tp]]

    def _take(self, reader: _Reader, fetched: dict[KafkaTP, list[Any]]) -> None:
        for tp, msgs in fetched.items():
            buf = reader.buffers.get(tp)
            if buf is None:
                continue
            # aiokafka's ConsumerRecords as they are: they have every attribute processing reads
            # (key, value, timestamp, headers, partition, offset), and copying each into a Record
            # cost a sixth of a query's time
            buf.extend(msgs)

    def _merge(self, reader: _Reader, tps: dict[KafkaTP, str], max_records: int) -> list[tuple[str, Record]]:
        out: list[tuple[str, Record]] = []
        buffers = reader.buffers
        if len(tps) == 1:
            ((tp, topic),) = tps.items()
            buf = buffers[tp]
            n = min(len(buf), max_records)
            out = [(topic, buf.popleft()) for _ in range(n)]
            if out:
                reader.next[tp] = out[-1][1].offset + 1
            return out
        # k-way merge by head timestamp; ties go to the partition listed first
        order = {tp: i for i, tp in enumerate(tps)}
        heap = [(buffers[tp][0].timestamp, order[tp], tp) for tp in tps if buffers[tp]]
        heapq.heapify(heap)
        consumer = reader.consumer
        while heap and len(out) < max_records:
            _, i, tp = heapq.heappop(heap)
            buf = buffers[tp]
            rec = buf.popleft()
            out.append((tps[tp], rec))
            reader.next[tp] = rec.offset + 1
            if buf:
                heapq.heappush(heap, (buf[0].timestamp, i, tp))
            else:
                stable = consumer.last_stable_offset(tp)
                if stable is not None and stable > rec.offset + 1:
                    break  # this partition has more: fetch it before going past its last timestamp
        return out

    async def end_offsets(self, partitions: list[TopicPartition]) -> Offsets:
        return await self._list_offsets(partitions, end=True)

    async def start_offsets(self, partitions: list[TopicPartition]) -> Offsets:
        return await self._list_offsets(partitions, end=False)

    async def _list_offsets(self, partitions: list[TopicPartition], end: bool) -> Offsets:
        if not partitions:
            return {}
        await self._ensure_started()
        for topic, p in partitions:
            if not 0 <= p < await self._partition_count(self._phys(topic)):
                raise UnknownTopicError(topic, p)
        assert self._offsets is not None
        consumer = self._offsets
        tps = [self._tp(t, p) for t, p in partitions]
        got = await self._retry(
            "list offsets", lambda: consumer.end_offsets(tps) if end else consumer.beginning_offsets(tps)
        )
        return {(self._logical(tp.topic), tp.partition): int(off) for tp, off in got.items()}

    # -- commit ---------------------------------------------------------------------------------------

    async def committed(self, group: str) -> Offsets:
        await self._ensure_started()
        if self.guarantee == EXACTLY_ONCE_V2 and "transient_" not in group:
            # A persistent query's transaction that a killed predecessor left open is ended now (the
            # transactional id is taken over) rather than at this query's first commit: until then
            # it holds back read_committed readers of its topics. Transient queries (ksqlDB names
            # their groups ..transient_..) never commit.
            await self._txn_producer(group)
            # offsets of a committed transaction reach the group a moment after the commit returns
            return {**await self._committed(group), **self._last_committed.get(group, {})}
        return await self._committed(group)

    async def _committed(self, group: str) -> Offsets:
        phys_group = self._phys(group)
        got = await self._retry(
            f"fetch the offsets of group '{group}'", lambda: self.admin.list_consumer_group_offsets(phys_group)
        )
        return {
            (self._logical(tp.topic), tp.partition): int(meta.offset)
            for tp, meta in got.items()
            if meta.offset >= 0 and tp.topic.startswith(self.prefix)
        }

    async def commit(self, group: str, offsets: Offsets, produced: dict[str, list[Record]] | None = None) -> None:
        produced = {t: rs for t, rs in (produced or {}).items() if rs}
        if not offsets and not produced:
            return
        await self._ensure_started()
        for topic, partition in offsets:
            if not 0 <= partition < await self._partition_count(self._phys(topic)):
                raise UnknownTopicError(topic, partition)
        if self.guarantee == EXACTLY_ONCE_V2:
            await self._commit_transaction(group, offsets, produced)
        else:
            await self._commit_at_least_once(group, offsets, produced)

    async def _commit_at_least_once(self, group: str, offsets: Offsets, produced: dict[str, list[Record]]) -> None:
        if produced:
            # a retry after a failure may write some records twice: that is at-least-once
            await self._retry("produce", lambda: self._produce_once(produced))
        if offsets:
            reader = await self._reader(group)
            kafka_offsets = {self._tp(t, p): off for (t, p), off in offsets.items()}

            async def commit_offsets() -> None:
                async with reader.lock:
                    if not set(kafka_offsets) <= reader.assigned:
                        self._assign(reader, reader.assigned | set(kafka_offsets))
                    await asyncio.wait_for(reader.consumer.commit(kafka_offsets), self._op_timeout_s)

            await self._retry(f"commit the offsets of group '{group}'", commit_offsets)

    async def _txn_producer(self, group: str) -> AIOKafkaProducer:
        producer = self._txn.get(group)
        if producer is None:
            lock = self._txn_locks.setdefault(group, asyncio.Lock())
            async with lock:
                producer = self._txn.get(group)
                if producer is None:
                    producer = await self._retry("start a transactional producer",
                                                 lambda: self._start_txn_producer(group))
                    self._txn[group] = producer
        return producer

    async def _start_txn_producer(self, group: str) -> AIOKafkaProducer:
        # start() takes the transactional id over: it fences an older producer of the id and
        # completes or aborts the transaction that one left open
        producer = self._new_producer(self.transactional_id(group))
        try:
            await asyncio.wait_for(producer.start(), self._op_timeout_s)
        except BaseException:
            await _quietly(asyncio.wait_for(producer.stop(), 5))
            raise
        return producer

    async def _drop_txn_producer(self, group: str) -> None:
        producer = self._txn.pop(group, None)
        if producer is not None:
            await _quietly(asyncio.wait_for(producer.stop(), 5))

    async def _commit_transaction(self, group: str, offsets: Offsets, produced: dict[str, list[Record]]) -> None:
        phys_group = self._phys(group)
        kafka_offsets = {self._tp(t, p): off for (t, p), off in offsets.items()}
        last = self._last_committed.get(group)
        if last is None:
            last = self._last_committed[group] = await self._committed(group)
        # only offsets that move tell whether a transaction whose outcome is unknown committed
        advanced = any(last.get(tp) != off for tp, off in offsets.items())
        deadline = time.monotonic() + self.retry_timeout_s
        delay = 0.05
        while True:
            producer = await self._txn_producer(group)

            async def transaction(producer: AIOKafkaProducer = producer) -> dict[str, list[Record]]:
                await producer.begin_transaction()
                sent = await self._send(producer, produced)
                if kafka_offsets:
                    await producer.send_offsets_to_transaction(kafka_offsets, phys_group)
                await producer.commit_transaction()
                return await _results(sent)

            try:
                results = await asyncio.wait_for(transaction(), self._op_timeout_s)
                self._last_committed[group] = {**last, **offsets}
                await self._await_markers(results)
                return
            except _FATAL_TXN_ERRORS as e:
                await self._drop_txn_producer(group)
                raise TopicBackendError(
                    f"Kafka: the producer of group '{group}' was fenced (another instance took over its "
                    f"transactional id {self.transactional_id(group)}): {e}") from e
            except Exception as e:
                if not _retriable(e) and not isinstance(e, (KafkaError, IllegalStateError)):
                    await self._drop_txn_producer(group)
                    raise
                # The outcome is unknown. A new producer with the same transactional id completes
                # or aborts the transaction; the group's offsets then tell which one happened.
                await self._drop_txn_producer(group)
                if time.monotonic() + delay > deadline:
                    raise TopicBackendError(f"Kafka: transaction of group '{group}' failed: {e}") from e
                log.warning("Kafka: transaction of group %s failed (%s: %s); retrying", group, type(e).__name__, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                await self._txn_producer(group)
                if advanced:
                    now = await self._committed(group)
                    if all(now.get(tp) == off for tp, off in offsets.items()):
                        self._last_committed[group] = dict(offsets)
                        return  # it committed after all

    async def _await_markers(self, results: dict[str, list[Record]]) -> None:
        """The commit markers of a transaction are written after the commit returns; until they
        are, read_committed readers (the next query in a chain, a restore) do not see its records.
        Waits for them so that what a commit wrote can be read as soon as it returns."""
        last: dict[KafkaTP, int] = {}
        for topic, recs in results.items():
            for rec in recs:
                tp = self._tp(topic, rec.partition)
                last[tp] = max(last.get(tp, -1), rec.offset)
        assert self._offsets is not None
        deadline = time.monotonic() + 10
        while last and time.monotonic() < deadline:
            stable = await self._offsets.end_offsets(list(last))
            last = {tp: off for tp, off in last.items() if stable[tp] <= off}
            if last:
                await asyncio.sleep(0.002)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            return  # clients of another (finished) loop cannot be stopped from here
        for reader in self._readers.values():
            await _quietly(reader.consumer.stop())
        self._readers.clear()
        for group in list(self._txn):
            await self._drop_txn_producer(group)
        if self._producer is not None:
            await _quietly(self._producer.stop())
        if self._offsets is not None:
            await _quietly(self._offsets.stop())
        if self._admin is not None:
            await _quietly(self._admin.close())


async def _results(sent: list[_Sent]) -> dict[str, list[Record]]:
    """The records of each topic with their offsets, in the order they were given."""
    placed: dict[str, list[tuple[int, Record]]] = {}
    for topic, recs, fut in sent:
        meta = await fut
        dest = placed.setdefault(topic, [])
        for n, (i, rec) in enumerate(recs):
            rec.offset = meta.offset + n
            dest.append((i, rec))
    return {topic: [rec for _, rec in sorted(recs, key=lambda ir: ir[0])] for topic, recs in placed.items()}


def _topic_error(entries: list[dict[str, Any]], topic: str) -> tuple[int, str | None]:
    for e in entries:
        if e["topic"] == topic:
            return int(e["error_code"]), e.get("error_message")
    return 0, None


def _replicas(parts: list[dict[str, Any]]) -> int:
    return max((len(p["replicas"]) for p in parts), default=1)


async def _quietly(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except Exception as e:
        log.debug("Kafka: ignored while closing: %s", e)

