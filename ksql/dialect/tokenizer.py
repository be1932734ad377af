"""Lexing for the ksql dialect: the sqlglot tokenizer configured for ksql, statement splitting
and ``${name}`` variable substitution (the last two work on raw text, before parsing).

Every unquoted word comes out as a ``TokenType.VAR`` token: ksql keywords are recognised by the
parser from the token text, because which words are reserved depends on the grammar position.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sqlglot.tokenizer_core import Token, TokenType
from sqlglot.tokens import Tokenizer

# Characters that are not tokens of their own in ksql. Left out of SINGLE_TOKENS they stick to the
# word they touch (``a@b`` is one identifier, ``${x}`` one variable reference) and the parser
# rejects whatever is not a valid identifier.
_NOT_SINGLE = {"{", "}", "&", "^", "\\", "~", "?", "@", "#", "$"}


class KsqlTokenizer(Tokenizer):
    QUOTES: ClassVar[list[tuple[str, str] | str]] = ["'"]
    STRING_ESCAPES: ClassVar[list[str]] = ["'"]
    IDENTIFIERS: ClassVar[list[str | tuple[str, str]]] = ["`", '"']
    COMMENTS: ClassVar[list[str | tuple[str, str]]] = ["--", ("/*", "*/")]
    NESTED_COMMENTS = False
    COMMANDS: ClassVar[set[TokenType]] = set()
    COMMAND_PREFIX_TOKENS: ClassVar[set[TokenType]] = set()

    SINGLE_TOKENS: ClassVar[dict[str, TokenType]] = {
        k: v for k, v in Tokenizer.SINGLE_TOKENS.items() if k not in _NOT_SINGLE
    }

    # Only ksql's multi-character operators; words are never keywords at this level.
    KEYWORDS: ClassVar[dict[str, TokenType]] = {
        "||": TokenType.DPIPE,
        ">=": TokenType.GTE,
        "<=": TokenType.LTE,
        "<>": TokenType.NEQ,
        "!=": TokenType.NEQ,
        ":=": TokenType.COLON_EQ,
        "->": TokenType.ARROW,
        "=>": TokenType.FARROW,
    }

    def tokenize(self, sql: str) -> list[Token]:
        return _merge_leading_dot_numbers(super().tokenize(sql))


def _merge_leading_dot_numbers(tokens: list[Token]) -> list[Token]:
    """``.5`` is one DECIMAL literal in ksql; sqlglot lexes it as DOT NUMBER."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        prev = out[-1] if out else None
        if (
            tok.token_type == TokenType.DOT
            and nxt is not None
            and nxt.token_type == TokenType.NUMBER
            and nxt.start == tok.end + 1
            and nxt.text[:1].isdigit()
            # but ``t.5`` stays a (bad) qualified name for the parser to report
            and not (
                prev is not None
                and prev.end + 1 == tok.start
                and prev.token_type in (TokenType.VAR, TokenType.IDENTIFIER)
            )
        ):
            out.append(
                Token(
                    TokenType.NUMBER,
                    "." + nxt.text,
                    line=nxt.line,
                    col=nxt.col,
                    start=tok.start,
                    end=nxt.end,
                    comments=tok.comments + nxt.comments,
                )
            )
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


# --------------------------------------------------------------------------------------------
# Raw-text helpers
# --------------------------------------------------------------------------------------------


def _skip_quoted(sql: str, i: int, quote: str) -> int:
    """Index just past the quoted run starting at ``sql[i] == quote`` (doubled quote escapes).
    Returns ``len(sql) + 1`` when the quote is never closed."""
    i += 1
    n = len(sql)
    while i < n:
        if sql[i] == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n + 1


def _skip_comment(sql: str, i: int) -> int:
    """Index just past a comment starting at ``i`` (``--`` to end of line, ``/* */``), or ``i``."""
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return len(sql) if end < 0 else end + 2
    return i


def split_statements(sql: str) -> list[str]:
    """Split a script on ``;`` outside strings, quoted identifiers and comments.

    Each piece starts at its first token (leading whitespace and comments dropped) and ends with
    its ``;``. A trailing piece without ``;`` is returned as is (the parser will report it);
    pieces that are only whitespace or comments are dropped.
    """
    return [piece for _, piece in split_statements_at(sql)]


def split_statements_at(sql: str) -> list[tuple[int, str]]:
    """:func:`split_statements`, each piece with its offset in ``sql``."""
    out: list[tuple[int, str]] = []
    n = len(sql)
    i = 0
    start: int | None = None
    while i < n:
        c = sql[i]
        j = _skip_comment(sql, i)
        if j != i:
            i = j
            continue
        if c.isspace():
            i += 1
            continue
        if start is None:
            start = i
        if c in "'`\"":
            i = min(_skip_quoted(sql, i, c), n)
            continue
        if c == ";":
            out.append((start, sql[start : i + 1]))
            start = None
        i += 1
    if start is not None:
        out.append((start, sql[start:].rstrip()))
    return out


def position_padding(sql: str, offset: int) -> str:
    """Whitespace that puts text parsed after it at the line and column ``offset`` has in ``sql``:
    positions in parse errors then count from the start of the whole script, as in ksqlDB."""
    line_start = sql.rfind("\n", 0, offset) + 1
    return "\n" * sql.count("\n", 0, offset) + " " * (offset - line_start)


_VARIABLE_RE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_@]*)\}")


def substitute_variables(sql: str, variables: dict[str, str]) -> str:
    """Replace ``${name}`` references (names case-insensitive) with the variable's value.

    Substitution applies everywhere, string literals included, as in ksqlDB. ``$${name}`` is an
    escaped reference and becomes the literal text ``${name}``. Unknown names are left in place:
    the parser reports them with their position.
    """
    if "${" not in sql:
        return sql
    by_upper = {k.upper(): v for k, v in variables.items()}

    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(0)[1:]
        value = by_upper.get(m.group(2).upper())
        return m.group(0) if value is None else value

    return _VARIABLE_RE.sub(repl, sql)
