"""Real PostgreSQL drivers against the pgwire listener: psycopg2, psycopg 3 (sync and async) and
asyncpg, running their usual calls unchanged."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import asyncpg
import psycopg
import psycopg2
import psycopg2.pool
import pytest

from tests.pgwire.conftest import EVENTS, PAGES, USERS, PgLive


def expected_activity(k: int) -> tuple[str, int, str, Decimal]:
    events = [i for i in range(EVENTS) if i % USERS == k]
    return (f"u{k}", len(events), f"/p{events[-1] % PAGES}", sum((Decimal(f"{i}.25") for i in events), Decimal()))


def expected_dashboard() -> list[tuple[str, int, int]]:
    out = []
    for j in range(PAGES):
        events = [i for i in range(EVENTS) if i % PAGES == j]
        out.append((f"/p{j}", len(events), sum(i * 10 for i in events)))
    return out


def pageview(i: int) -> tuple[Any, ...]:
    return (f"u{i % USERS}", f"/p{i % PAGES}", i * 10, Decimal(f"{i}.25"), i % 2 == 0, i / 4,
            dt.datetime(2024, 1, 1 + i % 9, 10, 0, 0, 250_000), dt.date(2024, 2, 1 + i % 9),
            dt.time(12, 34, 56, i * 1000), bytes.fromhex(f"0{i % 10}ff"), [f"a{i}", "b"], {"k": i})


# -- psycopg2 -------------------------------------------------------------------------------------
def test_psycopg2_threaded_pool_runs_queries_unchanged(pgserver: PgLive) -> None:
    pool = psycopg2.pool.ThreadedConnectionPool(2, 8, pgserver.dsn)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for _ in range(3):
                conn = pool.getconn()
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT * FROM dashboard_metrics")
                        assert sorted(cur.fetchall()) == expected_dashboard()
                        assert [d.name for d in cur.description] == ["page", "hits", "total_ms"]
                        cur.execute("SELECT * FROM user_activity WHERE user_id = %s", (f"u{k}",))
                        assert cur.fetchall() == [expected_activity(k)]
                    conn.commit()
                finally:
                    pool.putconn(conn)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k % USERS,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    pool.closeall()
    assert not errors, errors


def test_psycopg2_types_named_cursor_and_errors(pgserver: PgLive) -> None:
    conn = psycopg2.connect(pgserver.dsn)
    try:
        cur = conn.cursor()
        cur.execute("SELECT * FROM pageviews WHERE user_id = %s AND ms = %s", ("u3", 80))
        (row,) = cur.fetchall()
        assert row[:9] + (bytes(row[9]),) + row[10:] == pageview(8)  # psycopg2 reads bytea as a memoryview
        cur.execute("SELECT * FROM pageviews WHERE ts = %s", (dt.datetime(2024, 1, 2, 10, 0, 0, 250_000),))
        assert sorted(r[2] for r in cur.fetchall()) == [10, 100, 190]
        with pytest.raises(psycopg2.errors.UndefinedTable):
            cur.execute("SELECT * FROM no_such_table")
        conn.rollback()
        named = conn.cursor(name="big")
        named.itersize = 4
        named.execute("SELECT * FROM pageviews WHERE ms >= %s", (50,))
        assert len(list(named)) == EVENTS - 5
        named.close()
        conn.commit()
    finally:
        conn.close()


# -- psycopg 3 -----------------------------------------------------------------------------------
def test_psycopg3_parameters_prepared_and_binary(pgserver: PgLive) -> None:
    with psycopg.connect(pgserver.dsn, autocommit=True) as conn:
        assert conn.execute("SELECT * FROM user_activity WHERE user_id = %s", ("u2",)).fetchall() == [
            expected_activity(2)]
        assert len(conn.execute("SELECT * FROM user_activity WHERE views >= %s", (4,)).fetchall()) == USERS
        for k in range(USERS):  # server-side prepared statement, reused
            rows = conn.execute("SELECT * FROM user_activity WHERE user_id = %s", (f"u{k}",), prepare=True)
            assert rows.fetchall() == [expected_activity(k)]
        for binary in (False, True):
            cur = conn.execute("SELECT * FROM pageviews WHERE user_id = %s AND ms = %s", ("u1", 110), binary=binary)
            assert cur.fetchall() == [pageview(11)]
        cur = conn.execute("SELECT * FROM pageviews LIMIT 1")
        assert cur.description is not None
        assert [(d.name, d.type_code) for d in cur.description] == [
            ("user_id", 25), ("page", 25), ("ms", 20), ("amount", 1700), ("ok", 16), ("score", 701),
            ("ts", 1114), ("d", 1082), ("t", 1083), ("b", 17), ("tags", 3802), ("attrs", 3802)]
        with conn.transaction(), conn.cursor(name="server_side") as sc:
            sc.execute("SELECT * FROM pageviews WHERE page = %s", ("/p0",))
            assert len(sc.fetchmany(3)) == 3
            assert len(sc.fetchall()) == 4


def test_psycopg3_async(pgserver: PgLive) -> None:
    async def main() -> list[Any]:
        async with await psycopg.AsyncConnection.connect(pgserver.dsn) as conn:
            cur = await conn.execute("SELECT * FROM dashboard_metrics WHERE page = %s", ("/p2",))
            first = await cur.fetchall()
            cur = await conn.execute("SELECT hits FROM dashboard_metrics WHERE page = %s", ("/p1",), prepare=True)
            return [first, await cur.fetchall()]

    first, second = asyncio.run(main())
    assert first == [expected_dashboard()[2]]
    assert second == [(expected_dashboard()[1][1],)]


# -- asyncpg -------------------------------------------------------------------------------------
def test_asyncpg_fetch_fetchrow_prepared_cursor_pool(pgserver: PgLive) -> None:
    async def main() -> None:
        conn = await asyncpg.connect(pgserver.url)
        try:
            rows = await conn.fetch("SELECT * FROM user_activity")
            assert sorted(tuple(r) for r in rows) == [expected_activity(k) for k in range(USERS)]
            row = await conn.fetchrow("SELECT * FROM user_activity WHERE user_id = $1", "u4")
            assert tuple(row) == expected_activity(4) and row["last_page"] == expected_activity(4)[2]
            stmt = await conn.prepare("SELECT * FROM pageviews WHERE user_id = $1 AND ms = $2")
            assert [t.name for t in stmt.get_parameters()] == ["text", "int8"]
            got = tuple(await stmt.fetchrow("u0", 50))
            # asyncpg hands jsonb over as JSON text
            assert got[:10] == pageview(5)[:10] and got[10:] == ('["a5","b"]', '{"k":5}')
            async with conn.transaction():
                seen = [r["ms"] async for r in conn.cursor("SELECT * FROM pageviews WHERE ms > $1", 100, prefetch=3)]
                assert sorted(seen) == [i * 10 for i in range(11, EVENTS)]
            assert await conn.fetchval("SELECT count(*) FROM pg_catalog.pg_class WHERE relname = $1",
                                       "pageviews") == 1
            # a custom codec makes asyncpg introspect pg_type (its recursive type query)
            await conn.set_type_codec("jsonb", encoder=str, decoder=lambda s: f"json:{s}", schema="pg_catalog")
            assert await conn.fetchval("SELECT attrs FROM pageviews WHERE user_id = $1 AND ms = $2", "u1",
                                       10) == 'json:{"k":1}'
        finally:
            await conn.close()
        async with asyncpg.create_pool(pgserver.url, min_size=2, max_size=4) as pool:
            for k in range(USERS):  # release runs asyncpg's reset query each time
                async with pool.acquire() as c:
                    assert tuple(await c.fetchrow("SELECT * FROM user_activity WHERE user_id = $1",
                                                  f"u{k}")) == expected_activity(k)

    asyncio.run(main())


def test_same_rows_as_http_query(pgserver: PgLive) -> None:
    """The pgwire path and /query run the same pull query through the same engine path."""
    http_rows = sorted(tuple(r) for r in pgserver.query("SELECT * FROM USER_ACTIVITY WHERE VIEWS > 1;"))
    with psycopg.connect(pgserver.dsn) as conn:
        pg_rows = sorted(conn.execute("SELECT * FROM user_activity WHERE views > 1").fetchall())
    assert [(u, v, p, float(t)) for u, v, p, t in pg_rows] == [(u, v, p, float(t)) for u, v, p, t in http_rows]
