"""Launching a run: options, the pipeline, the ``runs`` row, and Kafka offset commits.

:func:`run` is what ``winnow run`` calls. After the pipeline finishes it records the run (status,
config, versions, counts) in ``lineage/runs/``; only then, and only on success, does it commit the
Kafka offsets the run read, so a failed run is simply read again by the next one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import importlib.metadata
import logging
import os
import subprocess
from typing import Dict, Iterator, List, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from lineage import openlineage
from lineage.store import open_store
from pipelines import build, progress
from pipelines.config import ConfigError, WinnowConfig
from pipelines.layout import OutputLayout, new_run_id
from schemas import lineage as lineage_schema

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class RunSummary:
    run_id: str
    status: str
    layout: OutputLayout
    counts: Optional[Dict[str, int]]
    error: Optional[str] = None
    report: Optional[str] = None  # the HTML run report


def check_input(config: WinnowConfig) -> None:
    """Fails early, before any pipeline starts, on a missing input or output."""
    if not config.input:
        raise ConfigError("no input: give --input PATH_OR_GLOB or kafka://HOST:PORT/TOPIC, "
                          "or 'input:' in the config")
    if not config.output:
        raise ConfigError("no output: give --output DIR or 'output:' in the config")
    if config.input.startswith(build.KAFKA_SCHEME):
        try:
            build.parse_kafka_url(config.input)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if config.source.kafka.commit and _commits_from_lineage(config) and "://" in config.output:
            raise ConfigError(
                "this Kafka run commits the offsets its lineage records, and Winnow reads lineage "
                f"from a local output folder only, not {config.output!r}: use a local output, "
                "or set source.kafka.commit: false and commit the source_ranges yourself")
        return
    pattern = os.path.join(config.input, "*") if os.path.isdir(config.input) else config.input
    matched = FileSystems.match([pattern])[0].metadata_list
    if not matched:
        raise ConfigError(f"input {config.input!r} matches no file")


def pipeline_options(config: WinnowConfig, beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options from the config's ``beam_options`` and the command line (which wins)."""
    flags: List[str] = []
    for key, value in config.beam_options.items():
        if isinstance(value, bool):
            if value:
                flags.append(f"--{key}")
        elif isinstance(value, list):
            flags.extend(f"--{key}={item}" for item in value)
        else:
            flags.append(f"--{key}={value}")
    flags.extend(beam_args)
    options = PipelineOptions(flags)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = "DirectRunner"
    if config.input.startswith(build.KAFKA_SCHEME) and not config.source.kafka.bounded:
        standard.streaming = True
        if standard.runner == "DirectRunner":
            # Beam's Python DirectRunner holds the watermark of an unbounded splittable DoFn, so
            # its windows never fire; Beam's Prism runner (built once, see pipelines.prism) runs
            # the same pipeline locally.
            from pipelines import prism  # pylint: disable=import-outside-toplevel
            options = PipelineOptions(flags + prism.prism_options())
            options.view_as(StandardOptions).streaming = True
    java_kafka = _reads_kafka_with_java(config)
    if java_kafka and standard.runner in ("DirectRunner", "PrismRunner", "direct", "prism"):
        raise ConfigError(
            "source.kafka.reader beam-java runs Beam's Java KafkaIO, which the DirectRunner "
            "cannot run: use --runner=FlinkRunner (a local embedded Flink, or a cluster with "
            "--flink_master) or DataflowRunner, or reader kafka-python")
    if standard.runner in ("FlinkRunner", "flink"):
        from pipelines import flink_runner  # pylint: disable=import-outside-toplevel
        options = flink_runner.configure(options, kafka=java_kafka)
    return options


def _reads_kafka_with_java(config: WinnowConfig) -> bool:
    return (config.input.startswith(build.KAFKA_SCHEME)
            and config.source.kafka.reader == "beam-java")


def _commits_from_lineage(config: WinnowConfig) -> bool:
    """Whether a Kafka run learns what to commit from its lineage rather than from a plan: a
    streaming read, or a Java KafkaIO read (neither stops at planned offsets)."""
    return not config.source.kafka.bounded or _reads_kafka_with_java(config)


@contextlib.contextmanager
def _source_services(config: WinnowConfig, options: PipelineOptions) -> Iterator[WinnowConfig]:
    """Starts what the source needs while the run lasts; yields the config to build with.

    Only the beam-java Kafka reader needs anything: a Java expansion service (see
    :func:`pipelines.sources.kafka_java.expansion_service`).
    """
    if not _reads_kafka_with_java(config):
        yield config
        return
    from pipelines.sources import kafka_java  # pylint: disable=import-outside-toplevel
    kafka = config.source.kafka
    with kafka_java.expansion_service(kafka.expansion_service, options) as address:
        yield config.model_copy(update={"source": config.source.model_copy(update={
            "kafka": kafka.model_copy(update={"expansion_service": address})})})


def _code_version() -> Optional[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        return subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def run_counts(output_dir: str, run_id: str) -> Optional[Dict[str, int]]:
    """Records read, written, dropped and dead-lettered by a run, from its lineage.

    None for an output on a remote filesystem (gs://, s3://, ...): the lineage queries read local
    folders; query such output with any Parquet engine (see the README).
    """
    if "://" in output_dir:
        return None
    connection = open_store(output_dir)
    read = connection.execute("SELECT count(*) FROM records WHERE run_id = ?",
                              [run_id]).fetchone()[0]
    counts = {"read": read, "written": 0, "dropped": 0, "errored": 0}
    for action, count in connection.execute(
            "SELECT action, count(*) FROM events WHERE run_id = ? AND action IN "
            "('written', 'dropped', 'errored') GROUP BY action", [run_id]).fetchall():
        counts[action] = count
    return counts


def write_run_row(layout: OutputLayout, row: dict) -> None:
    folder = layout.lineage_table("runs")
    if "://" not in folder:
        os.makedirs(folder, exist_ok=True)
    table = pa.Table.from_pylist([row], schema=lineage_schema.RUNS)
    with FileSystems.create(f"{folder}/{row['run_id']}.parquet") as handle:
        pq.write_table(table, handle, compression="zstd")


def _commit_kafka_offsets(config: WinnowConfig, source, layout: OutputLayout,
                          run_id: str) -> None:
    """Commits what the run read: the planned end offsets of a bounded kafka-python read, or the
    ranges that a streaming or Java KafkaIO read recorded in the lineage."""
    # pylint: disable=import-outside-toplevel
    from pipelines import kafka_io
    from pipelines.sources.kafka import offsets_to_commit
    bootstrap, _ = build.parse_kafka_url(config.input)
    if not _commits_from_lineage(config):
        offsets = offsets_to_commit(source.plans)
    else:
        connection = open_store(layout.root)
        offsets = offsets_to_commit(dict(zip(("source", "partition", "end_offset"), row))
                                    for row in connection.execute(
            "SELECT source, \"partition\", max(end_offset) FROM source_ranges "
            "WHERE run_id = ? GROUP BY ALL", [run_id]).fetchall())
    if offsets:
        kafka_io.commit_offsets(bootstrap, config.source.kafka.group, offsets)
        _LOG.info("committed offsets for group %s: %s", config.source.kafka.group, offsets)


def run(config: WinnowConfig, beam_args: Sequence[str] = (),
        run_id: Optional[str] = None, quiet: bool = True) -> RunSummary:
    """Runs the pipeline described by ``config`` and records it; raises on failure."""
    check_input(config)
    options = pipeline_options(config, beam_args)
    layout = OutputLayout(config.output.rstrip("/"))
    run_id = run_id or new_run_id()
    started = datetime.datetime.now(datetime.timezone.utc)
    config_json = config.to_json()
    runs_row = {
        "run_id": run_id,
        "started_at": started,
        "input": config.input,
        "stages": [stage.name for stage in config.stage_configs()],
        "config": config_json,
        "config_sha256": hashlib.sha256(config_json.encode()).hexdigest(),
        "winnow_version": _version("winnow"),
        "code_version": _code_version(),
        "beam_version": beam.__version__,
        "runner": str(options.view_as(StandardOptions).runner),
    }
    _LOG.info("run %s: %s -> %s", run_id, config.input, layout.root)
    openlineage.run_started(config, run_id)
    try:
        with _source_services(config, options) as build_config:
            pipeline = beam.Pipeline(options=options)
            source = build.build_pipeline(pipeline, build_config, run_id, layout)
            progress.run_pipeline(pipeline, quiet=quiet, title=f"winnow {run_id}")
    except BaseException as error:
        openlineage.run_failed(config, run_id, error)
        write_run_row(layout, dict(
            runs_row, status="failed", error=f"{type(error).__name__}: {error}",
            finished_at=datetime.datetime.now(datetime.timezone.utc), counts=None))
        raise
    counts = run_counts(layout.root, run_id)
    write_run_row(layout, dict(runs_row, status="succeeded", error=None,
                               finished_at=datetime.datetime.now(datetime.timezone.utc),
                               counts=sorted(counts.items()) if counts else None))
    openlineage.run_completed(config, run_id)
    if config.input.startswith(build.KAFKA_SCHEME) and config.source.kafka.commit:
        _commit_kafka_offsets(config, source, layout, run_id)
    from lineage.report import write_report_after_run  # pylint: disable=import-outside-toplevel
    report = None if "://" in layout.root else write_report_after_run(layout.root, run_id)
    return RunSummary(run_id, "succeeded", layout, counts, report=report)
