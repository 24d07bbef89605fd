"""Arrow schemas of the lineage tables: the record-level graph of a run.

Every table carries ``run_id``, lives under ``<output>/lineage/<table>/`` as plain Parquet files, and
is readable by any Parquet engine (DuckDB, Trino, Spark, BigQuery). No table ever holds document
text or PII values: only ids, coordinates, hashes, decisions, scores and counts.

- ``records``: one row per ingested input message (including malformed ones), with its source
  coordinates. Written once, at ingest.
- ``events``: one row per record per stage it passed (``action`` below). ``event_id`` is a hash of
  (run, record, stage, action), so a retried bundle that writes an event twice is still counted once.
- ``edges``: relations between a record and something else: ``duplicate_of`` (a dropped record ->
  the kept record it duplicates, with the similarity) and ``written_to`` (a record -> the shard and
  row that hold it).
- ``source_ranges``: what the run read, per file or per Kafka partition.
- ``runs``: one row per finished run: config, versions, runner, counts and status.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

# Actions a stage can record for a record. ``written``, ``dropped`` and ``errored`` are terminal:
# every ingested record ends with exactly one of them.
INGESTED = "ingested"
PASSED = "passed"
MODIFIED = "modified"
DROPPED = "dropped"
ERRORED = "errored"
WRITTEN = "written"
ACTIONS = (INGESTED, PASSED, MODIFIED, DROPPED, ERRORED, WRITTEN)
TERMINAL_ACTIONS = (WRITTEN, DROPPED, ERRORED)

# Edge types.
DUPLICATE_OF = "duplicate_of"
WRITTEN_TO = "written_to"

# Pseudo-stages that are not configurable stages but still leave events.
INGEST_STAGE = "ingest"
SINK_STAGE = "sink"

RECORDS = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("source_id", pa.string()),
    pa.field("source_kind", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("partition", pa.int32(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("key", pa.binary()),
    pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
    pa.field("url", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("byte_len", pa.int64(), nullable=False),
    pa.field("content_sha256", pa.string()),
])

EVENTS = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("event_id", pa.string(), nullable=False),
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("stage", pa.string(), nullable=False),
    pa.field("stage_seq", pa.int32(), nullable=False),
    pa.field("stage_version", pa.string(), nullable=False),
    pa.field("action", pa.string(), nullable=False),
    pa.field("reason", pa.string()),
    pa.field("value", pa.float64()),
    pa.field("threshold", pa.float64()),
    pa.field("scores", pa.map_(pa.string(), pa.float64())),
    pa.field("details", pa.string()),  # JSON object, stage specific; never document text or PII.
    pa.field("content_sha256", pa.string()),  # hash of the text after this stage
])

EDGES = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("edge_type", pa.string(), nullable=False),
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("target_id", pa.string()),  # duplicate_of: the kept record
    pa.field("target_run_id", pa.string()),  # duplicate_of: the run that kept it
    pa.field("similarity", pa.float64()),  # duplicate_of: 1.0 for exact, estimated Jaccard else
    pa.field("shard", pa.string()),  # written_to: shard file name, relative to data/
    pa.field("row_index", pa.int64()),  # written_to: 0-based row in that shard
])

SOURCE_RANGES = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("source_kind", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),  # file path/URL, or Kafka topic
    pa.field("partition", pa.int32(), nullable=False),  # Kafka partition; 0 for files
    # Kafka: [start_offset, end_offset) planned for this run. Files: line/row numbers read.
    pa.field("start_offset", pa.int64(), nullable=False),
    pa.field("end_offset", pa.int64(), nullable=False),
    pa.field("messages_read", pa.int64(), nullable=False),  # records handed to the pipeline
    pa.field("skipped", pa.int64(), nullable=False),  # blank lines; Kafka offsets with no message
])

RUNS = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),  # succeeded | failed
    pa.field("started_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    pa.field("finished_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    pa.field("input", pa.string(), nullable=False),
    pa.field("stages", pa.list_(pa.string()), nullable=False),
    pa.field("config", pa.string(), nullable=False),  # the effective config, JSON
    pa.field("config_sha256", pa.string(), nullable=False),
    pa.field("winnow_version", pa.string(), nullable=False),
    pa.field("code_version", pa.string()),  # git commit when run from a checkout
    pa.field("beam_version", pa.string(), nullable=False),
    pa.field("runner", pa.string(), nullable=False),
    pa.field("counts", pa.map_(pa.string(), pa.int64())),
    pa.field("error", pa.string()),
])

TABLES = {
    "records": RECORDS,
    "events": EVENTS,
    "edges": EDGES,
    "source_ranges": SOURCE_RANGES,
    "runs": RUNS,
}


def event_id(run_id: str, record_id: str, stage: str, action: str) -> str:
    """Deterministic event id, so a retried bundle cannot double-count an event."""
    key = f"{run_id}|{record_id}|{stage}|{action}".encode("utf-8")
    return hashlib.sha256(key).hexdigest()[:32]
