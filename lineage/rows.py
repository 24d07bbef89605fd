"""Lineage rows as stages emit them.

A stage's lineage output is a PCollection of :class:`LineageRow` values: a table name and a row dict
for that table (see :mod:`schemas.lineage`). Stages leave out ``run_id`` and ``event_id``; the
lineage writer adds them, so a stage never needs to know which run it is part of.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, NamedTuple, Optional

from schemas import lineage as schema


class LineageRow(NamedTuple):
    table: str
    row: Dict[str, Any]


def event(stage: str, stage_seq: int, stage_version: str, record_id: str, action: str, *,
          reason: Optional[str] = None, value: Optional[float] = None,
          threshold: Optional[float] = None, scores: Optional[Mapping[str, float]] = None,
          details: Optional[Mapping[str, Any]] = None,
          content_sha256: Optional[str] = None) -> LineageRow:
    """An ``events`` row: what ``stage`` did with ``record_id``.

    Args:
      reason: a short code for a drop, an error or a modification (e.g. ``duplicate``,
        ``gopher_word_count``, ``invalid_json``, ``pii_redacted``).
      value, threshold: the measured value and the configured threshold behind a decision.
      scores: named numeric scores recorded for the record at this stage.
      details: any other JSON-serialisable facts (never document text or PII values).
      content_sha256: the hash of the text after this stage, when the stage changed it.
    """
    if action not in schema.ACTIONS:
        raise ValueError(f"unknown lineage action {action!r}; expected one of {schema.ACTIONS}")
    return LineageRow("events", {
        "record_id": record_id,
        "stage": stage,
        "stage_seq": stage_seq,
        "stage_version": stage_version,
        "action": action,
        "reason": reason,
        "value": None if value is None else float(value),
        "threshold": None if threshold is None else float(threshold),
        "scores": None if scores is None else sorted(
            (name, float(score)) for name, score in scores.items()),
        "details": None if not details else json.dumps(details, sort_keys=True, default=str),
        "content_sha256": content_sha256,
    })


def duplicate_of(record_id: str, kept_id: str, similarity: float,
                 kept_run_id: Optional[str] = None) -> LineageRow:
    """A ``duplicate_of`` edge from a dropped record to the record kept in its place.

    ``kept_run_id`` is None when the kept record belongs to the same run (the writer fills it in),
    or names an earlier run for cross-run deduplication.
    """
    return LineageRow("edges", {
        "edge_type": schema.DUPLICATE_OF,
        "record_id": record_id,
        "target_id": kept_id,
        "target_run_id": kept_run_id,
        "similarity": float(similarity),
        "shard": None,
        "row_index": None,
    })


def written_to(record_id: str, shard: str, row_index: int) -> LineageRow:
    """A ``written_to`` edge from a record to the curated shard and row that hold it."""
    return LineageRow("edges", {
        "edge_type": schema.WRITTEN_TO,
        "record_id": record_id,
        "target_id": None,
        "target_run_id": None,
        "similarity": None,
        "shard": shard,
        "row_index": int(row_index),
    })


def ingested(record: Dict[str, Any]) -> LineageRow:
    """A ``records`` row (source coordinates of one ingested message), without ``run_id``."""
    return LineageRow("records", record)


def source_range(row: Dict[str, Any]) -> LineageRow:
    """A ``source_ranges`` row, without ``run_id``."""
    return LineageRow("source_ranges", row)
