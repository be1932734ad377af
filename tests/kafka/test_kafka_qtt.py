"""A cross-section of the passing QTT cases, run on Kafka instead of the embedded log.

Each case gets its own topic/group prefix on the shared broker. Cases whose inputs tie on timestamp
across topics are left out: on Kafka, records of several partitions are processed in timestamp order
and a tie has no defined order (the embedded log uses the write order).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kafka_testlib import KEEP_FOREVER

from ksql.testing.qtt import case_id, find_qtt_dir, load_cases, run_case
from ksql.topics.kafka import KafkaBackend

QTT = find_qtt_dir(Path(__file__).parent)

CASES = [
    "project-filter.json :: Filter on BETWEEN",
    "project-filter.json :: CSAS with custom Kafka topic name",
    "group-by.json :: JSON group by struct",
    "group-by.json :: ROWTIME (stream->table)",
    "joins.json :: matching columns in both sides = select *",
    "joins.json :: aliased synthetic join key",
    "multi-joins.json :: stream-table-table - inner-inner - rekey",
    "fk-join.json :: Should support left join with left value-column expression",
    "fk-join.json :: Should allow partition count mismatch",
    "hopping-windows.json :: count",
    "hopping-windows.json :: out of order - no grace period",
    "window-bounds.json :: table session",
    "suppress.json :: should include out of order events before window end plus grace period passes",
    "suppress.json :: should emit at window end if no grace period given",
    "partition-by.json :: nulls",
    "partition-by.json :: int column",
    "insert-into.json :: join",
    "insert-into.json :: with custom topic name",
    "headers.json :: Can create and query table with HEADERS column",
    "row-offset-and-partition.json :: join on ROWOFFSET",
    "collect-list.json :: collect_list with arrays, structs, and maps [JSON]",
    "latest-offset-udaf.json :: latest by offset with decimals",
    "table-functions.json :: multiple table functions",
    "key-schemas.json :: table explicit KAFKA INT KEY",
    "delimited.json :: multi-column key with different kv delimiters",
    "topk-group-by.json :: topk long struct [JSON]",
    "timestamp-extractor.json :: source string timestamp column",
    "multi-col-keys.json :: group by one col",
    "null.json :: stream GROUP BY IS NULL with null value",
    "cast.json :: array<bigint> to array<string>",
    "source-stream.json :: create source stream",
]
# these also run with exactly-once commits (one transaction per processed batch)
EOS_CASES = {
    "group-by.json :: JSON group by struct",
    "joins.json :: aliased synthetic join key",
    "hopping-windows.json :: count",
    "insert-into.json :: join",
    "fk-join.json :: Should allow partition count mismatch",
}


def _find(cid: str) -> tuple[dict[str, object], str | None]:
    file = cid.split(" :: ")[0]
    for case, fmt in load_cases(QTT / file):
        if case_id(file, case["name"], fmt) == cid:
            return case, fmt
    raise LookupError(cid)


PARAMS = [pytest.param(c, "at_least_once", id=c) for c in CASES] + [
    pytest.param(c, "exactly_once_v2", id=f"{c} [eos]") for c in CASES if c in EOS_CASES
]


@pytest.mark.parametrize(("cid", "guarantee"), PARAMS)
def test_qtt_case_on_kafka(kafka_bootstrap: str, cid: str, guarantee: str) -> None:
    if not QTT.is_dir():
        pytest.skip(f"query-validation test files not found at {QTT}")
    case, fmt = _find(cid)
    prefix = f"q{uuid.uuid4().hex[:10]}-"

    def backend() -> KafkaBackend:
        return KafkaBackend(kafka_bootstrap, processing_guarantee=guarantee, topic_prefix=prefix, retry_timeout_s=20,
                            topic_config=KEEP_FOREVER)

    status, detail = run_case(case, fmt, timeout_s=60, backend_factory=backend)
    assert status == "pass", detail
