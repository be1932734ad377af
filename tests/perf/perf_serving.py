"""The serving workloads: a real ``ksql-server`` process, and a load generator in another process.

The harness drives :class:`KsqlServer` (start, statements, RSS, stop) and runs
``python perf_serving.py SPEC_JSON`` as the load process, which prints ``RESULT {...}``:
- ``freshness``: rows produced at a fixed rate (straight into Kafka, or through the server on the
  embedded log) into a stream that a persistent query filters into another stream; one push
  query on ``/query`` over that stream; latency from produce to arrival, p50/p99.
- ``pull``: key lookups on ``/query`` against a materialized table: QPS with a closed loop of
  connections (saturation), then p50/p99 in an open loop at a fixed rate (latency counted from
  the scheduled send time, so a queue building up shows).
- ``fanout``: N push clients on one table updated at a fixed rate: p99 delivery latency, and the
  server's RSS growth per connected client.

The HTTP client is a few lines over asyncio (keep-alive, chunked responses), so the load process
spends its CPU on requests, not on a client library. Pull saturation uses ``wrk`` when installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from perf_common import REPO, emit_result, now_us, percentile

V1_JSON = "application/vnd.ksql.v1+json"


# -- the server -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerUnavailable(RuntimeError):
    """The server refused to start with this configuration (e.g. a backend it does not have)."""


class KsqlServer:
    """``python -m rest.server`` on a fresh data directory (or against ``bootstrap``)."""

    def __init__(self, work_dir: Path, bootstrap: str | None, service_id: str,
                 props: dict[str, Any] | None = None, http2: bool = False) -> None:
        self.http2 = http2
        self.work_dir = work_dir
        self.data_dir = work_dir / "data"
        self.bootstrap = bootstrap
        self.port = free_port()
        self.props = {"ksql.service.id": service_id, **(props or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.props.items()))
        cmd = [sys.executable, "-m", "rest.server", "--config", str(config),
               "--listeners", f"http://127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
               "--log-level", "warning"]
        if self.bootstrap:
            cmd += ["--bootstrap-servers", self.bootstrap]
        if self.http2:
            cmd.append("--http2")
        log = open(self.work_dir / "server.log", "wb")  # noqa: SIM115  (kept open by the child)
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                # 2: it refused its configuration (say, a backend it does not have); else it crashed
                kind = ServerUnavailable if code == 2 else RuntimeError
                raise kind(f"ksql-server exited: {self.log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                status, _ = http_sync(self.port, "GET", "/healthcheck")
                if status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"ksql-server not ready after {timeout_s}s: {self.log_tail()}")

    def log_tail(self) -> str:
        """The last line the server logged (its reason, when it stopped)."""
        try:
            lines = (self.work_dir / "server.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def ksql(self, sql: str, props: dict[str, Any] | None = None) -> Any:
        body = orjson.dumps({"ksql": sql, "streamsProperties": props or {}})
        status, data = http_sync(self.port, "POST", "/ksql", body)
        if status != 200:
            raise RuntimeError(f"{sql!r} failed ({status}): {data[:500]!r}")
        return orjson.loads(data)

    def pull(self, sql: str) -> list[Any]:
        status, data = http_sync(self.port, "POST", "/query", orjson.dumps({"ksql": sql}))
        if status != 200:
            raise RuntimeError(f"{sql!r} failed ({status}): {data[:500]!r}")
        return [e["row"]["columns"] for e in orjson.loads(data) if "row" in e]

    def wait_for_row(self, sql: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.pull(sql):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no row for {sql!r} after {timeout_s}s")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def http_sync(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One blocking request on a fresh connection (setup and checks, not load)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(_request(method, path, body))
        f = s.makefile("rb")
        status, headers = _parse_head(_read_head_sync(f))
        if headers.get("transfer-encoding") == "chunked":
            parts = []
            while True:
                size = int(f.readline().split(b";")[0], 16)
                parts.append(f.read(size + 2)[:size])
                if size == 0:
                    break
            return status, b"".join(parts)
        length = int(headers.get("content-length", "0"))
        return status, f.read(length)


def _read_head_sync(f: Any) -> bytes:
    lines: list[bytes] = []
    while True:
        line = f.readline()
        if not line:
            raise ConnectionError("connection closed")
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)
        lines.append(line)


def _request(method: str, path: str, body: bytes = b"", accept: str = V1_JSON, extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip().lower()
    return status, headers


# -- the asyncio client ---------------------------------------------------------------------------
class Conn:
    """A keep-alive HTTP/1.1 connection for request/response traffic."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        assert self.reader is not None
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, headers = _parse_head(head[:-4])
        if headers.get("transfer-encoding") == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                parts.append((await self.reader.readexactly(size + 2))[:size])
                if size == 0:
                    break
            body = b"".join(parts)
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class PushClient(asyncio.Protocol):
    """A push query on ``/query`` (v1 JSON, one element per line). ``on_row(sent_us, t_us)`` is
    called for every row (its SENT_US column) with its arrival time; parsing stays in ``data_received``, cheap enough
    for thousands of clients in one process."""

    def __init__(self, body: bytes, on_row: Callable[[int, int], None]) -> None:
        self.body = body
        self.on_row = on_row
        self.buf = b""
        self.head_done = False
        self.data_left = 0  # bytes of the current chunk still to come
        self.crlf_left = 0  # then its CRLF
        self.sent_index = -1  # where SENT_US is among the columns
        self.lines = b""
        self.header = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(_request("POST", "/query", self.body))

    def data_received(self, data: bytes) -> None:
        now = now_us()
        self.buf += data
        if not self.head_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status, _ = _parse_head(self.buf[:end])
            self.buf = self.buf[end + 4:]
            self.head_done = True
            if status != 200:
                if not self.header.done():
                    self.header.set_exception(RuntimeError(f"push query refused: {status} {self.buf[:300]!r}"))
                return
        # de-chunk into self.lines
        while self.buf:
            if not self.data_left and not self.crlf_left:
                eol = self.buf.find(b"\r\n")
                if eol < 0:
                    break
                size = int(self.buf[:eol].split(b";")[0], 16)
                self.buf = self.buf[eol + 2:]
                if size == 0:
                    self.buf = b""
                    break
                self.data_left, self.crlf_left = size, 2
            if self.data_left:
                take = self.buf[:self.data_left]
                self.buf = self.buf[len(take):]
                self.data_left -= len(take)
                self.lines += take
            if not self.data_left and self.crlf_left:
                drop = min(self.crlf_left, len(self.buf))
                self.buf = self.buf[drop:]
                self.crlf_left -= drop
        *complete, self.lines = self.lines.split(b"\n")
        for line in complete:
            line = line.strip().lstrip(b"[").rstrip(b",").rstrip(b"]")
            if not line:
                continue
            element = orjson.loads(line)
            if "row" in element:
                self.on_row(element["row"]["columns"][self.sent_index], now)
            elif "header" in element:
                names = [c.strip().split(" ")[0] for c in element["header"]["schema"].split(",")]
                self.sent_index = names.index("`SENT_US`")
                if not self.header.done():
                    self.header.set_result(None)
            elif "errorMessage" in element and not self.header.done():
                self.header.set_exception(RuntimeError(str(element)))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.header.done():
            self.header.set_exception(ConnectionError(f"push query connection lost: {exc}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_push(port: int, sql: str, on_row: Callable[[int, int], None]) -> PushClient:
    body = orjson.dumps({"ksql": sql, "streamsProperties": {}})
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: PushClient(body, on_row), "127.0.0.1", port)
    await asyncio.wait_for(client.header, 60)
    return client


# -- producers ------------------------------------------------------------------------------------
class H2Inserts:
    """``/inserts-stream`` over cleartext HTTP/2 (what ksqlDB requires), on the ``h2`` library:
    one stream, row lines sent as DATA frames within flow control, acknowledgements read and
    dropped by a background task so the server never waits for us."""

    def __init__(self, port: int, target: str) -> None:
        self.port = port
        self.target = target
        self.window = asyncio.Event()
        self.status: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def open(self) -> None:
        import h2.config
        import h2.connection

        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(self.sid, [(":method", "POST"), (":path", "/inserts-stream"),
                                          (":scheme", "http"), (":authority", "127.0.0.1"),
                                          ("accept", "application/vnd.ksqlapi.delimited.v1")])
        self.task = asyncio.create_task(self._read())
        await self.send(b'{"target":"%s"}\n' % self.target.encode())
        status = await asyncio.wait_for(self.status, 30)
        if status != 200:
            raise RuntimeError(f"/inserts-stream answered {status}")

    async def _read(self) -> None:
        import h2.events

        while data := await self.reader.read(65536):
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and not self.status.done():
                    self.status.set_result(int(dict(ev.headers)[b":status"]))
                elif isinstance(ev, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                    self.window.set()
            self.writer.write(self.conn.data_to_send())
        if not self.status.done():
            self.status.set_exception(ConnectionError("/inserts-stream: connection closed"))

    async def send(self, data: bytes) -> None:
        while data:
            room = min(self.conn.local_flow_control_window(self.sid), self.conn.max_outbound_frame_size)
            if room <= 0:
                self.window.clear()
                await self.window.wait()
                continue
            self.conn.send_data(self.sid, data[:room])
            data = data[room:]
        self.writer.write(self.conn.data_to_send())
        await self.writer.drain()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.end_stream(self.sid)
            self.writer.write(self.conn.data_to_send())
            await self.writer.drain()
        self.task.cancel()
        self.writer.close()


class Producer:
    """Rows into a source stream: straight into its Kafka topic, or through the server
    (``/inserts-stream`` when the server speaks HTTP/2, else batches of INSERT VALUES on ``/ksql``)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.kafka: Any = None
        self.conn: Conn | None = None
        self.inserts: H2Inserts | None = None
        self.mode = "kafka" if spec.get("bootstrap") else "INSERT VALUES"

    async def start(self) -> None:
        if self.mode == "kafka":
            from aiokafka import AIOKafkaProducer

            self.kafka = AIOKafkaProducer(bootstrap_servers=self.spec["bootstrap"], linger_ms=1, acks=1)
            await self.kafka.start()
        elif self.spec.get("http2"):
            self.inserts = H2Inserts(self.spec["port"], self.spec["stream"])
            await self.inserts.open()
            self.mode = "inserts-stream"
        else:
            self.conn = Conn(self.spec["port"])

    async def send(self, rows: list[dict[str, Any]]) -> None:
        key = self.spec["key"]
        if self.kafka is not None:
            topic = self.spec["topic"]
            for row in rows:
                k = int(row[key]).to_bytes(4, "big", signed=True)
                value = orjson.dumps({c: v for c, v in row.items() if c != key})
                await self.kafka.send(topic, value, key=k)
        elif self.inserts is not None:
            await self.inserts.send(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        else:
            assert self.conn is not None
            stream = self.spec["stream"]
            sql = "".join(
                f"INSERT INTO {stream} ({', '.join(r)}) VALUES ({', '.join(str(v) for v in r.values())});"
                for r in rows)
            status, body = await self.conn.request(_request("POST", "/ksql", orjson.dumps({"ksql": sql})))
            if status != 200:
                raise RuntimeError(f"INSERT failed: {status} {body[:300]!r}")

    async def stop(self) -> None:
        if self.kafka is not None:
            await self.kafka.stop()
        if self.inserts is not None:
            await self.inserts.close()
        if self.conn is not None:
            self.conn.close()


async def produce_at_rate(producer: Producer, rate: float, seconds: float,
                          make_row: Callable[[int], dict[str, Any]]) -> tuple[int, float]:
    """Ticks of 10 ms (or 1/rate when slower); returns rows sent and the rate achieved."""
    tick = max(0.01, 1 / rate)
    per_tick = rate * tick
    sent = 0
    t0 = time.perf_counter()
    due = 0.0
    i = 0
    while time.perf_counter() - t0 < seconds:
        i += 1
        due += per_tick
        n = int(due) - sent
        if n > 0:
            await producer.send([make_row(sent + j) for j in range(n)])
            sent += n
        delay = t0 + i * tick - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return sent, sent / (time.perf_counter() - t0)


# -- workloads ------------------------------------------------------------------------------------
async def freshness(spec: dict[str, Any]) -> dict[str, Any]:
    latencies: list[float] = []

    def on_row(sent_us: int, t_us: int) -> None:
        latencies.append((t_us - sent_us) / 1000)

    client = await open_push(spec["port"], f"SELECT * FROM {spec['output']} EMIT CHANGES;", on_row)
    producer = Producer(spec)
    await producer.start()
    try:
        sent, achieved = await produce_at_rate(
            producer, spec["rate"], spec["seconds"], lambda i: {"ID": i, "SENT_US": now_us()})
        deadline = time.monotonic() + 10
        while len(latencies) < sent and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()
        client.close()
    return {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99), "sent": sent,
            "received": len(latencies), "achieved_rate": achieved, "producer": producer.mode}


async def pull(spec: dict[str, Any]) -> dict[str, Any]:
    port, table, keys = spec["port"], spec["table"], spec["keys"]
    rnd = random.Random(7)

    def payload() -> bytes:
        sql = f"SELECT * FROM {table} WHERE PLAYER_ID = {rnd.randrange(keys)};"
        return _request("POST", "/query", orjson.dumps({"ksql": sql}))

    errors = 0

    async def one(conn: Conn) -> None:
        nonlocal errors
        status, body = await conn.request(payload())
        if status != 200 or b'"row"' not in body:
            errors += 1

    # saturation: a closed loop of connections
    wrk = await _wrk(spec) if shutil.which("wrk") else None
    tool = "wrk" if wrk is not None else "asyncio"
    if wrk is not None:
        saturation, errors = wrk
    else:
        done = 0
        stop_at = time.perf_counter() + spec["seconds"]

        async def loop() -> None:
            nonlocal done
            conn = Conn(port)
            while time.perf_counter() < stop_at:
                await one(conn)
                done += 1
            conn.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(spec["connections"])))
        saturation = done / (time.perf_counter() - t0)

    # fixed rate: an open loop; latency from the scheduled send time
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(Conn(port))
    latencies: list[float] = []

    async def scheduled(at: float) -> None:
        conn = await pool.get()
        try:
            await one(conn)
        finally:
            pool.put_nowait(conn)
        latencies.append((time.perf_counter() - at) * 1000)

    rate = spec["rate"]
    tasks = []
    t0 = time.perf_counter()
    for i in range(int(rate * spec["seconds"])):
        at = t0 + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(scheduled(at)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return {"qps": saturation, "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "rate": rate, "errors": errors, "saturation_tool": tool}


async def _wrk(spec: dict[str, Any]) -> tuple[float, int] | None:
    script = (
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Accept"] = "{V1_JSON}"\n'
        "request = function()\n"
        f'  local body = string.format(\'{{"ksql": "SELECT * FROM {spec["table"]} WHERE PLAYER_ID = %d;"}}\','
        f' math.random(0, {spec["keys"] - 1}))\n'
        "  return wrk.format(nil, nil, nil, body)\nend\n")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        proc = await asyncio.create_subprocess_exec(
            "wrk", "-t1", f"-c{spec['connections']}", f"-d{max(1, int(spec['seconds']))}s", "-s", f.name,
            f"http://127.0.0.1:{spec['port']}/query", stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
    finally:
        os.unlink(f.name)
    qps, errors = None, 0
    for line in out.decode().splitlines():
        line = line.strip()
        if line.startswith("Requests/sec:"):
            qps = float(line.split()[1])
        elif line.startswith("Non-2xx or 3xx responses:") or line.startswith("Socket errors:"):
            errors += sum(int(w.rstrip(",")) for w in line.split(":", 1)[1].split() if w.rstrip(",").isdigit())
    return None if qps is None else (qps, errors)


async def fanout(spec: dict[str, Any]) -> dict[str, Any]:
    latencies: list[float] = []

    def on_row(sent_us: int, t_us: int) -> None:
        latencies.append((t_us - sent_us) / 1000)

    server_pid = spec["server_pid"]
    rss_before = rss_kib(server_pid)
    sql = f"SELECT * FROM {spec['table']} EMIT CHANGES;"
    clients: list[PushClient] = []
    t0 = time.perf_counter()
    for start in range(0, spec["clients"], 200):  # in waves: the server's accept backlog is finite
        batch = range(start, min(start + 200, spec["clients"]))
        clients += await asyncio.gather(*(open_push(spec["port"], sql, on_row) for _ in batch))
    connect_s = time.perf_counter() - t0
    await asyncio.sleep(1)
    rss_connected = rss_kib(server_pid)
    producer = Producer(spec)
    await producer.start()
    try:
        sent, _ = await produce_at_rate(
            producer, spec["rate"], spec["seconds"], lambda i: {"ID": i, "SENT_US": now_us()})
        expected = sent * len(clients)
        deadline = time.monotonic() + 15
        while len(latencies) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        rss_end = rss_kib(server_pid)
    finally:
        await producer.stop()
        for c in clients:
            c.close()
    return {"p99_ms": percentile(latencies, 99), "p50_ms": percentile(latencies, 50),
            "rss_kib_per_client": (rss_connected - rss_before) / len(clients),
            "rss_before_kib": rss_before, "rss_connected_kib": rss_connected, "rss_end_kib": rss_end,
            "delivered": len(latencies), "expected": expected, "connect_s": connect_s,
            "producer": producer.mode}


def main() -> None:
    spec = json.loads(sys.argv[1])
    workloads = {"freshness": freshness, "pull": pull, "fanout": fanout}
    emit_result(asyncio.run(workloads[spec["workload"]](spec)))


if __name__ == "__main__":
    main()
