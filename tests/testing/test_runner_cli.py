"""``ksql-test-runner``: the ksqlDB-compatible single-test mode and the QTT suite report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ksql.testing.cli import main

STATEMENTS = """
CREATE STREAM PAGEVIEWS (ID INT KEY, PAGE STRING) WITH (KAFKA_TOPIC='pv', VALUE_FORMAT='JSON', PARTITIONS=1);
CREATE TABLE COUNTS AS SELECT PAGE, COUNT(*) AS N FROM PAGEVIEWS GROUP BY PAGE;
"""


def _write(tmp: Path, outputs: list[dict[str, object]]) -> list[str]:
    (tmp / "s.sql").write_text(STATEMENTS)
    (tmp / "in.json").write_text(json.dumps({"inputs": [
        {"topic": "pv", "key": 1, "value": {"PAGE": "home"}, "timestamp": 5},
        {"topic": "pv", "key": 2, "value": {"PAGE": "home"}, "timestamp": 7},
    ]}))
    (tmp / "out.json").write_text(json.dumps({"outputs": outputs}))
    return ["-s", str(tmp / "s.sql"), "-i", str(tmp / "in.json"), "-o", str(tmp / "out.json")]


def test_single_test_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _write(tmp_path, [
        {"topic": "COUNTS", "key": "home", "value": {"N": 1}, "timestamp": 5},
        {"topic": "COUNTS", "key": "home", "value": {"N": 2}, "timestamp": 7},
    ])
    assert main(args) == 0
    assert ">>> Test passed!" in capsys.readouterr().out


def test_single_test_reports_a_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _write(tmp_path, [
        {"topic": "COUNTS", "key": "home", "value": {"N": 1}},
        {"topic": "COUNTS", "key": "home", "value": {"N": 3}},
    ])
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "Test failed" in out and "record 1" in out


def test_suite_json_report(tmp_path: Path) -> None:
    qtt = tmp_path / "cases.json"
    qtt.write_text(json.dumps({"tests": [
        {"name": "passes", "statements": [
            "CREATE STREAM S (ID INT KEY, V INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='{FORMAT}');",
            "CREATE STREAM T AS SELECT ID, V + 1 AS W FROM S;"],
         "format": ["JSON"],
         "inputs": [{"topic": "s", "key": 1, "value": {"V": 1}}],
         "outputs": [{"topic": "T", "key": 1, "value": {"W": 2}}]},
        {"name": "expects an error", "statements": ["CREATE STREAM X AS SELECT * FROM NOPE;"],
         "expectedException": {"type": "io.confluent.ksql.util.KsqlStatementException",
                               "message": "NOPE does not exist"}},
        {"name": "fails", "statements": [
            "CREATE STREAM S (ID INT KEY, V INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');",
            "CREATE STREAM T AS SELECT ID, V FROM S;"],
         "inputs": [{"topic": "s", "key": 1, "value": {"V": 1}}],
         "outputs": [{"topic": "T", "key": 1, "value": {"V": 5}}]},
    ]}))
    report = tmp_path / "r.json"
    assert main(["--qtt", str(qtt), "--report", "json", "--report-file", str(report)]) == 1
    data = json.loads(report.read_text())
    by_name = {c["name"]: c for c in data["cases"]}
    assert by_name["passes"]["status"] == "pass" and by_name["passes"]["format"] == "JSON"
    assert by_name["expects an error"]["status"] == "pass"
    assert "NOPE does not exist" in by_name["expects an error"]["detail"]
    assert by_name["fails"]["status"] == "fail" and "value" in by_name["fails"]["detail"]
    assert data["totals"] == {"total": 3, "pass": 2, "fail": 1, "error": 0, "skip": 0}
