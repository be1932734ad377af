"""Statement and query grammar of the ksql dialect.

Statements come out as the dataclasses of :mod:`ksql.dialect.nodes`. Statement and clause
keywords are looked up in class tables (``STATEMENTS``, ``SHOW_TARGETS``, ``WINDOW_PARSERS``,
``JOIN_TYPES``), as sqlglot's own dialects do; expressions, types and errors come from
:class:`ksql.dialect.expression_parser.ExpressionParser`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NoReturn

from sqlglot import exp
from sqlglot.tokenizer_core import Token, TokenType

from ksql.dialect import nodes
from ksql.dialect.expression_parser import IDENTIFIER_RE, UNIT_MS, ExpressionParser
from ksql.errors import ParseFailedException


class KsqlParser(ExpressionParser):
    # Statement keyword -> parser of the rest of the statement (keyword already consumed).
    STATEMENTS: ClassVar[dict[str, Callable[[KsqlParser], nodes.Statement]]] = {
        "SELECT": lambda self: nodes.QueryStatement(query=self._query_body()),
        "CREATE": lambda self: self._stmt_create(),
        "INSERT": lambda self: self._stmt_insert(),
        "SHOW": lambda self: self._stmt_show(),
        "LIST": lambda self: self._stmt_show(),
        "DESCRIBE": lambda self: self._stmt_describe(),
        "EXPLAIN": lambda self: self._stmt_explain(),
        "DROP": lambda self: self._stmt_drop(),
        "ALTER": lambda self: self._stmt_alter(),
        "TERMINATE": lambda self: self._stmt_terminate(),
        "SET": lambda self: self._stmt_set(),
        "UNSET": lambda self: nodes.UnsetProperty(name=self._string()),
        "DEFINE": lambda self: self._stmt_define(),
        "UNDEFINE": lambda self: nodes.Undefine(name=self._variable_name()),
        "PRINT": lambda self: self._stmt_print(),
        "ASSERT": lambda self: self._stmt_assert(),
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
        "TUMBLING": lambda self: self._tumbling(),
        "HOPPING": lambda self: self._hopping(),
        "SESSION": lambda self: self._session(),
    }

    JOIN_TYPES: ClassVar[dict[str, str]] = {
        "JOIN": "INNER",
        "INNER": "INNER",
        "LEFT": "LEFT",
        "RIGHT": "RIGHT",
        "FULL": "FULL",
    }

    # Names and aliases of the sources of the current statement.
    _sources: set[str]

    # -- entry point -----------------------------------------------------------------------

    def parse_statements(self, tokens: list[Token], sql: str) -> list[nodes.Statement]:
        self._begin(tokens, sql)
        out: list[nodes.Statement] = []
        while self._curr:
            if self._match(TokenType.SEMICOLON):
                continue
            first = self._curr
            self._stmt_start = self._index
            self._sources = set()
            self._qualifiers = []
            stmt = self._statement_body()
            self._check_qualifiers()
            if not self._match(TokenType.SEMICOLON):
                self._fail(self._near_detail() if self._curr else "Expecting ';'")
            stmt.text = sql[first.start : self._prev.end + 1]
            out.append(stmt)
        return out

    def _statement_body(self) -> nodes.Statement:
        tok = self._curr
        word = self._word_text(tok)
        handler = self.STATEMENTS.get(word) if word else None
        if handler is None:
            self._fail(f"Unknown statement '{self._display(tok)}'", tok)
        self._advance()
        return handler(self)

    # -- statements ----------------------------------------------------------------------

    def _stmt_create(self) -> nodes.Statement:
        or_replace = self._accept("OR", "REPLACE")
        if not or_replace and self._accept("TYPE"):
            if_not_exists = self._accept("IF", "NOT", "EXISTS")
            name = self._ident()
            self._expect("AS")
            return nodes.CreateType(name=name, type=self._sql_type(), if_not_exists=if_not_exists)
        if self._at("SOURCE", "SINK") and self._next_is("CONNECTOR"):
            kind = self._word_text(self._curr) or ""
            self._advance(2)
            if_not_exists = self._accept("IF", "NOT", "EXISTS")
            name = self._ident()
            return nodes.CreateConnector(kind=kind, name=name, properties=self._connector_properties(),
                                         if_not_exists=if_not_exists)
        source = self._accept("SOURCE")
        if not self._at("STREAM", "TABLE"):
            self._fail()
        kind = self._word_text(self._curr) or ""
        self._advance()
        if_not_exists = self._accept("IF", "NOT", "EXISTS")
        name = self._source_name()
        columns = self._table_elements() if self._curr.token_type == TokenType.L_PAREN else None
        properties = self._with_properties()
        if columns is None and not source and self._accept("AS"):
            if not self._accept("SELECT"):
                self._fail()
            return nodes.CreateAsSelect(
                kind=kind,
                name=name,
                query=self._query_body(),
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

    def _table_elements(self) -> list[nodes.ColumnDef]:
        self._expect_token(TokenType.L_PAREN, "(")
        columns = [self._column_def(constraints=True)]
        while not self._match(TokenType.R_PAREN):
            if not self._match(TokenType.COMMA):
                self._fail("Expecting {',', ')'}")
            columns.append(self._column_def(constraints=True))
        return columns

    def _column_def(self, *, constraints: bool) -> nodes.ColumnDef:
        name = self._ident()
        col = nodes.ColumnDef(name=name, type=self._sql_type())
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
            col.header_key = self._string()
            self._expect_token(TokenType.R_PAREN, ")")
        return col

    def _with_properties(self) -> dict[str, Any]:
        if not self._accept("WITH"):
            return {}
        self._expect_token(TokenType.L_PAREN, "(")
        props: dict[str, Any] = {}
        while True:
            tok = self._curr
            key = self._string() if tok.token_type == TokenType.STRING else self._ident()
            key = key.upper()
            self._expect_token(TokenType.EQ, "=")
            if key in props:
                raise ParseFailedException(
                    f"Failed to prepare statement: Duplicate property '{key}' in the WITH clause."
                    " Set each property once.",
                    self._statement_text(),
                )
            props[key] = self._property_value()
            if self._match(TokenType.R_PAREN):
                return props
            if not self._match(TokenType.COMMA):
                self._fail("Expecting {',', ')'}")

    def _connector_properties(self) -> dict[str, Any]:
        """A connector's WITH clause: Kafka Connect config names are case-sensitive, so keep them."""
        if not self._accept("WITH"):
            return {}
        self._expect_token(TokenType.L_PAREN, "(")
        props: dict[str, Any] = {}
        while True:
            key = self._string() if self._curr.token_type == TokenType.STRING else self._ident()
            self._expect_token(TokenType.EQ, "=")
            props[key] = self._property_value()
            if self._match(TokenType.R_PAREN):
                return props
            if not self._match(TokenType.COMMA):
                self._fail("Expecting {',', ')'}")

    def _property_value(self) -> Any:
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

    def _stmt_insert(self) -> nodes.Statement:
        self._expect("INTO")
        at = self._position(self._curr)
        target = self._source_name()
        if self._at("WITH"):
            properties = self._with_properties()
            self._expect("SELECT")
            return nodes.InsertInto(target=target, query=self._query_body(), properties=properties,
                                    target_position=at)
        if self._accept("SELECT"):
            return nodes.InsertInto(target=target, query=self._query_body(), target_position=at)
        columns: list[str] | None = None
        if self._match(TokenType.L_PAREN):
            columns = [self._ident()]
            while self._match(TokenType.COMMA):
                columns.append(self._ident())
            self._expect_token(TokenType.R_PAREN, ")")
        self._expect("VALUES")
        self._expect_token(TokenType.L_PAREN, "(")
        values: list[exp.Expression] = []
        if not self._match(TokenType.R_PAREN):
            values.append(self._value_expr())
            while self._match(TokenType.COMMA):
                values.append(self._value_expr())
            self._expect_token(TokenType.R_PAREN, ")")
        return nodes.InsertValues(target=target, columns=columns, values=values)

    def _stmt_show(self) -> nodes.Statement:
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

    def _stmt_describe(self) -> nodes.Statement:
        # EXTENDED before the name is the pre-0.10 spelling, still accepted.
        early_extended = self._accept("EXTENDED")
        if self._accept("STREAMS"):
            return nodes.Describe(None, what="STREAMS", extended=early_extended or self._accept("EXTENDED"))
        if self._at("FUNCTION", "CONNECTOR") and self._is_identifier(self._next):
            what = self._word_text(self._curr) or ""
            self._advance()
            return nodes.Describe(self._ident(), what=what)
        # DESCRIBE TABLES is a source named TABLES unless written unquoted.
        if self._at("TABLES"):
            self._advance()
            return nodes.Describe(None, what="TABLES", extended=early_extended or self._accept("EXTENDED"))
        name = self._source_name()
        return nodes.Describe(name, extended=early_extended or self._accept("EXTENDED"))

    def _stmt_explain(self) -> nodes.Statement:
        tok = self._curr
        if self._is_identifier(tok, reserved_ok=False) and self._next.token_type in (
            TokenType.SEMICOLON,
            TokenType.SENTINEL,
        ):
            return nodes.Explain(query_id=self._ident())
        inner = self._statement_body()
        end = self._curr if self._curr.token_type == TokenType.SEMICOLON else self._prev
        inner.text = self.sql[tok.start : end.end + 1]
        return nodes.Explain(statement=inner)

    def _stmt_drop(self) -> nodes.Statement:
        if self._accept("CONNECTOR"):
            if_exists = self._accept("IF", "EXISTS")
            return nodes.DropConnector(name=self._ident(), if_exists=if_exists)
        if self._accept("TYPE"):
            if_exists = self._accept("IF", "EXISTS")
            return nodes.Drop(kind="TYPE", name=self._ident(), if_exists=if_exists)
        if not self._at("STREAM", "TABLE"):
            self._fail()
        kind = self._word_text(self._curr) or ""
        self._advance()
        if_exists = self._accept("IF", "EXISTS")
        name = self._source_name()
        delete_topic = self._accept("DELETE", "TOPIC")
        return nodes.Drop(kind=kind, name=name, if_exists=if_exists, delete_topic=delete_topic)

    def _stmt_alter(self) -> nodes.Statement:
        if self._at("SYSTEM"):
            self._unsupported("ALTER SYSTEM statements")
        if not self._at("STREAM", "TABLE"):
            self._fail()
        kind = self._word_text(self._curr) or ""
        self._advance()
        name = self._source_name()
        columns = []
        while True:
            self._expect("ADD")
            self._accept("COLUMN")
            columns.append(self._column_def(constraints=False))
            if not self._match(TokenType.COMMA):
                return nodes.AlterSource(kind=kind, name=name, columns=columns)

    def _stmt_terminate(self) -> nodes.Statement:
        if self._accept("ALL"):
            return nodes.Terminate(query_id=None)
        return nodes.Terminate(query_id=self._ident())

    def _stmt_set(self) -> nodes.Statement:
        name = self._string()
        self._expect_token(TokenType.EQ, "=")
        return nodes.SetProperty(name=name, value=self._string())

    def _variable_name(self) -> str:
        # Any plain word, reserved or not; kept as written (SHOW VARIABLES lists it that way).
        tok = self._curr
        if tok.token_type != TokenType.VAR or not IDENTIFIER_RE.fullmatch(tok.text):
            self._fail()
        self._advance()
        return tok.text

    def _stmt_define(self) -> nodes.Statement:
        name = self._variable_name()
        self._expect_token(TokenType.EQ, "=")
        return nodes.Define(name=name, value=self._string())

    def _resource_name(self) -> str:
        """A topic or subject name: a string or an identifier, case preserved either way."""
        if self._curr.token_type == TokenType.STRING:
            return self._string()
        return self._ident(case_sensitive=True)

    def _stmt_print(self) -> nodes.Statement:
        stmt = nodes.Print(topic=self._resource_name())
        stmt.from_beginning = self._accept("FROM", "BEGINNING")
        if self._accept("INTERVAL") or self._accept("SAMPLE"):
            stmt.interval = self._integer("INTERVAL")
        if self._accept("LIMIT"):
            stmt.limit = self._integer("LIMIT")
        return stmt

    def _stmt_assert(self) -> nodes.Statement:
        exists = not self._accept("NOT", "EXISTS")
        if self._accept("TOPIC"):
            stmt = nodes.Assert(what="TOPIC", name=self._resource_name(), exists=exists)
            stmt.properties = self._with_properties()
        elif self._accept("SCHEMA"):
            stmt = nodes.Assert(what="SCHEMA", name="", exists=exists)
            if self._accept("SUBJECT"):
                stmt.name = self._resource_name()
            if self._accept("ID"):
                stmt.schema_id = self._property_value()
        else:
            self._fail()
        if self._accept("TIMEOUT"):
            stmt.timeout_ms = self._duration_ms()
        return stmt

    def _unsupported(self, what: str) -> NoReturn:
        line, col = self._position(self._curr)
        raise ParseFailedException(
            f"line {line}:{col}: {what} are not supported by this server.", self._statement_text()
        )

    # -- queries -------------------------------------------------------------------------

    def _query_body(self) -> nodes.Query:
        """The query after its SELECT keyword."""
        select = [self._select_item()]
        while self._match(TokenType.COMMA):
            select.append(self._select_item())
        self._expect("FROM")
        from_ = self._aliased_source()
        query = nodes.Query(select=select, from_=from_)
        while self._at(*self.JOIN_TYPES):
            query.joins.append(self._join_clause())
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
            query.where = self._expr()
        if self._accept("GROUP"):
            self._expect("BY")
            query.group_by = self._grouping()
        if self._accept("PARTITION"):
            self._expect("BY")
            query.partition_by = self._grouping()
        if self._accept("HAVING"):
            query.having = self._expr()
        if self._accept("EMIT"):
            if not self._at("CHANGES", "FINAL"):
                self._fail()
            query.emit = self._word_text(self._curr)
            self._advance()
        if self._accept("LIMIT"):
            query.limit = self._integer("LIMIT")
        return query

    def _select_item(self) -> nodes.SelectItem:
        tok = self._curr
        if self._match(TokenType.STAR):
            return nodes.SelectItem(expr=None)
        if (
            self._is_identifier(tok)
            and self._next.token_type == TokenType.DOT
            and self._index + 2 < len(self._tokens)
            and self._tokens[self._index + 2].token_type == TokenType.STAR
        ):
            qualifier = self._ident()
            self._advance(2)
            self._qualifiers.append((qualifier, tok))
            return nodes.SelectItem(expr=None, star_qualifier=qualifier)
        struct = self._try_struct_all()
        if struct is not None:
            return nodes.SelectItem(expr=struct, struct_all=True)
        expr = self._expr()
        alias = None
        if self._accept("AS"):
            alias = self._ident()
        elif self._is_identifier(self._curr):
            alias = self._ident()
        return nodes.SelectItem(expr=expr, alias=alias)

    def _try_struct_all(self) -> exp.Expression | None:
        """``primary->*``, or None (cursor unchanged) when the item is something else."""
        index = self._index
        qualifiers = len(self._qualifiers)
        try:
            base = self._postfix(self._primary())
        except ParseFailedException:
            base = None
        if base is not None and self._match_pair(TokenType.ARROW, TokenType.STAR):
            return base
        self._retreat(index)
        del self._qualifiers[qualifiers:]
        return None

    def _aliased_source(self) -> nodes.SourceRef:
        tok = self._curr
        if tok.token_type not in (TokenType.VAR, TokenType.IDENTIFIER):
            self._fail()
        name = self._source_name()
        if self._curr.token_type == TokenType.L_PAREN:
            # FROM f(x): table functions are not sources in ksql.
            self._fail()
        alias = None
        if self._accept("AS"):
            alias = self._source_name()
        elif self._is_identifier(self._curr) and not self._starts_clause():
            alias = self._source_name()
        self._sources.add(name)
        if alias is not None:
            self._sources.add(alias)
        return nodes.SourceRef(name=name, alias=alias)

    def _starts_clause(self) -> bool:
        """Whether the non-reserved word at the cursor opens the next clause (not an alias)."""
        return (self._at("EMIT") and self._next_is("CHANGES", "FINAL")) or (
            self._at("PARTITION") and self._next_is("BY")
        )

    def _join_clause(self) -> nodes.JoinClause:
        kind = self.JOIN_TYPES[self._word_text(self._curr) or ""]
        if not self._accept("JOIN"):
            self._advance()
            if kind != "INNER":
                self._accept("OUTER")
            self._expect("JOIN")
        source = self._aliased_source()
        within = self._within() if self._accept("WITHIN") else None
        self._expect("ON")
        return nodes.JoinClause(kind=kind, source=source, on=self._expr(), within=within)

    def _within(self) -> nodes.Within:
        if self._match(TokenType.L_PAREN):
            before = self._duration_ms()
            self._expect_token(TokenType.COMMA, ",")
            after = self._duration_ms()
            self._expect_token(TokenType.R_PAREN, ")")
        else:
            before = after = self._duration_ms()
        return nodes.Within(before_ms=before, after_ms=after, grace_ms=self._grace())

    def _duration_ms(self) -> int:
        """``number windowUnit`` in milliseconds."""
        size = self._integer("WINDOW")
        unit = self._word_text(self._curr)
        if unit not in UNIT_MS:
            self._fail()
        self._advance()
        return size * UNIT_MS[unit]

    def _grace(self) -> int | None:
        return self._duration_ms() if self._accept("GRACE", "PERIOD") else None

    def _window_tail(self, spec: nodes.WindowSpec) -> nodes.WindowSpec:
        """``[, RETENTION n unit] [, GRACE PERIOD n unit] )``"""
        if self._curr.token_type == TokenType.COMMA and self._next_is("RETENTION"):
            self._advance(2)
            spec.retention_ms = self._duration_ms()
        if self._curr.token_type == TokenType.COMMA and self._next_is("GRACE"):
            self._advance()
            spec.grace_ms = self._grace()
        self._expect_token(TokenType.R_PAREN, ")")
        return spec

    def _tumbling(self) -> nodes.WindowSpec:
        self._expect_token(TokenType.L_PAREN, "(")
        self._expect("SIZE")
        return self._window_tail(nodes.WindowSpec("TUMBLING", size_ms=self._duration_ms()))

    def _hopping(self) -> nodes.WindowSpec:
        self._expect_token(TokenType.L_PAREN, "(")
        self._expect("SIZE")
        size = self._duration_ms()
        self._expect_token(TokenType.COMMA, ",")
        self._expect("ADVANCE", "BY")
        advance = self._duration_ms()
        return self._window_tail(nodes.WindowSpec("HOPPING", size_ms=size, advance_ms=advance))

    def _session(self) -> nodes.WindowSpec:
        self._expect_token(TokenType.L_PAREN, "(")
        return self._window_tail(nodes.WindowSpec("SESSION", gap_ms=self._duration_ms()))

    def _grouping(self) -> list[exp.Expression]:
        """GROUP BY / PARTITION BY: value expressions, optionally as one parenthesized list."""
        if self._curr.token_type == TokenType.L_PAREN:
            index = self._index
            qualifiers = len(self._qualifiers)
            try:
                self._advance()
                items: list[exp.Expression] = []
                if not self._match(TokenType.R_PAREN):
                    items.append(self._value_expr())
                    while self._match(TokenType.COMMA):
                        items.append(self._value_expr())
                    self._expect_token(TokenType.R_PAREN, ")")
                if self._at_grouping_end():
                    return items
            except ParseFailedException:
                pass
            self._retreat(index)
            del self._qualifiers[qualifiers:]
        items = [self._value_expr()]
        while self._match(TokenType.COMMA):
            items.append(self._value_expr())
        return items

    def _at_grouping_end(self) -> bool:
        return self._curr.token_type in (TokenType.SEMICOLON, TokenType.SENTINEL) or self._at(
            "PARTITION", "HAVING", "EMIT", "LIMIT"
        )

    def _check_qualifiers(self) -> None:
        for qualifier, _tok in self._qualifiers:
            if qualifier not in self._sources:
                raise ParseFailedException(
                    f"Failed to prepare statement: '{qualifier}' is not a valid stream/table name or alias.",
                    self._statement_text(),
                )
