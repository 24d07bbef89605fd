"""How many records a file input holds, found cheaply before a run starts (for progress and ETA).

Parquet row counts come from the file footers. JSONL files (plain, .gz, .bz2, .xz, .zst) are
sampled: the non-blank lines in the first :data:`SAMPLE_BYTES` stored bytes of up to
:data:`MAX_SAMPLED_FILES` files, scaled to the files' sizes; a file read to its end in the sample
is counted exactly.
"""

from __future__ import annotations

import bz2
import dataclasses
import lzma
import zlib
from typing import Callable, Optional, Sequence, Tuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

# JSONL size estimate: bytes read from the start of each sampled file, and files sampled.
SAMPLE_BYTES = 1 << 20
MAX_SAMPLED_FILES = 16
# A compressed file is read further (up to this many samples) until it yields some text.
_MAX_SAMPLE_FACTOR = 16
_CHUNK_BYTES = 16384
_PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclasses.dataclass(frozen=True)
class InputSize:
    """How many records the input holds, and how that is known."""
    records: int
    exact: bool
    how: str  # e.g. "Kafka offsets planned", "estimated from 3 files' sizes"


def estimate_file_records(patterns: Sequence[str], sample_bytes: int = SAMPLE_BYTES,
                          max_files: int = MAX_SAMPLED_FILES) -> Optional[InputSize]:
    """The number of records in the files matching ``patterns`` (see the module docstring).

    Parquet row counts come from file footers. JSONL files are sampled: the non-blank lines in the
    first ``sample_bytes`` stored bytes (decompressed as they stream, for .gz/.bz2/.xz/.zst),
    scaled to the file's stored size; a file read to its end in the sample is counted exactly.
    Files beyond ``max_files`` are scaled by the sampled files' records per byte.
    """
    files = [metadata for result in FileSystems.match(list(patterns))
             for metadata in result.metadata_list]
    if not files:
        return None
    files.sort(key=lambda metadata: metadata.path)
    step = max(1, len(files) // max_files)
    sampled = files[::step][:max_files]
    records = 0.0
    sampled_bytes = 0
    exact = len(sampled) == len(files)
    for metadata in sampled:
        count, is_exact = _records_in_file(metadata.path, metadata.size_in_bytes, sample_bytes)
        if count is None:
            return None
        records += count
        sampled_bytes += metadata.size_in_bytes
        exact = exact and is_exact
    unsampled_bytes = sum(metadata.size_in_bytes for metadata in files) - sampled_bytes
    if unsampled_bytes > 0 and sampled_bytes > 0:
        records += records / sampled_bytes * unsampled_bytes
    how = ("counted in the input files" if exact else
           f"estimated from {len(sampled)} of {len(files)} files")
    return InputSize(int(round(records)), exact, how)


def _records_in_file(path: str, size: int, sample_bytes: int) -> Tuple[Optional[float], bool]:
    """(records, exact) of one file; (None, False) when its format is not understood."""
    if path.lower().endswith(_PARQUET_SUFFIXES):
        import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            return float(pq.ParquetFile(handle).metadata.num_rows), True
    decompressor = _decompressor(CompressionTypes.detect_compression_type(path))
    if decompressor is None:
        return None, False
    lines = stored = 0
    tail = b""
    # Block codecs (bzip2) emit a block's text only once its last byte is in: the ratio is taken
    # at the last moment text came out, so bytes of a block still being fed do not count.
    lines_at_output = stored_at_output = 0
    at_end = False
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        while stored < _MAX_SAMPLE_FACTOR * sample_bytes:
            if stored >= sample_bytes and stored_at_output:
                break
            chunk = handle.read(_CHUNK_BYTES)
            if not chunk:
                at_end = True
                break
            stored += len(chunk)
            text = decompressor(chunk)
            if not text:
                continue
            complete, _, tail = (tail + text).rpartition(b"\n")
            lines += sum(1 for line in complete.split(b"\n") if line.strip())
            lines_at_output, stored_at_output = lines, stored
        at_end = at_end or stored >= size
    if at_end:
        return float(lines + (1 if tail.strip() else 0)), True
    if not stored_at_output:
        return None, False
    return lines_at_output / stored_at_output * size, False


def _decompressor(compression: str) -> Optional[Callable[[bytes], bytes]]:
    """A streaming decompressor for Beam's compression type, as a function of stored bytes."""
    if compression == CompressionTypes.UNCOMPRESSED:
        return lambda chunk: chunk
    if compression == CompressionTypes.GZIP:
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress
    if compression == CompressionTypes.DEFLATE:
        return zlib.decompressobj().decompress
    if compression == CompressionTypes.BZIP2:
        return bz2.BZ2Decompressor().decompress
    if compression == CompressionTypes.LZMA:
        return lzma.LZMADecompressor().decompress
    if compression == CompressionTypes.ZSTD:
        import zstandard  # pylint: disable=import-outside-toplevel
        return zstandard.ZstdDecompressor().decompressobj().decompress
    return None
