"""Lineage at scale: bytes per event on disk, and query times, for a run of 1 million records.

The script writes the lineage tables of a synthetic run directly with pyarrow, in the exact schemas
of :mod:`schemas.lineage` and the way :class:`lineage.write.WriteLineage` lays them out (rows hashed
into shards of about 64 MiB by their estimated size, sorted by record within a shard, zstd,
10,000-row row groups). The run reads 100 files through ingest, normalize, langid, exact_dedup,
pii, quality and the sink, with drop, error and modification rates typical of web text, the
quality stage's signals as scores of its drops, PII counts as scores, and duplicate_of and
written_to edges.

It reports bytes per event for the tables as written and for candidate layouts, then times the
queries of :class:`lineage.queries.Lineage` on a fresh DuckDB connection each (what one CLI call
pays), as ratios to a full scan of the events table in the same script::

    python -m tests.benchmarks.bench_lineage                 # 1,000,000 records
    python -m tests.benchmarks.bench_lineage --records 100000 --keep /tmp/lineage-100k

Absolute times depend on the machine and its load; the ratios travel better.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lineage.queries import Lineage
from lineage.store import open_store
from schemas import lineage as schema

RUN_ID = "run-20261127T000000Z-0b3c4d"
FILES = 100
DOMAINS = 20_000
# What WriteLineage passes to WriteParquetShards: a flat 64-byte estimate per row, 64 MiB shards,
# the default 10,000-row row groups and zstd.
ROW_ESTIMATE_BYTES = 64
LINEAGE_TARGET_SHARD_BYTES = 64 * 1024 * 1024
ROW_GROUP_ROWS = 10_000
DATA_SHARDS = 25
# The quality stage's signals (carried as scores on a dropped record's event).
QUALITY_SIGNALS = [f"signal_{name}" for name in (
    "word_count", "mean_word_length", "symbol_word_ratio", "bullet_lines", "ellipsis_lines",
    "alpha_words", "stop_words", "dup_line_fraction", "dup_paragraph_fraction",
    "dup_line_chars", "top_2gram", "top_3gram", "top_4gram", "dup_5gram", "dup_6gram",
    "dup_7gram", "dup_8gram", "dup_9gram", "dup_10gram", "curly_braces")]
QUALITY_RULES = ["gopher_min_words", "gopher_max_symbol_ratio", "gopher_min_stop_words",
                 "gopher_max_dup_line_fraction", "c4_min_sentences", "fineweb_max_dup_lines"]


def _hex_ids(keys: List[str], length: int = 32) -> List[str]:
    return [hashlib.sha256(key.encode()).hexdigest()[:length] for key in keys]


class _Events:
    """Collects event blocks (one stage, one action, many records) as Arrow columns."""

    def __init__(self, record_ids: np.ndarray):
        self.record_ids = record_ids
        self.blocks: List[pa.Table] = []

    def add(self, stage: str, seq: int, rows: np.ndarray, action: str, *,
            reason=None, value=None, threshold=None, score_names=(), score_values=None,
            details=None, content=None, version: str = "1") -> None:
        count = len(rows)
        if count == 0:
            return
        ids = self.record_ids[rows]
        map_type = schema.EVENTS.field("scores").type
        if score_names:
            offsets = pa.array(np.arange(0, count * len(score_names) + 1, len(score_names),
                                         dtype=np.int32))
            scores = pa.MapArray.from_arrays(
                offsets, pa.array(np.tile(np.array(score_names, dtype=object), count)),
                pa.array(np.asarray(score_values, dtype=np.float64).ravel()), type=map_type)
        else:
            scores = pa.nulls(count, map_type)

        def column(values, arrow_type):
            if values is None:
                return pa.nulls(count, arrow_type)
            if np.isscalar(values) or isinstance(values, str):
                return pa.array([values] * count, arrow_type)
            return pa.array(values, arrow_type)

        event_ids = _hex_ids([f"{RUN_ID}|{rid}|{stage}|{action}" for rid in ids])
        self.blocks.append(pa.Table.from_arrays([
            pa.array([RUN_ID] * count), pa.array(event_ids), pa.array(ids),
            pa.array([stage] * count), pa.array(np.full(count, seq, np.int32)),
            pa.array([version] * count), pa.array([action] * count),
            column(reason, pa.string()), column(value, pa.float64()),
            column(threshold, pa.float64()), scores, column(details, pa.string()),
            column(content, pa.string())], schema=schema.EVENTS))

    def table(self) -> pa.Table:
        return pa.concat_tables(self.blocks)


def generate(records: int, seed: int = 7) -> Dict[str, pa.Table]:
    """The lineage tables of one synthetic run of ``records`` input messages."""
    rng = np.random.default_rng(seed)
    n = records
    file_of = np.sort(rng.integers(0, FILES, n))
    first_of_file = np.searchsorted(file_of, np.arange(FILES))
    line = np.arange(n) - first_of_file[file_of] + 1
    files = [f"gs://corpus/crawl-2026-11/part-{index:05d}.jsonl.gz" for index in range(FILES)]
    record_ids = np.array(_hex_ids([f"file|{files[f]}|0|{o}" for f, o in zip(file_of, line)]),
                          dtype=object)
    domain_of = np.minimum(rng.zipf(1.2, n), DOMAINS) - 1
    tlds = ("com", "org", "net", "de", "fr")
    domains = np.array([f"site{d}.{tlds[d % 5]}" for d in range(DOMAINS)], dtype=object)
    malformed = rng.random(n) < 0.01
    urls = [None if bad else f"https://{domains[d]}/articles/{i}"
            for i, (d, bad) in enumerate(zip(domain_of, malformed))]
    content = np.array([None if bad else hashlib.sha256(str(i).encode()).hexdigest()
                        for i, bad in enumerate(malformed)], dtype=object)
    records_table = pa.Table.from_arrays([
        pa.array([RUN_ID] * n), pa.array(record_ids),
        pa.array([None if bad else f"doc-{i:09d}" for i, bad in enumerate(malformed)]),
        pa.array(["file"] * n), pa.array([files[f] for f in file_of]),
        pa.array(np.zeros(n, np.int32)), pa.array(line.astype(np.int64)),
        pa.nulls(n, pa.binary()), pa.nulls(n, pa.timestamp("ms", tz="UTC")), pa.array(urls),
        pa.array([None if bad else domains[d] for d, bad in zip(domain_of, malformed)]),
        pa.array(rng.lognormal(8.2, 1.0, n).astype(np.int64)),
        pa.array(content)], schema=schema.RECORDS)

    events = _Events(record_ids)
    everyone = np.arange(n)
    events.add("ingest", 0, everyone[malformed], "errored", reason="invalid_json")
    alive = everyone[~malformed]
    events.add("ingest", 0, alive, "ingested", content=content[alive])

    # normalize: 0.5% empty (dead-lettered), 3% too short, 10% changed.
    draw = rng.random(len(alive))
    errored, short, changed = draw < 0.005, (draw >= 0.005) & (draw < 0.035), draw > 0.9
    events.add("normalize", 1, alive[errored], "errored", reason="empty_text")
    events.add("normalize", 1, alive[short], "dropped", reason="too_short",
               value=rng.integers(1, 200, short.sum()).astype(float), threshold=200.0)
    changed_rows = alive[changed]
    events.add("normalize", 1, changed_rows, "modified", reason="normalized",
               details=[json.dumps({"chars_removed": int(k)})
                        for k in rng.integers(1, 40, len(changed_rows))],
               content=[hashlib.sha256(f"n{r}".encode()).hexdigest() for r in changed_rows])
    events.add("normalize", 1, alive[~(errored | short | changed)], "passed")
    alive = alive[~(errored | short)]

    # langid: 6% not in the wanted languages.
    confidence = rng.beta(8, 1.2, len(alive))
    foreign = rng.random(len(alive)) < 0.06
    events.add("langid", 2, alive[foreign], "dropped", reason="language",
               value=confidence[foreign], threshold=0.65,
               score_names=["language_score"], score_values=confidence[foreign][:, None],
               details=[json.dumps({"language": "xx"})] * int(foreign.sum()))
    events.add("langid", 2, alive[~foreign], "passed", score_names=["language_score"],
               score_values=confidence[~foreign][:, None])
    alive = alive[~foreign]

    # exact_dedup: 12% are copies of an earlier record.
    duplicate = rng.random(len(alive)) < 0.12
    kept_rows = alive[~duplicate]
    dup_rows = alive[duplicate]
    dup_targets = kept_rows[rng.integers(0, len(kept_rows), len(dup_rows))]
    events.add("exact_dedup", 3, dup_rows, "dropped", reason="duplicate", value=1.0,
               details=[json.dumps({"duplicate_of": record_ids[t]}) for t in dup_targets])
    copies = np.bincount(np.searchsorted(kept_rows, dup_targets), minlength=len(kept_rows)) + 1
    events.add("exact_dedup", 3, kept_rows, "passed",
               details=[json.dumps({"copies": int(c)}) if c > 1 else None for c in copies])
    alive = kept_rows

    # pii: 8% have e-mail addresses or names replaced.
    with_pii = rng.random(len(alive)) < 0.08
    pii_rows = alive[with_pii]
    events.add("pii", 4, pii_rows, "modified", reason="pii_redacted",
               score_names=["EMAIL_ADDRESS", "PERSON"],
               score_values=rng.integers(1, 4, (len(pii_rows), 2)),
               details=[json.dumps({"operators": {"EMAIL_ADDRESS": "replace",
                                                      "PERSON": "replace"}})] * len(pii_rows),
               content=[hashlib.sha256(f"p{r}".encode()).hexdigest() for r in pii_rows])
    events.add("pii", 4, alive[~with_pii], "passed")

    # quality: 20% fail a rule; a drop carries every signal as a score.
    failing = rng.random(len(alive)) < 0.20
    fail_rows = alive[failing]
    rule = rng.integers(0, len(QUALITY_RULES), len(fail_rows))
    events.add("quality", 5, fail_rows, "dropped",
               reason=[QUALITY_RULES[r] for r in rule],
               value=rng.random(len(fail_rows)) * 100, threshold=50.0,
               score_names=QUALITY_SIGNALS + ["heuristic_score"],
               score_values=np.round(rng.random((len(fail_rows), len(QUALITY_SIGNALS) + 1)), 4),
               details=[json.dumps({"failed_rules": [QUALITY_RULES[r]]}) for r in rule])
    passing = alive[~failing]
    events.add("quality", 5, passing, "passed", score_names=["heuristic_score"],
               score_values=np.round(rng.random((len(passing), 1)) * 0.5 + 0.5, 4))
    written = passing

    # The sink: shards and rows, like WriteCuratedShards.
    written_ids = record_ids[written]
    shard_of = np.array([int(rid[:8], 16) % DATA_SHARDS for rid in written_ids])
    order = np.lexsort((written_ids, shard_of))
    row_index = np.empty(len(written), np.int64)
    starts = np.searchsorted(shard_of[order], np.arange(DATA_SHARDS))
    row_index[order] = np.arange(len(written)) - starts[shard_of[order]]
    shard_names = np.array([f"{RUN_ID}-{s:05d}-of-{DATA_SHARDS:05d}.parquet"
                            for s in range(DATA_SHARDS)], dtype=object)
    events.add("sink", 6, written, "written",
               details=[json.dumps({"shard": name}) for name in shard_names[shard_of]])
    events_table = events.table()

    edge_count_dup, edge_count_written = len(dup_rows), len(written)
    edges_table = pa.Table.from_arrays([
        pa.array([RUN_ID] * (edge_count_dup + edge_count_written)),
        pa.array([schema.DUPLICATE_OF] * edge_count_dup + [schema.WRITTEN_TO] * edge_count_written),
        pa.array(list(record_ids[dup_rows]) + list(written_ids)),
        pa.array(list(record_ids[dup_targets]) + [None] * edge_count_written),
        pa.array([RUN_ID] * edge_count_dup + [None] * edge_count_written),
        pa.array([1.0] * edge_count_dup + [None] * edge_count_written, pa.float64()),
        pa.array([None] * edge_count_dup + list(shard_names[shard_of])),
        pa.array([None] * edge_count_dup + list(row_index), pa.int64())], schema=schema.EDGES)

    per_file = np.bincount(file_of, minlength=FILES)
    ranges_table = pa.Table.from_pylist([
        {"run_id": RUN_ID, "source_kind": "file", "source": files[f], "partition": 0,
         "start_offset": 1, "end_offset": int(per_file[f]) + 1,
         "messages_read": int(per_file[f]), "skipped": 0} for f in range(FILES)],
        schema=schema.SOURCE_RANGES)
    return {"records": records_table, "events": events_table, "edges": edges_table,
            "source_ranges": ranges_table}


_KEYS = {"records": ["record_id"], "events": ["record_id", "stage_seq", "action"],
         "edges": ["record_id", "edge_type", "target_id"],
         "source_ranges": ["source", "partition", "start_offset"]}


def write_tables(tables: Dict[str, pa.Table], lineage_dir: str, *,
                 row_group_rows: int = ROW_GROUP_ROWS, compression: str = "zstd",
                 shards: Optional[int] = None) -> None:
    """Writes each table like WriteLineage: hashed into shards, sorted within a shard."""
    for name, table in tables.items():
        folder = os.path.join(lineage_dir, name)
        os.makedirs(folder, exist_ok=True)
        count = shards or max(1, math.ceil(table.num_rows * ROW_ESTIMATE_BYTES
                                           / LINEAGE_TARGET_SHARD_BYTES))
        first = table.column(_KEYS[name][0]).to_pylist()
        shard_of = np.array([int(hashlib.blake2b(
            key if isinstance(key, bytes) else key.encode(), digest_size=8).hexdigest(), 16)
            % count for key in first])
        for shard in range(count):
            part = table.filter(pa.array(shard_of == shard))
            part = part.sort_by([(key, "ascending") for key in _KEYS[name]])
            path = os.path.join(folder, f"{RUN_ID}-{shard:05d}-of-{count:05d}.parquet")
            pq.write_table(part, path, compression=compression, row_group_size=row_group_rows)


def write_runs_row(lineage_dir: str, counts: Dict[str, int]) -> None:
    import datetime  # pylint: disable=import-outside-toplevel
    folder = os.path.join(lineage_dir, "runs")
    os.makedirs(folder, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    row = {"run_id": RUN_ID, "status": "succeeded", "started_at": now, "finished_at": now,
           "input": "gs://corpus/crawl-2026-11/*.jsonl.gz", "stages": ["normalize", "langid",
           "exact_dedup", "pii", "quality"], "config": "{}", "config_sha256": "0" * 64,
           "winnow_version": "bench", "code_version": None, "beam_version": "2.77.0",
           "runner": "bench", "counts": sorted(counts.items()), "error": None}
    pq.write_table(pa.Table.from_pylist([row], schema=schema.RUNS),
                   os.path.join(folder, f"{RUN_ID}.parquet"))


def folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(folder) for name in names)


def column_bytes(folder: str) -> Dict[str, int]:
    """Compressed bytes per column, summed over every file and row group of a table."""
    sizes: Dict[str, int] = {}
    for name in os.listdir(folder):
        metadata = pq.ParquetFile(os.path.join(folder, name)).metadata
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                top = chunk.path_in_schema.split(".")[0]
                sizes[top] = sizes.get(top, 0) + chunk.total_compressed_size
    return sizes


def improved(tables: Dict[str, pa.Table], binary: bool = True) -> Dict[str, pa.Table]:
    """A candidate layout: no event_id (a function of the key columns), no text hash on
    ``ingested`` events (records has it), no shard name in the sink's details (the written_to
    edge has it) and, with ``binary``, ids as 16 raw bytes instead of 32 hex characters."""
    def binary_ids(column: pa.ChunkedArray):
        if not binary:
            return column
        return pa.array([None if value is None else bytes.fromhex(value)
                         for value in column.to_pylist()], pa.binary(16))

    events = tables["events"].drop_columns(["event_id"])
    ingested = pc.equal(events.column("action"), "ingested")
    written = pc.equal(events.column("action"), "written")
    events = events.set_column(events.schema.get_field_index("content_sha256"), "content_sha256",
                               pc.if_else(ingested, pa.scalar(None, pa.string()),
                                          events.column("content_sha256")))
    events = events.set_column(events.schema.get_field_index("details"), "details",
                               pc.if_else(written, pa.scalar(None, pa.string()),
                                          events.column("details")))
    events = events.set_column(events.schema.get_field_index("record_id"), "record_id",
                               binary_ids(events.column("record_id")))
    records = tables["records"]
    records = records.set_column(records.schema.get_field_index("record_id"), "record_id",
                                 binary_ids(records.column("record_id")))
    edges = tables["edges"]
    for name in ("record_id", "target_id"):
        edges = edges.set_column(edges.schema.get_field_index(name), name,
                                 binary_ids(edges.column(name)))
    return {"records": records, "events": events, "edges": edges,
            "source_ranges": tables["source_ranges"]}


def timed(function, repeats: int = 3) -> float:
    """Median wall time of ``function()`` in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", help="write here and keep it (default: a temporary folder)")
    parser.add_argument("--queries-only", action="store_true",
                        help="only time the queries on the tables a --keep run left")
    args = parser.parse_args(argv)
    if args.queries_only:
        if not args.keep:
            parser.error("--queries-only needs --keep FOLDER")
        time_queries(os.path.join(args.keep, "as_written"))
        return
    root = args.keep or tempfile.mkdtemp(prefix="winnow-bench-lineage-")
    try:
        run(args.records, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run(records: int, root: str) -> None:
    start = time.perf_counter()
    tables = generate(records)
    generated = time.perf_counter() - start
    events = tables["events"].num_rows
    output = os.path.join(root, "as_written")
    write_tables(tables, os.path.join(output, "lineage"))
    counts = {"read": records}
    for action in ("written", "dropped", "errored"):
        counts[action] = int(pc.sum(pc.equal(tables["events"].column("action"), action)).as_py())
    write_runs_row(os.path.join(output, "lineage"), counts)
    print(f"{records:,} records, {events:,} events ({events / records:.2f} per record), "
          f"{tables['edges'].num_rows:,} edges; generated in {generated:.1f} s")
    print(f"fates: {counts}")

    print("\n## Bytes on disk")
    print(f"{'layout':<52} {'events B/event':>15} {'all tables B/event':>19} {'MiB':>8}")
    layouts = [("as written (64 MiB shards, 10k-row groups, zstd)", output, tables, {})]
    variants = [
        ("same, 100k-row groups", tables, {"row_group_rows": 100_000}),
        ("no event_id/dup hashes", improved(tables, binary=False), {}),
        ("  + binary(16) ids", improved(tables), {}),
        ("  + 100k-row groups", improved(tables), {"row_group_rows": 100_000}),
    ]
    for label, variant_tables, options in variants:
        folder = os.path.join(root, re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_"))
        write_tables(variant_tables, os.path.join(folder, "lineage"), **options)
        layouts.append((label, folder, variant_tables, options))
    for label, folder, _, _ in layouts:
        events_bytes = folder_bytes(os.path.join(folder, "lineage", "events"))
        all_bytes = folder_bytes(os.path.join(folder, "lineage"))
        print(f"{label:<52} {events_bytes / events:>15.1f} {all_bytes / events:>19.1f} "
              f"{all_bytes / 2**20:>8.1f}")
    print("\nevents columns as written (compressed bytes per event):")
    sizes = column_bytes(os.path.join(output, "lineage", "events"))
    for name, size in sorted(sizes.items(), key=lambda item: -item[1]):
        print(f"  {name:<16} {size / events:6.2f}")

    time_queries(output)
    lean = os.path.join(root, "no_event_id_dup_hashes")
    write_runs_row(os.path.join(lean, "lineage"), counts)
    print("\non the layout without event_id and repeated hashes:")
    time_queries(lean)


def time_queries(output: str) -> None:
    """Times each query on a fresh connection, against a full scan of the events table."""
    print(f"\n## Query times on {os.path.basename(output)} (fresh connection per query, "
          "median of 3)")
    lineage = Lineage(output)
    sample = lineage.sql("""
        SELECT
          (SELECT source_id FROM records r JOIN events e USING (run_id, record_id)
           WHERE e.stage = 'quality' AND e.action = 'dropped' LIMIT 1),
          (SELECT r.source_id FROM records r JOIN edges d USING (run_id, record_id)
           WHERE d.edge_type = 'duplicate_of' LIMIT 1),
          (SELECT target_id FROM edges WHERE edge_type = 'duplicate_of' LIMIT 1),
          (SELECT domain FROM records WHERE domain IS NOT NULL
           GROUP BY domain HAVING count(*) BETWEEN 20 AND 60 LIMIT 1),
          (SELECT source FROM records LIMIT 1)""")[1][0]
    quality_dropped, duplicate, kept, domain, source = sample
    duplicate_id = lineage.resolve(duplicate)[0]["record_id"]
    baseline = timed(lambda: open_store(output).execute(
        "SELECT count(*), count(DISTINCT record_id) FROM raw_events").fetchall())
    queries = [
        ("trace by record id", lambda: Lineage(output).trace(duplicate_id)),
        ("trace by source id", lambda: Lineage(output).trace(duplicate)),
        ("why (quality drop, by source id)", lambda: Lineage(output).why(quality_dropped)),
        ("why (duplicate, by record id)", lambda: Lineage(output).why(duplicate_id)),
        ("funnel (run given)", lambda: Lineage(output).funnel(RUN_ID)),
        ("funnel (latest run)", lambda: Lineage(output).funnel()),
        ("duplicates of a kept record", lambda: Lineage(output).duplicates(kept)),
        ("from-offset", lambda: Lineage(output).from_offset(source, 0, 17)),
        (f"erasure of a domain ({domain})", lambda: Lineage(output).erasure(domain)),
        ("redactions per run", lambda: Lineage(output).redactions(run=RUN_ID)),
    ]
    print(f"{'query':<44} {'seconds':>8} {'x full scan':>12}")
    print(f"{'baseline: full scan of events (count distinct)':<44} {baseline:>8.2f} "
          f"{1.0:>12.2f}")
    for label, query in queries:
        seconds = timed(query)
        print(f"{label:<44} {seconds:>8.2f} {seconds / baseline:>12.2f}")
    print("\n(machine shared with other work: absolute times are noisy; compare the ratios)")


if __name__ == "__main__":
    main()
