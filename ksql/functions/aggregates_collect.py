"""Built-in aggregates whose result is a collection or a picked value: COUNT_DISTINCT, COLLECT_LIST,
COLLECT_SET, HISTOGRAM, TOPK, TOPKDISTINCT, EARLIEST_BY_OFFSET, LATEST_BY_OFFSET and ATTR.

Registered on import (``ksql.functions.aggregates`` imports this module).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from ksql.errors import KsqlException
from ksql.functions.aggregate_base import (
    CATEGORY,
    COMPARABLE_TYPES,
    BaseUdaf,
    freeze,
    int_property,
    literal_bool,
    literal_int,
    sort_key,
    stable_hash64,
)
from ksql.functions.registry import (
    AggregateFunction,
    AggregateOverload,
    AnyType,
    ArrayOf,
    T,
    register_aggregate,
)
from ksql.sqltypes import BIGINT, BOOLEAN, INT32_MAX, INTEGER, STRING, SqlType, array, map_of, struct

# --------------------------------------------------------------------------------------------
# COUNT_DISTINCT: exact for small groups, HyperLogLog beyond
# --------------------------------------------------------------------------------------------

_HLL_P = 12
_HLL_M = 1 << _HLL_P
_HLL_REST = 64 - _HLL_P
# Past this many distinct hashes the exact set is folded into HyperLogLog registers (4 KiB).
_EXACT_LIMIT = 1024


def _hll_fold(registers: bytearray, h: int) -> None:
    idx = h >> _HLL_REST
    rest = h & ((1 << _HLL_REST) - 1)
    rank = _HLL_REST - rest.bit_length() + 1
    if rank > registers[idx]:
        registers[idx] = rank


def _hll_estimate(registers: bytearray) -> int:
    alpha = 0.7213 / (1 + 1.079 / _HLL_M)
    total = math.fsum(2.0 ** -r for r in registers)
    estimate = alpha * _HLL_M * _HLL_M / total
    zeros = registers.count(0)
    if estimate <= 2.5 * _HLL_M and zeros:
        estimate = _HLL_M * math.log(_HLL_M / zeros)
    return int(round(estimate))


class CountDistinctUdaf(BaseUdaf):
    """Approximate distinct count (ksqlDB documents ~2% error), exact up to 1024 distinct values.

    State: a ``set`` of 64-bit value hashes, or a ``bytearray`` of HyperLogLog registers.
    """

    supports_undo = False
    intermediate_type = array(INTEGER)

    def initial(self) -> set[int] | bytearray:
        return set()

    @staticmethod
    def _dense(hashes: set[int]) -> bytearray:
        registers = bytearray(_HLL_M)
        for h in hashes:
            _hll_fold(registers, h)
        return registers

    def add(self, state: set[int] | bytearray, value: Any) -> set[int] | bytearray:
        if value is None:
            return state
        h = stable_hash64(value)
        if isinstance(state, bytearray):
            _hll_fold(state, h)
            return state
        state.add(h)
        return self._dense(state) if len(state) > _EXACT_LIMIT else state

    def merge(self, left: set[int] | bytearray, right: set[int] | bytearray) -> set[int] | bytearray:
        if isinstance(left, set) and isinstance(right, set):
            both = left | right
            return self._dense(both) if len(both) > _EXACT_LIMIT else both
        a = left if isinstance(left, bytearray) else self._dense(left)
        b = right if isinstance(right, bytearray) else self._dense(right)
        return bytearray(max(x, y) for x, y in zip(a, b, strict=True))

    def result(self, state: set[int] | bytearray) -> int:
        return len(state) if isinstance(state, set) else _hll_estimate(state)


register_aggregate(AggregateFunction(
    "COUNT_DISTINCT", CATEGORY, "Returns the approximate number of distinct non-null values.",
    [AggregateOverload([T("T")], BIGINT, lambda ts, init: CountDistinctUdaf())],
))

# --------------------------------------------------------------------------------------------
# COLLECT_LIST, COLLECT_SET
# --------------------------------------------------------------------------------------------

COLLECT_LIST_LIMIT = "ksql.functions.collect_list.limit"
COLLECT_SET_LIMIT = "ksql.functions.collect_set.limit"


class CollectListUdaf(BaseUdaf):
    """Every value, nulls included, in arrival order, up to ``ksql.functions.collect_list.limit``."""

    def __init__(self, t: SqlType) -> None:
        self.intermediate_type = array(t)
        self.limit = INT32_MAX

    def configure(self, props: Mapping[str, Any]) -> None:
        limit = int_property(props, COLLECT_LIST_LIMIT)
        if limit is not None:
            self.limit = limit

    def initial(self) -> list[Any]:
        return []

    def add(self, state: list[Any], value: Any) -> list[Any]:
        if len(state) < self.limit:
            state.append(value)
        return state

    def undo(self, state: list[Any], value: Any) -> list[Any]:
        # Any equal element will do: they are indistinguishable in the result.
        key = freeze(value)
        for i in range(len(state) - 1, -1, -1):
            if freeze(state[i]) == key:
                del state[i]
                break
        return state

    def merge(self, left: list[Any], right: list[Any]) -> list[Any]:
        return (left + right)[: self.limit]

    def result(self, state: list[Any]) -> list[Any]:
        return list(state)


class CollectSetUdaf(BaseUdaf):
    """Distinct values, nulls included, in first-seen order. Stream-only.

    State: ``{freeze(value): value}`` (insertion-ordered), so membership tests are O(1).
    """

    supports_undo = False

    def __init__(self, t: SqlType) -> None:
        self.intermediate_type = array(t)
        self.limit = INT32_MAX

    def configure(self, props: Mapping[str, Any]) -> None:
        limit = int_property(props, COLLECT_SET_LIMIT)
        if limit is not None:
            self.limit = limit

    def initial(self) -> dict[Any, Any]:
        return {}

    def add(self, state: dict[Any, Any], value: Any) -> dict[Any, Any]:
        if len(state) < self.limit:
            state.setdefault(freeze(value), value)
        return state

    def merge(self, left: dict[Any, Any], right: dict[Any, Any]) -> dict[Any, Any]:
        out = dict(left)
        for k, v in right.items():
            if len(out) >= self.limit:
                break
            out.setdefault(k, v)
        return out

    def result(self, state: dict[Any, Any]) -> list[Any]:
        return list(state.values())


register_aggregate(AggregateFunction(
    "COLLECT_LIST", CATEGORY, "Returns an array of all the values of the column.",
    [AggregateOverload([T("T")], ArrayOf(T("T")), lambda ts, init: CollectListUdaf(ts[0]))],
))
register_aggregate(AggregateFunction(
    "COLLECT_SET", CATEGORY, "Returns an array of the distinct values of the column.",
    [AggregateOverload([T("T")], ArrayOf(T("T")), lambda ts, init: CollectSetUdaf(ts[0]))],
))

# --------------------------------------------------------------------------------------------
# HISTOGRAM
# --------------------------------------------------------------------------------------------

HISTOGRAM_LIMIT = 1000


class HistogramUdaf(BaseUdaf):
    """Occurrences of each distinct non-null string, for at most 1000 distinct strings."""

    intermediate_type = map_of(STRING, BIGINT)

    def initial(self) -> dict[str, int]:
        return {}

    def add(self, state: dict[str, int], value: Any) -> dict[str, int]:
        if value is None:
            return state
        if value in state:
            state[value] += 1
        elif len(state) < HISTOGRAM_LIMIT:
            state[value] = 1
        return state

    def undo(self, state: dict[str, int], value: Any) -> dict[str, int]:
        n = state.get(value) if value is not None else None
        if n is not None:
            if n <= 1:
                del state[value]
            else:
                state[value] = n - 1
        return state

    def merge(self, left: dict[str, int], right: dict[str, int]) -> dict[str, int]:
        out = dict(left)
        for k, n in right.items():
            if k in out:
                out[k] += n
            elif len(out) < HISTOGRAM_LIMIT:
                out[k] = n
        return out

    def result(self, state: dict[str, int]) -> dict[str, int]:
        return dict(state)


register_aggregate(AggregateFunction(
    "HISTOGRAM", CATEGORY, "Returns a map from each distinct string to the number of times it occurs.",
    [AggregateOverload([STRING], map_of(STRING, BIGINT), lambda ts, init: HistogramUdaf())],
))

# --------------------------------------------------------------------------------------------
# TOPK, TOPKDISTINCT
# --------------------------------------------------------------------------------------------


def _positive_k(init: list[Any], fn: str) -> int:
    k = literal_int(init[0], fn, "k")
    if k < 1:
        raise KsqlException(f"{fn}: k must be a positive integer, got {k}")
    return k


def _topk_struct(arg_types: list[SqlType]) -> SqlType:
    return struct([("sort_col", arg_types[0])] + [(f"col{i}", t) for i, t in enumerate(arg_types[1:])])


def _topk_returns(arg_types: list[SqlType]) -> SqlType:
    return array(arg_types[0] if len(arg_types) == 1 else _topk_struct(arg_types))


class TopKUdaf(BaseUdaf):
    """The k largest non-null sort values, largest first; a later equal value ranks after earlier ones.

    With extra columns (``TOPK(sort, c0, c1, ..., k)``) each entry is a STRUCT ``sort_col, col0, ...``.
    State: a list of ``[sort_value, *other_values]`` entries, best first.
    """

    supports_undo = False

    def __init__(self, arg_types: list[SqlType], k: int) -> None:
        self.k = k
        self.key: Callable[[Any], Any] = sort_key(arg_types[0]) or (lambda v: v)
        self.field_names = (
            None if len(arg_types) == 1 else ["sort_col"] + [f"col{i}" for i in range(len(arg_types) - 1)]
        )
        self.intermediate_type = _topk_returns(arg_types)

    def initial(self) -> list[list[Any]]:
        return []

    def _insert(self, state: list[list[Any]], entry: list[Any]) -> None:
        key = self.key(entry[0])
        i = len(state)
        while i > 0 and self.key(state[i - 1][0]) < key:
            i -= 1
        if i < self.k:
            state.insert(i, entry)
            del state[self.k:]

    def add(self, state: list[list[Any]], value: Any, *others: Any) -> list[list[Any]]:
        if value is not None:
            self._insert(state, [value, *others])
        return state

    def merge(self, left: list[list[Any]], right: list[list[Any]]) -> list[list[Any]]:
        out = [list(e) for e in left]
        for e in right:
            self._insert(out, list(e))
        return out

    def result(self, state: list[list[Any]]) -> list[Any]:
        names = self.field_names
        if names is None:
            return [e[0] for e in state]
        return [dict(zip(names, e, strict=True)) for e in state]


class TopKDistinctUdaf(BaseUdaf):
    """The k largest distinct non-null values, largest first."""

    supports_undo = False

    def __init__(self, t: SqlType, k: int) -> None:
        self.k = k
        self.key: Callable[[Any], Any] = sort_key(t) or (lambda v: v)
        self.intermediate_type = array(t)

    def initial(self) -> list[Any]:
        return []

    def add(self, state: list[Any], value: Any) -> list[Any]:
        if value is None:
            return state
        key = self.key(value)
        i = len(state)
        while i > 0 and self.key(state[i - 1]) < key:
            i -= 1
        if i > 0 and self.key(state[i - 1]) == key:
            return state
        if i < self.k:
            state.insert(i, value)
            del state[self.k:]
        return state

    def merge(self, left: list[Any], right: list[Any]) -> list[Any]:
        out = list(left)
        for v in right:
            self.add(out, v)
        return out

    def result(self, state: list[Any]) -> list[Any]:
        return list(state)


register_aggregate(AggregateFunction(
    "TOPK", CATEGORY, "Returns the k largest values of the column, optionally with other columns.",
    [
        AggregateOverload([t, AnyType()], _topk_returns,
                          lambda ts, init: TopKUdaf(ts, _positive_k(init, "TOPK")),
                          init_params=[INTEGER], variadic=True)
        for t in COMPARABLE_TYPES
    ],
))
register_aggregate(AggregateFunction(
    "TOPKDISTINCT", CATEGORY, "Returns the k largest distinct values of the column.",
    [
        AggregateOverload([t], lambda ts: array(ts[0]),
                          lambda ts, init: TopKDistinctUdaf(ts[0], _positive_k(init, "TOPKDISTINCT")),
                          init_params=[INTEGER])
        for t in COMPARABLE_TYPES
    ],
))

# --------------------------------------------------------------------------------------------
# EARLIEST_BY_OFFSET, LATEST_BY_OFFSET
# --------------------------------------------------------------------------------------------

# Arrival order across all groups. Seeded from the clock so that values aggregated after a restart
# still sort after restored ones when session windows merge.
_SEQUENCE = itertools.count(time.time_ns())


class ByOffsetUdaf(BaseUdaf):
    """The earliest or latest value (or n values) by arrival; nulls skipped when ``ignore_nulls``.

    State, single form: ``None`` (nothing yet) or ``(seq, value)``.
    State, n form: a list of ``(seq, value)`` in arrival order.
    Stream-only: a retraction cannot restore a value that was overwritten.
    """

    supports_undo = False

    def __init__(self, t: SqlType, latest: bool, n: int | None, ignore_nulls: bool) -> None:
        self.latest = latest
        self.n = n
        self.ignore_nulls = ignore_nulls
        entry = struct([("SEQ", BIGINT), ("VAL", t)])
        self.intermediate_type = entry if n is None else array(entry)

    def initial(self) -> Any:
        return None if self.n is None else []

    def add(self, state: Any, value: Any) -> Any:
        if value is None and self.ignore_nulls:
            return state
        if self.n is None:
            if state is None or self.latest:
                return (next(_SEQUENCE), value)
            return state
        if self.latest:
            state.append((next(_SEQUENCE), value))
            if len(state) > self.n:
                del state[: len(state) - self.n]
        elif len(state) < self.n:
            state.append((next(_SEQUENCE), value))
        return state

    def merge(self, left: Any, right: Any) -> Any:
        if self.n is None:
            if left is None or right is None:
                return right if left is None else left
            pick_right = right[0] > left[0] if self.latest else right[0] < left[0]
            return right if pick_right else left
        both = sorted([*left, *right], key=lambda e: e[0])
        return both[-self.n:] if self.latest else both[: self.n]

    def result(self, state: Any) -> Any:
        if self.n is None:
            return None if state is None else state[1]
        return [v for _, v in state]


def _by_offset_factory(latest: bool, with_n: bool, with_flag: bool) -> Any:
    fn = "LATEST_BY_OFFSET" if latest else "EARLIEST_BY_OFFSET"

    def factory(arg_types: list[SqlType], init: list[Any]) -> ByOffsetUdaf:
        n = literal_int(init[0], fn, "the number of values") if with_n else None
        if n is not None and n < 1:
            raise KsqlException(f"{fn}: the number of values must be a positive integer, got {n}")
        ignore = literal_bool(init[-1], fn, "ignoreNulls") if with_flag else True
        return ByOffsetUdaf(arg_types[0], latest, n, ignore)

    return factory


for _latest in (False, True):
    _word = "latest" if _latest else "earliest"
    register_aggregate(AggregateFunction(
        "LATEST_BY_OFFSET" if _latest else "EARLIEST_BY_OFFSET", CATEGORY,
        f"Returns the {_word} value (or n values) of the column by offset.",
        [
            AggregateOverload([T("T")], T("T"), _by_offset_factory(_latest, False, False)),
            AggregateOverload([T("T")], T("T"), _by_offset_factory(_latest, False, True),
                              init_params=[BOOLEAN]),
            AggregateOverload([T("T")], ArrayOf(T("T")), _by_offset_factory(_latest, True, False),
                              init_params=[INTEGER]),
            AggregateOverload([T("T")], ArrayOf(T("T")), _by_offset_factory(_latest, True, True),
                              init_params=[INTEGER, BOOLEAN]),
        ],
    ))

# --------------------------------------------------------------------------------------------
# ATTR
# --------------------------------------------------------------------------------------------


class AttrUdaf(BaseUdaf):
    """The value when every row has the same one (null counts as a value), else null.

    State: ``{freeze(value): [value, occurrences]}``, so retractions work over tables.
    """

    def __init__(self, t: SqlType) -> None:
        self.intermediate_type = array(struct([("VALUE", t), ("COUNT", INTEGER)]))

    def initial(self) -> dict[Any, list[Any]]:
        return {}

    def add(self, state: dict[Any, list[Any]], value: Any) -> dict[Any, list[Any]]:
        entry = state.get(freeze(value))
        if entry is None:
            state[freeze(value)] = [value, 1]
        else:
            entry[1] += 1
        return state

    def undo(self, state: dict[Any, list[Any]], value: Any) -> dict[Any, list[Any]]:
        key = freeze(value)
        entry = state.get(key)
        if entry is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                del state[key]
        return state

    def merge(self, left: dict[Any, list[Any]], right: dict[Any, list[Any]]) -> dict[Any, list[Any]]:
        out = {k: list(e) for k, e in left.items()}
        for k, (v, n) in right.items():
            if k in out:
                out[k][1] += n
            else:
                out[k] = [v, n]
        return out

    def result(self, state: dict[Any, list[Any]]) -> Any:
        if len(state) != 1:
            return None
        (value, _), = state.values()
        return value


register_aggregate(AggregateFunction(
    "ATTR", CATEGORY, "Returns the column's value if it is the same in every row, else null.",
    [AggregateOverload([T("T")], T("T"), lambda ts, init: AttrUdaf(ts[0]))],
))

__all__ = [
    "COLLECT_LIST_LIMIT",
    "COLLECT_SET_LIMIT",
    "HISTOGRAM_LIMIT",
    "AttrUdaf",
    "ByOffsetUdaf",
    "CollectListUdaf",
    "CollectSetUdaf",
    "CountDistinctUdaf",
    "HistogramUdaf",
    "TopKDistinctUdaf",
    "TopKUdaf",
]
