"""Built-in table functions (UDTFs): EXPLODE and CUBE_EXPLODE. Registered on import.

Each implementation returns the list of values to emit, one output row per value; a null or empty
input array yields no rows.
"""

from __future__ import annotations

from typing import Any

from ksql.functions.aggregate_base import ANY_DECIMAL, freeze
from ksql.functions.registry import ArrayOf, Overload, T, TableFunction, register_table
from ksql.sqltypes import SqlType

CATEGORY = "TABLE"


def explode(values: list[Any] | None) -> list[Any]:
    return [] if values is None else list(values)


def _element_type(arg_types: list[SqlType]) -> SqlType:
    element = arg_types[0].element
    assert element is not None
    return element


def cube_explode(values: list[Any] | None) -> list[list[Any]]:
    """Every combination of keeping or nulling each element, the all-null one first.

    The first element toggles slowest. Null input elements make some combinations identical;
    each distinct combination is emitted once.
    """
    if values is None:
        return []
    n = len(values)
    out: list[list[Any]] = []
    seen: set[Any] = set()
    for mask in range(1 << n):
        combo = [values[i] if mask & (1 << (n - 1 - i)) else None for i in range(n)]
        key = freeze(combo)
        if key not in seen:
            seen.add(key)
            out.append(combo)
    return out


register_table(TableFunction("EXPLODE", CATEGORY, "Outputs one row for each element of an array.", [
    # DECIMAL first so that its precision and scale carry over to the output column.
    Overload([ArrayOf(ANY_DECIMAL)], _element_type, explode, description="explode(ARRAY<DECIMAL> input)"),
    Overload([ArrayOf(T("T"))], T("T"), explode, description="explode(ARRAY<T> list)"),
]))

register_table(TableFunction(
    "CUBE_EXPLODE", CATEGORY,
    "Outputs one row per combination of the array's elements, each either kept or replaced by null.",
    [Overload([ArrayOf(T("T"))], ArrayOf(T("T")), cube_explode, description="cube_explode(ARRAY<T> cols)")],
))

__all__ = ["cube_explode", "explode"]
