"""The ``minhash_dedup`` stage: removes near-duplicate documents with MinHash and LSH.

Each document's text is cut into word n-grams (``ngram`` words, default 5) whose set is summarized
by a MinHash signature of ``num_perm`` values (:mod:`transforms.minhash_signatures`). Signatures are
cut into LSH bands (:mod:`transforms.minhash_lsh`), derived from ``threshold`` unless ``bands`` and
``rows`` are given; documents that share a band share a bucket. Within a bucket each document is
compared with the documents before it, and a pair counts as similar when its estimated Jaccard
similarity (the share of equal signature values) is at least ``threshold`` (or, with
``verify: false``, as soon as it shares a bucket).

**Which document is dropped** (:mod:`transforms.minhash_resolve`). Documents are taken in a
deterministic order: in batch, :attr:`schemas.documents.Document.order_key` (source, partition,
offset); in streaming, the order in which they reach their buckets (first seen wins). Then:

    A document is dropped iff it is similar to an earlier document that is itself kept; it is
    dropped as a duplicate of the most similar such document (ties: the earliest), and its lineage
    gets a ``duplicate_of`` edge to it with the estimated similarity.

So the two documents of a pair are never both dropped, the target of every ``duplicate_of`` edge is
kept, and every group of near-duplicates keeps at least its earliest member. In a chain
``A ~ B ~ C`` with ``A !~ C``, ``A`` and ``C`` are kept and ``B`` is dropped for ``A``. The rule is
evaluated in at most ``max_rounds`` synchronous rounds; a document still undecided after that (only
in long chains of alternating keeps and drops) is kept and its lineage says ``unresolved``.
Documents without any word are kept untouched (``no_words``).

**Batch** (bounded input): band buckets are formed with ``GroupByKey`` and the rounds run as
``CoGroupByKey`` over the similarity graph; no step sees all documents at once. **Streaming**
(unbounded input): a stateful DoFn per band bucket keeps the bucket's earlier arrivals (up to
``max_bucket_candidates``) for as long as the runner keeps state, so a near-copy arriving minutes or
days after its original is still caught; the rounds run as stateful DoFns keyed by record id.

**Across runs** (``index_dir``; :mod:`transforms.minhash_index`): the stage writes the signatures
and band keys of the documents it kept, tagged with ``run_id``, and deduplicates each new run
against the index of the earlier runs, so run 2 drops a near-copy of a run-1 document with a
``duplicate_of`` edge whose target run is run 1.

Writes the annotation column ``minhash_signature`` only with ``keep_signature: true``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import apache_beam as beam
import pydantic
from apache_beam import pvalue
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import window
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec
from apache_beam.utils.windowed_value import WindowedValue

from pipelines.parquet_shards import WriteParquetShards
from schemas import lineage as lineage_schema
from schemas.documents import Document
from transforms import minhash_index
from transforms.minhash_lsh import Member, band_keys, lsh_bands, similar_earlier, similar_stored
from transforms.minhash_resolve import (DROPPED, KEPT, OPEN, NodeState, ResolveBatch,
                                        ResolveStreaming, merge_neighbors)
from transforms.minhash_signatures import (MinHasher, signature_from_bytes, signature_list,
                                           signature_to_bytes)
from transforms.stage import (DEAD_LETTER_TAG, LINEAGE_TAG, METRICS_NAMESPACE, Stage, StageInfo,
                              StageOutput, dead_letter_for_document, flatten_outputs)

BANDS_TAG = "band_members"
FINISHED_TAG = "finished"
INDEX_TAG = "index_rows"


class MinHashDedupParams(pydantic.BaseModel):
    """Parameters of the ``minhash_dedup`` stage."""
    model_config = pydantic.ConfigDict(extra="forbid")

    threshold: float = pydantic.Field(
        0.7, gt=0, le=1, description="estimated Jaccard similarity of word n-gram sets at or "
        "above which two documents are near-duplicates (with 5-word shingles, 0.7 is about 4% "
        "of the words edited)")
    ngram: int = pydantic.Field(5, ge=1, le=64, description="words per shingle")
    num_perm: int = pydantic.Field(112, ge=8, le=4096, description="MinHash permutations "
                                   "(signature length); more is slower but more exact")
    bands: Optional[int] = pydantic.Field(
        None, ge=1, description="LSH bands; give with rows, else derived from threshold "
        "(threshold 0.7 and 112 permutations give 14 bands x 8 rows)")
    rows: Optional[int] = pydantic.Field(None, ge=1, description="signature values per LSH band")
    verify: bool = pydantic.Field(
        True, description="drop only pairs whose estimated similarity reaches threshold; false "
        "drops whenever two documents share a band (plain LSH, as DataTrove does)")
    seed: int = pydantic.Field(1, ge=0, description="seeds the MinHash permutations; runs "
                               "that share an index_dir must use the same seed")
    max_rounds: int = pydantic.Field(
        6, ge=1, le=64, description="rounds of the keep/drop rule; documents still undecided "
        "after them (long chains of near-duplicates) are kept")
    max_bucket_candidates: int = pydantic.Field(
        1000, ge=1, description="compare a document with at most this many earlier distinct "
        "signatures per bucket (bounds the work on huge buckets; can only keep more)")
    batch_size: int = pydantic.Field(256, ge=1, le=100_000, description="documents hashed "
                                     "together in one vectorised step")
    keep_signature: bool = pydantic.Field(
        False, description="write the signature to the minhash_signature column")
    index_dir: Optional[str] = pydantic.Field(
        None, description="folder (local or any Beam filesystem) of the cross-run index: read to "
        "drop near-copies of earlier runs' documents, and extended with this run's kept documents; "
        "none: no cross-run deduplication")
    run_id: Optional[str] = pydantic.Field(
        None, description="the run's id, recorded in index rows (the pipeline fills it in; "
        "needed with index_dir)")
    index_flush_s: int = pydantic.Field(60, gt=0, description="streaming: this run's index "
                                        "rows are written per event-time window of this many "
                                        "seconds")

    @pydantic.model_validator(mode="after")
    def _check_bands(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = "
                             f"{self.num_perm}")
        return self

    def lsh_bands(self):
        """``(bands, rows)``: as given, else derived from threshold and num_perm."""
        if self.bands is not None:
            return self.bands, self.rows
        return lsh_bands(self.threshold, self.num_perm)


class _Carried(NamedTuple):
    """A document waiting for its decision, with its signature when it is needed later."""
    document: Document
    signature: Optional[bytes]


def _counter(info: StageInfo, name: str):
    return Metrics.counter(METRICS_NAMESPACE, f"{info.name}.{name}")


class _ComputeSignatures(beam.DoFn):
    """Documents -> ``(record_id, _Carried)`` and, tagged, ``(band_key, Member)``.

    Hashes up to ``batch_size`` documents of a bundle together. Every output keeps the timestamp and
    window of its own input document (unlike ``BatchElements``, whose batches take the end of the
    global window), so streaming output windows stay right. Documents without words are routed at
    once (kept, tagged FINISHED_TAG); a document whose text cannot be hashed is dead-lettered.
    """

    def __init__(self, params: MinHashDedupParams, bands: int, rows: int, info: StageInfo,
                 carry_signature: bool):
        self._params = params
        self._bands = bands
        self._rows = rows
        self._info = info
        self._carry_signature = carry_signature

    def setup(self):
        self._hasher = MinHasher(self._params.ngram, self._params.num_perm, self._params.seed)
        self._no_words = _counter(self._info, "no_words")
        self._errored = _counter(self._info, lineage_schema.ERRORED)

    def start_bundle(self):
        self._pending = []

    def process(self, document, timestamp=beam.DoFn.TimestampParam,
                input_window=beam.DoFn.WindowParam):
        self._pending.append((document, timestamp, input_window))
        if len(self._pending) >= self._params.batch_size:
            yield from self._flush()

    def finish_bundle(self):
        yield from self._flush()

    def _flush(self):
        pending, self._pending = self._pending, []
        if not pending:
            return
        documents = [document for document, _, _ in pending]
        try:
            signatures, has_signature = self._hasher.signatures([d.text for d in documents])
            outputs = self._outputs(documents, signatures, has_signature)
        except Exception:  # pylint: disable=broad-except
            outputs = [list(self._one(document)) for document in documents]
        for (_, timestamp, input_window), document_outputs in zip(pending, outputs):
            for output in document_outputs:
                if isinstance(output, pvalue.TaggedOutput):
                    yield pvalue.TaggedOutput(output.tag, WindowedValue(
                        output.value, timestamp, [input_window]))
                else:
                    yield WindowedValue(output, timestamp, [input_window])

    def _one(self, document):
        """One document on its own, dead-lettered if it cannot be hashed."""
        try:
            signatures, has_signature = self._hasher.signatures([document.text])
            return self._outputs([document], signatures, has_signature)[0]
        except Exception as error:  # pylint: disable=broad-except
            self._errored.inc()
            return [self._info.event(document.id, lineage_schema.ERRORED,
                                     reason="stage_exception",
                                     details={"exception": type(error).__name__}),
                    pvalue.TaggedOutput(DEAD_LETTER_TAG, dead_letter_for_document(
                        document, self._info.name, "stage_exception",
                        f"{type(error).__name__}: {error}"))]

    def _outputs(self, documents, signatures, has_signature):
        """The outputs of each document, as one list per document."""
        keys = iter(band_keys(signatures[has_signature], self._bands, self._rows))
        outputs = []
        for document, signature, usable in zip(documents, signatures, has_signature):
            if not usable:
                self._no_words.inc()
                outputs.append([
                    output if isinstance(output, pvalue.TaggedOutput)
                    else pvalue.TaggedOutput(FINISHED_TAG, output)
                    for output in self._info.route_kept(document, reason="no_words")])
                continue
            packed = signature_to_bytes(signature)
            member = Member(document.id, (minhash_index.CURRENT_ORDER_RANK,) + document.order_key,
                            packed)
            document_outputs = [pvalue.TaggedOutput(BANDS_TAG, (key, member))
                                for key in next(keys)]
            document_outputs.append(
                (document.id, _Carried(document, packed if self._carry_signature else None)))
            outputs.append(document_outputs)
        return outputs


class _FindSimilarInBucket(beam.DoFn):
    """Batch: one bucket's members -> ``(record_id, neighbors)`` for each member with neighbors."""

    def __init__(self, params: MinHashDedupParams, info: StageInfo):
        self._threshold = params.threshold
        self._verify = params.verify
        self._max_candidates = params.max_bucket_candidates
        self._info = info

    def setup(self):
        self._shared_buckets = _counter(self._info, "shared_buckets")

    def process(self, keyed_members):
        _, members = keyed_members
        members = list(members)
        if len(members) < 2:
            return
        self._shared_buckets.inc()
        members.sort(key=lambda member: (member.order, member.record_id))
        for member, neighbors in similar_earlier(members, self._threshold, self._verify,
                                                 self._max_candidates):
            yield member.record_id, neighbors


class _BucketStateful(beam.DoFn):
    """Streaming: per band key, compares each arrival with the bucket's earlier arrivals.

    Emits ``(record_id, (band, neighbors))`` once per band of every document of this run (with an
    empty list when nothing earlier is similar), so the next step knows when a document is complete.
    """
    MEMBERS = BagStateSpec("members", PickleCoder())
    COUNT = ReadModifyWriteStateSpec("count", PickleCoder())

    def __init__(self, params: MinHashDedupParams):
        self._threshold = params.threshold
        self._verify = params.verify
        self._max_candidates = params.max_bucket_candidates

    def process(self, keyed_member, members_state=beam.DoFn.StateParam(MEMBERS),
                count_state=beam.DoFn.StateParam(COUNT)):
        band_key, member = keyed_member
        stored = list(members_state.read())
        if member.run_id is None:
            band = int.from_bytes(band_key[:2], "big")
            yield member.record_id, (band, similar_stored(member, stored, self._threshold,
                                                          self._verify))
        count = count_state.read() or 0
        if count < self._max_candidates:
            members_state.add(member)
            count_state.write(count + 1)


class _CollectBandsStateful(beam.DoFn):
    """Streaming: per document, waits for all its bands' reports, then emits its initial state."""
    REPORTS = ReadModifyWriteStateSpec("reports", PickleCoder())

    def __init__(self, bands: int):
        self._bands = bands

    def process(self, keyed_report, reports_state=beam.DoFn.StateParam(REPORTS)):
        record_id, (band, neighbors) = keyed_report
        reports = reports_state.read() or {}
        reports[band] = neighbors
        if len(reports) < self._bands:
            reports_state.write(reports)
            return
        reports_state.clear()
        yield record_id, merge_neighbors(record_id, reports.values())


class _Router:
    """Turns a document and its final state into the stage's outputs (shared by both modes)."""

    def __init__(self, params: MinHashDedupParams, info: StageInfo, bands: int, rows: int):
        self._params = params
        self._info = info
        self._bands = bands
        self._rows = rows

    def setup(self):
        self._unresolved = _counter(self._info, "unresolved")

    def route(self, carried: _Carried, node: Optional[NodeState]):
        document, signature = carried
        if self._params.keep_signature and signature is not None:
            document = document.annotate(
                minhash_signature=signature_list(signature_from_bytes(signature)))
        if node is not None and node.status == DROPPED:
            target = node.target
            yield from self._info.route_duplicate(document, target.record_id, target.similarity,
                                                  target.run_id)
            return
        details = None
        if node is not None and node.status == OPEN:
            self._unresolved.inc()
            details = {"unresolved": True, "similar_earlier": len(node.neighbors)}
        elif node is not None and node.status == KEPT and node.neighbors:
            details = {"similar_earlier_all_dropped": len(node.neighbors)}
        yield from self._info.route_kept(document, details=details)
        if self._params.index_dir and signature is not None:
            keys = band_keys(signature_from_bytes(signature)[None, :], self._bands,
                             self._rows)[0]
            yield pvalue.TaggedOutput(INDEX_TAG, minhash_index.index_row(
                document.id, self._params.run_id, signature, keys))


class _RouteBatch(beam.DoFn):
    """Batch: ``(record_id, {"document": [...], "node": [...]})`` -> the stage's outputs."""

    def __init__(self, router: _Router):
        self._router = router

    def setup(self):
        self._router.setup()

    def process(self, keyed):
        _, grouped = keyed
        nodes = list(grouped["node"])
        for carried in grouped["document"]:
            yield from self._router.route(carried, nodes[0] if nodes else None)


class _RouteStateful(beam.DoFn):
    """Streaming: per record id, waits for the document and its final state, then routes it."""
    DOCUMENT = ReadModifyWriteStateSpec("document", PickleCoder())
    NODE = ReadModifyWriteStateSpec("node", PickleCoder())

    def __init__(self, router: _Router):
        self._router = router

    def setup(self):
        self._router.setup()

    def process(self, keyed, document_state=beam.DoFn.StateParam(DOCUMENT),
                node_state=beam.DoFn.StateParam(NODE)):
        _, (tag, value) = keyed
        if tag == "document":
            carried, node = value, node_state.read()
        else:
            carried, node = document_state.read(), value
        if carried is None or node is None:
            (document_state if tag == "document" else node_state).write(value)
            return
        document_state.clear()
        node_state.clear()
        yield from self._router.route(carried, node)


def _tag(tag: str):
    return lambda keyed: (keyed[0], (tag, keyed[1]))


class MinHashDedup(Stage):
    """The ``minhash_dedup`` stage as a PTransform (see the module docstring)."""
    name = "minhash_dedup"
    version = "1"

    def __init__(self, params: MinHashDedupParams = MinHashDedupParams(), **kwargs):
        kwargs.setdefault("label", self.name)
        super().__init__(**kwargs)
        if params.index_dir and not params.run_id:
            raise ValueError("minhash_dedup: index_dir needs run_id (the pipeline builder sets "
                             "it; when building a pipeline by hand, pass the run's id)")
        self.params = params
        self.bands, self.rows = params.lsh_bands()
        self._signature_config = MinHasher(params.ngram, params.num_perm, params.seed).config

    def expand(self, documents):
        params, info = self.params, self.info
        carry_signature = params.keep_signature or bool(params.index_dir)
        hashed = (documents
                  | "Signatures" >> beam.ParDo(_ComputeSignatures(
                      params, self.bands, self.rows, info, carry_signature)).with_outputs(
                          BANDS_TAG, FINISHED_TAG, LINEAGE_TAG, DEAD_LETTER_TAG, main="carried"))
        carried = hashed.carried | "TypeCarried" >> beam.Map(lambda kv: kv).with_output_types(
            beam.typehints.Tuple[str, Any])
        members = hashed[BANDS_TAG] | "TypeMembers" >> beam.Map(lambda kv: kv).with_output_types(
            beam.typehints.Tuple[bytes, Any])
        if params.index_dir:
            paths = minhash_index.index_files(params.index_dir, params.run_id)
            minhash_index.check_index_files(paths, self._signature_config)
            earlier = documents.pipeline | "ReadIndex" >> minhash_index.ReadIndexMembers(
                paths, self.bands, self.rows)
            members = ((members, earlier | "TypeIndexMembers" >> beam.Map(
                lambda kv: kv).with_output_types(beam.typehints.Tuple[bytes, Any]))
                       | "WithIndex" >> beam.Flatten())
        router = _Router(params, info, self.bands, self.rows)
        outputs = (LINEAGE_TAG, DEAD_LETTER_TAG, INDEX_TAG)
        if documents.is_bounded:
            states = (members
                      | "GroupByBand" >> beam.GroupByKey()
                      | "FindSimilar" >> beam.ParDo(_FindSimilarInBucket(params, info))
                      | "GroupByDocument" >> beam.GroupByKey()
                      | "Neighbors" >> beam.MapTuple(
                          lambda record_id, lists: (record_id, merge_neighbors(record_id, lists)))
                      | "Resolve" >> ResolveBatch(params.max_rounds))
            routed = ({"document": carried, "node": states}
                      | "JoinDecisions" >> beam.CoGroupByKey()
                      | "Route" >> beam.ParDo(_RouteBatch(router)).with_outputs(
                          *outputs, main="documents"))
        else:
            states = (members
                      | "Buckets" >> beam.ParDo(_BucketStateful(params)).with_output_types(
                          beam.typehints.Tuple[str, Any])
                      | "CollectBands" >> beam.ParDo(_CollectBandsStateful(self.bands))
                      .with_output_types(beam.typehints.Tuple[str, Any])
                      | "Resolve" >> ResolveStreaming(params.max_rounds))
            keyed = beam.typehints.Tuple[str, Any]
            routed = ((carried | "TagDocuments" >> beam.Map(_tag("document"))
                       .with_output_types(keyed),
                       states | "TagStates" >> beam.Map(_tag("node")).with_output_types(keyed))
                      | "DocumentsAndStates" >> beam.Flatten()
                      | "Route" >> beam.ParDo(_RouteStateful(router)).with_outputs(
                          *outputs, main="documents"))
        if params.index_dir:
            self._write_index(routed[INDEX_TAG], documents.is_bounded)
        pipeline = documents.pipeline
        return StageOutput(
            flatten_outputs("AllDocuments", [routed.documents, hashed[FINISHED_TAG]], pipeline),
            flatten_outputs("AllLineage", [hashed[LINEAGE_TAG], routed[LINEAGE_TAG]], pipeline),
            hashed[DEAD_LETTER_TAG])

    def _write_index(self, rows, bounded: bool):
        if not bounded:
            rows = rows | "WindowIndex" >> beam.WindowInto(
                window.FixedWindows(self.params.index_flush_s))
        schema = minhash_index.index_schema(self._signature_config, self.bands, self.rows)
        _ = rows | "WriteIndex" >> WriteParquetShards(
            self.params.index_dir, schema, self.params.run_id, ("record_id",),
            size_of=lambda row: 40 + 5 * len(row["signature"]) + 14 * len(row["band_keys"]))
