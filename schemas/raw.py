"""Raw input messages: what every source emits, before parsing.

A source never parses. It only says *where* a payload came from and hands over its bytes, so that
parsing, validation and dead-lettering happen in one place (:mod:`transforms.parse`) for every
source alike.

Input payload contract (one JSON object per message):

============  ========  =====================================================================
field         required  meaning
============  ========  =====================================================================
``text``      yes       the document, a non-empty string
``id``        no        the input's own identifier (string or integer), kept as ``source_id``
``url``       no        where the document was found (string)
``source``    no        a free-form source label, e.g. a crawl or dataset name (string)
``metadata``  no        any JSON object, carried through unchanged
============  ========  =====================================================================

A payload is **malformed** (and goes to the quarantine with the reason in brackets) when it is:
missing (a Kafka tombstone) [``empty_payload``]; larger than the configured byte limit
[``payload_too_large``]; not valid UTF-8 [``invalid_utf8``]; not JSON [``invalid_json``]; JSON but
not an object [``not_an_object``]; without ``text`` [``missing_text``]; with a ``text`` that is not a
string [``text_not_string``]; with an ``id``/``url``/``source``/``metadata`` of the wrong type
[``invalid_field``]. Blank lines in JSONL files are skipped and counted as read, never as records.
An empty or whitespace-only ``text`` is a record that the ``normalize`` stage dead-letters.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Optional

# Source kinds. The record id is derived from (kind, source, partition, offset).
FILE = "file"
KAFKA = "kafka"

# Optional string fields of a payload. Unknown top-level fields are ignored, so producers can
# add fields without breaking runs.
OPTIONAL_STRING_FIELDS = ("url", "source")


@dataclasses.dataclass(frozen=True)
class RawMessage:
    """One unparsed input message and its exact coordinates in the source.

    Attributes:
        source_kind: ``"file"`` or ``"kafka"``.
        source: for files, the file path or URL as matched; for Kafka, the topic name.
        partition: Kafka partition; ``0`` for files.
        offset: Kafka offset; for JSONL files the 1-based line number; for Parquet files the 0-based
            row index.
        payload: the raw bytes (``None`` for a Kafka tombstone).
        key: the Kafka message key, if any (bytes).
        timestamp_ms: the Kafka message timestamp in milliseconds since the epoch, if any.
    """
    source_kind: str
    source: str
    partition: int
    offset: int
    payload: Optional[bytes]
    key: Optional[bytes] = None
    timestamp_ms: Optional[int] = None

    @property
    def record_id(self) -> str:
        return record_id(self.source_kind, self.source, self.partition, self.offset)


def record_id(source_kind: str, source: str, partition: int, offset: int) -> str:
    """Winnow's record id: 32 hex characters, deterministic from the source coordinates.

    The same input read again (same file path and line, or same topic, partition and offset) gets the
    same id, so reruns, retries and different runners agree. The id carries no content.
    """
    coordinates = f"{source_kind}|{source}|{partition}|{offset}".encode("utf-8")
    return hashlib.sha256(coordinates).hexdigest()[:32]
