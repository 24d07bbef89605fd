"""Parsing raw messages into documents: the ``ingest`` step every source goes through.

``ParseMessages`` turns each :class:`schemas.raw.RawMessage` into a
:class:`schemas.documents.Document`, or into a dead letter with one of the reasons listed in
:mod:`schemas.raw`. Either way it writes the record's ``records`` row (its source coordinates) and an
``ingested`` event, so that every message read is accounted for in the lineage.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from lineage import rows as lineage_rows
from schemas import lineage as lineage_schema
from schemas import raw
from schemas.documents import Document, metadata_json, sha256_text
from transforms.stage import (DEAD_LETTER_TAG, LINEAGE_TAG, METRICS_NAMESPACE, StageOutput,
                              dead_letter_for_message)

DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
STAGE_VERSION = "1"


class MalformedMessage(ValueError):
    """A payload that breaks the input contract; ``reason`` is the quarantine reason code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def parse_payload(message: raw.RawMessage, max_payload_bytes: int) -> Document:
    """Parses one message into a Document, or raises MalformedMessage with the reason."""
    payload = message.payload
    if payload is None or len(payload) == 0:
        raise MalformedMessage("empty_payload", "the message has no payload")
    if len(payload) > max_payload_bytes:
        raise MalformedMessage(
            "payload_too_large", f"{len(payload)} bytes > max_payload_bytes={max_payload_bytes}")
    try:
        decoded = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedMessage("invalid_utf8", str(error)) from None
    try:
        obj = json.loads(decoded)
    except ValueError as error:
        raise MalformedMessage("invalid_json", str(error)) from None
    if not isinstance(obj, dict):
        raise MalformedMessage("not_an_object", f"JSON {type(obj).__name__}, not an object")
    if "text" not in obj or obj["text"] is None:
        raise MalformedMessage("missing_text", "no 'text' field")
    text = obj["text"]
    if not isinstance(text, str):
        raise MalformedMessage("text_not_string", f"'text' is a {type(text).__name__}")
    source_id = obj.get("id")
    if source_id is not None and (isinstance(source_id, bool)
                                  or not isinstance(source_id, (str, int))):
        raise MalformedMessage("invalid_field", "'id' must be a string or an integer")
    for name in raw.OPTIONAL_STRING_FIELDS:
        if obj.get(name) is not None and not isinstance(obj[name], str):
            raise MalformedMessage("invalid_field", f"'{name}' must be a string")
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise MalformedMessage("invalid_field", "'metadata' must be an object")
    return Document(
        id=message.record_id,
        text=text,
        source_kind=message.source_kind,
        source=message.source,
        source_partition=message.partition,
        source_offset=message.offset,
        source_id=None if source_id is None else str(source_id),
        url=obj.get("url"),
        source_label=obj.get("source"),
        metadata=metadata_json(metadata),
        timestamp_ms=message.timestamp_ms,
    )


def domain_of(url: Optional[str]) -> Optional[str]:
    """The lower-cased host name of a URL, without a leading ``www.``; None if there is none."""
    if not url:
        return None
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host[4:] if host.startswith("www.") else host


def _records_row(message: raw.RawMessage, document: Optional[Document]) -> Dict[str, Any]:
    return {
        "record_id": message.record_id,
        "source_id": document.source_id if document else None,
        "source_kind": message.source_kind,
        "source": message.source,
        "partition": message.partition,
        "offset": message.offset,
        "key": message.key,
        "timestamp": message.timestamp_ms,
        "url": document.url if document else None,
        "domain": domain_of(document.url) if document else None,
        "byte_len": len(message.payload or b""),
        "content_sha256": sha256_text(document.text) if document else None,
    }


class _ParseDoFn(beam.DoFn):

    def __init__(self, max_payload_bytes: int):
        self._max_payload_bytes = max_payload_bytes

    def setup(self):
        self._read = Metrics.counter(METRICS_NAMESPACE, "ingest.read")
        self._errored = Metrics.counter(METRICS_NAMESPACE, "ingest.errored")

    def process(self, message: raw.RawMessage):
        self._read.inc()
        record_id = message.record_id
        try:
            document = parse_payload(message, self._max_payload_bytes)
        except MalformedMessage as error:
            self._errored.inc()
            yield pvalue.TaggedOutput(LINEAGE_TAG, lineage_rows.ingested(
                _records_row(message, None)))
            yield pvalue.TaggedOutput(LINEAGE_TAG, lineage_rows.event(
                lineage_schema.INGEST_STAGE, 0, STAGE_VERSION, record_id,
                lineage_schema.ERRORED, reason=error.reason))
            yield pvalue.TaggedOutput(DEAD_LETTER_TAG, dead_letter_for_message(
                message, lineage_schema.INGEST_STAGE, error.reason, str(error)))
            return
        yield pvalue.TaggedOutput(LINEAGE_TAG, lineage_rows.ingested(
            _records_row(message, document)))
        yield pvalue.TaggedOutput(LINEAGE_TAG, lineage_rows.event(
            lineage_schema.INGEST_STAGE, 0, STAGE_VERSION, record_id, lineage_schema.INGESTED))
        yield document


class ParseMessages(beam.PTransform):
    """RawMessage -> Document, following the stage contract (returns a StageOutput).

    Args:
      max_payload_bytes: payloads larger than this are dead-lettered (``payload_too_large``)
        before any decoding, so one huge message cannot exhaust a worker.
    """

    def __init__(self, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES):
        super().__init__()
        self._max_payload_bytes = max_payload_bytes

    def expand(self, messages):
        outputs = messages | beam.ParDo(_ParseDoFn(self._max_payload_bytes)).with_outputs(
            LINEAGE_TAG, DEAD_LETTER_TAG, main="documents")
        return StageOutput(outputs.documents, outputs[LINEAGE_TAG], outputs[DEAD_LETTER_TAG])
