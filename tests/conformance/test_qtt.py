"""ksqlDB's public query-validation cases that pass must keep passing.

``passing.txt`` lists them (``file :: name [format]``); refresh it with ``scripts/update-conformance``
after making more cases pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ksql.testing.qtt import case_id, find_qtt_dir, run_files

HERE = Path(__file__).parent
QTT = find_qtt_dir(HERE)


def test_listed_cases_still_pass() -> None:
    if not QTT.is_dir():
        pytest.fail(f"query-validation test files not found at {QTT}")
    expected = {line for line in (HERE / "passing.txt").read_text().splitlines() if line.strip()}
    results = run_files([QTT])
    passing = {case_id(r.file, r.name, r.format) for r in results if r.status == "pass"}
    regressed = sorted(expected - passing)
    details = {case_id(r.file, r.name, r.format): r.detail for r in results}
    assert not regressed, "cases that stopped passing:\n" + "\n".join(
        f"{c}\n    {details.get(c, '')[:300]}" for c in regressed[:50]
    )
    assert len(expected) >= 660, "the public suite must keep at least half of its eligible cases passing"
