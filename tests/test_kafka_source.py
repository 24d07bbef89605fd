"""The Kafka source against a real local broker: bounded reads, resuming from committed offsets,
offset accounting, start positions and unbounded (streaming) reads."""

import collections
import logging
import shutil
import threading
import time
import uuid

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from kafka import KafkaProducer

from pipelines import kafka_io, prism
from pipelines.sources import kafka as kafka_source
from pipelines.sources.kafka import ReadKafkaMessages, offsets_to_commit, planned_ranges
from schemas import raw

# Pipelines run on the in-process FnApiRunner, named in full (older Beam releases know no short
# name for it). The DirectRunner would first try to download Prism, and only then fall back to it.
FN_API_RUNNER = "--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"
PARTITIONS = 3


def _new_topic(bootstrap, partitions=PARTITIONS):
    topic = f"test-{uuid.uuid4().hex[:10]}"
    kafka_io.create_topic(bootstrap, topic, partitions)
    return topic


def _write_lines(path, lines):
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _produce(bootstrap, topic, tmp_path, lines, name="batch.jsonl"):
    """Sends lines round-robin over the topic's partitions; returns how many were sent."""
    return kafka_io.produce_jsonl(_write_lines(tmp_path / name, lines), bootstrap, topic)


def _documents(first, count):
    return [b'{"id": %d, "text": "document %d"}' % (i, i) for i in range(first, first + count)]


def _message_facts(message, timestamp=beam.DoFn.TimestampParam):
    """What a test checks of a RawMessage, as a comparable tuple."""
    assert message.timestamp_ms is not None
    assert timestamp.micros == message.timestamp_ms * 1000
    return (message.source_kind, message.source, message.partition, message.offset,
            message.payload, message.key)


def _bounded_read(bootstrap, topic, **read_args):
    """Builds a bounded-read pipeline; returns (pipeline, transform, facts, ranges)."""
    pipeline = TestPipeline(options=PipelineOptions([FN_API_RUNNER]))
    read = ReadKafkaMessages(bootstrap, topic, **read_args)
    messages, ranges = pipeline | read
    facts = messages | "Facts" >> beam.Map(_message_facts)
    return pipeline, read, facts, ranges


def _range(topic, partition, start, end, read, skipped=0):
    return {"source_kind": raw.KAFKA, "source": topic, "partition": partition,
            "start_offset": start, "end_offset": end, "messages_read": read, "skipped": skipped}


def test_bounded_read_then_resume_from_committed(kafka_broker, tmp_path):
    topic = _new_topic(kafka_broker)
    group = f"group-{topic}"
    malformed = [b"\xff\xfe not utf-8", b"{not json", b"[1, 2, 3]", b'{"text": 42}']
    first_lines = _documents(0, 16) + malformed
    assert _produce(kafka_broker, topic, tmp_path, first_lines) == len(first_lines)
    with KafkaProducer(bootstrap_servers=kafka_broker) as producer:
        producer.send(topic, key=b"deleted-doc", value=None, partition=1).get(timeout=30)

    # Line i went to partition i % 3 at offset i // 3; the tombstone follows on partition 1.
    expected = [(raw.KAFKA, topic, i % PARTITIONS, i // PARTITIONS, line, None)
                for i, line in enumerate(first_lines)]
    tombstone_offset = len(range(1, len(first_lines), PARTITIONS))
    expected.append((raw.KAFKA, topic, 1, tombstone_offset, None, b"deleted-doc"))
    ends = {partition: sum(1 for fact in expected if fact[2] == partition)
            for partition in range(PARTITIONS)}

    pipeline, read, facts, ranges = _bounded_read(kafka_broker, topic, group=group)
    assert_that(facts, equal_to(expected), label="AllMessages")
    assert_that(ranges, equal_to([_range(topic, p, 0, ends[p], ends[p]) for p in ends]),
                label="Ranges")
    pipeline.run().wait_until_finish()
    assert [(plan.partition, plan.start_offset, plan.end_offset) for plan in read.plans] == [
        (p, 0, ends[p]) for p in range(PARTITIONS)]

    # More data arrives; the launcher commits what the first run read; the next run reads only
    # the new messages.
    second_lines = _documents(100, 7)
    _produce(kafka_broker, topic, tmp_path, second_lines, name="more.jsonl")
    kafka_io.commit_offsets(kafka_broker, group, offsets_to_commit(read.plans))
    assert kafka_io.committed_offsets(kafka_broker, group, topic) == ends

    appended = {partition: ends[partition] for partition in range(PARTITIONS)}
    expected_new = []
    for i, line in enumerate(second_lines):
        partition = i % PARTITIONS
        expected_new.append((raw.KAFKA, topic, partition, appended[partition], line, None))
        appended[partition] += 1

    pipeline, read, facts, ranges = _bounded_read(kafka_broker, topic, group=group)
    assert_that(facts, equal_to(expected_new), label="NewMessages")
    assert_that(ranges, equal_to([
        _range(topic, p, ends[p], appended[p], appended[p] - ends[p]) for p in ends]),
        label="NewRanges")
    pipeline.run().wait_until_finish()


@pytest.mark.parametrize("split_offsets", [None, 3], ids=["whole", "split"])
def test_transaction_markers_are_counted_as_skipped(kafka_broker, monkeypatch, split_offsets):
    if split_offsets:
        # Pieces [0, 3) [3, 6) [6, 8): two of them start or end on a marker.
        monkeypatch.setattr(kafka_source, "INITIAL_SPLIT_OFFSETS", split_offsets)
    topic = _new_topic(kafka_broker, partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka_broker,
                             transactional_id=f"tx-{topic}")
    try:
        producer.init_transactions()
        for batch in range(2):
            producer.begin_transaction()
            for i in range(3):
                producer.send(topic, value=b'{"text": "tx %d-%d"}' % (batch, i), partition=0)
            producer.commit_transaction()
    finally:
        producer.close()
    # Offsets: 3 messages, a commit marker, 3 messages, a commit marker.
    pipeline, _, facts, ranges = _bounded_read(
        kafka_broker, topic, start="earliest",
        consumer_config={"isolation_level": "read_committed"})
    assert_that(facts | beam.Map(lambda fact: fact[3]), equal_to([0, 1, 2, 4, 5, 6]),
                label="Offsets")
    assert_that(ranges, equal_to([_range(topic, 0, 0, 8, 6, skipped=2)]), label="Ranges")
    pipeline.run().wait_until_finish()


def test_start_positions_and_caps(kafka_broker, tmp_path):
    topic = _new_topic(kafka_broker)
    _produce(kafka_broker, topic, tmp_path, _documents(0, 9))  # 3 per partition
    time.sleep(0.05)
    middle_ms = int(time.time() * 1000)
    time.sleep(0.05)
    _produce(kafka_broker, topic, tmp_path, _documents(9, 6), name="later.jsonl")  # 2 more each

    def spans(**args):
        return [(plan.partition, plan.start_offset, plan.end_offset)
                for plan in planned_ranges(kafka_broker, topic, **args)]

    assert spans(start="earliest") == [(0, 0, 5), (1, 0, 5), (2, 0, 5)]
    assert spans(start="committed", group=f"never-{topic}") == spans(start="earliest")
    assert spans(start="latest") == [(0, 5, 5), (1, 5, 5), (2, 5, 5)]
    assert spans(start=middle_ms) == [(0, 3, 5), (1, 3, 5), (2, 3, 5)]
    assert spans(start={2: 4, 0: 1}) == [(0, 1, 5), (2, 4, 5)]
    # A total cap is shared out over the partitions; unbounded reads cap each partition.
    assert spans(start="earliest", max_records=7) == [(0, 0, 3), (1, 0, 2), (2, 0, 2)]
    assert spans(start={0: 4, 1: 0}, max_records=4) == [(0, 4, 5), (1, 0, 3)]
    assert spans(start="latest", bounded=False) == [(0, 5, None), (1, 5, None), (2, 5, None)]
    assert spans(start="earliest", bounded=False, max_records=2) == [
        (0, 0, 2), (1, 0, 2), (2, 0, 2)]
    with pytest.raises(ValueError, match="no partition"):
        spans(start={7: 0})
    with pytest.raises(ValueError, match="outside"):
        spans(start={0: 99})
    with pytest.raises(ValueError, match="does not exist"):
        planned_ranges(kafka_broker, f"missing-{topic}")
    with pytest.raises(ValueError, match="start must be"):
        ReadKafkaMessages(kafka_broker, topic, start="newest")

    # An empty range (start == end) still yields its partition's range.
    pipeline, _, facts, ranges = _bounded_read(kafka_broker, topic, start={0: 5, 1: 3})
    assert_that(facts | beam.Map(lambda fact: (fact[2], fact[3])), equal_to([(1, 3), (1, 4)]),
                label="Offsets")
    assert_that(ranges, equal_to([_range(topic, 0, 5, 5, 0), _range(topic, 1, 3, 5, 2)]),
                label="Ranges")
    pipeline.run().wait_until_finish()


def _streaming_runner_flags(runner):
    if runner == "PrismRunner":
        if not prism.prism_path().is_file() and shutil.which("go") is None:
            pytest.skip("Prism is not cached and no Go toolchain is installed to build it")
        # Beam stops its Prism job server at interpreter exit and logs a warning then, after
        # pytest has closed the log streams; keep that warning quiet.
        logging.getLogger("apache_beam.utils.subprocess_server").setLevel(logging.ERROR)
        return prism.prism_options()
    return [FN_API_RUNNER]


@pytest.mark.parametrize("runner", ["FnApiRunner", "PrismRunner"])
def test_unbounded_read_follows_new_messages_until_idle(kafka_broker, tmp_path, runner):
    flags = _streaming_runner_flags(runner)
    topic = _new_topic(kafka_broker)
    early = _documents(0, 9)
    late = _documents(9, 6)
    _produce(kafka_broker, topic, tmp_path, early)
    _SEEN.clear()
    _READING.clear()

    def produce_late():
        # Once the pipeline reads, send more: the source must pick them up while it runs.
        if _READING.wait(timeout=120):
            time.sleep(1)
        _produce(kafka_broker, topic, tmp_path, late, name="late.jsonl")

    pipeline = beam.Pipeline(options=PipelineOptions(["--streaming", *flags]))
    messages, ranges = pipeline | ReadKafkaMessages(
        kafka_broker, topic, start="earliest", bounded=False, idle_timeout_s=5,
        poll_timeout_ms=200)
    # Outputs are gathered in this process rather than with assert_that, whose streaming form
    # some Prism releases cannot run.
    _ = messages | "NotePayloads" >> beam.FlatMap(_note, "payloads")
    _ = ranges | "NoteRanges" >> beam.FlatMap(_note, "ranges")
    producer_thread = threading.Thread(target=produce_late, daemon=True)
    producer_thread.start()
    pipeline.run().wait_until_finish()
    producer_thread.join()

    assert sorted(message.payload for message in _SEEN["payloads"]) == sorted(early + late)
    # Stretches of a partition are contiguous and account for every offset it holds (5 each).
    stretches = sorted(_SEEN["ranges"], key=lambda r: (r["partition"], r["start_offset"]))
    for partition in range(PARTITIONS):
        pieces = [piece for piece in stretches if piece["partition"] == partition]
        assert pieces, stretches
        assert pieces[0]["start_offset"] == 0 and pieces[-1]["end_offset"] == 5, pieces
        for previous, piece in zip(pieces, pieces[1:]):
            assert piece["start_offset"] == previous["end_offset"], pieces
        assert sum(piece["messages_read"] for piece in pieces) == 5, pieces
        assert all(piece["skipped"] == 0 for piece in pieces), pieces


# What the pipeline saw, by kind. The local runners used here execute DoFns in this process, and
# module-level functions are pickled by reference, so the pipeline and the test share these.
_SEEN = collections.defaultdict(list)
_READING = threading.Event()


def _note(element, kind):
    _SEEN[kind].append(element)
    _READING.set()
    return []


def test_unbounded_read_stops_at_max_records(kafka_broker, tmp_path):
    topic = _new_topic(kafka_broker)
    _produce(kafka_broker, topic, tmp_path, _documents(0, 12))  # 4 per partition
    pipeline = beam.Pipeline(options=PipelineOptions(["--streaming", FN_API_RUNNER]))
    messages, _ = pipeline | ReadKafkaMessages(
        kafka_broker, topic, start="earliest", bounded=False, max_records=3)
    assert_that(messages | beam.Map(lambda message: (message.partition, message.offset)),
                equal_to([(p, o) for p in range(PARTITIONS) for o in range(3)]))
    pipeline.run().wait_until_finish()
