"""Session commands (SET, SHOW, RESET, BEGIN/COMMIT/ROLLBACK, DISCARD, DEALLOCATE, CLOSE, UNLISTEN)
and the session's run-time settings.

Settings are per connection, as in PostgreSQL. Those a client learns through ParameterStatus are
reported again when they change. Settings the server cannot honour (a DateStyle other than ISO,
an encoding other than UTF8) are refused rather than accepted and ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rest.pgwire.catalog_tables import SERVER_VERSION
from rest.pgwire.errors import INVALID_PARAMETER_VALUE, SYNTAX_ERROR, PgError, unsupported
from rest.pgwire.sqltext import Token

# display name, default
_DEFAULTS: list[tuple[str, str]] = [
    ("server_version", SERVER_VERSION), ("server_version_num", "150000"), ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"), ("IntervalStyle", "postgres"),
    ("integer_datetimes", "on"), ("standard_conforming_strings", "on"), ("TimeZone", "UTC"),
    ("application_name", ""), ("is_superuser", "off"), ("session_authorization", ""),
    ("default_transaction_read_only", "off"), ("in_hot_standby", "off"), ("search_path", '"$user", public'),
    ("transaction_isolation", "read committed"), ("default_transaction_isolation", "read committed"),
    ("transaction_read_only", "off"), ("transaction_deferrable", "off"), ("default_transaction_deferrable", "off"),
    ("extra_float_digits", "1"), ("max_identifier_length", "63"), ("block_size", "8192"),
    ("max_index_keys", "32"), ("lc_collate", "C"), ("lc_ctype", "C"), ("lc_messages", "C"),
    ("lc_monetary", "C"), ("lc_numeric", "C"), ("lc_time", "C"), ("jit", "off"), ("statement_timeout", "0"),
    ("lock_timeout", "0"), ("idle_in_transaction_session_timeout", "0"), ("bytea_output", "hex"),
    ("client_min_messages", "notice"), ("timezone_abbreviations", "Default"), ("row_security", "on"),
    ("max_connections", "500"), ("work_mem", "4MB"),
]
REPORTED = ("server_version", "server_encoding", "client_encoding", "application_name", "DateStyle",
            "IntervalStyle", "integer_datetimes", "standard_conforming_strings", "TimeZone", "is_superuser",
            "session_authorization", "default_transaction_read_only", "in_hot_standby")
_READ_ONLY = {"server_version", "server_version_num", "server_encoding", "integer_datetimes", "max_identifier_length",
              "block_size", "max_index_keys", "lc_collate", "lc_ctype", "is_superuser", "in_hot_standby",
              "max_connections", "session_authorization"}
_ENCODINGS = {"utf8", "utf-8", "unicode"}
_DISPLAY = {n.lower(): n for n, _ in _DEFAULTS}


class Settings:
    def __init__(self, user: str, startup: dict[str, str]) -> None:
        self.defaults = {n.lower(): v for n, v in _DEFAULTS}
        self.defaults["session_authorization"] = user
        for k, v in startup.items():
            if k.lower() in ("user", "database", "options", "replication") or k.startswith("_pq_."):
                continue
            self.defaults[k.lower()] = self._check(k.lower(), v)
        self.values = dict(self.defaults)

    def get(self, name: str) -> str | None:
        return self.values.get(name.lower())

    def display(self, name: str) -> str:
        return _DISPLAY.get(name.lower(), name.lower())

    def set(self, name: str, value: str | None) -> str | None:
        """Set (or with None reset) one setting; the display name when clients must be told."""
        key = name.lower()
        if key in _READ_ONLY:
            raise PgError("55P02", f'parameter "{name}" cannot be changed')
        new = self.defaults.get(key, "") if value is None else self._check(key, value)
        old = self.values.get(key)
        self.values[key] = new
        shown = self.display(key)
        return shown if shown in REPORTED and old != new else None

    def reset_all(self) -> list[str]:
        changed = [self.display(k) for k, v in self.values.items() if self.defaults.get(k) != v]
        self.values = dict(self.defaults)
        return [c for c in changed if c in REPORTED]

    def items(self) -> list[tuple[str, str]]:
        return [(self.display(k), v) for k, v in sorted(self.values.items())]

    def statement_timeout(self) -> float | None:
        ms = duration_ms(self.values.get("statement_timeout", "0"))
        return ms / 1000 if ms else None

    @staticmethod
    def _check(key: str, value: str) -> str:
        low = value.strip().lower()
        if key == "client_encoding":
            if low.replace("'", "") not in _ENCODINGS:
                raise PgError(INVALID_PARAMETER_VALUE, f'invalid value for parameter "client_encoding": "{value}"',
                              hint="This server only speaks UTF8.")
            return "UTF8"
        if key == "datestyle":
            parts = [p.strip().upper() for p in value.split(",") if p.strip()]
            order = next((p for p in parts if p in ("MDY", "DMY", "YMD", "US", "EUROPEAN", "NONEURO")), "MDY")
            if any(p not in ("ISO", "MDY", "DMY", "YMD", "US", "EUROPEAN", "NONEURO") for p in parts):
                raise PgError(INVALID_PARAMETER_VALUE, f'invalid value for parameter "DateStyle": "{value}"',
                              hint="This server writes dates in ISO style only: use ISO.")
            order = {"US": "MDY", "NONEURO": "MDY", "EUROPEAN": "DMY"}.get(order, order)
            return f"ISO, {order}"
        if key == "standard_conforming_strings" and low not in ("on", "true", "1", "yes"):
            raise PgError(INVALID_PARAMETER_VALUE, "standard_conforming_strings can only be on")
        if key == "bytea_output" and low != "hex":
            raise PgError(INVALID_PARAMETER_VALUE, f'invalid value for parameter "bytea_output": "{value}"',
                          hint="This server writes bytea in hex format only.")
        if key in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"):
            duration_ms(value)
        return value


_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(value: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*", value)
    if m is None:
        raise PgError(INVALID_PARAMETER_VALUE, f'invalid value for a time setting: "{value}"',
                      hint='Valid units are "us", "ms", "s", "min", "h" and "d"; the default is ms.')
    return float(m.group(1)) * _UNITS[m.group(2) or "ms"]


# -- parsing commands ----------------------------------------------------------------------------
COMMAND_WORDS = {"SET", "SHOW", "RESET", "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "DISCARD",
                 "DEALLOCATE", "CLOSE", "UNLISTEN"}


@dataclass(frozen=True)
class Command:
    verb: str  # SET | SHOW | RESET | BEGIN | COMMIT | ROLLBACK | DISCARD | DEALLOCATE | CLOSE | UNLISTEN | NOOP
    name: str | None = None  # setting / statement / cursor name; None for ALL
    value: str | None = None  # SET value; None for DEFAULT
    tag: str = ""


def parse_command(tokens: list[Token]) -> Command:
    words = [t.upper for t in tokens]
    verb = words[0]
    if verb == "SET":
        return _parse_set(tokens)
    if verb == "SHOW":
        rest = " ".join(t.text.lower() for t in tokens[1:])
        name = {"time zone": "timezone", "transaction isolation level": "transaction_isolation",
                "session authorization": "session_authorization"}.get(rest, rest)
        if not name:
            raise PgError(SYNTAX_ERROR, "syntax error at end of input")
        if name == rest:
            name = _setting_name(tokens[1:])
        return Command("SHOW", None if name == "all" else name, tag="SHOW")
    if verb == "RESET":
        if len(tokens) < 2:
            raise PgError(SYNTAX_ERROR, "syntax error at end of input")
        name = _setting_name(tokens[1:])
        return Command("RESET", None if name == "all" else name, tag="RESET")
    if verb in ("BEGIN", "START"):
        if verb == "START" and (len(words) < 2 or words[1] != "TRANSACTION"):
            raise PgError(SYNTAX_ERROR, 'syntax error at or near "START"')
        return Command("BEGIN", tag="BEGIN" if verb == "BEGIN" else "START TRANSACTION")
    if verb in ("COMMIT", "END"):
        if "CHAIN" in words and "NO" not in words:
            raise unsupported("COMMIT AND CHAIN is not supported")
        return Command("COMMIT", tag="COMMIT")
    if verb in ("ROLLBACK", "ABORT"):
        if "TO" in words or "PREPARED" in words:
            raise unsupported("savepoints and two-phase commit are not supported")
        return Command("ROLLBACK", tag="ROLLBACK")
    if verb == "DISCARD":
        what = words[1] if len(words) > 1 else ""
        if what not in ("ALL", "PLANS", "SEQUENCES", "TEMP", "TEMPORARY"):
            raise PgError(SYNTAX_ERROR, "syntax error: DISCARD ALL | PLANS | SEQUENCES | TEMP")
        return Command("DISCARD", what, tag=f"DISCARD {'TEMP' if what == 'TEMPORARY' else what}")
    if verb == "DEALLOCATE":
        names = tokens[2:] if len(words) > 1 and words[1] == "PREPARE" else tokens[1:]
        if not names:
            raise PgError(SYNTAX_ERROR, "syntax error at end of input")
        if names[0].upper == "ALL":
            return Command("DEALLOCATE", None, tag="DEALLOCATE ALL")
        return Command("DEALLOCATE", names[0].ident, tag="DEALLOCATE")
    if verb == "CLOSE":
        if len(tokens) < 2:
            raise PgError(SYNTAX_ERROR, "syntax error at end of input")
        if words[1] == "ALL":
            return Command("CLOSE", None, tag="CLOSE CURSOR ALL")
        return Command("CLOSE", tokens[1].ident, tag="CLOSE CURSOR")
    if verb == "UNLISTEN":
        return Command("UNLISTEN", tag="UNLISTEN")
    raise PgError(SYNTAX_ERROR, f'syntax error at or near "{tokens[0].text}"')


def _setting_name(tokens: list[Token]) -> str:
    return "".join(t.text if t.kind != "qident" else t.ident for t in tokens).lower()


def _parse_set(tokens: list[Token]) -> Command:
    i = 1
    words = [t.upper for t in tokens]
    if i < len(tokens) and words[i] in ("SESSION", "LOCAL"):
        if words[i] == "SESSION" and i + 1 < len(tokens) and words[i + 1] in ("CHARACTERISTICS", "AUTHORIZATION"):
            if words[i + 1] == "AUTHORIZATION":
                raise unsupported("SET SESSION AUTHORIZATION is not supported")
            return Command("NOOP", tag="SET")  # default transaction modes: every statement only reads
        i += 1
    if i < len(tokens) and words[i] == "TRANSACTION":
        return Command("NOOP", tag="SET")  # isolation of a read-only transaction: nothing changes
    if i + 1 < len(tokens) and words[i] == "TIME" and words[i + 1] == "ZONE":
        name, i = "timezone", i + 2
    elif i < len(tokens) and words[i] == "NAMES":
        name, i = "client_encoding", i + 1
    else:
        start = i
        while i < len(tokens) and not (tokens[i].is_op("=") or words[i] == "TO"):
            i += 1
        if i == start or i >= len(tokens):
            raise PgError(SYNTAX_ERROR, "syntax error in SET: expected SET name TO value")
        name = _setting_name(tokens[start:i])
        i += 1
    values = tokens[i:]
    if not values:
        raise PgError(SYNTAX_ERROR, "syntax error at end of input")
    if len(values) == 1 and values[0].upper in ("DEFAULT", "LOCAL") and name == "timezone" or (
            len(values) == 1 and values[0].upper == "DEFAULT"):
        return Command("SET", name, None, tag="SET")
    parts: list[str] = []
    current = ""
    for t in values:
        if t.is_op(","):
            parts.append(current)
            current = ""
        elif t.kind in ("string", "estring", "dollar"):
            current += t.string
        elif t.kind == "qident":
            current += t.ident
        else:
            current += t.text
    parts.append(current)
    return Command("SET", name, ", ".join(parts), tag="SET")
