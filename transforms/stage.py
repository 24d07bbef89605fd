"""The stage contract that every Winnow stage follows.

A stage is a Beam ``PTransform`` that takes a ``PCollection`` of :class:`schemas.documents.Document`
and returns a :class:`StageOutput`: the documents it keeps (possibly changed and annotated), its
lineage rows (:mod:`lineage.rows`) and its dead letters (rows of
:data:`schemas.dead_letters.QUARANTINE` without ``run_id``). Every document that enters a stage
leaves it in exactly one way: kept (with a ``passed`` or ``modified`` event), dropped (a ``dropped``
event with a reason) or dead-lettered (an ``errored`` event and a quarantine row).

Most stages look at one document at a time. They are written as a plain
:class:`DocumentProcessor` -- ``process(document) -> Verdict`` -- and wrapped once by
:class:`PerDocumentStage`, which owns exception handling, dead-lettering, annotate-only mode,
lineage events and metrics. Stages that compare documents (deduplication) implement ``expand``
themselves and use the same helpers.

Example::

    class ShortDocumentFilter(DocumentProcessor):
        name = "short"

        def process(self, document):
            words = len(document.text.split())
            if words < 50:
                return Verdict.drop("too_few_words", value=words, threshold=50)
            return Verdict.keep(scores={"words": words})

    kept, lineage, dead = documents | PerDocumentStage(ShortDocumentFilter())
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from lineage import rows as lineage_rows
from schemas import lineage as lineage_schema
from schemas.documents import Document, sha256_text
from schemas.raw import RawMessage

LINEAGE_TAG = "lineage"
DEAD_LETTER_TAG = "dead_letters"
METRICS_NAMESPACE = "winnow"

_LOG = logging.getLogger(__name__)


class StageOutput(NamedTuple):
    """What every stage returns."""
    documents: beam.PCollection
    lineage: beam.PCollection
    dead_letters: beam.PCollection


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a :class:`DocumentProcessor` decided about one document.

    Build one with :meth:`keep`, :meth:`modify` or :meth:`drop`.
    """
    dropped: bool = False
    text: Optional[str] = None  # the new text, when the processor changed it
    annotations: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    scores: Mapping[str, float] = dataclasses.field(default_factory=dict)
    reason: Optional[str] = None
    value: Optional[float] = None
    threshold: Optional[float] = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def keep(cls, *, annotations=None, scores=None, details=None) -> "Verdict":
        return cls(annotations=annotations or {}, scores=scores or {}, details=details or {})

    @classmethod
    def modify(cls, text: str, *, reason: str, annotations=None, scores=None,
               details=None) -> "Verdict":
        return cls(text=text, reason=reason, annotations=annotations or {}, scores=scores or {},
                   details=details or {})

    @classmethod
    def drop(cls, reason: str, *, value=None, threshold=None, annotations=None, scores=None,
             details=None) -> "Verdict":
        return cls(dropped=True, reason=reason, value=value, threshold=threshold,
                   annotations=annotations or {}, scores=scores or {}, details=details or {})


class DeadLetter(Exception):
    """Raised by a processor to send a document to the quarantine with a specific reason.

    Any other exception is dead-lettered too, with the reason ``stage_exception``.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class DocumentProcessor:
    """One stage's logic for a single document. Subclass it; wrap it with PerDocumentStage.

    Attributes:
      name: the stage name used in config, lineage and metrics.
      version: bump when the stage's decisions change for the same input and parameters.
      batch_size: above 1, :meth:`process_batch` receives lists of up to this many documents
        (for models that are faster on batches, e.g. spaCy's ``nlp.pipe``).
    """
    name: str = "unnamed"
    version: str = "1"
    batch_size: int = 1

    def setup(self) -> None:
        """Loads models. Called once per worker DoFn instance, never per element."""

    def process(self, document: Document) -> Verdict:
        raise NotImplementedError

    def process_batch(self, documents: List[Document]) -> List[Verdict]:
        return [self.process(document) for document in documents]


def dead_letter_for_document(document: Document, stage: str, reason: str,
                             error: Optional[str] = None) -> Dict[str, Any]:
    """A quarantine row (without ``run_id``) for a parsed document that a stage could not handle."""
    return {
        "record_id": document.id,
        "stage": stage,
        "reason": reason,
        "error": error,
        "source_kind": document.source_kind,
        "source": document.source,
        "partition": document.source_partition,
        "offset": document.source_offset,
        "payload": document.text.encode("utf-8", "surrogatepass"),
    }


def dead_letter_for_message(message: RawMessage, stage: str, reason: str,
                            error: Optional[str] = None) -> Dict[str, Any]:
    """A quarantine row (without ``run_id``) for a raw message that could not be parsed."""
    return {
        "record_id": message.record_id,
        "stage": stage,
        "reason": reason,
        "error": error,
        "source_kind": message.source_kind,
        "source": message.source,
        "partition": message.partition,
        "offset": message.offset,
        "payload": message.payload,
    }


@dataclasses.dataclass(frozen=True)
class StageInfo:
    """Who a stage is (name, version, position) and whether it may drop: all a DoFn needs.

    Small and picklable, so DoFns carry this rather than the PTransform itself.
    """
    name: str
    version: str
    seq: int
    annotate_only: bool

    def count(self, action: str) -> None:
        """Counts an outcome in Beam metrics (``winnow:<stage>.<action>``), for live progress."""
        Metrics.counter(METRICS_NAMESPACE, f"{self.name}.{action}").inc()

    def event(self, record_id: str, action: str, **fields) -> pvalue.TaggedOutput:
        """A lineage event of this stage, tagged for the lineage output."""
        return pvalue.TaggedOutput(LINEAGE_TAG, lineage_rows.event(
            self.name, self.seq, self.version, record_id, action, **fields))

    def route_duplicate(self, document: Document, kept_id: str, similarity: float,
                        kept_run_id: Optional[str] = None):
        """The outputs for a document found to duplicate ``kept_id`` (for deduplication stages).

        Drops it with a ``duplicate_of`` edge; in annotate-only mode keeps it with a ``passed``
        event that names the record it would have been dropped for.
        """
        details = {"duplicate_of": kept_id}
        if kept_run_id is not None:
            details["duplicate_of_run"] = kept_run_id
        if self.annotate_only:
            details["would_drop"] = True
            self.count(lineage_schema.PASSED)
            yield self.event(document.id, lineage_schema.PASSED, reason="duplicate",
                             value=similarity, details=details)
            yield document
            return
        self.count(lineage_schema.DROPPED)
        yield self.event(document.id, lineage_schema.DROPPED, reason="duplicate",
                         value=similarity, details=details)
        yield pvalue.TaggedOutput(LINEAGE_TAG, lineage_rows.duplicate_of(
            document.id, kept_id, similarity, kept_run_id))

    def route_kept(self, document: Document, **fields):
        """The outputs for a document a deduplication stage keeps."""
        self.count(lineage_schema.PASSED)
        yield self.event(document.id, lineage_schema.PASSED, **fields)
        yield document


class Stage(beam.PTransform):
    """Base class of every stage: a name, a version, a position in the pipeline, annotate-only.

    Args:
      annotate_only: record every score and decision, but drop nothing.
      seq: the stage's position in the pipeline (1 for the first stage); recorded in lineage so
        a record's events can be put in order. The pipeline builder sets it.
    """
    name: str = "unnamed"
    version: str = "1"

    def __init__(self, *, annotate_only: bool = False, seq: int = 1, label: Optional[str] = None):
        super().__init__(label or type(self).__name__)
        self.annotate_only = annotate_only
        self.seq = seq

    @property
    def info(self) -> StageInfo:
        return StageInfo(self.name, self.version, self.seq, self.annotate_only)


class _ApplyProcessor(beam.DoFn):
    """Runs a DocumentProcessor on documents (or lists of them), routing each outcome."""

    def __init__(self, processor: DocumentProcessor, info: StageInfo):
        self._processor = processor
        self._info = info

    def setup(self):
        self._processor.setup()
        self._counters = {
            action: Metrics.counter(METRICS_NAMESPACE, f"{self._info.name}.{action}")
            for action in (lineage_schema.PASSED, lineage_schema.MODIFIED,
                           lineage_schema.DROPPED, lineage_schema.ERRORED)}

    def process(self, element):
        if isinstance(element, Document):
            yield from self._route(element, self._verdict_or_error(element))
            return
        try:
            verdicts = self._processor.process_batch(list(element))
        except Exception:  # pylint: disable=broad-except
            # Find the culprit: run the batch one by one so only the failing documents are
            # dead-lettered.
            verdicts = [self._verdict_or_error(document) for document in element]
        for document, verdict in zip(element, verdicts):
            yield from self._route(document, verdict)

    def _verdict_or_error(self, document: Document):
        try:
            return self._processor.process(document)
        except Exception as error:  # pylint: disable=broad-except
            return error

    def _event(self, record_id: str, action: str, **fields):
        self._counters[action].inc()
        return self._info.event(record_id, action, **fields)

    def _route(self, document: Document, verdict):
        if isinstance(verdict, DeadLetter):
            yield self._event(document.id, lineage_schema.ERRORED, reason=verdict.reason)
            yield pvalue.TaggedOutput(DEAD_LETTER_TAG, dead_letter_for_document(
                document, self._info.name, verdict.reason, str(verdict)))
            return
        if isinstance(verdict, Exception):
            _LOG.warning("stage %s failed on record %s: %r", self._info.name, document.id,
                         verdict)
            yield self._event(document.id, lineage_schema.ERRORED, reason="stage_exception",
                              details={"exception": type(verdict).__name__})
            yield pvalue.TaggedOutput(DEAD_LETTER_TAG, dead_letter_for_document(
                document, self._info.name, "stage_exception",
                f"{type(verdict).__name__}: {verdict}"))
            return
        details = dict(verdict.details)
        if verdict.dropped and not self._info.annotate_only:
            yield self._event(document.id, lineage_schema.DROPPED, reason=verdict.reason,
                              value=verdict.value, threshold=verdict.threshold,
                              scores=verdict.scores, details=details)
            return
        if verdict.dropped:
            details["would_drop"] = True
        kept = document.annotate(**verdict.annotations) if verdict.annotations else document
        if verdict.text is not None and verdict.text != document.text:
            kept = kept.with_text(verdict.text)
            yield self._event(document.id, lineage_schema.MODIFIED, reason=verdict.reason,
                              value=verdict.value, threshold=verdict.threshold,
                              scores=verdict.scores, details=details,
                              content_sha256=sha256_text(kept.text))
        else:
            yield self._event(document.id, lineage_schema.PASSED, reason=verdict.reason,
                              value=verdict.value, threshold=verdict.threshold,
                              scores=verdict.scores, details=details)
        yield kept


class PerDocumentStage(Stage):
    """Wraps a :class:`DocumentProcessor` into the stage contract.

    The processor's ``setup`` runs once per worker DoFn instance. A processor exception on one
    document dead-letters that document (reason ``stage_exception``) and never fails the pipeline.
    """

    def __init__(self, processor: DocumentProcessor, **kwargs):
        kwargs.setdefault("label", f"{processor.name}")
        super().__init__(**kwargs)
        self.processor = processor
        self.name = processor.name
        self.version = processor.version

    def expand(self, documents):
        if self.processor.batch_size > 1:
            documents = documents | "Batch" >> beam.BatchElements(
                min_batch_size=1, max_batch_size=self.processor.batch_size)
        outputs = documents | "Process" >> beam.ParDo(
            _ApplyProcessor(self.processor, self.info)).with_outputs(
                LINEAGE_TAG, DEAD_LETTER_TAG, main="documents")
        return StageOutput(outputs.documents, outputs[LINEAGE_TAG], outputs[DEAD_LETTER_TAG])


def flatten_outputs(label: str, collections: Iterable[beam.PCollection],
                    pipeline: beam.Pipeline) -> beam.PCollection:
    """Flattens PCollections, allowing an empty list."""
    collections = list(collections)
    if not collections:
        return pipeline | label >> beam.Create([])
    return tuple(collections) | label >> beam.Flatten()
