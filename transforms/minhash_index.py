"""The cross-run index of ``minhash_dedup``: earlier runs' kept documents, as Parquet.

With ``index_dir`` set, each run writes one row per document it kept to
``<index_dir>/<run_id>-SSSSS-of-NNNNN.parquet`` and, before deduplicating, reads every index file of
the other runs there. The earlier runs' documents join the band buckets as members that precede
every document of this run and are kept by definition, so a near-copy of a document kept by run 1
is dropped in run 2 with a ``duplicate_of`` edge whose ``target_run_id`` names run 1.

Row schema (:data:`INDEX_SCHEMA`); no document text is stored:

=============  =================  ================================================================
column         type               meaning
=============  =================  ================================================================
record_id      string             the kept document's record id
run_id         string             the run that kept it
signature      list<uint32>       its MinHash signature
band_keys      list<binary>       its LSH band keys (10 bytes: band index, band hash)
=============  =================  ================================================================

The file's schema metadata records what the values depend on: ``signature_config`` (tokenizer
version, n-gram size, permutations, seed) and ``lsh_config`` (bands, rows). A run reads an index
only if its ``signature_config`` matches (else it stops before starting, naming the files); if
only the bands differ, the band keys are recomputed from the stored signatures.

The index holds what this stage kept, which a later stage of the same run may still drop; place
``minhash_dedup`` after the filters so that index entries are documents that were written.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.minhash_lsh import Member, band_keys
from transforms.minhash_signatures import signature_from_bytes, signature_to_bytes

INDEX_SCHEMA = pa.schema([
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("signature", pa.list_(pa.uint32()), nullable=False),
    pa.field("band_keys", pa.list_(pa.binary()), nullable=False),
])
SIGNATURE_CONFIG_KEY = b"signature_config"
LSH_CONFIG_KEY = b"lsh_config"

# Index members sort before every document of the current run (whose order starts with 1).
INDEX_ORDER_RANK = 0
CURRENT_ORDER_RANK = 1


def lsh_config(bands: int, rows: int) -> str:
    return f"bands={bands};rows={rows}"


def index_schema(signature_config: str, bands: int, rows: int) -> pa.Schema:
    """:data:`INDEX_SCHEMA` with the configuration its values depend on, as schema metadata."""
    return INDEX_SCHEMA.with_metadata({SIGNATURE_CONFIG_KEY: signature_config.encode(),
                                       LSH_CONFIG_KEY: lsh_config(bands, rows).encode()})


def index_row(record_id: str, run_id: str, signature: bytes, keys: Sequence[bytes]) -> Dict:
    return {"record_id": record_id, "run_id": run_id,
            "signature": signature_from_bytes(signature).tolist(), "band_keys": list(keys)}


def index_files(index_dir: str, exclude_run_id: Optional[str]) -> List[str]:
    """The index's Parquet files, except those of ``exclude_run_id`` (the current run)."""
    pattern = FileSystems.join(index_dir, "*.parquet")
    matched = FileSystems.match([pattern])[0].metadata_list
    paths = sorted(metadata.path for metadata in matched)
    if exclude_run_id:
        paths = [path for path in paths
                 if not path.rsplit("/", 1)[-1].startswith(f"{exclude_run_id}-")]
    return paths


def check_index_files(paths: Sequence[str], signature_config: str) -> None:
    """Raises ValueError naming the files whose signatures are not comparable with this run's."""
    incompatible = []
    for path in paths:
        with FileSystems.open(path) as handle:
            metadata = pq.read_schema(handle).metadata or {}
        found = metadata.get(SIGNATURE_CONFIG_KEY, b"").decode()
        if found != signature_config:
            incompatible.append(f"{path} ({found or 'no signature_config'})")
    if incompatible:
        raise ValueError(
            f"minhash_dedup index files built with other signature settings than this run's "
            f"({signature_config}); use another index_dir or the same ngram/num_perm/seed: "
            + ", ".join(incompatible))


class _ReadIndexFile(beam.DoFn):
    """One index file -> ``(band_key, Member)`` for each band of each row."""

    def __init__(self, bands: int, rows: int):
        self._bands = bands
        self._rows = rows

    def process(self, path: str):
        with FileSystems.open(path) as handle:
            table = pq.read_table(handle)
        metadata = table.schema.metadata or {}
        same_bands = metadata.get(LSH_CONFIG_KEY, b"").decode() == lsh_config(self._bands,
                                                                              self._rows)
        for row in table.to_pylist():
            signature = np.asarray(row["signature"], dtype=np.uint32)
            keys = row["band_keys"] if same_bands else band_keys(
                signature[None, :], self._bands, self._rows)[0]
            member = Member(row["record_id"], (INDEX_ORDER_RANK, row["run_id"], row["record_id"]),
                            signature_to_bytes(signature), row["run_id"])
            for key in keys:
                yield key, member


class ReadIndexMembers(beam.PTransform):
    """The earlier runs' kept documents as bucket members: ``(band_key, Member)``."""

    def __init__(self, paths: Sequence[str], bands: int, rows: int):
        super().__init__()
        self._paths = list(paths)
        self._bands = bands
        self._rows = rows

    def expand(self, pipeline):
        return (pipeline
                | "IndexFiles" >> beam.Create(self._paths)
                | "Reshuffle" >> beam.Reshuffle()
                | "ReadIndexFile" >> beam.ParDo(_ReadIndexFile(self._bands, self._rows)))
