"""Smoke test: a small pipeline on a local embedded Flink (Beam's portable Flink runner).

The pipeline touches each piece of the portable machinery that Winnow relies on: Create, Map,
GroupByKey, a stateful DoFn (``beam.transforms.userstate``) and a bounded splittable DoFn
(``OffsetRange`` restrictions, split in two at the start), with text files as output. The
Python code runs in LOOPBACK workers inside the test process; the job server is the one
:mod:`pipelines.flink_runner` caches (the first run fetches it with Maven, about 150 MB).
"""

from __future__ import annotations

import glob
import logging
import os
import shutil

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import userstate
from apache_beam.transforms.core import RestrictionProvider

from pipelines import flink_runner

pytestmark = pytest.mark.flink

# With --runner=FlinkRunner, Beam keeps each job server JVM until the Python process exits and
# logs a warning while stopping it, after pytest has closed its captured streams ("Logging
# error"). Only that logger is quietened.
logging.getLogger("apache_beam.utils.subprocess_server").setLevel(logging.ERROR)

INPUT = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 1)]
# After doubling and grouping: a -> 8, b -> 6, c -> 8; the splittable DoFn emits 0..total-1.
EXPECTED_TOTALS = {"a": 8, "b": 6, "c": 8}


def _needs_java_and_jars() -> None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Java is not installed")
    if flink_runner.cached_job_server() is None and shutil.which("mvn") is None:
        pytest.skip("the Flink job server is not cached and Maven is not installed")


class NumberPerBucket(beam.DoFn):
    """Stateful: gives each element of a bucket a running number, kept in per-key state."""

    COUNT = userstate.ReadModifyWriteStateSpec("count", VarIntCoder())

    def process(self, element, count=beam.DoFn.StateParam(COUNT)):
        _, (key, total) = element
        number = (count.read() or 0) + 1
        count.write(number)
        yield key, total, number


class PositionsProvider(RestrictionProvider):
    """A bounded restriction [0, total) that is split in two halves before processing."""

    def initial_restriction(self, element):
        return OffsetRange(0, element[1])

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return restriction.size()

    def split(self, element, restriction):
        if restriction.size() < 2:
            yield restriction
            return
        middle = (restriction.start + restriction.stop) // 2
        yield OffsetRange(restriction.start, middle)
        yield OffsetRange(middle, restriction.stop)


class EmitPositions(beam.DoFn):
    """Splittable: emits ``key:position`` for every claimed position of the restriction."""

    def process(self, element, tracker=beam.DoFn.RestrictionParam(PositionsProvider())):
        key = element[0]
        position = tracker.current_restriction().start
        while tracker.try_claim(position):
            yield f"{key}:{position}"
            position += 1


def build(pipeline: beam.Pipeline, out_dir: str) -> None:
    totals = (
        pipeline
        | "Create" >> beam.Create(INPUT)
        | "Double" >> beam.Map(lambda kv: (kv[0], kv[1] * 2))
        | "Group" >> beam.GroupByKey()
        | "Sum" >> beam.MapTuple(lambda key, values: (key, sum(values))))
    numbered = (
        totals
        | "OneBucket" >> beam.Map(lambda kv: ("all", kv))
        | "Number" >> beam.ParDo(NumberPerBucket()))
    _ = (numbered
         | "FormatNumbers" >> beam.MapTuple(lambda key, total, number: f"{key} {total} {number}")
         | "WriteNumbers" >> beam.io.WriteToText(os.path.join(out_dir, "numbers")))
    _ = (numbered
         | "Positions" >> beam.ParDo(EmitPositions())
         | "WritePositions" >> beam.io.WriteToText(os.path.join(out_dir, "positions")))


def _read_lines(prefix: str):
    lines = []
    for path in glob.glob(prefix + "*"):
        with open(path, encoding="utf-8") as handle:
            lines.extend(line.rstrip("\n") for line in handle if line.strip())
    return sorted(lines)


def _check_output(out_dir: str) -> None:
    numbers = [line.split() for line in _read_lines(os.path.join(out_dir, "numbers"))]
    assert {key: int(total) for key, total, _ in numbers} == EXPECTED_TOTALS
    assert sorted(int(number) for _, _, number in numbers) == [1, 2, 3]
    expected = sorted(f"{key}:{position}" for key, total in EXPECTED_TOTALS.items()
                      for position in range(total))
    assert _read_lines(os.path.join(out_dir, "positions")) == expected


@pytest.mark.timeout(600)
def test_pipeline_runs_on_local_flink(tmp_path):
    """The production path: ``configure`` turns ``--runner=FlinkRunner`` into a local run."""
    _needs_java_and_jars()
    options = flink_runner.configure(PipelineOptions(["--runner=FlinkRunner", "--parallelism=2"]))
    with beam.Pipeline(options=options) as pipeline:
        build(pipeline, str(tmp_path))
    _check_output(str(tmp_path))


@pytest.mark.timeout(600)
def test_user_flags_win_and_remote_master_gets_no_loopback():
    _needs_java_and_jars()
    local = flink_runner.local_flink_args(["--runner", "flink"])
    assert "--runner=FlinkRunner" in local
    assert "--flink_master=[local]" in local
    assert "--environment_type=LOOPBACK" in local
    jar = [flag.split("=", 1)[1] for flag in local if flag.startswith("--flink_job_server_jar=")]
    assert len(jar) == 1 and os.path.isfile(jar[0])

    kept = flink_runner.local_flink_args(
        ["--runner=FlinkRunner", "--environment_type=PROCESS", "--flink_job_server_jar=x.jar"])
    assert not any(flag.startswith(("--environment_type", "--flink_job_server_jar"))
                   for flag in kept)

    remote = flink_runner.local_flink_args(["--runner=FlinkRunner", "--flink_master=host:8081"])
    assert not any(flag.startswith(("--environment_type", "--flink_master")) for flag in remote)


@pytest.mark.timeout(600)
def test_shared_job_server_runs_the_pipeline(tmp_path):
    """One long-lived job server (``LocalJobServer``) serves pipelines via PortableRunner."""
    _needs_java_and_jars()
    with flink_runner.LocalJobServer(jvm_heap="1g") as server:
        with beam.Pipeline(options=PipelineOptions(server.pipeline_args())) as pipeline:
            build(pipeline, str(tmp_path))
    _check_output(str(tmp_path))
