"""Whole runs from a real Kafka broker: every offset accounted for, resumable, streaming."""

import glob
import threading
import time
import uuid

import pyarrow.parquet as pq
import pytest
from kafka import KafkaConsumer, KafkaProducer

from lineage.verify import passed, verify
from pipelines import kafka_io
from pipelines import run as launcher
from pipelines.config import parse_config
from schemas import raw

pytestmark = pytest.mark.kafka


def produce(bootstrap, topic, payloads, partitions=3):
    """Sends payloads round-robin over the partitions; returns [(partition, offset)]."""
    kafka_io.create_topic(bootstrap, topic, partitions)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    futures = [producer.send(topic, key=b"k%d" % index, value=payload,
                             partition=index % partitions)
               for index, payload in enumerate(payloads)]
    producer.flush()
    coordinates = [(future.get(timeout=30).partition, future.get(timeout=30).offset)
                   for future in futures]
    producer.close()
    return coordinates


def consume_all(bootstrap, topic):
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000)
    messages = list(consumer)
    consumer.close()
    return messages


def config(bootstrap, topic, output, **kafka):
    return parse_config({
        "input": f"kafka://{bootstrap}/{topic}", "output": str(output),
        "stages": ["normalize", "exact_dedup"],
        "source": {"kafka": dict({"group": f"g-{topic}"}, **kafka)},
    })


def read_rows(folder):
    files = glob.glob(f"{folder}/*.parquet")
    return [row for path in files for row in pq.read_table(path).to_pylist()]


def test_bounded_runs_account_for_every_offset_and_resume_exactly(kafka_broker, sample_path,
                                                                 tmp_path):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    with open(sample_path, "rb") as handle:
        payloads = [line.rstrip(b"\n") for line in handle if line.strip()]
    payloads.append(None)  # a tombstone
    payloads.append(b'{"text": "' + b"x" * 300 + b'"}')  # over the payload limit below
    first = produce(kafka_broker, topic, payloads)
    settings = config(kafka_broker, topic, tmp_path / "out",
                      dead_letter_topic=f"{topic}-dead")
    settings.source.max_payload_bytes = 200

    summary = launcher.run(settings, ["--runner=DirectRunner"])
    counts = summary.counts
    assert counts["read"] == len(payloads)
    assert counts["written"] + counts["dropped"] + counts["errored"] == len(payloads)
    assert passed(verify(str(tmp_path / "out"), summary.run_id))
    quarantine = read_rows(tmp_path / "out" / "quarantine")
    reasons = {row["reason"] for row in quarantine}
    assert {"empty_payload", "payload_too_large", "invalid_utf8", "invalid_json"} <= reasons
    tombstone = next(row for row in quarantine if row["reason"] == "empty_payload")
    assert (tombstone["partition"], tombstone["offset"]) in first
    assert tombstone["payload"] is None
    published = consume_all(kafka_broker, f"{topic}-dead")
    assert sorted(dict(m.headers)["record_id"].decode() for m in published) == sorted(
        row["record_id"] for row in quarantine)
    ranges = read_rows(tmp_path / "out" / "lineage" / "source_ranges")
    assert sum(row["messages_read"] for row in ranges) == len(payloads)
    assert {row["partition"] for row in ranges} == {0, 1, 2}

    # More messages arrive; the next run (same group, offsets committed) reads exactly those.
    more = [b'{"id": "late-%d", "text": "a later document number %d"}' % (i, i)
            for i in range(7)]
    second = produce(kafka_broker, topic, more)
    summary2 = launcher.run(settings, ["--runner=DirectRunner"])
    assert summary2.counts["read"] == len(more)
    records = [row for row in read_rows(tmp_path / "out" / "lineage" / "records")
               if row["run_id"] == summary2.run_id]
    assert sorted((row["partition"], row["offset"]) for row in records) == sorted(second)
    assert {row["record_id"] for row in records} == {
        raw.record_id(raw.KAFKA, topic, partition, offset) for partition, offset in second}
    assert passed(verify(str(tmp_path / "out")))  # both runs

    # Nothing new: a third run reads nothing and still verifies.
    summary3 = launcher.run(settings, ["--runner=DirectRunner"])
    assert summary3.counts["read"] == 0


def test_streaming_run_picks_up_new_messages_and_resumes_without_loss_or_repeat(
        kafka_broker, tmp_path):
    topic = f"s-{uuid.uuid4().hex[:8]}"
    early = [b'{"id": "e%d", "text": "early document %d"}' % (i, i) for i in range(6)]
    produce(kafka_broker, topic, early)
    settings = config(kafka_broker, topic, tmp_path / "out", bounded=False, start="earliest",
                      idle_timeout_s=8, window_s=2)

    late = [b'{"id": "l%d", "text": "late document %d"}' % (i, i) for i in range(6)]

    def produce_while_running():
        time.sleep(3)
        produce(kafka_broker, topic, late)

    producer = threading.Thread(target=produce_while_running)
    producer.start()
    summary = launcher.run(settings, [])
    producer.join()
    data = read_rows(tmp_path / "out" / "data")
    assert sorted(row["source_id"] for row in data) == sorted(
        [f"e{i}" for i in range(6)] + [f"l{i}" for i in range(6)])
    shard_names = [path.rsplit("/", 1)[1] for path in glob.glob(f"{tmp_path}/out/data/*.parquet")]
    assert all(f"{summary.run_id}-w" in name for name in shard_names), shard_names
    assert passed(verify(str(tmp_path / "out"), summary.run_id))

    # Stop, produce more, start again: the second run reads only the new messages.
    again = [b'{"id": "a%d", "text": "after restart %d"}' % (i, i) for i in range(4)]
    produce(kafka_broker, topic, again)
    settings.source.kafka.start = "committed"
    settings.source.kafka.idle_timeout_s = 4
    summary2 = launcher.run(settings, [])
    all_rows = read_rows(tmp_path / "out" / "data")
    source_ids = [row["source_id"] for row in all_rows]
    assert len(source_ids) == len(set(source_ids)) == 16
    assert summary2.counts["read"] == 4
    assert passed(verify(str(tmp_path / "out")))


@pytest.mark.flink
@pytest.mark.timeout(600)
def test_streaming_run_on_local_flink(kafka_broker, flink_job_server, tmp_path):
    """The same streaming source on Beam's portable Flink runner: windowed shards, offsets."""
    topic = f"sf-{uuid.uuid4().hex[:8]}"
    payloads = [b'{"id": "f%d", "text": "flink streaming document %d"}' % (i, i) for i in range(6)]
    produce(kafka_broker, topic, payloads + [b"{broken"])
    settings = config(kafka_broker, topic, tmp_path / "out", bounded=False, start="earliest",
                      idle_timeout_s=5, window_s=2)
    summary = launcher.run(settings, flink_job_server.pipeline_args())
    assert summary.counts["read"] == 7 and summary.counts["errored"] == 1
    data = read_rows(tmp_path / "out" / "data")
    assert sorted(row["source_id"] for row in data) == [f"f{i}" for i in range(6)]
    shard_names = [path.rsplit("/", 1)[1] for path in glob.glob(f"{tmp_path}/out/data/*.parquet")]
    assert all(f"{summary.run_id}-w" in name for name in shard_names), shard_names
    assert passed(verify(str(tmp_path / "out"), summary.run_id))
