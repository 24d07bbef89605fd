"""The ``exact_dedup`` stage: removes documents whose (normalized) text is identical.

Documents are keyed by the SHA-256 of their text (normalized with
:func:`transforms.normalize.normalize_text` first, unless switched off), so whitespace or Unicode
composition differences do not hide a copy.

- **Batch** (bounded input): documents are grouped by hash; in each group the first document in the
  deterministic order of :attr:`schemas.documents.Document.order_key` (source, partition, offset) is
  kept and every other one is dropped with a ``duplicate_of`` edge (similarity 1.0) to it. The same
  input always keeps the same records, on any runner.
- **Streaming** (unbounded input): a stateful DoFn per hash remembers the first document it saw and
  drops later arrivals as its duplicates, across windows, for as long as the runner keeps state.

Writes no annotation columns.
"""

from __future__ import annotations

import hashlib

import apache_beam as beam
import pydantic
from apache_beam.coders import StrUtf8Coder
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from schemas.documents import Document
from transforms.normalize import normalize_text
from transforms.stage import DEAD_LETTER_TAG, LINEAGE_TAG, Stage, StageInfo, StageOutput


class ExactDedupParams(pydantic.BaseModel):
    """Parameters of the ``exact_dedup`` stage."""
    model_config = pydantic.ConfigDict(extra="forbid")

    normalize: bool = pydantic.Field(
        True, description="hash the normalized text, so that whitespace and Unicode "
        "composition differences still count as identical")


def text_key(text: str, normalize: bool = True) -> str:
    if normalize:
        text = normalize_text(text)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class _KeepFirstInOrder(beam.DoFn):
    """Batch: of a group of identical documents, keeps the first in order_key order."""

    def __init__(self, stage: StageInfo):
        self._stage = stage

    def process(self, keyed_group):
        _, documents = keyed_group
        documents = sorted(documents, key=lambda document: document.order_key)
        kept = documents[0]
        yield from self._stage.route_kept(kept, details={"copies": len(documents)})
        for duplicate in documents[1:]:
            yield from self._stage.route_duplicate(duplicate, kept.id, 1.0)


class _KeepFirstSeen(beam.DoFn):
    """Streaming: per hash, keeps the first document seen and drops later arrivals."""
    KEPT = ReadModifyWriteStateSpec("kept_id", StrUtf8Coder())

    def __init__(self, stage: StageInfo):
        self._stage = stage

    def process(self, keyed_document, kept_state=beam.DoFn.StateParam(KEPT)):
        _, document = keyed_document
        kept_id = kept_state.read()
        if kept_id is None or kept_id == document.id:
            kept_state.write(document.id)
            yield from self._stage.route_kept(document)
        else:
            yield from self._stage.route_duplicate(document, kept_id, 1.0)


class ExactDedup(Stage):
    """The ``exact_dedup`` stage as a PTransform (see the module docstring)."""
    name = "exact_dedup"
    version = "1"

    def __init__(self, params: ExactDedupParams = ExactDedupParams(), **kwargs):
        kwargs.setdefault("label", self.name)
        super().__init__(**kwargs)
        self.params = params

    def expand(self, documents):
        normalize = self.params.normalize
        keyed = documents | "KeyByTextHash" >> beam.Map(
            lambda document: (text_key(document.text, normalize), document)).with_output_types(
                beam.typehints.Tuple[str, Document])
        tags = (LINEAGE_TAG, DEAD_LETTER_TAG)
        if documents.is_bounded:
            outputs = (keyed
                       | "GroupByHash" >> beam.GroupByKey()
                       | "KeepFirstInOrder" >> beam.ParDo(_KeepFirstInOrder(self.info)).with_outputs(
                           *tags, main="documents"))
        else:
            outputs = keyed | "KeepFirstSeen" >> beam.ParDo(_KeepFirstSeen(self.info)).with_outputs(
                *tags, main="documents")
        return StageOutput(outputs.documents, outputs[LINEAGE_TAG], outputs[DEAD_LETTER_TAG])
