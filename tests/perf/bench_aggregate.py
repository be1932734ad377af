"""Catch-up throughput of persistent queries on the embedded log (prints figures; no thresholds).

    python tests/perf/bench_aggregate.py [N] [--workload agg|filter|join|window|all] [--keys K]
        [--state rocksdb|memory] [--no-restore]

Workloads (N JSON events ``{PLAYER_ID, SCORE, NAME}`` over K keys, pre-loaded in a topic):

- agg:    CREATE TABLE .. AS SELECT PLAYER_ID, COUNT(*), SUM(SCORE) .. GROUP BY PLAYER_ID
- filter: CREATE STREAM .. AS SELECT PLAYER_ID, SCORE * 2, UCASE(NAME) .. WHERE SCORE > 10
- join:   CREATE STREAM .. AS SELECT .. FROM EVENTS JOIN PLAYERS (a K-row table) ON PLAYER_ID
- window: CREATE TABLE .. AS SELECT PLAYER_ID, COUNT(*) .. WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY ..

Each prints wall-clock events/s and CPU events/s (the latter is steadier on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ksql.engine.config import Config  # noqa: E402
from ksql.engine.engine import KsqlEngine  # noqa: E402
from ksql.topics.base import Record  # noqa: E402
from ksql.topics.embedded import EmbeddedLog  # noqa: E402
from state.manager import StateManager  # noqa: E402

QUERIES = {
    "agg": "CREATE TABLE TOTALS AS SELECT PLAYER_ID, COUNT(*) AS N, SUM(SCORE) AS S FROM EVENTS "
    "GROUP BY PLAYER_ID;",
    "filter": "CREATE STREAM HIGH AS SELECT PLAYER_ID, SCORE * 2 AS DOUBLED, UCASE(NAME) AS UNAME FROM EVENTS "
    "WHERE SCORE > 10;",
    "join": "CREATE STREAM ENRICHED AS SELECT E.PLAYER_ID, E.SCORE, P.REGION FROM EVENTS E "
    "JOIN PLAYERS P ON E.PLAYER_ID = P.ID;",
    "window": "CREATE TABLE PER_MINUTE AS SELECT PLAYER_ID, COUNT(*) AS N FROM EVENTS "
    "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY PLAYER_ID;",
}


async def _load(engine: KsqlEngine, n: int, keys: int, workload: str) -> None:
    await engine.execute(
        "CREATE STREAM EVENTS (PLAYER_ID INT KEY, SCORE INT, NAME STRING) "
        "WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON', PARTITIONS=1);"
    )
    if workload == "join":
        await engine.execute(
            "CREATE TABLE PLAYERS (ID INT PRIMARY KEY, REGION STRING) "
            "WITH (KAFKA_TOPIC='players', VALUE_FORMAT='JSON', PARTITIONS=1);"
        )
        await engine.backend.produce("players", [
            Record(k.to_bytes(4, "big"), orjson.dumps({"REGION": f"region-{k % 7}"}), 0) for k in range(keys)
        ])
    batch = []
    for i in range(n):
        k = i % keys
        value = {"PLAYER_ID": k, "SCORE": i % 100, "NAME": f"player-{k}"}
        batch.append(Record(k.to_bytes(4, "big"), orjson.dumps(value), 1_000_000 + i * 10))
        if len(batch) == 10_000:
            await engine.backend.produce("events", batch)
            batch = []
    if batch:
        await engine.backend.produce("events", batch)


async def run(n: int, keys: int, state_backend: str, workload: str = "agg", restore: bool = True) -> float:
    """Runs one workload; returns its wall-clock events/s."""
    with tempfile.TemporaryDirectory() as d:
        data = Path(d)
        engine = KsqlEngine(
            EmbeddedLog(data / "log"),
            Config({"ksql.streams.auto.offset.reset": "earliest"}),
            state=StateManager(state_backend, data / "state" if state_backend == "rocksdb" else None),
        )
        await engine.start()
        await _load(engine, n, keys, workload)
        await engine.execute(QUERIES[workload])
        t0, c0 = time.perf_counter(), time.process_time()
        await engine.run_until_idle()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{workload} n={n} keys={keys} state={state_backend}: {n / dt:,.0f} events/s "
              f"({dt:.2f}s wall; {n / cpu:,.0f} events/s of CPU)")
        await engine.close()
        if not restore or workload not in ("agg", "window"):
            return n / dt

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
        print(f"restore from changelog: {records} records in {dt:.2f}s = {records / max(dt, 1e-9):,.0f} records/s")
        await engine.close()
        return n / dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("n", nargs="?", type=int, default=100_000)
    p.add_argument("--workload", default="agg", choices=[*QUERIES, "all"])
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--state", default="rocksdb", choices=["rocksdb", "memory"])
    p.add_argument("--no-restore", action="store_true")
    a = p.parse_args()
    for w in QUERIES if a.workload == "all" else [a.workload]:
        asyncio.run(run(a.n, a.keys, a.state, w, not a.no_restore))


if __name__ == "__main__":
    main()
