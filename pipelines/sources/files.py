"""Batch source for files: JSONL (plain, .gz, .zst, .bz2) and Parquet, by path or glob.

JSONL files are read line by line; a message's offset is its 1-based line number, and blank lines
are counted as skipped. Parquet files are read in record batches; a message's offset is its 0-based
row index, and the row's ``text``, ``id``, ``url``, ``source`` and ``metadata`` columns become the
payload. Each file is read by one worker; give large inputs as many files.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.sources import SourceOutput
from schemas import raw

PARQUET_SUFFIXES = (".parquet", ".pq")
_PAYLOAD_COLUMNS = ("id", "text", "url", "source", "metadata")
_RANGES_TAG = "ranges"


def _json_default(value: Any):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class _ReadFileDoFn(beam.DoFn):
    """Reads one matched file into RawMessages, then emits the file's source range."""

    def __init__(self, parquet_batch_rows: int = 1024):
        self._parquet_batch_rows = parquet_batch_rows

    def process(self, metadata: fileio.FileMetadata):
        path = metadata.path
        if path.lower().endswith(PARQUET_SUFFIXES):
            yield from self._read_parquet(path)
        else:
            yield from self._read_jsonl(path)

    def _read_jsonl(self, path: str) -> Iterable:
        read = skipped = 0
        line_number = 0
        with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as handle:
            # Beam's compressed file objects have readline() but are not iterable.
            for line_number, line in enumerate(iter(handle.readline, b""), start=1):
                payload = line.rstrip(b"\r\n")
                if not payload.strip():
                    skipped += 1
                    continue
                read += 1
                yield raw.RawMessage(raw.FILE, path, 0, line_number, payload)
        yield beam.pvalue.TaggedOutput(_RANGES_TAG, {
            "source_kind": raw.FILE, "source": path, "partition": 0,
            "start_offset": 1, "end_offset": line_number + 1,
            "messages_read": read, "skipped": skipped,
        })

    def _read_parquet(self, path: str) -> Iterable:
        import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
        row_index = 0
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            parquet_file = pq.ParquetFile(handle)
            columns = [c for c in _PAYLOAD_COLUMNS if c in parquet_file.schema_arrow.names]
            for batch in parquet_file.iter_batches(batch_size=self._parquet_batch_rows,
                                                   columns=columns):
                for row in batch.to_pylist():
                    row = {name: value for name, value in row.items() if value is not None}
                    payload = json.dumps(row, ensure_ascii=False,
                                         default=_json_default).encode("utf-8")
                    yield raw.RawMessage(raw.FILE, path, 0, row_index, payload)
                    row_index += 1
        yield beam.pvalue.TaggedOutput(_RANGES_TAG, {
            "source_kind": raw.FILE, "source": path, "partition": 0,
            "start_offset": 0, "end_offset": row_index,
            "messages_read": row_index, "skipped": 0,
        })


class ReadDocumentFiles(beam.PTransform):
    """Reads JSONL and Parquet files matching one or more paths or globs.

    Args:
      patterns: a path/glob or a list of them (local paths or any Beam filesystem URL); a local
        folder stands for every file directly in it.
        A pattern that matches nothing fails the pipeline: a typo must not look like an empty input.
    """

    def __init__(self, patterns):
        super().__init__()
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        # A local folder means every file directly in it.
        self.patterns = [os.path.join(pattern, "*") if os.path.isdir(pattern) else pattern
                         for pattern in patterns]

    def expand(self, pbegin):
        files = (pbegin
                 | "Patterns" >> beam.Create(self.patterns)
                 | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.DISALLOW)
                 | "Reshuffle" >> beam.Reshuffle())
        outputs = files | "Read" >> beam.ParDo(_ReadFileDoFn()).with_outputs(
            _RANGES_TAG, main="messages")
        return SourceOutput(outputs.messages, outputs[_RANGES_TAG])
