"""The CDC leaderboard on the embedded backend: Debezium change events for ``players`` and
``player_scores`` (as PostgreSQL would produce them for a random mix of changes) -> DEBEZIUM tables
-> SUM per player -> LEFT JOIN from players -> push query, pull query and sink topic, each compared
with the aggregate computed directly. The real-services version is test_leaderboard_e2e.py."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import orjson
import pytest

from ksql.dialect import nodes, parse, parse_expression
from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.engine.transient import QueryStream, ResultRow, TransientQueries
from ksql.expressions.compiler import ExpressionCompiler, Scope
from ksql.formats import get_format
from ksql.sqltypes import INTEGER, decimal
from ksql.topics.base import Record
from ksql.topics.embedded import EmbeddedLog

PLAYERS, SCORES = "pg.public.players", "pg.public.player_scores"
STATEMENTS = [
    f"CREATE TABLE PLAYERS (ID INT PRIMARY KEY, NAME STRING) WITH (KAFKA_TOPIC='{PLAYERS}', FORMAT='DEBEZIUM');",
    "CREATE TABLE PLAYER_SCORES (ID INT PRIMARY KEY, SCORE DECIMAL(10,2), PLAYER_ID INT) "
    f"WITH (KAFKA_TOPIC='{SCORES}', FORMAT='DEBEZIUM');",
    "CREATE TABLE SCORE_TOTALS AS SELECT PLAYER_ID, SUM(SCORE) AS TOTAL FROM PLAYER_SCORES GROUP BY PLAYER_ID;",
    "CREATE TABLE PLAYER_TOTAL_SCORES WITH (KAFKA_TOPIC='board', FORMAT='DEBEZIUM') AS "
    "SELECT P.ID AS ID, P.NAME AS NAME, COALESCE(T.TOTAL, 0) AS TOTAL_SCORE "
    "FROM PLAYERS P LEFT JOIN SCORE_TOTALS T ON P.ID = T.PLAYER_ID;",
]

Event = tuple[str, int, bytes | None]  # topic, primary key, value (None: Kafka tombstone)


def _change(op: str, after: dict[str, Any] | None) -> bytes:
    # REPLICA IDENTITY DEFAULT: no `before` on updates, only the key on deletes
    return orjson.dumps({"before": None, "after": after, "op": op, "ts_ms": 1,
                         "source": {"connector": "postgresql", "snapshot": "false"}})


class Database:
    """The two PostgreSQL tables and the change events a transaction on them yields."""

    def __init__(self) -> None:
        self.players: dict[int, str] = {}
        self.scores: dict[int, tuple[Decimal, int]] = {}
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _delete(self, topic: str, key: int) -> list[Event]:
        return [(topic, key, _change("d", None)), (topic, key, None)]  # the op:"d" event, then a tombstone

    def random_change(self, rnd: random.Random) -> list[Event]:
        kind = rnd.choice(["player", "score", "score", "score", "raise", "lower", "rename", "move",
                           "del_score", "del_player"])
        if kind == "player" or not self.players:
            pid = self._id()
            self.players[pid] = f"player {pid}"
            return [(PLAYERS, pid, _change("c", {"id": pid, "name": self.players[pid]}))]
        if kind == "rename":
            pid = rnd.choice(list(self.players))
            self.players[pid] = f"{self.players[pid].split('#')[0]}#{rnd.randrange(1000)}"
            return [(PLAYERS, pid, _change("u", {"id": pid, "name": self.players[pid]}))]
        if kind == "del_player":
            pid = rnd.choice(list(self.players))
            del self.players[pid]
            events = self._delete(PLAYERS, pid)
            for sid in [s for s, (_, p) in self.scores.items() if p == pid]:  # ON DELETE CASCADE
                del self.scores[sid]
                events += self._delete(SCORES, sid)
            return events
        if kind == "score" or not self.scores:
            sid = self._id()
            self.scores[sid] = (Decimal(rnd.randrange(-500, 10_000)).scaleb(-2), rnd.choice(list(self.players)))
        elif kind == "del_score":
            sid = rnd.choice(list(self.scores))
            del self.scores[sid]
            return self._delete(SCORES, sid)
        else:
            sid = rnd.choice(list(self.scores))
            score, pid = self.scores[sid]
            if kind == "raise":
                score += Decimal(rnd.randrange(1, 500)).scaleb(-2)
            elif kind == "lower":
                score -= Decimal(rnd.randrange(1, 500)).scaleb(-2)
            else:
                pid = rnd.choice(list(self.players))
            self.scores[sid] = (score, pid)
        score, pid = self.scores[sid]
        return [(SCORES, sid, _change("c" if kind == "score" else "u",
                                      {"id": sid, "score": str(score), "player_id": pid}))]

    def leaderboard(self) -> dict[int, list[Any]]:
        totals: dict[int, Decimal] = {}
        for score, pid in self.scores.values():
            totals[pid] = totals.get(pid, Decimal("0.00")) + score
        return {pid: [pid, name, totals.get(pid, Decimal("0.00"))] for pid, name in self.players.items()}


def _select(sql: str) -> nodes.QueryStatement:
    (stmt,) = parse(sql)
    assert isinstance(stmt, nodes.QueryStatement)
    return stmt


async def _taken(stream: QueryStream) -> list[ResultRow]:
    """The rows the push query has delivered so far, without waiting for more."""
    rows = []
    while stream.buffered:
        for ev in await stream.next_batch():
            assert isinstance(ev, ResultRow), ev
            rows.append(ev)
    return rows


@pytest.mark.parametrize("cache", [0, 10_000_000])
def test_leaderboard_follows_a_random_mix_of_changes(cache: int) -> None:
    rnd = random.Random(cache + 7)
    db = Database()

    async def go() -> None:
        engine = KsqlEngine(EmbeddedLog(None), Config({"ksql.streams.cache.max.bytes.buffering": cache}),
                            persist_commands=False)
        try:
            for topic in (PLAYERS, SCORES):
                await engine.backend.create_topic(topic, 1)
            for stmt in STATEMENTS:
                await engine.execute(stmt)
            transient = TransientQueries(engine)
            push = await transient.start(_select("SELECT * FROM PLAYER_TOTAL_SCORES EMIT CHANGES;"))
            rows: list[ResultRow] = []
            for i in range(600):
                events = db.random_change(rnd)
                for topic, key, value in events:
                    await engine.backend.produce(topic, [Record(orjson.dumps({"id": key}), value, 1000 + i)])
                if rnd.random() < 0.3:  # sometimes several transactions reach the engine at once
                    await engine.run_until_idle()
                    rows += await _taken(push)
            newcomer = db._id()  # a player without scores: 0.00
            db.players[newcomer] = "newcomer"
            await engine.backend.produce(PLAYERS, [Record(orjson.dumps({"id": newcomer}),
                                                          _change("c", {"id": newcomer, "name": "newcomer"}), 5000)])
            await engine.run_until_idle()
            rows += await _taken(push)
            expected = db.leaderboard()

            replayed: dict[int, list[Any]] = {}
            for row in rows:
                if row.tombstone:
                    replayed.pop(row.columns[0], None)
                else:
                    replayed[row.columns[0]] = row.columns
            assert replayed == expected
            # COALESCE(DECIMAL(10,2), 0) keeps the scale: a player without scores has 0.00, not 0
            assert {str(r[2].as_tuple().exponent) for r in replayed.values()} == {"-2"}

            pull = await transient.start(_select("SELECT * FROM PLAYER_TOTAL_SCORES;"))
            pulled = {ev.columns[0]: ev.columns async for ev in pull.events() if isinstance(ev, ResultRow)}
            assert pulled == expected

            key_serde = get_format("DEBEZIUM").serde([("ID", INTEGER)], is_key=True, topic="board")
            sink: dict[int, Any] = {}
            for rec in await engine.backend.read("board", 0, 0, 1_000_000):
                decoded = key_serde.deserialize(rec.key)
                assert decoded is not None
                (pid,) = decoded
                if rec.value is None:
                    sink.pop(pid, None)
                else:
                    payload = orjson.loads(rec.value)["payload"]
                    sink[pid] = [pid, payload["NAME"], Decimal(str(payload["TOTAL_SCORE"])).quantize(Decimal("0.01"))]
            assert sink == expected
            await push.close()
        finally:
            await engine.close()

    asyncio.run(go())


@pytest.mark.parametrize("text", ["COALESCE(TOTAL, 0)", "IFNULL(TOTAL, 0)", "COALESCE(TOTAL, N)",
                                  "CASE WHEN TOTAL IS NULL THEN 0 ELSE TOTAL END"])
def test_an_integer_in_a_decimal_expression_takes_the_decimal_scale(text: str) -> None:
    # COALESCE(DECIMAL(10,2), 0) was the integer 0 on push queries (the serializer rescaled the sink's
    # copy): a player without scores showed 0 instead of 0.00
    scope = Scope({"TOTAL": decimal(10, 2), "N": INTEGER})
    compiled = ExpressionCompiler(scope).compile(parse_expression(text))
    got = compiled.fn({"TOTAL": None, "N": 0})
    assert got == 0 and got.as_tuple().exponent == -2
    assert compiled.fn({"TOTAL": Decimal("1.50"), "N": 0}) == Decimal("1.50")
