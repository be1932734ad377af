"""State size of windowed queries on a long run (prints figures; no thresholds).

    python tests/perf/bench_window_retention.py [N] [--keys K] [--workload tumbling|session|join|all]

N JSON events 10 ms apart (N=300,000 spans 50 minutes of event time) over K keys at a time; with
--churn M the key population is replaced every M events (keys that stop appearing, as users or
devices come and go), else the same K keys recur all along. The queries:

- tumbling: COUNT(*) .. WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 10 SECONDS) GROUP BY key
- session:  COUNT(*) .. WINDOW SESSION (30 SECONDS, GRACE PERIOD 10 SECONDS) GROUP BY key
- join:     two streams (a key's events alternate between them) JOIN .. WITHIN 10 SECONDS GRACE PERIOD 5 SECONDS

For each: events/s (wall and CPU), the store's entries and pickled size at the end, the growth of
the process's resident memory over the run, the changelog's records (after the compaction of a
restart) and the restore that restart does.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import resource
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

CONFIG = {"ksql.streams.auto.offset.reset": "earliest"}
STREAM = "CREATE STREAM {name} (K INT KEY, V INT) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1);"
QUERIES = {
    "tumbling": "CREATE TABLE OUT AS SELECT K, COUNT(*) AS N FROM A "
    "WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 10 SECONDS) GROUP BY K;",
    "session": "CREATE TABLE OUT AS SELECT K, COUNT(*) AS N FROM A "
    "WINDOW SESSION (30 SECONDS, GRACE PERIOD 10 SECONDS) GROUP BY K;",
    "join": "CREATE STREAM OUT AS SELECT A.K AS K, A.V AS AV, B.V AS BV FROM A JOIN B "
    "WITHIN 10 SECONDS GRACE PERIOD 5 SECONDS ON A.K = B.K;",
}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


async def run(n: int, keys: int, workload: str, churn: int = 0) -> None:
    with tempfile.TemporaryDirectory() as d:
        data = Path(d)
        engine = KsqlEngine(EmbeddedLog(data / "log"), Config(CONFIG), state=StateManager("memory"))
        await engine.start()
        await engine.execute(STREAM.format(name="A", topic="a") + STREAM.format(name="B", topic="b"))
        batches: dict[str, list[Record]] = {"a": [], "b": []}
        for i in range(n):
            k = (i * 7919) % keys + (i // churn * keys if churn else 0)  # keys in a scattered order
            topic = "b" if workload == "join" and i // keys % 2 else "a"  # each key on both sides
            batches[topic].append(Record(k.to_bytes(4, "big"), orjson.dumps({"V": i}), 1_000_000 + i * 10))
        for topic, recs in batches.items():
            for j in range(0, len(recs), 10_000):
                await engine.backend.produce(topic, recs[j:j + 10_000])
        await engine.execute(QUERIES[workload])
        (running,) = engine.queries.values()
        task = running.task
        del batches
        rss = _rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        await engine.run_until_idle()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        rss = _rss_mb() - rss
        (name,) = task.store_names
        store = task.ctx.stores[name]
        size = len(pickle.dumps(store.data))
        changelog = task.changelog_topic(name)
        written = (await engine.backend.end_offsets([(changelog, 0)]))[(changelog, 0)]
        print(f"{workload} n={n} keys={keys} churn={churn}: {n / dt:,.0f} events/s ({n / cpu:,.0f}/s of CPU); "
              f"store {len(store.data):,} entries, {size / 1e6:.1f} MB pickled; RSS +{rss:.0f} MB; "
              f"changelog {written:,} records")
        await engine.close()

        # a restart: the embedded log compacts the changelog on open, the query restores from it
        t0 = time.perf_counter()
        engine = KsqlEngine(EmbeddedLog(data / "log"), Config(CONFIG), state=StateManager("memory"))
        await engine.start()
        dt = time.perf_counter() - t0
        (running,) = engine.queries.values()
        restored = running.task.ctx.stores[name]
        kept = len(await engine.backend.read(changelog, 0, 0, 10_000_000))
        tombstones = sum(r.value is None for r in await engine.backend.read(changelog, 0, 0, 10_000_000))
        print(f"  restart: compacted changelog {kept:,} records ({tombstones:,} tombstones); "
              f"restored {len(restored.data):,} entries in {dt:.2f}s")
        await engine.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("n", nargs="?", type=int, default=300_000)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--churn", type=int, default=0)
    p.add_argument("--workload", default="all", choices=[*QUERIES, "all"])
    a = p.parse_args()
    for w in QUERIES if a.workload == "all" else [a.workload]:
        asyncio.run(run(a.n, a.keys, w, a.churn))


if __name__ == "__main__":
    main()
