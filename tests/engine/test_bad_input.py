"""Bad statements get errors; bad records are skipped, logged, and the query keeps running."""

from __future__ import annotations

import asyncio

import pytest

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.errors import KsqlStatementException, ParseFailedException
from ksql.topics.base import Record
from ksql.topics.embedded import EmbeddedLog

CONFIG = {"ksql.streams.auto.offset.reset": "earliest", "ksql.streams.cache.max.bytes.buffering": 0}


def test_undecodable_records_go_to_the_processing_log_and_processing_continues() -> None:
    async def scenario() -> None:
        engine = KsqlEngine(EmbeddedLog(None), Config(CONFIG), persist_commands=False)
        await engine.execute(
            "CREATE STREAM S (ID INT KEY, V INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE STREAM DOUBLED AS SELECT ID, V * 2 AS V2 FROM S;"
        )
        await engine.backend.produce("s", [
            Record(b"\x00\x00\x00\x01", b'{"V": 1}', 1),
            Record(b"\x00\x00\x00\x02", b"{not json", 2),
            Record(b"\x00\x00\x00\x03", b'{"V": "x"}', 3),
            Record(b"\x00\x00\x00\x04", b'{"V": 4}', 4),
        ])
        await engine.run_until_idle()
        out = await engine.backend.read("DOUBLED", 0, 0)
        assert [r.value for r in out] == [b'{"V2":2}', b'{"V2":8}']
        errors = [e for e in engine.processing_log if e.type == 0]
        assert len(errors) == 2 and all("Failed to deserialize value from topic: s" in e.message for e in errors)

    asyncio.run(scenario())


@pytest.mark.parametrize("sql, kind, text", [
    ("CREATE STREAM oops WITH (;", ParseFailedException, "line 1:"),
    ("SELEC * FROM X;", ParseFailedException, "line 1:1"),
    ("CREATE STREAM T2 AS SELECT * FROM MISSING;", KsqlStatementException, "MISSING does not exist"),
    ("DROP STREAM NOPE;", KsqlStatementException, "Stream NOPE does not exist."),
])
def test_bad_statements_raise_errors_with_their_text(sql: str, kind: type[Exception], text: str) -> None:
    async def scenario() -> None:
        engine = KsqlEngine(EmbeddedLog(None), Config(CONFIG), persist_commands=False)
        with pytest.raises(kind) as info:
            await engine.execute(sql)
        assert text in str(info.value)
        # the engine still works afterwards
        await engine.execute("CREATE STREAM OK1 (V INT) WITH (KAFKA_TOPIC='ok', VALUE_FORMAT='JSON', PARTITIONS=1);")
        assert "OK1" in engine.metastore.sources

    asyncio.run(scenario())
