"""DDL statements: ALTER, read-only sources, header columns, stream records with null values."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.errors import KsqlStatementException
from ksql.topics.base import Record
from ksql.topics.embedded import EmbeddedLog

CONFIG = {"ksql.streams.auto.offset.reset": "earliest", "ksql.streams.cache.max.bytes.buffering": 0}
SOURCE = "CREATE SOURCE STREAM SRC (K STRING KEY, V INT) WITH (KAFKA_TOPIC='src', VALUE_FORMAT='JSON', PARTITIONS=1);"
PLAIN = "CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"


def run(*statements: str) -> tuple[KsqlEngine, list[Any]]:
    async def scenario() -> tuple[KsqlEngine, list[Any]]:
        engine = KsqlEngine(EmbeddedLog(None), Config(CONFIG), persist_commands=False)
        results = []
        for s in statements:
            results += await engine.execute(s)
        return engine, results

    return asyncio.run(scenario())


@pytest.mark.parametrize("statements, message", [
    ([SOURCE, "INSERT INTO SRC VALUES ('a', 1);"], "Cannot insert values into read-only stream: SRC"),
    ([SOURCE, "DROP STREAM SRC DELETE TOPIC;"], "Cannot delete topic for read-only source: SRC"),
    ([SOURCE, "ALTER STREAM SRC ADD COLUMN X INT;"],
     "Cannot alter stream 'SRC': ALTER operations are not supported on source streams."),
    ([SOURCE.replace("CREATE SOURCE", "CREATE OR REPLACE SOURCE")],
     "Cannot add stream 'SRC': CREATE OR REPLACE is not supported on source streams."),
    ([PLAIN, "ALTER STREAM S ADD COLUMN V STRING;"],
     "Cannot add column `V` to schema. A column with the same name already exists."),
    ([PLAIN, "CREATE STREAM C AS SELECT * FROM S;", "ALTER STREAM C ADD COLUMN X INT;"],
     "ALTER command is not supported for CREATE ... AS statements."),
    (["CREATE STREAM H (K STRING KEY, H1 INT HEADER('k')) WITH (KAFKA_TOPIC='h', VALUE_FORMAT='JSON', PARTITIONS=1);"],
     "Invalid type for HEADER('k') column: expected BYTES, got INTEGER"),
    (["CREATE STREAM H (K STRING KEY, H1 BYTES HEADER('k'), V INT) "
      "WITH (KAFKA_TOPIC='h', VALUE_FORMAT='JSON', PARTITIONS=1);", "INSERT INTO H VALUES ('a', NULL, 1);"],
     "Cannot insert into HEADER columns: H1"),
    ([PLAIN, 'INSERT INTO "s" (K, V) VALUES (\'a\', 1);'],
     'Cannot insert values into an unknown stream/table: `s`\nDid you mean S? Hint: try removing double quotes'),
    (["CREATE STREAM D (V INT) WITH (KAFKA_TOPIC='d', VALUE_FORMAT='DELIMITED', VALUE_DELIMITER='<~>', "
      "PARTITIONS=1);"],
     "Failed to prepare statement: Configuration VALUE_DELIMITER is invalid: Invalid delimiter value: '<~>'."),
])
def test_invalid_ddl_is_rejected(statements: list[str], message: str) -> None:
    with pytest.raises(KsqlStatementException) as info:
        run(*statements)
    assert message in info.value.message


def test_alter_appends_value_columns() -> None:
    engine, results = run(PLAIN, "ALTER STREAM S ADD COLUMN X STRING, ADD COLUMN Y BIGINT;")
    assert [c.name for c in engine.metastore.get_source("S").schema.columns] == ["K", "V", "X", "Y"]
    assert results[-1]["commandStatus"]["status"] == "SUCCESS"


def test_stream_null_values_pass_projections_and_keep_headers() -> None:
    async def scenario() -> None:
        engine = KsqlEngine(EmbeddedLog(None), Config(CONFIG), persist_commands=False)
        await engine.execute(PLAIN + "CREATE STREAM OUT AS SELECT K, V + 1 AS W FROM S;"
                             "CREATE STREAM F AS SELECT * FROM S WHERE V > 0;")
        await engine.backend.produce("s", [
            Record(b"a", b'{"V": 1}', 1, (("h", b"!"),)),
            Record(b"b", None, 2),
        ])
        await engine.run_until_idle()
        out = await engine.backend.read("OUT", 0, 0)
        assert [(r.key, r.value) for r in out] == [(b"a", b'{"W":2}'), (b"b", None)]
        assert out[0].headers == (("h", b"!"),)
        assert [r.key for r in await engine.backend.read("F", 0, 0)] == [b"a"]  # filters drop null values

    asyncio.run(scenario())
