"""The shell's own commands (``help``, ``output``, ``spool`` …), answered without the server.

A line is a command when it starts with a command's name (case-insensitive); a trailing ``;`` is
optional. Arguments are split on whitespace outside single quotes and lose their quotes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ksql.cli.client import ServerError, ServerUnavailable
from ksql.cli.session import OUTPUT_FORMATS, CliError

if TYPE_CHECKING:
    from ksql.cli.shell import Shell


class ExitShell(Exception):
    """``exit``: leave the interactive shell."""


@dataclass(frozen=True)
class CliCommand:
    name: str
    help: str
    min_args: int
    max_args: int
    run: Callable[[Shell, list[str]], None]


def split_unquoted(line: str) -> list[str]:
    return re.findall(r"(?:'(?:[^']|'')*'?|[^\s'])+", line)


def _unquote(arg: str) -> str:
    if len(arg) >= 2 and arg.startswith("'") and arg.endswith("'"):
        return arg[1:-1].replace("''", "'")
    return arg


def find(line: str) -> tuple[CliCommand, list[str]] | None:
    parts = split_unquoted(line.strip().rstrip(";"))
    if not parts:
        return None
    text = " ".join(parts).lower()
    for cmd in COMMANDS:
        if text.startswith(cmd.name):
            return cmd, [_unquote(a) for a in parts[len(cmd.name.split()):]]
    return None


def run(shell: Shell, cmd: CliCommand, args: list[str]) -> None:
    if len(args) < cmd.min_args:
        raise CliError(f"Too few parameters\n{cmd.help}")
    if len(args) > cmd.max_args:
        raise CliError(f"Too many parameters\n{cmd.help}")
    cmd.run(shell, args)


# -- the commands ---------------------------------------------------------------------------------
def _help(shell: Shell, args: list[str]) -> None:
    p = shell.console.print
    p()
    p("Description:")
    p("\tThe ksql shell runs statements against a ksql server and shows their results. Statements end "
      "with a semicolon and may span several lines; the commands below need no semicolon.")
    p()
    for cmd in COMMANDS:
        p(cmd.help)
        p()
    p()
    p("Keyboard shortcuts:")
    p()
    p("CTRL+D:")
    p("\tEnd your ksql session.")
    p("CTRL+C:")
    p("\tClear the line being typed, or stop a running query.")
    p("TAB:")
    p("\tComplete keywords and the names of streams, tables and columns.")
    p("CTRL+R:")
    p("\tSearch your command history.")
    p("Up and Down arrow keys:")
    p("\tScroll up or down through your command history.")
    p()
    p("Default behavior:")
    p()
    p("    A line that is empty or blank sends nothing to the server. A line that is neither a command "
      "above nor ends with a semicolon continues on the next line, until one ends with a semicolon; "
      "then everything typed is run.")
    p()


def _clear(shell: Shell, args: list[str]) -> None:
    if shell.console.is_terminal:
        shell.console.out.write("\x1b[H\x1b[2J")
        shell.console.out.flush()


def _output(shell: Shell, args: list[str]) -> None:
    if not args:
        shell.console.print(f"Current output format: {shell.output}")
        return
    fmt = args[0].upper()
    if fmt not in OUTPUT_FORMATS:
        shell.console.print(f"Invalid output format: '{fmt}' (valid formats: [{', '.join(OUTPUT_FORMATS)}])")
        return
    shell.output = fmt
    shell.console.print(f"Output format set to {fmt}")


def _history(shell: Shell, args: list[str]) -> None:
    for i, line in enumerate(shell.history_lines(), start=1):
        shell.console.print(f"{i:4d}: {line}")


def _version(shell: Shell, args: list[str]) -> None:
    shell.console.print(f"Version: {shell.client.info().get('version')}")


def _exit(shell: Shell, args: list[str]) -> None:
    raise ExitShell


def _run_script(shell: Shell, args: list[str]) -> None:
    path = Path(args[0])
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"Failed to read file: {path}\nCaused by: {getattr(e, 'strerror', None) or e}") from None
    # as in ksqlDB, the file goes to /ksql as it is: no SELECT or PRINT, and its SET/DEFINE only
    # last for the file
    shell.execute_statements(content)


def _server(shell: Shell, args: list[str]) -> None:
    if not args:
        shell.console.print(shell.client.url)
        return
    shell.client.set_server(args[0])
    shell.console.print(f"Server now: {shell.client.url}")
    shell.reset_for_new_server()
    shell.validate_server()


def _request_pipelining(shell: Shell, args: list[str]) -> None:
    name = "request-pipelining"
    if not args:
        shell.console.print(f"Current {name} configuration: {'ON' if shell.request_pipelining else 'OFF'}")
        return
    setting = args[0].upper()
    if setting not in ("ON", "OFF"):
        shell.console.print(f"Invalid {name} setting: {args[0]}. Valid options are 'ON' and 'OFF'.")
        return
    shell.request_pipelining = setting == "ON"
    shell.console.print(f"{name} configuration is now {setting}")


def _spool(shell: Shell, args: list[str]) -> None:
    if args[0].upper() == "OFF":
        shell.console.unset_spool()
    else:
        shell.console.set_spool(Path(args[0]))


def _set_cli(shell: Shell, args: list[str]) -> None:
    name, value = args[0].upper(), args[1]
    if name == "WRAP":
        if value.upper() not in ("ON", "OFF"):
            raise CliError(f"Invalid value {value} for configuration WRAP: String must be one of: ON, OFF")
        shell.wrap = value.upper() == "ON"
    elif name == "COLUMN-WIDTH":
        if not value.isdigit():
            raise CliError(f"Invalid value {value} for configuration COLUMN-WIDTH: Not a number of type INT "
                           "(0 means: share the terminal width among the columns)")
        shell.column_width = int(value)
    else:
        raise CliError(f"Undefined property: {args[0]}. Valid properties are: [WRAP, COLUMN-WIDTH]")


COMMANDS: list[CliCommand] = [
    CliCommand("help", "help:\n\tShow this message.", 0, 0, _help),
    CliCommand("clear", "clear:\n\tClear the current terminal.", 0, 0, _clear),
    CliCommand("output", "output:\n\tView the current output format.\n\noutput <format>:\n\n\tSet the output "
               "format to <format> (valid formats: [JSON, TABULAR])\n\n\tFor example: \"output JSON;\"\n",
               0, 1, _output),
    CliCommand("history", "history:\n\tShow the lines entered so far, most recent last (also kept in "
               "~/.ksql-history).", 0, 0, _history),
    CliCommand("version", "version:\n\tShow the version of the server.", 0, 0, _version),
    CliCommand("exit", "exit:\n\tExit the shell.", 0, 0, _exit),
    CliCommand("run script", "run script <path_to_sql_file>:\n\tSend the statements of a UTF-8 file to the "
               "server (SELECT and PRINT are not allowed there).", 1, 1, _run_script),
    CliCommand("server", "server:\n\tShow the current server\n\nserver <server>:\n\tChange the current server "
               "to <server>\n\t example: \"server http://my.awesome.server.com:9098;\"", 0, 1, _server),
    CliCommand("request-pipelining", "request-pipelining:\n\tView the current setting. If 'ON', statements run "
               "without waiting for the ones sent before them to finish. If 'OFF' (the default), each request "
               "waits for the earlier ones.\n\nrequest-pipelining <ON/OFF>:\n\tUpdate the setting as specified."
               "\n\tFor example: \"request-pipelining OFF;\"", 0, 1, _request_pipelining),
    CliCommand("spool", "spool [<path_to_file>|OFF]:\n\tCopy the commands entered (prefixed with ``ksql> ``) and "
               "their results into a file, until ``SPOOL OFF``. One spool at a time.", 1, 1, _spool),
    CliCommand("set cli", "set cli <property> <value>:\n\tSet a property of the shell itself: WRAP ON|OFF (long "
               "values in query results wrap or are clipped), COLUMN-WIDTH n (0: share the terminal width). "
               "Unlike \"SET 'property'='value'\" it does not affect the server.", 2, 2, _set_cli),
]

# what the shell catches from a command and prints as an error
COMMAND_ERRORS = (CliError, ServerError, ServerUnavailable, ValueError)
