"""Expression and type grammar of the ksql dialect, on sqlglot's token cursor.

:class:`ExpressionParser` holds what every ksql statement shares: token helpers, identifiers,
literals, SQL types and scalar expressions, and the ksqlDB-shaped errors. Statements and queries
are parsed by its subclass :class:`ksql.dialect.parser.KsqlParser`.

Expressions are sqlglot nodes plus the ksql-specific ones of :mod:`ksql.dialect.nodes`: function
calls are always ``exp.Anonymous`` with an upper-cased name, ``a || b`` is ``CONCAT(a, b)``,
numeric literals keep their exact text (an ``e``/``E`` makes a DOUBLE, a ``.`` a DECIMAL, else an
INT or BIGINT by value) and negative numbers are ``exp.Neg`` of the literal.

Errors are :class:`ksql.errors.ParseFailedException` shaped like ksqlDB's::

    line 2:47: Syntax Error
    Syntax error at or near 'NULL' at line 2:47

Lines and columns are 1-based and count from the start of the text given to the parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import ClassVar, NoReturn

from sqlglot import exp
from sqlglot.parser import Parser
from sqlglot.tokenizer_core import Token, TokenType

from ksql import sqltypes
from ksql.dialect import nodes
from ksql.errors import ParseFailedException
from ksql.sqltypes import SqlType


class SyntaxErrorException(ParseFailedException):
    """Text that is not valid ksql. As in ksqlDB, the message proper names only the position (its
    details may quote the user's data, so responses and logs leave them out: ``line 1:24: Syntax
    Error`` and an empty line); :attr:`unlogged_message` has the details (what the parser expected)."""

    def __init__(self, position: str, details: str, statement: str) -> None:
        super().__init__(f"{position}\n", statement)
        self.details = details

    @property
    def unlogged_message(self) -> str:
        text = f"{self.message}{self.details}"
        return f"{text}\nStatement: {self.statement}" if self.statement else text


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

IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_@]*|[0-9][A-Za-z0-9_@]+")
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


class ExpressionParser(Parser):
    # Word starting a primary expression -> its parser (cursor after the word). ARRAY, MAP and
    # STRUCT are constructors only before ``[``/``(``: otherwise their parser returns None and
    # the word is read as a name.
    PRIMARY_WORDS: ClassVar[dict[str, Callable[[ExpressionParser], exp.Expression | None]]] = {
        "NULL": lambda self: exp.Null(),
        "TRUE": lambda self: exp.Boolean(this=True),
        "FALSE": lambda self: exp.Boolean(this=False),
        "CASE": lambda self: self._case(),
        "CAST": lambda self: self._cast(),
        "ARRAY": lambda self: self._array(),
        "MAP": lambda self: self._map(),
        "STRUCT": lambda self: self._struct(),
    }

    TYPE_CONSTRUCTORS: ClassVar[dict[str, Callable[[ExpressionParser], SqlType | nodes.TypeRef]]] = {
        "ARRAY": lambda self: sqltypes.array(self._angled_types(1)[0]),
        "MAP": lambda self: sqltypes.map_of(*self._angled_types(2)),
        "STRUCT": lambda self: self._struct_type(),
    }

    # Token index where the current statement starts (error messages quote that statement).
    _stmt_start: int
    # Qualifiers of ``Q.col`` and ``Q.*`` seen in the statement, checked against its sources.
    _qualifiers: list[tuple[str, Token]]

    # -- entry points ------------------------------------------------------------------------

    def parse_standalone_expression(self, tokens: list[Token], sql: str) -> exp.Expression:
        self._begin(tokens, sql)
        if not self._curr:
            self._fail("Expecting an expression")
        e = self._expr()
        if self._curr:
            self._fail()
        return e

    def _begin(self, tokens: list[Token], sql: str) -> None:
        self.reset()
        self.sql = sql
        self._tokens = tokens
        self._tokens_size = len(tokens)
        self._index = -1
        self._stmt_start = 0
        self._qualifiers = []
        self._advance()

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
        raise SyntaxErrorException(f"line {line}:{col}: Syntax Error", detail or self._near_detail(tok),
                                   self._statement_text())

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
        if tok.token_type != TokenType.VAR or not IDENTIFIER_RE.fullmatch(tok.text):
            return False
        return reserved_ok or tok.text.upper() not in RESERVED_WORDS

    def _ident(self, *, case_sensitive: bool = False) -> str:
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

    def _source_name(self) -> str:
        tok = self._curr
        name = self._ident()
        if not _SOURCE_NAME_RE.fullmatch(name):
            line, col = self._position(tok)
            raise ParseFailedException(
                f"Illegal argument at Line: {line}, Col: {col}. Source names may only contain"
                f" alphanumeric values, '_' or '-'. Got: '{name}'",
                self._statement_text(),
            )
        return name

    def _string(self) -> str:
        if self._curr.token_type != TokenType.STRING:
            self._fail()
        self._advance()
        return self._prev.text

    def _integer(self, context: str) -> int:
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

    # -- types -----------------------------------------------------------------------------

    def _sql_type(self) -> SqlType | nodes.TypeRef:
        tok = self._curr
        word = self._word_text(tok)
        if word in self.TYPE_CONSTRUCTORS and self._next.token_type == TokenType.LT:
            self._advance()
            return self.TYPE_CONSTRUCTORS[word](self)
        if word == "STRUCT" and self._next.token_type == TokenType.NEQ and self._next.text == "<>":
            # STRUCT<> lexes as STRUCT followed by the not-equal operator.
            self._advance(2)
            return sqltypes.struct([])
        if word == "DECIMAL":
            self._advance()
            self._expect_token(TokenType.L_PAREN, "(")
            precision = self._integer("DECIMAL")
            self._expect_token(TokenType.COMMA, ",")
            scale = self._integer("DECIMAL")
            self._expect_token(TokenType.R_PAREN, ")")
            return self._decimal_type(precision, scale, tok)
        if not self._is_identifier(tok):
            self._fail()
        name = self._ident()
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
            self._fail_prepare(f"DECIMAL precision must be >= scale: DECIMAL({precision}, {scale})", tok)
        return sqltypes.decimal(precision, scale)

    def _angled_types(self, count: int) -> list[SqlType]:
        """``< type [, type] >`` for ARRAY and MAP (cursor on ``<``)."""
        self._advance()
        types = [self._element_type()]
        while len(types) < count:
            self._expect_token(TokenType.COMMA, ",")
            types.append(self._element_type())
        self._expect_token(TokenType.GT, ">")
        return types

    def _element_type(self) -> SqlType:
        # Custom type references inside containers are kept as TypeRef too; the catalog
        # resolves them. SqlType's fields are typed SqlType, hence the ignore.
        return self._sql_type()  # type: ignore[return-value]

    def _struct_type(self) -> SqlType:
        self._advance()  # <
        fields: list[tuple[str, SqlType]] = []
        if not self._match(TokenType.GT):
            while True:
                name = self._ident()
                fields.append((name, self._element_type()))
                if self._match(TokenType.GT):
                    break
                self._expect_token(TokenType.COMMA, ",")
        return sqltypes.struct(fields)

    # -- expressions -----------------------------------------------------------------------

    def _expr(self) -> exp.Expression:
        left = self._and_expr()
        while self._accept("OR"):
            left = exp.Or(this=left, expression=self._and_expr())
        return left

    def _and_expr(self) -> exp.Expression:
        left = self._not_expr()
        while self._accept("AND"):
            left = exp.And(this=left, expression=self._not_expr())
        return left

    def _not_expr(self) -> exp.Expression:
        if self._accept("NOT"):
            return exp.Not(this=self._not_expr())
        return self._predicated()

    def _predicated(self) -> exp.Expression:
        value = self._value_expr()
        comparison = _COMPARISONS.get(self._curr.token_type)
        if comparison is not None:
            self._advance()
            return comparison(this=value, expression=self._value_expr())
        if self._accept("IS"):
            negate = self._accept("NOT")
            if self._accept("NULL"):
                result: exp.Expression = exp.Is(this=value, expression=exp.Null())
                return exp.Not(this=result) if negate else result
            self._expect("DISTINCT", "FROM")
            other = self._value_expr()
            if negate:
                return exp.NullSafeEQ(this=value, expression=other)
            return exp.NullSafeNEQ(this=value, expression=other)
        negate = self._at("NOT") and self._next_is("BETWEEN", "IN", "LIKE")
        if negate:
            self._advance()
        if self._accept("BETWEEN"):
            low = self._value_expr()
            self._expect("AND")
            result = exp.Between(this=value, low=low, high=self._value_expr())
        elif self._accept("IN"):
            self._expect_token(TokenType.L_PAREN, "(")
            items = [self._expr()]
            while self._match(TokenType.COMMA):
                items.append(self._expr())
            self._expect_token(TokenType.R_PAREN, ")")
            result = exp.In(this=value, expressions=items)
        elif self._accept("LIKE"):
            result = exp.Like(this=value, expression=self._value_expr())
            if self._accept("ESCAPE"):
                tok = self._curr
                escape = self._string()
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

    def _value_expr(self) -> exp.Expression:
        """``valueExpression``: arithmetic and ``||`` (no comparisons or boolean operators)."""
        left = self._additive()
        while self._match(TokenType.DPIPE):
            left = exp.Anonymous(this="CONCAT", expressions=[left, self._additive()])
        return left

    def _additive(self) -> exp.Expression:
        left = self._multiplicative()
        while (op := _ADDITIVE.get(self._curr.token_type)) is not None:
            self._advance()
            left = op(this=left, expression=self._multiplicative())
        return left

    def _multiplicative(self) -> exp.Expression:
        left = self._unary()
        while (op := _MULTIPLICATIVE.get(self._curr.token_type)) is not None:
            self._advance()
            left = op(this=left, expression=self._unary())
        return left

    def _unary(self) -> exp.Expression:
        if self._match(TokenType.DASH):
            if self._curr.token_type == TokenType.NUMBER:
                # A signed literal: range checks include the sign (-9223372036854775808 fits).
                sign, num = self._prev, self._curr
                self._advance()
                self._check_number(num, sign)
                return exp.Neg(this=exp.Literal.number(num.text))
            return exp.Neg(this=self._unary())
        if self._match(TokenType.PLUS):
            return self._unary()
        return self._postfix(self._primary())

    def _postfix(self, base: exp.Expression) -> exp.Expression:
        while True:
            if self._match(TokenType.L_BRACKET):
                index = self._value_expr()
                self._expect_token(TokenType.R_BRACKET, "]")
                base = exp.Bracket(this=base, expressions=[index])
            elif self._curr.token_type == TokenType.ARROW and self._next.token_type != TokenType.STAR:
                self._advance()
                base = nodes.Dereference(this=base, field=self._ident())
            else:
                return base

    def _primary(self) -> exp.Expression:
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
            inner = self._expr()
            self._expect_token(TokenType.R_PAREN, ")")
            return inner
        word = self._word_text(tok)
        if word in self.PRIMARY_WORDS:
            self._advance()
            result = self.PRIMARY_WORDS[word](self)
            if result is not None:
                return result
            self._retreat(self._index - 1)
        if self._next.token_type == TokenType.STRING and self._is_identifier(tok, reserved_ok=True):
            return self._type_constructor()
        if not self._is_identifier(tok):
            self._fail()
        quoted = tok.token_type == TokenType.IDENTIFIER
        name = self._ident()
        if self._curr.token_type == TokenType.L_PAREN:
            return self._function_call(name)
        if self._curr.token_type == TokenType.DOT and self._next.token_type != TokenType.STAR:
            self._advance()
            col_tok = self._curr
            column = self._ident()
            self._qualifiers.append((name, tok))
            col = exp.Column(
                this=exp.Identifier(this=column, quoted=col_tok.token_type == TokenType.IDENTIFIER),
                table=exp.Identifier(this=name, quoted=quoted),
            )
        else:
            col = exp.Column(this=exp.Identifier(this=name, quoted=quoted))
        # (line, column) of the reference, for errors ksqlDB reports with its location
        col.meta["position"] = self._position(tok)
        return col

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

    def _type_constructor(self) -> exp.Expression:
        """``DECIMAL '1.20'``: the only ``identifier STRING`` literal ksql knows."""
        tok = self._curr
        self._advance()
        type_name = tok.text if tok.token_type == TokenType.IDENTIFIER else tok.text.upper()
        value = self._string()
        if type_name != "DECIMAL":
            self._fail_prepare(f"Unknown type: {type_name}", tok)
        try:
            number = Decimal(value)
        except InvalidOperation:
            self._fail_prepare(f"Invalid numeric literal: {value}", tok)
        digits = number.as_tuple()
        scale = max(-int(digits.exponent), 0)
        precision = max(len(digits.digits), scale, 1)
        return nodes.KsqlCast(this=exp.Literal.string(value), to=sqltypes.decimal(precision, scale))

    def _function_call(self, name: str) -> exp.Expression:
        self._advance()  # (
        if self._match_pair(TokenType.STAR, TokenType.R_PAREN):
            return exp.Anonymous(this=name, expressions=[exp.Star()])
        args: list[exp.Expression] = []
        if not self._match(TokenType.R_PAREN):
            args.append(self._function_argument())
            while self._match(TokenType.COMMA):
                args.append(self._function_argument())
            self._expect_token(TokenType.R_PAREN, ")")
        return exp.Anonymous(this=name, expressions=args)

    def _function_argument(self) -> exp.Expression:
        tok = self._curr
        unit = ARGUMENT_UNITS.get(self._word_text(tok) or "")
        if unit and self._next.token_type in (TokenType.COMMA, TokenType.R_PAREN):
            self._advance()
            return nodes.IntervalUnitExpr(this=unit)
        lambda_ = self._try_lambda()
        return lambda_ if lambda_ is not None else self._expr()

    def _try_lambda(self) -> exp.Expression | None:
        """``x => body`` or ``(x, y) => body``; None (cursor unchanged) if not a lambda."""
        index = self._index
        params: list[str] = []
        if self._is_identifier(self._curr) and self._next.token_type == TokenType.FARROW:
            params.append(self._ident())
        elif self._match(TokenType.L_PAREN):
            while self._is_identifier(self._curr):
                params.append(self._ident())
                if not self._match(TokenType.COMMA):
                    break
            if not (params and self._match(TokenType.R_PAREN)):
                self._retreat(index)
                return None
        if not (params and self._match(TokenType.FARROW)):
            self._retreat(index)
            return None
        return nodes.KsqlLambda(params=params, this=self._expr())

    def _case(self) -> exp.Expression:
        operand = None if self._at("WHEN") else self._value_expr()
        ifs: list[exp.Expression] = []
        while self._accept("WHEN"):
            condition = self._expr()
            self._expect("THEN")
            ifs.append(exp.If(this=condition, true=self._expr()))
        if not ifs:
            self._fail()
        default = self._expr() if self._accept("ELSE") else None
        self._expect("END")
        return exp.Case(this=operand, ifs=ifs, default=default)

    def _cast(self) -> exp.Expression:
        self._expect_token(TokenType.L_PAREN, "(")
        this = self._expr()
        self._expect("AS")
        to = self._sql_type()
        self._expect_token(TokenType.R_PAREN, ")")
        return nodes.KsqlCast(this=this, to=to)

    def _array(self) -> exp.Expression | None:
        if not self._match(TokenType.L_BRACKET):
            return None
        items: list[exp.Expression] = []
        if not self._match(TokenType.R_BRACKET):
            items.append(self._expr())
            while self._match(TokenType.COMMA):
                items.append(self._expr())
            self._expect_token(TokenType.R_BRACKET, "]")
        return exp.Array(expressions=items)

    def _map(self) -> exp.Expression | None:
        if not self._match(TokenType.L_PAREN):
            return None
        keys: list[exp.Expression] = []
        values: list[exp.Expression] = []
        if not self._match(TokenType.R_PAREN):
            while True:
                keys.append(self._expr())
                self._expect_token(TokenType.COLON_EQ, ":=")
                values.append(self._expr())
                if not self._match(TokenType.COMMA):
                    break
            self._expect_token(TokenType.R_PAREN, ")")
        return exp.VarMap(keys=exp.Array(expressions=keys), values=exp.Array(expressions=values))

    def _struct(self) -> exp.Expression | None:
        if not self._match(TokenType.L_PAREN):
            return None
        fields: list[exp.Expression] = []
        if not self._match(TokenType.R_PAREN):
            while True:
                quoted = self._curr.token_type == TokenType.IDENTIFIER
                name = self._ident()
                self._expect_token(TokenType.COLON_EQ, ":=")
                fields.append(
                    exp.PropertyEQ(this=exp.Identifier(this=name, quoted=quoted), expression=self._expr())
                )
                if not self._match(TokenType.COMMA):
                    break
            self._expect_token(TokenType.R_PAREN, ")")
        return exp.Struct(expressions=fields)
