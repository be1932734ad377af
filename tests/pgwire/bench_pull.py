"""Pull-query throughput and latency over the PostgreSQL protocol next to the same over HTTP /query.

    python tests/pgwire/bench_pull.py [--duration 5] [--concurrency 8] [--keys 200] [--scan]

Starts ``ksql-server`` in its own process on an embedded log in a temporary directory, fills a
table, then drives it from this process with asyncio clients: asyncpg (extended protocol, a
prepared statement per connection) and httpx (a POST /query per request), the same query text.
Prints queries per second and p50/p99 latency for each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(data: Path, http_port: int, pg_port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rest.server", "--data-dir", str(data), "--listeners",
         f"http://127.0.0.1:{http_port}", "--pg-port", str(pg_port), "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/info", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def _fill(http: httpx.Client, keys: int) -> None:
    props = {"auto.offset.reset": "earliest"}
    for sql in (
        "CREATE STREAM EVENTS (USER_ID STRING KEY, PAGE STRING, MS BIGINT) "
        "WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON', PARTITIONS=2);",
        "CREATE TABLE USER_ACTIVITY AS SELECT USER_ID, COUNT(*) AS VIEWS, LATEST_BY_OFFSET(PAGE) AS LAST_PAGE, "
        "SUM(MS) AS TOTAL_MS FROM EVENTS GROUP BY USER_ID;",
    ):
        r = http.post("/ksql", json={"ksql": sql, "streamsProperties": props})
        r.raise_for_status()
    for start in range(0, keys * 3, 500):
        inserts = " ".join(
            f"INSERT INTO EVENTS (USER_ID, PAGE, MS) VALUES ('u{i % keys}', '/p{i % 7}', {i});"
            for i in range(start, min(start + 500, keys * 3)))
        http.post("/ksql", json={"ksql": inserts}, timeout=60).raise_for_status()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = http.post("/query", json={"ksql": "SELECT * FROM USER_ACTIVITY;"}, timeout=30)
        rows = [x for x in r.json() if "row" in x]
        if len(rows) == keys and sum(x["row"]["columns"][1] for x in rows) == keys * 3:
            return
        time.sleep(0.2)
    raise SystemExit("the table did not fill in time")


async def _drive(name: str, clients: list[Callable[[str], Awaitable[int]]], keys: int, duration: float) -> None:
    latencies: list[float] = []
    rows = 0
    stop = time.perf_counter() + duration

    async def loop(call: Callable[[str], Awaitable[int]]) -> None:
        nonlocal rows
        rnd = random.Random(id(call))
        while time.perf_counter() < stop:
            key = f"u{rnd.randrange(keys)}"
            t0 = time.perf_counter()
            n = await call(key)
            latencies.append(time.perf_counter() - t0)
            rows += n

    started = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in clients))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    print(f"{name:<26} {len(latencies) / elapsed:>9.0f} q/s   p50 {q[49] * 1000:6.2f} ms   "
          f"p99 {q[98] * 1000:6.2f} ms   ({len(latencies)} queries, {rows} rows)")


async def _bench(http_port: int, pg_port: int, args: argparse.Namespace) -> None:
    where = "" if args.scan else " WHERE USER_ID = {key}"
    pg_sql = "SELECT * FROM user_activity" + where.format(key="$1").lower()
    http_sql = "SELECT * FROM USER_ACTIVITY" + where + ";"
    print(f"{args.concurrency} concurrent clients, {args.duration:.0f} s each, {args.keys} keys; query: {pg_sql}")

    conns = [await asyncpg.connect(f"postgresql://bench@127.0.0.1:{pg_port}/ksql") for _ in range(args.concurrency)]
    stmts = [await c.prepare(pg_sql) for c in conns]

    def pg_call(stmt: asyncpg.prepared_stmt.PreparedStatement) -> Callable[[str], Awaitable[int]]:
        async def call(key: str) -> int:
            return len(await (stmt.fetch() if args.scan else stmt.fetch(key)))
        return call

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=30,
                                 limits=httpx.Limits(max_connections=args.concurrency)) as http:
        async def http_call(key: str) -> int:
            r = await http.post("/query", json={"ksql": http_sql.format(key=f"'{key}'")})
            r.raise_for_status()
            return sum(1 for x in r.json() if "row" in x)

        for _ in range(2):  # warm up both paths, then measure them in turn
            await _drive("warm-up pgwire", [pg_call(s) for s in stmts], args.keys, 0.5)
            await _drive("warm-up http", [http_call] * args.concurrency, args.keys, 0.5)
        print("-" * 100)
        await _drive("pgwire (asyncpg)", [pg_call(s) for s in stmts], args.keys, args.duration)
        await _drive("HTTP /query (httpx)", [http_call] * args.concurrency, args.keys, args.duration)
    for c in conns:
        await c.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent clients per protocol")
    p.add_argument("--keys", type=int, default=200, help="rows in the table")
    p.add_argument("--scan", action="store_true", help="read the whole table instead of one key")
    args = p.parse_args()
    http_port, pg_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-pgwire-") as tmp:
        proc = _start_server(Path(tmp), http_port, pg_port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http:
                _fill(http, args.keys)
            asyncio.run(_bench(http_port, pg_port, args))
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
