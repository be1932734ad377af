"""Function resolution as ksqlDB's UdfIndex does it: exact fits first, then implicit casts; ties
between equally good signatures are ambiguous."""

from __future__ import annotations

import pytest

import ksql.functions  # noqa: F401  (registers the built-in functions)
from ksql.functions import registry as reg
from ksql.sqltypes import BIGINT, DATE, INTEGER, NULL, STRING, decimal


def _least() -> reg.ScalarFunction:
    return reg.SCALAR_FUNCTIONS["LEAST"]


def test_exact_fit_wins_over_casts() -> None:
    ov, _, _, _ = reg.choose_overload(_least().overloads, [INTEGER, INTEGER, NULL])  # type: ignore[misc]
    assert ov.params[0] == INTEGER


@pytest.mark.parametrize("args", [[INTEGER, BIGINT], [INTEGER, BIGINT, decimal(10, 2)], [NULL, NULL]])
def test_several_fits_with_casts_are_ambiguous(args: list) -> None:
    with pytest.raises(reg.AmbiguousCall):
        reg.choose_overload(_least().overloads, args)


def test_string_argument_fits_a_temporal_parameter() -> None:
    ov, _, ptypes, _ = reg.choose_overload(_least().overloads, [DATE, NULL, STRING])  # type: ignore[misc]
    assert ov.params[0] == DATE and ptypes[2] == DATE


def test_no_fit() -> None:
    assert reg.choose_overload(_least().overloads, [STRING, INTEGER]) is None
    assert reg.choose_overload(_least().overloads, []) is None


def test_messages_use_declared_names() -> None:
    assert _least().shown_name() == "least"
    assert reg.SCALAR_FUNCTIONS["COALESCE"].shown_name() == "COALESCE"
    assert reg.describe_args([INTEGER, NULL]) == "INTEGER, null"
