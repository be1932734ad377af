"""Shared by the CDC end-to-end test and the latency benchmark (imported as ``cdc_lib``).

The pipeline: PostgreSQL ``players``/``player_scores`` -> Debezium's PostgreSQL source connector ->
Kafka -> our server (tables over the topics with FORMAT='DEBEZIUM', a leaderboard table) -> push
query over HTTP, pull queries, and Debezium's JDBC sink connector writing the leaderboard back into
PostgreSQL. Every connector is created with a ksql statement, as a user would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import psycopg
from testlib import free_port

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

PG_DDL = [
    "CREATE TABLE players (id SERIAL PRIMARY KEY, name TEXT)",
    "CREATE TABLE player_scores (id SERIAL PRIMARY KEY, score DECIMAL(10,2), "
    "player_id INTEGER REFERENCES players(id) ON DELETE CASCADE)",
]

# the truth: PostgreSQL's own aggregate
PG_LEADERBOARD = ("SELECT p.id, p.name, COALESCE(SUM(s.score), 0) FROM players p "
                  "LEFT JOIN player_scores s ON s.player_id = p.id GROUP BY p.id, p.name")

Leaderboard = dict[int, tuple[str | None, Decimal]]


def wait_until(check: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.2,
               explain: Callable[[], str] | None = None) -> T:
    """Poll ``check`` until it returns something truthy; AssertionError naming ``what`` (and what
    ``explain`` says) on timeout."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        try:
            last = check()
        except Exception as e:  # a component still starting up: keep polling
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            detail = explain() if explain is not None else f"last: {last!r}"
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; {detail}"[:6000])
        time.sleep(interval_s)


# -- PostgreSQL ------------------------------------------------------------------------------------
def with_db(dsn: str, db: str) -> str:
    u = urlsplit(dsn)
    return urlunsplit((u.scheme, u.netloc, f"/{db}", u.query, u.fragment))


def create_database(dsn: str, prefix: str = "cdc") -> str:
    """A fresh database (tests sharing the server never see each other's tables); its DSN."""
    db = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    return with_db(dsn, db)


def drop_database(dsn: str, slot: str | None = None) -> None:
    """Drop the database made by :func:`create_database` and the replication slot Debezium left."""
    u = urlsplit(dsn)
    db = u.path.lstrip("/")
    admin = with_db(dsn, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if slot:
            # the slot is released a moment after its connector is deleted
            for _ in range(50):
                row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
                if row is None:
                    break
                if not row[0]:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                    break
                time.sleep(0.2)
        conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def pg_leaderboard(conn: psycopg.Connection[Any]) -> Leaderboard:
    return {pid: (name, Decimal(total)) for pid, name, total in conn.execute(PG_LEADERBOARD).fetchall()}


# -- connectors ------------------------------------------------------------------------------------
def _with(props: dict[str, str]) -> str:
    return ",\n  ".join(f"'{k}' = '{v}'" for k, v in props.items())


def source_connector_sql(name: str, pg_dsn: str, topic_prefix: str, slot: str, *, schemas: bool = False,
                         decimal_mode: str = "string", poll_interval_ms: int | None = None) -> str:
    u = urlsplit(pg_dsn)
    props = {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": u.hostname or "127.0.0.1",
        "database.port": str(u.port or 5432),
        "database.user": u.username or "postgres",
        "database.password": u.password or "postgres",
        "database.dbname": u.path.lstrip("/"),
        "topic.prefix": topic_prefix,
        "table.include.list": "public.players,public.player_scores",
        "plugin.name": "pgoutput",
        "slot.name": slot,
        "publication.name": f"{slot}_pub",
        "publication.autocreate.mode": "filtered",
        "decimal.handling.mode": decimal_mode,
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": str(schemas).lower(),
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": str(schemas).lower(),
        # the broker does not auto-create topics: Connect creates Debezium's
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "1",
    }
    if poll_interval_ms is not None:
        props["poll.interval.ms"] = str(poll_interval_ms)
    return f"CREATE SOURCE CONNECTOR {name} WITH (\n  {_with(props)}\n);"


def sink_connector_sql(name: str, topic: str, pg_dsn: str, table: str) -> str:
    u = urlsplit(pg_dsn)
    props = {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "topics": topic,
        "connection.url": f"jdbc:postgresql://{u.hostname}:{u.port or 5432}{u.path}",
        "connection.username": u.username or "postgres",
        "connection.password": u.password or "postgres",
        "insert.mode": "upsert",
        "primary.key.mode": "record_key",
        "delete.enabled": "true",
        "schema.evolution": "basic",
        "table.name.format": table,
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "true",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
    }
    return f"CREATE SINK CONNECTOR {name} WITH (\n  {_with(props)}\n);"


def ksql_pipeline(topic_prefix: str, board_topic: str) -> list[str]:
    """The tables over Debezium's topics and the leaderboard (a GROUP BY table LEFT JOINed from
    players, so a player without scores has 0). PARTITIONS=1 creates the topics when Debezium has
    not yet (it writes into existing ones), so all of this can run before the connector starts."""
    return [
        f"CREATE TABLE PLAYERS (ID INT PRIMARY KEY, NAME STRING) "
        f"WITH (KAFKA_TOPIC='{topic_prefix}.public.players', FORMAT='DEBEZIUM', PARTITIONS=1);",
        f"CREATE TABLE PLAYER_SCORES (ID INT PRIMARY KEY, SCORE DECIMAL(10,2), PLAYER_ID INT) "
        f"WITH (KAFKA_TOPIC='{topic_prefix}.public.player_scores', FORMAT='DEBEZIUM', PARTITIONS=1);",
        "CREATE TABLE SCORE_TOTALS AS SELECT PLAYER_ID, SUM(SCORE) AS TOTAL "
        "FROM PLAYER_SCORES GROUP BY PLAYER_ID EMIT CHANGES;",
        f"CREATE TABLE PLAYER_TOTAL_SCORES WITH (KAFKA_TOPIC='{board_topic}', FORMAT='DEBEZIUM') AS "
        "SELECT P.ID AS ID, P.NAME AS NAME, COALESCE(T.TOTAL, 0) AS TOTAL_SCORE "
        "FROM PLAYERS P LEFT JOIN SCORE_TOTALS T ON P.ID = T.PLAYER_ID EMIT CHANGES;",
    ]


# -- our server ------------------------------------------------------------------------------------
@dataclass
class KsqlServer:
    """``python -m rest.server`` on Kafka, with ``ksql.connect.url`` in its properties file."""

    data_dir: Path
    bootstrap: str
    connect_url: str
    service_id: str = field(default_factory=lambda: f"cdc_{uuid.uuid4().hex[:8]}_")
    extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-server.log"

    def start(self, timeout_s: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = {"ksql.service.id": self.service_id, "ksql.connect.url": self.connect_url, **self.extra}
        config = self.data_dir.parent / f"{self.data_dir.name}.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        env = {k: v for k, v in os.environ.items() if not k.startswith("KSQL_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rest.server", "--config", str(config), "--data-dir", str(self.data_dir),
                 "--listeners", self.url, "--bootstrap-servers", self.bootstrap, "--pg-port", "0",
                 "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            return httpx.get(f"{self.url}/info", timeout=1).status_code == 200

        try:
            wait_until(ready, timeout_s, "the ksql server to start", 0.1)
        except AssertionError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""

    def ksql(self, sql: str, properties: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        r = httpx.post(f"{self.url}/ksql", json={"ksql": sql, "streamsProperties": properties or {}}, timeout=60)
        assert r.status_code == 200, f"{sql}\n-> {r.status_code} {r.text}"
        out: list[dict[str, Any]] = r.json()
        return out

    def pull(self, sql: str) -> tuple[str, list[list[Any]]]:
        """A pull query on ``/query``: (header schema, rows)."""
        r = httpx.post(f"{self.url}/query", json={"ksql": sql}, timeout=30)
        assert r.status_code == 200, f"{sql}\n-> {r.status_code} {r.text}"
        elements = json.loads(r.content, parse_float=Decimal)  # DECIMAL values exactly as sent
        header = elements[0]["header"]["schema"]
        return header, [e["row"]["columns"] for e in elements[1:] if "row" in e]


# -- the push query, through curl ---------------------------------------------------------------------
@dataclass
class PushRow:
    at: float  # time.time() when the line arrived
    columns: list[Any]
    tombstone: bool


class PushRecorder:
    """``curl -N -X POST <server>/query`` with a push query, kept open; every row is recorded with
    its arrival time (curl's output, line by line, as a user would see it)."""

    def __init__(self, server_url: str, sql: str) -> None:
        self.url = f"{server_url}/query"
        self.sql = sql
        self.header: dict[str, Any] | None = None
        self.rows: list[PushRow] = []
        self.errors: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name="push-recorder", daemon=True)
        self._lock = threading.Lock()

    def start(self, timeout_s: float = 30) -> PushRecorder:
        curl = shutil.which("curl")
        assert curl, "curl is needed for the push query (apt-get install curl)"
        body = orjson.dumps({"ksql": self.sql}).decode()
        self._proc = subprocess.Popen(
            [curl, "-sS", "-N", "-X", "POST", self.url, "-H", "Content-Type: application/vnd.ksql.v1+json",
             "-d", body], stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        self._thread.start()
        wait_until(lambda: self.header is not None or self.errors, timeout_s, "the push query header", 0.05)
        assert self.header is not None, self.errors
        return self

    def _run(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            at = time.time()
            line = raw.strip().lstrip(b"[").rstrip(b",]").strip()
            if not line:
                continue
            try:
                element = json.loads(line, parse_float=Decimal)
            except ValueError:
                self.errors.append(raw.decode(errors="replace"))
                continue
            if "header" in element:
                self.header = element["header"]
            elif "row" in element:
                row = element["row"]
                with self._lock:
                    self.rows.append(PushRow(at, row["columns"], bool(row.get("tombstone"))))
            else:
                self.errors.append(line.decode(errors="replace"))

    def snapshot(self) -> list[PushRow]:
        with self._lock:
            return list(self.rows)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        self._thread.join(10)


def replay(rows: list[PushRow], key_columns: int = 1) -> dict[Any, list[Any]]:
    """A table's change rows -> its latest state: the last row per key, tombstones removing."""
    state: dict[Any, list[Any]] = {}
    for r in rows:
        key = r.columns[0] if key_columns == 1 else tuple(r.columns[:key_columns])
        if r.tombstone:
            state.pop(key, None)
        else:
            state[key] = r.columns
    return state


def board_diff(got: Leaderboard, want: Leaderboard, limit: int = 10) -> str:
    """The keys on which two leaderboards differ, as ``key: got != want`` lines."""
    bad = [k for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)]
    lines = [f"{k}: {got.get(k)} != {want.get(k)}" for k in bad[:limit]]
    return f"{len(bad)} keys differ (got != want):\n" + "\n".join(lines)


def iter_percentiles(values: list[float], points: tuple[float, ...] = (50, 90, 99)) -> Iterator[tuple[float, float]]:
    s = sorted(values)
    for p in points:
        yield p, s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] if s else float("nan")
