"""Errors sent to PostgreSQL clients: a SQLSTATE, a severity and a message.

    PgError                 anything answered with an ErrorResponse (the connection stays usable)
    └── FatalError          answered, then the connection is closed (bad password, protocol error)

``from_ksql`` maps an engine exception onto the SQLSTATE a PostgreSQL client expects.
"""

from __future__ import annotations

import re

from ksql.errors import KsqlException, KsqlFunctionException, ParseFailedException, SerializationError

# SQLSTATE codes used by the server (PostgreSQL's names)
SUCCESSFUL_COMPLETION = "00000"
WARNING = "01000"
NO_ACTIVE_SQL_TRANSACTION = "25P01"
ACTIVE_SQL_TRANSACTION = "25001"
IN_FAILED_SQL_TRANSACTION = "25P02"
PROTOCOL_VIOLATION = "08P01"
FEATURE_NOT_SUPPORTED = "0A000"
INVALID_PASSWORD = "28P01"
INVALID_AUTHORIZATION = "28000"
SYNTAX_ERROR = "42601"
SEMANTIC_ERROR = "42000"
UNDEFINED_TABLE = "42P01"
UNDEFINED_COLUMN = "42703"
UNDEFINED_FUNCTION = "42883"
UNDEFINED_OBJECT = "42704"
DATATYPE_MISMATCH = "42804"
DUPLICATE_PREPARED_STATEMENT = "42P05"
DUPLICATE_CURSOR = "42P03"
INVALID_SQL_STATEMENT_NAME = "26000"
INVALID_CURSOR_NAME = "34000"
DATA_EXCEPTION = "22000"
INVALID_TEXT_REPRESENTATION = "22P02"
NUMERIC_VALUE_OUT_OF_RANGE = "22003"
INVALID_PARAMETER_VALUE = "22023"
INVALID_BINARY_REPRESENTATION = "22P03"
QUERY_CANCELED = "57014"
CANNOT_CONNECT_NOW = "57P03"
ADMIN_SHUTDOWN = "57P01"
INTERNAL_ERROR = "XX000"


class PgError(Exception):
    def __init__(self, code: str, message: str, *, detail: str | None = None, hint: str | None = None,
                 severity: str = "ERROR", position: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        self.hint = hint
        self.severity = severity
        self.position = position


class FatalError(PgError):
    def __init__(self, code: str, message: str, **kw: str | None) -> None:
        super().__init__(code, message, severity="FATAL", **kw)  # type: ignore[arg-type]


def unsupported(what: str, hint: str | None = None) -> PgError:
    return PgError(FEATURE_NOT_SUPPORTED, what, hint=hint)


_LINE_COL = re.compile(r"^line (\d+):(\d+): ")

# engine messages -> SQLSTATE, first match wins
_BY_MESSAGE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"does not exist\.?$|^Unknown source"), UNDEFINED_TABLE),
    (re.compile(r"cannot be resolved|^Column .* not found|[Uu]nknown column"), UNDEFINED_COLUMN),
    (re.compile(r"^Pull queries don't support|isn't queryable|not supported|currently disabled"),
     FEATURE_NOT_SUPPORTED),
    (re.compile(r"[Ff]unction .* does not exist|^Can't find any functions"), UNDEFINED_FUNCTION),
    (re.compile(r"[Cc]annot compare|[Tt]ype mismatch|incompatible|[Ee]xpected type"), DATATYPE_MISMATCH),
    (re.compile(r"out of range|[Oo]verflow"), NUMERIC_VALUE_OUT_OF_RANGE),
]


def from_ksql(e: KsqlException, sql: str | None = None) -> PgError:
    message = e.message
    if isinstance(e, ParseFailedException):
        position = None
        m = _LINE_COL.match(message)
        if m and sql is not None:
            position = _offset(sql, int(m.group(1)), int(m.group(2)))
        return PgError(SYNTAX_ERROR, message.replace("\n", ": ", 1), position=position)
    for pattern, code in _BY_MESSAGE:
        if pattern.search(message):
            return PgError(code, message)
    if isinstance(e, (KsqlFunctionException, SerializationError)):
        return PgError(DATA_EXCEPTION, message)
    return PgError(SEMANTIC_ERROR, message)


def _offset(sql: str, line: int, col: int) -> int:
    lines = sql.split("\n")
    return sum(len(x) + 1 for x in lines[:line - 1]) + col
