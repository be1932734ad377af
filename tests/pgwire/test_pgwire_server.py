"""The pgwire listener end to end: psql, errors and recovery, session commands, cancellation,
authentication, many concurrent connections."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import psycopg
import pytest
from psycopg import errors as pgerr

from rest.pgwire import PgServer, PgSettings
from tests.pgwire.conftest import EVENTS, USERS, PgLive, eventually, free_port, start_server

PSQL = shutil.which("psql") or "/usr/bin/psql"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def psql(live: PgLive, *commands: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    args = [PSQL, "-X", "-h", "127.0.0.1", "-p", str(live.port), "-U", "tester", "-d", "ksql", "-v",
            "ON_ERROR_STOP=1"]
    for c in commands:
        args += ["-c", c]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)


# -- psql -----------------------------------------------------------------------------------------
@pytest.mark.skipif(not os.path.exists(PSQL), reason="psql is not installed")
def test_psql_select_dt_and_describe(pgserver: PgLive) -> None:
    out = psql(pgserver, "SELECT * FROM user_activity WHERE user_id = 'u1'", "SELECT 1; SELECT 'two' AS b")
    assert out.returncode == 0, out.stderr
    assert " user_id | views | last_page | total" in out.stdout
    assert " u1      |     4 | /p1       | 35.00" in out.stdout
    assert "?column?" in out.stdout and " two" in out.stdout

    out = psql(pgserver, r"\dt")
    assert out.returncode == 0, out.stderr
    for name in ("dashboard_metrics", "pageviews", "user_activity"):
        assert f" public | {name}" in out.stdout

    out = psql(pgserver, r"\d user_activity")
    assert out.returncode == 0, out.stderr
    assert 'Table "public.user_activity"' in out.stdout
    lines = [line.split("|") for line in out.stdout.splitlines() if line.count("|") >= 4]
    assert [(c[0].strip(), c[1].strip()) for c in lines[1:]] == [
        ("user_id", "text"), ("views", "bigint"), ("last_page", "text"), ("total", "numeric(10,2)")]

    out = psql(pgserver, r"\d+ pageviews", r"\l", r"\dn", r"\du", r"\conninfo")
    assert out.returncode == 0, out.stderr
    assert "timestamp without time zone" in out.stdout and "jsonb" in out.stdout

    out = psql(pgserver, "SELECT * FROM nope")
    assert out.returncode != 0 and 'relation "nope" does not exist' in out.stderr


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sql, error, code", [
    ("SELEC 1", pgerr.SyntaxError, "42601"),
    ("SELECT * FROM user_activity ORDER BY views", pgerr.SyntaxError, "42601"),
    ("SELECT * FROM missing_table", pgerr.UndefinedTable, "42P01"),
    ("SELECT nope FROM user_activity", pgerr.UndefinedColumn, "42703"),
    ("CREATE TABLE t (a INT)", pgerr.FeatureNotSupported, "0A000"),
    ("INSERT INTO pageviews (user_id) VALUES ('x')", pgerr.FeatureNotSupported, "0A000"),
    ("SELECT * FROM pageviews EMIT CHANGES", pgerr.FeatureNotSupported, "0A000"),
    ("SELECT * FROM user_activity WHERE views = 'abc'::int", pgerr.InvalidTextRepresentation, "22P02"),
    ("SET DateStyle = 'SQL, DMY'", pgerr.InvalidParameterValue, "22023"),
    ("SHOW no_such_setting", pgerr.UndefinedObject, "42704"),
])
def test_errors_have_sqlstates_and_the_connection_recovers(pgserver: PgLive, sql: str,
                                                           error: type[Exception], code: str) -> None:
    with psycopg.connect(pgserver.dsn, autocommit=True) as conn:
        with pytest.raises(error) as info:
            conn.execute(sql)
        assert info.value.sqlstate == code  # type: ignore[attr-defined]
        assert conn.execute("SELECT hits FROM dashboard_metrics WHERE page = %s", ("/p0",)).fetchone() == (7,)


def test_parameter_errors_and_failed_transaction(pgserver: PgLive) -> None:
    with psycopg.connect(pgserver.dsn) as conn:
        with pytest.raises(pgerr.InvalidTextRepresentation):
            conn.execute("SELECT * FROM user_activity WHERE views = %s", ("many",))
        conn.rollback()
        with pytest.raises(pgerr.NumericValueOutOfRange):
            conn.execute("SELECT * FROM pageviews WHERE ms = %s::int4", ("99999999999",))
        with pytest.raises(pgerr.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                            ).fetchone() == (3,)


def test_asyncpg_errors_keep_the_connection(pgserver: PgLive) -> None:
    async def main() -> None:
        conn = await asyncpg.connect(pgserver.url)
        try:
            with pytest.raises(asyncpg.exceptions.UndefinedTableError):
                await conn.fetch("SELECT * FROM missing WHERE x = $1", 1)
            with pytest.raises(asyncpg.exceptions.DataError):
                await conn.fetch("SELECT * FROM user_activity WHERE views = $1", "not a number")
            assert await conn.fetchval("SELECT views FROM user_activity WHERE user_id = $1", "u0") == 4
        finally:
            await conn.close()

    asyncio.run(main())


# -- session commands -----------------------------------------------------------------------------
def test_session_settings_and_transactions(pgserver: PgLive) -> None:
    with psycopg.connect(pgserver.dsn, autocommit=True, application_name="pgtest") as conn:
        info = conn.info
        assert info.parameter_status("server_version") == "15.0 (ksql-py)"
        assert info.parameter_status("client_encoding") == "UTF8"
        assert info.parameter_status("DateStyle") == "ISO, MDY"
        assert info.parameter_status("integer_datetimes") == "on"
        assert info.parameter_status("standard_conforming_strings") == "on"
        assert info.parameter_status("TimeZone") == "UTC"
        assert info.server_version == 150000
        conn.execute("SET application_name TO 'renamed'")
        assert info.parameter_status("application_name") == "renamed"
        assert conn.execute("SHOW application_name").fetchone() == ("renamed",)
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("renamed",)
        conn.execute("SET SESSION search_path = public, pg_catalog")
        assert conn.execute("SHOW search_path").fetchone() == ("public, pg_catalog",)
        conn.execute("RESET ALL")
        assert conn.execute("SHOW application_name").fetchone() == ("pgtest",)
        assert conn.execute("SHOW TRANSACTION ISOLATION LEVEL").fetchone() == ("read committed",)
        conn.execute("BEGIN")
        assert info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        conn.execute("SELECT * FROM user_activity")
        conn.execute("COMMIT")
        assert info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        # what PgBouncer sends between clients
        conn.execute("DISCARD ALL")
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL 15.0 (ksql-py)")


# -- cancellation and timeouts ---------------------------------------------------------------------
def test_cancel_request_stops_the_running_statement(pgserver: PgLive) -> None:
    with psycopg.connect(pgserver.dsn, autocommit=True) as conn:
        # cancel_safe: the blocking cancel() would hold the GIL the in-process server needs
        threading.Timer(0.2, conn.cancel_safe).start()
        started = time.monotonic()
        with pytest.raises(pgerr.QueryCanceled) as info:
            conn.execute("SELECT pg_sleep(10)")
        assert time.monotonic() - started < 5
        assert "user request" in str(info.value)
        assert conn.execute("SELECT hits FROM dashboard_metrics WHERE page = '/p2'").fetchone() == (6,)
        conn.execute("SET statement_timeout = '100ms'")
        with pytest.raises(pgerr.QueryCanceled, match="statement timeout"):
            conn.execute("SELECT pg_sleep(10)")
        conn.execute("SET statement_timeout = 0")

    async def asyncpg_timeout() -> int:
        conn = await asyncpg.connect(pgserver.url)
        try:
            with pytest.raises(TimeoutError):  # asyncpg sends a CancelRequest when it gives up waiting
                await conn.fetch("SELECT pg_sleep(10)", timeout=0.2)
            return await conn.fetchval("SELECT hits FROM dashboard_metrics WHERE page = $1", "/p1")  # type: ignore[no-any-return]
        finally:
            await conn.close()

    assert asyncio.run(asyncpg_timeout()) == 7


# -- authentication -------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["md5", "password"])
def password_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgLive]:
    settings = PgSettings(host="127.0.0.1", port=0, password="s3cret", auth_method=request.param)
    live, stop = start_server(tmp_path_factory.mktemp("pgauth"), settings)
    yield live
    stop()


def test_password_authentication(password_server: PgLive) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(password_server.dsn + " password=wrong")
    with psycopg.connect(password_server.dsn + " password=s3cret") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("tester",)

    async def with_asyncpg() -> int:
        conn = await asyncpg.connect(password_server.url, password="s3cret")
        try:
            return await conn.fetchval("SELECT 41 + 1")  # type: ignore[no-any-return]
        finally:
            await conn.close()

    assert asyncio.run(with_asyncpg()) == 42
    if os.path.exists(PSQL):
        assert psql(password_server, "SELECT 1", password="s3cret").returncode == 0


def test_refuses_connections_until_ready(tmp_path: Path) -> None:
    state = SimpleNamespace(ready=False, engine=SimpleNamespace(metastore=SimpleNamespace(sources={})),
                            shutdown_hooks=[])
    server = PgServer(state, PgSettings(host="127.0.0.1", port=0))  # type: ignore[arg-type]

    async def main() -> None:
        await server.start()
        try:
            with pytest.raises(psycopg.OperationalError, match="starting up"):
                await psycopg.AsyncConnection.connect(f"host=127.0.0.1 port={server.port} user=x")
        finally:
            await server.close()

    asyncio.run(main())


# -- concurrency ----------------------------------------------------------------------------------
def test_fifty_concurrent_connections(pgserver: PgLive) -> None:
    async def client(k: int) -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(pgserver.url)
        try:
            out = []
            for _ in range(3):
                row = await conn.fetchrow("SELECT user_id, views FROM user_activity WHERE user_id = $1",
                                          f"u{k % USERS}")
                out.append(tuple(row))
                out.append(tuple(await conn.fetchrow("SELECT count(*) FROM pg_catalog.pg_class")))
            return out
        finally:
            await conn.close()

    async def main() -> list[list[tuple[object, ...]]]:
        return await asyncio.gather(*(client(k) for k in range(50)))

    results = asyncio.run(main())
    for k, rows in enumerate(results):
        assert rows[0] == (f"u{k % USERS}", EVENTS // USERS)
        assert rows[1] == (3,)
    eventually(lambda: not pgserver.pg.sessions, timeout=10.0)


# -- PgBouncer ------------------------------------------------------------------------------------
@pytest.mark.skipif(not os.path.exists(PGBOUNCER), reason="pgbouncer is not installed")
def test_through_pgbouncer_in_transaction_pooling(pgserver: PgLive, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "users.txt").write_text('"tester" ""\n')
    (tmp_path / "pgbouncer.ini").write_text(f"""
[databases]
ksql = host=127.0.0.1 port={pgserver.port} dbname=ksql
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {tmp_path / "users.txt"}
pool_mode = transaction
server_reset_query = DISCARD ALL
ignore_startup_parameters = extra_float_digits
default_pool_size = 3
""")
    as_root = ["-u", "nobody"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    proc = subprocess.Popen([PGBOUNCER, *as_root, str(tmp_path / "pgbouncer.ini")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        eventually(listening, timeout=10.0)
        dsn = f"host=127.0.0.1 port={port} user=tester dbname=ksql"
        for k in range(USERS):
            with psycopg.connect(dsn, prepare_threshold=None) as conn:
                assert conn.execute("SELECT views FROM user_activity WHERE user_id = %s", (f"u{k}",)).fetchone() == (4,)

        async def many() -> list[int]:
            async def one(k: int) -> int:
                conn = await asyncpg.connect(f"postgresql://tester@127.0.0.1:{port}/ksql", statement_cache_size=0)
                try:
                    return await conn.fetchval("SELECT views FROM user_activity WHERE user_id = $1",  # type: ignore[no-any-return]
                                               f"u{k % USERS}")
                finally:
                    await conn.close()

            return await asyncio.gather(*(one(k) for k in range(12)))

        assert asyncio.run(many()) == [EVENTS // USERS] * 12
    finally:
        proc.terminate()
        proc.wait(10)
