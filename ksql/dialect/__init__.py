"""The ksql SQL dialect: parsing statements and expressions, rendering expressions.

Typical use by the engine, statement by statement so that DEFINE takes effect in order::

    for text in split_statements(script):
        text = substitute_variables(text, session_variables)
        (statement,) = parse(text)

``parse`` accepts several statements at once too; positions in its errors then count from the
start of the whole text.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import Token

from ksql.dialect.dialect import Ksql
from ksql.dialect.expression_parser import RESERVED_WORDS, SyntaxErrorException
from ksql.dialect.generator import format_expression
from ksql.dialect.nodes import Statement
from ksql.dialect.parser import KsqlParser
from ksql.dialect.tokenizer import split_statements, substitute_variables

__all__ = [
    "RESERVED_WORDS",
    "Ksql",
    "SyntaxErrorException",
    "format_expression",
    "parse",
    "parse_expression",
    "split_statements",
    "substitute_variables",
]

_DIALECT = Ksql()


def _tokenize(sql: str) -> list[Token]:
    try:
        return _DIALECT.tokenize(sql)
    except TokenError:
        line, col, what = _unterminated(sql)
        raise SyntaxErrorException(
            f"line {line}:{col}: Syntax Error", f"Unterminated {what} starting at line {line}:{col}", sql.strip()
        ) from None


def _unterminated(sql: str) -> tuple[int, int, str]:
    """Where the quote that never closes starts (the only way ksql text fails to tokenize)."""
    names = {"'": "string literal", "`": "quoted identifier", '"': "quoted identifier"}
    i, n = 0, len(sql)
    start = 0
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            nl = sql.find("\n", i)
            i = n if nl < 0 else nl + 1
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c in names:
            start = i
            i += 1
            while i < n and not (sql[i] == c and not sql.startswith(c * 2, i)):
                i += 2 if sql.startswith(c * 2, i) else 1
            if i >= n:
                break
        i += 1
    line = sql.count("\n", 0, start) + 1
    col = start - (sql.rfind("\n", 0, start) + 1) + 1
    return line, col, names.get(sql[start : start + 1], "token")


def parse(sql: str) -> list[Statement]:
    """Parse ksql statements, each terminated by ``;``.

    Raises :class:`ParseFailedException` (line and column in the message) on any text that is not
    valid ksql, including unknown statements.
    """
    return KsqlParser(dialect=_DIALECT).parse_statements(_tokenize(sql), sql)


def parse_expression(text: str) -> exp.Expression:
    """Parse one scalar expression, e.g. ``"A + CAST(B AS INT)"``."""
    return KsqlParser(dialect=_DIALECT).parse_standalone_expression(_tokenize(text), text)
