"""Wiring a run: source -> ingest -> stages -> curated shards, quarantine and lineage.

::

    source ──► ingest (parse) ──► stage 1 ──► … ──► stage n ──► data/ (curated shards)
                 │                  │                  │             │ written events
                 ▼                  ▼                  ▼             ▼
           dead letters ─────────────────────────────────────► quarantine/
           lineage rows (records, events, edges, source ranges) ──► lineage/

Stages run in the global window, so deduplication sees the whole stream. For unbounded input, the
writes are windowed by arrival time at the sink (``source.kafka.window_s``), so shards appear while
the job runs and no record is ever dropped as late data.
"""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.transforms import window

from lineage import rows as lineage_rows
from lineage.write import WriteLineage
from pipelines.config import WinnowConfig
from pipelines.layout import OutputLayout
from pipelines.sinks import PublishDeadLetters, WriteCuratedShards, WriteQuarantine
from pipelines.sources import SourceOutput
from transforms import registry
from transforms.parse import ParseMessages
from transforms.stage import flatten_outputs

KAFKA_SCHEME = "kafka://"


def parse_kafka_url(url: str):
    """``kafka://HOST:PORT/TOPIC`` -> (bootstrap servers, topic)."""
    rest = url[len(KAFKA_SCHEME):]
    bootstrap, _, topic = rest.partition("/")
    if not bootstrap or not topic or "/" in topic:
        raise ValueError(f"expected kafka://HOST:PORT/TOPIC, got {url!r}")
    return bootstrap, topic


def make_source(config: WinnowConfig) -> beam.PTransform:
    """The source transform for ``config.input``: Kafka for ``kafka://`` URLs, else files."""
    if config.input.startswith(KAFKA_SCHEME):
        # pylint: disable=import-outside-toplevel
        bootstrap, topic = parse_kafka_url(config.input)
        kafka = config.source.kafka
        if kafka.reader == "beam-java":
            from pipelines.sources.kafka_java import ReadKafkaWithJava
            return ReadKafkaWithJava(
                bootstrap, topic, group=kafka.group, start=kafka.start,
                max_records=kafka.max_records, consumer_config=kafka.consumer_config,
                java_consumer_config=kafka.java_consumer_config,
                expansion_service=kafka.expansion_service)
        from pipelines.sources.kafka import ReadKafkaMessages
        return ReadKafkaMessages(
            bootstrap, topic, group=kafka.group, start=kafka.start, bounded=kafka.bounded,
            max_records=kafka.max_records, idle_timeout_s=kafka.idle_timeout_s,
            consumer_config=kafka.consumer_config)
    from pipelines.sources.files import ReadDocumentFiles  # pylint: disable=import-outside-toplevel
    return ReadDocumentFiles(config.input)


def build_pipeline(pipeline: beam.Pipeline, config: WinnowConfig, run_id: str,
                   layout: OutputLayout) -> beam.PTransform:
    """Adds the whole run described by ``config`` to ``pipeline``; returns the applied source
    transform (a bounded Kafka source knows then which offsets the run will read)."""
    source_transform = make_source(config)
    source: SourceOutput = pipeline | "Read" >> source_transform
    ingested = source.messages | "Ingest" >> ParseMessages(config.source.max_payload_bytes)
    lineage = [ingested.lineage,
               source.ranges | "SourceRanges" >> beam.Map(lineage_rows.source_range)]
    dead_letters = [ingested.dead_letters]

    documents = ingested.documents
    stage_configs = config.stage_configs()
    for seq, stage_config in enumerate(stage_configs, start=1):
        params = stage_config.params
        if "run_id" in type(params).model_fields and params.run_id is None:
            params = params.model_copy(update={"run_id": run_id})  # e.g. minhash_dedup's index
        stage = registry.make_stage(stage_config.name, params,
                                    annotate_only=config.annotate_only, seq=seq)
        result = documents | f"{seq:02d}_{stage_config.name}" >> stage
        documents = result.documents
        lineage.append(result.lineage)
        dead_letters.append(result.dead_letters)

    windowing = _output_windowing(config, source.messages)
    sink = config.sink
    written = (documents
               | "WindowData" >> windowing()
               | "WriteData" >> WriteCuratedShards(
                   layout.data, run_id, seq=len(stage_configs) + 1,
                   target_shard_bytes=sink.target_shard_bytes, num_shards=sink.num_shards,
                   row_group_rows=sink.row_group_rows))
    lineage.append(written)

    kafka = config.source.kafka
    if kafka.dead_letter_topic and config.input.startswith(KAFKA_SCHEME):
        bootstrap, _ = parse_kafka_url(config.input)
        _ = (flatten_outputs("DeadLettersToPublish", dead_letters, pipeline)
             | "PublishDeadLetters" >> PublishDeadLetters(bootstrap, kafka.dead_letter_topic))

    # Flatten needs inputs with one windowing, so every branch is windowed on its own first.
    dead_letters = [branch | f"WindowDeadLetters{i}" >> windowing()
                    for i, branch in enumerate(dead_letters)]
    lineage = [branch | f"WindowLineage{i}" >> windowing() for i, branch in enumerate(lineage)]
    _ = (flatten_outputs("AllDeadLetters", dead_letters, pipeline)
         | "WriteQuarantine" >> WriteQuarantine(layout.quarantine, run_id,
                                                sink.lineage_target_shard_bytes))
    _ = (flatten_outputs("AllLineage", lineage, pipeline)
         | "WriteLineage" >> WriteLineage(layout.lineage, run_id,
                                          sink.lineage_target_shard_bytes))
    return source_transform


class _WindowByArrival(beam.PTransform):
    """Streaming output windows by the time elements reach the sink (processing time).

    Re-stamping with the wall clock (never earlier than the element's own timestamp, which the
    source's watermark trails) means no element is ever behind the watermark at the writes, so no
    record can be dropped as late data, whatever the Kafka timestamps are. A shard then holds
    what was curated during its window.
    """

    def __init__(self, window_s: int):
        super().__init__()
        self._window_s = window_s

    def expand(self, elements):
        def restamp(element, timestamp=beam.DoFn.TimestampParam):
            return window.TimestampedValue(element, max(float(timestamp), time.time()))

        return (elements
                | "StampArrival" >> beam.Map(restamp)
                | "FixedWindows" >> beam.WindowInto(window.FixedWindows(self._window_s)))


def _output_windowing(config: WinnowConfig, messages):
    """A factory of the windowing step before the writes (a no-op for bounded input)."""
    if messages.is_bounded:
        return lambda: beam.Map(lambda element: element)
    return lambda: _WindowByArrival(config.source.kafka.window_s)
