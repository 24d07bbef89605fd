"""Opening a run folder's lineage with DuckDB.

:func:`open_store` returns a DuckDB connection with one view per table, over the Parquet files
under ``<output>/`` (see :mod:`pipelines.layout`):

============== =====================================================================
view           rows
============== =====================================================================
records        one per ingested message: source coordinates (``schemas.lineage.RECORDS``)
events         one per record per stage, deduplicated by ``event_id``
edges          ``duplicate_of`` and ``written_to`` relations
source_ranges  what each run read, per file or Kafka partition
runs           one per finished run
quarantine     dead letters (without the payload column)
shards         one per curated shard file: ``shard`` (file name), ``run_id``, ``num_rows``
curated        the curated rows' ``id``, ``run_id``, ``shard`` and ``row_index`` (no text)
============== =====================================================================

A table with no files yet is an empty view with the declared schema, so queries never fail on a
run that, say, quarantined nothing.
"""

from __future__ import annotations

import os

import duckdb
import pyarrow as pa

from pipelines.layout import OutputLayout
from schemas import lineage as schema
from schemas.dead_letters import QUARANTINE


def _glob(folder: str) -> str:
    return f"{folder}/*.parquet"


def _has_files(folder: str) -> bool:
    return os.path.isdir(folder) and any(
        name.endswith(".parquet") and not name.startswith(".") for name in os.listdir(folder))


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _view(connection, name: str, folder: str, arrow_schema: pa.Schema, select: str = "*"):
    if _has_files(folder):
        source = f"read_parquet({_sql_string(_glob(folder))}, union_by_name=true)"
    else:
        empty = arrow_schema.empty_table()
        connection.register(f"_empty_{name}", empty)
        source = f"_empty_{name}"
    connection.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {select} FROM {source}")


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
    _view(connection, "raw_events", layout.lineage_table("events"), schema.EVENTS)
    connection.execute("""
        CREATE OR REPLACE VIEW events AS
        SELECT * FROM raw_events
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY stage_seq) = 1""")
    _view(connection, "quarantine", layout.quarantine, QUARANTINE, "* EXCLUDE (payload)")
    data = layout.data
    if _has_files(data):
        glob = _sql_string(_glob(data))
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
