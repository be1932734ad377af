"""Running statements the way ksqlDB's CLI does, without the interactive parts.

A line of input may hold several statements. SET/UNSET, DEFINE/UNDEFINE and SHOW VARIABLES are
answered here and change the session: local property overrides go with every later request as
``streamsProperties``, variables as ``sessionVariables``. Runs of other statements go to
``/ksql`` in one request; SELECT and PRINT go to ``/query`` and their results are printed as
they stream in, until the query ends, ``--query-row-limit`` rows, ``--query-timeout`` or Ctrl-C.

Failures: a server error is printed and the line goes on with its next request (as in ksqlDB);
a local error (``CliError``) or an unreachable server stops the rest of the line.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ksql.cli.client import Client, Entity, QueryStream, QueryTimedOut, ServerError, ServerUnavailable
from ksql.cli.render import TabularRows, entity_text, jackson_json, schema_columns
from ksql.dialect.tokenizer import split_statements, substitute_variables

OUTPUT_FORMATS = ("JSON", "TABULAR")

_QUOTED = r"'((?:[^']|'')*)'"
_SET = re.compile(rf"SET\s+{_QUOTED}\s*=\s*{_QUOTED}\s*;?\s*$", re.I | re.S)
_UNSET = re.compile(rf"UNSET\s+{_QUOTED}\s*;?\s*$", re.I | re.S)
_DEFINE = re.compile(rf"DEFINE\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*{_QUOTED}\s*;?\s*$", re.I | re.S)
_UNDEFINE = re.compile(r"UNDEFINE\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$", re.I | re.S)
_VARIABLES = re.compile(r"(SHOW|LIST)\s+VARIABLES\s*;?\s*$", re.I | re.S)
_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")
# statements after which the stream/table names offered for completion may have changed
_CATALOG_CHANGES = {"CREATE", "DROP", "ALTER"}

_SEQUENCE_TIMEOUT = 50301
_PIPELINING_HINT = (
    "Error: command not executed since the server timed out while waiting for prior commands to finish "
    "executing.\nIf you wish to execute new commands without waiting for prior commands to finish, run the "
    "command 'request-pipelining ON'.")


class CliError(Exception):
    """A statement or command the shell itself refused; the message is printed as an error."""


def _unquote(s: str) -> str:
    return s.replace("''", "'")


class Console:
    """Where output goes: the terminal, a spool file while SPOOL is on, errors in red on a
    terminal (and to ``err`` when given, as in ``-e``/``-f`` runs)."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, color: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err
        self.color = _isatty(self.err or self.out) if color is None else color
        self.spool: TextIO | None = None
        self.spool_path: Path | None = None

    @property
    def width(self) -> int:
        if _isatty(self.out):
            try:
                return os.get_terminal_size(self.out.fileno()).columns
            except OSError:
                pass
        return shutil.get_terminal_size((80, 24)).columns if self.out is sys.stdout else 80

    @property
    def is_terminal(self) -> bool:
        return _isatty(self.out)

    def print(self, text: str = "", err: bool = False) -> None:
        stream = self.err if err and self.err else self.out
        stream.write(text + "\n")
        stream.flush()
        if self.spool:
            self.spool.write(text + "\n")
            self.spool.flush()

    def error(self, text: str) -> None:
        stream = self.err or self.out
        stream.write((f"\x1b[31m{text}\x1b[0m" if self.color else text) + "\n")
        stream.flush()
        if self.spool:
            self.spool.write(text + "\n")
            self.spool.flush()

    def status(self, text: str) -> None:
        """A hint for the person at the terminal; never spooled nor written to a pipe."""
        if self.is_terminal:
            self.out.write(text + "\n")
            self.out.flush()

    def echo_input(self, line: str) -> None:
        if self.spool:
            self.spool.write(f"\nksql> {line}\n")
            self.spool.flush()

    def set_spool(self, path: Path) -> None:
        if self.spool:
            raise CliError("Cannot set two spools! Please issue SPOOL OFF.")
        try:
            self.spool = path.open("w", encoding="utf-8")
        except OSError as e:
            raise CliError(f"Cannot SPOOL to file: {path}\nCaused by: {e.strerror}") from None
        self.spool_path = path.absolute()
        self.print(f"Session will be spooled to {self.spool_path}")
        self.print("Enter SPOOL OFF to disable")

    def unset_spool(self) -> None:
        if self.spool:
            self.spool.close()
            self.spool = None
            self.print(f"Spool written to {self.spool_path}")
        self.spool_path = None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Session:
    def __init__(self, client: Client, output: str = "TABULAR", out: TextIO | None = None,
                 variables: dict[str, str] | None = None, *, console: Console | None = None,
                 props: dict[str, str] | None = None, row_limit: int | None = None,
                 query_timeout_ms: int | None = None) -> None:
        self.client = client
        self.console = console or Console(out)
        self.output = output.upper()
        self.props: dict[str, str] = dict(props or {})
        self._variables: dict[str, tuple[str, str]] = {}
        for name, value in (variables or {}).items():
            self.define(name, value)
        self.row_limit = row_limit
        self.query_timeout_ms = query_timeout_ms
        self.wrap = True
        self.column_width = 0
        self.last_sequence_number = -1
        self.request_pipelining = False
        self.failed = False
        # called after statements that may have created or dropped streams and tables
        self.on_catalog_change: Callable[[], None] = lambda: None

    # -- variables -----------------------------------------------------------------------------------
    def define(self, name: str, value: str) -> None:
        # names are case-insensitive; the first spelling is kept, as in a case-insensitive map
        old = self._variables.get(name.upper())
        self._variables[name.upper()] = (old[0] if old else name, value)

    @property
    def variables(self) -> dict[str, str]:
        return dict(self._variables.values())

    def _substitute(self, text: str) -> str:
        enabled = str(self.props.get("ksql.variable.substitution.enable", "true")).lower() != "false"
        return substitute_variables(text, self.variables) if enabled else text

    # -- running text --------------------------------------------------------------------------------
    def run_script(self, text: str) -> bool:
        """Run every statement of ``text``; False if any of them failed."""
        self.failed = False
        try:
            self.handle_line(text)
        except (CliError, ServerUnavailable, ValueError) as e:
            self.console.error(str(e))
            self.failed = True
        return not self.failed

    def handle_line(self, text: str) -> None:
        batch: list[str] = []
        for stmt in split_statements(text):
            handler = self._local_handler(stmt, self._substitute(stmt))
            if handler is None:
                batch.append(stmt)
                continue
            self.execute_statements("\n".join(batch))
            batch = []
            handler()
        self.execute_statements("\n".join(batch))

    def _local_handler(self, stmt: str, substituted: str) -> Callable[[], None] | None:
        """What to run for a statement that does not go to ``/ksql``, recognised after variable
        substitution. Queries are sent as written, with the variables: the server substitutes."""
        word = (m.group(1).upper() if (m := _FIRST_WORD.match(substituted)) else "")
        text = substituted.strip()
        if word == "SELECT":
            return lambda: self.run_query(stmt, is_print=False)
        if word == "PRINT":
            return lambda: self.run_query(stmt, is_print=True)
        if word == "SET" and (setm := _SET.match(text)):
            name, value = _unquote(setm.group(1)), _unquote(setm.group(2))
            return lambda: self.set_property(name, value)
        if word == "UNSET" and (unset := _UNSET.match(text)):
            prop = _unquote(unset.group(1))
            return lambda: self.unset_property(prop)
        if word == "DEFINE" and (define := _DEFINE.match(text)):
            var, val = define.group(1), _unquote(define.group(2))
            return lambda: self.define(var, val)
        if word == "UNDEFINE" and (undefine := _UNDEFINE.match(text)):
            gone = undefine.group(1)
            return lambda: self.undefine(gone)
        if word in ("SHOW", "LIST") and _VARIABLES.match(text):
            return lambda: self.show_variables(text)
        return None

    # -- local statements ----------------------------------------------------------------------------
    def set_property(self, name: str, value: str) -> None:
        try:
            self.client.is_valid_property(name)
        except ServerError as e:
            raise CliError(e.message) from None
        old = self.props.get(name)
        self.props[name] = value
        change = f" from '{old}'" if old is not None else ""
        hint = "" if old is not None else " Use the UNSET command to revert your change."
        self.console.print(f"Successfully changed local property '{name}'{change} to '{value}'.{hint}")

    def unset_property(self, name: str) -> None:
        if name not in self.props:
            raise CliError(f"Cannot unset local property '{name}' which was never set in the first place")
        self.console.print(f"Successfully unset local property '{name}' (value was '{self.props.pop(name)}').")

    def undefine(self, name: str) -> None:
        if self._variables.pop(name.upper(), None) is None:
            self.console.print(f"Cannot undefine variable '{name}' which was never defined.")

    def show_variables(self, text: str) -> None:
        variables = [{"name": n, "value": v} for n, v in self._variables.values()]
        self.print_entities([{"@type": "variables", "statementText": text, "variables": variables, "warnings": []}])

    # -- server statements ---------------------------------------------------------------------------
    def _sequence_number(self) -> int | None:
        return None if self.request_pipelining or self.last_sequence_number < 0 else self.last_sequence_number

    def execute_statements(self, sql: str) -> None:
        """Send statements to ``/ksql`` in one request and print what comes back."""
        if not sql.strip():
            return
        try:
            entities = self.client.ksql(sql, self.props, self.variables, self._sequence_number())
        except ServerError as e:
            if e.error_code == _SEQUENCE_TIMEOUT:
                self.console.print(_PIPELINING_HINT)
            self.print_error(e)
            return
        seqs = [x["commandSequenceNumber"] for x in entities
                if x.get("@type") == "currentStatus" and isinstance(x.get("commandSequenceNumber"), int)]
        if seqs:
            self.last_sequence_number = max(seqs)
        errors = [x for x in entities if x.get("@type") == "currentStatus"
                  and (x.get("commandStatus") or {}).get("status") == "ERROR"]
        for x in errors:
            self.console.error(str(x["commandStatus"].get("message", "")).split("\n")[0])
            self.failed = True
        if not errors:
            self.print_entities(entities)
        words = {m.group(1).upper() for s in split_statements(sql) if (m := _FIRST_WORD.match(s))}
        if words & _CATALOG_CHANGES:
            self.on_catalog_change()

    def print_entities(self, entities: list[Entity]) -> None:
        if self.output == "JSON":
            self.console.print(jackson_json(entities))
            return
        for e in entities:
            self.console.print()
            if len(entities) > 1:
                self.console.print(str(e.get("statementText", "")))
            self.console.print(entity_text(e, self.console.width))

    def print_error(self, e: ServerError) -> None:
        if e.body.get("@type") == "statement_error":
            self.print_entities(e.entities)
        self.console.error(e.message)
        self.failed = True

    # -- queries -------------------------------------------------------------------------------------
    def run_query(self, sql: str, is_print: bool) -> None:
        timeout = self.query_timeout_ms / 1000 if self.query_timeout_ms else None
        try:
            stream = self.client.query(sql, self.props, self.variables, self._sequence_number(),
                                       raw_lines=is_print, read_timeout=timeout)
        except ServerError as e:
            if is_print:
                self.console.print(e.message)
                self.failed = True
            else:
                self.print_error(e)
            return
        self.console.status("Press CTRL-C to interrupt")
        interrupted = False
        try:
            if is_print:
                self._print_topic(stream)
            else:
                self._print_results(stream, time.monotonic() + timeout if timeout else None)
        except KeyboardInterrupt:
            interrupted = True
        except QueryTimedOut:
            pass
        finally:
            stream.close()
        if interrupted and stream.query_id:
            try:
                self.client.close_query(stream.query_id)
            except (ServerError, ServerUnavailable):
                # closing the connection has already stopped the query; this only hurries the cleanup
                pass
        self.console.print("Topic printing ceased" if is_print else "Query terminated")

    def _print_topic(self, stream: QueryStream) -> None:
        for line in stream:
            if isinstance(line, str) and line.strip():
                self.console.print(line)

    def _print_results(self, stream: QueryStream, deadline: float | None) -> None:
        rows: TabularRows | None = None
        count = 0
        for el in stream:
            if not isinstance(el, dict):
                continue
            if "errorMessage" in el:
                body = el["errorMessage"] if isinstance(el["errorMessage"], dict) else {"message": el["errorMessage"]}
                self.print_error(ServerError(500, body))
            if "finalMessage" in el:
                self.console.print(str(el["finalMessage"]))
            if isinstance(el.get("header"), dict):
                rows = self._print_header(el["header"])
            if isinstance(el.get("row"), dict):
                row = el["row"]
                if self.output == "JSON":
                    self.console.print(jackson_json(row))
                elif rows is not None:
                    self.console.print(rows.row(row.get("columns") or [], bool(row.get("tombstone"))))
                count += 1
                if self.row_limit is not None and count >= self.row_limit:
                    return
            # other elements (continuation and consistency tokens) are for resuming clients
            if deadline is not None and time.monotonic() >= deadline:
                return

    def _print_header(self, header: dict[str, Any]) -> TabularRows | None:
        if self.output == "JSON":
            self.console.print(jackson_json(header))
            return None
        names = schema_columns(str(header.get("schema", "")))
        rows = TabularRows(len(names), self.console.width, self.wrap, self.column_width)
        self.console.print(rows.header(names))
        return rows
