"""What a table pull query's WHERE clause may say, and ksqlDB's errors when it says too much.

The clause is rewritten as a disjunction of conjunctions (``IN`` becomes one equality per value,
``BETWEEN`` two bounds). A disjunct can be answered by key lookups when it compares every key
column with ``=`` to an expression without columns (on a STRING or BYTES key, a single range
bound may be a range scan instead). Anything else needs a table scan; with
``ksql.query.pull.table.scan.enabled=false`` such a query is refused with the message that names
the first problem, as ksqlDB's pull-query planner does.

Only validation lives here: which rows are read is the business of ``ksql.engine.transient``, and
the WHERE clause still filters every row read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlglot import exp

from ksql.catalog import DataSource
from ksql.engine.config import Config
from ksql.errors import KsqlException
from ksql.expressions.compiler import expr_sql
from ksql.schema import WINDOWEND, WINDOWSTART, Column
from ksql.sqltypes import BaseType

_MAX_DISJUNCTS = 1024  # a WHERE clause whose rewrite is larger than this simply needs a scan

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)
_RANGES = (exp.GT, exp.GTE, exp.LT, exp.LTE)
_RANGE_KEY_TYPES = (BaseType.STRING, BaseType.BYTES)

_HELP = (
    " See https://cnfl.io/queries for more info.\n"
    "Pull queries require a WHERE clause that:\n"
    " - includes a key equality expression, e.g. `SELECT * FROM X WHERE <key-column> = Y;`.\n"
    " - in the case of a multi-column key, is a conjunction of equality expressions that cover all "
    "key columns.\n"
    " - to support range expressions, e.g.,  SELECT * FROM X WHERE <key-column> < Y;`, range scans "
    "need to be enabled by setting ksql.query.pull.range.scan.enabled=true"
)
_WINDOW_HELP = (
    "\n - (optionally) limits the time bounds of the windowed table.\n"
    "\t Bounds on [`WINDOWSTART`, `WINDOWEND`] are supported\n"
    "\t Supported operators are [EQUAL, GREATER_THAN, GREATER_THAN_OR_EQUAL, LESS_THAN, LESS_THAN_OR_EQUAL]"
)
_SCAN_HELP = "\nIf more flexible queries are needed, table scans can be enabled by setting " \
    "ksql.query.pull.table.scan.enabled=true."


def invalid_where(message: str, windowed: bool) -> KsqlException:
    return KsqlException(f"{message}.{_HELP}{_WINDOW_HELP if windowed else ''}{_SCAN_HELP}")


def check_table_pull_where(where: exp.Expression | None, src: DataSource, config: Config) -> bool:
    """Raise ksqlDB's error when the table pull query cannot run under ``config``; returns whether
    it needs a table scan (rather than key lookups or one key range)."""
    if where is None:
        return True
    scans = config.get_bool("ksql.query.pull.table.scan.enabled", True)
    disjuncts = _disjuncts(where)
    checker = _Checker(src, scans)
    if disjuncts is None:
        if not scans:
            raise invalid_where(f"Unsupported expression in WHERE clause: {expr_sql(where)}", False)
        return True
    if checker.needs_scan(disjuncts):
        return True
    constraints = [checker.key_constraint(d) for d in disjuncts]
    ranges = [c for c in constraints if c == "range"]
    usable = "scan" not in constraints and (
        not ranges or len(constraints) == 1 and src.window is None
        and config.get_bool("ksql.query.pull.range.scan.enabled", True))
    if usable:
        return False
    if not scans:
        raise KsqlException("Query requires table scan to be enabled. Table scans can be enabled by setting "
                            "ksql.query.pull.table.scan.enabled=true")
    return True


# -- the rewrite: a list of disjuncts, each a list of atoms (ANDed) -------------------------------
def _unparen(e: exp.Expression) -> exp.Expression:
    while isinstance(e, exp.Paren):
        e = e.this
    return e


def _disjuncts(e: exp.Expression) -> list[list[exp.Expression]] | None:
    e = _unparen(e)
    if isinstance(e, exp.Or):
        left, right = _disjuncts(e.this), _disjuncts(e.expression)
        if left is None or right is None or len(left) + len(right) > _MAX_DISJUNCTS:
            return None
        return left + right
    if isinstance(e, exp.And):
        left, right = _disjuncts(e.this), _disjuncts(e.expression)
        if left is None or right is None or len(left) * len(right) > _MAX_DISJUNCTS:
            return None
        return [a + b for a in left for b in right]
    if isinstance(e, exp.In) and not e.args.get("query") and e.expressions:
        if len(e.expressions) > _MAX_DISJUNCTS:
            return None
        return [[exp.EQ(this=e.this.copy(), expression=v.copy())] for v in e.expressions]
    if isinstance(e, exp.Between):
        return [[exp.GTE(this=e.this.copy(), expression=e.args["low"].copy()),
                 exp.LTE(this=e.this.copy(), expression=e.args["high"].copy())]]
    return [[e]]


def _conjunction_sql(atoms: list[exp.Expression]) -> str:
    node = atoms[0]
    for a in atoms[1:]:
        node = exp.And(this=node, expression=a)
    return expr_sql(node)


# -- checking ------------------------------------------------------------------------------------
@dataclass
class _Disjunct:
    keyed: bool = False
    scan: bool = False
    seen: list[str] = field(default_factory=list)


class _Checker:
    def __init__(self, src: DataSource, scans: bool) -> None:
        self.src = src
        self.scans = scans
        self.windowed = src.window is not None
        self.keys = list(src.schema.key)
        self.key_names = [c.name for c in self.keys]

    def _scan_or_raise(self, d: _Disjunct, message: str, windowed: bool) -> None:
        if not self.scans:
            raise invalid_where(message, windowed)
        d.scan = True

    def needs_scan(self, disjuncts: list[list[exp.Expression]]) -> bool:
        for atoms in disjuncts:
            d = _Disjunct()
            for atom in atoms:
                self._atom(atom, d)
            if d.scan:
                return True
            if not d.keyed:
                if self.scans:
                    return True
                raise invalid_where(f"WHERE clause missing key column for disjunct: {_conjunction_sql(atoms)}",
                                    self.windowed)
            if len(set(d.seen)) != len(self.keys):
                if self.scans:
                    return True
                specified = ", ".join(f"`{n}`" for n in d.seen)
                raise invalid_where(
                    f"Multi-column sources must specify every key in the WHERE clause. Specified: [{specified}] "
                    f"Expected: [{', '.join(_column_text(c) for c in self.keys)}]", self.windowed)
        return False

    def _atom(self, atom: exp.Expression, d: _Disjunct) -> None:
        atom = _unparen(atom)
        if isinstance(atom, exp.Like):
            self._like(atom, d)
            return
        if not isinstance(atom, _COMPARISONS):
            self._scan_or_raise(d, f"Unsupported expression in WHERE clause: {expr_sql(atom)}", False)
            return
        column, other = _column_side(atom)
        if column is None:
            self._scan_or_raise(d, "A comparison must directly reference a key column", self.windowed)
            return
        if any(True for _ in other.find_all(exp.Column)):
            self._scan_or_raise(d, "A comparison must be between a key column and a resolvable expression",
                                self.windowed)
            return
        name = column.name
        if name in (WINDOWSTART, WINDOWEND):
            return  # window bounds narrow the windows read, never the keys
        if name not in self.key_names:
            return
        if isinstance(atom, (exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ)):
            keys = ", ".join(_column_text(c) for c in self.keys)
            self._scan_or_raise(d, f"Bound on key columns '[{keys}]' must currently be '='", self.windowed)
        if name in d.seen and not self.scans:
            raise invalid_where("A comparison condition on the key column cannot be combined with other "
                                "comparisons such as an IN predicate", self.windowed)
        d.seen.append(name)
        d.keyed = True

    def _like(self, atom: exp.Like, d: _Disjunct) -> None:
        value = _unparen(atom.this)
        if not isinstance(value, exp.Column):
            self._scan_or_raise(d, "Like condition must be between strings", self.windowed)
            return
        col = self.src.schema.find(value.name)
        if col is None:
            raise invalid_where(f"Like condition on non-existent column {value.name}", self.windowed)
        if col.type.base is not BaseType.STRING:
            raise invalid_where("The column type for Like condition must be VARCHAR. The column type is "
                                f"{col.type.base.value}", self.windowed)
        pattern = _unparen(atom.expression)
        if not (isinstance(pattern, exp.Null) or isinstance(pattern, exp.Literal) and pattern.is_string):
            raise invalid_where("Like condition on non-string pattern", self.windowed)

    def key_constraint(self, atoms: list[exp.Expression]) -> str:
        """``equal`` (key lookups), ``range`` (one bound on a STRING/BYTES key) or ``scan``; raises
        ksqlDB's errors for a NULL key or a value the key column cannot hold."""
        ops: dict[str, exp.Expression] = {}
        for atom in atoms:
            atom = _unparen(atom)
            if not isinstance(atom, _COMPARISONS):
                continue
            column, other = _column_side(atom)
            if column is None:
                continue
            col = self.src.schema.find(column.name)
            if col is None or column.name not in self.key_names:
                continue
            _check_key_value(other, col, atom)
            if column.name in ops and isinstance(ops[column.name], exp.EQ):
                continue  # an equality is the most selective bound
            if isinstance(atom, exp.EQ) or column.name not in ops:
                ops[column.name] = atom
        if not ops:
            return "scan"
        if all(isinstance(op, exp.EQ) for op in ops.values()):
            return "equal"
        if len(ops) == 1:
            ((name, op),) = ops.items()
            col = self.src.schema.find(name)
            if isinstance(op, _RANGES) and col is not None and col.type.base in _RANGE_KEY_TYPES:
                return "range"
        return "scan"


def _column_side(atom: exp.Expression) -> tuple[exp.Column | None, exp.Expression]:
    left, right = _unparen(atom.this), _unparen(atom.expression)
    if isinstance(right, exp.Column):
        return right, left
    if isinstance(left, exp.Column):
        return left, right
    return None, right


def _column_text(c: Column) -> str:
    return f"`{c.name}` {c.type} KEY"


_NOT_A_LITERAL = object()


def _literal_value(node: exp.Expression) -> Any:
    node = _unparen(node)
    if isinstance(node, exp.Neg):
        v = _literal_value(node.this)
        return -v if isinstance(v, (int, Decimal)) and not isinstance(v, bool) else _NOT_A_LITERAL
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if not isinstance(node, exp.Literal):
        return _NOT_A_LITERAL
    if node.is_string:
        return node.this
    try:
        return int(node.this)
    except ValueError:
        try:
            return Decimal(node.this)
        except ArithmeticError:
            return _NOT_A_LITERAL


def _check_key_value(other: exp.Expression, col: Column, atom: exp.Expression) -> None:
    if isinstance(_unparen(other), exp.Null):
        raise KsqlException(f"Primary key columns can not be NULL: {expr_sql(atom)}")
    value = _literal_value(other)
    if value is _NOT_A_LITERAL:
        return  # an expression: resolved (and coerced) when the query runs
    base = col.type.base
    numeric = isinstance(value, (int, Decimal)) and not isinstance(value, bool)
    fits = True
    if base is BaseType.STRING:
        fits = isinstance(value, str)
    elif base in (BaseType.INTEGER, BaseType.BIGINT):
        fits = isinstance(value, int) and not isinstance(value, bool)
        if fits and base is BaseType.INTEGER:
            fits = -(2**31) <= value < 2**31
    elif base in (BaseType.DOUBLE, BaseType.DECIMAL):
        fits = numeric
    elif base is BaseType.BOOLEAN:
        fits = isinstance(value, bool)
    if not fits:
        raise KsqlException(f"'{value}' can not be converted to the type of the key column: "
                            f"{col.name} {col.type} KEY")
