#!/usr/bin/env python3
"""Freshness of the CDC leaderboard: from a PostgreSQL COMMIT to the row on the push query.

    python tests/cdc/bench_latency.py [--changes 500] [--rate 25] [--poll-interval-ms 500] [--schemas]

Runs the pipeline of test_leaderboard_e2e.py (PostgreSQL -> Debezium -> Kafka -> our server ->
``curl`` push query) on real services: $KSQL_TEST_BOOTSTRAP + $KSQL_TEST_PG_DSN +
$KSQL_TEST_CONNECT_URL when set, else a stack started (and stopped) with compose/local/up --cdc.

Every change is one autocommit transaction that makes a value unique to it: even changes rename a
player (``p<id>#<seq>``: players topic -> join), odd ones set a player's single score to
``<seq>.25`` (player_scores topic -> SUM per player -> SCORE_TOTALS topic -> join). Each is followed
through the pipeline, all on this host's clock:

  commit      the client's COMMIT returned (time.time()); Debezium's source.ts_ms is the commit
              time PostgreSQL recorded (ms)
  debezium    envelope ts_ms: Debezium turned the WAL record into an event
  kafka       the Debezium record's timestamp: Connect's producer sent it
  visible     a consumer of ours received it (the broker had it and a fetch returned it)
  totals      (scores only) the SCORE_TOTALS row our first query wrote, received by our consumer
  push        the row arrived on the curl push query
  sink topic  the leaderboard row reached its Kafka topic (what the JDBC sink connector reads)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parents[1])]

import psycopg  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402
from cdc_lib import (  # noqa: E402
    PG_DDL,
    KsqlServer,
    PushRecorder,
    create_database,
    drop_database,
    iter_percentiles,
    ksql_pipeline,
    source_connector_sql,
    wait_until,
)
from kafka_env import CdcEnv, LocalStack, cdc_from_env, external_cdc  # noqa: E402

from ksql.formats.debezium import apply_logical_types, unwrap_connect  # noqa: E402


@dataclass(eq=False)  # matched into sets by identity
class Change:
    seq: int
    kind: str  # rename | score
    player: int
    commit: float = 0.0
    source_ts: float | None = None
    debezium_ts: float | None = None
    kafka_ts: float | None = None
    visible: float | None = None
    totals: float | None = None
    push: float | None = None
    sink_topic: float | None = None


@dataclass
class Tracker:
    """Arrival times of records on the topics we watch, matched to changes by their unique value."""

    changes: dict[int, Change] = field(default_factory=dict)
    by_name: dict[str, int] = field(default_factory=dict)
    by_score: dict[Decimal, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, change: Change, name: str | None, score: Decimal | None) -> None:
        with self.lock:
            self.changes[change.seq] = change
            if name is not None:
                self.by_name[name] = change.seq
            if score is not None:
                self.by_score[score] = change.seq

    def match(self, name: Any, score: Any) -> Change | None:
        with self.lock:
            seq = self.by_name.get(name) if name is not None else None
            if seq is None and score is not None:
                seq = self.by_score.get(Decimal(str(score)).quantize(Decimal("0.01")))
            return self.changes.get(seq) if seq is not None else None


def _loads(raw: bytes | None) -> Any:
    return None if raw is None else json.loads(raw, parse_float=Decimal)


def on_debezium(tracker: Tracker, raw: bytes | None, ts_ms: int, at: float) -> None:
    node, schema = unwrap_connect(_loads(raw))
    if not isinstance(node, dict) or node.get("op") not in ("c", "u", "r"):
        return
    node = apply_logical_types(node, schema)  # Decimal bytes with schemas on
    after = node.get("after") or {}
    score = after.get("score")
    if isinstance(score, str):  # decimal.handling.mode=string, or precise bytes without a schema
        try:
            score = Decimal(score)
        except ArithmeticError:
            unscaled = int.from_bytes(base64.b64decode(after["score"]), "big", signed=True)
            score = Decimal(unscaled).scaleb(-2)
    change = tracker.match(after.get("name"), score)
    if change is None or change.visible is not None:
        return
    change.visible = at
    change.kafka_ts = ts_ms / 1000
    change.debezium_ts = node["ts_ms"] / 1000 if node.get("ts_ms") else None
    src = node.get("source") or {}
    change.source_ts = src["ts_ms"] / 1000 if src.get("ts_ms") else None


def on_totals(tracker: Tracker, raw: bytes | None, at: float) -> None:
    value = _loads(raw)
    if isinstance(value, dict) and (change := tracker.match(None, value.get("TOTAL"))) is not None:
        if change.totals is None:
            change.totals = at


def on_board(tracker: Tracker, raw: bytes | None, at: float) -> None:
    node, _ = unwrap_connect(_loads(raw))
    if not isinstance(node, dict):
        return
    for change in {tracker.match(node.get("NAME"), None), tracker.match(None, node.get("TOTAL_SCORE"))}:
        if change is not None and change.sink_topic is None:
            change.sink_topic = at


class Watcher:
    """aiokafka consumers on the topics of interest, in a thread of their own."""

    def __init__(self, bootstrap: str, handlers: dict[str, Any]) -> None:
        self.bootstrap = bootstrap
        self.handlers = handlers
        self.stop_flag = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(*self.handlers, bootstrap_servers=self.bootstrap, auto_offset_reset="latest",
                                    enable_auto_commit=False, fetch_max_wait_ms=100)
        await consumer.start()
        try:
            while not consumer.assignment():
                await asyncio.sleep(0.05)
            for tp in consumer.assignment():  # resolve "latest" before any change is made
                await consumer.position(tp)
            self.ready.set()
            while not self.stop_flag.is_set():
                batches = await consumer.getmany(timeout_ms=100)
                at = time.time()
                for tp, records in batches.items():
                    handle = self.handlers[tp.topic]
                    for r in records:
                        handle(r.value, r.timestamp, at)
        finally:
            await consumer.stop()

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(60):
            raise RuntimeError("the Kafka consumers did not start")

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(10)


def stats(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:<34} (none)"
    ms = [v * 1000 for v in values]
    pts = " ".join(f"p{p:g} {v:7.1f}" for p, v in iter_percentiles(ms, (50, 90, 99)))
    return f"  {label:<34} {pts}   max {max(ms):7.1f} ms   (n={len(ms)})"


def report(changes: list[Change]) -> None:
    def d(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    def col(fn: Any, kind: str | None = None) -> list[float]:
        return [v for c in changes if kind in (None, c.kind) and (v := fn(c)) is not None]

    print(f"\nCOMMIT -> push row, {len(changes)} changes (ms):")
    print(stats("total (commit returned -> push)", col(lambda c: d(c.commit, c.push))))
    print(stats("  renames (players -> join)", col(lambda c: d(c.commit, c.push), "rename")))
    print(stats("  scores (scores -> SUM -> join)", col(lambda c: d(c.commit, c.push), "score")))
    print("where the time goes:")
    print(stats("PG commit (source.ts_ms) -> Debezium", col(lambda c: d(c.source_ts, c.debezium_ts))))
    print(stats("Debezium event -> Kafka send", col(lambda c: d(c.debezium_ts, c.kafka_ts))))
    print(stats("Kafka send -> consumer receives", col(lambda c: d(c.kafka_ts, c.visible))))
    print(stats("engine: record visible -> push row", col(lambda c: d(c.visible, c.push))))
    print(stats("  renames: one query (join)", col(lambda c: d(c.visible, c.push), "rename")))
    print(stats("  scores: SUM query -> SCORE_TOTALS", col(lambda c: d(c.visible, c.totals), "score")))
    print(stats("  scores: SCORE_TOTALS -> push row", col(lambda c: d(c.totals, c.push), "score")))
    print(stats("push row -> sink topic record", col(lambda c: d(c.push, c.sink_topic))))
    print(stats("(commit returned - source.ts_ms)", col(lambda c: d(c.source_ts, c.commit))))


def run(env: CdcEnv, args: argparse.Namespace, workdir: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    topic_prefix, slot, board_topic = f"bench_{tag}", f"bench_{tag}", f"bench_{tag}_board"
    out_prefix = f"bench_{tag}_"
    dsn = create_database(env.pg_dsn, "bench")
    server = KsqlServer(workdir / "ksql", env.bootstrap, env.connect_url,
                        extra={"ksql.output.topic.name.prefix": out_prefix,
                               **dict(kv.split("=", 1) for kv in args.server_property)})
    tracker = Tracker()
    push: PushRecorder | None = None
    watcher: Watcher | None = None
    connector: str | None = None
    try:
        conn = psycopg.connect(dsn, autocommit=True)
        if not args.async_commit:
            # the local stack runs PostgreSQL with synchronous_commit=off: a commit's WAL then waits
            # for the WAL writer (wal_writer_delay, 200 ms) before logical decoding sees it
            conn.execute("SET synchronous_commit = on")
        for ddl in PG_DDL:
            conn.execute(ddl)
        def returned_id(sql: str, arg: Any) -> int:
            row = conn.execute(sql, (arg,)).fetchone()
            assert row is not None
            return int(row[0])

        players = [returned_id("INSERT INTO players (name) VALUES (%s) RETURNING id", f"p{i}")
                   for i in range(args.players)]
        score_of = {p: returned_id("INSERT INTO player_scores (score, player_id) VALUES (0, %s) RETURNING id", p)
                    for p in players}
        server.start()
        for stmt in ksql_pipeline(topic_prefix, board_topic):
            server.ksql(stmt, {"auto.offset.reset": "earliest"})
        watcher = Watcher(env.bootstrap, {
            f"{topic_prefix}.public.players": lambda v, ts, at: on_debezium(tracker, v, ts, at),
            f"{topic_prefix}.public.player_scores": lambda v, ts, at: on_debezium(tracker, v, ts, at),
            f"{out_prefix}SCORE_TOTALS": lambda v, ts, at: on_totals(tracker, v, at),
            board_topic: lambda v, ts, at: on_board(tracker, v, at),
        })
        watcher.start()
        push = PushRecorder(server.url, "SELECT * FROM PLAYER_TOTAL_SCORES EMIT CHANGES;").start()
        (created,) = server.ksql(source_connector_sql(
            f"bench_source_{tag}", dsn, topic_prefix, slot, schemas=args.schemas,
            decimal_mode=args.decimal_mode, poll_interval_ms=args.poll_interval_ms))
        connector = created["info"]["name"]
        wait_until(lambda: len({tuple(r.columns[:2]) for r in push.snapshot()}) >= len(players), 120,  # type: ignore[union-attr]
                   "the snapshot to reach the push query")
        print(f"pipeline up (Debezium poll.interval.ms={args.poll_interval_ms or 'default 500'}, "
              f"synchronous_commit={(conn.execute('SHOW synchronous_commit').fetchone() or ['?'])[0]}, "
              f"schemas.enable={str(args.schemas).lower()}, decimal.handling.mode={args.decimal_mode}); "
              f"{args.changes} changes at {args.rate}/s ...", flush=True)

        interval = 1 / args.rate
        next_at = time.monotonic()
        for seq in range(args.changes):
            player = players[seq % len(players)]
            if seq % 2 == 0:
                name = f"p{player}#{seq}"
                change = Change(seq, "rename", player)
                tracker.add(change, name, None)
                conn.execute("UPDATE players SET name = %s WHERE id = %s", (name, player))
            else:
                score = Decimal(seq) + Decimal("0.25")
                change = Change(seq, "score", player)
                tracker.add(change, None, score)
                conn.execute("UPDATE player_scores SET score = %s WHERE id = %s", (score, score_of[player]))
            change.commit = time.time()
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

        def all_pushed() -> bool:
            assert push is not None
            for row in push.snapshot()[len(matched_rows):]:
                matched_rows.append(row)
                if row.tombstone:
                    continue
                for change in {tracker.match(row.columns[1], None), tracker.match(None, row.columns[2])}:
                    if change is not None and change.push is None:
                        change.push = row.at
            return all(c.push is not None for c in tracker.changes.values())

        matched_rows: list[Any] = []
        wait_until(all_pushed, 120, "every change to reach the push query",
                   explain=lambda: f"{sum(c.push is None for c in tracker.changes.values())} missing")
        wait_until(lambda: all(c.sink_topic is not None for c in tracker.changes.values()), 30,
                   "every change to reach the sink topic")
        report(sorted(tracker.changes.values(), key=lambda c: c.seq))
        conn.close()
    finally:
        if push is not None:
            push.stop()
        if watcher is not None:
            watcher.stop()
        if connector is not None:
            try:
                server.ksql(f"DROP CONNECTOR IF EXISTS {connector};")
            except Exception as e:
                print(f"could not drop connector {connector}: {e}", file=sys.stderr)
        server.stop()
        drop_database(dsn, slot)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--changes", type=int, default=500)
    p.add_argument("--rate", type=float, default=25.0, help="changes per second")
    p.add_argument("--players", type=int, default=50)
    p.add_argument("--poll-interval-ms", type=int, help="Debezium poll.interval.ms (its default: 500)")
    p.add_argument("--schemas", action="store_true",
                   help="JSON converter schemas.enable=true (default: false)")
    p.add_argument("--decimal-mode", default="precise", help="Debezium decimal.handling.mode (default precise)")
    p.add_argument("--async-commit", action="store_true",
                   help="keep the server's synchronous_commit (off on the local stack) instead of on")
    p.add_argument("--server-property", action="append", default=[], metavar="K=V",
                   help="extra ksql server property, e.g. ksql.streams.commit.interval.ms=100")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="cdc-bench-") as tmp:
        env = external_cdc()
        stack = None
        if env is None:
            stack = LocalStack(Path(tmp) / "stack")
            print("starting Kafka, PostgreSQL and Kafka Connect (compose/local/up --cdc) ...", flush=True)
            env = cdc_from_env(stack.ensure(cdc=True))
        try:
            run(env, args, Path(tmp))
        finally:
            if stack is not None:
                stack.down()
    return 0


if __name__ == "__main__":
    os.chdir(HERE.parents[1])
    sys.exit(main())
