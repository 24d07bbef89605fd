"""Batch runs through Beam's Java KafkaIO (``source.kafka.reader: beam-java``) on a local Flink.

KafkaIO runs inside the local Flink job server (the EMBEDDED Java environment that Winnow's own
expansion service declares), against the real local broker. The checks are those of the
kafka-python reader: every offset accounted for in the lineage, and a rerun reads exactly the
messages that arrived since.
"""

import uuid

import apache_beam as beam
import pytest

from lineage.verify import passed, verify
from pipelines import flink_runner, kafka_io
from pipelines import run as launcher
from pipelines.config import ConfigError
from pipelines.sources.kafka_java import ReadKafkaWithJava, reader_group
from schemas import raw
from tests.test_kafka_pipeline import config, produce, read_rows

pytestmark = [pytest.mark.kafka, pytest.mark.flink]


@pytest.fixture
def java_kafka_args(flink_job_server):
    if flink_runner.check_sdk_version():
        pytest.fail(flink_runner.check_sdk_version())
    return flink_job_server.pipeline_args()


def _records(output, run_id):
    return [row for row in read_rows(output / "lineage" / "records") if row["run_id"] == run_id]


@pytest.mark.timeout(900)
def test_java_reader_accounts_for_every_offset_and_resumes_exactly(
        kafka_broker, java_kafka_args, tmp_path):
    topic = f"j-{uuid.uuid4().hex[:8]}"
    payloads = [b'{"id": "d%d", "text": "document number %d about rivers"}' % (i, i)
                for i in range(10)]
    payloads += [b"\xff\xfe not utf-8", b"{not json", None, b'{"text": 5}']
    first = produce(kafka_broker, topic, payloads)
    output = tmp_path / "out"
    settings = config(kafka_broker, topic, output, reader="beam-java")

    summary = launcher.run(settings, java_kafka_args)
    counts = summary.counts
    assert counts["read"] == len(payloads)
    assert counts["written"] + counts["dropped"] + counts["errored"] == len(payloads)
    assert counts["errored"] == 4
    assert passed(verify(str(output), summary.run_id))
    records = _records(output, summary.run_id)
    assert sorted((row["partition"], row["offset"]) for row in records) == sorted(first)
    ranges = read_rows(output / "lineage" / "source_ranges")
    assert sorted((row["partition"], row["start_offset"], row["end_offset"]) for row in ranges) \
        == [(partition, 0, sum(1 for p, _ in first if p == partition)) for partition in range(3)]
    reasons = {row["reason"] for row in read_rows(output / "quarantine")}
    assert {"invalid_utf8", "invalid_json", "empty_payload", "text_not_string"} <= reasons
    # KafkaIO read with its own group; the run's group got the offsets after the output.
    assert kafka_io.committed_offsets(kafka_broker, f"g-{topic}", topic) == {
        partition: sum(1 for p, _ in first if p == partition) for partition in range(3)}
    assert set(kafka_io.committed_offsets(kafka_broker, reader_group(f"g-{topic}"), topic)) \
        == {0, 1, 2}

    # More messages, all in one partition: the rerun reads exactly those.
    more = [b'{"id": "late-%d", "text": "a later document %d"}' % (i, i) for i in range(5)]
    second = produce(kafka_broker, topic, more, partitions=1)
    summary2 = launcher.run(settings, java_kafka_args)
    assert summary2.counts["read"] == len(more)
    records = _records(output, summary2.run_id)
    assert sorted((row["partition"], row["offset"]) for row in records) == sorted(second)
    assert {row["record_id"] for row in records} == {
        raw.record_id(raw.KAFKA, topic, partition, offset) for partition, offset in second}
    assert passed(verify(str(output)))  # both runs, offsets included

    # Nothing new: no read at all, and still a valid run.
    summary3 = launcher.run(settings, java_kafka_args)
    assert summary3.counts["read"] == 0
    assert passed(verify(str(output), summary3.run_id))


def test_java_reader_needs_a_runner_that_runs_java(kafka_broker, tmp_path):
    settings = config(kafka_broker, "any-topic", tmp_path / "out", reader="beam-java")
    with pytest.raises(ConfigError, match="DirectRunner"):
        launcher.pipeline_options(settings, ["--runner=DirectRunner"])
    with pytest.raises(ConfigError, match="bounded"):
        config(kafka_broker, "any-topic", tmp_path / "out", reader="beam-java", bounded=False)


def test_java_reader_wants_every_partition_named_in_explicit_offsets(kafka_broker):
    topic = f"j-{uuid.uuid4().hex[:8]}"
    produce(kafka_broker, topic, [b'{"text": "one"}', b'{"text": "two"}'])
    with pytest.raises(ValueError, match=r"partition\(s\) \[1, 2\]"):
        _ = beam.Pipeline() | ReadKafkaWithJava(kafka_broker, topic, start={0: 0})
