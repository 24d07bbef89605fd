"""A local single-node Kafka broker for development, tests and CI.

The broker runs Apache Kafka's own jars (fetched once with Maven and cached) as one JVM process
that is both broker and KRaft controller, listening on 127.0.0.1 only. Its state lives in a data
directory: the KRaft log directory, ``server.properties``, the broker log ``server.log`` and a
state file ``broker.json`` with the process id and the bootstrap address, so that another process
(a CLI call, a test session) can find, check and stop it.

Example::

    broker = local_kafka.start()            # formats the data dir the first time
    print(broker.bootstrap)                 # "127.0.0.1:PORT"
    local_kafka.stop(broker.data_dir)

Command line::

    python -m pipelines.local_kafka ensure-jars     # pre-cache the jars (needs Maven)
    python -m pipelines.local_kafka start [--data-dir DIR] [--port PORT]
    python -m pipelines.local_kafka status [--data-dir DIR]
    python -m pipelines.local_kafka stop [--data-dir DIR]

The jar cache is ``$WINNOW_CACHE/kafka-<version>`` (default ``~/.cache/winnow/kafka-<version>``);
the default data directory is ``$WINNOW_CACHE/local-kafka``. Starting needs Java 17+ on the
``PATH`` (or ``JAVA_HOME``), and Maven only while the jars are not cached yet.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Collection, Dict, Optional, Union

from pipelines.local_tools import cache_dir, java_executable

_LOGGER = logging.getLogger(__name__)

# The Kafka release the local broker runs. kafka-python 3.0.x negotiates every API Winnow uses
# (produce, fetch, list offsets incl. by timestamp, consumer-group offsets, create topics) with it.
KAFKA_VERSION = "4.2.0"
SCALA_VERSION = "2.13"
# Kafka 4 ships no logging backend; slf4j-simple writes the broker log to stderr.
SLF4J_VERSION = "2.0.17"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

JVM_HEAP = "512m"
# A small local broker: the quick (C1) JIT and the serial collector start it fastest on few cores.
_JVM_OPTIONS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]
STATE_FILE = "broker.json"
LOG_FILE = "server.log"
CONFIG_FILE = "server.properties"
KRAFT_DIR = "kraft-logs"
_COMPLETE_MARKER = ".complete"
_NODE_ID = 1

PathLike = Union[str, os.PathLike]


class LocalKafkaError(RuntimeError):
    """The local broker could not be prepared, started or reached."""


@dataclasses.dataclass(frozen=True)
class Broker:
    """A running local broker.

    Attributes:
        bootstrap: the address clients connect to, ``"127.0.0.1:PORT"``.
        pid: the broker's JVM process id.
        port: the client (PLAINTEXT) port.
        controller_port: the KRaft controller port.
        data_dir: the broker's data directory.
        log_path: the broker's log file.
        kafka_version: the Kafka release it runs.
    """
    bootstrap: str
    pid: int
    port: int
    controller_port: int
    data_dir: str
    log_path: str
    kafka_version: str


def default_data_dir() -> pathlib.Path:
    """Where :func:`start` keeps the broker's data when no directory is given."""
    return cache_dir() / "local-kafka"


def jar_dir(version: str = KAFKA_VERSION) -> pathlib.Path:
    """The directory that holds (or will hold) the jars of a Kafka release."""
    return cache_dir() / f"kafka-{version}"


def _pom(version: str) -> str:
    dependencies = [
        ("org.apache.kafka", f"kafka_{SCALA_VERSION}", version),
        # Declared explicitly so that the API matches the backend (Kafka itself pulls slf4j 1.7).
        ("org.slf4j", "slf4j-api", SLF4J_VERSION),
        ("org.slf4j", "slf4j-simple", SLF4J_VERSION),
    ]
    dependency_xml = "\n".join(
        f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{artifact_version}</version></dependency>"
        for group, artifact, artifact_version in dependencies)
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>winnow.local</groupId>\n"
        "  <artifactId>local-kafka</artifactId>\n"
        f"  <version>{version}</version>\n"
        "  <packaging>pom</packaging>\n"
        f"  <dependencies>\n{dependency_xml}\n  </dependencies>\n"
        "</project>\n")


def ensure_jars(version: str = KAFKA_VERSION) -> pathlib.Path:
    """Makes sure the broker's jars are cached, fetching them with Maven if needed.

    The jars are copied into a temporary directory first and moved into place whole, so an
    interrupted download never leaves a half-filled cache, and concurrent callers are safe.

    Args:
        version: the Kafka release.

    Returns:
        The directory with the jars (for a ``-cp DIR/*`` class path).

    Raises:
        LocalKafkaError: Maven is missing or the download failed.
    """
    target = jar_dir(version)
    if (target / _COMPLETE_MARKER).exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError(
            f"Kafka {version} jars are not cached in {target} and Maven (mvn) is not on the PATH "
            "to fetch them")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".kafka-{version}-", dir=target.parent))
    try:
        (staging / "pom.xml").write_text(_pom(version), encoding="utf-8")
        command = [
            mvn, "-B", "-q", "-f", str(staging / "pom.xml"),
            f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        ]
        _LOGGER.info("Fetching Kafka %s jars with Maven into %s", version, target)
        result = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if result.returncode != 0:
            raise LocalKafkaError(
                f"Maven could not fetch Kafka {version} (exit {result.returncode}):\n"
                f"{_last_lines(result.stdout, 40)}")
        jars = sorted(path.name for path in staging.glob("*.jar"))
        if not any(name.startswith(f"kafka_{SCALA_VERSION}-") for name in jars):
            raise LocalKafkaError(f"Maven finished but no Kafka broker jar arrived in {staging}")
        (staging / _COMPLETE_MARKER).write_text("\n".join(jars) + "\n", encoding="utf-8")
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished first (or a stale incomplete directory is in the way).
            if not (target / _COMPLETE_MARKER).exists():
                shutil.rmtree(target, ignore_errors=True)
                os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def start(
        data_dir: Optional[PathLike] = None,
        port: Optional[int] = None,
        *,
        controller_port: Optional[int] = None,
        timeout_s: float = 90.0,
        version: str = KAFKA_VERSION) -> Broker:
    """Starts the local broker in the background and waits until clients can use it.

    The data directory is formatted (``kafka.tools.StorageTool format --standalone``) the first
    time; later starts reuse its topics and offsets. If a broker of this data directory is
    already running, it is returned as it is.

    Args:
        data_dir: the broker's directory (default :func:`default_data_dir`).
        port: the client port on 127.0.0.1; a free one when ``None``.
        controller_port: the KRaft controller port; a free one when ``None``.
        timeout_s: how long to wait for the broker to answer.
        version: the Kafka release (its jars are fetched if not cached).

    Returns:
        The running :class:`Broker`.

    Raises:
        LocalKafkaError: the broker did not come up in time or exited; the message carries the
            end of its log.
    """
    data_path = _data_path(data_dir)
    running = status(data_path)
    if running is not None:
        if port is not None and running.port != port:
            raise LocalKafkaError(
                f"a broker of {data_path} already runs on port {running.port}, not {port}")
        return running
    jars = ensure_jars(version)
    data_path.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    controller_port = controller_port or _free_port(exclude={port})
    config_path = data_path / CONFIG_FILE
    config_path.write_text(_server_properties(data_path, port, controller_port), encoding="utf-8")
    if not (data_path / KRAFT_DIR / "meta.properties").exists():
        _format_storage(jars, config_path)

    log_path = data_path / LOG_FILE
    command = [
        _java(), f"-Xmx{JVM_HEAP}", "-Xms128m", "-XX:+ExitOnOutOfMemoryError", *_JVM_OPTIONS,
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
        "-cp", str(jars / "*"), "kafka.Kafka", str(config_path),
    ]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            cwd=data_path, start_new_session=True)
    _CHILDREN[process.pid] = process
    broker = Broker(
        bootstrap=f"127.0.0.1:{port}", pid=process.pid, port=port,
        controller_port=controller_port, data_dir=str(data_path), log_path=str(log_path),
        kafka_version=version)
    _write_state(data_path, broker)
    try:
        _wait_until_ready(broker, process, timeout_s)
    except BaseException:
        stop(data_path)
        raise
    return broker


def stop(data_dir: Optional[PathLike] = None, timeout_s: float = 30.0) -> bool:
    """Stops the broker of a data directory: SIGTERM, then SIGKILL after ``timeout_s``.

    Safe to call any number of times, and when nothing runs.

    Returns:
        ``True`` if a running broker was stopped.
    """
    data_path = _data_path(data_dir)
    state = _read_state(data_path)
    if state is None:
        return False
    pid = state.pid
    was_running = _is_our_broker(pid, data_path)
    if was_running:
        _signal(pid, signal.SIGTERM)
        if not _wait_for_exit(pid, timeout_s):
            _LOGGER.warning("Kafka broker %d did not stop in %.0f s; killing it", pid, timeout_s)
            _signal(pid, signal.SIGKILL)
            _wait_for_exit(pid, 10.0)
    _CHILDREN.pop(pid, None)
    try:
        (data_path / STATE_FILE).unlink()
    except FileNotFoundError:
        pass
    return was_running


def status(data_dir: Optional[PathLike] = None) -> Optional[Broker]:
    """The running broker of a data directory, or ``None`` if none runs.

    This only checks the process; :func:`start` is what waits until clients can connect.
    """
    data_path = _data_path(data_dir)
    state = _read_state(data_path)
    if state is None or not _is_our_broker(state.pid, data_path):
        return None
    return state


def log_tail(data_dir: Optional[PathLike] = None, lines: int = 40) -> str:
    """The last lines of the broker's log (empty if there is none)."""
    path = _data_path(data_dir) / LOG_FILE
    try:
        with open(path, "rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            log_file.seek(max(0, log_file.tell() - 64 * 1024))
            text = log_file.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return _last_lines(text, lines)


# Popen handles of brokers started by this process, so that they are reaped when they exit.
_CHILDREN: Dict[int, subprocess.Popen] = {}


def _data_path(data_dir: Optional[PathLike]) -> pathlib.Path:
    return pathlib.Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()


def _free_port(exclude: Collection[int] = ()) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            candidate = probe.getsockname()[1]
        if candidate not in exclude:
            return candidate


def _java() -> str:
    java = java_executable()
    if java is None:
        raise LocalKafkaError("Java (17 or newer) is needed to run the local Kafka broker")
    return java


def _server_properties(data_path: pathlib.Path, port: int, controller_port: int) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": _NODE_ID,
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "log.dirs": data_path / KRAFT_DIR,
        "num.partitions": 1,
        "auto.create.topics.enable": "true",
        # One node: every internal topic has one replica, and few partitions so it starts fast.
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "transaction.state.log.num.partitions": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "share.coordinator.state.topic.num.partitions": 1,
        "group.initial.rebalance.delay.ms": 0,
        "num.network.threads": 2,
        "num.io.threads": 2,
        "num.recovery.threads.per.data.dir": 1,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _cluster_id() -> str:
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def _format_storage(jars: pathlib.Path, config_path: pathlib.Path) -> None:
    command = [
        _java(), "-Xmx256m", *_JVM_OPTIONS, "-cp", str(jars / "*"), "kafka.tools.StorageTool",
        "format",
        "--standalone", "--cluster-id", _cluster_id(), "--config", str(config_path),
    ]
    result = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if result.returncode != 0:
        raise LocalKafkaError(
            f"formatting the Kafka storage failed (exit {result.returncode}):\n"
            f"{_last_lines(result.stdout, 40)}")


def _wait_until_ready(broker: Broker, process: subprocess.Popen, timeout_s: float) -> None:
    # Imported here so that stopping a broker or fetching jars does not need the client library.
    from kafka import KafkaAdminClient

    deadline = time.monotonic() + timeout_s
    last_error: Optional[BaseException] = None
    client_logger = logging.getLogger("kafka")
    previous_level = client_logger.level
    client_logger.setLevel(logging.CRITICAL)  # connection refusals while the JVM boots are expected
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalKafkaError(
                    f"the Kafka broker exited with code {process.returncode} while starting; "
                    f"end of {broker.log_path}:\n{log_tail(broker.data_dir)}")
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=broker.bootstrap, request_timeout_ms=5000,
                    bootstrap_timeout_ms=2000, client_id="winnow-local-kafka")
                try:
                    admin.list_topics()
                finally:
                    admin.close()
                return
            except Exception as error:  # pylint: disable=broad-except
                last_error = error
                time.sleep(0.25)
    finally:
        client_logger.setLevel(previous_level)
    raise LocalKafkaError(
        f"the Kafka broker at {broker.bootstrap} did not answer within {timeout_s:.0f} s "
        f"(last error: {last_error!r}); end of {broker.log_path}:\n{log_tail(broker.data_dir)}")


def _write_state(data_path: pathlib.Path, broker: Broker) -> None:
    payload = dict(dataclasses.asdict(broker), started_at=time.time())
    temporary = data_path / (STATE_FILE + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, data_path / STATE_FILE)


def _read_state(data_path: pathlib.Path) -> Optional[Broker]:
    try:
        payload = json.loads((data_path / STATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    fields = {field.name for field in dataclasses.fields(Broker)}
    try:
        return Broker(**{key: value for key, value in payload.items() if key in fields})
    except TypeError:
        return None


def _is_our_broker(pid: int, data_path: pathlib.Path) -> bool:
    """Whether ``pid`` is alive and is the broker of ``data_path`` (guards against pid reuse)."""
    if not _is_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline_file:
            arguments = cmdline_file.read().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc to check with: trust the state file
    config = str(data_path / CONFIG_FILE).encode()
    return b"kafka.Kafka" in arguments and config in arguments


def _is_alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        # Reaps the broker if this process started it without keeping its handle.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            return stat_file.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _signal(pid: int, signal_number: int) -> None:
    try:
        os.kill(pid, signal_number)
    except ProcessLookupError:
        pass


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _is_alive(pid):
            return True
        time.sleep(0.1)
    return not _is_alive(pid)


def _last_lines(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def main(argv: Optional[list] = None) -> int:
    """Command-line entry point: ``ensure-jars``, ``start``, ``status`` or ``stop``."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.local_kafka", description="A local single-node Kafka broker.")
    parser.add_argument("command", choices=["ensure-jars", "start", "status", "stop"])
    parser.add_argument("--data-dir", default=None, help="the broker's data directory")
    parser.add_argument("--port", type=int, default=None, help="client port (default: free)")
    parser.add_argument("--version", default=KAFKA_VERSION, help="Kafka release")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if arguments.command == "ensure-jars":
        print(ensure_jars(arguments.version))
        return 0
    if arguments.command == "start":
        broker = start(arguments.data_dir, arguments.port, version=arguments.version)
        print(broker.bootstrap)
        return 0
    if arguments.command == "status":
        broker = status(arguments.data_dir)
        print(json.dumps(dataclasses.asdict(broker)) if broker else "not running")
        return 0 if broker else 1
    stop(arguments.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
