"""Running Winnow pipelines on a local, embedded Apache Flink through Beam's portable Flink runner.

Beam's Python ``FlinkRunner`` submits a pipeline to Beam's Flink *job server*, a Java process
that translates it into a Flink job and runs it, here on an embedded Flink MiniCluster inside
that same JVM (``--flink_master=[local]``). The Python transforms run in SDK workers that the
launching Python process hosts itself (``--environment_type=LOOPBACK``), so no Docker is needed.

Beam normally downloads a shaded job server jar on first use. The Maven repository these
machines reach serves that jar (``beam-runners-flink-<flink>-job-server``) for no Beam version,
but it does serve the *unshaded* runner ``beam-runners-flink-1.19`` at Beam 2.62.0 together with
all of its dependencies. :func:`ensure_job_server` therefore fetches that runner and its
dependencies with Maven into a cache folder and writes a small "launcher" jar next to them: a
jar with no classes whose manifest names the job server's main class and lists the dependency
jars on its ``Class-Path``. ``java -jar launcher.jar`` then behaves like the shaded job server,
so Beam takes it as ``--flink_job_server_jar``.

Example::

    from apache_beam.options.pipeline_options import PipelineOptions
    from pipelines import flink_runner

    options = flink_runner.configure(PipelineOptions(["--runner=FlinkRunner"]))
    # or, for an argv list:
    argv = user_args + flink_runner.local_flink_args(user_args)
    # or one long-lived job server for many pipelines:
    with flink_runner.LocalJobServer() as server:
        options = PipelineOptions(server.pipeline_args())

Cross-language Kafka (``apache_beam.io.kafka.ReadFromKafka``) also runs without Docker: the
Java part runs inside the job server (Beam's EMBEDDED environment). That needs the Kafka IO jars
on the job server's class path (``kafka=True``) and an expansion service that declares the
EMBEDDED environment (:class:`KafkaExpansionService`); the Python SDK must then be exactly Beam
:data:`BEAM_VERSION`, because the expansion request names configuration fields of its own
version (the 2.77 SDK fails against the 2.62 expansion service).

Command line::

    python -m pipelines.flink_runner ensure-jars [--kafka]   # pre-cache (needs Maven)
    python -m pipelines.flink_runner args [BEAM FLAGS...]    # print the extra Beam flags

The jars are cached in ``$WINNOW_CACHE/jars`` (default ``~/.cache/winnow/jars``). Once cached,
nothing is downloaded and Maven is not run. Running needs Java 17 on the ``PATH`` (or
``JAVA_HOME``).

Versions: the job server is Beam :data:`BEAM_VERSION` on Flink :data:`FLINK_VERSION`, and Winnow
pins the Python SDK (``apache-beam`` in pyproject.toml) to the same version; a different SDK logs
a warning.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

from pipelines.local_tools import cache_dir, java_executable

_LOGGER = logging.getLogger(__name__)

# The newest Beam release whose Flink runner and all of its dependencies the reachable Maven
# repository serves (later releases lack beam-runners-flink-* or beam-runners-java-job-service;
# no release of the shaded job server or of beam-sdks-java-io-expansion-service past 2.43 is
# served).
BEAM_VERSION = "2.62.0"
# The Flink minor version of that runner artifact; it brings Flink 1.19.0 in transitively.
FLINK_VERSION = "1.19"
BEAM_GROUP = "org.apache.beam"
JOB_SERVER_MAIN_CLASS = "org.apache.beam.runners.flink.FlinkJobServerDriver"
EXPANSION_SERVICE_MAIN_CLASS = "org.apache.beam.sdk.expansion.service.ExpansionService"
# The logging API version Beam 2.62 uses; without a backend the job server logs nothing at all.
SLF4J_VERSION = "1.7.30"
# The Kafka client for Beam's KafkaIO (works with the Kafka 4 broker of pipelines.local_kafka).
KAFKA_CLIENTS_VERSION = "3.9.0"
# Beam's Java SDK harness measures its caches with jamm; KafkaIO's pom does not bring it.
JAMM_VERSION = "0.4.0"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

# Flink values that mean "an embedded MiniCluster inside the job server".
LOCAL_MASTERS = ("[local]", "[auto]")
LIB_DIR = "lib"
_COMPLETE_MARKER = ".complete"

# Packages that Flink's own start scripts open on Java 17 (reflection in Kryo and in Flink's
# memory and closure utilities). The launchers' manifests carry them as ``Add-Opens``, which
# Java honours for a jar started with ``java -jar``.
_JAVA_OPENS = (
    "java.base/java.io", "java.base/java.lang", "java.base/java.lang.reflect",
    "java.base/java.net", "java.base/java.nio", "java.base/java.text", "java.base/java.time",
    "java.base/java.util", "java.base/java.util.concurrent",
    "java.base/java.util.concurrent.atomic", "java.base/java.util.concurrent.locks",
    "java.base/sun.nio.ch",
)
# slf4j-simple settings baked into the launchers: warnings and errors only, with timestamps.
# The loggers quietened below warn on every local job about things that do not matter here
# (no web UI log file, no Kerberos tokens, long operator names, and "call already closed" when
# a LOOPBACK worker's channels are torn down after each stage).
_SIMPLELOGGER_PROPERTIES = (
    "org.slf4j.simpleLogger.defaultLogLevel=warn\n"
    "org.slf4j.simpleLogger.showDateTime=true\n"
    "org.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS\n"
    "org.slf4j.simpleLogger.log.org.apache.flink.runtime.webmonitor.WebMonitorUtils=error\n"
    "org.slf4j.simpleLogger.log.org.apache.flink.runtime.security.token=error\n"
    "org.slf4j.simpleLogger.log.org.apache.flink.metrics.MetricGroup=error\n"
    "org.slf4j.simpleLogger.log.org.apache.beam.runners.fnexecution.control"
    ".DefaultJobBundleFactory=error\n"
)


class FlinkRunnerError(RuntimeError):
    """The local Flink job server (or Kafka expansion service) could not be prepared."""


@dataclasses.dataclass(frozen=True)
class _Bundle:
    """A set of Maven artifacts cached, with all their dependencies, in one ``lib/`` folder.

    Attributes:
        folder: the folder's name under :func:`jar_cache_dir`.
        dependencies: ``(group, artifact, version, excluded groups)`` of each direct dependency.
        required_jar: a jar file name whose absence means the fetch went wrong.
    """
    folder: str
    dependencies: Tuple[Tuple[str, str, str, Tuple[str, ...]], ...]
    required_jar: str


def _job_server_bundle(beam_version: str, flink_version: str) -> _Bundle:
    runner = f"beam-runners-flink-{flink_version}"
    return _Bundle(
        folder=f"beam-flink-{flink_version}-job-server-{beam_version}",
        dependencies=(
            (BEAM_GROUP, runner, beam_version, ()),
            ("org.slf4j", "slf4j-simple", SLF4J_VERSION, ()),
        ),
        required_jar=f"{runner}-{beam_version}.jar")


def _kafka_bundle(beam_version: str) -> _Bundle:
    return _Bundle(
        folder=f"beam-kafka-io-{beam_version}",
        dependencies=(
            # The Confluent schema-registry clients live outside Maven Central; KafkaIO needs
            # them only for Confluent Avro deserializers.
            (BEAM_GROUP, "beam-sdks-java-io-kafka", beam_version, ("io.confluent",)),
            (BEAM_GROUP, "beam-sdks-java-expansion-service", beam_version, ()),
            ("org.apache.kafka", "kafka-clients", KAFKA_CLIENTS_VERSION, ()),
            ("com.github.jbellis", "jamm", JAMM_VERSION, ()),
            ("org.slf4j", "slf4j-simple", SLF4J_VERSION, ()),
        ),
        required_jar=f"beam-sdks-java-io-kafka-{beam_version}.jar")


def jar_cache_dir() -> pathlib.Path:
    """The folder that holds cached Java artifacts: ``<cache>/jars``."""
    return cache_dir() / "jars"


def job_server_dir(beam_version: str = BEAM_VERSION,
                   flink_version: str = FLINK_VERSION) -> pathlib.Path:
    """The folder that holds (or will hold) one job server: its launcher jars and ``lib/``."""
    return jar_cache_dir() / _job_server_bundle(beam_version, flink_version).folder


def cached_job_server(beam_version: str = BEAM_VERSION, flink_version: str = FLINK_VERSION,
                      *, kafka: bool = False) -> Optional[pathlib.Path]:
    """The launcher jar if the job server is completely cached, else ``None``; never downloads.

    A launcher missing or written by an older version of this module is (re)written here,
    which is cheap and offline.

    Args:
        beam_version: the Beam release of the runner.
        flink_version: the Flink minor version of the runner artifact.
        kafka: the launcher whose class path also holds the Kafka IO jars.
    """
    bundle = _job_server_bundle(beam_version, flink_version)
    jars = _cached_jars(bundle)
    if jars is None:
        return None
    class_path = [f"{LIB_DIR}/{name}" for name in jars]
    suffix = "launcher"
    if kafka:
        kafka_bundle = _kafka_bundle(beam_version)
        kafka_jars = _cached_jars(kafka_bundle)
        if kafka_jars is None:
            return None
        # Same file name, same artifact version: the runner's copy is enough.
        known = set(jars)
        class_path += [f"../{kafka_bundle.folder}/{LIB_DIR}/{name}"
                       for name in kafka_jars if name not in known]
        suffix = "kafka-launcher"
    launcher = jar_cache_dir() / bundle.folder / f"{bundle.folder}-{suffix}.jar"
    _ensure_launcher(launcher, JOB_SERVER_MAIN_CLASS, class_path)
    return launcher


def ensure_job_server(beam_version: str = BEAM_VERSION, flink_version: str = FLINK_VERSION,
                      *, kafka: bool = False) -> pathlib.Path:
    """Makes sure the Flink job server is cached, fetching it with Maven if needed.

    Returns at once when the cache is complete; Maven is then not run at all, so this works
    offline. Otherwise the artifacts are copied with Maven into a temporary folder beside the
    cache and moved into place whole, so an interrupted download never leaves a half-filled
    cache and concurrent callers are safe. The first fetch copies about 150 MB (161 jars), plus
    about 80 MB (94 jars) for ``kafka=True``, into the cache (and into ``~/.m2``).

    Args:
        beam_version: the Beam release of the runner.
        flink_version: the Flink minor version of the runner artifact.
        kafka: also put Beam's KafkaIO on the job server's class path, which cross-language
            ``ReadFromKafka`` in the EMBEDDED environment needs.

    Returns:
        The launcher jar: pass it as ``--flink_job_server_jar`` or run it with ``java -jar``.

    Raises:
        FlinkRunnerError: Maven is missing or could not fetch the artifacts.
    """
    launcher = cached_job_server(beam_version, flink_version, kafka=kafka)
    if launcher is not None:
        return launcher
    _ensure_bundle(_job_server_bundle(beam_version, flink_version))
    if kafka:
        _ensure_bundle(_kafka_bundle(beam_version))
    launcher = cached_job_server(beam_version, flink_version, kafka=kafka)
    if launcher is None:
        folder = job_server_dir(beam_version, flink_version)
        raise FlinkRunnerError(f"the job server cache in {folder} is incomplete")
    return launcher


def ensure_kafka_expansion_service(beam_version: str = BEAM_VERSION) -> pathlib.Path:
    """Makes sure Beam's Java expansion service with KafkaIO is cached; returns its launcher.

    Run it as ``java -jar LAUNCHER PORT --defaultEnvironmentType=EMBEDDED`` (or use
    :class:`KafkaExpansionService`). Fetches with Maven only while it is not cached.

    Raises:
        FlinkRunnerError: Maven is missing or could not fetch the artifacts.
    """
    bundle = _kafka_bundle(beam_version)
    jars = _ensure_bundle(bundle)
    launcher = jar_cache_dir() / bundle.folder / f"{bundle.folder}-expansion-launcher.jar"
    class_path = [f"{LIB_DIR}/{name}" for name in jars]
    _ensure_launcher(launcher, EXPANSION_SERVICE_MAIN_CLASS, class_path)
    return launcher


def local_flink_args(user_args: Sequence[str] = (), *, jvm_heap: Optional[str] = None,
                     kafka: bool = False) -> List[str]:
    """The Beam flags to add to ``user_args`` to run them on a local embedded Flink.

    Every flag the user already gave wins; only the missing ones are returned:
    ``--runner=FlinkRunner``, ``--flink_master=[local]``, ``--flink_version`` and
    ``--flink_job_server_jar`` (fetched and cached on first use), and
    ``--environment_type=LOOPBACK`` for an embedded Flink (the Python workers then run inside
    the launching process). A ``--flink_master`` that names a real cluster is kept and gets no
    LOOPBACK, since that cluster's task managers cannot reach this process. With
    ``--job_endpoint`` (a job server that is already running) no jar is needed.

    Args:
        user_args: the Beam flags given so far (``--runner flink`` counts as FlinkRunner).
        jvm_heap: a maximum heap for the job server JVM, e.g. ``"2g"`` (default: Java's).
        kafka: use the job server whose class path holds KafkaIO (see :func:`ensure_job_server`).

    Returns:
        The extra flags, each as one ``--name=value`` string.
    """
    from apache_beam.options.pipeline_options import (  # pylint: disable=import-outside-toplevel
        PipelineOptions)
    settings = _local_settings(PipelineOptions(list(user_args)), jvm_heap, kafka)
    flags = []
    for name, value in settings.items():
        if isinstance(value, list):
            flags.extend(f"--{name}={item}" for item in value)
        else:
            flags.append(f"--{name}={value}")
    return flags


def configure(options, *, jvm_heap: Optional[str] = None, kafka: bool = False):
    """Completes Beam ``PipelineOptions`` in place for a local embedded Flink and returns them.

    Applies the same settings as :func:`local_flink_args`; options already set are kept.

    Args:
        options: the ``PipelineOptions`` of a run whose runner is ``FlinkRunner`` or ``flink``.
        jvm_heap: a maximum heap for the job server JVM, e.g. ``"2g"``.
        kafka: use the job server whose class path holds KafkaIO.

    Returns:
        The same ``options`` object.
    """
    from apache_beam.options.pipeline_options import (  # pylint: disable=import-outside-toplevel
        FlinkRunnerOptions, JobServerOptions, PortableOptions, StandardOptions)
    views = {
        "runner": StandardOptions, "flink_master": FlinkRunnerOptions,
        "flink_version": FlinkRunnerOptions, "flink_job_server_jar": FlinkRunnerOptions,
        "environment_type": PortableOptions, "job_server_jvm_properties": JobServerOptions,
    }
    for name, value in _local_settings(options, jvm_heap, kafka).items():
        setattr(options.view_as(views[name]), name, value)
    return options


def is_local_flink(options) -> bool:
    """Whether ``options`` run on a local embedded Flink (FlinkRunner with no cluster master)."""
    from apache_beam.options.pipeline_options import (  # pylint: disable=import-outside-toplevel
        FlinkRunnerOptions, StandardOptions)
    runner = str(options.view_as(StandardOptions).runner or "").lower()
    master = (options.view_as(FlinkRunnerOptions).flink_master or "[auto]").strip()
    return runner in ("flink", "flinkrunner") and master in LOCAL_MASTERS


def check_sdk_version() -> Optional[str]:
    """A warning text when the installed Python SDK differs from the job server's Beam version."""
    import apache_beam  # pylint: disable=import-outside-toplevel
    if apache_beam.__version__ == BEAM_VERSION:
        return None
    return (f"the Python SDK is apache-beam {apache_beam.__version__} but the Flink job server "
            f"is Beam {BEAM_VERSION}; Beam supports matching versions only")


class _JavaService:
    """A Java server process of ours on a localhost port: start, wait until it answers, stop."""

    description = "Java service"

    def __init__(self, port: Optional[int] = None, *, jvm_heap: Optional[str] = None,
                 log_path: Optional[str] = None):
        self.port = port
        self.jvm_heap = jvm_heap
        self.log_path = log_path
        self._process: Optional[subprocess.Popen] = None
        self._workdir: Optional[str] = None

    @property
    def pid(self) -> Optional[int]:
        """The JVM's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def _command(self, launcher: pathlib.Path) -> List[str]:
        raise NotImplementedError

    def _launcher(self) -> pathlib.Path:
        raise NotImplementedError

    def start(self, timeout_s: float = 120.0):
        """Starts the JVM and waits until its port accepts connections; returns ``self``.

        Raises:
            FlinkRunnerError: Java is missing, or the process exited or did not answer in time
                (the message carries the end of its log).
        """
        launcher = self._launcher()
        self.port = self.port or _free_port()
        self._workdir = tempfile.mkdtemp(prefix="winnow-flink-")
        self.log_path = self.log_path or os.path.join(self._workdir, "service.log")
        command = [_java()] + ([f"-Xmx{self.jvm_heap}"] if self.jvm_heap else [])
        command += self._command(launcher)
        with open(self.log_path, "wb") as log_file:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self._log_tail()
                code = self._process.returncode
                self.stop()
                raise FlinkRunnerError(f"the {self.description} exited with {code}:\n{tail}")
            if _port_open(self.port):
                return self
            time.sleep(0.2)
        tail = self._log_tail()
        self.stop()
        raise FlinkRunnerError(
            f"the {self.description} did not answer in {timeout_s:.0f} s:\n{tail}")

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stops the JVM (SIGTERM, then SIGKILL after ``timeout_s``) and removes its temp files."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return _last_lines(handle.read(), lines)
        except (OSError, TypeError):
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class LocalJobServer(_JavaService):
    """A long-lived Flink job server with an embedded MiniCluster, for several pipelines.

    ``--runner=FlinkRunner`` alone starts a fresh job server JVM for every pipeline (about
    5 s and 0.8-1 GB each), and Beam keeps each one until the Python process exits. Tests and
    scripts that run several pipelines can start one server and point every run at it with
    :meth:`pipeline_args`.

    Example::

        with flink_runner.LocalJobServer() as server:
            options = PipelineOptions(server.pipeline_args())

    Args:
        port: the job service port; a free one when ``None``.
        jvm_heap: a maximum heap for the JVM, e.g. ``"2g"`` (default: Java's own).
        log_path: where the JVM's output goes (default: a file in a temporary folder that
            :meth:`stop` removes).
        kafka: put KafkaIO on the class path (for cross-language ``ReadFromKafka``).
    """

    description = "Flink job server"

    def __init__(self, port: Optional[int] = None, *, jvm_heap: Optional[str] = None,
                 log_path: Optional[str] = None, kafka: bool = False):
        super().__init__(port, jvm_heap=jvm_heap, log_path=log_path)
        self.kafka = kafka

    @property
    def endpoint(self) -> str:
        """The job service address, ``"localhost:PORT"``."""
        return f"localhost:{self.port}"

    def pipeline_args(self) -> List[str]:
        """The Beam flags that send a pipeline to this server, with LOOPBACK workers."""
        return ["--runner=PortableRunner", f"--job_endpoint={self.endpoint}",
                "--environment_type=LOOPBACK"]

    def _launcher(self) -> pathlib.Path:
        return ensure_job_server(kafka=self.kafka)

    def _command(self, launcher: pathlib.Path) -> List[str]:
        # The job server binds its job and artifact ports on all interfaces; --job-host only
        # names the address it reports.
        return ["-jar", str(launcher), "--flink-master=[local]", "--job-host=localhost",
                f"--job-port={self.port}", "--artifact-port=0", "--expansion-port=0",
                f"--artifacts-dir={os.path.join(self._workdir, 'artifacts')}"]


class KafkaExpansionService(_JavaService):
    """Beam's Java expansion service with KafkaIO, declaring the EMBEDDED Java environment.

    Pipelines expanded by it run KafkaIO inside the Flink job server (which must have been
    started with ``kafka=True``), so no Docker is needed. Pass :attr:`address` as
    ``ReadFromKafka(..., expansion_service=address)``. The Python SDK must be Beam
    :data:`BEAM_VERSION`.

    Args:
        port: the expansion service port; a free one when ``None``.
        jvm_heap: a maximum heap for the JVM, e.g. ``"512m"``.
        log_path: where the JVM's output goes (default: a temporary file).
    """

    description = "Kafka expansion service"

    @property
    def address(self) -> str:
        """The expansion service address, ``"localhost:PORT"``."""
        return f"localhost:{self.port}"

    def _launcher(self) -> pathlib.Path:
        return ensure_kafka_expansion_service()

    def _command(self, launcher: pathlib.Path) -> List[str]:
        return ["-jar", str(launcher), str(self.port), "--defaultEnvironmentType=EMBEDDED"]


def _local_settings(options, jvm_heap: Optional[str], kafka: bool) -> Dict[str, object]:
    """The options (by their Python names) that a local Flink run still lacks."""
    from apache_beam.options.pipeline_options import (  # pylint: disable=import-outside-toplevel
        FlinkRunnerOptions, JobServerOptions, PortableOptions, StandardOptions)
    settings: Dict[str, object] = {}
    runner = options.view_as(StandardOptions).runner
    if runner is None or str(runner).lower() in ("flink", "flinkrunner"):
        settings["runner"] = "FlinkRunner"
    flink = options.view_as(FlinkRunnerOptions)
    portable = options.view_as(PortableOptions)
    master = (flink.flink_master or "[auto]").strip()
    if master == "[auto]":
        settings["flink_master"] = "[local]"
        master = "[local]"
    if not flink.flink_job_server_jar and not portable.job_endpoint:
        settings["flink_version"] = FLINK_VERSION
        settings["flink_job_server_jar"] = str(ensure_job_server(kafka=kafka))
    if (master in LOCAL_MASTERS or portable.job_endpoint) and not portable.environment_type:
        settings["environment_type"] = "LOOPBACK"
    jvm_properties = list(options.view_as(JobServerOptions).job_server_jvm_properties or [])
    if jvm_heap and not any(item.startswith("-Xmx") for item in jvm_properties):
        settings["job_server_jvm_properties"] = jvm_properties + [f"-Xmx{jvm_heap}"]
    warning = check_sdk_version()
    if warning:
        _LOGGER.warning("%s", warning)
    return settings


def _cached_jars(bundle: _Bundle) -> Optional[List[str]]:
    """The jar names of a completely cached bundle, else ``None``."""
    folder = jar_cache_dir() / bundle.folder
    marker = folder / _COMPLETE_MARKER
    if not marker.is_file():
        return None
    jars = marker.read_text(encoding="utf-8").split()
    if not jars or not all((folder / LIB_DIR / name).is_file() for name in jars):
        return None
    return jars


def _ensure_bundle(bundle: _Bundle) -> List[str]:
    """Fetches a bundle with Maven unless it is cached; returns its jar names."""
    jars = _cached_jars(bundle)
    if jars is not None:
        return jars
    target = jar_cache_dir() / bundle.folder
    mvn = shutil.which("mvn")
    if mvn is None:
        raise FlinkRunnerError(f"{bundle.folder} is not cached in {target} and Maven (mvn) is "
                               "not on the PATH to fetch it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{bundle.folder}-", dir=target.parent))
    os.chmod(staging, 0o755)
    try:
        (staging / "pom.xml").write_text(_pom(bundle), encoding="utf-8")
        command = [
            mvn, "-B", "-q", "-U", "-f", str(staging / "pom.xml"),
            f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={staging / LIB_DIR}", "-DincludeScope=runtime",
        ]
        _LOGGER.info("Fetching %s with Maven into %s", bundle.folder, target)
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, check=False)
        if result.returncode != 0:
            raise FlinkRunnerError(
                f"Maven could not fetch {bundle.folder} (exit {result.returncode}):\n"
                f"{_last_lines(result.stdout, 40)}")
        jars = sorted(path.name for path in (staging / LIB_DIR).glob("*.jar"))
        if bundle.required_jar not in jars:
            raise FlinkRunnerError(
                f"Maven finished but {bundle.required_jar} did not arrive in {staging}")
        (staging / _COMPLETE_MARKER).write_text("\n".join(jars) + "\n", encoding="utf-8")
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished first, or a stale incomplete folder is in the way.
            if _cached_jars(bundle) is None:
                shutil.rmtree(target, ignore_errors=True)
                os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    jars = _cached_jars(bundle)
    if jars is None:
        raise FlinkRunnerError(f"the cache in {target} is incomplete")
    return jars


def _pom(bundle: _Bundle) -> str:
    entries = []
    for group, artifact, version, excluded_groups in bundle.dependencies:
        exclusions = "".join(
            f"<exclusion><groupId>{excluded}</groupId><artifactId>*</artifactId></exclusion>"
            for excluded in excluded_groups)
        if exclusions:
            exclusions = f"<exclusions>{exclusions}</exclusions>"
        entries.append(f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}"
                       f"</artifactId><version>{version}</version>{exclusions}</dependency>")
    dependency_xml = "\n".join(entries)
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>winnow.local</groupId>\n"
        f"  <artifactId>{bundle.folder}</artifactId>\n"
        "  <version>1</version>\n"
        "  <packaging>pom</packaging>\n"
        f"  <dependencies>\n{dependency_xml}\n  </dependencies>\n"
        "</project>\n")


def _manifest_line(name: str, value: str) -> str:
    """One manifest attribute, wrapped at 72 bytes as the JAR specification requires."""
    text = f"{name}: {value}".encode("utf-8")
    pieces = [text[:72]]
    rest = text[72:]
    while rest:
        pieces.append(b" " + rest[:71])
        rest = rest[71:]
    return "\r\n".join(piece.decode("utf-8") for piece in pieces) + "\r\n"


def _launcher_entries(main_class: str, class_path: Sequence[str]) -> Dict[str, str]:
    """The files of a launcher jar: a manifest that starts ``main_class``, and log settings."""
    manifest = (
        _manifest_line("Manifest-Version", "1.0")
        + _manifest_line("Created-By", "winnow pipelines.flink_runner")
        + _manifest_line("Main-Class", main_class)
        + _manifest_line("Add-Opens", " ".join(_JAVA_OPENS))
        + _manifest_line("Class-Path", " ".join(class_path))
        + "\r\n")
    return {"META-INF/MANIFEST.MF": manifest, "simplelogger.properties": _SIMPLELOGGER_PROPERTIES}


def _ensure_launcher(path: pathlib.Path, main_class: str, class_path: Sequence[str]) -> None:
    """Writes a class-less launcher jar unless an identical one is there already.

    The class path entries are relative to the jar's folder (so the cache can move as a whole).
    The jar is written under a temporary name and renamed, so readers never see half of it.
    """
    entries = _launcher_entries(main_class, class_path)
    try:
        with zipfile.ZipFile(path) as archive:
            current = {name: archive.read(name).decode("utf-8") for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError):
        current = None
    if current == entries:
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    os.replace(partial, path)


def _java() -> str:
    java = java_executable()
    if java is None:
        raise FlinkRunnerError("Java (17 or later) is needed for the Flink job server and is "
                               "not on the PATH")
    return java


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _last_lines(text: str, lines: int) -> str:
    return "\n".join((text or "").splitlines()[-lines:])


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m pipelines.flink_runner ensure-jars [--kafka] | args [BEAM FLAGS...]``."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.flink_runner",
                                     description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ensure_parser = commands.add_parser(
        "ensure-jars", help="fetch and cache the job server; print its launcher jar")
    ensure_parser.add_argument("--kafka", action="store_true",
                               help="also the KafkaIO jars and the Kafka expansion service")
    commands.add_parser("args", help="print the extra flags for a local Flink, given the "
                        "Beam flags that follow")
    parsed, beam_args = parser.parse_known_args(argv)
    if beam_args and parsed.command != "args":
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if parsed.command == "ensure-jars":
            print(ensure_job_server(kafka=parsed.kafka))
            if parsed.kafka:
                print(ensure_kafka_expansion_service())
        else:
            print(" ".join(local_flink_args(beam_args)))
    except FlinkRunnerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
