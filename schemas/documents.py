"""The document as it flows through the stages, and the Arrow schema of the curated shards.

Every stage reads and returns :class:`Document` values. A stage never adds ad-hoc fields: what it
learns about a document goes into ``Document.annotations``, keyed by one of the
:data:`ANNOTATION_COLUMNS` declared here, which become columns of the curated Parquet shards. A
column of a stage that did not run is null, so every run writes the same schema.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Dict, Optional, Tuple

import pyarrow as pa

# Columns that stages fill. Each stage module documents which of these it writes.
ANNOTATION_FIELDS = [
    # pii: entity type -> number of spans replaced (types and counts only, never values)
    pa.field("pii_entities", pa.map_(pa.string(), pa.int32())),
    # quality (heuristics): share of enabled rules passed, in [0, 1], higher is better; the
    # classifier's probability replaces it when a quality model runs.
    pa.field("quality_score", pa.float64()),
    pa.field("quality_signals", pa.map_(pa.string(), pa.float64())),
    # langid: ISO 639-1 code (or the model's label where no such code exists) and confidence
    pa.field("language", pa.string()),
    pa.field("language_score", pa.float64()),
    # quality_model: probability of the "high quality" label
    pa.field("quality_model_score", pa.float64()),
    # bias: toxicity in [0, 1] (higher is more toxic), identity mentions "axis/group" -> count,
    # and the other bias signals (gender term counts, identity-in-toxic-context, ...)
    pa.field("toxicity_score", pa.float64()),
    pa.field("identity_mentions", pa.map_(pa.string(), pa.int32())),
    pa.field("bias_signals", pa.map_(pa.string(), pa.float64())),
    # minhash_dedup: the signature, only when the stage is asked to keep it
    pa.field("minhash_signature", pa.list_(pa.uint32())),
]
ANNOTATION_COLUMNS = frozenset(field.name for field in ANNOTATION_FIELDS)

# The curated output record: one row of a Parquet shard under <output>/data/.
CURATED = pa.schema([
    pa.field("id", pa.string(), nullable=False),  # Winnow's record id (see schemas.raw.record_id)
    pa.field("source_id", pa.string()),  # the input's own "id", if it had one
    pa.field("text", pa.string(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("source_kind", pa.string(), nullable=False),  # file | kafka
    pa.field("source", pa.string(), nullable=False),  # file path/URL or Kafka topic
    pa.field("source_partition", pa.int32(), nullable=False),
    pa.field("source_offset", pa.int64(), nullable=False),  # line number, row index or offset
    pa.field("source_timestamp", pa.timestamp("ms", tz="UTC")),  # Kafka message time
    pa.field("url", pa.string()),
    pa.field("source_label", pa.string()),  # the input's own "source" field
    pa.field("metadata", pa.string()),  # the input's "metadata" object, as JSON
    pa.field("content_sha256", pa.string(), nullable=False),  # of the text as written
] + ANNOTATION_FIELDS)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclasses.dataclass(frozen=True)
class Document:
    """A parsed input document with its source coordinates and what stages found out about it.

    Documents are immutable: a stage that changes one returns a copy (:meth:`with_text`,
    :meth:`annotate`).
    """
    id: str
    text: str
    source_kind: str
    source: str
    source_partition: int
    source_offset: int
    source_id: Optional[str] = None
    url: Optional[str] = None
    source_label: Optional[str] = None
    metadata: Optional[str] = None
    timestamp_ms: Optional[int] = None
    annotations: Tuple[Tuple[str, Any], ...] = ()

    @property
    def order_key(self) -> Tuple[str, str, int, int]:
        """The deterministic total order used to pick which of several duplicates is kept.

        Earlier input wins: by source kind, source (path/topic), partition, then offset.
        """
        return (self.source_kind, self.source, self.source_partition, self.source_offset)

    @property
    def annotation_dict(self) -> Dict[str, Any]:
        return dict(self.annotations)

    def with_text(self, text: str) -> "Document":
        return dataclasses.replace(self, text=text)

    def annotate(self, **columns: Any) -> "Document":
        """Returns a copy with the given annotation columns set (see ANNOTATION_COLUMNS)."""
        unknown = set(columns) - ANNOTATION_COLUMNS
        if unknown:
            raise KeyError(
                f"not annotation columns of schemas.documents.CURATED: {sorted(unknown)}")
        merged = dict(self.annotations)
        merged.update(columns)
        return dataclasses.replace(self, annotations=tuple(sorted(merged.items())))

    def to_row(self, run_id: str) -> Dict[str, Any]:
        """The row of the curated shard for this document."""
        row = {
            "id": self.id,
            "source_id": self.source_id,
            "text": self.text,
            "run_id": run_id,
            "source_kind": self.source_kind,
            "source": self.source,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "source_timestamp": self.timestamp_ms,
            "url": self.url,
            "source_label": self.source_label,
            "metadata": self.metadata,
            "content_sha256": sha256_text(self.text),
        }
        for column in ANNOTATION_COLUMNS:
            row[column] = None
        for column, value in self.annotations:
            row[column] = _arrow_friendly(value)
        return row


def _arrow_friendly(value: Any) -> Any:
    # pyarrow takes a map column as a list of (key, value) pairs or a dict.
    if isinstance(value, dict):
        return sorted(value.items())
    return value


def metadata_json(metadata: Optional[dict]) -> Optional[str]:
    if metadata is None:
        return None
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False)
