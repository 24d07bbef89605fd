"""Wiring a run: source -> ingest -> stages -> curated shards, quarantine and lineage.

::

    source ──► ingest (parse) ──► stage 1 ──► … ──► stage n ──► data/ (curated shards)
                 │                  │                  │             │ written events
                 ▼                  ▼                  ▼             ▼
           dead letters ─────────────────────────────────────► quarantine/
           lineage rows (records, events, edges, source ranges) ──► lineage/

Stages run in the global window, so deduplication sees the whole stream. For unbounded input, the
writes are windowed (``source.kafka.window_s``) so shards appear while the job runs.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms import trigger, window

from lineage import rows as lineage_rows
from lineage.write import WriteLineage
from pipelines.config import WinnowConfig
from pipelines.layout import OutputLayout
from pipelines.sinks import WriteCuratedShards, WriteQuarantine
from pipelines.sources import SourceOutput
from transforms import registry
from transforms.parse import ParseMessages
from transforms.stage import flatten_outputs

KAFKA_SCHEME = "kafka://"
ALLOWED_LATENESS_S = 7 * 24 * 3600


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
        from pipelines.sources.kafka import ReadKafkaMessages  # pylint: disable=import-outside-toplevel
        bootstrap, topic = parse_kafka_url(config.input)
        kafka = config.source.kafka
        return ReadKafkaMessages(
            bootstrap, topic, group=kafka.group, start=kafka.start, bounded=kafka.bounded,
            max_records=kafka.max_records, idle_timeout_s=kafka.idle_timeout_s,
            consumer_config=kafka.consumer_config)
    from pipelines.sources.files import ReadDocumentFiles  # pylint: disable=import-outside-toplevel
    return ReadDocumentFiles(config.input)


def build_pipeline(pipeline: beam.Pipeline, config: WinnowConfig, run_id: str,
                   layout: OutputLayout) -> None:
    """Adds the whole run described by ``config`` to ``pipeline``."""
    source: SourceOutput = pipeline | "Read" >> make_source(config)
    ingested = source.messages | "Ingest" >> ParseMessages(config.source.max_payload_bytes)
    lineage = [ingested.lineage,
               source.ranges | "SourceRanges" >> beam.Map(lineage_rows.source_range)]
    dead_letters = [ingested.dead_letters]

    documents = ingested.documents
    stage_configs = config.stage_configs()
    for seq, stage_config in enumerate(stage_configs, start=1):
        stage = registry.make_stage(stage_config.name, stage_config.params,
                                    annotate_only=config.annotate_only, seq=seq)
        result = documents | f"{seq:02d}_{stage_config.name}" >> stage
        documents = result.documents
        lineage.append(result.lineage)
        dead_letters.append(result.dead_letters)

    windowing = _output_windowing(config, source.messages)
    sink = config.sink
    written = (documents
               | "WindowData" >> windowing
               | "WriteData" >> WriteCuratedShards(
                   layout.data, run_id, seq=len(stage_configs) + 1,
                   target_shard_bytes=sink.target_shard_bytes, num_shards=sink.num_shards,
                   row_group_rows=sink.row_group_rows))
    lineage.append(written)

    _ = (flatten_outputs("AllDeadLetters", dead_letters, pipeline)
         | "WindowDeadLetters" >> windowing
         | "WriteQuarantine" >> WriteQuarantine(layout.quarantine, run_id,
                                                sink.lineage_target_shard_bytes))
    _ = (flatten_outputs("AllLineage", lineage, pipeline)
         | "WindowLineage" >> windowing
         | "WriteLineage" >> WriteLineage(layout.lineage, run_id,
                                          sink.lineage_target_shard_bytes))


def _output_windowing(config: WinnowConfig, messages) -> beam.PTransform:
    if messages.is_bounded:
        return beam.Map(lambda element: element)
    # Late data must never be dropped: every record read has to reach the output or the lineage.
    # A late element fires another pane of its window, which gets shard files of its own.
    return beam.WindowInto(window.FixedWindows(config.source.kafka.window_s),
                           trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
                           allowed_lateness=ALLOWED_LATENESS_S,
                           accumulation_mode=trigger.AccumulationMode.DISCARDING)
