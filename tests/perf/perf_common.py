"""What every part of the benchmark harness shares: the input data, how it is loaded into the
embedded log or a Kafka topic, the Kafka backend of our engine, and small statistics helpers.

Input events are JSON values ``{"PLAYER_ID", "SCORE", "LEVEL", "REGION", "TS"}`` keyed by the
player id in the KAFKA format (a 4-byte big-endian INT), one partition, event time one
millisecond apart from a recent minute (:func:`base_ts`): old timestamps would let the broker's
retention delete the input in the middle of a run. Players (the table side of the join) are
``{"NAME", "TIER"}`` under the same keys, written before the events.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ksql.topics.base import Record, TopicBackend  # noqa: E402

REGIONS = ("eu-west", "eu-central", "us-east", "us-west", "ap-south")
RESULT_PREFIX = "RESULT "

EVENTS_DDL = ("CREATE STREAM EVENTS (PLAYER_ID INT KEY, SCORE INT, LEVEL INT, REGION STRING, TS BIGINT) "
              "WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');")
PLAYERS_DDL = ("CREATE TABLE PLAYERS (PLAYER_ID INT PRIMARY KEY, NAME STRING, TIER INT) "
               "WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');")

# The query each engine workload runs (the sink name is filled in per run).
QUERIES = {
    "w1": ("CREATE TABLE {sink} AS SELECT PLAYER_ID, COUNT(*) AS N, SUM(SCORE) AS S FROM EVENTS "
           "GROUP BY PLAYER_ID EMIT CHANGES;"),
    "w2": ("CREATE STREAM {sink} AS SELECT PLAYER_ID, SCORE, SCORE * 2 AS DOUBLED, UCASE(REGION) AS REGION_U "
           "FROM EVENTS WHERE SCORE > 50 EMIT CHANGES;"),
    "w3": ("CREATE STREAM {sink} AS SELECT E.PLAYER_ID AS PLAYER_ID, E.SCORE AS SCORE, P.NAME AS NAME, "
           "P.TIER AS TIER FROM EVENTS E JOIN PLAYERS P ON E.PLAYER_ID = P.PLAYER_ID EMIT CHANGES;"),
    "w4": ("CREATE TABLE {sink} AS SELECT PLAYER_ID, COUNT(*) AS N FROM EVENTS "
           "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY PLAYER_ID EMIT CHANGES;"),
}


def key_bytes(k: int) -> bytes:
    return k.to_bytes(4, "big", signed=True)


def base_ts() -> int:
    """Event time of the first event: a minute boundary two hours ago (ms)."""
    return (int(time.time() * 1000) // 60_000 - 120) * 60_000


def event(i: int, keys: int, base: int) -> tuple[bytes, bytes, int]:
    k = (i * 7919) % keys  # every key once per `keys` events, not in key order
    ts = base + i
    value = orjson.dumps({"PLAYER_ID": k, "SCORE": (i * 31) % 100, "LEVEL": i % 50,
                          "REGION": REGIONS[i % len(REGIONS)], "TS": ts})
    return key_bytes(k), value, ts


def events(n: int, keys: int, base: int) -> Iterator[tuple[bytes, bytes, int]]:
    for i in range(n):
        yield event(i, keys, base)


def players(keys: int, base: int) -> Iterator[tuple[bytes, bytes, int]]:
    for k in range(keys):
        yield key_bytes(k), orjson.dumps({"NAME": f"player-{k}", "TIER": k % 5}), base - 1000


async def load_embedded(log: TopicBackend, topic: str, rows: Iterator[tuple[bytes, bytes, int]],
                        config: dict[str, str] | None = None) -> int:
    await log.create_topic(topic, 1, 1, config or {})
    batch: list[Record] = []
    n = 0
    for key, value, ts in rows:
        batch.append(Record(key, value, ts))
        if len(batch) == 10_000:
            await log.produce(topic, batch)
            n += len(batch)
            batch = []
    if batch:
        await log.produce(topic, batch)
        n += len(batch)
    return n


async def create_kafka_topic(bootstrap: str, topic: str, config: dict[str, str] | None = None) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=config or {})])
    finally:
        await admin.close()


async def delete_kafka_topics(bootstrap: str, prefixes: tuple[str, ...]) -> None:
    """Delete the topics a run left behind (outputs, changelogs), to keep the broker's disk small."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefixes)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def load_kafka(bootstrap: str, topic: str, rows: Iterator[tuple[bytes, bytes, int]]) -> int:
    from aiokafka import AIOKafkaProducer

    await create_kafka_topic(bootstrap, topic, {"retention.ms": "-1"})  # kept for the whole run
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20, acks=1)
    await producer.start()
    n = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for key, value, ts in rows:
            pending.append(await producer.send(topic, value, key=key, timestamp_ms=ts))
            n += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return n


async def committed_offsets(bootstrap: str, group: str, topic: str) -> int:
    """The offset ``group`` has committed on partition 0 of ``topic`` (0 when none)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.structs import TopicPartition

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    meta = offsets.get(TopicPartition(topic, 0))
    return meta.offset if meta is not None and meta.offset >= 0 else 0


def kafka_backend(bootstrap: str) -> TopicBackend | None:
    """Our engine's Kafka backend, or None when this tree has none."""
    try:
        from ksql.topics.kafka import KafkaBackend
    except ImportError:
        return None
    return KafkaBackend(bootstrap)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    rank = max(1, min(len(s), int(-(-p * len(s) // 100))))
    return s[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def emit_result(result: dict[str, Any]) -> None:
    """The last line a contender process prints: what the harness reads back."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def now_us() -> int:
    return time.time_ns() // 1000
