"""A real server for PostgreSQL-protocol tests: the REST app on uvicorn and the pgwire listener in
one event loop in a thread (as ``ksql-server`` runs them), over an embedded log in a temporary
directory, with a few streams and tables already filled."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from testlib import eventually, free_port

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.topics.embedded import EmbeddedLog
from rest.app import create_app
from rest.pgwire import PgServer, PgSettings, serve

EARLIEST = {"auto.offset.reset": "earliest"}


@dataclass
class PgLive:
    http: httpx.Client
    pg: PgServer
    engine: KsqlEngine
    loop: asyncio.AbstractEventLoop

    @property
    def port(self) -> int:
        return self.pg.port

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=tester dbname=ksql"

    @property
    def url(self) -> str:
        return f"postgresql://tester@127.0.0.1:{self.port}/ksql"

    def ksql(self, sql: str) -> list[dict[str, Any]]:
        r = self.http.post("/ksql", json={"ksql": sql, "streamsProperties": EARLIEST})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def query(self, sql: str) -> list[list[Any]]:
        """A pull query over HTTP /query: the rows the REST API returns."""
        r = self.http.post("/query", json={"ksql": sql})
        assert r.status_code == 200, r.text
        return [item["row"]["columns"] for item in r.json() if "row" in item]


def start_server(data: Path, settings: PgSettings) -> tuple[PgLive, Callable[[], None]]:
    engine = KsqlEngine(EmbeddedLog(data / "log"), Config({}))
    app = create_app(engine)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                       timeout_graceful_shutdown=1))
    pg = PgServer(app.state.ksql, settings)
    loops: list[asyncio.AbstractEventLoop] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        loop.run_until_complete(serve(uv.serve(), pg))
        loop.close()

    thread = threading.Thread(target=run, daemon=True, name="pgwire-test-server")
    thread.start()
    eventually(lambda: uv.started and pg.port, timeout=10.0)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15)
    eventually(lambda: http.get("/info").status_code == 200, timeout=10.0)

    def stop() -> None:
        http.close()
        uv.should_exit = True
        thread.join(10)

    return PgLive(http, pg, engine, loops[0]), stop


SCHEMA = [
    "CREATE STREAM PAGEVIEWS (USER_ID STRING KEY, PAGE STRING, MS BIGINT, AMOUNT DECIMAL(10, 2), OK BOOLEAN, "
    "SCORE DOUBLE, TS TIMESTAMP, D DATE, T TIME, B BYTES, TAGS ARRAY<STRING>, ATTRS MAP<STRING, INT>) "
    "WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON', PARTITIONS=2);",
    "CREATE TABLE USER_ACTIVITY AS SELECT USER_ID, COUNT(*) AS VIEWS, LATEST_BY_OFFSET(PAGE) AS LAST_PAGE, "
    "SUM(AMOUNT) AS TOTAL FROM PAGEVIEWS GROUP BY USER_ID;",
    "CREATE TABLE DASHBOARD_METRICS AS SELECT PAGE, COUNT(*) AS HITS, SUM(MS) AS TOTAL_MS FROM PAGEVIEWS "
    "GROUP BY PAGE;",
]
USERS = 5
PAGES = 3
EVENTS = 20


def _inserts() -> str:
    rows = []
    for i in range(EVENTS):
        rows.append(
            "INSERT INTO PAGEVIEWS (USER_ID, PAGE, MS, AMOUNT, OK, SCORE, TS, D, T, B, TAGS, ATTRS) VALUES "
            f"('u{i % USERS}', '/p{i % PAGES}', {i * 10}, {i}.25, {str(i % 2 == 0).upper()}, {i / 4}, "
            f"'2024-01-0{1 + i % 9}T10:00:00.250', '2024-02-0{1 + i % 9}', '12:34:56.{i:03d}', "
            f"TO_BYTES('0{i % 10}ff', 'hex'), ARRAY['a{i}', 'b'], MAP('k' := {i}));")
    return " ".join(rows)


@pytest.fixture(scope="session")
def pgserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgLive]:
    """One server for the whole session; tests only read from it."""
    live, stop = start_server(tmp_path_factory.mktemp("pgwire"), PgSettings(host="127.0.0.1", port=0))
    for sql in SCHEMA:
        live.ksql(sql)
    live.ksql(_inserts())
    eventually(lambda: sum(r[1] for r in live.query("SELECT * FROM USER_ACTIVITY;")) == EVENTS, timeout=10.0)
    eventually(lambda: sum(r[1] for r in live.query("SELECT * FROM DASHBOARD_METRICS;")) == EVENTS, timeout=10.0)
    yield live
    stop()
