"""``tests/perf/run``: prepare the input once, run every contender one after the other on it, print
a table (and optionally JSON) of medians over several runs, with the machine's core count.

    tests/perf/run [--quick] [--json FILE] [--only NAMES] [--runs N]

``--only`` takes comma-separated workload names (w1 w2 w3 w4 freshness pull fanout restore) and/or
contender names (ours-embedded ours-kafka aiokafka kstreams quix); a row runs when it matches a
given workload (or none was given) and a given contender (or none was given).

Nothing here is a threshold: rows that cannot run say why (no broker, no Kafka backend, no Java).
A Kafka broker comes from ``$KSQL_BENCH_BOOTSTRAP`` or is started with ``compose/local/up`` in a
private state directory and stopped at the end. Kafka Streams is built once with ``mvn -q package``
(and again only when its sources change).

Throughput (W1-W4): every contender runs in its own process and is timed until the consumer group
of its query has committed the end of its input. Ours is timed from the CREATE ... AS SELECT; Kafka
Streams and Quix Streams from their first record (JVM start and group join left out); the aiokafka
ceiling from its first fetched batch to its last record. All commit at least every second, with
changelogged state. Restore: a new engine on fresh local state rebuilds W1's store from its
changelog (the time includes replaying the command topic).

Serving (freshness, pull, fan-out): a ``ksql-server`` process with the record cache off, and a
load process (perf_serving.py). On the embedded log rows go in through the server: freshness uses
``/inserts-stream`` (the server then runs with ``--http2``), fan-out INSERT VALUES. The load process
shares the machine with the server: with 10,000 push clients it is part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from perf_common import (
    REPO,
    RESULT_PREFIX,
    base_ts,
    committed_offsets,
    create_kafka_topic,
    delete_kafka_topics,
    events,
    load_embedded,
    load_kafka,
    median,
    players,
)
from perf_serving import KsqlServer, ServerUnavailable

from ksql.topics.embedded import EmbeddedLog

HERE = Path(__file__).resolve().parent
KSTREAMS = HERE / "kstreams"
KSTREAMS_JAR = KSTREAMS / "target" / "kstreams-bench-1.0.jar"

WORKLOADS = ["w1", "w2", "w3", "w4", "freshness", "pull", "fanout", "restore"]
CONTENDERS = ["ours-embedded", "ours-kafka", "aiokafka", "kstreams", "quix"]


@dataclass
class Settings:
    quick: bool
    runs: int
    events: int
    keys: int
    pull_keys: int
    fresh_rates: list[int]
    fresh_seconds: float
    pull_seconds: float
    pull_rate: int
    pull_connections: int
    fanout_clients: list[int]
    fanout_rate: int
    fanout_seconds: float
    timeout_s: float

    @classmethod
    def make(cls, quick: bool, runs: int | None) -> Settings:
        if quick:  # small enough for CI: about a minute and a half with a broker
            return cls(quick=True, runs=runs or 1, events=20_000, keys=1_000, pull_keys=5_000,
                       fresh_rates=[1_000, 10_000], fresh_seconds=3, pull_seconds=3, pull_rate=200,
                       pull_connections=16, fanout_clients=[100, 1_000], fanout_rate=5, fanout_seconds=3,
                       timeout_s=120)
        return cls(quick=False, runs=runs or 3, events=1_000_000, keys=10_000, pull_keys=100_000,
                   fresh_rates=[1_000, 10_000], fresh_seconds=15, pull_seconds=10, pull_rate=500,
                   pull_connections=16, fanout_clients=[100, 1_000, 10_000], fanout_rate=5, fanout_seconds=10,
                   timeout_s=1800)


@dataclass
class Metric:
    key: str
    label: str
    fmt: str  # format spec of the value

    def show(self, v: float) -> str:
        return "n/a" if v != v else format(v, self.fmt)  # NaN: nothing measured


@dataclass
class Row:
    workload: str
    title: str
    contender: str
    label: str
    metrics: list[Metric]
    run: Callable[[int], dict[str, Any]] | None
    skip: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0  # wall time of all its runs

    def medians(self) -> dict[str, float]:
        return {m.key: median([r[m.key] for r in self.results if m.key in r]) for m in self.metrics}

    def cell(self) -> str:
        if self.skip:
            return self.skip[:120]
        if self.error:
            return f"error: {self.error[:120]}"
        med = self.medians()
        text = ", ".join(f"{m.label} {m.show(med[m.key])}" for m in self.metrics)
        errors = sum(r.get("errors", 0) for r in self.results)
        producers = {r["producer"] for r in self.results if r.get("producer", "kafka") != "kafka"}
        return text + (f" ({errors:,} failed requests)" if errors else "") + \
            "".join(f" (rows via {p})" for p in sorted(producers))

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"workload": self.workload, "title": self.title, "contender": self.contender,
                               "label": self.label, "seconds": round(self.seconds, 1)}
        if self.skip:
            out["skipped"] = self.skip
        elif self.error:
            out["error"] = self.error
        else:
            out["median"] = self.medians()
            out["runs"] = self.results
        return out


EVENTS_PER_S = [Metric("events_per_s", "events/s", ",.0f")]


class Harness:
    def __init__(self, settings: Settings, only: set[str]) -> None:
        self.s = settings
        self.only_workloads = only & set(WORKLOADS)
        self.only_contenders = only & set(CONTENDERS)
        self.work = Path(tempfile.mkdtemp(prefix="ksql-perf-"))
        self.tag = uuid.uuid4().hex[:8]
        self.bootstrap: str | None = None
        self.broker_dir: Path | None = None
        self.broker_note = "no broker needed"
        self.prepared = False
        self.kafka_backend_note: str | None = None
        self.kstreams_note: str | None = None
        self.quix_note: str | None = None
        self.server_notes: dict[str, str] = {}  # backend -> why ksql-server cannot run on it
        self.topics = {"events": f"perf-events-{self.tag}", "players": f"perf-players-{self.tag}"}
        self.embedded_log = self.work / "prepared-log"
        self._ours_cache: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.rows: list[Row] = []

    # -- selection --------------------------------------------------------------------------------
    def wanted(self, workload: str, contender: str) -> bool:
        return (not self.only_workloads or workload in self.only_workloads) and \
            (not self.only_contenders or contender in self.only_contenders)

    def needs_kafka(self) -> bool:
        kafka_contenders = {"ours-kafka", "aiokafka", "kstreams", "quix"}
        return any(self.wanted(w, c) for w in WORKLOADS for c in kafka_contenders)

    # -- environment ------------------------------------------------------------------------------
    def start_broker(self) -> None:
        env = os.environ.get("KSQL_BENCH_BOOTSTRAP")
        if env:
            self.bootstrap, self.broker_note = env, f"broker {env} ($KSQL_BENCH_BOOTSTRAP)"
            return
        up = REPO / "compose" / "local" / "up"
        if not up.exists() or not shutil.which("java"):
            self.broker_note = "no broker (set KSQL_BENCH_BOOTSTRAP, or install Java for compose/local/up)"
            return
        self.broker_dir = self.work / "broker"
        t0 = time.monotonic()
        proc = subprocess.run([str(up), "--dir", str(self.broker_dir)], capture_output=True, text=True,
                              timeout=900)
        for line in proc.stdout.splitlines():
            if line.startswith("KAFKA_BOOTSTRAP="):
                self.bootstrap = line.split("=", 1)[1].strip()
        if self.bootstrap is None:
            self.broker_note = f"no broker (compose/local/up failed: {proc.stderr.strip()[-300:]})"
        else:
            self.broker_note = f"broker {self.bootstrap} (compose/local/up, {time.monotonic() - t0:.0f}s)"

    def stop_broker(self) -> None:
        if self.broker_dir is not None:
            subprocess.run([str(REPO / "compose" / "local" / "down"), "--dir", str(self.broker_dir)],
                           capture_output=True, timeout=120)

    def check_contenders(self) -> None:
        if not _has("ksql.topics.kafka"):
            self.kafka_backend_note = "n/a (no Kafka backend)"
        if self.wanted("w1", "kstreams") or self.wanted("w2", "kstreams"):
            self.kstreams_note = build_kstreams() if self.bootstrap else None
        if importlib.util.find_spec("quixstreams") is None:
            self.quix_note = "n/a (pip install -e '.[perf]' for quixstreams)"

    def prepare(self) -> None:
        t0 = time.monotonic()
        n = self.s.events
        base = base_ts()

        async def embedded() -> None:
            log = EmbeddedLog(self.embedded_log)
            try:
                await load_embedded(log, self.topics["players"], players(self.s.keys, base))
                await load_embedded(log, self.topics["events"], events(n, self.s.keys, base))
            finally:
                await log.close()

        engine_workloads = ("w1", "w2", "w3", "w4", "restore")
        if any(self.wanted(w, "ours-embedded") for w in engine_workloads):
            asyncio.run(embedded())
            self.prepared = True
        kafka_contenders = ("ours-kafka", "aiokafka", "kstreams", "quix")
        if self.bootstrap is not None and \
                any(self.wanted(w, c) for w in engine_workloads for c in kafka_contenders):
            bootstrap = self.bootstrap

            async def kafka() -> None:
                await load_kafka(bootstrap, self.topics["players"], players(self.s.keys, base))
                await load_kafka(bootstrap, self.topics["events"], events(n, self.s.keys, base))

            asyncio.run(kafka())
            self.prepared = True
        if self.prepared:
            print(f"# prepared {n:,} events over {self.s.keys:,} keys in {time.monotonic() - t0:.1f}s", flush=True)

    def cleanup_kafka(self, *prefixes: str) -> None:
        if self.bootstrap is not None:
            with contextlib.suppress(Exception):
                asyncio.run(delete_kafka_topics(self.bootstrap, prefixes))

    # -- contenders ---------------------------------------------------------------------------------
    def ours(self, workload: str, backend: str, run: int) -> dict[str, Any]:
        key = (workload, backend, run)
        if key not in self._ours_cache:
            work = self.work / f"ours-{backend}-{workload}-{run}"
            work.mkdir()
            service = f"perf_{self.tag}_{workload}_{run}_"
            sink = f"{workload.upper()}_OUT_{self.tag.upper()}_{run}"
            spec = {"contender": "ours", "backend": backend, "workload": workload, "run": run,
                    "events": self.s.events, "topics": self.topics, "work_dir": str(work),
                    "service_id": service, "sink": sink, "timeout_s": self.s.timeout_s,
                    "log_dir": str(self.embedded_log), "bootstrap": self.bootstrap}
            try:
                self._ours_cache[key] = run_contender(spec, self.s.timeout_s + 60)
            finally:
                shutil.rmtree(work, ignore_errors=True)
                if backend == "kafka":
                    self.cleanup_kafka(f"_confluent-ksql-{service}", sink)
        return self._ours_cache[key]

    def aiokafka(self, run: int) -> dict[str, Any]:
        spec = {"contender": "aiokafka", "bootstrap": self.bootstrap, "topics": self.topics,
                "events": self.s.events}
        return run_contender(spec, self.s.timeout_s)

    def kstreams(self, mode: str, run: int) -> dict[str, Any]:
        app_id = f"perf-ks-{mode}-{self.tag}-{run}"
        state = self.work / app_id
        cmd = ["java", "-Xmx1g", "-cp", f"{KSTREAMS_JAR}{os.pathsep}{KSTREAMS / 'target' / 'lib'}/*",
               "ksqlpy.bench.BenchApp", mode, str(self.bootstrap), self.topics["events"], f"{app_id}-out",
               app_id, str(state)]
        try:
            return self.external(cmd, app_id, f"{app_id}-out")
        finally:
            shutil.rmtree(state, ignore_errors=True)
            self.cleanup_kafka(app_id)

    def quix(self, run: int) -> dict[str, Any]:
        group = f"perf-quix-{self.tag}-{run}"
        spec = {"contender": "quix", "bootstrap": self.bootstrap, "topics": self.topics, "group": group,
                "output": f"{group}-out", "state_dir": str(self.work / group)}
        cmd = [sys.executable, str(HERE / "perf_contenders.py"), json.dumps(spec)]
        try:
            return self.external(cmd, group, f"{group}-out")
        finally:
            shutil.rmtree(self.work / group, ignore_errors=True)
            self.cleanup_kafka(group, f"changelog__{group}", f"repartition__{group}")

    def external(self, cmd: list[str], group: str, output: str) -> dict[str, Any]:
        """Run an app that never ends by itself; time it from its ``FIRST`` line until ``group``
        has committed the end of the events topic."""
        assert self.bootstrap is not None
        asyncio.run(_create_topic(self.bootstrap, output))
        log_path = self.work / f"{group}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, cwd=REPO)
            first: list[float] = []

            def read() -> None:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if line.startswith(b"FIRST "):
                        first.append(int(line.split()[1]) / 1000)

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            try:
                done = asyncio.run(_wait_group(self.bootstrap, group, self.topics["events"], self.s.events,
                                               proc, self.s.timeout_s))
            finally:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                reader.join(5)
        if done is None or not first:
            tail = log_path.read_text(errors="replace")[-500:]
            raise RuntimeError(f"did not finish (exit {proc.returncode}): {tail}")
        dt = done - first[0]
        return {"events_per_s": self.s.events / dt, "seconds": dt}

    # -- the server workloads -------------------------------------------------------------------------
    def server(self, name: str, backend: str, props: dict[str, Any] | None = None,
               http2: bool = False) -> KsqlServer:
        work = self.work / name
        work.mkdir()
        # no record cache: every change goes out at once (a cache would hold rows for the commit)
        props = {"ksql.streams.cache.max.bytes.buffering": 0, **(props or {})}
        return KsqlServer(work, self.bootstrap if backend == "kafka" else None,
                          f"perf_{self.tag}_{name.replace('-', '_')}_", props, http2)

    def serve(self, name: str, backend: str, setup: Callable[[KsqlServer], dict[str, Any]],
              prepare_log: Callable[[Path], None] | None = None,
              props: dict[str, Any] | None = None, http2: bool = False) -> dict[str, Any]:
        if backend in self.server_notes:
            raise ServerUnavailable(self.server_notes[backend])
        server = self.server(name, backend, props, http2)
        if prepare_log is not None and backend == "embedded":
            prepare_log(server.data_dir / "log")
        try:
            server.start()
        except ServerUnavailable as e:
            if backend != "kafka":
                raise RuntimeError(str(e)) from None
            # its own error message, up to the first colon: "n/a (Kafka backend not available yet)"
            reason = str(e).removeprefix("ksql-server exited: ").removeprefix("ksql-server: ")
            self.server_notes[backend] = f"n/a (ksql-server: {reason.split(':')[0].strip()})"
            server.stop()
            raise ServerUnavailable(self.server_notes[backend]) from None
        try:
            spec = setup(server)
            spec.update({"port": server.port, "server_pid": server.pid, "http2": http2})
            return run_contender(spec, self.s.timeout_s, script="perf_serving.py")
        finally:
            server.stop()
            shutil.rmtree(server.work_dir, ignore_errors=True)
            if backend == "kafka":
                self.cleanup_kafka(f"_confluent-ksql-{server.props['ksql.service.id']}", f"{name}-")

    def freshness(self, backend: str, rate: int, run: int) -> dict[str, Any]:
        name = f"fresh-{backend}-{rate}-{run}"
        topic = f"{name}-in"

        def setup(server: KsqlServer) -> dict[str, Any]:
            server.ksql(f"CREATE STREAM FRESH_IN (ID INT KEY, SENT_US BIGINT) WITH (KAFKA_TOPIC='{topic}', "
                        "VALUE_FORMAT='JSON', PARTITIONS=1);"
                        f"CREATE STREAM FRESH_OUT WITH (KAFKA_TOPIC='{name}-out') AS SELECT ID, SENT_US FROM FRESH_IN WHERE SENT_US > 0 "
                        "EMIT CHANGES;")
            return {"workload": "freshness", "rate": rate, "seconds": self.s.fresh_seconds,
                    "stream": "FRESH_IN", "output": "FRESH_OUT", "topic": topic, "key": "ID",
                    "bootstrap": self.bootstrap if backend == "kafka" else None}

        # on the embedded log the rows go in through the server: /inserts-stream needs HTTP/2
        return self.serve(name, backend, setup, http2=backend == "embedded" and _has("hypercorn", "h2"))

    def pull(self, backend: str, run: int) -> dict[str, Any]:
        name = f"pull-{backend}-{run}"
        topic = f"{name}-src"
        keys = self.s.pull_keys
        ts = base_ts()
        rows = [(k.to_bytes(4, "big", signed=True), b'{"SCORE": %d}' % (k % 100), ts) for k in range(keys)]

        def prepare_log(log_dir: Path) -> None:
            async def go() -> None:
                log = EmbeddedLog(log_dir)
                try:
                    await load_embedded(log, topic, iter(rows))
                finally:
                    await log.close()
            asyncio.run(go())

        def setup(server: KsqlServer) -> dict[str, Any]:
            if backend == "kafka":
                assert self.bootstrap is not None
                asyncio.run(load_kafka(self.bootstrap, topic, iter(rows)))
            server.ksql(f"CREATE STREAM PULL_SRC (PLAYER_ID INT KEY, SCORE INT) WITH (KAFKA_TOPIC='{topic}', "
                        "VALUE_FORMAT='JSON');"
                        f"CREATE TABLE PULL_T WITH (KAFKA_TOPIC='{name}-out') AS SELECT PLAYER_ID, COUNT(*) AS N, SUM(SCORE) AS S FROM PULL_SRC "
                        "GROUP BY PLAYER_ID EMIT CHANGES;", {"ksql.streams.auto.offset.reset": "earliest"})
            server.wait_for_row(f"SELECT * FROM PULL_T WHERE PLAYER_ID = {keys - 1};", self.s.timeout_s)
            return {"workload": "pull", "table": "PULL_T", "keys": keys, "seconds": self.s.pull_seconds,
                    "rate": self.s.pull_rate, "connections": self.s.pull_connections}

        return self.serve(name, backend, setup, prepare_log)

    def fanout(self, backend: str, clients: int, run: int) -> dict[str, Any]:
        name = f"fanout-{backend}-{clients}-{run}"
        topic = f"{name}-in"

        def setup(server: KsqlServer) -> dict[str, Any]:
            server.ksql(f"CREATE STREAM FAN_IN (ID INT KEY, SENT_US BIGINT) WITH (KAFKA_TOPIC='{topic}', "
                        "VALUE_FORMAT='JSON', PARTITIONS=1);"
                        f"CREATE TABLE FAN_T WITH (KAFKA_TOPIC='{name}-out') AS SELECT ID, LATEST_BY_OFFSET(SENT_US) AS SENT_US FROM FAN_IN "
                        "GROUP BY ID EMIT CHANGES;")
            return {"workload": "fanout", "table": "FAN_T", "clients": clients, "rate": self.s.fanout_rate,
                    "seconds": self.s.fanout_seconds, "stream": "FAN_IN", "topic": topic, "key": "ID",
                    "bootstrap": self.bootstrap if backend == "kafka" else None}

        return self.serve(name, backend, setup, props={"ksql.max.push.queries": clients + 100})

    # -- the table ----------------------------------------------------------------------------------
    def plan(self) -> None:
        s = self.s
        n = f"{s.events // 1000:,}k" if s.events < 1_000_000 else f"{s.events // 1_000_000}M"
        no_broker = "n/a (no broker)"
        kafka_note = no_broker if self.bootstrap is None else self.kafka_backend_note
        ks_note = no_broker if self.bootstrap is None else self.kstreams_note
        quix_note = no_broker if self.bootstrap is None else self.quix_note
        ours_labels = {"embedded": "ours (embedded log)", "kafka": "ours (Kafka)"}

        def add(workload: str, title: str, contender: str, label: str, metrics: list[Metric],
                run: Callable[[int], dict[str, Any]], skip: str | None = None) -> None:
            if self.wanted(workload, contender):
                self.rows.append(Row(workload, title, contender, label, metrics, run, skip))

        def ours(workload: str, backend: str) -> Callable[[int], dict[str, Any]]:
            return lambda run: self.ours(workload, backend, run)

        titles = {"w1": f"W1 aggregation {n}/{s.keys:,} keys", "w2": f"W2 filter/project {n}",
                  "w3": f"W3 stream-table join {n}", "w4": f"W4 tumbling count {n}"}
        for w, title in titles.items():
            for backend in ("embedded", "kafka"):
                add(w, title, f"ours-{backend}", ours_labels[backend], EVENTS_PER_S, ours(w, backend),
                    kafka_note if backend == "kafka" else None)
            if w == "w1":
                add(w, title, "aiokafka", "aiokafka + JSON decode (ceiling)", EVENTS_PER_S, self.aiokafka,
                    no_broker if self.bootstrap is None else None)
            if w in ("w1", "w2"):
                mode = "agg" if w == "w1" else "filter"
                add(w, title, "kstreams", "Kafka Streams 3.9.1 (1 thread)", EVENTS_PER_S,
                    partial(self.kstreams, mode), ks_note)
            if w == "w1":
                add(w, title, "quix", f"Quix Streams {_version('quixstreams')}", EVENTS_PER_S, self.quix,
                    quix_note)
        latency = [Metric("p50_ms", "p50 ms", ".1f"), Metric("p99_ms", "p99 ms", ".1f")]
        for rate in s.fresh_rates:
            for backend in ("embedded", "kafka"):
                add("freshness", f"freshness {rate // 1000}k ev/s", f"ours-{backend}", ours_labels[backend],
                    latency + [Metric("achieved_rate", "sent/s", ",.0f")],
                    partial(self.freshness, backend, rate),
                    kafka_note if backend == "kafka" else None)
        for backend in ("embedded", "kafka"):
            add("pull", f"pull {s.pull_keys // 1000}k keys @{s.pull_rate}/s", f"ours-{backend}",
                ours_labels[backend],
                [Metric("qps", "QPS", ",.0f")] + latency,
                partial(self.pull, backend),
                kafka_note if backend == "kafka" else None)
        for clients in s.fanout_clients:
            for backend in ("embedded", "kafka"):
                add("fanout", f"push fan-out {clients:,} @{s.fanout_rate}/s", f"ours-{backend}",
                    ours_labels[backend],
                    [Metric("p99_ms", "p99 ms", ".1f"), Metric("rss_kib_per_client", "KiB/client", ".0f")],
                    partial(self.fanout, backend, clients),
                    kafka_note if backend == "kafka" else None)
        for backend in ("embedded", "kafka"):
            add("restore", "restore W1 store", f"ours-{backend}", ours_labels[backend],
                [Metric("restore_records_per_s", "records/s", ",.0f")], ours("w1", backend),
                kafka_note if backend == "kafka" else None)

    def execute(self) -> None:
        for row in self.rows:
            if row.skip or row.run is None:
                print(_line(row), flush=True)
                continue
            t0 = time.monotonic()
            for i in range(self.s.runs):
                try:
                    row.results.append(row.run(i))
                except ServerUnavailable as e:
                    row.skip = str(e)
                    break
                except Exception as e:  # a failing contender is a row, not the end of the harness
                    row.error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
                    break
            row.seconds = time.monotonic() - t0
            print(_line(row), flush=True)

    def header(self) -> str:
        cpus = os.cpu_count()
        return (f"# ksql-py perf: {cpus} cores, Python {platform.python_version()}, "
                f"{'quick' if self.s.quick else 'full'}, median of {self.s.runs} run(s); {self.broker_note}")

    def table(self) -> str:
        rows = [("workload", "contender", "median")] + [(r.title, r.label, r.cell()) for r in self.rows]
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows)

    def as_json(self, seconds: float) -> dict[str, Any]:
        return {
            "cores": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
            "quick": self.s.quick, "runs": self.s.runs, "broker": self.broker_note, "seconds": seconds,
            "settings": self.s.__dict__, "rows": [r.as_json() for r in self.rows],
        }


def _line(row: Row) -> str:
    took = f" ({row.seconds:.0f}s)" if row.seconds else ""
    return f"  {row.title} | {row.label} | {row.cell()}{took}"


def _has(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "(not installed)"


async def _create_topic(bootstrap: str, name: str) -> None:
    with contextlib.suppress(Exception):  # already there
        await create_kafka_topic(bootstrap, name)


async def _wait_group(bootstrap: str, group: str, topic: str, end: int, proc: subprocess.Popen[bytes],
                      timeout_s: float) -> float | None:
    """Wall-clock time at which ``group`` had committed ``end`` on ``topic``; None if the app died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        with contextlib.suppress(Exception):
            if await committed_offsets(bootstrap, group, topic) >= end:
                return time.time()
        await asyncio.sleep(0.1)
    return None


def run_contender(spec: dict[str, Any], timeout_s: float, script: str = "perf_contenders.py") -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(HERE / script), json.dumps(spec)], capture_output=True,
                          text=True, timeout=timeout_s, cwd=REPO)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])  # type: ignore[no-any-return]
    output = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()
    print(f"# {script} {spec.get('contender') or spec.get('workload')} failed:", *output[-15:], sep="\n# ",
          file=sys.stderr, flush=True)
    raise RuntimeError(output[-1])


def build_kstreams() -> str | None:
    """Build the Kafka Streams app unless an up-to-date jar exists; a reason when it cannot."""
    sources = [KSTREAMS / "pom.xml", *KSTREAMS.joinpath("src").rglob("*.java")]
    if KSTREAMS_JAR.exists() and (KSTREAMS / "target" / "lib").is_dir() and \
            KSTREAMS_JAR.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return None
    if not shutil.which("mvn") or not shutil.which("java"):
        return "n/a (needs java and mvn)"
    proc = subprocess.run(["mvn", "-B", "-q", "package"], cwd=KSTREAMS, capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0 or not KSTREAMS_JAR.exists():
        return f"n/a (mvn package failed: {(proc.stdout + proc.stderr).strip()[-200:]})"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tests/perf/run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small inputs, one run (what CI runs)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--only", metavar="NAMES", default="", help="comma-separated workloads and/or contenders")
    p.add_argument("--runs", type=int, help="runs per row (default 3, 1 with --quick)")
    args = p.parse_args(argv)
    only = {n.strip().lower() for n in args.only.split(",") if n.strip()}
    unknown = only - set(WORKLOADS) - set(CONTENDERS)
    if unknown:
        p.error(f"unknown names {sorted(unknown)}: workloads {WORKLOADS}, contenders {CONTENDERS}")
    t0 = time.monotonic()
    h = Harness(Settings.make(args.quick, args.runs), only)
    try:
        if h.needs_kafka():
            h.start_broker()
        h.check_contenders()
        h.plan()
        print(h.header(), flush=True)
        h.prepare()
        h.execute()
    finally:
        h.cleanup_kafka(*h.topics.values())
        h.stop_broker()
        shutil.rmtree(h.work, ignore_errors=True)
    seconds = time.monotonic() - t0
    print()
    print(h.header())
    print(h.table())
    print(f"# {seconds:.0f}s in all")
    if args.json:
        Path(args.json).write_text(json.dumps(h.as_json(seconds), indent=2) + "\n")
    return 0
