"""Parser of the ksql dialect: sqlglot's token cursor driven by ksql's grammar.

Statements come out as the dataclasses of :mod:`ksql.dialect.nodes`; scalar expressions as sqlglot
nodes (plus the ksql-specific nodes of that module). Statement and clause keywords are looked up
in class tables (``STATEMENTS``, ``SHOW_TARGETS``, ``WINDOW_PARSERS``...), as sqlglot's own
dialects do.

Errors are :class:`ksql.errors.ParseFailedException` shaped like ksqlDB's::

    line 2:47: Syntax Error
    Syntax error at or near 'NULL' at line 2:47

Lines and columns are 1-based and count from the start of the text given to the parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, NoReturn

from sqlglot import exp
from sqlglot.parser import Parser
from sqlglot.tokens import Token, TokenType

from ksql import sqltypes
from ksql.dialect import nodes
from ksql.errors import ParseFailedException
from ksql.sqltypes import SqlType

# Keywords of the ksql grammar that cannot be used as unquoted identifiers.
RESERVED_WORDS = frozenset(
    """
    SELECT FROM AS ALL DISTINCT WHERE WITHIN WINDOW GROUP BY HAVING LIMIT AT OR AND IN NOT EXISTS
    BETWEEN LIKE IS NULL TRUE FALSE MILLISECOND YEARS MONTHS DAYS HOURS MINUTES SECONDS
    MILLISECONDS TUMBLING HOPPING SIZE ADVANCE RETENTION CASE WHEN THEN ELSE END JOIN FULL OUTER
    INNER LEFT RIGHT ON WITH VALUES CREATE TABLE TOPIC STREAM STREAMS INSERT DELETE INTO DESCRIBE
    EXTENDED PRINT CAST LIST TOPICS QUERY QUERIES TERMINATE LOAD DROP TO RENAME SAMPLE EXPORT
    CATALOG PROPERTIES BEGINNING UNSET RUN SCRIPT DECIMAL CONNECTOR CONNECTORS NAMESPACE
    MATERIALIZED VIEW
    """.split()
)

UNIT_MS = {
    "MILLISECOND": 1,
    "MILLISECONDS": 1,
    "SECOND": 1_000,
    "SECONDS": 1_000,
    "MINUTE": 60_000,
    "MINUTES": 60_000,
    "HOUR": 3_600_000,
    "HOURS": 3_600_000,
    "DAY": 86_400_000,
    "DAYS": 86_400_000,
}

# Unit words that are reserved, hence a time unit (not a column) when alone as a function
# argument; mapped to the unit's canonical name.
ARGUMENT_UNITS = {
    "MILLISECOND": "MILLISECONDS",
    "MILLISECONDS": "MILLISECONDS",
    "SECONDS": "SECONDS",
    "MINUTES": "MINUTES",
    "HOURS": "HOURS",
    "DAYS": "DAYS",
}

_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_@]*|[0-9][A-Za-z0-9_@]+")
_SOURCE_NAME_RE = re.compile(r"[a-zA-Z0-9_-]*")

_COMPARISONS: dict[TokenType, type[exp.Expression]] = {
    TokenType.EQ: exp.EQ,
    TokenType.NEQ: exp.NEQ,
    TokenType.LT: exp.LT,
    TokenType.LTE: exp.LTE,
    TokenType.GT: exp.GT,
    TokenType.GTE: exp.GTE,
}
_ADDITIVE: dict[TokenType, type[exp.Expression]] = {TokenType.PLUS: exp.Add, TokenType.DASH: exp.Sub}
_MULTIPLICATIVE: dict[TokenType, type[exp.Expression]] = {
    TokenType.STAR: exp.Mul,
    TokenType.SLASH: exp.Div,
    TokenType.MOD: exp.Mod,
}

_INT64_MAX = sqltypes.INT64_MAX


class KsqlParser(Parser):
    # Statement keyword -> parser of the rest of the statement (keyword already consumed).
    STATEMENTS: ClassVar[dict[str, Callable[[KsqlParser], nodes.Statement]]] = {
        "SELECT": lambda self: nodes.QueryStatement(query=self._parse_query_body()),
        "CREATE": lambda self: self._parse_create(),
        "INSERT": lambda self: self._parse_insert(),
        "SHOW": lambda self: self._parse_show(),
        "LIST": lambda self: self._parse_show(),
        "DESCRIBE": lambda self: self._parse_describe(),
        "EXPLAIN": lambda self: self._parse_explain(),
        "DROP": lambda self: self._parse_drop(),
        "ALTER": lambda self: self._parse_alter(),
        "TERMINATE": lambda self: self._parse_terminate(),
        "SET": lambda self: self._parse_set(),
        "UNSET": lambda self: nodes.UnsetProperty(name=self._parse_property_string()),
        "DEFINE": lambda self: self._parse_define(),
        "UNDEFINE": lambda self: nodes.Undefine(name=self._parse_variable_name()),
        "PRINT": lambda self: self._parse_print(),
        "ASSERT": lambda self: self._parse_assert(),
    }

    # SHOW/LIST target -> whether EXTENDED may follow.
    SHOW_TARGETS: ClassVar[dict[str, bool]] = {
        "PROPERTIES": False,
        "TOPICS": True,
        "STREAMS": True,
        "TABLES": True,
        "QUERIES": True,
        "FUNCTIONS": False,
        "TYPES": False,
        "VARIABLES": False,
        "CONNECTORS": False,
    }

    WINDOW_PARSERS: ClassVar[dict[str, Callable[[KsqlParser], nodes.WindowSpec]]] = {
        "TUMBLING": lambda self: self._parse_tumbling(),
        "HOPPING": lambda self: self._parse_hopping(),
        "SESSION": lambda self: self._parse_session(),
    }

    JOIN_KINDS: ClassVar[dict[str, str]] = {
        "JOIN": "INNER",
        "INNER": "INNER",
        "LEFT": "LEFT",
        "RIGHT": "RIGHT",
        "FULL": "FULL",
    }

    # Word after CASE/CAST/... at the start of a primary expression -> its parser. Entries
    # that need a following token (ARRAY[, MAP(, STRUCT() check it themselves.
    PRIMARY_WORDS: ClassVar[dict[str, Callable[[KsqlParser, Token], exp.Expression | None]]] = {
        "NULL": lambda self, tok: exp.Null(),
        "TRUE": lambda self, tok: exp.Boolean(this=True),
        "FALSE": lambda self, tok: exp.Boolean(this=False),
        "CASE": lambda self, tok: self._parse_case(),
        "CAST": lambda self, tok: self._parse_cast(),
        "ARRAY": lambda self, tok: self._parse_array(tok),
        "MAP": lambda self, tok: self._parse_map(tok),
        "STRUCT": lambda self, tok: self._parse_struct(tok),
    }

    TYPE_CONSTRUCTORS: ClassVar[dict[str, Callable[[KsqlParser], SqlType | nodes.TypeRef]]] = {
        "ARRAY": lambda self: sqltypes.array(self._parse_angled(1)[0]),
        "MAP": lambda self: sqltypes.map_of(*self._parse_angled(2)),
        "STRUCT": lambda self: self._parse_struct_type(),
    }

    # -- driver ----------------------------------------------------------------------------

    def parse_statements(self, tokens: list[Token], sql: str) -> list[nodes.Statement]:
        self._begin(tokens, sql)
        out: list[nodes.Statement] = []
        while self._curr:
            if self._match(TokenType.SEMICOLON):
                continue
            first = self._curr
            self._stmt_start = self._index
            self._sources: set[str] = set()
            self._qualifiers: list[tuple[str, Token]] = []
            stmt = self._parse_statement_body()
            self._check_qualifiers()
            if not self._match(TokenType.SEMICOLON):
                self._fail(self._near_detail() if self._curr else "Expecting ';'")
            stmt.text = sql[first.start : self._prev.end + 1]
            out.append(stmt)
        return out

    def parse_standalone_expression(self, tokens: list[Token], sql: str) -> exp.Expression:
        self._begin(tokens, sql)
        self._stmt_start = 0
        self._qualifiers = []
        if not self._curr:
            self._fail("Expecting an expression")
        e = self._parse_expr()
        if self._curr:
            self._fail()
        return e

    def _begin(self, tokens: list[Token], sql: str) -> None:
        self.reset()
        self.sql = sql
        self._tokens = tokens
        self._tokens_size = len(tokens)  # type: ignore[assignment]
        self._index = -1  # type: ignore[assignment]
        self._stmt_start = 0
        self._advance()

    def _parse_statement_body(self) -> nodes.Statement:
        tok = self._curr
        word = self._word_text(tok)
        handler = self.STATEMENTS.get(word) if word else None
        if handler is None:
            self._fail(f"Unknown statement '{self._display(tok)}'", tok)
        self._advance()
        return handler(self)

    # -- errors ------------------------------------------------------------------------------

    def _position(self, tok: Token) -> tuple[int, int]:
        if not tok:
            start = len(self.sql)
        else:
            start = tok.start
        line = self.sql.count("\n", 0, start) + 1
        col = start - (self.sql.rfind("\n", 0, start) + 1) + 1
        return line, col

    def _display(self, tok: Token) -> str:
        return self.sql[tok.start : tok.end + 1] if tok else "<EOF>"

    def _near_detail(self, tok: Token | None = None) -> str:
        tok = self._curr if tok is None else tok
        line, col = self._position(tok)
        return f"Syntax error at or near '{self._display(tok)}' at line {line}:{col}"

    def _statement_text(self) -> str:
        if not self._tokens:
            return self.sql.strip()
        start = self._tokens[min(self._stmt_start, len(self._tokens) - 1)]
        end = start
        for tok in self._tokens[self._stmt_start :]:
            end = tok
            if tok.token_type == TokenType.SEMICOLON:
                break
        return self.sql[start.start : end.end + 1]

    def _fail(self, detail: str | None = None, tok: Token | None = None) -> NoReturn:
        tok = self._curr if tok is None else tok
        if tok and tok.token_type == TokenType.VAR and tok.text.startswith("${"):
            detail = f"Variable '{tok.text}' is not defined. Define it first with DEFINE."
        line, col = self._position(tok)
        message = f"line {line}:{col}: Syntax Error\n{detail or self._near_detail(tok)}"
        raise ParseFailedException(message, self._statement_text())

    def _fail_prepare(self, message: str, tok: Token) -> NoReturn:
        """A statement that parsed but is invalid, reported like ksqlDB's node-located errors:
        those count columns from one past the token."""
        line, col = self._position(tok)
        raise ParseFailedException(
            f"Failed to prepare statement: line {line}:{col + 1}: {message}",
            self._statement_text(),
        )

    def raise_error(self, message: str, token: Token | None = None) -> None:
        self._fail(message, token)

    # -- token helpers -------------------------------------------------------------------

    @staticmethod
    def _word_text(tok: Token) -> str | None:
        """Upper-cased text of an unquoted word token, else None."""
        return tok.text.upper() if tok and tok.token_type == TokenType.VAR else None

    def _at(self, *words: str) -> bool:
        return self._word_text(self._curr) in words

    def _next_is(self, *words: str) -> bool:
        return self._word_text(self._next) in words

    def _accept(self, *words: str) -> bool:
        """Consume the word sequence if it is next."""
        index = self._index
        for w in words:
            if not self._at(w):
                self._retreat(index)
                return False
            self._advance()
        return True

    def _expect(self, *words: str) -> None:
        for w in words:
            if not self._at(w):
                self._fail()
            self._advance()

    def _expect_token(self, token_type: TokenType, shown: str) -> Token:
        if self._curr.token_type != token_type:
            self._fail(
                f"missing '{shown}' at '{self._display(self._curr)}'"
                if token_type in (TokenType.R_PAREN, TokenType.R_BRACKET)
                else f"Expecting {{'{shown}'}}"
            )
        self._advance()
        return self._prev

    def _is_identifier(self, tok: Token, *, reserved_ok: bool = False) -> bool:
        if tok.token_type == TokenType.IDENTIFIER:
            return True
        if tok.token_type != TokenType.VAR or not _IDENTIFIER_RE.fullmatch(tok.text):
            return False
        return reserved_ok or tok.text.upper() not in RESERVED_WORDS

    def _parse_identifier(self, *, case_sensitive: bool = False) -> str:
        """An identifier: unquoted ones upper-cased (unless case_sensitive), quoted ones as is."""
        tok = self._curr
        if not self._is_identifier(tok):
            if tok.token_type == TokenType.VAR and tok.text.upper() in RESERVED_WORDS:
                self._fail(
                    f'"{tok.text}" is a reserved keyword and it can\'t be used as an identifier.'
                    f" You can use it as an identifier by escaping it as `{tok.text}`"
                )
            self._fail()
        self._advance()
        if tok.token_type == TokenType.IDENTIFIER or case_sensitive:
            return tok.text
        return tok.text.upper()

    def _parse_source_name(self) -> str:
        tok = self._curr
        name = self._parse_identifier()
        if not _SOURCE_NAME_RE.fullmatch(name):
            line, col = self._position(tok)
            raise ParseFailedException(
                f"Illegal argument at Line: {line}, Col: {col}. Source names may only contain"
                f" alphanumeric values, '_' or '-'. Got: '{name}'",
                self._statement_text(),
            )
        return name

    def _parse_string(self) -> str:
        if self._curr.token_type != TokenType.STRING:
            self._fail()
        self._advance()
        return self._prev.text

    def _parse_integer(self, context: str) -> int:
        """A ``number`` that must be an integer (LIMIT, INTERVAL, window sizes...)."""
        negative = self._match(TokenType.DASH)
        tok = self._curr
        if tok.token_type != TokenType.NUMBER:
            self._fail()
        self._advance()
        if not tok.text.isdigit():
            raise ParseFailedException(
                f"Failed to prepare statement: Value must be integer for command: {context}",
                self._statement_text(),
            )
        value = -int(tok.text) if negative else int(tok.text)
        if not sqltypes.INT64_MIN <= value <= _INT64_MAX:
            self._fail_prepare(f"Invalid numeric literal: {'-' if negative else ''}{tok.text}", tok)
        return value

    # -- statements ----------------------------------------------------------------------

    def _parse_create(self) -> nodes.Statement:
        or_replace = self._accept("OR", "REPLACE")
        if not or_replace and self._accept("TYPE"):
            if_not_exists = self._accept("IF", "NOT", "EXISTS")
            name = self._parse_identifier()
            self._expect("AS")
            return nodes.CreateType(name=name, type=self._parse_type(), if_not_exists=if_not_exists)
        if self._at("SOURCE", "SINK") and self._next_is("CONNECTOR"):
            self._unsupported("Connector statements")
        source = self._accept("SOURCE")
        if not self._at("STREAM", "TABLE"):
            self._fail()
        kind = self._word_text(self._curr) or ""
        self._advance()
        if_not_exists = self._accept("IF", "NOT", "EXISTS")
        name = self._parse_source_name()
        columns = self._parse_table_elements() if self._curr.token_type == TokenType.L_PAREN else None
        properties = self._parse_with_properties()
        if columns is None and not source and self._accept("AS"):
            if not self._accept("SELECT"):
                self._fail()
            return nodes.CreateAsSelect(
                kind=kind,
                name=name,
                query=self._parse_query_body(),
                properties=properties,
                or_replace=or_replace,
                if_not_exists=if_not_exists,
            )
        return nodes.CreateSource(
            kind=kind,
            name=name,
            columns=columns or [],
            properties=properties,
            or_replace=or_replace,
            if_not_exists=if_not_exists,
            source=source,
        )

    def _parse_table_elements(self) -> list[nodes.ColumnDef]:
        self._expect_token(TokenType.L_PAREN, "(")
        columns = [self._parse_column_def(constraints=True)]
        while not self._match(TokenType.R_PAREN):
            if not self._match(TokenType.COMMA):
                self._fail("Expecting {',', ')'}")
            columns.append(self._parse_column_def(constraints=True))
        return columns

    def _parse_column_def(self, *, constraints: bool) -> nodes.ColumnDef:
        name = self._parse_identifier()
        col = nodes.ColumnDef(name=name, type=self._parse_type())
        if not constraints:
            return col
        if self._accept("PRIMARY", "KEY"):
            col.key = col.primary = True
        elif self._accept("KEY"):
            col.key = True
        elif self._accept("HEADERS"):
            col.headers = True
        elif self._accept("HEADER"):
            self._expect_token(TokenType.L_PAREN, "(")
            col.header_key = self._parse_string()
            self._expect_token(TokenType.R_PAREN, ")")
        return col

    def _parse_with_properties(self) -> dict[str, Any]:
        if not self._accept("WITH"):
            return {}
        self._expect_token(TokenType.L_PAREN, "(")
        props: dict[str, Any] = {}
        while True:
            tok = self._curr
            key = self._parse_string() if tok.token_type == TokenType.STRING else self._parse_identifier()
            key = key.upper()
            self._expect_token(TokenType.EQ, "=")
            if key in props:
                raise ParseFailedException(
                    f"Failed to prepare statement: Duplicate property '{key}' in the WITH clause."
                    " Set each property once.",
                    self._statement_text(),
                )
            props[key] = self._parse_property_value()
            if self._match(TokenType.R_PAREN):
                return props
            if not self._match(TokenType.COMMA):
                self._fail("Expecting {',', ')'}")

    def _parse_property_value(self) -> Any:
        """A ``literal`` as a Python value: str, int, float, bool or None."""
        tok = self._curr
        if tok.token_type == TokenType.STRING:
            self._advance()
            return tok.text
        word = self._word_text(tok)
        if word in ("TRUE", "FALSE", "NULL"):
            self._advance()
            return None if word == "NULL" else word == "TRUE"
        sign = self._curr if self._match(TokenType.DASH) else None
        num = self._curr
        if num.token_type != TokenType.NUMBER:
            self._fail()
        self._advance()
        self._check_number(num, sign)
        value: int | float = int(num.text) if num.text.isdigit() else float(num.text)
        return -value if sign else value

    def _parse_insert(self) -> nodes.Statement:
        self._expect("INTO")
        target = self._parse_source_name()
        if self._at("WITH"):
            properties = self._parse_with_properties()
            self._expect("SELECT")
            return nodes.InsertInto(target=target, query=self._parse_query_body(), properties=properties)
        if self._accept("SELECT"):
            return nodes.InsertInto(target=target, query=self._parse_query_body())
        columns: list[str] | None = None
        if self._match(TokenType.L_PAREN):
            columns = [self._parse_identifier()]
            while self._match(TokenType.COMMA):
                columns.append(self._parse_identifier())
            self._expect_token(TokenType.R_PAREN, ")")
        self._expect("VALUES")
        self._expect_token(TokenType.L_PAREN, "(")
        values: list[exp.Expression] = []
        if not self._match(TokenType.R_PAREN):
            values.append(self._parse_value())
            while self._match(TokenType.COMMA):
                values.append(self._parse_value())
            self._expect_token(TokenType.R_PAREN, ")")
        return nodes.InsertValues(target=target, columns=columns, values=values)

    def _parse_show(self) -> nodes.Statement:
        if self._accept("ALL", "TOPICS"):
            return nodes.Show(what="TOPICS", extended=self._accept("EXTENDED"), all=True)
        if self._accept("CONNECTOR", "PLUGINS"):
            return nodes.Show(what="CONNECTOR PLUGINS")
        if self._at("SOURCE", "SINK") and self._next_is("CONNECTORS"):
            scope = self._word_text(self._curr)
            self._advance(2)
            return nodes.Show(what=f"{scope} CONNECTORS")
        what = self._word_text(self._curr)
        if what not in self.SHOW_TARGETS:
            self._fail()
        self._advance()
        extended = self.SHOW_TARGETS[what] and self._accept("EXTENDED")
        return nodes.Show(what=what, extended=extended)

    def _parse_describe(self) -> nodes.Statement:
        # EXTENDED before the name is the pre-0.10 spelling, still accepted.
        early_extended = self._accept("EXTENDED")
        if self._accept("STREAMS"):
            return nodes.Describe(None, what="STREAMS", extended=early_extended or self._accept("EXTENDED"))
        if self._at("FUNCTION", "CONNECTOR") and self._is_identifier(self._next):
            what = self._word_text(self._curr) or ""
            self._advance()
            return nodes.Describe(self._parse_identifier(), what=what)
        # DESCRIBE TABLES is a source named TABLES unless written unquoted.
        if self._at("TABLES"):
            self._advance()
            return nodes.Describe(None, what="TABLES", extended=early_extended or self._accept("EXTENDED"))
        name = self._parse_source_name()
        return nodes.Describe(name, extended=early_extended or self._accept("EXTENDED"))

    def _parse_explain(self) -> nodes.Statement:
        tok = self._curr
        if self._is_identifier(tok, reserved_ok=False) and self._next.token_type in (
            TokenType.SEMICOLON,
            TokenType.SENTINEL,
        ):
            return nodes.Explain(query_id=self._parse_identifier())
        inner = self._parse_statement_body()
        end = self._curr if self._curr.token_type == TokenType.SEMICOLON else self._prev
        inner.text = self.sql[tok.start : end.end + 1]
        return nodes.Explain(statement=inner)

    def _parse_drop(self) -> nodes.Statement:
        if self._at("CONNECTOR"):
            self._unsupported("Connector statements")
        if self._accept("TYPE"):
            if_exists = self._accept("IF", "EXISTS")
            return nodes.Drop(kind="TYPE", name=self._parse_identifier(), if_exists=if_exists)
        if not self._at("STREAM", "TABLE"):
            self._fail()
        kind = self._word_text(self._curr) or ""
        self._advance()
        if_exists = self._accept("IF", "EXISTS")
        name = self._parse_source_name()
        delete_topic = self._accept("DELETE", "TOPIC")
        return nodes.Drop(kind=kind, name=name, if_exists=if_exists, delete_topic=delete_topic)

    def _parse_alter(self) -> nodes.Statement:
        if self._at("SYSTEM"):
            self._unsupported("ALTER SYSTEM statements")
        if not self._at("STREAM", "TABLE"):
            self._fail()
        kind = self._word_text(self._curr) or ""
        self._advance()
        name = self._parse_source_name()
        columns = []
        while True:
            self._expect("ADD")
            self._accept("COLUMN")
            columns.append(self._parse_column_def(constraints=False))
            if not self._match(TokenType.COMMA):
                return nodes.AlterSource(kind=kind, name=name, columns=columns)

    def _parse_terminate(self) -> nodes.Statement:
        if self._accept("ALL"):
            return nodes.Terminate(query_id=None)
        return nodes.Terminate(query_id=self._parse_identifier())

    def _parse_property_string(self) -> str:
        return self._parse_string()

    def _parse_set(self) -> nodes.Statement:
        name = self._parse_string()
        self._expect_token(TokenType.EQ, "=")
        return nodes.SetProperty(name=name, value=self._parse_string())

    def _parse_variable_name(self) -> str:
        # Any plain word, reserved or not; kept as written (SHOW VARIABLES lists it that way).
        tok = self._curr
        if tok.token_type != TokenType.VAR or not _IDENTIFIER_RE.fullmatch(tok.text):
            self._fail()
        self._advance()
        return tok.text

    def _parse_define(self) -> nodes.Statement:
        name = self._parse_variable_name()
        self._expect_token(TokenType.EQ, "=")
        return nodes.Define(name=name, value=self._parse_string())

    def _parse_resource_name(self) -> str:
        """A topic or subject name: a string or an identifier, case preserved either way."""
        if self._curr.token_type == TokenType.STRING:
            return self._parse_string()
        return self._parse_identifier(case_sensitive=True)

    def _parse_print(self) -> nodes.Statement:
        stmt = nodes.Print(topic=self._parse_resource_name())
        stmt.from_beginning = self._accept("FROM", "BEGINNING")
        if self._accept("INTERVAL") or self._accept("SAMPLE"):
            stmt.interval = self._parse_integer("INTERVAL")
        if self._accept("LIMIT"):
            stmt.limit = self._parse_integer("LIMIT")
        return stmt

    def _parse_assert(self) -> nodes.Statement:
        exists = not self._accept("NOT", "EXISTS")
        if self._accept("TOPIC"):
            stmt = nodes.Assert(what="TOPIC", name=self._parse_resource_name(), exists=exists)
            stmt.properties = self._parse_with_properties()
        elif self._accept("SCHEMA"):
            stmt = nodes.Assert(what="SCHEMA", name="", exists=exists)
            if self._accept("SUBJECT"):
                stmt.name = self._parse_resource_name()
            if self._accept("ID"):
                stmt.schema_id = self._parse_property_value()
        else:
            self._fail()
        if self._accept("TIMEOUT"):
            stmt.timeout_ms = self._parse_duration_ms()
        return stmt

    def _unsupported(self, what: str) -> NoReturn:
        line, col = self._position(self._curr)
        raise ParseFailedException(
            f"line {line}:{col}: {what} are not supported by this server.", self._statement_text()
        )

    # -- queries -------------------------------------------------------------------------

    def _parse_query_body(self) -> nodes.Query:
        """The query after its SELECT keyword."""
        select = [self._parse_select_item()]
        while self._match(TokenType.COMMA):
            select.append(self._parse_select_item())
        self._expect("FROM")
        from_ = self._parse_aliased_source()
        query = nodes.Query(select=select, from_=from_)
        while self._at(*self.JOIN_KINDS):
            query.joins.append(self._parse_join())
        if self._accept("WINDOW"):
            # An old optional window name may precede the window kind.
            if not self._at(*self.WINDOW_PARSERS) and self._next_is(*self.WINDOW_PARSERS):
                self._advance()
            kind = self._word_text(self._curr)
            if kind not in self.WINDOW_PARSERS:
                self._fail()
            self._advance()
            query.window = self.WINDOW_PARSERS[kind](self)
        if self._accept("WHERE"):
            query.where = self._parse_expr()
        if self._accept("GROUP"):
            self._expect("BY")
            query.group_by = self._parse_grouping()
        if self._accept("PARTITION"):
            self._expect("BY")
            query.partition_by = self._parse_grouping()
        if self._accept("HAVING"):
            query.having = self._parse_expr()
        if self._accept("EMIT"):
            if not self._at("CHANGES", "FINAL"):
                self._fail()
            query.emit = self._word_text(self._curr)
            self._advance()
        if self._accept("LIMIT"):
            query.limit = self._parse_integer("LIMIT")
        return query

    def _parse_select_item(self) -> nodes.SelectItem:
        tok = self._curr
        if self._match(TokenType.STAR):
            return nodes.SelectItem(expr=None)
        if (
            self._is_identifier(tok)
            and self._next.token_type == TokenType.DOT
            and self._index + 2 < len(self._tokens)
            and self._tokens[self._index + 2].token_type == TokenType.STAR
        ):
            qualifier = self._parse_identifier()
            self._advance(2)
            self._qualifiers.append((qualifier, tok))
            return nodes.SelectItem(expr=None, star_qualifier=qualifier)
        struct = self._try_struct_all()
        if struct is not None:
            return nodes.SelectItem(expr=struct, struct_all=True)
        expr = self._parse_expr()
        alias = None
        if self._accept("AS"):
            alias = self._parse_identifier()
        elif self._is_identifier(self._curr):
            alias = self._parse_identifier()
        return nodes.SelectItem(expr=expr, alias=alias)

    def _try_struct_all(self) -> exp.Expression | None:
        """``primary->*``, or None (cursor unchanged) when the item is something else."""
        index = self._index
        qualifiers = len(self._qualifiers)
        try:
            base = self._parse_postfix(self._parse_primary())
        except ParseFailedException:
            base = None
        if base is not None and self._match_pair(TokenType.ARROW, TokenType.STAR):
            return base
        self._retreat(index)
        del self._qualifiers[qualifiers:]
        return None

    def _parse_aliased_source(self) -> nodes.SourceRef:
        tok = self._curr
        if tok.token_type not in (TokenType.VAR, TokenType.IDENTIFIER):
            self._fail()
        name = self._parse_source_name()
        if self._curr.token_type == TokenType.L_PAREN:
            # FROM f(x): table functions are not sources in ksql.
            self._fail()
        alias = None
        if self._accept("AS"):
            alias = self._parse_source_name()
        elif self._is_identifier(self._curr) and not self._starts_clause():
            alias = self._parse_source_name()
        self._sources.add(name)
        if alias is not None:
            self._sources.add(alias)
        return nodes.SourceRef(name=name, alias=alias)

    def _starts_clause(self) -> bool:
        """Whether the non-reserved word at the cursor opens the next clause (not an alias)."""
        return (self._at("EMIT") and self._next_is("CHANGES", "FINAL")) or (
            self._at("PARTITION") and self._next_is("BY")
        )

    def _parse_join(self) -> nodes.JoinClause:
        kind = self.JOIN_KINDS[self._word_text(self._curr) or ""]
        if not self._accept("JOIN"):
            self._advance()
            if kind != "INNER":
                self._accept("OUTER")
            self._expect("JOIN")
        source = self._parse_aliased_source()
        within = self._parse_within() if self._accept("WITHIN") else None
        self._expect("ON")
        return nodes.JoinClause(kind=kind, source=source, on=self._parse_expr(), within=within)

    def _parse_within(self) -> nodes.Within:
        if self._match(TokenType.L_PAREN):
            before = self._parse_duration_ms()
            self._expect_token(TokenType.COMMA, ",")
            after = self._parse_duration_ms()
            self._expect_token(TokenType.R_PAREN, ")")
        else:
            before = after = self._parse_duration_ms()
        return nodes.Within(before_ms=before, after_ms=after, grace_ms=self._parse_grace())

    def _parse_duration_ms(self) -> int:
        """``number windowUnit`` in milliseconds."""
        size = self._parse_integer("WINDOW")
        unit = self._word_text(self._curr)
        if unit not in UNIT_MS:
            self._fail()
        self._advance()
        return size * UNIT_MS[unit]

    def _parse_grace(self) -> int | None:
        return self._parse_duration_ms() if self._accept("GRACE", "PERIOD") else None

    def _parse_window_tail(self, spec: nodes.WindowSpec) -> nodes.WindowSpec:
        """``[, RETENTION n unit] [, GRACE PERIOD n unit] )``"""
        if self._curr.token_type == TokenType.COMMA and self._next_is("RETENTION"):
            self._advance(2)
            spec.retention_ms = self._parse_duration_ms()
        if self._curr.token_type == TokenType.COMMA and self._next_is("GRACE"):
            self._advance()
            spec.grace_ms = self._parse_grace()
        self._expect_token(TokenType.R_PAREN, ")")
        return spec

    def _parse_tumbling(self) -> nodes.WindowSpec:
        self._expect_token(TokenType.L_PAREN, "(")
        self._expect("SIZE")
        return self._parse_window_tail(nodes.WindowSpec("TUMBLING", size_ms=self._parse_duration_ms()))

    def _parse_hopping(self) -> nodes.WindowSpec:
        self._expect_token(TokenType.L_PAREN, "(")
        self._expect("SIZE")
        size = self._parse_duration_ms()
        self._expect_token(TokenType.COMMA, ",")
        self._expect("ADVANCE", "BY")
        advance = self._parse_duration_ms()
        return self._parse_window_tail(nodes.WindowSpec("HOPPING", size_ms=size, advance_ms=advance))

    def _parse_session(self) -> nodes.WindowSpec:
        self._expect_token(TokenType.L_PAREN, "(")
        return self._parse_window_tail(nodes.WindowSpec("SESSION", gap_ms=self._parse_duration_ms()))

    def _parse_grouping(self) -> list[exp.Expression]:
        """GROUP BY / PARTITION BY: value expressions, optionally as one parenthesized list."""
        if self._curr.token_type == TokenType.L_PAREN:
            index = self._index
            qualifiers = len(self._qualifiers)
            try:
                self._advance()
                items: list[exp.Expression] = []
                if not self._match(TokenType.R_PAREN):
                    items.append(self._parse_value())
                    while self._match(TokenType.COMMA):
                        items.append(self._parse_value())
                    self._expect_token(TokenType.R_PAREN, ")")
                if not self._curr or self._curr.token_type == TokenType.SEMICOLON or self._at(
                    "PARTITION", "HAVING", "EMIT", "LIMIT"
                ):
                    return items
            except ParseFailedException:
                pass
            self._retreat(index)
            del self._qualifiers[qualifiers:]
        items = [self._parse_value()]
        while self._match(TokenType.COMMA):
            items.append(self._parse_value())
        return items

    def _check_qualifiers(self) -> None:
        for qualifier, _tok in self._qualifiers:
            if qualifier not in self._sources:
                raise ParseFailedException(
                    f"Failed to prepare statement: '{qualifier}' is not a valid stream/table"
                    " name or alias.",
                    self._statement_text(),
                )

    # -- types -----------------------------------------------------------------------------

    def _parse_type(self) -> SqlType | nodes.TypeRef:
        tok = self._curr
        word = self._word_text(tok)
        if word in self.TYPE_CONSTRUCTORS and self._next.token_type == TokenType.LT:
            self._advance()
            return self.TYPE_CONSTRUCTORS[word](self)
        if word == "DECIMAL":
            self._advance()
            self._expect_token(TokenType.L_PAREN, "(")
            precision = self._parse_integer("DECIMAL")
            self._expect_token(TokenType.COMMA, ",")
            scale = self._parse_integer("DECIMAL")
            self._expect_token(TokenType.R_PAREN, ")")
            return self._decimal_type(precision, scale, tok)
        if not self._is_identifier(tok):
            self._fail()
        name = self._parse_identifier()
        if self._match(TokenType.L_PAREN):
            # Type parameters such as VARCHAR(STRING) are accepted and carry no meaning.
            while True:
                if not (self._curr.token_type == TokenType.NUMBER or self._at("STRING")):
                    self._fail("Expecting {'STRING', INTEGER_VALUE}")
                self._advance()
                if self._match(TokenType.R_PAREN):
                    break
                if not self._match(TokenType.COMMA):
                    self._fail("Expecting {',', ')'}")
        return sqltypes.primitive(name) or nodes.TypeRef(name)

    def _decimal_type(self, precision: int, scale: int, tok: Token) -> SqlType:
        if precision < 1:
            self._fail_prepare(f"DECIMAL precision must be >= 1: DECIMAL({precision}, {scale})", tok)
        if scale < 0:
            self._fail_prepare(f"DECIMAL scale must be >= 0: DECIMAL({precision}, {scale})", tok)
        if scale > precision:
            self._fail_prepare(
                f"DECIMAL precision must be >= scale: DECIMAL({precision}, {scale})", tok
            )
        return sqltypes.decimal(precision, scale)

    def _parse_angled(self, count: int) -> list[SqlType]:
        """``< type [, type] >`` for ARRAY and MAP (cursor on ``<``)."""
        self._advance()
        types = [self._resolved_type()]
        while len(types) < count:
            self._expect_token(TokenType.COMMA, ",")
            types.append(self._resolved_type())
        self._expect_token(TokenType.GT, ">")
        return types

    def _resolved_type(self) -> SqlType:
        # Custom type references inside containers are kept as TypeRef too; the catalog
        # resolves them. SqlType's fields are typed SqlType, hence the ignore.
        return self._parse_type()  # type: ignore[return-value]

    def _parse_struct_type(self) -> SqlType:
        self._advance()  # <
        fields: list[tuple[str, SqlType]] = []
        if not self._match(TokenType.GT):
            while True:
                name = self._parse_identifier()
                fields.append((name, self._resolved_type()))
                if self._match(TokenType.GT):
                    break
                self._expect_token(TokenType.COMMA, ",")
        return sqltypes.struct(fields)

    # -- expressions -----------------------------------------------------------------------

    def _parse_expr(self) -> exp.Expression:
        left = self._parse_and()
        while self._accept("OR"):
            left = exp.Or(this=left, expression=self._parse_and())
        return left

    def _parse_and(self) -> exp.Expression:
        left = self._parse_not()
        while self._accept("AND"):
            left = exp.And(this=left, expression=self._parse_not())
        return left

    def _parse_not(self) -> exp.Expression:
        if self._accept("NOT"):
            return exp.Not(this=self._parse_not())
        return self._parse_predicated()

    def _parse_predicated(self) -> exp.Expression:
        value = self._parse_value()
        comparison = _COMPARISONS.get(self._curr.token_type)
        if comparison is not None:
            self._advance()
            return comparison(this=value, expression=self._parse_value())
        if self._accept("IS"):
            negate = self._accept("NOT")
            if self._accept("NULL"):
                result: exp.Expression = exp.Is(this=value, expression=exp.Null())
                return exp.Not(this=result) if negate else result
            self._expect("DISTINCT", "FROM")
            other = self._parse_value()
            if negate:
                return exp.NullSafeEQ(this=value, expression=other)
            return exp.NullSafeNEQ(this=value, expression=other)
        negate = self._at("NOT") and self._next_is("BETWEEN", "IN", "LIKE")
        if negate:
            self._advance()
        if self._accept("BETWEEN"):
            low = self._parse_value()
            self._expect("AND")
            result = exp.Between(this=value, low=low, high=self._parse_value())
        elif self._accept("IN"):
            self._expect_token(TokenType.L_PAREN, "(")
            items = [self._parse_expr()]
            while self._match(TokenType.COMMA):
                items.append(self._parse_expr())
            self._expect_token(TokenType.R_PAREN, ")")
            result = exp.In(this=value, expressions=items)
        elif self._accept("LIKE"):
            result = exp.Like(this=value, expression=self._parse_value())
            if self._accept("ESCAPE"):
                tok = self._curr
                escape = self._parse_string()
                if len(escape) != 1:
                    line, col = self._position(tok)
                    raise ParseFailedException(
                        f"Failed to prepare statement: Line: {line}, Col: {col}: Expected single"
                        f" character escape but got: {escape}",
                        self._statement_text(),
                    )
                result = exp.Escape(this=result, expression=exp.Literal.string(escape))
        else:
            return value
        return exp.Not(this=result) if negate else result

    def _parse_value(self) -> exp.Expression:
        """``valueExpression``: arithmetic and ``||`` (no comparisons or boolean operators)."""
        left = self._parse_additive()
        while self._match(TokenType.DPIPE):
            left = exp.Anonymous(this="CONCAT", expressions=[left, self._parse_additive()])
        return left

    def _parse_additive(self) -> exp.Expression:
        left = self._parse_multiplicative()
        while (op := _ADDITIVE.get(self._curr.token_type)) is not None:
            self._advance()
            left = op(this=left, expression=self._parse_multiplicative())
        return left

    def _parse_multiplicative(self) -> exp.Expression:
        left = self._parse_unary()
        while (op := _MULTIPLICATIVE.get(self._curr.token_type)) is not None:
            self._advance()
            left = op(this=left, expression=self._parse_unary())
        return left

    def _parse_unary(self) -> exp.Expression:
        if self._match(TokenType.DASH):
            if self._curr.token_type == TokenType.NUMBER:
                # A signed literal: range checks include the sign (-9223372036854775808 fits).
                sign, num = self._prev, self._curr
                self._advance()
                self._check_number(num, sign)
                return exp.Neg(this=exp.Literal.number(num.text))
            return exp.Neg(this=self._parse_unary())
        if self._match(TokenType.PLUS):
            return self._parse_unary()
        return self._parse_postfix(self._parse_primary())

    def _parse_postfix(self, base: exp.Expression) -> exp.Expression:
        while True:
            if self._match(TokenType.L_BRACKET):
                index = self._parse_value()
                self._expect_token(TokenType.R_BRACKET, "]")
                base = exp.Bracket(this=base, expressions=[index])
            elif self._curr.token_type == TokenType.ARROW and self._next.token_type != TokenType.STAR:
                self._advance()
                base = nodes.Dereference(this=base, field=self._parse_identifier())
            else:
                return base

    def _parse_primary(self) -> exp.Expression:
        tok = self._curr
        if tok.token_type == TokenType.NUMBER:
            self._advance()
            self._check_number(tok)
            return exp.Literal.number(tok.text)
        if tok.token_type == TokenType.STRING:
            self._advance()
            return exp.Literal.string(tok.text)
        if tok.token_type == TokenType.L_PAREN:
            self._advance()
            inner = self._parse_expr()
            self._expect_token(TokenType.R_PAREN, ")")
            return inner
        word = self._word_text(tok)
        if word in self.PRIMARY_WORDS:
            self._advance()
            result = self.PRIMARY_WORDS[word](self, tok)
            if result is not None:
                return result
            self._retreat(self._index - 1)
        if self._next.token_type == TokenType.STRING and self._is_identifier(tok, reserved_ok=True):
            return self._parse_type_constructor()
        if not self._is_identifier(tok):
            self._fail()
        quoted = tok.token_type == TokenType.IDENTIFIER
        name = self._parse_identifier()
        if self._curr.token_type == TokenType.L_PAREN:
            return self._parse_function_call(name)
        if self._curr.token_type == TokenType.DOT and self._next.token_type != TokenType.STAR:
            self._advance()
            col_tok = self._curr
            column = self._parse_identifier()
            self._qualifiers.append((name, tok))
            return exp.Column(
                this=exp.Identifier(this=column, quoted=col_tok.token_type == TokenType.IDENTIFIER),
                table=exp.Identifier(this=name, quoted=quoted),
            )
        return exp.Column(this=exp.Identifier(this=name, quoted=quoted))

    def _check_number(self, tok: Token, sign: Token | None = None) -> None:
        """Range checks of a numeric literal, ``sign`` being the ``-`` token right before it."""
        text = tok.text
        shown = f"-{text}" if sign else text
        at = sign or tok
        if "e" in text.lower():
            if float(text) == float("inf"):
                self._fail_prepare(f"Number overflows DOUBLE: {shown}", at)
        elif "." not in text:
            if int(text) > _INT64_MAX + (1 if sign else 0):
                self._fail_prepare(f"Invalid numeric literal: {shown}", at)

    def _parse_type_constructor(self) -> exp.Expression:
        """``DECIMAL '1.20'``: the only ``identifier STRING`` literal ksql knows."""
        tok = self._curr
        self._advance()
        type_name = tok.text if tok.token_type == TokenType.IDENTIFIER else tok.text.upper()
        value = self._parse_string()
        if type_name != "DECIMAL":
            self._fail_prepare(f"Unknown type: {type_name}", tok)
        try:
            number = Decimal(value)
        except InvalidOperation:
            self._fail_prepare(f"Invalid numeric literal: {value}", tok)
        digits = number.as_tuple()
        scale = max(-int(digits.exponent), 0)
        precision = max(len(digits.digits), scale, 1)
        return nodes.KsqlCast(
            this=exp.Literal.string(value), to=sqltypes.decimal(precision, scale)
        )

    def _parse_function_call(self, name: str) -> exp.Expression:
        self._advance()  # (
        if self._match_pair(TokenType.STAR, TokenType.R_PAREN):
            return exp.Anonymous(this=name, expressions=[exp.Star()])
        args: list[exp.Expression] = []
        if not self._match(TokenType.R_PAREN):
            args.append(self._parse_function_argument())
            while self._match(TokenType.COMMA):
                args.append(self._parse_function_argument())
            self._expect_token(TokenType.R_PAREN, ")")
        return exp.Anonymous(this=name, expressions=args)

    def _parse_function_argument(self) -> exp.Expression:
        tok = self._curr
        unit = ARGUMENT_UNITS.get(self._word_text(tok) or "")
        if unit and self._next.token_type in (TokenType.COMMA, TokenType.R_PAREN):
            self._advance()
            return nodes.IntervalUnitExpr(this=unit)
        lambda_ = self._try_lambda()
        return lambda_ if lambda_ is not None else self._parse_expr()

    def _try_lambda(self) -> exp.Expression | None:
        """``x => body`` or ``(x, y) => body``; None (cursor unchanged) if not a lambda."""
        index = self._index
        params: list[str] = []
        if self._is_identifier(self._curr) and self._next.token_type == TokenType.FARROW:
            params.append(self._parse_identifier())
        elif self._match(TokenType.L_PAREN):
            while self._is_identifier(self._curr):
                params.append(self._parse_identifier())
                if not self._match(TokenType.COMMA):
                    break
            if not (params and self._match(TokenType.R_PAREN)):
                self._retreat(index)
                return None
        if not (params and self._match(TokenType.FARROW)):
            self._retreat(index)
            return None
        return nodes.KsqlLambda(params=params, this=self._parse_expr())

    def _parse_case(self) -> exp.Expression:
        operand = None if self._at("WHEN") else self._parse_value()
        ifs: list[exp.Expression] = []
        while self._accept("WHEN"):
            condition = self._parse_expr()
            self._expect("THEN")
            ifs.append(exp.If(this=condition, true=self._parse_expr()))
        if not ifs:
            self._fail()
        default = self._parse_expr() if self._accept("ELSE") else None
        self._expect("END")
        return exp.Case(this=operand, ifs=ifs, default=default)

    def _parse_cast(self) -> exp.Expression:
        self._expect_token(TokenType.L_PAREN, "(")
        this = self._parse_expr()
        self._expect("AS")
        to = self._parse_type()
        self._expect_token(TokenType.R_PAREN, ")")
        return nodes.KsqlCast(this=this, to=to)

    def _parse_array(self, tok: Token) -> exp.Expression | None:
        if not self._match(TokenType.L_BRACKET):
            return None
        items: list[exp.Expression] = []
        if not self._match(TokenType.R_BRACKET):
            items.append(self._parse_expr())
            while self._match(TokenType.COMMA):
                items.append(self._parse_expr())
            self._expect_token(TokenType.R_BRACKET, "]")
        return exp.Array(expressions=items)

    def _parse_map(self, tok: Token) -> exp.Expression | None:
        if not self._match(TokenType.L_PAREN):
            return None
        keys: list[exp.Expression] = []
        values: list[exp.Expression] = []
        if not self._match(TokenType.R_PAREN):
            while True:
                keys.append(self._parse_expr())
                self._expect_token(TokenType.COLON_EQ, ":=")
                values.append(self._parse_expr())
                if not self._match(TokenType.COMMA):
                    break
            self._expect_token(TokenType.R_PAREN, ")")
        return exp.VarMap(keys=exp.Array(expressions=keys), values=exp.Array(expressions=values))

    def _parse_struct(self, tok: Token) -> exp.Expression | None:
        if not self._match(TokenType.L_PAREN):
            return None
        fields: list[exp.Expression] = []
        if not self._match(TokenType.R_PAREN):
            while True:
                quoted = self._curr.token_type == TokenType.IDENTIFIER
                name = self._parse_identifier()
                self._expect_token(TokenType.COLON_EQ, ":=")
                fields.append(
                    exp.PropertyEQ(
                        this=exp.Identifier(this=name, quoted=quoted), expression=self._parse_expr()
                    )
                )
                if not self._match(TokenType.COMMA):
                    break
            self._expect_token(TokenType.R_PAREN, ")")
        return exp.Struct(expressions=fields)
