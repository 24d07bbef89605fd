"""The single source of truth for every record shape Winnow reads or writes.

- :mod:`schemas.raw`: what a source hands to the pipeline (one message per input line,
  Parquet row or Kafka record) and what counts as malformed.
- :mod:`schemas.documents`: the in-flight document and the Arrow schema of the curated shards.
- :mod:`schemas.dead_letters`: the quarantine table.
- :mod:`schemas.lineage`: the lineage tables (records, events, edges, source ranges, runs).
"""
