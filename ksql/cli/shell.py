"""``ksql``: the interactive shell for a ksql server, in the look and behaviour of ksqlDB's CLI.

    ksql [SERVER_URL] [-e SQL | -f FILE] [--output TABULAR|JSON] [-u USER [-p PASSWORD] | -t TOKEN]
         [--config-file FILE] [-d NAME=VALUE ...] [--query-row-limit N] [--query-timeout MS]

Without ``-e``/``-f`` it greets, checks the server and reads statements at the ``ksql> `` prompt
(prompt_toolkit: multi-line editing, history in ``~/.ksql-history``, Tab completion). A statement
ends with ``;`` and may span lines; the shell's own commands (``help``, ``spool`` …) need no
``;``. Ctrl-C clears the line or stops a running query; Ctrl-D or ``exit`` leaves.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from ksql.cli import commands
from ksql.cli.client import Client, ServerError, ServerUnavailable
from ksql.cli.render import unreachable_server_block
from ksql.cli.session import CliError, Console, Session

__all__ = ["Client", "Shell", "main", "statement_complete"]

DEFAULT_SERVER = "http://localhost:8088"
# the ksqlDB release whose CLI and REST API this package follows (the server reports the same)
CLI_VERSION = "7.9.0"
UNKNOWN = "<unknown>"
PROMPT = "ksql> "
CONTINUATION_PROMPT = ">"
HELP_REMINDER = "Having trouble? Type 'help' (case-insensitive) for a rundown of how things work!"
# properties of a --config-file that configure the connection instead of the server's queries
_CLIENT_SIDE = re.compile(r"^(ssl\.|sasl\.|security\.protocol$)")


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


def _only_comments(text: str) -> bool:
    return not re.sub(r"--[^\n]*|/\*.*?\*/", "", text, flags=re.S).strip()


def input_complete(text: str) -> bool:
    """When Enter runs what was typed: a blank line, a shell command, or complete statements."""
    return _only_comments(text) or commands.find(text) is not None or statement_complete(text)


# -- reading lines --------------------------------------------------------------------------------
class LineReader(Protocol):
    def read(self) -> str: ...  # raises EOFError (Ctrl-D) and KeyboardInterrupt (Ctrl-C)

    def history(self) -> list[str]: ...


class PromptReader:
    """The terminal line editor: Enter runs complete input and otherwise opens a new line."""

    def __init__(self, history_path: Path, catalog_fetch: Callable[[str], list[dict[str, Any]]],
                 console: Console) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.filters import completion_is_selected
        from prompt_toolkit.key_binding import KeyBindings

        from ksql.cli.completion import Catalog, JLineHistory, SqlCompleter

        self.catalog = Catalog(catalog_fetch)
        self._history = JLineHistory(history_path)
        bindings = KeyBindings()

        @bindings.add("enter", filter=~completion_is_selected)
        def _(event: Any) -> None:
            buffer = event.current_buffer
            if input_complete(buffer.text):
                buffer.validate_and_handle()
            else:
                buffer.insert_text("\n")

        self.session: Any = PromptSession(
            history=self._history,
            completer=SqlCompleter(self.catalog, [c.name for c in commands.COMMANDS]),
            complete_while_typing=False,
            multiline=True,
            key_bindings=bindings,
            prompt_continuation=lambda width, line_number, wrap_count: CONTINUATION_PROMPT,
        )

    def read(self) -> str:
        return str(self.session.prompt(PROMPT))

    def history(self) -> list[str]:
        return list(self._history.get_strings())


class PlainReader:
    """Reads lines from a pipe or file when stdin is not a terminal, with the same rules."""

    def __init__(self, stdin: TextIO, console: Console) -> None:
        self.stdin = stdin
        self.console = console
        self._history: list[str] = []

    def read(self) -> str:
        text = ""
        prompt = PROMPT
        while True:
            self.console.out.write(prompt)
            self.console.out.flush()
            line = self.stdin.readline()
            if not line:
                # as at a terminal, end of input leaves the shell; an unfinished statement is dropped
                raise EOFError
            text += line
            if input_complete(text):
                break
            prompt = CONTINUATION_PROMPT
        text = text.rstrip("\n")
        if text.strip() and (not self._history or self._history[-1] != text):
            self._history.append(text)
        return text

    def history(self) -> list[str]:
        return list(self._history)


# -- the shell ------------------------------------------------------------------------------------
class Shell(Session):
    reader: LineReader | None = None

    def history_lines(self) -> list[str]:
        return self.reader.history() if self.reader else []

    def reset_for_new_server(self) -> None:
        self.last_sequence_number = -1
        self.request_pipelining = False
        self.on_catalog_change()

    def server_info(self) -> tuple[str, str]:
        try:
            info = self.client.info(timeout=5.0)
        except (ServerUnavailable, ServerError, ValueError):
            return UNKNOWN, UNKNOWN
        return str(info.get("version") or UNKNOWN), str(info.get("serverStatus") or UNKNOWN)

    def validate_server(self) -> bool:
        """Check that a ksql server answers; if not, say so (the session still starts)."""
        try:
            self.client.info(timeout=5.0)
            return True
        except ValueError:
            self.console.print("Server URL must begin with protocol (e.g., http:// or https://)", err=True)
        except ServerUnavailable as e:
            self.console.print(unreachable_server_block(self.client.url, str(e)), err=True)
        except ServerError as e:
            self.console.print(f"Couldn't connect to the KSQL server: {e.message}\n", err=True)
        return False

    def welcome(self) -> None:
        version, status = self.server_info()
        width = min(self.console.width, len(HELP_REMINDER))
        for line in LOGO:
            self.console.print(line.center(width).rstrip())
        self.console.print()
        warning = version_warning(CLI_VERSION, version)
        self.console.print(f"CLI v{CLI_VERSION}, Server v{version} located at {self.client.url}"
                           + (f"\n{warning}" if warning else ""))
        self.console.print(f"Server Status: {status}")
        self.console.print()
        self.console.print(HELP_REMINDER)
        self.console.print()

    def interactive(self, reader: LineReader | None = None) -> int:
        self.welcome()
        self.validate_server()
        self.reader = reader or self._default_reader()
        while True:
            try:
                line = self.reader.read()
            except KeyboardInterrupt:
                self.console.print("^C")
                continue
            except EOFError:
                self.console.print("Exiting ksqlDB.")
                return 0
            self.console.echo_input(line)
            try:
                self.handle_input(line.strip())
            except commands.ExitShell:
                self.console.print("Exiting ksqlDB.")
                return 0
            except KeyboardInterrupt:
                self.console.print("^C")
            except commands.COMMAND_ERRORS as e:
                self.console.error(str(e))

    def handle_input(self, line: str) -> None:
        if not line:
            return
        found = commands.find(line)
        if found:
            commands.run(self, *found)
        else:
            self.handle_line(line)

    def _default_reader(self) -> LineReader:
        if not (sys.stdin.isatty() and self.console.is_terminal):
            return PlainReader(sys.stdin, self.console)
        history = Path(os.path.expanduser("~")) / ".ksql-history"
        try:
            history.touch(exist_ok=True)
        except OSError:
            self.console.print(f"WARNING: Unable to create command history file '{history}', command history "
                               "will not be saved.")
        reader = PromptReader(history, lambda sql: self.client.ksql(sql, self.props, self.variables, timeout=5.0),
                              self.console)

        def catalog_changed() -> None:
            reader.catalog.stale = True

        self.on_catalog_change = catalog_changed
        return reader


LOGO = [
    "===========================================",
    "=                                         =",
    "=       k s q l  -  streaming  SQL        =",
    "=     the ksqlDB dialect, in Python       =",
    "=                                         =",
    "===========================================",
]


def _version_tuple(version: str) -> tuple[int, int] | None:
    m = re.match(r"v?(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else None


class UnsupportedServer(Exception):
    pass


def version_warning(cli: str, server: str) -> str:
    """The banner's version note: empty when CLI and server match; servers older than Confluent
    Platform 6.0 / ksqlDB 0.10 are refused."""
    sv, cv = _version_tuple(server), _version_tuple(cli)
    if cv is None:
        return ("\nWARNING: Could not identify CLI version.\n"
                "         Non-matching CLI and server versions may lead to unexpected errors.\n")
    if sv is None:
        return ("\nWARNING: Could not identify server version.\n"
                "         Non-matching CLI and server versions may lead to unexpected errors.\n")
    if (sv[0] == 0 and sv < (0, 10)) or (0 < sv[0] < 6):
        minimum = "0.10.0" if sv[0] == 0 else "6.0.0"
        raise UnsupportedServer(f"This CLI version ({cli}) does not support server version {server}; "
                                f"the oldest supported server version is {minimum}.")
    if sv != cv:
        return ("\nWARNING: CLI and server version don't match. This may lead to unexpected errors.\n"
                "         It is recommended to use a CLI that matches the server version.\n")
    return ""


# -- command line ---------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ksql", description="The ksql shell: run statements against a ksql server.")
    p.add_argument("server", nargs="?", default=DEFAULT_SERVER,
                   help=f"the address of the ksql server (default {DEFAULT_SERVER})")
    p.add_argument("--config-file", metavar="FILE",
                   help="properties sent with every request (ssl.*, sasl.* and security.protocol stay local)")
    p.add_argument("-u", "--user", default="", help="user name, for a server with basic authentication")
    p.add_argument("-p", "--password", default="", help="password (asked for when only --user is given)")
    p.add_argument("-t", "--token", default="", help="bearer token, instead of user and password")
    p.add_argument("-e", "--execute", metavar="SQL", help="run these statements and exit")
    p.add_argument("-f", "--file", metavar="FILE", help="run the statements of this file and exit")
    p.add_argument("-d", "--define", metavar="NAME=VALUE", action="append", default=[],
                   help="define a variable, as DEFINE does (repeatable)")
    p.add_argument("--output", default="TABULAR", type=str.upper, choices=["TABULAR", "JSON"],
                   help="output format (default TABULAR; the 'output' command changes it)")
    p.add_argument("--query-row-limit", type=int, metavar="N", help="stop queries after N rows")
    p.add_argument("--query-timeout", type=int, metavar="MS", help="stop queries after MS milliseconds")
    return p


def _credentials(args: argparse.Namespace) -> tuple[tuple[str, str] | None, str | None]:
    if args.user and not args.password:
        if not sys.stdin.isatty():
            raise CliError("Could not get console for enter password; use -p option instead.")
        while not args.password:
            args.password = getpass.getpass("Enter password: ")
            if not args.password:
                print("Error: password can not be empty")
    if args.token and (args.user or args.password):
        raise CliError("Only one of username/password or token can be provided")
    if bool(args.user) != bool(args.password):
        raise CliError("You must specify both a username and a password. If you don't want to use an "
                       "authenticated session, don't specify either of the --user or the --password flags on "
                       "the command line")
    return ((args.user, args.password) if args.user else None), (args.token or None)


def _config_properties(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    # the server's reader of Java properties files; imported here so the shell starts without it
    from rest.server import load_properties

    try:
        props = load_properties(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise CliError(f"Cannot read the config file {path}: {e.strerror}") from None
    return {k: v for k, v in props.items() if not _CLIENT_SIDE.match(k)}


def _variables(defines: list[str]) -> dict[str, str]:
    out = {}
    for d in defines:
        name, sep, value = d.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
            raise CliError(f"Variables must be defined as NAME=VALUE (got '{d}')")
        out[name.strip()] = value
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in ("query_row_limit", "query_timeout"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            print(f"ksql: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    try:
        auth, token = _credentials(args)
        props = _config_properties(args.config_file)
        variables = _variables(args.define)
    except CliError as e:
        print(str(e), file=sys.stderr)
        return 1
    batch = args.execute is not None or args.file is not None
    console = Console(sys.stdout, sys.stderr if batch else None)
    shell = Shell(Client(args.server, auth=auth, token=token), args.output, variables=variables, console=console,
                  props=props, row_limit=args.query_row_limit, query_timeout_ms=args.query_timeout)
    try:
        if args.file is not None:
            try:
                script = Path(args.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                print(f"No such script file: {args.file} ({getattr(e, 'strerror', None) or e})", file=sys.stderr)
                return 1
            shell.validate_server()
            return 0 if shell.run_script(script) else 1
        if args.execute is not None:
            script = args.execute.strip()
            if script and not script.endswith(";"):
                script += ";"
            shell.validate_server()
            return 0 if shell.run_script(script) else 1
        return shell.interactive()
    except UnsupportedServer as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        console.unset_spool()
        shell.client.close()


if __name__ == "__main__":
    sys.exit(main())
