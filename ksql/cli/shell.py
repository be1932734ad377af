"""``ksql``: a command-line client for the REST server.

    ksql [URL] [-e SQL] [-f FILE] [--output JSON|TABULAR] [-d NAME=VALUE ...]

Statements go to ``/ksql``; SELECT and PRINT go to ``/query`` and their rows are printed as they
stream in (Ctrl-C stops the query). ``SET``/``UNSET`` and ``DEFINE``/``UNDEFINE`` are kept
locally and sent with every request, as ksqlDB's CLI does. Without ``-e``/``-f`` it reads
statements interactively; a statement ends with ``;``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Generator
from typing import Any, TextIO

import httpx

from ksql.dialect import split_statements

DEFAULT_SERVER = "http://localhost:8088"
VERSION = "0.1.0"

_LEADING_WORD = re.compile(r"^\s*([A-Za-z]+)")
_SET = re.compile(r"^\s*SET\s+'((?:[^']|'')*)'\s*=\s*'((?:[^']|'')*)'\s*;?\s*$", re.I | re.S)
_UNSET = re.compile(r"^\s*UNSET\s+'((?:[^']|'')*)'\s*;?\s*$", re.I | re.S)
_DEFINE = re.compile(r"^\s*DEFINE\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*'((?:[^']|'')*)'\s*;?\s*$", re.I | re.S)
_UNDEFINE = re.compile(r"^\s*UNDEFINE\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$", re.I | re.S)


class ServerUnavailable(Exception):
    pass


class CommandFailed(Exception):
    """A statement was rejected; the message has been printed."""


class Client:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, read=None))

    def close(self) -> None:
        self.http.close()

    def _unreachable(self, e: Exception) -> ServerUnavailable:
        return ServerUnavailable(
            f"Could not reach a ksql server at {self.url} ({e}).\n"
            "Start one with `ksql-server`, or pass the server's URL: ksql http://host:8088")

    def info(self) -> dict[str, Any]:
        try:
            r = self.http.get("/info")
        except httpx.HTTPError as e:
            raise self._unreachable(e) from None
        try:
            return r.json().get("KsqlServerInfo", {})  # type: ignore[no-any-return]
        except ValueError:
            raise ServerUnavailable(f"{self.url} does not look like a ksql server (GET /info answered {r.status_code})") from None

    def ksql(self, sql: str, props: dict[str, str], variables: dict[str, str]) -> httpx.Response:
        try:
            return self.http.post("/ksql", json={"ksql": sql, "streamsProperties": props, "sessionVariables": variables})
        except httpx.HTTPError as e:
            raise self._unreachable(e) from None

    def query(self, sql: str, props: dict[str, str], variables: dict[str, str]
              ) -> Generator[dict[str, Any] | str, None, None]:
        """Elements of a ``/query`` response as they arrive (PRINT yields its text lines)."""
        body = {"ksql": sql, "streamsProperties": props, "sessionVariables": variables}
        try:
            with self.http.stream("POST", "/query", json=body, headers={"Accept": "application/json"}) as r:
                if r.status_code != 200:
                    r.read()
                    yield _error_body(r)
                    return
                for line in r.iter_lines():
                    text = line.strip()
                    if not text:
                        continue
                    try:
                        yield json.loads(text.strip("[],").strip() or "null") if text[0] in "[{" else text
                    except ValueError:
                        yield line
        except httpx.HTTPError as e:
            raise self._unreachable(e) from None


def _error_body(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        return {"errorMessage": body}
    return {"errorMessage": {"message": f"HTTP {r.status_code}: {r.text}"}}


# -- rendering ------------------------------------------------------------------------------------
def _cell(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "|".join(f" {v:<{w}} " for v, w in zip(values, widths, strict=True)).rstrip()

    lines = [line(r) for r in cells]
    head = line(headers)
    rule = "-" * max(len(x) for x in [head, *lines])
    return "\n".join([head, rule, *lines, rule])


_SOURCE_COLUMNS = ["Kafka Topic", "Key Format", "Value Format", "Windowed"]


def render_entity(e: dict[str, Any]) -> str:
    kind = e.get("@type")
    if kind == "currentStatus":
        return table(["Message"], [[e.get("commandStatus", {}).get("message", "")]])
    if kind in ("streams", "tables"):
        items = sorted(e.get(kind, []), key=lambda s: s.get("name", ""))
        title = "Stream Name" if kind == "streams" else "Table Name"
        return table([title, *_SOURCE_COLUMNS], [
            [s.get("name"), s.get("topic"), s.get("keyFormat"), s.get("valueFormat"), s.get("isWindowed")]
            for s in items])
    if kind == "queries":
        rows = [[q.get("id"), q.get("queryType"), ", ".join(f"{k}:{v}" for k, v in (q.get("statusCount") or {}).items()),
                 ", ".join(q.get("sinks") or []), ", ".join(q.get("sinkKafkaTopics") or []), q.get("queryString")]
                for q in e.get("queries", [])]
        return table(["Query ID", "Query Type", "Status", "Sink Name", "Sink Kafka Topic", "Query String"], rows) + \
            "\nFor detailed information on a Query run: EXPLAIN <Query ID>;"
    if kind == "kafka_topics":
        return table(["Kafka Topic", "Partitions", "Partition Replicas"],
                     [[t.get("name"), len(t.get("replicaInfo") or []), (t.get("replicaInfo") or [1])[0]]
                      for t in e.get("topics", [])])
    if kind == "properties":
        return table(["Property", "Scope", "Default override", "Effective Value"],
                     [[p.get("name"), p.get("scope"), p.get("level"), p.get("value")] for p in e.get("properties", [])])
    if kind == "function_names":
        return table(["Function Name", "Category"], [[f.get("name"), f.get("category")] for f in e.get("functions", [])])
    if kind == "warning_entity":
        return f"WARNING: {e.get('message')}"
    if kind == "terminate_query":
        return f'Terminated query "{e.get("queryId")}"'
    return json.dumps(e, indent=2)


def render_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, separators=(",", " : "))


class RowPrinter:
    """Query results as a boxed table with fixed-width cells, printed row by row as they stream."""

    def __init__(self, out: TextIO, columns: list[str]) -> None:
        self.out = out
        self.columns = columns
        term = shutil.get_terminal_size((120, 24)).columns
        self.width = max(5, term // max(1, len(columns)) - 2)
        self.rule = "+" + "+".join("-" * self.width for _ in columns) + "+"

    def _line(self, values: list[str]) -> str:
        chunks = [[v[i:i + self.width] for i in range(0, len(v), self.width)] or [""] for v in values]
        height = max(len(c) for c in chunks)
        lines = []
        for i in range(height):
            lines.append("|" + "|".join(f"{(c[i] if i < len(c) else ''):<{self.width}}" for c in chunks) + "|")
        return "\n".join(lines)

    def header(self) -> None:
        print(self.rule, self._line(self.columns), self.rule, sep="\n", file=self.out, flush=True)

    def row(self, values: list[Any], tombstone: bool) -> None:
        cells = ["<TOMBSTONE>" if (tombstone and v is None) else _cell(v) for v in values]
        print(self._line(cells), file=self.out, flush=True)


def _schema_names(schema: str) -> list[str]:
    return re.findall(r"`((?:[^`]|``)*)`\s+[A-Z]", schema) or [schema]


# -- the shell ------------------------------------------------------------------------------------
class Shell:
    def __init__(self, client: Client, output: str = "TABULAR", out: TextIO = sys.stdout,
                 variables: dict[str, str] | None = None) -> None:
        self.client = client
        self.output = output.upper()
        self.out = out
        self.props: dict[str, str] = {}
        self.variables: dict[str, str] = dict(variables or {})

    def echo(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def error(self, text: str) -> None:
        red = self.out.isatty() if hasattr(self.out, "isatty") else False
        self.echo(f"\x1b[31m{text}\x1b[0m" if red else text)

    def run_script(self, text: str) -> bool:
        """Run every statement of ``text``; False if one failed (later ones still run)."""
        ok = True
        for stmt in split_statements(text):
            try:
                self.run_statement(stmt)
            except CommandFailed:
                ok = False
        return ok

    def run_statement(self, stmt: str) -> None:
        if self._local(stmt):
            return
        m = _LEADING_WORD.match(stmt)
        word = m.group(1).upper() if m else ""
        if word in ("SELECT", "PRINT"):
            self._query(stmt)
        else:
            self._statement(stmt)

    def _local(self, stmt: str) -> bool:
        if m := _SET.match(stmt):
            name, value = m.group(1).replace("''", "'"), m.group(2).replace("''", "'")
            old = self.props.get(name)
            self.props[name] = value
            change = f"from '{old}' to '{value}'" if old is not None else f"to '{value}'"
            self.echo(f"Successfully changed local property '{name}' {change}. Use the UNSET command to revert your change.")
            return True
        if m := _UNSET.match(stmt):
            name = m.group(1).replace("''", "'")
            if name not in self.props:
                self.error(f"Cannot unset local property '{name}' which was never set in the first place")
                raise CommandFailed
            self.echo(f"Successfully unset local property '{name}' (value was '{self.props.pop(name)}').")
            return True
        if m := _DEFINE.match(stmt):
            self.variables[m.group(1)] = m.group(2).replace("''", "'")
            return True
        if m := _UNDEFINE.match(stmt):
            if self.variables.pop(m.group(1), None) is None:
                self.echo(f"WARNING: Cannot undefine variable '{m.group(1)}' which was never defined")
            return True
        return False

    def _statement(self, stmt: str) -> None:
        r = self.client.ksql(stmt, self.props, self.variables)
        try:
            body = r.json()
        except ValueError:
            self.error(f"Unexpected answer from the server (HTTP {r.status_code}): {r.text}")
            raise CommandFailed from None
        if r.status_code != 200:
            self.error(body.get("message", r.text) if isinstance(body, dict) else r.text)
            raise CommandFailed
        if self.output == "JSON":
            self.echo(render_json(body))
            return
        for e in body:
            if len(body) > 1:
                self.echo(e.get("statementText", ""))
            self.echo(render_entity(e))
            for w in e.get("warnings") or []:
                self.echo(f"WARNING: {w.get('message')}")

    def _query(self, stmt: str) -> None:
        printer: RowPrinter | None = None
        failed = False
        stream = self.client.query(stmt, self.props, self.variables)
        try:
            for el in stream:
                if isinstance(el, str):
                    self.echo(el)
                    continue
                if not isinstance(el, dict):
                    continue
                if self.output == "JSON":
                    self.echo(render_json(el))
                if "header" in el:
                    if self.output != "JSON":
                        printer = RowPrinter(self.out, _schema_names(el["header"].get("schema", "")))
                        printer.header()
                elif "row" in el:
                    if printer is not None:
                        printer.row(el["row"].get("columns", []), bool(el["row"].get("tombstone")))
                elif "finalMessage" in el:
                    if self.output != "JSON":
                        self.echo(el["finalMessage"])
                elif "errorMessage" in el:
                    failed = True
                    self.error(el["errorMessage"].get("message", ""))
        except KeyboardInterrupt:
            pass
        finally:
            stream.close()
        if printer is not None:
            self.echo("Query terminated")
        if failed:
            raise CommandFailed

    # -- interactive ------------------------------------------------------------------------------
    def interactive(self, read: Any = input) -> None:
        info = self.client.info()
        self.echo(f"\nCLI v{VERSION}, Server v{info.get('version', '?')} located at {self.client.url}")
        self.echo(f"Server Status: {info.get('serverStatus', 'UNKNOWN')}\n")
        self.echo("Having trouble? Type 'help' (case-insensitive) for a rundown of how things work!\n")
        buffer = ""
        while True:
            try:
                line = read("ksql> " if not buffer else "> ")
            except KeyboardInterrupt:
                self.echo("^C")
                buffer = ""
                continue
            except EOFError:
                self.echo("Exiting ksqlDB.")
                return
            if not buffer and self._cli_command(line):
                if line.strip().rstrip(";").strip().lower() in ("exit", "quit"):
                    self.echo("Exiting ksqlDB.")
                    return
                continue
            buffer += line + "\n"
            if not statement_complete(buffer):
                continue
            text, buffer = buffer, ""
            try:
                self.run_script(text)
            except ServerUnavailable as e:
                self.error(str(e))
            except KeyboardInterrupt:
                self.echo("^C")

    def _cli_command(self, line: str) -> bool:
        words = line.strip().rstrip(";").split()
        if not words:
            return False
        cmd = words[0].lower()
        if cmd in ("exit", "quit") and len(words) == 1:
            return True
        if cmd == "help" and len(words) == 1:
            self.echo(HELP)
            return True
        if cmd == "version" and len(words) == 1:
            self.echo(f"Version: {VERSION}")
            return True
        if cmd == "output" and len(words) <= 2:
            if len(words) == 1:
                self.echo(f"Current output format: {self.output}")
            elif words[1].upper() in ("JSON", "TABULAR"):
                self.output = words[1].upper()
                self.echo(f"Output format set to {self.output}")
            else:
                self.error(f"Invalid output format: '{words[1]}' (expected JSON or TABULAR)")
            return True
        if cmd == "server" and len(words) <= 2:
            if len(words) == 2:
                self.client.close()
                self.client = Client(words[1])
            self.echo(f"Server: {self.client.url}")
            return True
        return False


HELP = """Statements end with ';' and may span several lines. SELECT and PRINT stream their results;
press Ctrl-C to stop them.

CLI commands (no ';' needed):
  help                 this text
  output [JSON|TABULAR] show or set the output format
  server [URL]         show or change the server
  version              the CLI version
  exit                 leave (Ctrl-D works too)

SET 'property'='value'; and UNSET 'property'; apply to the following statements of this session;
DEFINE name = 'value'; sets a variable for ${name} substitution."""


def statement_complete(text: str) -> bool:
    """True when ``text`` ends with ``;`` outside quotes and comments."""
    quote: str | None = None
    last = ""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                if text.startswith(quote * 2, i):
                    i += 2
                    continue
                quote = None
            i += 1
            continue
        if text.startswith("--", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return False
            i = end + 2
            continue
        if c in "'`\"":
            quote = c
        elif not c.isspace():
            last = c
        i += 1
    return quote is None and last == ";"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ksql", description="Command-line client for a ksql server.")
    p.add_argument("server", nargs="?", default=DEFAULT_SERVER, help=f"server URL (default {DEFAULT_SERVER})")
    p.add_argument("-e", "--execute", metavar="SQL", help="run these statements and exit")
    p.add_argument("-f", "--file", metavar="FILE", help="run the statements of this file and exit")
    p.add_argument("-d", "--define", metavar="NAME=VALUE", action="append", default=[], help="define a variable")
    p.add_argument("--output", default="TABULAR", type=str.upper, choices=["TABULAR", "JSON"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    variables: dict[str, str] = {}
    for d in args.define:
        name, sep, value = d.partition("=")
        if not sep:
            print(f"ksql: --define expects NAME=VALUE, got '{d}'", file=sys.stderr)
            return 2
        variables[name.strip()] = value
    shell = Shell(Client(args.server), args.output, variables=variables)
    try:
        if args.execute is not None or args.file is not None:
            if args.file is not None:
                try:
                    with open(args.file) as f:
                        script = f.read()
                except OSError as e:
                    print(f"ksql: cannot read {args.file}: {e.strerror}", file=sys.stderr)
                    return 1
            else:
                script = args.execute.strip()
                if not statement_complete(script):
                    script += ";"
            return 0 if shell.run_script(script) else 1
        shell.interactive()
        return 0
    except ServerUnavailable as e:
        print(str(e), file=sys.stderr)
        return 1
    finally:
        shell.client.close()


if __name__ == "__main__":
    sys.exit(main())
