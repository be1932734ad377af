"""PostgreSQL statement text: lexing, splitting, routing, and translation into ksql.

A statement is routed by what it reads: ``SELECT`` from our streams and tables goes to the engine
as a ksql pull query; a query over ``pg_catalog`` / ``information_schema`` (or with no FROM at all)
goes to the virtual catalog; session commands (SET, BEGIN...) are answered by the session.

Names: ksql folds unquoted identifiers to upper case where PostgreSQL folds them to lower case, so
the PostgreSQL name of a ksql ``USER_ID`` is ``user_id`` (:func:`pg_name`). A quoted identifier
keeps its case; one that names nothing as written but does once upper-cased (a client quoting a
name it read from the catalog) is taken upper-cased.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rest.pgwire import types as T
from rest.pgwire.errors import SYNTAX_ERROR, PgError, unsupported

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<estring>[Ee]'(?:[^'\\]|\\.|'')*')
  | (?P<string>[BbXxNn]?'(?:[^']|'')*')
  | (?P<dollar>\$(?P<tag>(?:[A-Za-z_][A-Za-z_0-9]*)?)\$.*?\$(?P=tag)\$)
  | (?P<param>\$[0-9]+)
  | (?P<qident>"(?:[^"]|"")*")
  | (?P<bident>`(?:[^`]|``)*`)
  | (?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<word>[A-Za-z_\u0080-\uffff][A-Za-z_0-9$\u0080-\uffff]*)
  | (?P<op>::|<=|>=|<>|!=|->|=>|\|\||!~\*|!~|~\*|[-+*/%^<>=~!@#&|`?(),;\[\].:{}$])
""", re.S | re.X)

_UNTERMINATED = {"'": "unterminated quoted string", '"': "unterminated quoted identifier",
                 "/": "unterminated /* comment", "$": "unterminated dollar-quoted string"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word | qident | bident | string | estring | dollar | param | number | op
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.text in ops

    @property
    def is_name(self) -> bool:
        return self.kind in ("word", "qident", "bident")

    @property
    def ident(self) -> str:
        """The identifier as PostgreSQL reads it: quoted kept as is, unquoted lower-cased."""
        if self.kind == "qident":
            return self.text[1:-1].replace('""', '"')
        if self.kind == "bident":
            return self.text[1:-1].replace("``", "`")
        return self.text.lower()

    @property
    def string(self) -> str:
        """The value of a string literal token."""
        if self.kind == "estring":
            return _unescape(self.text[2:-1])
        if self.kind == "dollar":
            start = self.text.index("$", 1) + 1
            return self.text[start:self.text.rindex("$", 0, len(self.text) - 1)]
        body = self.text[1:-1] if self.text[0] == "'" else self.text[2:-1]
        return body.replace("''", "'")


def _unescape(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "'" and s.startswith("''", i):
            out.append("'")
            i += 2
            continue
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def tokenize(sql: str) -> list[Token]:
    """Significant tokens (no whitespace, no comments); a ``;`` is an op token."""
    out: list[Token] = []
    pos, n = 0, len(sql)
    while pos < n:
        m = _TOKEN.match(sql, pos)
        if m is None or m.end() == pos:
            c = sql[pos]
            raise PgError(SYNTAX_ERROR, _UNTERMINATED.get(c, f'syntax error at or near "{c}"'), position=pos + 1)
        kind = m.lastgroup
        if kind == "tag":
            kind = "dollar"
        if kind not in ("ws", "comment"):
            out.append(Token(kind or "op", m.group(), pos))
        pos = m.end()
    return out


def split(sql: str) -> list[list[Token]]:
    """The statements of a simple Query message, each as its tokens (empty statements dropped)."""
    stmts: list[list[Token]] = []
    cur: list[Token] = []
    depth = 0
    for t in tokenize(sql):
        if t.kind == "op":
            if t.text in "([":
                depth += 1
            elif t.text in ")]":
                depth -= 1
            elif t.text == ";" and depth <= 0:
                if cur:
                    stmts.append(cur)
                cur, depth = [], 0
                continue
        cur.append(t)
    if cur:
        stmts.append(cur)
    return stmts


def text_of(sql: str, tokens: list[Token]) -> str:
    if not tokens:
        return ""
    last = tokens[-1]
    return sql[tokens[0].pos:last.pos + len(last.text)]


def pg_name(name: str) -> str:
    """The PostgreSQL spelling of a ksql name: a name with no lower-case letters is shown lower-cased."""
    return name.lower() if name == name.upper() else name


# -- routing -------------------------------------------------------------------------------------
CATALOG_SCHEMAS = ("pg_catalog", "information_schema")
_CLAUSE_END = {"WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "HAVING", "UNION", "EXCEPT", "INTERSECT",
               "WINDOW", "FETCH", "FOR", "EMIT", "ON", "USING", "PARTITION"}


def relations(tokens: list[Token]) -> list[list[str]]:
    """Every relation a SELECT reads, as qualified name parts (CTE names left out)."""
    ctes = _cte_names(tokens)
    out: list[list[str]] = []
    in_from_depth: int | None = None
    depth = 0
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.is_op("("):
            depth += 1
        elif t.is_op(")"):
            depth -= 1
            if in_from_depth is not None and depth < in_from_depth:
                in_from_depth = None
        u = t.upper
        after_from = u in ("FROM", "JOIN") or (t.is_op(",") and in_from_depth == depth)
        if u in _CLAUSE_END and in_from_depth == depth:
            in_from_depth = None
        if after_from:
            if u == "FROM":
                in_from_depth = depth
            j = i + 1
            if j < len(tokens) and tokens[j].upper in ("ONLY", "LATERAL"):
                j += 1
            if j < len(tokens) and tokens[j].is_name:
                parts, j = qualified(tokens, j)
                if j < len(tokens) and tokens[j].is_op("("):
                    pass  # a set-returning function, not a relation
                elif not (len(parts) == 1 and parts[0] in ctes):
                    out.append(parts)
        i += 1
    return out


def qualified(tokens: list[Token], i: int) -> tuple[list[str], int]:
    """The dotted name starting at ``tokens[i]``: its parts and the index after it."""
    parts = [tokens[i].ident]
    i += 1
    while i + 1 < len(tokens) and tokens[i].is_op(".") and tokens[i + 1].is_name:
        parts.append(tokens[i + 1].ident)
        i += 2
    return parts, i


def _cte_names(tokens: list[Token]) -> set[str]:
    names: set[str] = set()
    for i, t in enumerate(tokens):
        if not t.is_name or i + 1 >= len(tokens):
            continue
        j = i + 1
        if tokens[j].is_op("("):
            depth, j = 1, j + 1
            while j < len(tokens) and depth:
                depth += tokens[j].is_op("(") - tokens[j].is_op(")")
                j += 1
        if j + 1 < len(tokens) and tokens[j].upper == "AS" and tokens[j + 1].is_op("("):
            names.add(t.ident)
    return names


def is_catalog_relation(parts: list[str], is_source: Callable[[str], bool]) -> bool:
    if len(parts) >= 2:
        return parts[-2].lower() in CATALOG_SCHEMAS
    return parts[0].lower().startswith("pg_") and not is_source(parts[0])


# -- parameters ----------------------------------------------------------------------------------
def param_count(tokens: list[Token]) -> int:
    return max((int(t.text[1:]) for t in tokens if t.kind == "param"), default=0)


_COMPARISONS = ("=", "<>", "!=", "<", "<=", ">", ">=")


def infer_params(tokens: list[Token], count: int, column_oid: Callable[[list[str]], int | None]) -> list[int]:
    """Types of ``$1..$count`` from where they stand: next to a column in a comparison, IN list
    or BETWEEN, after LIMIT, or in an explicit cast; text otherwise."""
    oids = [0] * count
    n = len(tokens)
    for i, t in enumerate(tokens):
        if t.kind != "param":
            continue
        k = int(t.text[1:]) - 1
        if k < 0 or oids[k]:
            continue
        oid: int | None = None
        if i + 2 < n and tokens[i + 1].is_op("::"):
            name, _ = cast_type(tokens, i + 2)
            pt = T.type_by_name(re.sub(r"\(.*\)", "", name))
            oid = pt.oid if pt is not None else None
        if oid is None and i > 0 and tokens[i - 1].upper in ("LIMIT", "OFFSET"):
            oid = T.INT8
        if oid is None and i >= 2 and tokens[i - 1].is_op(*_COMPARISONS):
            oid = _column_before(tokens, i - 2, column_oid)
        if oid is None and i + 2 < n and tokens[i + 1].is_op(*_COMPARISONS) and tokens[i + 2].is_name:
            parts, j = qualified(tokens, i + 2)
            if not (j < n and tokens[j].is_op("(")):
                oid = column_oid(parts)
        if oid is None:
            oid = _in_or_between(tokens, i, column_oid)
        oids[k] = oid or T.TEXT
    return [o or T.TEXT for o in oids]


def _column_before(tokens: list[Token], end: int, column_oid: Callable[[list[str]], int | None]) -> int | None:
    """The type of the (dotted) column name ending at ``tokens[end]``."""
    if not tokens[end].is_name:
        return None
    start = end
    while start >= 2 and tokens[start - 1].is_op(".") and tokens[start - 2].is_name:
        start -= 2
    parts, _ = qualified(tokens, start)
    return column_oid(parts)


def _in_or_between(tokens: list[Token], i: int, column_oid: Callable[[list[str]], int | None]) -> int | None:
    j = i - 1
    while j >= 0 and (tokens[j].is_op(",") or tokens[j].kind in ("param", "string", "number")):
        j -= 1
    if j >= 1 and tokens[j].is_op("(") and tokens[j - 1].upper == "IN":
        k = j - 2
        if k >= 0 and tokens[k].upper == "NOT":
            k -= 1
        return _column_before(tokens, k, column_oid) if k >= 0 else None
    j = i - 1
    if j >= 2 and tokens[j].upper == "AND" and tokens[j - 2].upper == "BETWEEN":
        j -= 2
    if j >= 1 and tokens[j].upper == "BETWEEN":
        return _column_before(tokens, j - 1, column_oid)
    return None


def cast_type(tokens: list[Token], i: int) -> tuple[str, int]:
    """The type name of a ``::`` cast starting at ``tokens[i]`` (``numeric(10,2)``,
    ``double precision``, ``pg_catalog.text``, ``int[]``...) and the index after it."""
    if i >= len(tokens) or not tokens[i].is_name:
        raise PgError(SYNTAX_ERROR, "syntax error at end of input: type name expected after ::")
    parts = [tokens[i].ident]
    i += 1
    while i + 1 < len(tokens) and tokens[i].is_op(".") and tokens[i + 1].is_name:
        parts = [tokens[i + 1].ident]
        i += 2
    name = parts[-1]
    multi = {"double": ("precision",), "character": ("varying",), "timestamp": ("with", "without"),
             "time": ("with", "without")}
    if name in multi and i < len(tokens) and tokens[i].text.lower() in multi[name]:
        while i < len(tokens) and tokens[i].kind == "word" and tokens[i].text.lower() in (
                "precision", "varying", "with", "without", "time", "zone"):
            name += " " + tokens[i].text.lower()
            i += 1
    if i < len(tokens) and tokens[i].is_op("("):
        depth = 0
        while i < len(tokens):
            depth += tokens[i].is_op("(") - tokens[i].is_op(")")
            name += tokens[i].text
            i += 1
            if depth == 0:
                break
    while i + 1 < len(tokens) and tokens[i].is_op("[") and tokens[i + 1].is_op("]"):
        name += "[]"
        i += 2
    return name, i


# -- translation into ksql -----------------------------------------------------------------------
def ksql_literal(v: Any) -> str:
    """A bound parameter as a ksql literal: values never reach the text unquoted."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v) if v >= 0 else f"({v})"
    if isinstance(v, float):
        if not math.isfinite(v):
            return f"CAST('{T.float_text(v)}' AS DOUBLE)"
        r = repr(v)
        if "e" not in r and "." not in r:
            r += ".0"
        return f"CAST({r} AS DOUBLE)" if "e" in r else (r if v >= 0 else f"({r})")
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise PgError("22P02", f"ksql has no DECIMAL value {v}")
        s = format(v, "f")
        return s if v >= 0 else f"({s})"
    if isinstance(v, (bytes, bytearray, memoryview)):
        return f"TO_BYTES('{bytes(v).hex()}', 'hex')"
    if isinstance(v, dt.datetime):
        return quote(v.isoformat(timespec="milliseconds"))
    if isinstance(v, (dt.date, dt.time)):
        return quote(v.isoformat())
    if isinstance(v, list):
        return "ARRAY[" + ", ".join(ksql_literal(x) for x in v) + "]"
    return quote(str(v))


def quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def backquote(name: str) -> str:
    if "`" in name:
        raise PgError(SYNTAX_ERROR, f'identifier "{name}" holds a backquote, which ksql names cannot')
    return "`" + name + "`"


_KSQL_TYPES = {
    "int2": "INTEGER", "int4": "INTEGER", "int8": "BIGINT", "float4": "DOUBLE", "float8": "DOUBLE",
    "numeric": "DECIMAL", "text": "STRING", "varchar": "STRING", "bpchar": "STRING", "name": "STRING",
    "bool": "BOOLEAN", "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMP",
    "bytea": "BYTES", "json": "STRING", "jsonb": "STRING", "unknown": "STRING",
}
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


class KsqlTranslator:
    """Rewrites one PostgreSQL SELECT into ksql text: parameters as literals, ``::`` casts as
    CAST, PostgreSQL strings and quoted identifiers as ksql's, the ``public`` schema dropped."""

    def __init__(self, resolve: Callable[[str], str]) -> None:
        self.resolve = resolve  # quoted identifier -> ksql name

    def translate(self, tokens: list[Token], params: list[Any] | None) -> str:
        units: list[str] = []
        i, n = 0, len(tokens)
        # the opening index into ``units`` of each open parenthesis, to find a cast's operand
        opens: list[int] = []
        closed: dict[int, int] = {}  # index in units of a ')' -> index of its '('
        prev_upper = ""
        while i < n:
            t = tokens[i]
            if t.is_op("::"):
                name, i = cast_type(tokens, i + 1)
                start = self._operand_start(units, closed)
                operand = " ".join(units[start:])
                del units[start:]
                units.append(self._cast(operand, name))
                continue
            if t.kind == "param":
                k = int(t.text[1:]) - 1
                if params is None or k >= len(params):
                    raise PgError("08P01", f"there is no parameter {t.text}")
                units.append(ksql_literal(params[k]))
            elif t.kind in ("string", "estring", "dollar"):
                if t.kind == "string" and t.text[0] in "BbXx":
                    raise unsupported("bit-string and hex-string literals are not supported")
                units.append(quote(t.string))
            elif t.is_name and prev_upper in ("FROM", "JOIN"):
                parts, j = qualified(tokens, i)
                if len(parts) > 1 and parts[-2].lower() == "public":
                    tok = tokens[j - 1]
                    units.append(backquote(self.resolve(tok.ident)) if tok.kind == "qident" else tok.text)
                    i = j
                    prev_upper = ""
                    continue
                units.append(backquote(self.resolve(t.ident)) if t.kind == "qident" else t.text)
            elif t.kind == "qident":
                units.append(backquote(self.resolve(t.ident)))
            elif t.is_op("("):
                opens.append(len(units))
                units.append("(")
            elif t.is_op(")"):
                if opens:
                    closed[len(units)] = opens.pop()
                units.append(")")
            else:
                units.append(t.text)
            prev_upper = t.upper
            i += 1
        return " ".join(units) + ";"

    @staticmethod
    def _operand_start(units: list[str], closed: dict[int, int]) -> int:
        if not units:
            raise PgError(SYNTAX_ERROR, 'syntax error at or near "::"')
        last = len(units) - 1
        if units[last] == ")" and last in closed:
            start = closed[last]
            # a function call: keep its name with its arguments
            if start > 0 and re.match(r"^[A-Za-z_`]", units[start - 1]):
                start -= 1
            return start
        return last

    @staticmethod
    def _cast(operand: str, type_name: str) -> str:
        base = type_name.split("(")[0].removesuffix("[]").strip()
        pt = T.type_by_name(base)
        target = _KSQL_TYPES.get(pt.name) if pt is not None else None
        if target is None or type_name.endswith("[]"):
            raise unsupported(f"cast to type {type_name} is not supported by ksql")
        if operand.startswith("'") and operand.endswith("'") and pt is not None:
            T.decode_text(pt.oid, operand[1:-1].replace("''", "'"))  # a bad literal fails as in PostgreSQL
        if target == "DECIMAL":
            m = re.search(r"\((\d+)\s*(?:,\s*(\d+))?\)", type_name)
            if m:
                return f"CAST({operand} AS DECIMAL({m.group(1)}, {m.group(2) or 0}))"
            literal = operand.strip("'") if operand.startswith("'") else operand
            if _NUMBER.match(literal):
                return literal
            raise unsupported("a cast to numeric needs a precision in ksql: use ::numeric(p,s)")
        if target == "BYTES" and operand.startswith("'\\x"):
            return f"TO_BYTES('{operand[3:-1]}', 'hex')"
        if target == "STRING" and operand.startswith("'"):
            return operand
        if target in ("INTEGER", "BIGINT", "DOUBLE") and operand.startswith("'") and _NUMBER.match(operand[1:-1]):
            return f"CAST({operand[1:-1]} AS {target})"
        return f"CAST({operand} AS {target})"


def dummy_literal(oid: int) -> Any:
    """A stand-in value of type ``oid`` for describing a statement before its parameters are bound."""
    if oid in (T.INT2, T.INT4, T.INT8, T.OID):
        return 1
    if oid in (T.FLOAT4, T.FLOAT8):
        return 0.0
    if oid == T.NUMERIC:
        return Decimal(0)
    if oid == T.BOOL:
        return False
    if oid in (T.TEXT, T.VARCHAR, T.BPCHAR, T.NAME, T.UNKNOWN, T.JSON, T.JSONB):
        return ""
    if oid == T.DATE:
        return dt.date(1970, 1, 1)
    if oid in (T.TIMESTAMP, T.TIMESTAMPTZ):
        return dt.datetime(1970, 1, 1)
    if oid == T.TIME:
        return dt.time(0)
    return None
