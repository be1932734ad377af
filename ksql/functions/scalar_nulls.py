"""Conditional NULL handling: COALESCE, IFNULL, NULLIF.

All arguments share one type ``T`` (implicit widening applies); complex values are compared or
returned whole, never inspected.
"""

from __future__ import annotations

from typing import Any

from ksql.functions.registry import Overload, ScalarFunction, T, register_scalar

CATEGORY = "CONDITIONAL"


def coalesce(*args: Any) -> Any:
    return next((a for a in args if a is not None), None)


def ifnull(value: Any, alternative: Any) -> Any:
    return alternative if value is None else value


def nullif(value: Any, other: Any) -> Any:
    return None if value is not None and value == other else value


def _register() -> None:
    t = T("T")
    register_scalar(ScalarFunction("COALESCE", CATEGORY, "Returns the first non-NULL argument.", [
        Overload([t, t], t, coalesce, variadic=True),
    ], display_name="COALESCE"))
    register_scalar(ScalarFunction("IFNULL", CATEGORY, "Returns the second argument if the first is NULL.", [
        Overload([t, t], t, ifnull),
    ], display_name="IFNULL"))
    register_scalar(ScalarFunction("NULLIF", CATEGORY, "Returns NULL if both arguments are equal, else the first.", [
        Overload([t, t], t, nullif),
    ], display_name="NULLIF"))


_register()
