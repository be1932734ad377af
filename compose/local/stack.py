#!/usr/bin/env python3
"""A local Kafka (KRaft) broker, and optionally PostgreSQL + Kafka Connect with Debezium, without Docker.

Used through the `up` and `down` scripts next to this file (stdlib only, so any python3 runs it):

    compose/local/up [--cdc] [--dir STATE_DIR] [--bootstrap HOST:PORT] [--timeout S] [--jars DIR]
                     [--watch-pid PID] [--fetch-only]
    compose/local/down [--dir STATE_DIR] [--keep]

Jars come from Maven Central through compose/local/pom.xml, copied once into a cache directory
(default ~/.cache/ksql-py/jars/<kafka version>, override with --jars or KSQL_JARS_DIR); later runs do not
touch Maven. Everything a run starts is recorded in STATE_DIR (pid files, configs, logs, data) and
`down` stops exactly those processes. `up` is incremental: on a STATE_DIR whose broker is running it
only starts what is missing (e.g. `up --cdc` after `up` adds PostgreSQL and Connect).

`up` prints, and writes to STATE_DIR/env, lines a shell or a test harness can parse:
    KAFKA_BOOTSTRAP=127.0.0.1:PORT
    PG_DSN=postgresql://postgres@127.0.0.1:PORT/postgres     (--cdc)
    PG_PORT=PORT                                               (--cdc)
    CONNECT_URL=http://127.0.0.1:PORT                          (--cdc)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
# Maven profile of pom.xml -> directory under the jar cache
JAR_SETS = {
    "kafka": "kafka",
    "debezium-postgres": "plugins/debezium-postgres",
    "debezium-jdbc": "plugins/debezium-jdbc",
}
CONNECT_PLUGINS = (
    "io.debezium.connector.postgresql.PostgresConnector",
    "io.debezium.connector.jdbc.JdbcSinkConnector",
)
HEAP = ["-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true"]
DEFAULT_STATE_DIR = Path.home() / ".cache" / "ksql-py" / "local"
BIND_ERRORS = ("Address already in use", "BindException", "could not bind", "Failed to bind")


class StackError(Exception):
    """A component failed to start; the message carries what to look at next."""


def log(msg: str) -> None:
    print(f"[local] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- jars


def kafka_version() -> str:
    m = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    assert m, "pom.xml lost its kafka.version property"
    return m.group(1)


def jar_root(override: str | None) -> Path:
    base = override or os.environ.get("KSQL_JARS_DIR")
    if base:
        return Path(base).expanduser().resolve()
    return Path.home() / ".cache" / "ksql-py" / "jars" / kafka_version()


def fetch_jars(root: Path, profiles: list[str]) -> None:
    """Copy each profile's runtime jars into its cache directory, unless an earlier run already did.

    A marker holding the pom's hash makes a version change in pom.xml refetch; a file lock keeps
    concurrent `up`s from running Maven on the same cache at once.
    """
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    root.mkdir(parents=True, exist_ok=True)

    def done(profile: str) -> bool:
        marker = root / JAR_SETS[profile] / ".complete"
        return marker.exists() and marker.read_text().strip() == digest

    if all(done(p) for p in profiles):
        return
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError("Maven (`mvn`) is not on PATH: install it (Debian: apt-get install maven)")
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for profile in profiles:
            if done(profile):
                continue
            target = root / JAR_SETS[profile]
            tmp = Path(f"{target}.tmp-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            log(f"fetching {profile} jars with Maven into {target}")
            started = time.monotonic()
            cmd = [mvn, "-B", "-q", "-f", str(POM), "-P", profile, DEPENDENCY_PLUGIN,
                   "-DincludeScope=runtime", f"-DoutputDirectory={tmp}"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                out = (proc.stdout + proc.stderr).strip().splitlines()
                raise StackError(f"Maven could not fetch the {profile} jars:\n" + "\n".join(out[-25:]))
            (tmp / ".complete").write_text(digest + "\n")
            shutil.rmtree(target, ignore_errors=True)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(target)
            log(f"fetched {profile} in {time.monotonic() - started:.1f}s")


# ---------------------------------------------------------------- processes


def free_ports(n: int) -> list[int]:
    """Ports the kernel reports free right now; a start that loses the race retries with new ones."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise StackError("Java 17+ is not on PATH: install it (Debian: apt-get install openjdk-17-jdk-headless)")
    return found


def tail(path: Path, lines: int = 40) -> str:
    """The log's first ERROR lines (the cause; shutdown noise follows it) and its last lines."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    errors = [line for line in text[:-lines] if " ERROR " in line or "FATAL" in line][:5]
    head = f"--- first errors in {path}\n" + "\n".join(errors) + "\n" if errors else ""
    return head + f"--- last {min(lines, len(text))} lines of {path}\n" + "\n".join(text[-lines:])


def bind_failed(*paths: Path) -> bool:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text(errors="replace")
            if any(e in text for e in BIND_ERRORS):
                return True
    return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone: reap it if it is our child, else its parent (init) will
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def ours(pid: int, marker: str) -> bool:
    """True if `pid` is still the process we started (its command line names our config file)."""
    if not alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True  # no /proc (macOS): trust the pid file
    return marker in cmdline


def spawn(cmd: list[str], out: Path, pidfile: Path) -> subprocess.Popen[bytes]:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "ab") as fh:
        # its own session: `down` can signal the whole group, and ^C on `up` does not reach it
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    pidfile.write_text(f"{proc.pid}\n")
    return proc


def stop_pid(pidfile: Path, marker: str, grace: float) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    if ours(pid, marker):
        signal_process(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            signal_process(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
    pidfile.unlink(missing_ok=True)


def signal_process(pid: int, sig: int) -> None:
    """Signal the process group we created for `pid` (spawn), or just `pid` if it leads none."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def read_pid(pidfile: Path, marker: str) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if ours(pid, marker) else None


def write_props(path: Path, props: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def log4j_props(logfile: Path, quiet: dict[str, str]) -> str:
    lines = [
        "log4j.rootLogger=INFO, file",
        "log4j.appender.file=org.apache.log4j.RollingFileAppender",
        f"log4j.appender.file.File={logfile}",
        "log4j.appender.file.MaxFileSize=20MB",
        "log4j.appender.file.MaxBackupIndex=2",
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
    ]
    lines += [f"log4j.logger.{name}={level}" for name, level in quiet.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Kafka broker


def metadata_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """One Metadata v4 request (api key 3): ready once the broker lists itself as alive.

    Hand-rolled on a socket so `up` needs no Kafka client library.
    """
    client_id = b"ksql-local-up"
    body = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id + struct.pack(">ib", -1, 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            size = struct.unpack(">i", _recv(s, 4))[0]
            resp = _recv(s, size)
    except (OSError, struct.error):
        return False
    # correlation id, throttle time, then the broker array's length
    _corr, _throttle, brokers = struct.unpack_from(">iii", resp, 0)
    return bool(brokers > 0)


def _recv(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def new_kafka_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def bootstrap_checkpoint(jars: Path) -> Path:
    """The bootstrap.checkpoint (metadata.version feature record) `StorageTool format` writes.

    It depends on neither the cluster id nor the ports, so it is made once per jar cache and copied into
    every new broker: that saves a JVM start (2-3 s on a busy machine) per broker.
    """
    cached = jars / "kafka" / "bootstrap.checkpoint"
    if cached.exists():
        return cached
    with tempfile.TemporaryDirectory(prefix="ksql-kafka-format-") as tmp:
        props = Path(tmp) / "server.properties"
        write_props(props, {
            "process.roles": "broker,controller", "node.id": 1, "controller.quorum.voters": "1@127.0.0.1:9093",
            "listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            "controller.listener.names": "CONTROLLER", "log.dirs": f"{tmp}/data",
        })
        log4j = Path(tmp) / "log4j.properties"
        log4j.write_text("log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\n"
                         "log4j.appender.stderr.Target=System.err\n"
                         "log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n")
        fmt = subprocess.run([java(), f"-Dlog4j.configuration=file:{log4j}", "-cp", f"{jars / 'kafka'}/*",
                              "kafka.tools.StorageTool", "format", "-t", new_kafka_id(), "-c", str(props)],
                             capture_output=True, text=True)
        if fmt.returncode != 0:
            raise StackError(f"formatting the KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")
        staged = Path(f"{cached}.tmp-{os.getpid()}")
        shutil.copyfile(Path(tmp) / "data" / "bootstrap.checkpoint", staged)
        staged.replace(cached)
    return cached


def format_storage(data: Path, checkpoint: Path) -> None:
    """What `StorageTool format` does for one KRaft log dir: meta.properties plus the bootstrap checkpoint."""
    data.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint, data / "bootstrap.checkpoint")
    (data / "meta.properties").write_text(
        f"version=1\nnode.id=1\ncluster.id={new_kafka_id()}\ndirectory.id={new_kafka_id()}\n"
    )


def start_kafka(state: Path, jars: Path, timeout: float) -> int:
    kdir = state / "kafka"
    cfg = kdir / "server.properties"
    classpath = f"{jars / 'kafka'}/*"
    log4j = kdir / "log4j.properties"
    log4j.parent.mkdir(parents=True, exist_ok=True)
    log4j.write_text(log4j_props(kdir / "server.log", {
        "kafka.request.logger": "WARN", "state.change.logger": "WARN", "kafka.log.LogCleaner": "WARN",
    }))
    base = [java(), *HEAP, f"-Dlog4j.configuration=file:{log4j}", "-cp", classpath]
    for attempt in range(3):
        port, cport = free_ports(2)
        data = kdir / "data"
        if attempt > 0:
            # data kept by `down --keep` is reused (format skips a formatted dir); a retry starts clean
            shutil.rmtree(data, ignore_errors=True)
        write_props(cfg, {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@127.0.0.1:{cport}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": data,
            "num.partitions": 1,
            # our engine creates its topics itself; a typo must not silently create one
            "auto.create.topics.enable": "false",
            # fast consumer groups and transactions on a single node
            "group.initial.rebalance.delay.ms": 0,
            "offsets.topic.num.partitions": 1,
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.num.partitions": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "default.replication.factor": 1,
            "min.insync.replicas": 1,
            "log.segment.bytes": 64 * 1024 * 1024,
            # a local stack keeps what it is given: records with old timestamps (test data, replays)
            # must not vanish at the next retention check
            "log.retention.ms": -1,
        })
        if not (data / "meta.properties").exists():
            format_storage(data, bootstrap_checkpoint(jars))
        out = kdir / "kafka.out"
        (kdir / "server.log").unlink(missing_ok=True)
        out.unlink(missing_ok=True)
        proc = spawn([*base, "kafka.Kafka", str(cfg)], out, kdir / "kafka.pid")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if metadata_ok("127.0.0.1", port):
                (kdir / "port").write_text(f"{port}\n")
                return port
            time.sleep(0.25)
        exited = proc.poll() is not None
        stop_pid(kdir / "kafka.pid", str(cfg), grace=5)
        logs = tail(kdir / "server.log") + "\n" + tail(out, 15)
        if exited and bind_failed(kdir / "server.log", out) and attempt < 2:
            log(f"port {port}/{cport} was taken meanwhile; retrying with new ports")
            continue
        why = f"exited with code {proc.returncode}" if exited else f"did not answer within {timeout:.0f}s"
        raise StackError(f"the Kafka broker {why}.\n{logs}")
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- PostgreSQL


def pg_bindir() -> Path:
    override = os.environ.get("KSQL_PG_BIN")
    candidates = [Path(override)] if override else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        if out:
            candidates.append(Path(out))
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise StackError("PostgreSQL server binaries not found: install them (Debian: apt-get install postgresql) "
                     "or set KSQL_PG_BIN to the directory holding initdb and pg_ctl")


def as_pg_user(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def pg_datadir(state: Path) -> Path:
    """Where the cluster lives: STATE_DIR/pg, or (as root, when `postgres` cannot reach STATE_DIR, e.g.
    under pytest's 0700 temp dirs) a fresh directory under /tmp recorded in STATE_DIR/pg.datadir."""
    recorded = state / "pg.datadir"
    if recorded.exists():
        return Path(recorded.read_text().strip())
    if os.geteuid() != 0:
        path = state / "pg"
    else:
        probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(state)])
        path = state / "pg" if probe.returncode == 0 else Path(tempfile.mkdtemp(prefix="ksql-pg-"))
    recorded.write_text(f"{path}\n")
    return path


def start_postgres(state: Path, timeout: float) -> int:
    bindir = pg_bindir()
    data = pg_datadir(state)
    for attempt in range(3):
        port = free_ports(1)[0]
        if attempt > 0 or not (data / "PG_VERSION").exists():
            # a cluster kept by `down --keep` is reused; otherwise a fresh throwaway one
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            if os.geteuid() == 0:
                shutil.chown(data, "postgres", "postgres")
            data.chmod(0o700)
            init = subprocess.run(as_pg_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                              "-A", "trust", "-E", "UTF8", "--locale=C", "-N"]),
                                  capture_output=True, text=True)
            if init.returncode != 0:
                raise StackError(f"initdb failed:\n{init.stdout}{init.stderr}")
        # a unix socket path is limited to ~107 bytes; TCP is what clients use anyway
        sockdir = str(data) if len(str(data)) < 80 else ""
        opts = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{sockdir}' "
                "-c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10 "
                # fsync off keeps a throwaway cluster fast; synchronous_commit stays on because with it off
                # a commit reaches logical decoding (and Debezium) only at the next WAL flush, up to 200 ms later
                "-c fsync=off -c full_page_writes=off")
        logfile = data / "postgres.log"
        started = subprocess.run(as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-w",
                                             "-t", str(int(timeout)), "-o", opts, "start"]),
                                 capture_output=True, text=True)
        if started.returncode == 0:
            pid = int((data / "postmaster.pid").read_text().splitlines()[0])
            (state / "pg.pid").write_text(f"{pid}\n")
            (state / "pg.port").write_text(f"{port}\n")
            return port
        logs = tail(logfile, 25)
        if bind_failed(logfile) and attempt < 2:
            log(f"port {port} was taken meanwhile; retrying with a new port")
            continue
        raise StackError(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}\n{logs}")
    raise AssertionError("unreachable")


def stop_postgres(state: Path, keep: bool) -> None:
    recorded = state / "pg.datadir"
    if not recorded.exists():
        return
    data = Path(recorded.read_text().strip())
    pidfile = state / "pg.pid"
    if pidfile.exists() and (data / "postmaster.pid").exists():
        with contextlib.suppress(StackError):
            subprocess.run(as_pg_user([str(pg_bindir() / "pg_ctl"), "-D", str(data), "-m",
                                       "fast" if keep else "immediate", "-w",
                                       "-t", "20", "stop"]), capture_output=True)
    # if pg_ctl could not stop it, the postmaster pid we recorded gets a signal
    stop_pid(pidfile, str(data), grace=5)
    (state / "pg.port").unlink(missing_ok=True)
    if not keep:
        shutil.rmtree(data, ignore_errors=True)
        recorded.unlink()


# ---------------------------------------------------------------- Kafka Connect


def connect_plugins(url: str) -> set[str]:
    try:
        with urllib.request.urlopen(f"{url}/connector-plugins", timeout=2) as resp:
            return {p["class"] for p in json.load(resp)}
    except (OSError, ValueError):
        return set()


def herder_ready(url: str) -> bool:
    """GET /connectors answers only once the worker has joined its group and read its config topic."""
    try:
        with urllib.request.urlopen(f"{url}/connectors", timeout=5) as resp:
            return bool(resp.status == 200)
    except (OSError, ValueError):
        return False


def start_connect(state: Path, jars: Path, bootstrap: str, timeout: float) -> int:
    cdir = state / "connect"
    cfg = cdir / "worker.properties"
    log4j = cdir / "log4j.properties"
    log4j.parent.mkdir(parents=True, exist_ok=True)
    log4j.write_text(log4j_props(cdir / "connect.log", {
        "org.reflections": "ERROR", "org.apache.kafka.clients": "WARN", "org.eclipse.jetty": "WARN",
    }))
    # C1 only: starts ~35% faster, and a test worker's throughput does not matter
    cmd = [java(), "-XX:TieredStopAtLevel=1", *HEAP, f"-Dlog4j.configuration=file:{log4j}", "-cp", f"{jars / 'kafka'}/*",
           "org.apache.kafka.connect.cli.ConnectDistributed", str(cfg)]
    for attempt in range(3):
        port = free_ports(1)[0]
        write_props(cfg, {
            "bootstrap.servers": bootstrap,
            "group.id": "ksql-local-connect",
            "config.storage.topic": "_connect-configs",
            "offset.storage.topic": "_connect-offsets",
            "status.storage.topic": "_connect-status",
            "config.storage.replication.factor": 1,
            "offset.storage.replication.factor": 1,
            "status.storage.replication.factor": 1,
            "offset.storage.partitions": 1,
            "status.storage.partitions": 1,
            # plain JSON by default (ksqlDB's JSON format); connectors override per connector
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "false",
            "value.converter.schemas.enable": "false",
            "listeners": f"http://127.0.0.1:{port}",
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": port,
            "plugin.path": jars / "plugins",
            "offset.flush.interval.ms": 1000,
            # let connector configs set consumer./producer. overrides (ksqlDB users do)
            "connector.client.config.override.policy": "All",
            # every plugin is found by scanning; without this Connect warns that some lack ServiceLoader manifests
            "plugin.discovery": "only_scan",
        })
        out = cdir / "connect.out"
        (cdir / "connect.log").unlink(missing_ok=True)
        out.unlink(missing_ok=True)
        proc = spawn(cmd, out, cdir / "connect.pid")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if set(CONNECT_PLUGINS) <= connect_plugins(url) and herder_ready(url):
                (cdir / "port").write_text(f"{port}\n")
                return port
            time.sleep(0.5)
        exited = proc.poll() is not None
        stop_pid(cdir / "connect.pid", str(cfg), grace=5)
        logs = tail(cdir / "connect.log") + "\n" + tail(out, 15)
        if exited and bind_failed(cdir / "connect.log", out) and attempt < 2:
            log(f"port {port} was taken meanwhile; retrying with a new port")
            continue
        why = (f"exited with code {proc.returncode}" if exited
               else f"did not list {', '.join(CONNECT_PLUGINS)} within {timeout:.0f}s")
        raise StackError(f"Kafka Connect {why}.\n{logs}")
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- up / down


def running_port(state: Path, component: str, marker: str) -> int | None:
    if read_pid(state / component / f"{component}.pid", marker) is None:
        return None
    try:
        return int((state / component / "port").read_text())
    except (FileNotFoundError, ValueError):
        return None


def up(args: argparse.Namespace) -> int:
    jars = jar_root(args.jars)
    fetch_jars(jars, list(JAR_SETS) if (args.fetch_only or args.cdc) else ["kafka"])
    if args.fetch_only:
        bootstrap_checkpoint(jars)
        print(f"JARS_DIR={jars}")
        return 0
    state = Path(args.dir).expanduser().resolve()
    state.mkdir(parents=True, exist_ok=True)
    env: dict[str, str] = {}
    started: list[str] = []
    with open(state / ".lock", "w") as lock, ThreadPoolExecutor(max_workers=1) as pool:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pg: Future[int] | None = None
        try:
            if args.cdc and read_pid(state / "pg.pid", str(pg_datadir(state))) is None:
                # PostgreSQL needs nothing else: it starts while the JVMs do
                started.append("pg")
                pg = pool.submit(timed, "PostgreSQL", start_postgres, state, args.timeout)
            if args.bootstrap:
                env["KAFKA_BOOTSTRAP"] = args.bootstrap
            else:
                port = running_port(state, "kafka", str(state / "kafka" / "server.properties"))
                if port is None:
                    started.append("kafka")
                    port = timed("Kafka broker", start_kafka, state, jars, args.timeout)
                env["KAFKA_BOOTSTRAP"] = f"127.0.0.1:{port}"
            if args.cdc:
                cport = running_port(state, "connect", str(state / "connect" / "worker.properties"))
                if cport is None:
                    started.append("connect")
                    cport = timed("Kafka Connect", start_connect, state, jars, env["KAFKA_BOOTSTRAP"], args.timeout)
                pg_port = pg.result() if pg else int((state / "pg.port").read_text())
                env["PG_DSN"] = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
                env["PG_PORT"] = str(pg_port)
                env["CONNECT_URL"] = f"http://127.0.0.1:{cport}"
            if args.watch_pid:
                start_watcher(state, args.watch_pid)
            previous = read_env(state)
            # keep what an earlier `up` reported (e.g. the CDC lines when this run did not ask for them)
            merged = {**previous, **env} if "KAFKA_BOOTSTRAP" in previous else env
            (state / "env").write_text("".join(f"{k}={v}\n" for k, v in merged.items()))
        except (StackError, KeyboardInterrupt) as exc:
            if pg is not None:
                with contextlib.suppress(StackError):
                    pg.result()
            # undo only what this run started; an already-running broker stays up
            for component in reversed(started):
                stop_component(state, component, keep=False)
            if isinstance(exc, KeyboardInterrupt):
                raise
            print(f"ERROR: {exc}", file=sys.stderr)
            return 1
    for k, v in env.items():
        print(f"{k}={v}")
    return 0


def timed(what: str, start: Callable[..., int], *args: object) -> int:
    t0 = time.monotonic()
    port = start(*args)
    log(f"{what} up on 127.0.0.1:{port} in {time.monotonic() - t0:.1f}s")
    return port


def start_watcher(state: Path, owner: int) -> None:
    """A small detached process that runs `down` once `owner` (e.g. a pytest session) is gone, so a
    killed test run does not leave brokers behind."""
    if read_pid(state / "watch.pid", str(state)) is not None:
        return
    spawn([sys.executable, str(Path(__file__).resolve()), "watch", "--dir", str(state), "--pid", str(owner)],
          state / "watch.out", state / "watch.pid")


def watch(args: argparse.Namespace) -> int:
    while alive(args.pid):
        time.sleep(1)
    log(f"process {args.pid} is gone: stopping the stack in {args.dir}")
    return down(argparse.Namespace(dir=args.dir, keep=False))


def read_env(state: Path) -> dict[str, str]:
    try:
        lines = (state / "env").read_text().splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


def stop_component(state: Path, component: str, keep: bool) -> None:
    if component == "pg":
        stop_postgres(state, keep)
        return
    cdir = state / component
    cfg = cdir / ("server.properties" if component == "kafka" else "worker.properties")
    # data that `down` deletes next needs no clean shutdown
    stop_pid(cdir / f"{component}.pid", str(cfg), grace=20 if keep else 0)
    (cdir / "port").unlink(missing_ok=True)
    if component == "kafka" and not keep:
        shutil.rmtree(cdir / "data", ignore_errors=True)


def down(args: argparse.Namespace) -> int:
    state = Path(args.dir).expanduser().resolve()
    if not state.is_dir():
        log(f"nothing to stop: {state} does not exist")
        return 0
    with open(state / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Connect first (it is a client of both), then the broker, then PostgreSQL
        for component in ("connect", "kafka", "pg"):
            stop_component(state, component, args.keep)
        (state / "env").unlink(missing_ok=True)
        watcher = read_pid(state / "watch.pid", str(state))
        if watcher is not None and watcher != os.getpid():
            stop_pid(state / "watch.pid", str(state), grace=2)
        elif watcher == os.getpid():
            (state / "watch.pid").unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compose/local/stack.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start (or complete) a local stack")
    p_up.add_argument("--dir", default=str(DEFAULT_STATE_DIR), help="state directory (default %(default)s)")
    p_up.add_argument("--cdc", action="store_true", help="also PostgreSQL and Kafka Connect with Debezium")
    p_up.add_argument("--bootstrap", help="use this running broker instead of starting one (with --cdc)")
    p_up.add_argument("--jars", help="jar cache directory (default ~/.cache/ksql-py/jars/<kafka version>)")
    p_up.add_argument("--timeout", type=float, default=120.0, help="seconds each component may take to start")
    p_up.add_argument("--fetch-only", action="store_true", help="only fetch all jars into the cache")
    p_up.add_argument("--watch-pid", type=int, help="run `down` by itself once this process has exited")
    p_down = sub.add_parser("down", help="stop what `up` started")
    p_down.add_argument("--dir", default=str(DEFAULT_STATE_DIR), help="state directory (default %(default)s)")
    p_down.add_argument("--keep", action="store_true", help="keep broker and database data")
    p_watch = sub.add_parser("watch")  # internal: see start_watcher
    p_watch.add_argument("--dir", required=True)
    p_watch.add_argument("--pid", type=int, required=True)
    args = parser.parse_args(argv)
    commands = {"up": up, "down": down, "watch": watch}
    try:
        return commands[args.command](args)
    except StackError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
