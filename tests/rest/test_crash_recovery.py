"""SIGKILL the server mid-stream on the embedded log; after a restart the table equals the truth.

Events are inserted while the aggregation runs; the server is killed at a random moment (possibly in
the middle of an insert request or a commit). After the restart the truth is recomputed from the
events that are in the input stream, and the aggregate must match it exactly: nothing lost, nothing
counted twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import orjson
import pytest
from testlib import free_port

PROPS = {"ksql.streams.auto.offset.reset": "earliest"}


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rest.server", "--data-dir", str(data_dir), "--listeners", f"http://127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/info", timeout=1)
            if r.status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not become ready")


def _ksql(port: int, sql: str) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/ksql", json={"ksql": sql, "streamsProperties": PROPS}, timeout=30)


def _query(port: int, sql: str) -> list[list[object]]:
    r = httpx.post(f"http://127.0.0.1:{port}/query", json={"ksql": sql, "streamsProperties": PROPS}, timeout=60)
    assert r.status_code == 200, r.text
    rows = []
    for line in r.text.splitlines():
        line = line.strip().lstrip("[").rstrip(",").rstrip("]")
        if not line:
            continue
        obj = orjson.loads(line)
        if "row" in obj:
            rows.append(obj["row"]["columns"])
    return rows


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_matches_ground_truth(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        r = _ksql(port,
                  "CREATE STREAM EVENTS (K INT KEY, V INT) WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON', PARTITIONS=1);"
                  "CREATE TABLE TOTALS AS SELECT K, COUNT(*) AS N, SUM(V) AS S FROM EVENTS GROUP BY K;")
        assert r.status_code == 200, r.text

        stop = threading.Event()

        def insert() -> None:
            i = 0
            while not stop.is_set():
                stmts = "".join(f"INSERT INTO EVENTS (K, V) VALUES ({(i + j) % 37}, {i + j});" for j in range(50))
                try:
                    _ksql(port, stmts)
                except httpx.HTTPError:
                    return
                i += 50

        writer = threading.Thread(target=insert, daemon=True)
        writer.start()
        time.sleep(random.uniform(1.0, 2.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        writer.join(timeout=10)

        proc = _start(tmp_path, port)
        events = _query(port, "SELECT K, V FROM EVENTS;")
        assert len(events) > 100, "the writer should have inserted events before the kill"
        truth: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for k, v in events:
            truth[k][0] += 1
            truth[k][1] += v

        deadline = time.monotonic() + 60
        table: dict[int, list[int]] = {}
        while time.monotonic() < deadline:
            table = {row[0]: [row[1], row[2]] for row in _query(port, "SELECT K, N, S FROM TOTALS;")}
            if table == dict(truth):
                break
            time.sleep(0.3)
        assert table == dict(truth)
    finally:
        proc.kill()
        proc.wait()
