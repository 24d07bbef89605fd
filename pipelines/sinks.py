"""Sinks of a run: curated shards (``data/``) and dead letters (``quarantine/``)."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from lineage import rows as lineage_rows
from pipelines.parquet_shards import WriteParquetShards
from schemas import lineage as lineage_schema
from schemas.dead_letters import QUARANTINE
from schemas.documents import CURATED
from transforms.stage import METRICS_NAMESPACE

SINK_VERSION = "1"


class WriteCuratedShards(beam.PTransform):
    """Writes kept documents as curated Parquet shards and returns their lineage.

    For every document written it returns a ``written`` event (the terminal fate) and a
    ``written_to`` edge naming the shard file (relative to ``data_dir``) and row.

    Args:
      data_dir: the run's ``data/`` folder.
      run_id: the run id; also the shard file prefix.
      seq: the sink's position in the pipeline (after the last stage).
      target_shard_bytes, num_shards, row_group_rows: see WriteParquetShards.
    """

    def __init__(self, data_dir: str, run_id: str, seq: int, **shard_options):
        super().__init__()
        self._data_dir = data_dir
        self._run_id = run_id
        self._seq = seq
        self._shard_options = shard_options

    def expand(self, documents):
        run_id, seq = self._run_id, self._seq
        placements = (documents
                      | "ToRow" >> beam.Map(lambda document: document.to_row(run_id))
                      | "Write" >> WriteParquetShards(
                          self._data_dir, CURATED, run_id, ("id",),
                          size_of=lambda row: len(row["text"]) + 200, **self._shard_options))

        def lineage_of(placement):
            record_id, shard, row_index = placement
            Metrics.counter(METRICS_NAMESPACE, f"{lineage_schema.SINK_STAGE}.written").inc()
            yield lineage_rows.event(lineage_schema.SINK_STAGE, seq, SINK_VERSION, record_id,
                                     lineage_schema.WRITTEN)
            yield lineage_rows.written_to(record_id, shard, row_index)

        return placements | "Lineage" >> beam.FlatMap(lineage_of)


class WriteQuarantine(beam.PTransform):
    """Writes dead letters (quarantine rows without run_id) to the run's ``quarantine/`` folder."""

    def __init__(self, quarantine_dir: str, run_id: str, target_shard_bytes: int):
        super().__init__()
        self._quarantine_dir = quarantine_dir
        self._run_id = run_id
        self._target_shard_bytes = target_shard_bytes

    def expand(self, dead_letters):
        run_id = self._run_id
        return (dead_letters
                | "AddRunId" >> beam.Map(lambda row: dict(row, run_id=run_id))
                | "Write" >> WriteParquetShards(
                    self._quarantine_dir, QUARANTINE, run_id, ("record_id", "stage"),
                    size_of=lambda row: len(row["payload"] or b"") + 200,
                    target_shard_bytes=self._target_shard_bytes))


class _PublishDeadLetter(beam.DoFn):
    """Sends each dead letter's raw payload to a Kafka topic, with its story in the headers."""

    def __init__(self, bootstrap: str, topic: str):
        self._bootstrap = bootstrap
        self._topic = topic

    def setup(self):
        from kafka import KafkaProducer  # pylint: disable=import-outside-toplevel
        self._producer = KafkaProducer(bootstrap_servers=self._bootstrap, acks="all")

    def process(self, row):
        headers = [(name, str(row[name]).encode("utf-8"))
                   for name in ("record_id", "stage", "reason", "source_kind", "source",
                                "partition", "offset")]
        # A tombstone's payload is None; Kafka needs a key or a value, so the record id is the key.
        self._producer.send(self._topic, key=row["record_id"].encode("ascii"),
                            value=row["payload"], headers=headers)

    def finish_bundle(self):
        self._producer.flush()

    def teardown(self):
        self._producer.close()


class PublishDeadLetters(beam.PTransform):
    """Also publishes dead letters to a Kafka topic (``source.kafka.dead_letter_topic``)."""

    def __init__(self, bootstrap: str, topic: str):
        super().__init__()
        self._bootstrap = bootstrap
        self._topic = topic

    def expand(self, dead_letters):
        return dead_letters | beam.ParDo(_PublishDeadLetter(self._bootstrap, self._topic))
