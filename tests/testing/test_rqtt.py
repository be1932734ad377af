"""``ksql-test-runner --rqtt``: REST query-validation cases against a real server.

``tests/conformance/rqtt_passing.txt`` lists the public cases that pass (``file :: name [format]``);
refresh it with ``scripts/update-conformance --rqtt`` after making more cases pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ksql.testing.cli import main
from ksql.testing.qtt import case_id
from ksql.testing.rqtt import find_rqtt_dir, run_files

CONFORMANCE = Path(__file__).parent.parent / "conformance"
RQTT = find_rqtt_dir(Path(__file__).parent)

CREATE = "CREATE STREAM INPUT (ID STRING KEY, V INT) WITH (kafka_topic='test_topic', value_format='{FORMAT}');"
CTAS = "CREATE TABLE AGG AS SELECT ID, COUNT(1) AS C, SUM(V) AS S FROM INPUT GROUP BY ID;"
INPUTS = [
    {"topic": "test_topic", "timestamp": 10, "key": "a", "value": {"V": 1}},
    {"topic": "test_topic", "timestamp": 20, "key": "b", "value": {"V": 2}},
    {"topic": "test_topic", "timestamp": 30, "key": "a", "value": {"V": 3}},
]
ADMIN = {"admin": {"@type": "currentStatus"}}

GOOD_CASES: list[dict[str, Any]] = [
    {"name": "pull and push queries", "format": ["JSON"],
     "statements": [CREATE, CTAS,
                    "SELECT * FROM AGG WHERE ID='a';",
                    "SELECT * FROM AGG;",
                    "SELECT ID, V FROM INPUT EMIT CHANGES LIMIT 2;",
                    "SELECT * FROM INPUT;"],
     "inputs": INPUTS,
     "responses": [
         {"admin": {"@type": "currentStatus", "statementText": "{STATEMENT}",
                    "commandStatus": {"status": "SUCCESS", "message": "Stream created"}}},
         {"admin": {"@type": "currentStatus", "commandId|starts_with": "table/"}},
         {"query": [{"header": {"schema": "`ID` STRING KEY, `C` BIGINT, `S` INTEGER",
                                "queryId|starts_with": "query_"}},
                    {"row": {"columns": ["a", 2, 4]}}]},
         # rows of a pull query compare as a multiset
         {"query": [{"header": {"schema": "`ID` STRING KEY, `C` BIGINT, `S` INTEGER"}},
                    {"row": {"columns": ["b", 1, 2]}},
                    {"row": {"columns": ["a", 2, 4]}}]},
         {"query": [{"header": {"schema": "`ID` STRING, `V` INTEGER"}},
                    {"row": {"columns": ["a", 1]}},
                    {"row": {"columns": ["b", 2]}},
                    {"finalMessage": "Limit Reached"}]},
         {"query": [{"header": {"schema": "`ID` STRING, `V` INTEGER"}},
                    {"row": {"columns": ["a", 1]}},
                    {"row": {"columns": ["b", 2]}},
                    {"row": {"columns": ["a", 3]}},
                    {"finalMessage": "Query Completed"}]},
     ]},
    {"name": "insert values lands on the topic",
     "statements": [CREATE.replace("{FORMAT}", "JSON"),
                    "INSERT INTO INPUT (ROWTIME, ID, V) VALUES (1234, 'k', 7);"],
     "inputs": [],
     "outputs": [{"topic": "test_topic", "timestamp": 1234, "key": "k", "value": {"V": 7}}],
     "responses": [ADMIN]},
    {"name": "push query sees inputs produced once it runs",
     "statements": [CREATE.replace("{FORMAT}", "JSON"), "CREATE STREAM S2 AS SELECT * FROM INPUT;",
                    "SELECT V FROM S2 EMIT CHANGES LIMIT 1;"],
     "inputs": INPUTS[:1], "inputConditions": {"waitForActivePushQuery": True},
     "properties": {"auto.offset.reset": "latest"},
     "responses": [ADMIN, ADMIN, {"query": [{"header": {"queryId|starts_with": "SCALABLE_PUSH_QUERY"}},
                                             {"row": {"columns": [1]}}, {"finalMessage": "Limit Reached"}]}]},
    {"name": "expected pull query error",
     "statements": [CREATE.replace("{FORMAT}", "JSON"), CTAS, "SELECT * FROM AGG WHERE C = 1;"],
     "properties": {"ksql.query.pull.table.scan.enabled": False},
     "expectedError": {"type": "io.confluent.ksql.rest.entity.KsqlStatementErrorMessage",
                       "message": "WHERE clause missing key column for disjunct: (C = 1)", "status": 400}},
    {"name": "expected statement error",
     "statements": ["DROP STREAM NOPE;"],
     "expectedError": {"type": "io.confluent.ksql.rest.entity.KsqlStatementErrorMessage",
                       "message": "Stream NOPE does not exist", "status": 400}},
]


def _report(tmp_path: Path, cases: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"tests": cases}))
    out = tmp_path / "report.json"
    code = main(["--rqtt", str(path), "--report", "json", "--report-file", str(out)])
    return code, json.loads(out.read_text())


def test_known_good_cases_pass(tmp_path: Path) -> None:
    code, report = _report(tmp_path, GOOD_CASES)
    failed = [(c["name"], c["detail"]) for c in report["cases"] if c["status"] != "pass"]
    assert not failed, failed
    assert code == 0
    assert report["totals"] == {"total": 5, "pass": 5, "fail": 0, "error": 0, "skip": 0}
    assert report["cases"][0]["format"] == "JSON"


def test_failing_cases_are_reported_with_a_reason(tmp_path: Path) -> None:
    wrong_row = json.loads(json.dumps(GOOD_CASES[0]))
    wrong_row["name"] = "wrong row"
    wrong_row["responses"][2]["query"][1]["row"]["columns"] = ["a", 2, 5]
    no_error = {"name": "no error", "statements": [CREATE.replace("{FORMAT}", "JSON")],
                "expectedError": {"message": "boom"}}
    wrong_message = {"name": "wrong message", "statements": ["DROP STREAM NOPE;"],
                     "expectedError": {"message": "something else", "status": 400}}
    code, report = _report(tmp_path, [wrong_row, no_error, wrong_message])
    assert code == 1
    details = {c["name"]: (c["status"], c["detail"]) for c in report["cases"]}
    status, detail = details["wrong row"]
    assert status == "fail" and "responses[2]->query" in detail and "[\"a\", 2, 5]" in detail
    status, detail = details["no error"]
    assert status == "fail" and "Expected last statement to return an error" in detail
    status, detail = details["wrong message"]
    assert status == "fail" and "message does not contain 'something else'" in detail


def test_text_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"tests": GOOD_CASES[4:]}))
    assert main(["--rqtt", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PASS  cases.json :: expected statement error" in out
    assert out.rstrip().endswith("1 passed, 0 failed, 0 skipped")


def test_listed_public_cases_still_pass() -> None:
    if not RQTT.is_dir():
        pytest.fail(f"REST query-validation test files not found at {RQTT}")
    expected = {line for line in (CONFORMANCE / "rqtt_passing.txt").read_text().splitlines() if line.strip()}
    results = run_files([RQTT])
    passing = {case_id(r.file, r.name, r.format) for r in results if r.status == "pass"}
    regressed = sorted(expected - passing)
    details = {case_id(r.file, r.name, r.format): r.detail for r in results}
    assert not regressed, "REST cases that stopped passing:\n" + "\n".join(
        f"{c}\n    {details.get(c, '')[:300]}" for c in regressed[:50])
    assert len(expected) * 2 >= len(results), "at least half of the public REST cases must pass"
