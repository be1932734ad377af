"""Catch-up throughput of a GROUP BY aggregation on the embedded log (prints figures; no thresholds)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import orjson

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.topics.base import Record
from ksql.topics.embedded import EmbeddedLog
from state.manager import StateManager


async def run(n: int, keys: int, state_backend: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        data = Path(d)
        engine = KsqlEngine(
            EmbeddedLog(data / "log"),
            Config({"ksql.streams.auto.offset.reset": "earliest"}),
            state=StateManager(state_backend, data / "state" if state_backend == "rocksdb" else None),
        )
        await engine.start()
        await engine.execute(
            "CREATE STREAM EVENTS (PLAYER_ID INT KEY, SCORE INT) WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON', PARTITIONS=1);"
        )
        batch = []
        for i in range(n):
            k = i % keys
            batch.append(Record(k.to_bytes(4, "big"), orjson.dumps({"PLAYER_ID": k, "SCORE": i % 100}), i))
            if len(batch) == 10_000:
                await engine.backend.produce("events", batch)
                batch = []
        if batch:
            await engine.backend.produce("events", batch)
        await engine.execute(
            "CREATE TABLE TOTALS AS SELECT PLAYER_ID, COUNT(*) AS N, SUM(SCORE) AS S FROM EVENTS GROUP BY PLAYER_ID;"
        )
        t0 = time.perf_counter()
        await engine.run_until_idle()
        dt = time.perf_counter() - t0
        print(f"aggregate n={n} keys={keys} state={state_backend}: {n / dt:,.0f} events/s ({dt:.2f}s)")
        await engine.close()

        # restore: a fresh in-memory state rebuilt from the changelog topic alone
        probe = EmbeddedLog(data / "log")
        changelog = [t for t in await probe.list_topics() if t.name.endswith("-changelog")]
        records = 0
        for t in changelog:
            records += (await probe.end_offsets([(t.name, 0)]))[(t.name, 0)]
        await probe.close()
        t0 = time.perf_counter()
        engine = KsqlEngine(EmbeddedLog(data / "log"), Config({}), state=StateManager("memory"))
        await engine.start()
        dt = time.perf_counter() - t0
        print(f"restore from changelog: {records} records in {dt:.2f}s = {records / dt:,.0f} records/s")
        await engine.close()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    asyncio.run(run(n, 10_000, "rocksdb"))
