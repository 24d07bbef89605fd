"""The file source: Parquet and compressed JSONL, globs over several files, coordinates kept."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from lineage.verify import passed, verify
from schemas import raw

LINES = [{"id": f"d{i}", "text": f"document number {i} about {word}"}
         for i, word in enumerate(["bread", "bridges", "comets", "bees", "chess", "bread"])]


def test_parquet_gzip_and_zstd_inputs_by_glob(run_pipeline, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    table = pa.table({"id": [1, 2, 3], "text": ["first row text", None, "third row text"],
                      "url": ["https://a.example/1", None, None], "extra": [1.5, 2.5, 3.5]})
    pq.write_table(table, folder / "part.parquet")
    payload = b"".join(json.dumps(line).encode() + b"\n" for line in LINES[:3])
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(payload + b"\n"))  # a trailing blank line
    (folder / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(
        b"".join(json.dumps(line).encode() + b"\n" for line in LINES[3:])))

    summary, output = run_pipeline(str(folder), stages=["normalize"])  # a folder: every file
    assert summary.counts["read"] == 3 + 3 + 3
    assert summary.counts["errored"] == 1  # the Parquet row whose text is null
    assert passed(verify(output))

    rows = pq.read_table(f"{output}/data").to_pylist()
    by_source_id = {row["source_id"]: row for row in rows}
    parquet_path = str(folder / "part.parquet")
    first = by_source_id["1"]
    assert first["source"] == parquet_path and first["source_offset"] == 0
    assert first["url"] == "https://a.example/1"
    assert first["id"] == raw.record_id(raw.FILE, parquet_path, 0, 0)
    assert by_source_id["d1"]["source"].endswith("a.jsonl.gz")
    assert by_source_id["d1"]["source_offset"] == 2  # the second line
    assert by_source_id["d4"]["source"].endswith("b.jsonl.zst")

    ranges = {row["source"].rsplit("/", 1)[1]: row
              for row in pq.read_table(f"{output}/lineage/source_ranges").to_pylist()}
    assert ranges["a.jsonl.gz"]["messages_read"] == 3 and ranges["a.jsonl.gz"]["skipped"] == 1
    assert ranges["part.parquet"]["end_offset"] == 3
    quarantine = pq.read_table(f"{output}/quarantine").to_pylist()
    assert [(row["reason"], row["offset"]) for row in quarantine] == [("missing_text", 1)]
