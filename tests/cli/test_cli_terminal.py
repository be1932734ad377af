"""The shell as a person uses it: typed into a pseudo-terminal, against a real server."""

from __future__ import annotations

import pexpect

from tests.cli.conftest import Server, Terminals, eventually, free_port


def test_push_query_rows_appear_until_ctrl_c(server: Server, terminal: Terminals) -> None:
    t = terminal(server.url)
    t.expect(r"CLI v\S+, Server v7\.9\.0 located at " + server.url)
    t.expect(r"Server Status: RUNNING")
    t.prompt()
    t.send("CREATE STREAM CLICKS (ID INT KEY, PAGE STRING) WITH (kafka_topic='clicks', "
           "value_format='JSON', partitions=1);\r")
    t.expect(r" Message\s+\n-+\n Stream created")
    t.prompt()
    t.send("INSERT INTO CLICKS (ID, PAGE) VALUES (1, 'home');\r")
    t.prompt()
    t.send("SET 'auto.offset.reset'='earliest';\r")
    t.expect(r"Successfully changed local property 'auto.offset.reset' to 'earliest'\.")
    t.prompt()
    t.send("SELECT * FROM CLICKS EMIT CHANGES;\r")
    t.expect(r"Press CTRL-C to interrupt")
    t.expect(r"\+-+\+-+\+\n\|ID +\|PAGE +\|\n\+-+\+-+\+")
    t.expect(r"\|1 +\|home +\|")
    eventually(lambda: server.active_queries)
    server.ok("INSERT INTO CLICKS (ID, PAGE) VALUES (2, 'live');")
    t.expect(r"\|2 +\|live +\|")
    t.child.sendintr()
    t.expect(r"Query terminated")
    t.prompt()
    eventually(lambda: not server.active_queries)
    t.send("SHOW STREAMS;\r")
    t.expect(r" CLICKS +\| clicks +\| KAFKA +\| JSON +\| false")
    t.prompt()
    t.child.sendcontrol("d")
    t.expect(r"Exiting ksqlDB\.")
    t.child.expect_exact(pexpect.EOF)


def test_multi_line_input_and_several_statements(server: Server, terminal: Terminals) -> None:
    t = terminal(server.url)
    t.prompt()
    t.send("SHOW\r")
    t.expect(r"\n>")
    t.send("STREAMS; SHOW\r")
    t.expect(r"\n>")
    t.send("TABLES;\r")
    t.expect(r"SHOW\s+STREAMS;\n Stream Name")
    t.expect(r"SHOW\s+TABLES;\n Table Name")
    t.prompt()
    t.send("  help  \r")
    t.expect(r"run script <path_to_sql_file>:")
    t.prompt()
    t.send("exit\r")
    t.expect(r"Exiting ksqlDB\.")


def test_tab_completes_stream_names_and_history_is_saved(server: Server,
                                                           terminal: Terminals) -> None:
    server.ok("CREATE STREAM COMPLETE_ME (ID INT KEY, SOME_COLUMN STRING) WITH (kafka_topic='complete_me', "
              "value_format='JSON', partitions=1);")
    t = terminal(server.url)
    t.prompt()
    # the completion is drawn before more is typed: prompt_toolkit completes asynchronously
    t.send("describe COMPLETE_\t")
    t.expect(r"describe COMPLETE_ME")
    t.send(";\r")
    t.expect(r"Name +: COMPLETE_ME\n Field +\| Type")
    t.prompt()
    t.send("SELECT SOME_C\t")
    t.expect(r"SELECT SOME_COLUMN")
    t.send(" FROM COMPLETE_ME LIMIT 0;\r")
    t.expect(r"\|SOME_COLUMN")
    t.prompt()
    t.send("history\r")
    t.expect(r"   1: describe COMPLETE_ME;\n   2: SELECT SOME_COLUMN FROM COMPLETE_ME LIMIT 0;\n   3: history")
    t.prompt()
    t.child.sendcontrol("d")
    t.expect(r"Exiting ksqlDB\.")
    saved = (terminal.home / ".ksql-history").read_text()
    assert [line.split(":", 1)[1] for line in saved.splitlines()] == [
        "describe COMPLETE_ME;", "SELECT SOME_COLUMN FROM COMPLETE_ME LIMIT 0;", "history"]


def test_ctrl_c_at_the_prompt_clears_the_line(server: Server, terminal: Terminals) -> None:
    t = terminal(server.url)
    t.prompt()
    t.send("SELECT nothing")
    t.child.sendintr()
    t.expect(r"\^C")
    t.prompt()
    t.send("version\r")
    t.expect(r"Version: 7\.9\.0")
    t.prompt()
    t.send("exit;\r")
    t.expect(r"Exiting ksqlDB\.")


def test_server_down_is_reported_at_start_and_per_request(terminal: Terminals) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    t = terminal(url)
    t.expect(r"Server v<unknown> located at " + url)
    t.expect(r"\*+ERROR\*+\nRemote server at " + url + r" does not appear to be a valid KSQL\s+server\.")
    t.expect(r"Error issuing GET to KSQL server\. path:/info")
    t.prompt()
    t.send("SHOW STREAMS;\r")
    t.expect(r"Error issuing POST to KSQL server\. path:/ksql\nCaused by: .*Connection refused")
    t.expect(r"Could not reach a ksql server at " + url)
    t.prompt()
    t.child.sendcontrol("d")
    t.expect(r"Exiting ksqlDB\.")
