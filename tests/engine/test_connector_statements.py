"""Connector statements parse with Connect's case-sensitive config names and fail clearly without Connect."""

from __future__ import annotations

import asyncio

import pytest
from testlib import free_port

from ksql.dialect import nodes, parse
from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.errors import KsqlStatementException
from ksql.topics.embedded import EmbeddedLog


def test_create_connector_keeps_config_names_as_written() -> None:
    (stmt,) = parse("CREATE SOURCE CONNECTOR IF NOT EXISTS pg WITH ('connector.class'="
                    "'io.debezium.connector.postgresql.PostgresConnector', 'tasks.max'=1, 'plugin.name'='pgoutput');")
    assert isinstance(stmt, nodes.CreateConnector)
    assert (stmt.kind, stmt.name, stmt.if_not_exists) == ("SOURCE", "PG", True)
    assert stmt.properties == {"connector.class": "io.debezium.connector.postgresql.PostgresConnector",
                               "tasks.max": 1, "plugin.name": "pgoutput"}
    (drop,) = parse("DROP CONNECTOR IF EXISTS `pg`;")
    assert isinstance(drop, nodes.DropConnector) and drop.name == "pg" and drop.if_exists


@pytest.mark.parametrize("sql", ["SHOW CONNECTORS;", "DESCRIBE CONNECTOR c;", "DROP CONNECTOR c;",
                                 "CREATE SINK CONNECTOR c WITH ('connector.class'='x');"])
def test_unreachable_connect_is_a_statement_error(sql: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    async def scenario() -> None:
        engine = KsqlEngine(EmbeddedLog(None), Config({"ksql.connect.url": url}))
        await engine.start()
        try:
            with pytest.raises(KsqlStatementException, match=f"Could not reach Kafka Connect at {url}"):
                await engine.execute(sql)
        finally:
            await engine.close()

    asyncio.run(scenario())
