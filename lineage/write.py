"""Writing the lineage tables of a run as Parquet (``<output>/lineage/<table>/``)."""

from __future__ import annotations

from typing import Dict

import apache_beam as beam

from lineage.rows import LineageRow
from pipelines.parquet_shards import WriteParquetShards
from schemas import lineage as schema

# The order of rows inside a lineage shard: by record, then by the record's path.
_KEY_COLUMNS = {
    "records": ("record_id",),
    "events": ("record_id", "stage_seq", "action"),
    "edges": ("record_id", "edge_type", "target_id"),
    "source_ranges": ("source", "partition", "start_offset"),
}
LINEAGE_TABLES = tuple(_KEY_COLUMNS)
# Lineage rows are small: big row groups compress best and keep point lookups fast.
LINEAGE_ROW_GROUP_ROWS = 100_000  # the tables a pipeline writes; ``runs`` is the launcher's


def _complete_row(lineage_row: LineageRow, run_id: str) -> Dict:
    row = dict(lineage_row.row)
    row["run_id"] = run_id
    if lineage_row.table == "events":
        row["event_id"] = schema.event_id(run_id, row["record_id"], row["stage"], row["action"])
    elif lineage_row.table == "edges" and row["edge_type"] == schema.DUPLICATE_OF:
        row["target_run_id"] = row["target_run_id"] or run_id
    return row


class WriteLineage(beam.PTransform):
    """Writes LineageRows (from every stage, the source and the sink) to their tables.

    Adds ``run_id`` to every row and the deterministic ``event_id`` to events.

    Args:
      lineage_dir: the run's ``lineage/`` folder; each table gets a sub-folder.
      run_id: the run these rows belong to; also the shard file prefix.
      target_shard_bytes: passed to WriteParquetShards.
    """

    def __init__(self, lineage_dir: str, run_id: str, target_shard_bytes: int):
        super().__init__()
        self._lineage_dir = lineage_dir
        self._run_id = run_id
        self._target_shard_bytes = target_shard_bytes

    def expand(self, lineage_rows):
        run_id = self._run_id
        by_table = lineage_rows | "ByTable" >> beam.Partition(
            lambda lineage_row, _: LINEAGE_TABLES.index(lineage_row.table), len(LINEAGE_TABLES))
        for table, rows in zip(LINEAGE_TABLES, by_table):
            _ = (rows
                 | f"Complete_{table}" >> beam.Map(_complete_row, run_id)
                 | f"Write_{table}" >> WriteParquetShards(
                     f"{self._lineage_dir}/{table}", schema.TABLES[table], run_id,
                     _KEY_COLUMNS[table], size_of=lambda row: 64,
                     target_shard_bytes=self._target_shard_bytes,
                     row_group_rows=LINEAGE_ROW_GROUP_ROWS))
        return beam.pvalue.PDone(lineage_rows.pipeline)
