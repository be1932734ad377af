"""The services compose/local/up starts answer the way our tests and users need them to."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError
from kafka_env import CdcEnv


async def _roundtrip(bootstrap: str) -> list[bytes]:
    topic = f"infra-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-tx")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, b"committed", key=b"k")
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"aborted", key=b"k")
        await producer.abort_transaction()
    finally:
        await producer.stop()

    plain = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await plain.start()
    try:
        await plain.send_and_wait(topic, b"plain", key=b"k")
    finally:
        await plain.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"{topic}-g",
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < 2:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got += [r.value for r in records if r.value is not None]
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


def test_broker_creates_produces_consumes_and_runs_transactions(kafka_bootstrap: str) -> None:
    # same key -> same partition, so order holds; the aborted record is invisible to read_committed
    assert asyncio.run(_roundtrip(kafka_bootstrap)) == [b"committed", b"plain"]


def test_broker_does_not_auto_create_topics(kafka_bootstrap: str) -> None:
    missing = f"infra-missing-{uuid.uuid4().hex[:8]}"

    async def produce_to_missing() -> list[str]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=1500)
        await producer.start()
        try:
            with pytest.raises((KafkaTimeoutError, UnknownTopicOrPartitionError)):
                await producer.send_and_wait(missing, b"x")
        finally:
            await producer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            return list(await admin.list_topics())
        finally:
            await admin.close()

    assert missing not in asyncio.run(produce_to_missing())


def test_cdc_postgres_and_connect_answer(cdc_env: CdcEnv) -> None:
    with psycopg.connect(cdc_env.pg_dsn, autocommit=True) as conn:
        row = conn.execute("SHOW wal_level").fetchone()
        assert row == ("logical",)
    with urllib.request.urlopen(f"{cdc_env.connect_url}/connector-plugins", timeout=10) as resp:
        classes = {p["class"] for p in json.load(resp)}
    assert {
        "io.debezium.connector.postgresql.PostgresConnector",
        "io.debezium.connector.jdbc.JdbcSinkConnector",
    } <= classes
