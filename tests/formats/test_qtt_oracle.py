"""Replay the serialization-only cases of ksqlDB's QTT files (see ``formats_qtt``)."""

from __future__ import annotations

import pytest
from formats_qtt import (
    FORMAT_ERRORS,
    QTT,
    Case,
    Unsupported,
    load_cases,
    plan,
    run_error_case,
    run_passthrough,
    same,
)

pytestmark = pytest.mark.skipif(not QTT.exists(), reason="QTT files not available")


def _classify() -> tuple[list[Case], list[Case]]:
    if not QTT.exists():
        return [], []
    passthrough, errors = [], []
    for case in load_cases():
        try:
            source, sinks = plan(case)
        except Unsupported:
            continue
        if case.error is not None:
            if any(w in case.error for w in FORMAT_ERRORS):
                errors.append(case)
        elif sinks and source.declared and case.outputs:
            passthrough.append(case)
    return passthrough, errors


PASSTHROUGH, ERRORS = _classify()


def test_enough_cases_replayed() -> None:
    assert len(PASSTHROUGH) >= 60
    assert len(ERRORS) >= 25


@pytest.mark.parametrize("case", PASSTHROUGH, ids=lambda c: c.id)
def test_passthrough(case: Case) -> None:
    try:
        topic, actual = run_passthrough(case)
    except Unsupported as e:
        pytest.skip(str(e))
    expected = [r for r in case.outputs if r["topic"] == topic]
    assert len(actual) == len(expected), (
        f"Expected {len(expected)} records but it was {len(actual)}: {actual}"
    )
    for exp, act in zip(expected, actual, strict=True):
        assert same(exp.get("key"), act["key"]), (exp, act)
        assert same(exp["value"], act["value"]), (exp, act)


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: c.id)
def test_validation_error(case: Case) -> None:
    try:
        message = run_error_case(case)
    except Unsupported as e:
        pytest.skip(str(e))
    assert message is not None, f"expected an error containing {case.error!r}"
    assert case.error in message
