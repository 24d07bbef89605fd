"""Writing a PCollection of rows as deterministic Parquet shards.

Every table Winnow writes (curated data, quarantine, lineage) goes through
:class:`WriteParquetShards`:

1. the total size of the rows fixes the number of shards, ``ceil(total / target_shard_bytes)``
   (unbounded input: a fixed number per window, ``num_shards`` or one);
2. each row goes to shard ``hash(first key column) % shards``; a shard's rows are sorted by the key
   columns, so the same input always gives byte-for-byte the same rows in the same files;
3. each shard is written to a temporary file and renamed into place, so a reader never sees a
   half-written file, and a retried bundle simply rewrites the same file.

Shard files are named ``<prefix>-SSSSS-of-NNNNN.parquet`` (in a window:
``<prefix>-w<start>[-p<late pane>]-SSSSS-of-NNNNN.parquet``). The transform returns where each row landed: ``(key, shard file name, row index)``.
"""

from __future__ import annotations

import hashlib
import math
import os
import uuid
from typing import Any, Callable, Dict, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import window as beam_window

DEFAULT_TARGET_SHARD_BYTES = 128 * 1024 * 1024
DEFAULT_ROW_GROUP_ROWS = 10_000
STREAMING_SHARDS_PER_WINDOW = 1


def shard_of(key: str, num_shards: int) -> int:
    """Stable across processes and runners (unlike Python's ``hash``)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % num_shards


def _window_tag(window) -> str:
    if isinstance(window, beam_window.IntervalWindow):
        return "w" + window.start.to_utc_datetime().strftime("%Y%m%dT%H%M%S")
    return ""


class _WriteShard(beam.DoFn):

    def __init__(self, folder, schema, prefix, key_columns, row_group_rows, compression):
        self._folder = folder
        self._schema = schema
        self._prefix = prefix
        self._key_columns = key_columns
        self._row_group_rows = row_group_rows
        self._compression = compression

    def process(self, keyed_rows, window=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam):
        (shard, num_shards), rows = keyed_rows
        columns = self._key_columns
        rows = sorted(rows, key=lambda row: tuple(_sortable(row[c]) for c in columns))
        # A late pane of a window gets its own files rather than overwriting the first pane's.
        pane_tag = f"p{pane.index}" if pane is not None and pane.index else ""
        parts = [self._prefix, _window_tag(window), pane_tag,
                 f"{shard:05d}-of-{num_shards:05d}"]
        name = "-".join(part for part in parts if part) + ".parquet"
        table = pa.Table.from_pylist(rows, schema=self._schema)
        final_path = FileSystems.join(self._folder, name)
        temp_path = FileSystems.join(self._folder, f".{name}.{uuid.uuid4().hex}.tmp")
        _make_dirs(self._folder)
        with FileSystems.create(temp_path) as handle:
            pq.write_table(table, handle, compression=self._compression,
                           row_group_size=self._row_group_rows)
        if FileSystems.exists(final_path):  # a retried bundle: replace with identical content
            FileSystems.delete([final_path])
        FileSystems.rename([temp_path], [final_path])
        first_key = columns[0]
        for row_index, row in enumerate(rows):
            yield row[first_key], name, row_index


def _sortable(value):
    return (value is None, value if value is not None else 0)


def _make_dirs(folder: str) -> None:
    if "://" not in folder:
        os.makedirs(folder, exist_ok=True)


class WriteParquetShards(beam.PTransform):
    """Writes dict rows as Parquet shards of about ``target_shard_bytes`` each.

    Args:
      folder: where the shards go (local path or any Beam filesystem URL).
      schema: the Arrow schema of the rows; a row that does not fit fails loudly.
      prefix: the file name prefix (Winnow uses the run id, so runs never overwrite each other).
      key_columns: the first column shards the rows; all of them order rows within a shard.
      size_of: the estimated bytes of a row (default: a flat 100 bytes).
      target_shard_bytes: estimated bytes per shard; decides the number of shards.
      num_shards: a fixed number of shards instead.
      row_group_rows: rows per Parquet row group.
      compression: the Parquet codec (zstd by default).
    """

    def __init__(self, folder: str, schema: pa.Schema, prefix: str, key_columns: Sequence[str],
                 *, size_of: Optional[Callable[[Dict[str, Any]], int]] = None,
                 target_shard_bytes: int = DEFAULT_TARGET_SHARD_BYTES,
                 num_shards: Optional[int] = None,
                 row_group_rows: int = DEFAULT_ROW_GROUP_ROWS, compression: str = "zstd"):
        super().__init__()
        self._folder = folder
        self._schema = schema
        self._prefix = prefix
        self._key_columns = tuple(key_columns)
        self._size_of = size_of or (lambda row: 100)
        self._target_shard_bytes = target_shard_bytes
        self._num_shards = num_shards
        self._row_group_rows = row_group_rows
        self._compression = compression

    def expand(self, rows):
        first_key = self._key_columns[0]
        num_shards = self._num_shards
        if not num_shards and not rows.is_bounded:
            # A stream's size is unknown until a window closes; runners need not hold elements
            # back for a per-window total, so a stream writes a fixed number of shards a window.
            num_shards = STREAMING_SHARDS_PER_WINDOW
        if num_shards:
            fixed = num_shards
            keyed = rows | "AssignShard" >> beam.Map(
                lambda row: ((shard_of(row[first_key], fixed), fixed), row))
        else:
            target = self._target_shard_bytes
            total_bytes = (rows
                           | "Size" >> beam.Map(self._size_of)
                           | "TotalSize" >> beam.CombineGlobally(sum).without_defaults())

            def assign(row, total):
                count = max(1, math.ceil(total / target))
                return (shard_of(row[first_key], count), count), row

            keyed = rows | "AssignShard" >> beam.Map(
                assign, total=beam.pvalue.AsSingleton(total_bytes))
        return (keyed
                | "GroupByShard" >> beam.GroupByKey()
                | "WriteShard" >> beam.ParDo(_WriteShard(
                    self._folder, self._schema, self._prefix, self._key_columns,
                    self._row_group_rows, self._compression)))
