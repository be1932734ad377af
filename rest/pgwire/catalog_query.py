"""Catalog queries, PostgreSQL → SQLite: sqlglot parses the PostgreSQL text; the rewriter turns
what SQLite lacks into what it has (reg* casts into lookups, ``= ANY(array)`` into ``IN``, arrays
into JSON, regex operators and system functions into user functions named ``pgw_*``); the typer
gives parameters and result columns their PostgreSQL types from the catalog's layouts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from rest.pgwire import types as T
from rest.pgwire.catalog_tables import INTEGER_TYPES, LIVE_TABLES, SCHEMAS
from rest.pgwire.errors import SYNTAX_ERROR, UNDEFINED_FUNCTION, PgError, unsupported
from rest.pgwire.protocol import Field
from rest.pgwire.sqltext import cast_type, tokenize

# -- shapes --------------------------------------------------------------------------------------
_REG_TYPES = {"REGCLASS": "regclass", "REGTYPE": "regtype", "REGNAMESPACE": "regnamespace",
              "REGPROC": "regproc", "REGPROCEDURE": "regproc", "REGROLE": "regrole", "REGOPER": "regoper"}
# sqlglot's nodes for PostgreSQL's niladic functions -> our function names
_NILADIC: dict[type[exp.Expr], str] = {
    exp.CurrentUser: "current_user", exp.SessionUser: "session_user", exp.CurrentSchema: "current_schema",
    exp.CurrentDatabase: "current_database", exp.CurrentCatalog: "current_catalog",
    exp.CurrentVersion: "version",
}
_NILADIC_COLUMNS = {"current_user", "session_user", "user", "current_role", "current_catalog", "current_schema"}
_SQLITE_FUNCTIONS = {"abs", "coalesce", "ifnull", "nullif", "lower", "upper", "length", "replace", "substr",
                     "substring", "trim", "ltrim", "rtrim", "round", "max", "min", "count", "sum", "avg",
                     "json_group_array", "json_array", "json_each", "group_concat", "instr", "typeof",
                     "greatest", "least", "concat", "strpos", "position"}
_FUNC_TYPES = {"count": T.INT8, "sum": T.NUMERIC, "avg": T.NUMERIC, "length": T.INT4, "lower": T.TEXT,
               "upper": T.TEXT, "concat": T.TEXT, "string_agg": T.TEXT, "replace": T.TEXT, "substring": T.TEXT,
               "trim": T.TEXT, "now": T.TIMESTAMPTZ, "current_timestamp": T.TIMESTAMPTZ}
_BOOL_NODES = (exp.Predicate, exp.Connector, exp.Not, exp.Exists, exp.RegexpLike, exp.RegexpILike, exp.Like,
               exp.ILike, exp.Any, exp.All, exp.Boolean)


@dataclass
class CatalogStatement:
    """A catalog query, parsed once: parameter types, result columns, SQLite text."""

    tree: exp.Expr
    param_types: list[int]
    fields: list[Field] | None  # None: known only when run (SELECT *)
    sql: str
    live_tables: set[str]


def translate(text: str, declared: list[int], functions: Mapping[str, int]) -> CatalogStatement:
    """Parse, type and rewrite one catalog query; ``functions`` maps our system functions to their
    return types."""
    declared = _cast_params(text, declared)
    try:
        tree = sqlglot.parse_one(_pre_parse(text), read="postgres")
    except (ParseError, SqlglotError) as e:
        raise PgError(SYNTAX_ERROR, f"syntax error: {first_line(str(e))}") from None
    if not isinstance(tree, (exp.Query, exp.Values)):
        raise unsupported(f"statement not supported on the catalog: {text[:60]}")
    typer = _Typer(functions)
    count = max((int(p.this.this) for p in tree.find_all(exp.Parameter) if isinstance(p.this, exp.Literal)),
                default=0)
    params = list(declared) + [0] * max(0, count - len(declared))
    for p in tree.find_all(exp.Parameter):
        k = int(p.this.this) - 1
        if 0 <= k < len(params) and not params[k]:
            params[k] = typer.param_type(p) or T.TEXT
    fields = typer.output_fields(tree)
    live = {t.name for t in tree.find_all(exp.Table) if t.name in LIVE_TABLES}
    rewritten = _Rewriter(functions).rewrite(tree.copy())
    try:
        sql = rewritten.sql(dialect="sqlite", unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as e:
        raise unsupported(f"not supported on the catalog: {first_line(str(e))}") from None
    return CatalogStatement(tree, params, fields, sql, live)


def first_line(s: str) -> str:
    return s.strip().split("\n")[0][:200]


def _cast_params(text: str, declared: list[int]) -> list[int]:
    """``$1::oid[]`` declares $1 an oid[] (read before sqlglot, which knows fewer array types)."""
    out = list(declared)
    tokens = tokenize(text)
    for i, t in enumerate(tokens):
        if t.kind == "param" and i + 2 < len(tokens) and tokens[i + 1].is_op("::"):
            k = int(t.text[1:]) - 1
            name, _ = cast_type(tokens, i + 2)
            pt = T.type_by_name(re.sub(r"\(.*\)", "", name))
            if pt is not None and k >= 0:
                out += [0] * (k + 1 - len(out))
                if not out[k]:
                    out[k] = pt.oid
    return out


def _pre_parse(text: str) -> str:
    # sqlglot reads ``x::oid[]`` and friends only for the types it knows; the element type is
    # irrelevant to SQLite, where arrays are JSON text
    return re.sub(r"::\s*(?:pg_catalog\.)?\"?(\w+)\"?\s*\[\]", r"::\1_ARRAY_", text) \
        .replace("_ARRAY_", "[]").replace("::oid[]", "::int[]").replace("::name[]", "::text[]") \
        .replace("::regtype[]", "::int[]").replace("::regclass[]", "::int[]").replace("::char[]", "::text[]")


def _norm_type(to: exp.Expr) -> str:
    if isinstance(to, exp.ObjectIdentifier):
        return _REG_TYPES.get(to.name.upper(), to.name.lower())
    name = to.sql("postgres").lower()
    name = name.removeprefix("pg_catalog.")
    return name


class _Typer:
    """PostgreSQL types of a catalog query's parameters and result columns."""

    def __init__(self, functions: Mapping[str, int]) -> None:
        self.functions = functions  # name -> return type

    def param_type(self, p: exp.Parameter) -> int | None:
        parent = p.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if isinstance(parent, exp.Cast):
            return self._cast_type(parent)
        if isinstance(parent, exp.Any):
            cmp = parent.parent
            if isinstance(cmp, exp.Binary):
                other = cmp.this if cmp.expression is parent else cmp.expression
                t = self.expr_type(other)
                if t and T.TYPES.get(t) and T.TYPES[t].array:
                    return T.TYPES[t].array
            return None
        if isinstance(parent, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like)):
            other = parent.this if parent.expression is p else parent.expression
            return self.expr_type(other)
        if isinstance(parent, exp.In):
            return self.expr_type(parent.this)
        if isinstance(parent, (exp.Limit, exp.Offset)):
            return T.INT8
        return None

    def _cast_type(self, cast: exp.Cast) -> int | None:
        name = _norm_type(cast.to)
        if name in _REG_TYPES.values():
            return T.TEXT  # shown by name; a parameter is given as a name too
        t = T.type_by_name(re.sub(r"\(.*\)", "", name))
        return t.oid if t is not None else None

    def output_fields(self, tree: exp.Expr) -> list[Field] | None:
        select = tree
        while isinstance(select, exp.SetOperation):
            select = select.this
        if isinstance(select, exp.Subquery):
            select = select.this
        if not isinstance(select, exp.Select):
            return None
        fields = []
        for e in select.expressions:
            if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
                star = self._star(select, e.table if isinstance(e, exp.Column) else None)
                if star is None:
                    return None
                fields += star
                continue
            oid = self.expr_type(e) or T.TEXT
            fields.append(Field(_output_name(e), oid, T.TYPES[oid].length if oid in T.TYPES else -1))
        return fields

    def _star(self, select: exp.Select, qualifier: str | None) -> list[Field] | None:
        """The columns ``*`` (or ``t.*``) stands for, in FROM order."""
        out: list[Field] = []
        for src in self._sources(select):
            if qualifier and src.alias_or_name != qualifier:
                continue
            if isinstance(src, exp.Table):
                cols = self._table_columns(src, select)
            elif isinstance(src, exp.Subquery):
                fields = self.output_fields(src.this)
                cols = {f.name: f.type_oid for f in fields} if fields is not None else {}
            else:
                return None
            if not cols:
                return None
            out += [Field(n, oid, T.TYPES[oid].length if oid in T.TYPES else -1) for n, oid in cols.items()]
        return out or None

    @staticmethod
    def _sources(select: exp.Select) -> list[exp.Expr]:
        sources: list[exp.Expr] = []
        from_ = select.args.get("from_") or select.args.get("from")
        if from_ is not None:
            sources.append(from_.this)
        sources += [j.this for j in select.args.get("joins") or []]
        return sources

    def expr_type(self, e: exp.Expr) -> int | None:
        if isinstance(e, (exp.Alias, exp.Paren)):
            return self.expr_type(e.this)
        if isinstance(e, exp.Column):
            if e.name in _NILADIC_COLUMNS and not e.table:
                return T.NAME
            return self._column_type(e)
        if isinstance(e, exp.Cast):
            return self._cast_type(e)
        if isinstance(e, exp.Literal):
            if e.is_string:
                return T.TEXT
            return T.INT4 if re.fullmatch(r"-?\d+", e.this) and abs(int(e.this)) < 2**31 else (
                T.INT8 if re.fullmatch(r"-?\d+", e.this) else T.NUMERIC)
        if isinstance(e, exp.Null):
            return T.TEXT
        if isinstance(e, _BOOL_NODES):
            return T.BOOL
        if isinstance(e, exp.Case):
            for branch in e.args.get("ifs") or []:
                t = self.expr_type(branch.args["true"])
                if t and not isinstance(branch.args["true"], exp.Null):
                    return t
            default = e.args.get("default")
            return self.expr_type(default) if default is not None else None
        if isinstance(e, exp.Coalesce):
            return self.expr_type(e.this)
        if isinstance(e, exp.Subquery):
            fields = self.output_fields(e.this)
            return fields[0].type_oid if fields else None
        if isinstance(e, (exp.ArrayAgg, exp.Array)):
            if isinstance(e, exp.ArrayAgg):
                inner = e.this.this if isinstance(e.this, exp.Order) else e.this
            else:
                inner = e.expressions[0] if e.expressions else exp.null()
                if isinstance(inner, exp.Select):
                    inner = exp.Subquery(this=inner)
            t = self.expr_type(inner)
            return T.TYPES[t].array if t in T.TYPES and T.TYPES[t].array else T.TYPES[T.TEXT].array
        if isinstance(e, (exp.Max, exp.Min)):
            return self.expr_type(e.this)
        if isinstance(e, (exp.DPipe, exp.Concat)):
            return T.TEXT
        if isinstance(e, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg)):
            return self.expr_type(e.this)
        if isinstance(e, exp.Dot) and isinstance(e.expression, exp.Func):
            return self.expr_type(e.expression)
        name = _func_name(e)
        if name:
            return self.functions.get(name) or _FUNC_TYPES.get(name)
        return None

    def _column_type(self, col: exp.Column) -> int | None:
        select = col.find_ancestor(exp.Select)
        while select is not None:
            t = self._column_in(select, col)
            if t is not None:
                return t
            select = select.find_ancestor(exp.Select)
        return None

    def _column_in(self, select: exp.Select, col: exp.Column) -> int | None:
        for src in self._sources(select):
            alias = src.alias_or_name
            if col.table and col.table != alias:
                continue
            if isinstance(src, exp.Table):
                cols = self._table_columns(src, select)
            elif isinstance(src, exp.Subquery):
                fields = self.output_fields(src.this)
                cols = {f.name: f.type_oid for f in fields} if fields else {}
            else:
                continue
            if col.name in cols:
                return cols[col.name]
        return None

    def _table_columns(self, table: exp.Table, select: exp.Select) -> dict[str, int]:
        schema = table.db.lower() if table.db else None
        for s, tables in SCHEMAS.items():
            if (schema is None or schema == s) and table.name in tables:
                return dict(tables[table.name])
        # a CTE: the types of its query's columns, named by its column list if it has one
        node: exp.Expr | None = select
        while node is not None:
            with_ = node.args.get("with_") or node.args.get("with")
            if with_ is not None:
                for cte in with_.expressions:
                    if cte.alias == table.name:
                        fields = self.output_fields(cte.this) or []
                        names = [c.name for c in (cte.args["alias"].columns or [])] or [f.name for f in fields]
                        return {n: f.type_oid for n, f in zip(names, fields, strict=False)}
            node = node.parent
        return {}


def _func_name(e: exp.Expr) -> str | None:
    if isinstance(e, exp.Anonymous):
        return str(e.name).lower()
    if type(e) in _NILADIC:
        return _NILADIC[type(e)]
    if isinstance(e, exp.Func):
        return type(e).sql_names()[0].lower()
    return None


def _output_name(e: exp.Expr) -> str:
    return _figure_name(e)[0]


def _figure_name(e: exp.Expr) -> tuple[str, int]:
    """PostgreSQL's column naming: (name, strength); a column or function name (2) beats the type
    name of a cast (1), which beats ``?column?`` (0)."""
    if isinstance(e, exp.Alias):
        return e.alias, 3
    if isinstance(e, exp.Column):
        return e.name, 2
    if isinstance(e, exp.Cast):
        name, strength = _figure_name(e.this)
        if strength <= 1:
            return _norm_type(e.to).split("(")[0].removesuffix("[]"), 1
        return name, strength
    if isinstance(e, exp.Dot) and isinstance(e.expression, exp.Func):
        return _figure_name(e.expression)
    if isinstance(e, exp.Case):
        return "case", 1
    if isinstance(e, exp.Boolean):
        return "bool", 1
    if isinstance(e, exp.Array):
        return "array", 2
    if isinstance(e, exp.Subquery):
        select = e.this
        if isinstance(select, exp.Select) and len(select.expressions) == 1:
            return _figure_name(select.expressions[0])
        return "?column?", 0
    if isinstance(e, exp.Paren):
        return _figure_name(e.this)
    func = _func_name(e)
    return (func, 2) if func else ("?column?", 0)


class _Rewriter:
    """PostgreSQL → SQLite where sqlglot's own translation is not enough."""

    def __init__(self, functions: Mapping[str, int]) -> None:
        self.functions = functions

    def rewrite(self, tree: exp.Expr) -> exp.Expr:
        # bottom-up: a node is rewritten after its children, so it sees them in SQLite form
        root = tree
        for node in reversed(list(tree.dfs())):
            new = self._node(node)
            if new is not node:
                if node is root:
                    root = new
                else:
                    node.replace(new)
        return root

    def _call(self, name: str, *args: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this=f"pgw_{name}", expressions=list(args))

    def _node(self, e: exp.Expr) -> exp.Expr:
        if isinstance(e, exp.Parameter) and isinstance(e.this, exp.Literal):
            return exp.Placeholder(this=f"p{e.this.this}")
        if isinstance(e, exp.Collate):
            return e.this
        if isinstance(e, exp.Dot) and isinstance(e.this, exp.Identifier) and e.this.name.lower() == "pg_catalog" \
                and isinstance(e.expression, exp.Func):
            return e.expression
        if isinstance(e, exp.Operator):
            op = str(e.args.get("operator") or "").split(".")[-1].strip()
            node = _OPERATORS.get(op)
            if node is None:
                raise unsupported(f"operator {op} is not supported on the catalog")
            return self._node(node(this=e.this, expression=e.expression))
        if isinstance(e, (exp.RegexpLike, exp.RegexpILike)):
            flags = "i" if isinstance(e, exp.RegexpILike) else ""
            return self._call("regexp", e.this, e.expression, exp.Literal.string(flags))
        if isinstance(e, exp.ByteString):
            return exp.Literal.string(str(e.this))
        if type(e) in _NILADIC:
            return self._call(_NILADIC[type(e)])
        if isinstance(e, exp.CurrentSchemas):
            return self._call("current_schemas", e.this or exp.true())
        if isinstance(e, exp.Column) and not e.table and e.name in _NILADIC_COLUMNS and not isinstance(
                e.this, exp.Star) and not e.this.quoted:
            return self._call(e.name)
        if isinstance(e, exp.Cast):
            return self._cast(e)
        if isinstance(e, exp.Anonymous):
            name = str(e.name).lower()
            if name in self.functions:
                return self._call(name, *e.expressions)
            if name not in _SQLITE_FUNCTIONS:
                raise PgError(UNDEFINED_FUNCTION, f"function {name}() does not exist")
            return e
        if isinstance(e, exp.ArrayToString):
            return self._call("array_to_string", e.this, *e.expressions)
        if isinstance(e, exp.ArrayAgg):
            inner = e.this.this if isinstance(e.this, exp.Order) else e.this
            return exp.Anonymous(this="json_group_array", expressions=[inner])
        if isinstance(e, exp.Array):
            items = list(e.expressions)
            if len(items) == 1 and isinstance(items[0], (exp.Query, exp.Subquery)):
                # ARRAY(SELECT x ...): the subquery's rows as one JSON array
                inner = items[0].this if isinstance(items[0], exp.Subquery) else items[0]
                if isinstance(inner, exp.Select) and inner.expressions:
                    first = inner.expressions[0]
                    inner.expressions[0].replace(exp.alias_(first.this if isinstance(first, exp.Alias) else first,
                                                            "pgw_v"))
                agg = exp.select(exp.Anonymous(this="json_group_array", expressions=[exp.column("pgw_v")]))
                return exp.Subquery(this=agg.from_(exp.Subquery(this=inner, alias=exp.TableAlias(
                    this=exp.to_identifier("pgw_a")))))
            return exp.Anonymous(this="json_array", expressions=items)
        if isinstance(e, exp.Table) and isinstance(e.this, (exp.ExplodingGenerateSeries, exp.GenerateSeries)):
            return self._series(e)
        if isinstance(e, exp.Table) and isinstance(e.this, exp.Explode) or isinstance(e, exp.Unnest) and isinstance(
                e.parent, (exp.From, exp.Join)):
            # FROM unnest(array) x: one row per element, in a column named like the alias
            arr = e.this.this if isinstance(e, exp.Table) else e.expressions[0]
            name = e.alias or "unnest"
            values = exp.select(exp.alias_(exp.column("value"), name)).from_(
                exp.Anonymous(this="json_each", expressions=[arr]))
            return exp.Subquery(this=values, alias=exp.TableAlias(this=exp.to_identifier(name)))
        if isinstance(e, exp.Bracket) and len(e.expressions) == 1:
            # arrays are JSON text; PostgreSQL subscripts count from 1
            path = exp.DPipe(this=exp.DPipe(this=exp.Literal.string("$["), expression=exp.Sub(
                this=exp.Cast(this=e.expressions[0], to=exp.DataType.build("INTEGER")),
                expression=exp.Literal.number(1))), expression=exp.Literal.string("]"))
            return exp.Anonymous(this="json_extract", expressions=[e.this, path])
        if isinstance(e, (exp.EQ, exp.NEQ)) and isinstance(e.expression, exp.Any):
            arr = e.expression.this
            arr = arr.this if isinstance(arr, exp.Paren) else arr
            values = exp.select("value").from_(exp.Anonymous(this="json_each", expressions=[arr]))
            test = exp.In(this=e.this, query=exp.Subquery(this=values))
            return exp.Not(this=test) if isinstance(e, exp.NEQ) else test
        return e

    @staticmethod
    def _series(table: exp.Table) -> exp.Expr:
        """``FROM generate_series(a, b) s``: the integers a..b as a column ``s``."""
        series = table.this
        name = table.alias or "generate_series"
        start, end = series.args.get("start"), series.args.get("end")
        step = series.args.get("step") or exp.Literal.number(1)
        cte = (f"WITH RECURSIVE pgw_series(v) AS (SELECT {start.sql('sqlite')} UNION ALL "  # type: ignore[union-attr]
               f"SELECT v + {step.sql('sqlite')} FROM pgw_series WHERE v + {step.sql('sqlite')} <= "
               f"{end.sql('sqlite')}) SELECT v AS {name} FROM pgw_series")  # type: ignore[union-attr]
        return exp.Subquery(this=sqlglot.parse_one(cte, read="sqlite"),
                            alias=exp.TableAlias(this=exp.to_identifier(name)))

    def _cast(self, e: exp.Cast) -> exp.Expr:
        name = _norm_type(e.to)
        inner = e.this
        if name in _REG_TYPES.values():
            # a reg* value compares as an OID and shows as a name
            shown = isinstance(e.parent, (exp.Alias, exp.Select))
            return self._call("reg_name" if shown else "reg_oid", exp.Literal.string(name), inner)
        if isinstance(inner, exp.Anonymous) and inner.name == "pgw_reg_oid" and T.type_by_name(name) in (
                T.TYPES[T.TEXT], T.TYPES[T.NAME], T.TYPES[T.VARCHAR]):
            return self._call("reg_name", *inner.expressions)
        if name.endswith("[]"):
            if isinstance(inner, exp.Literal) and inner.is_string:
                elem = T.type_by_name(name[:-2])
                items = T.parse_array(inner.this, lambda s: T.decode_text(elem.oid, s) if elem else s)
                return exp.Literal.string(orjson.dumps(items, default=str).decode())
            return inner
        base = re.sub(r"\(.*\)", "", name).strip()
        t = T.type_by_name(base)
        if t is None:
            raise unsupported(f"cast to {name} is not supported on the catalog")
        if t.oid == T.BOOL:
            return self._call("pg_bool", inner)
        if t.oid in INTEGER_TYPES:
            return exp.Cast(this=inner, to=exp.DataType.build("INTEGER"))
        if t.oid in (T.FLOAT4, T.FLOAT8, T.NUMERIC):
            return exp.Cast(this=inner, to=exp.DataType.build("REAL"))
        if t.category in ("S", "Z") or t.oid in (T.TEXT, T.NAME):
            return exp.Cast(this=inner, to=exp.DataType.build("TEXT"))
        return inner


_OPERATORS: dict[str, type[exp.Expr]] = {
    "~": exp.RegexpLike, "~*": exp.RegexpILike, "=": exp.EQ, "<>": exp.NEQ, "!=": exp.NEQ, "<": exp.LT,
    "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE, "~~": exp.Like, "~~*": exp.ILike,
}
