"""The shell's commands and local statements, run in-process against a real server with a scripted
reader in place of the terminal; and the non-interactive ``-e``/``-f`` modes through ``main``."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from ksql.cli import shell as cli
from ksql.cli.client import Client
from ksql.cli.session import Console
from tests.cli.conftest import Server, free_port


class Script:
    """Stands in for the line editor: hands out prepared lines, then Ctrl-D."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = list(lines)
        self.seen: list[str] = []

    def read(self) -> str:
        if not self.lines:
            raise EOFError
        line = self.lines.pop(0)
        self.seen.append(line)
        return line

    def history(self) -> list[str]:
        return list(self.seen)


def run_shell(server: Server, lines: Iterable[str]) -> tuple[cli.Shell, str]:
    out = io.StringIO()
    shell = cli.Shell(Client(server.url), console=Console(out))
    try:
        assert shell.interactive(Script(lines)) == 0
    finally:
        shell.client.close()
    return shell, out.getvalue()


def test_output_and_properties(server: Server) -> None:
    _, out = run_shell(server, [
        "output", "output json;", "SHOW TOPICS;", "output Tabular", "output XML",
        "SET 'ksql.streams.commit.interval.ms'='100';", "SET 'ksql.streams.commit.interval.ms'='200';",
        "SHOW PROPERTIES;", "UNSET 'ksql.streams.commit.interval.ms';", "UNSET 'nope';",
    ])
    assert "Current output format: TABULAR\nOutput format set to JSON\n[ {\n  \"@type\" : \"kafka_topics\"" in out
    assert "Output format set to TABULAR\nInvalid output format: 'XML' (valid formats: [JSON, TABULAR])" in out
    assert ("Successfully changed local property 'ksql.streams.commit.interval.ms' to '100'. Use the UNSET "
            "command to revert your change.\n") in out
    assert "Successfully changed local property 'ksql.streams.commit.interval.ms' from '100' to '200'.\n" in out
    row = next(line for line in out.splitlines() if line.startswith(" ksql.streams.commit.interval.ms "))
    assert [c.strip() for c in row.split("|")] == ["ksql.streams.commit.interval.ms", "KSQL", "SESSION", "200"]
    assert "Successfully unset local property 'ksql.streams.commit.interval.ms' (value was '200')." in out
    assert "Cannot unset local property 'nope' which was never set in the first place" in out
    assert out.endswith("Exiting ksqlDB.\n")


def test_variables_are_local_and_sent_with_statements(server: Server) -> None:
    shell, out = run_shell(server, [
        "DEFINE name = 'VARS_S'; DEFINE Topic = 'vars_s';",
        "CREATE STREAM ${name} (ID INT KEY, V STRING) WITH (kafka_topic='${topic}', value_format='JSON', "
        "partitions=1);",
        "SHOW VARIABLES;", "UNDEFINE name;", "UNDEFINE name;", "list variables;",
    ])
    assert "Stream created" in out
    assert server.ok("DESCRIBE VARS_S;")[0]["sourceDescription"]["topic"] == "vars_s"
    assert ("\n Variable Name | Value  \n------------------------\n Topic         | vars_s \n name          | VARS_S \n"
            "------------------------\n") in out
    assert "Cannot undefine variable 'name' which was never defined." in out
    assert out.count(" Topic         | vars_s ") == 2
    assert shell.last_sequence_number >= 0


def test_spool_history_run_script_and_cli_settings(server: Server, tmp_path: Path) -> None:
    script = tmp_path / "setup.sql"
    script.write_text("CREATE STREAM SCRIPTED (ID INT KEY, V STRING) WITH (kafka_topic='scripted', "
                      "value_format='JSON', partitions=1);\nINSERT INTO SCRIPTED (ID, V) VALUES (1, 'abcdefghijklmno');\n")
    spool = tmp_path / "spool.txt"
    _, out = run_shell(server, [
        f"run script '{script}'", f"spool {spool}", "SHOW STREAMS;", "spool off",
        "set cli COLUMN-WIDTH 8", "set cli WRAP OFF", "SELECT ID, V FROM SCRIPTED;",
        "set cli WRAP ON", "SELECT V FROM SCRIPTED;", "set cli COLOR on",
        "request-pipelining", "request-pipelining ON", "server", "history", "help", "exit", "SHOW STREAMS;",
    ])
    assert "Stream created" in out
    assert f"Session will be spooled to {spool}\nEnter SPOOL OFF to disable\n" in out
    assert f"Spool written to {spool}" in out
    spooled = spool.read_text()
    assert spooled.startswith(f"Session will be spooled to {spool}\nEnter SPOOL OFF to disable\n\nksql> SHOW STREAMS;\n")
    assert " SCRIPTED " in spooled and "spool off" in spooled
    assert "+--------+--------+\n|ID      |V       |\n+--------+--------+\n|1       |abcde...|\n" in out
    assert "|abcdefgh|\n|ijklmno |\n" in out
    assert "Undefined property: COLOR. Valid properties are: [WRAP, COLUMN-WIDTH]" in out
    assert "Current request-pipelining configuration: OFF\nrequest-pipelining configuration is now ON\n" in out
    assert f"\n{server.url}\n" in out
    assert f"   1: run script '{script}'\n   2: spool {spool}\n" in out
    assert "Description:" in out and "set cli <property> <value>:" in out
    assert out.endswith("Exiting ksqlDB.\n")


def test_execute_mode(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main([server.url, "-e", "CREATE STREAM EXEC_S (ID INT KEY, V STRING) WITH (kafka_topic='exec_s', "
                   "value_format='JSON', partitions=1); INSERT INTO EXEC_S (ID, V) VALUES (1, 'one'); "
                   "SET 'auto.offset.reset'='earliest'; SELECT * FROM EXEC_S EMIT CHANGES LIMIT 1"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "\n Message        \n----------------\n Stream created \n----------------\n" in out.out
    assert "|1" in out.out and "|one" in out.out
    assert out.out.endswith("Limit Reached\nQuery terminated\n")
    assert cli.main([server.url, "-e", "DROP STREAM NOT_THERE;"]) == 1
    assert "Stream NOT_THERE does not exist." in capsys.readouterr().err


def test_file_mode_runs_queries_and_prints(server: Server, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "queries.sql"
    script.write_text("CREATE STREAM FILE_S (ID INT KEY, V STRING) WITH (kafka_topic='file_s', value_format='JSON', "
                      "partitions=1);\nINSERT INTO FILE_S (ID, V) VALUES (7, 'seven');\n-- a comment\n"
                      "SELECT V FROM FILE_S;\nPRINT 'file_s' FROM BEGINNING LIMIT 1;\n")
    assert cli.main([server.url, "-f", str(script)]) == 0
    out = capsys.readouterr().out
    assert "|seven" in out and "Query Completed\nQuery terminated" in out
    assert "key: 7, value: {\"V\":\"seven\"}" in out and out.endswith("Topic printing ceased\n")
    assert cli.main([server.url, "-f", str(tmp_path / "missing.sql")]) == 1
    assert "No such script file" in capsys.readouterr().err


def test_json_output(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    server.ok("CREATE STREAM JSON_S (ID INT KEY, D DECIMAL(4, 2)) WITH (kafka_topic='json_s', value_format='JSON', "
              "partitions=1); INSERT INTO JSON_S (ID, D) VALUES (1, 1.50);")
    assert cli.main([server.url, "--output", "json", "-e", "DESCRIBE JSON_S; SELECT * FROM JSON_S;"]) == 0
    out = capsys.readouterr().out
    listing, _, rest = out.partition("\n} ]\n")
    assert json.loads(listing + "\n} ]")[0]["sourceDescription"]["name"] == "JSON_S"
    assert '"@type" : "sourceDescription"' in out and '"warnings" : [ ]' in out
    assert '{\n  "columns" : [ 1, 1.50 ]\n}\nQuery Completed\nQuery terminated\n' in out


def test_config_file_and_defines(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server.ok("CREATE STREAM CONF_S (ID INT KEY, V STRING) WITH (kafka_topic='conf_s', value_format='JSON', "
              "partitions=1); INSERT INTO CONF_S (ID, V) VALUES (1, 'early');")
    config = tmp_path / "cli.properties"
    config.write_text("auto.offset.reset=earliest\nssl.truststore.location=/nowhere\n")
    rc = cli.main([server.url, "--config-file", str(config), "-d", "src=CONF_S", "-e",
                   "SELECT V FROM ${src} EMIT CHANGES LIMIT 1; SHOW PROPERTIES;"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "|early" in out and "Limit Reached" in out
    assert "ssl.truststore" not in out


def test_execute_mode_when_the_server_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert cli.main([url, "-e", "SHOW STREAMS"]) == 1
    err = capsys.readouterr().err
    assert f"Remote server at {url} does not appear to be a valid KSQL" in err
    assert "Error issuing POST to KSQL server. path:/ksql" in err
    assert f"Could not reach a ksql server at {url}" in err


def test_credentials_must_come_in_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-p", "secret", "-e", "SHOW STREAMS"]) == 1
    assert "You must specify both a username and a password" in capsys.readouterr().err
    assert cli.main(["-u", "me", "-p", "pw", "-t", "tok", "-e", "SHOW STREAMS"]) == 1
    assert "Only one of username/password or token can be provided" in capsys.readouterr().err
