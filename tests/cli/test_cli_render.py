"""The shell's pieces without a server: rendering, input rules, completion, the history file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from ksql.cli import commands
from ksql.cli.client import Client, ServerError, _element
from ksql.cli.completion import Catalog, JLineHistory, SqlCompleter
from ksql.cli.render import (
    TabularRows,
    entity_text,
    jackson_json,
    java_str,
    schema_columns,
    unreachable_server_block,
)
from ksql.cli.shell import UnsupportedServer, input_complete, statement_complete, version_warning


def test_listing_table_is_padded_framed_and_sorted() -> None:
    e = {"@type": "streams", "statementText": "SHOW STREAMS;", "warnings": [{"message": "careful"}], "streams": [
        {"name": "PAGEVIEWS", "topic": "pageviews", "keyFormat": "KAFKA", "valueFormat": "JSON", "isWindowed": False},
        {"name": "CLICKS", "topic": "c", "keyFormat": "KAFKA", "valueFormat": "AVRO", "isWindowed": True}]}
    assert entity_text(e, 120) == "\n".join([
        " Stream Name | Kafka Topic | Key Format | Value Format | Windowed ",
        "------------------------------------------------------------------",
        " CLICKS      | c           | KAFKA      | AVRO         | true     ",
        " PAGEVIEWS   | pageviews   | KAFKA      | JSON         | false    ",
        "------------------------------------------------------------------",
        "WARNING: careful"])
    assert entity_text(e, 20).splitlines()[1] == "-" * 20


def test_describe_page() -> None:
    string = {"type": "STRING", "fields": None, "memberSchema": None}
    src = {"name": "T", "type": "TABLE", "windowType": "TUMBLING", "extended": False, "fields": [
        {"name": "K", "schema": string, "type": "KEY"},
        {"name": "A", "schema": {"type": "ARRAY", "fields": None, "memberSchema": string}},
        {"name": "M", "schema": {"type": "MAP", "fields": None, "memberSchema": {"type": "BIGINT"}}},
        {"name": "S", "schema": {"type": "STRUCT", "memberSchema": None, "fields": [
            {"name": "D", "schema": {"type": "DECIMAL", "parameters": {"precision": 4, "scale": 2}}}]}}]}
    assert entity_text({"@type": "sourceDescription", "sourceDescription": src}, 120) == "\n".join([
        "Name                 : T",
        " Field | Type                                                   ",
        "----------------------------------------------------------------",
        " K     | VARCHAR(STRING)  (primary key) (Window type: TUMBLING) ",
        " A     | ARRAY<VARCHAR(STRING)>                                 ",
        " M     | MAP<STRING, BIGINT>                                    ",
        " S     | STRUCT<D DECIMAL(4, 2)>                                ",
        "----------------------------------------------------------------",
        "For runtime statistics and query details run: DESCRIBE <Stream,Table> EXTENDED;"])


def test_command_status_and_queries() -> None:
    status = {"@type": "currentStatus", "commandStatus": {"status": "SUCCESS", "message": "Created query with ID X\nmore"}}
    assert entity_text(status, 80).splitlines()[2] == " Created query with ID X "
    queries = {"@type": "queries", "queries": [{"id": "CSAS_S_1", "queryType": "PERSISTENT",
                                                 "statusCount": {"ERROR": 1, "RUNNING": 2}, "sinks": ["S"],
                                                 "sinkKafkaTopics": ["s"], "queryString": "CREATE STREAM S\nAS SELECT 1;"}]}
    lines = entity_text(queries, 200).splitlines()
    assert [c.strip() for c in lines[2].split("|")] == [
        "CSAS_S_1", "PERSISTENT", "RUNNING:2,ERROR:1", "S", "s", "CREATE STREAM S AS SELECT 1;"]
    assert lines[-1] == "For detailed information on a Query run: EXPLAIN <Query ID>;"


def test_query_rows_wrap_or_clip() -> None:
    rows = TabularRows(2, 34)
    assert rows.header(["ID", "A_LONG_COLUMN_NAME_HERE"]) == "\n".join([
        "+---------------+---------------+", "|ID             |A_LONG_COLUMN_N|",
        "|               |AME_HERE       |", "+---------------+---------------+"])
    assert rows.row([1, {"A": [1, None], "B": Decimal("1.50")}]) == "|1              |{A=[1, null], B|\n|               |=1.50}         |"
    assert rows.row([None, "x"], tombstone=True) == "|<TOMBSTONE>    |x              |"
    clipped = TabularRows(2, 80, wrap=False, column_width=6)
    assert clipped.row(["abcdefgh", "abcdef"]) == "|abc...|abcdef|"
    assert TabularRows(9, 20).cell == 5


def test_java_strings_and_jackson_json() -> None:
    assert java_str([True, None, "a", {"k": []}]) == "[true, null, a, {k=[]}]"
    assert jackson_json([{"a": 1, "b": [], "c": {}, "d": [{"x": Decimal("1.0")}], "e": "é\n"}]) == "\n".join([
        "[ {", '  "a" : 1,', '  "b" : [ ],', '  "c" : { },', '  "d" : [ {', '    "x" : 1.0', "  } ],",
        '  "e" : "é\\n"', "} ]"])


def test_schema_columns() -> None:
    assert schema_columns("`ID` STRING KEY, `S` STRUCT<`A` INTEGER, `B,C` MAP<STRING, DECIMAL(4, 2)>>, `x``y` INTEGER") \
        == ["ID", "S", "x`y"]


def test_query_stream_lines() -> None:
    assert _element('[{"header":{"queryId":"q","schema":"`A` INTEGER"}},') == {
        "header": {"queryId": "q", "schema": "`A` INTEGER"}}
    assert _element('{"row":{"columns":[[1.50]]}}]') == {"row": {"columns": [[Decimal("1.50")]]}}
    assert _element("]") is None and _element("") is None


def test_unreachable_server_block() -> None:
    lines = unreachable_server_block("http://localhost:8088", "Error issuing GET").splitlines()
    assert lines[1] == "*" * 37 + "ERROR" + "*" * 38
    assert lines[2:4] == ["Remote server at http://localhost:8088 does not appear to be a valid KSQL",
                          "server. Please ensure that the URL provided is for an active KSQL server."]
    assert lines[-1] == "*" * 80


def test_when_input_is_complete() -> None:
    assert statement_complete("SHOW STREAMS;")
    assert statement_complete("SHOW STREAMS; -- done\n")
    assert not statement_complete("SELECT 'a;")
    assert not statement_complete("SELECT 1 /* ; */")
    assert not statement_complete("SHOW\nSTREAMS")
    assert input_complete("") and input_complete("  -- just a comment")
    assert input_complete("HELP") and input_complete("run script 'x.sql'") and input_complete("exit;")
    assert not input_complete("SELECT *")


def test_command_lookup() -> None:
    found = commands.find("RUN SCRIPT 'my file.sql';")
    assert found is not None and found[0].name == "run script" and found[1] == ["my file.sql"]
    found = commands.find("set cli wrap OFF")
    assert found is not None and found[1] == ["wrap", "OFF"]
    assert commands.find("SET 'a'='b';") is None and commands.find("SELECT 1;") is None


def test_version_check() -> None:
    assert version_warning("7.9.0", "7.9.1") == ""
    assert "don't match" in version_warning("7.9.0", "0.29.0")
    assert "Could not identify server version" in version_warning("7.9.0", "<unknown>")
    with pytest.raises(UnsupportedServer):
        version_warning("7.9.0", "5.4.0")


def test_history_file_uses_the_java_cli_format(tmp_path: Path) -> None:
    path = tmp_path / ".ksql-history"
    path.write_text("1700000000000:SHOW\\nSTREAMS;\nlegacy line\n")
    history = JLineHistory(path)
    assert list(history.load_history_strings()) == ["legacy line", "SHOW\nSTREAMS;"]
    history.append_string("a\\b\nc")
    history.append_string("a\\b\nc")
    stored = path.read_text().splitlines()
    assert len(stored) == 3 and stored[2].split(":", 1)[1] == "a\\\\b\\nc"


def test_completion_offers_names_from_the_server() -> None:
    requests: list[str] = []

    def fetch(sql: str) -> list[dict[str, object]]:
        requests.append(sql)
        return [{"sourceDescriptions": [{"name": "PAGEVIEWS", "fields": [{"name": "USER_ID"}]},
                                        {"name": "PAGES", "fields": [{"name": "URL"}]}]},
                {"functions": [{"name": "UCASE"}]}]

    completer = SqlCompleter(Catalog(fetch), ["help", "history"])

    def complete(text: str, cursor: int | None = None) -> list[str]:
        doc = Document(text, len(text) if cursor is None else cursor)
        return [c.text for c in completer.get_completions(doc, CompleteEvent(completion_requested=True))]

    assert complete("SELECT * FROM PAGE") == ["PAGES", "PAGEVIEWS"]
    assert complete("SELECT U") == ["URL", "USER_ID", "UNDEFINE", "UNSET", "UCASE"]
    assert complete("SELECT U FROM PAGEVIEWS", cursor=8) == ["USER_ID", "UNDEFINE", "UNSET", "UCASE"]
    assert complete("SELECT us") == ["USER_ID"]
    assert complete("sel") == ["select"]
    assert complete("hi") == ["history"]
    assert len(requests) == 1
    completer.catalog.stale = True
    complete("DESCRIBE P")
    assert len(requests) == 2


def test_credentials_go_with_every_request() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        if request.url.path == "/ksql":
            return httpx.Response(401, json={"@type": "generic_error", "error_code": 40100, "message": "Unauthorized"})
        return httpx.Response(200, json={"KsqlServerInfo": {"version": "7.9.0", "serverStatus": "RUNNING"}})

    basic = Client("http://ksql:8088", auth=("me", "pw"), transport=httpx.MockTransport(handler))
    assert basic.info()["serverStatus"] == "RUNNING"
    with pytest.raises(ServerError) as err:
        basic.ksql("SHOW STREAMS;", {}, {})
    assert (err.value.error_code, err.value.message) == (40100, "Unauthorized")
    Client("http://ksql:8088", token="tok", transport=httpx.MockTransport(handler)).info()
    assert seen == ["Basic bWU6cHc=", "Basic bWU6cHc=", "Bearer tok"]
