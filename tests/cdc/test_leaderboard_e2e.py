"""PostgreSQL changes -> Debezium -> Kafka -> live leaderboard -> curl, and back into PostgreSQL.

Everything is real: PostgreSQL 15, a Kafka broker, Kafka Connect with Debezium's PostgreSQL source
and JDBC sink connectors (fixture ``cdc_env``; a missing component fails the test), and our server
as a subprocess. Both connectors are created with ksql statements. After a random mix of inserts,
updates and deletes in PostgreSQL, three views of the leaderboard must equal the aggregate
PostgreSQL computes itself: pull queries, the push query's rows replayed, and the table the JDBC sink
connector writes.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from cdc_lib import (
    PG_DDL,
    KsqlServer,
    Leaderboard,
    PushRecorder,
    board_diff,
    create_database,
    drop_database,
    ksql_pipeline,
    pg_leaderboard,
    replay,
    sink_connector_sql,
    source_connector_sql,
    wait_until,
)
from kafka_env import CdcEnv

CHANGES = 1_200
CONVERGE_S = 120


class Workload:
    """Random single-row changes in PostgreSQL, each its own transaction, with a few multi-row
    transactions; counts what it did by kind."""

    def __init__(self, conn: psycopg.Connection[Any], rnd: random.Random) -> None:
        self.conn = conn
        self.rnd = rnd
        self.players: list[int] = []
        self.scores: dict[int, int] = {}  # score id -> player id
        self.counts: dict[str, int] = {}
        self.rows_changed = 0  # cascaded deletes included

    def _one(self, sql: str, *args: Any) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return row[0] if row else None

    def _count(self, kind: str, rows: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.rows_changed += rows

    def add_player(self) -> None:
        pid = self._one("INSERT INTO players (name) VALUES (%s) RETURNING id", f"player-{len(self.players)}")
        self.players.append(pid)
        self._count("insert player")

    def add_score(self) -> None:
        pid = self.rnd.choice(self.players)
        sid = self._one("INSERT INTO player_scores (score, player_id) VALUES (%s, %s) RETURNING id",
                        self._amount(0, 10_000), pid)
        self.scores[sid] = pid
        self._count("insert score")

    def _amount(self, lo: int, hi: int) -> Decimal:
        return Decimal(self.rnd.randrange(lo, hi)).scaleb(-2)

    def step(self) -> None:
        rnd, players, scores = self.rnd, self.players, self.scores
        kind = rnd.choices(["player", "score", "up", "down", "rename", "move", "del score", "del player", "tx"],
                           [8, 22, 16, 12, 10, 10, 10, 4, 8])[0]
        if kind == "player" or len(players) < 5:
            self.add_player()
        elif kind == "score" or len(scores) < 5:
            self.add_score()
        elif kind in ("up", "down"):
            delta = self._amount(1, 2_000) * (1 if kind == "up" else -1)
            self.conn.execute("UPDATE player_scores SET score = score + %s WHERE id = %s",
                              (delta, rnd.choice(list(scores))))
            self._count(f"update score {kind}")
        elif kind == "rename":
            pid = rnd.choice(players)
            self.conn.execute("UPDATE players SET name = %s WHERE id = %s", (f"player-{pid}-{rnd.randrange(10**6)}", pid))
            self._count("rename player")
        elif kind == "move":
            sid, pid = rnd.choice(list(scores)), rnd.choice(players)
            self.conn.execute("UPDATE player_scores SET player_id = %s WHERE id = %s", (pid, sid))
            scores[sid] = pid
            self._count("move score")
        elif kind == "del score":
            sid = rnd.choice(list(scores))
            self.conn.execute("DELETE FROM player_scores WHERE id = %s", (sid,))
            del scores[sid]
            self._count("delete score")
        elif kind == "del player":
            pid = rnd.choice(players)
            self.conn.execute("DELETE FROM players WHERE id = %s", (pid,))  # ON DELETE CASCADE
            players.remove(pid)
            gone = [s for s, p in scores.items() if p == pid]
            for s in gone:
                del scores[s]
            self._count("delete player (cascade)", 1 + len(gone))
        else:  # one transaction: points move from one score to another, and a new player joins
            a, b = rnd.sample(list(scores), 2)
            amount = self._amount(1, 1_000)
            with self.conn.transaction():
                self.conn.execute("UPDATE player_scores SET score = score - %s WHERE id = %s", (amount, a))
                self.conn.execute("UPDATE player_scores SET score = score + %s WHERE id = %s", (amount, b))
                self.add_player()
            self._count("transaction (3 rows)", 2)


def _as_board(rows: dict[Any, list[Any]]) -> Leaderboard:
    return {k: (v[1], v[2]) for k, v in rows.items()}


def test_postgres_changes_reach_push_pull_and_jdbc_sink(cdc_env: CdcEnv, tmp_path: Path) -> None:
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    topic_prefix, slot, board_topic = f"pg_{run}", f"ksql_{run}", f"leaderboard_{run}"
    dsn = create_database(cdc_env.pg_dsn)
    # the broker outlives the test: this run's tables get topics of their own
    server = KsqlServer(tmp_path / "ksql", cdc_env.bootstrap, cdc_env.connect_url,
                        extra={"ksql.output.topic.name.prefix": f"cdc_{run}_"})
    push: PushRecorder | None = None
    connectors: list[str] = []
    try:
        conn = psycopg.connect(dsn, autocommit=True)
        for ddl in PG_DDL:
            conn.execute(ddl)
        work = Workload(conn, random.Random(run))
        for _ in range(20):  # rows the connector's snapshot reads
            work.add_player()
        for _ in range(30):
            work.add_score()

        server.start()
        for stmt in ksql_pipeline(topic_prefix, board_topic):
            server.ksql(stmt, {"auto.offset.reset": "earliest"})
        push = PushRecorder(server.url, "SELECT * FROM PLAYER_TOTAL_SCORES EMIT CHANGES;").start()
        assert push.header is not None
        assert push.header["schema"] == "`ID` INTEGER, `NAME` STRING, `TOTAL_SCORE` DECIMAL(10, 2)"

        (created,) = server.ksql(source_connector_sql(f"pg_source_{run}", dsn, topic_prefix, slot,
                                                      poll_interval_ms=100))
        assert created["@type"] == "connector_info", created
        connectors.append(created["info"]["name"])
        (created,) = server.ksql(sink_connector_sql(f"pg_sink_{run}", board_topic, dsn, f"leaderboard_{run}"))
        connectors.append(created["info"]["name"])

        def running() -> bool:
            (listing,) = server.ksql("SHOW CONNECTORS;")
            states = {c["name"]: c.get("state") for c in listing["connectors"]}
            return all(states.get(n) == "RUNNING (1/1 tasks RUNNING)" for n in connectors)

        wait_until(running, 60, "both connectors to run")

        def pushed() -> Leaderboard:
            assert push is not None
            return _as_board(replay(push.snapshot()))

        def explain(want: Leaderboard) -> Callable[[], str]:
            return lambda: f"{board_diff(pushed(), want)}\nserver log:\n{server.log_tail()}"

        snapshot_at = time.monotonic()
        truth = pg_leaderboard(conn)
        wait_until(lambda: pushed() == truth, CONVERGE_S, "the snapshot to reach the push query",
                   explain=explain(truth))
        snapshot_s = time.monotonic() - snapshot_at

        work_at = time.monotonic()
        while work.rows_changed < CHANGES:
            work.step()
            time.sleep(work.rnd.random() * 0.006)  # spread over a few seconds: many small batches downstream
        last_commit = time.time()
        work_s = time.monotonic() - work_at
        truth = pg_leaderboard(conn)
        assert len(truth) >= 5

        # (b) the push query: its rows replayed (last row per key, tombstones removing)
        converge_at = time.monotonic()
        wait_until(lambda: pushed() == truth, CONVERGE_S, "the push query to converge on PostgreSQL's aggregate",
                   explain=explain(truth))
        converged_s = time.monotonic() - converge_at
        rows = push.snapshot()
        assert push.errors == []
        # DECIMAL(10, 2) on the wire keeps its scale, zero totals included (0.00)
        assert {r.columns[2].as_tuple().exponent for r in rows if not r.tombstone} == {-2}
        tombstones = sum(r.tombstone for r in rows)
        assert tombstones > 0  # deleted players were retracted (the replay above checks which)

        # (a) pull queries: one per player, and a scan that holds no deleted player
        for pid, (name, total) in truth.items():
            header, got = server.pull(f"SELECT * FROM PLAYER_TOTAL_SCORES WHERE ID = {pid};")
            assert got == [[pid, name, total]], (pid, got)
        assert header == "`ID` INTEGER KEY, `NAME` STRING, `TOTAL_SCORE` DECIMAL(10, 2)"
        _, scan = server.pull("SELECT * FROM PLAYER_TOTAL_SCORES;")
        assert {r[0]: (r[1], r[2]) for r in scan} == truth

        # (c) the table Debezium's JDBC sink connector writes back into PostgreSQL
        def sunk() -> Leaderboard:
            with conn.cursor() as cur:
                got = cur.execute(f"SELECT id, name, total_score FROM leaderboard_{run}").fetchall()
            return {pid: (name, total) for pid, name, total in got}

        wait_until(lambda: sunk() == truth, CONVERGE_S, "the JDBC sink table to converge on PostgreSQL's aggregate",
                   explain=lambda: board_diff(sunk(), truth))

        last_row = max(r.at for r in rows)
        print(f"\nCDC leaderboard: {work.rows_changed} row changes"
              f" ({work_s:.1f}s): " + ", ".join(f"{k} {v}" for k, v in sorted(work.counts.items())))
        print(f"  players {len(truth)}, push rows {len(rows)} ({tombstones} tombstones); snapshot reached the push "
              f"query in {snapshot_s:.1f}s; last commit -> last push row {last_row - last_commit:.2f}s "
              f"(converged {converged_s:.1f}s after the workload); total {time.monotonic() - started:.0f}s")

        for name in connectors:
            (dropped,) = server.ksql(f"DROP CONNECTOR {name};")
            assert dropped["@type"] == "drop_connector"
        connectors.clear()
        conn.close()
    finally:
        if push is not None:
            push.stop()
        if os.environ.get("KSQL_CDC_KEEP"):  # debugging: leave server, connectors and database up
            print(f"\nkept: server {server.url} (log {server.log_path}), database {dsn}, connectors {connectors}")
        else:
            for name in connectors:  # a failed run still releases its replication slot
                try:
                    server.ksql(f"DROP CONNECTOR IF EXISTS {name};")
                except Exception:
                    pass
            server.stop()
            drop_database(dsn, slot)
