"""Benchmark: restore a state store of N keys (default 1,000,000) from its changelog topic on Kafka.

    python tests/kafka/bench_restore.py [--bootstrap HOST:PORT] [--keys N] [--local rocksdb|memory|both]

Without --bootstrap (or $KSQL_TEST_BOOTSTRAP) a broker is started with compose/local/up and stopped
afterwards. The changelog is filled the way QueryTask.commit writes it (pickled key tuples and
aggregate states), then a QueryTask restores it: ``memory`` replays the changelog into the task's
store only; ``rocksdb`` also writes the local RocksDB copy, as a server does. Prints records/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parent)]

from kafka_env import LocalStack  # noqa: E402

from ksql.runtime.operators import Operator  # noqa: E402
from ksql.runtime.task import QueryTask  # noqa: E402
from ksql.topics.base import Record  # noqa: E402
from ksql.topics.kafka import KafkaBackend  # noqa: E402
from state.manager import StateManager  # noqa: E402

STORE = "Aggregate-Aggregate-Materialize"


class _StoreOwner(Operator):
    """Stands for the aggregate operator: all a task needs to restore is the store's name."""

    store_name = STORE


async def fill(backend: KafkaBackend, topic: str, keys: int, chunk: int = 20_000) -> float:
    await backend.create_topic(topic, 1, 1, {"cleanup.policy": "compact"})
    start = time.perf_counter()
    now = int(time.time() * 1000)  # older timestamps could fall to the broker's time retention
    for i in range(0, keys, chunk):
        await backend.produce(topic, [
            Record(pickle.dumps((f"user-{j}",)), pickle.dumps([j, j * 3, f"region-{j % 50}"]), now, partition=0)
            for j in range(i, min(i + chunk, keys))
        ])
    return time.perf_counter() - start


async def restore(bootstrap: str, prefix: str, group: str, local: str) -> tuple[int, float, int]:
    backend = KafkaBackend(bootstrap, topic_prefix=prefix)
    with tempfile.TemporaryDirectory() as tmp:
        state = StateManager("rocksdb", tmp) if local == "rocksdb" else StateManager("memory")
        task = QueryTask("CTAS_BENCH_0", group, backend, {}, [_StoreOwner()], lambda e: None, {})
        try:
            start = time.perf_counter()
            applied = await task.restore(state)
            elapsed = time.perf_counter() - start
            return applied, elapsed, len(task.ctx.store(STORE).data)
        finally:
            state.close_all()
            await backend.close()


async def main_async(bootstrap: str, keys: int, locals_: list[str]) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}-"
    group = "_confluent-ksql-bench_query_CTAS_BENCH_0"
    topic = f"{group}-{STORE}-changelog"
    backend = KafkaBackend(bootstrap, topic_prefix=prefix)
    try:
        took = await fill(backend, topic, keys)
        print(f"changelog written: {keys:,} records in {took:.1f}s ({keys / took:,.0f} records/s)")
    finally:
        await backend.close()
    for local in locals_:
        applied, elapsed, size = await restore(bootstrap, prefix, group, local)
        assert applied == keys and size == keys, (applied, size)
        print(f"restore ({local} local store): {applied:,} records in {elapsed:.2f}s "
              f"= {applied / elapsed:,.0f} records/s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", default=os.environ.get("KSQL_TEST_BOOTSTRAP"))
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--local", choices=["memory", "rocksdb", "both"], default="both")
    args = p.parse_args()
    locals_ = ["memory", "rocksdb"] if args.local == "both" else [args.local]
    stack = None
    bootstrap = args.bootstrap
    if not bootstrap:
        stack = LocalStack(Path(tempfile.mkdtemp(prefix="bench-restore-")))
        bootstrap = stack.ensure()["KAFKA_BOOTSTRAP"]
    try:
        asyncio.run(main_async(bootstrap, args.keys, locals_))
    finally:
        if stack is not None:
            stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
