"""Arrow schema of the quarantine: inputs that could not be processed, kept with the reason.

A dead letter keeps the raw payload (bytes, exactly as read, or the document text when a stage
failed on a parsed document) and the source coordinates, so it can be inspected, fixed and replayed.
Every dead letter also has an ``errored`` event in the lineage.
"""

import pyarrow as pa

QUARANTINE = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("stage", pa.string(), nullable=False),  # where it failed: ingest, normalize, ...
    pa.field("reason", pa.string(), nullable=False),  # a short code, e.g. invalid_json
    pa.field("error", pa.string()),  # a human-readable message (exception text for stage errors)
    pa.field("source_kind", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("partition", pa.int32(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("payload", pa.binary()),  # raw bytes as read; null for a Kafka tombstone
])
