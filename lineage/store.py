"""Opening an output folder's lineage with DuckDB, and describing what each view holds.

:func:`open_store` returns a DuckDB connection with one view per table, over the Parquet files
under ``<output>/`` (see :mod:`pipelines.layout`). The files stay plain Parquet: DuckDB only reads
them, so Trino, Spark, BigQuery or pyarrow see exactly the same rows.

============== =====================================================================
view           rows
============== =====================================================================
records        one per ingested message: source coordinates (``schemas.lineage.RECORDS``)
events         one per record per stage (``raw_events``: the files as they are)
edges          ``duplicate_of`` and ``written_to`` relations
source_ranges  what each run read, per file or Kafka partition
runs           one per finished (or failed) run
quarantine     dead letters, without the payload, plus the ``file`` that holds each one
shards         one per curated shard file: ``shard`` (file name), ``run_id``, ``num_rows``
curated        the curated rows' ``id``, ``run_id``, ``shard`` and ``row_index`` (no text)
============== =====================================================================

:data:`VIEWS` documents every view and column; ``winnow lineage tables`` prints it.

A table with no files yet is an empty view with the declared schema, so queries never fail on a
run that, say, quarantined nothing.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, NamedTuple, Sequence

import duckdb
import pyarrow as pa

from pipelines.layout import OutputLayout
from schemas import lineage as schema
from schemas.dead_letters import QUARANTINE


class ViewDoc(NamedTuple):
    description: str
    columns: Dict[str, str]


# What each view and column means. Column order and types come from the data itself.
VIEWS: Dict[str, ViewDoc] = {
    "records": ViewDoc(
        "one row per message a run read (parsed or malformed), written once at ingest", {
            "run_id": "the run that read it",
            "record_id": "Winnow's record id: a hash of (source_kind, source, partition, offset)",
            "source_id": "the input's own 'id' field, if it had one",
            "source_kind": "file | kafka",
            "source": "file path/URL, or Kafka topic",
            "partition": "Kafka partition; 0 for files",
            "offset": "Kafka offset; line number (JSONL, 1-based) or row index (Parquet, 0-based)",
            "key": "Kafka message key (bytes)",
            "timestamp": "Kafka message time",
            "url": "the input's 'url' field",
            "domain": "host of url, lower-cased, without a leading www.",
            "byte_len": "payload size in bytes",
            "content_sha256": "hash of the text as parsed (null when malformed)",
        }),
    "events": ViewDoc(
        "one row per record per stage: what the stage did; ingest is stage_seq 0 and the sink "
        "(stage 'sink', action 'written') comes after the last stage", {
            "run_id": "the run",
            "event_id": "hash of (run_id, record_id, stage, action)",
            "record_id": "the record (see records)",
            "stage": "stage name: ingest, normalize, exact_dedup, ..., sink",
            "stage_seq": "position of the stage in the run (0 = ingest)",
            "stage_version": "version of the stage's decision logic",
            "action": "ingested | passed | modified | dropped | errored | written; the last "
                      "three are terminal: every record has exactly one",
            "reason": "rule or reason code of a drop, error or change (e.g. too_short, duplicate)",
            "value": "the measured value behind the decision",
            "threshold": "the configured threshold it was compared with",
            "scores": "map of named scores; at the pii stage: entity type -> spans replaced",
            "details": "JSON object with stage-specific facts (never text or PII values); "
                       "'would_drop': true marks an annotate-only drop",
            "content_sha256": "hash of the text after this stage, when it changed",
        }),
    "edges": ViewDoc(
        "relations: duplicate_of (dropped record -> kept record) and written_to (record -> "
        "curated shard row)", {
            "run_id": "the run that made the edge",
            "edge_type": "duplicate_of | written_to",
            "record_id": "the record the edge starts from",
            "target_id": "duplicate_of: the record kept in its place",
            "target_run_id": "duplicate_of: the run that kept it",
            "similarity": "duplicate_of: 1.0 for exact copies, estimated Jaccard otherwise",
            "shard": "written_to: curated shard file name, relative to data/",
            "row_index": "written_to: 0-based row in that shard",
        }),
    "source_ranges": ViewDoc(
        "what each run read, per file or Kafka partition", {
            "run_id": "the run",
            "source_kind": "file | kafka",
            "source": "file path/URL or Kafka topic",
            "partition": "Kafka partition; 0 for files",
            "start_offset": "first offset (Kafka) or line planned",
            "end_offset": "one past the last offset or line",
            "messages_read": "messages handed to the pipeline",
            "skipped": "blank lines; Kafka offsets with no message",
        }),
    "runs": ViewDoc(
        "one row per run that finished or failed (a crashed run has none)", {
            "run_id": "the run",
            "status": "succeeded | failed",
            "started_at": "start time (UTC)",
            "finished_at": "end time (UTC)",
            "input": "the input path, glob or kafka:// URL",
            "stages": "the stages, in order",
            "config": "the effective config, JSON",
            "config_sha256": "hash of config",
            "winnow_version": "Winnow's version",
            "code_version": "git commit, when run from a checkout",
            "beam_version": "Apache Beam's version",
            "runner": "the Beam runner",
            "counts": "read / written / dropped / errored",
            "error": "the error of a failed run",
        }),
    "quarantine": ViewDoc(
        "dead letters (the raw payload column is left out of this view)", {
            "run_id": "the run",
            "record_id": "the record",
            "stage": "where it failed: ingest, normalize, ...",
            "reason": "reason code, e.g. invalid_json",
            "error": "human-readable message",
            "source_kind": "file | kafka",
            "source": "file path/URL or Kafka topic",
            "partition": "Kafka partition; 0 for files",
            "offset": "offset or line number",
            "file": "the quarantine file holding the row, relative to quarantine/",
        }),
    "shards": ViewDoc(
        "one row per curated Parquet shard under data/", {
            "shard": "file name, relative to data/",
            "run_id": "the run that wrote it (from the file name)",
            "num_rows": "rows in the file (from its footer)",
        }),
    "curated": ViewDoc(
        "the curated rows' identity and position (the text is not read)", {
            "id": "Winnow's record id",
            "run_id": "the run that wrote it",
            "shard": "file name, relative to data/",
            "row_index": "0-based row in the shard",
        }),
}


def _glob(folder: str) -> str:
    return f"{folder}/*.parquet"


def _has_files(folder: str) -> bool:
    return os.path.isdir(folder) and any(
        name.endswith(".parquet") and not name.startswith(".") for name in os.listdir(folder))


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _view(connection, name: str, folder: str, arrow_schema: pa.Schema,
          exclude: Sequence[str] = (), with_file: bool = False):
    """A view over a table's files; ``with_file`` adds the ``file`` (name) holding each row."""
    select = f"* EXCLUDE ({', '.join(exclude)})" if exclude else "*"
    if _has_files(folder):
        options = ", filename=true" if with_file else ""
        source = f"read_parquet({sql_string(_glob(folder))}, union_by_name=true{options})"
        if with_file:
            select = (f"* EXCLUDE ({', '.join(list(exclude) + ['filename'])}), "
                      "regexp_extract(filename, '[^/]+$') AS file")
    else:
        empty = arrow_schema.empty_table()
        connection.register(f"_empty_{name}", empty)
        source = f"_empty_{name}"
        if with_file:
            select = f"{select}, NULL::VARCHAR AS file"
    connection.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {select} FROM {source}")


_SHARD_FILE = re.compile(r"^(?P<prefix>.+)-\d{5}-of-(?P<count>\d{5})\.parquet$")


def _one_shard_set_per_prefix(folder: str) -> bool:
    """Whether every file in ``folder`` comes from one complete sharding of its run (and window).

    The shard writer puts each row in exactly one file of ``<prefix>-SSSSS-of-NNNNN.parquet`` and
    a retried bundle rewrites the same file, so such a set cannot repeat a row; ``verify`` checks
    it anyway (``unique_events``). Only files of two shardings of one prefix, or files named
    otherwise, could hold the same event twice.
    """
    if not os.path.isdir(folder):
        return True
    counts: Dict[str, set] = {}
    for name in os.listdir(folder):
        if name.startswith(".") or not name.endswith(".parquet"):
            continue
        match = _SHARD_FILE.match(name)
        if not match:
            return False
        counts.setdefault(match["prefix"], set()).add(match["count"])
    return all(len(shard_counts) == 1 for shard_counts in counts.values())


def open_store(output_dir: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lineage views of ``output_dir`` (see module docstring)."""
    if not os.path.isdir(output_dir):
        raise FileNotFoundError(f"no such output folder: {output_dir}")
    layout = OutputLayout(output_dir.rstrip("/"))
    connection = duckdb.connect()
    for table, arrow_schema in schema.TABLES.items():
        if table == "events":
            continue
        _view(connection, table, layout.lineage_table(table), arrow_schema)
    events_folder = layout.lineage_table("events")
    _view(connection, "raw_events", events_folder, schema.EVENTS)
    if _one_shard_set_per_prefix(events_folder):
        connection.execute("CREATE OR REPLACE VIEW events AS SELECT * FROM raw_events")
    else:
        # Files from different shardings of the same run (or from another writer) could repeat
        # an event. event_id is a function of (run_id, record_id, stage, action), so
        # partitioning by those columns removes the same repeats and still lets DuckDB push a
        # filter on record_id below the window.
        connection.execute("""
            CREATE OR REPLACE VIEW events AS
            SELECT * FROM raw_events
            QUALIFY row_number() OVER (PARTITION BY run_id, record_id, stage, action
                                       ORDER BY stage_seq) = 1""")
    _view(connection, "quarantine", layout.quarantine, QUARANTINE, exclude=("payload",),
          with_file=True)
    data = layout.data
    if _has_files(data):
        glob = sql_string(_glob(data))
        connection.execute(f"""
            CREATE OR REPLACE VIEW shards AS
            SELECT regexp_extract(file_name, '[^/]+$') AS shard,
                   regexp_extract(file_name, '(run-[0-9]+T[0-9]+Z-[0-9a-f]+)[^/]*$', 1) AS run_id,
                   num_rows
            FROM parquet_file_metadata({glob})""")
        connection.execute(f"""
            CREATE OR REPLACE VIEW curated AS
            SELECT id, run_id, regexp_extract(filename, '[^/]+$') AS shard,
                   file_row_number AS row_index
            FROM read_parquet({glob}, filename=true, file_row_number=true,
                              union_by_name=true)""")
    else:
        connection.execute("CREATE OR REPLACE VIEW shards AS SELECT NULL::VARCHAR AS shard, "
                           "NULL::VARCHAR AS run_id, NULL::BIGINT AS num_rows WHERE false")
        connection.execute("CREATE OR REPLACE VIEW curated AS SELECT NULL::VARCHAR AS id, "
                           "NULL::VARCHAR AS run_id, NULL::VARCHAR AS shard, "
                           "NULL::BIGINT AS row_index WHERE false")
    return connection


def describe_views(connection: duckdb.DuckDBPyConnection) -> List[dict]:
    """Every view with its description and columns (name, type, description), in VIEWS order."""
    described = []
    for view, doc in VIEWS.items():
        columns = [{"name": name, "type": column_type, "description": doc.columns.get(name, "")}
                   for name, column_type, *_ in connection.execute(f"DESCRIBE {view}").fetchall()]
        described.append({"view": view, "description": doc.description, "columns": columns})
    return described
