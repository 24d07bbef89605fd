"""The minhash_dedup stage: signatures, LSH, the keep/drop rule, and the stage in pipelines.

Documents are synthetic but realistic in length and word statistics: words drawn with Zipf
frequencies from a pseudo-word vocabulary. Where a test depends on LSH luck (whether a pair
shares a band, whether its estimate reaches the threshold), it first computes that for the pair
with the stage's own building blocks and asserts it as a precondition, so the test checks the
stage's decisions rather than the dice.
"""

import glob
import json
import os
import subprocess
import sys

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from lineage.verify import passed, verify
from schemas.documents import Document
from transforms import minhash_index
from transforms.minhash_dedup import MinHashDedup, MinHashDedupParams
from transforms.minhash_lsh import Member, Neighbor, band_keys, lsh_bands, similar_earlier
from transforms.minhash_resolve import (DROPPED, KEPT, OPEN, ResolveBatch, decide,
                                        merge_neighbors)
from transforms.minhash_signatures import (MinHasher, estimated_jaccard, signature_to_bytes,
                                           word_hashes)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THRESHOLD = 0.7


# ---------------------------------------------------------------------------------------------
# Synthetic documents


class Corpus:
    """Zipf-distributed pseudo-words; documents, near-copies and sliding windows over them."""

    def __init__(self, seed=7, vocabulary=20000):
        self.rng = np.random.default_rng(seed)
        syllables = ["ka", "to", "ri", "men", "sa", "lo", "pe", "dan", "ti", "mo", "ra", "ne",
                     "su", "vi", "el", "or", "an", "is", "us", "ex", "qu", "bra", "sto", "li"]
        words = set()
        while len(words) < vocabulary:
            words.add("".join(self.rng.choice(syllables, size=self.rng.integers(1, 5))))
        self.words = sorted(words)
        weights = 1.0 / np.arange(1, vocabulary + 1) ** 1.05
        self.weights = weights / weights.sum()

    def words_of(self, count):
        return [self.words[i] for i in self.rng.choice(len(self.words), size=count,
                                                       p=self.weights)]

    @staticmethod
    def text(words):
        sentences, line = [], []
        for position, word in enumerate(words):
            line.append(word.capitalize() if not line else word)
            if position % 13 == 12:
                sentences.append(" ".join(line) + ".")
                line = []
        if line:
            sentences.append(" ".join(line) + ".")
        return " ".join(sentences)

    def document_words(self, low=400, high=700):
        return self.words_of(int(self.rng.integers(low, high)))

    def edit(self, words, rate):
        """Replaces, deletes or inserts a word at each position with probability ``rate``."""
        edited = []
        for word in words:
            if self.rng.random() >= rate:
                edited.append(word)
                continue
            kind = self.rng.integers(3)
            if kind == 0:
                edited.append(self.words_of(1)[0])
            elif kind == 2:
                edited.extend([word, self.words_of(1)[0]])
        return edited


class UnhashableText(str):
    """A text on which the stage's hashing fails (stands in for any unexpected error)."""

    def lower(self):
        raise RuntimeError("cannot lowercase")


def doc(text, offset, source="corpus.jsonl", kind="file", partition=0):
    return Document(id=f"{source}:{partition}:{offset}", text=text, source_kind=kind,
                    source=source, source_partition=partition, source_offset=offset)


HASHER = MinHasher(5, 112, 1)
BANDS, ROWS = lsh_bands(THRESHOLD, 112)


def signature(text):
    signatures, has_signature = HASHER.signatures([text])
    assert has_signature[0]
    return signatures[0]


def similarity(text_a, text_b):
    return float(estimated_jaccard(signature(text_a), signature(text_b)))


def share_a_band(text_a, text_b, bands=BANDS, rows=ROWS):
    keys = band_keys(np.stack([signature(text_a), signature(text_b)]), bands, rows)
    return bool(set(keys[0]) & set(keys[1]))


def detected(text_a, text_b):
    """Whether the stage (defaults) can see the pair: it shares a band and passes verification."""
    return share_a_band(text_a, text_b) and similarity(text_a, text_b) >= THRESHOLD


# ---------------------------------------------------------------------------------------------
# Signatures and LSH


def shingle_set(text, n=5):
    words = text.lower().replace(".", " ").split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def test_signature_estimates_the_jaccard_similarity_of_word_5_gram_sets_without_bias():
    corpus = Corpus(seed=11)
    errors = {rate: [] for rate in (0.01, 0.03, 0.08)}
    for _ in range(60):
        words = corpus.document_words()
        for rate in errors:
            original, copy = corpus.text(words), corpus.text(corpus.edit(words, rate))
            a, b = shingle_set(original), shingle_set(copy)
            true_jaccard = len(a & b) / len(a | b)
            errors[rate].append((similarity(original, copy) - true_jaccard, true_jaccard))
    for rate, pairs in errors.items():
        deviations = np.array([error for error, _ in pairs])
        mean_jaccard = np.mean([jaccard for _, jaccard in pairs])
        ideal_sd = np.sqrt(mean_jaccard * (1 - mean_jaccard) / 112)
        assert abs(deviations.mean()) < 2.5 * ideal_sd / np.sqrt(len(deviations)) + 0.005, rate
        assert deviations.std() < 1.35 * ideal_sd, (rate, deviations.std(), ideal_sd)


def test_tokenizer_ignores_case_and_punctuation_but_not_word_order():
    base = "The quick brown fox jumps over the lazy dog near the river bank today"
    variants = [
        "the QUICK brown fox, jumps over the lazy dog... near the river-bank today!",
        "The quick brown fox \u201cjumps\u201d over the lazy dog \u2014 near the river "
        "bank\u2026 today",
    ]
    for variant in variants:
        assert np.array_equal(signature(base), signature(variant)), variant
    reordered = "quick the brown fox jumps over the lazy dog near the river bank today"
    assert not np.array_equal(signature(base), signature(reordered))
    hashes, counts = word_hashes(["It\u2019s a caf\u00e9\u00a0\u00bbtest\u00ab", "", "!!! ..."])
    assert counts.tolist() == [5, 0, 0]
    _, has_signature = HASHER.signatures(["one two", "", "\u2014 !!! \u2014", "x"])
    assert has_signature.tolist() == [True, False, False, True]


def test_signatures_do_not_depend_on_batching_or_process():
    corpus = Corpus(seed=3)
    texts = [corpus.text(corpus.document_words(1, 900)) for _ in range(40)] + ["short text"]
    together, _ = HASHER.signatures(texts)
    one_by_one = np.stack([signature(text) for text in texts])
    assert np.array_equal(together, one_by_one)
    assert np.array_equal(together, MinHasher(5, 112, 1).signatures(texts)[0])
    assert not np.array_equal(together, MinHasher(5, 112, 2).signatures(texts)[0])
    script = ("from transforms.minhash_signatures import MinHasher; import sys, json; "
              "print(json.dumps(MinHasher(5, 112, 1).signatures([sys.argv[1]])[0][0].tolist()))")
    other_process = subprocess.run([sys.executable, "-c", script, texts[0]], cwd=REPO_ROOT,
                                   capture_output=True, text=True, check=True,
                                   env=dict(os.environ, PYTHONHASHSEED="123"))
    assert json.loads(other_process.stdout) == together[0].tolist()


def test_bands_are_derived_from_the_threshold_or_given():
    assert lsh_bands(0.7, 112) == (14, 8)
    assert MinHashDedupParams().lsh_bands() == (14, 8)
    assert MinHashDedupParams(bands=20, rows=5).lsh_bands() == (20, 5)
    bands_for_higher_threshold = lsh_bands(0.85, 112)
    assert bands_for_higher_threshold[1] > 8
    with pytest.raises(ValueError):
        MinHashDedupParams(bands=20)
    with pytest.raises(ValueError):
        MinHashDedupParams(bands=20, rows=6)  # 120 > 112 permutations
    with pytest.raises(ValueError):
        MinHashDedupParams(unknown=1)


def test_identical_signatures_are_compared_once_and_copies_inherit_neighbors():
    corpus = Corpus(seed=5)
    words = corpus.document_words()
    original = signature(corpus.text(words))
    near = signature(corpus.text(corpus.edit(words, 0.01)))
    members = [Member("a", (1, 0), signature_to_bytes(original)),
               Member("b", (1, 1), signature_to_bytes(near)),
               Member("c", (1, 2), signature_to_bytes(near)),
               Member("d", (1, 3), signature_to_bytes(near))]
    found = {member.record_id: neighbors
             for member, neighbors in similar_earlier(members, THRESHOLD, True, 1000)}
    assert [n.record_id for n in found["b"]] == ["a"]
    for copy in ("c", "d"):
        assert [(n.record_id, n.similarity) for n in found[copy]][0] == ("b", 1.0)
        assert [n.record_id for n in found[copy]][1:] == ["a"]


# ---------------------------------------------------------------------------------------------
# The keep/drop rule


def _node(record_id, *neighbors):
    return (record_id, merge_neighbors(record_id, [[
        Neighbor(other, (1, int(other[1:])), similarity) for other, similarity in neighbors]]))


def test_rounds_follow_the_sequential_rule_and_keep_what_they_cannot_decide():
    # d1 ~ d2 ~ d3 ~ d4 in a chain (each similar only to the one before), and d5 similar to both
    # d1 and d2, d6 similar to d5 only. d1 has no earlier neighbor: it is kept.
    nodes = [_node("d2", ("d1", 0.8)), _node("d3", ("d2", 0.8)), _node("d4", ("d3", 0.8)),
             _node("d5", ("d1", 0.75), ("d2", 0.9)), _node("d6", ("d5", 0.8))]
    with TestPipeline(options=PipelineOptions(["--runner=DirectRunner"])) as pipeline:
        states = pipeline | beam.Create(nodes)

        def summary(keyed):
            _, node = keyed
            return (node.record_id, node.status, node.target.record_id if node.target else None)

        assert_that(states | "ThreeRounds" >> ResolveBatch(3) | "S3" >> beam.Map(summary),
                    equal_to([("d2", DROPPED, "d1"), ("d3", KEPT, None), ("d4", DROPPED, "d3"),
                              ("d5", DROPPED, "d1"), ("d6", KEPT, None)]), label="three")
        assert_that(states | "OneRound" >> ResolveBatch(1) | "S1" >> beam.Map(summary),
                    equal_to([("d2", DROPPED, "d1"), ("d3", OPEN, None), ("d4", OPEN, None),
                              ("d5", DROPPED, "d1"), ("d6", OPEN, None)]), label="one")


def test_a_dropped_document_points_at_the_most_similar_kept_one():
    _, node = _node("d9", ("d1", 0.72), ("d2", 0.95), ("d3", 0.95))
    decided = decide(node, {"d1": KEPT, "d2": DROPPED, "d3": KEPT}, 1)
    assert (decided.status, decided.target.record_id) == (DROPPED, "d3")
    assert decide(node, {"d1": DROPPED, "d2": DROPPED, "d3": DROPPED}, 1).status == KEPT
    assert decide(node, {"d1": DROPPED, "d2": OPEN, "d3": DROPPED}, 1).status == OPEN


# ---------------------------------------------------------------------------------------------
# The stage in a batch pipeline


def _collect(pcollection, path, label):
    """Writes a PCollection of JSON-able values to text files under ``path``."""
    _ = (pcollection | f"{label}Json" >> beam.Map(json.dumps, default=str)
         | f"{label}Write" >> beam.io.WriteToText(path))


def _read_collected(path):
    rows = []
    for name in glob.glob(f"{path}*"):
        with open(name, encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return rows


def _stage_outputs(result, folder, label=""):
    _collect(result.documents | f"{label}Ids" >> beam.Map(
        lambda d: {"id": d.id, "signature": d.annotation_dict.get("minhash_signature")}),
        f"{folder}/{label}documents", f"{label}Documents")
    _collect(result.lineage | f"{label}Rows" >> beam.Map(lambda row: [row.table, row.row]),
             f"{folder}/{label}lineage", f"{label}Lineage")
    _collect(result.dead_letters | f"{label}Dead" >> beam.Map(
        lambda row: {"record_id": row["record_id"], "reason": row["reason"]}),
        f"{folder}/{label}dead", f"{label}Dead")


class Outcome:
    """What a stage run produced, read back from disk."""

    def __init__(self, folder, label=""):
        self.kept = {row["id"]: row for row in _read_collected(f"{folder}/{label}documents")}
        lineage = _read_collected(f"{folder}/{label}lineage")
        self.events = [row for table, row in lineage if table == "events"]
        self.edges = {row["record_id"]: row for table, row in lineage if table == "edges"}
        self.dead = _read_collected(f"{folder}/{label}dead")

    def target(self, record_id):
        edge = self.edges.get(record_id)
        return edge and edge["target_id"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A corpus with planted near-duplicates, paraphrases, a chain and a cluster, deduplicated."""
    corpus = Corpus(seed=21)
    documents, facts = [], {"near": [], "paraphrase": [], "unrelated": []}
    originals = [corpus.document_words() for _ in range(40)]
    for offset, words in enumerate(originals):
        documents.append(doc(corpus.text(words), offset))
        facts["unrelated"].append(documents[-1].id)
    offset = 100
    for index, rate in enumerate([0.01, 0.01, 0.02, 0.02, 0.03, 0.03, 0.01, 0.02]):
        copy = doc(corpus.text(corpus.edit(originals[index], rate)), offset)
        documents.append(copy)
        facts["near"].append((copy.id, documents[index].id, rate))
        offset += 1
    for index in (20, 21, 22):  # about a fifth of the words changed: related, not duplicates
        copy = doc(corpus.text(corpus.edit(originals[index], 0.2)), offset)
        documents.append(copy)
        facts["paraphrase"].append((copy.id, documents[index].id))
        offset += 1
    # A chain A ~ B ~ C with A !~ C: sliding windows over one long word sequence.
    long_words = corpus.words_of(600)
    chain = [doc(corpus.text(long_words[shift:shift + 450]), 200 + step)
             for step, shift in enumerate((0, 45, 90))]
    # A cluster of three mutually similar documents.
    cluster_words = corpus.document_words()
    cluster = [doc(corpus.text(words), 300 + step) for step, words in enumerate(
        [cluster_words, corpus.edit(cluster_words, 0.01), corpus.edit(cluster_words, 0.01)])]
    no_words = doc("... \u2014 !!!", 400)
    broken = Document(id="broken", text=UnhashableText("a text that cannot be hashed"),
                      source_kind="file", source="corpus.jsonl", source_partition=0,
                      source_offset=401)
    documents += chain + cluster + [no_words, broken]
    facts.update(chain=[d.id for d in chain], cluster=[d.id for d in cluster],
                 no_words=no_words.id, broken=broken.id, texts={d.id: d.text for d in documents})
    folder = str(tmp_path_factory.mktemp("planted"))
    reversed_input = list(reversed(documents))  # the input order must not matter
    with TestPipeline(options=PipelineOptions(["--runner=DirectRunner"])) as pipeline:
        result = (pipeline | beam.Create(reversed_input)
                  | MinHashDedup(MinHashDedupParams(keep_signature=True, batch_size=16)))
        _stage_outputs(result, folder)
    return facts, Outcome(folder)


def test_planted_near_duplicates_are_dropped_for_their_original(planted):
    facts, outcome = planted
    detectable = 0
    for copy, original, rate in facts["near"]:
        texts = facts["texts"]
        if detected(texts[copy], texts[original]):
            detectable += 1
            assert copy not in outcome.kept, (copy, rate)
            assert outcome.target(copy) == original
            assert outcome.edges[copy]["similarity"] == pytest.approx(
                similarity(texts[copy], texts[original]))
        else:
            assert copy in outcome.kept
    assert detectable >= 6, "LSH found too few of the planted near-duplicates"


def test_unrelated_documents_and_paraphrases_are_kept(planted):
    facts, outcome = planted
    for record_id in facts["unrelated"]:
        assert record_id in outcome.kept
    for copy, original in facts["paraphrase"]:
        assert similarity(facts["texts"][copy], facts["texts"][original]) < 0.5
        assert copy in outcome.kept and original in outcome.kept


def test_a_chain_keeps_its_ends_and_a_cluster_keeps_its_first(planted):
    facts, outcome = planted
    texts = facts["texts"]
    a, b, c = facts["chain"]
    assert detected(texts[a], texts[b]) and detected(texts[b], texts[c])
    assert similarity(texts[a], texts[c]) < THRESHOLD
    assert a in outcome.kept and c in outcome.kept
    assert outcome.target(b) == a
    first, second, third = facts["cluster"]
    assert detected(texts[first], texts[second]) and detected(texts[first], texts[third])
    assert first in outcome.kept
    assert outcome.target(second) == first and outcome.target(third) == first


def test_every_document_leaves_once_and_every_target_is_kept(planted):
    facts, outcome = planted
    fates = {}
    for event in outcome.events:
        fates.setdefault(event["record_id"], []).append(event["action"])
    assert len(fates) == len(facts["texts"])
    assert all(len(actions) == 1 for actions in fates.values())
    for record_id, edge in outcome.edges.items():
        assert fates[record_id] == ["dropped"]
        assert edge["edge_type"] == "duplicate_of" and edge["target_id"] in outcome.kept
    assert set(outcome.kept) | set(outcome.edges) | {facts["broken"]} == set(facts["texts"])


def test_documents_without_words_are_kept_and_broken_ones_dead_lettered(planted):
    facts, outcome = planted
    assert facts["no_words"] in outcome.kept
    reasons = {e["record_id"]: e["reason"] for e in outcome.events}
    assert reasons[facts["no_words"]] == "no_words"
    assert outcome.dead == [{"record_id": "broken", "reason": "stage_exception"}]
    assert facts["broken"] not in outcome.kept


def test_signatures_are_kept_only_when_asked(planted):
    facts, outcome = planted
    first = facts["unrelated"][0]
    assert outcome.kept[first]["signature"] == signature(facts["texts"][first]).tolist()
    assert outcome.kept[facts["no_words"]]["signature"] is None


def test_annotate_only_drops_nothing_and_verification_can_be_switched_off(tmp_path):
    corpus = Corpus(seed=31)
    words = corpus.document_words()
    original = doc(corpus.text(words), 0)
    copy = doc(corpus.text(corpus.edit(words, 0.01)), 1)
    # Find a related pair below the threshold that still shares one of 28 bands of 4 rows.
    for attempt in range(50):
        other_words = corpus.document_words()
        related = doc(corpus.text(other_words), 2 + 2 * attempt)
        rewrite = doc(corpus.text(corpus.edit(other_words, 0.07)), 3 + 2 * attempt)
        if (share_a_band(related.text, rewrite.text, 28, 4)
                and similarity(related.text, rewrite.text) < 0.6):
            break
    else:
        pytest.fail("no related pair sharing a band found")
    assert detected(original.text, copy.text)
    documents = [original, copy, related, rewrite]
    with TestPipeline(options=PipelineOptions(["--runner=DirectRunner"])) as pipeline:
        created = pipeline | beam.Create(documents)
        _stage_outputs(created | "AnnotateOnly" >> MinHashDedup(
            MinHashDedupParams(max_rounds=2), annotate_only=True), str(tmp_path), "annotate")
        _stage_outputs(created | "Verified" >> MinHashDedup(
            MinHashDedupParams(bands=28, rows=4, max_rounds=2), label="verified"),
            str(tmp_path), "verified")
        _stage_outputs(created | "Unverified" >> MinHashDedup(
            MinHashDedupParams(bands=28, rows=4, verify=False, max_rounds=2),
            label="unverified"),
            str(tmp_path), "unverified")
    annotated = Outcome(str(tmp_path), "annotate")
    assert set(annotated.kept) == {d.id for d in documents}
    assert not annotated.edges
    would_drop = {e["record_id"]: json.loads(e["details"]) for e in annotated.events
                  if e["details"] and "would_drop" in e["details"]}
    assert would_drop == {copy.id: {"duplicate_of": original.id, "would_drop": True}}
    assert all(e["action"] == "passed" for e in annotated.events)
    verified = Outcome(str(tmp_path), "verified")
    assert set(verified.edges) == {copy.id}
    unverified = Outcome(str(tmp_path), "unverified")
    assert set(unverified.edges) == {copy.id, rewrite.id}
    assert unverified.target(rewrite.id) == related.id


# ---------------------------------------------------------------------------------------------
# Streaming


def test_streaming_catches_near_duplicates_arriving_minutes_apart(tmp_path):
    corpus = Corpus(seed=41)
    originals = [corpus.document_words() for _ in range(4)]
    # An earlier run kept originals[3]; its index row is all this run knows of it.
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    earlier_signature = signature(corpus.text(originals[3]))
    keys = band_keys(earlier_signature[None, :], BANDS, ROWS)[0]
    pq.write_table(pa.Table.from_pylist(
        [minhash_index.index_row("earlier-record", "run-0", signature_to_bytes(earlier_signature),
                                 keys)],
        schema=minhash_index.index_schema(HASHER.config, BANDS, ROWS)),
        str(index_dir / "run-0-00000-of-00001.parquet"))
    first = [doc(corpus.text(words), offset, "topic", "kafka", partition=1)
             for offset, words in enumerate(originals[:3])]
    # Ten minutes later, on a partition that sorts *before* the first ones: arrival decides.
    later = [doc(corpus.text(corpus.edit(originals[0], 0.01)), 0, "topic", "kafka", partition=0),
             doc(corpus.text(corpus.edit(originals[1], 0.3)), 1, "topic", "kafka", partition=0),
             doc(corpus.text(corpus.edit(originals[3], 0.01)), 2, "topic", "kafka", partition=0)]
    assert detected(first[0].text, later[0].text)
    assert detected(corpus.text(originals[3]), later[2].text)
    start = 1_700_000_000
    stream = (TestStream()
              .add_elements([TimestampedValue(d, start + i) for i, d in enumerate(first)])
              .advance_watermark_to(start + 60).advance_processing_time(600)
              .add_elements([TimestampedValue(d, start + 600 + i) for i, d in enumerate(later)])
              .advance_watermark_to(start + 720).advance_watermark_to_infinity())
    options = PipelineOptions(["--streaming"])
    with TestPipeline(options=options) as pipeline:
        documents = pipeline | stream
        assert not documents.is_bounded
        result = documents | MinHashDedup(MinHashDedupParams(
            max_rounds=2, index_dir=str(index_dir), run_id="run-1", index_flush_s=300))
        # Kept documents keep their own event time (so streaming output windows stay right).
        assert_that(result.documents | beam.Map(
            lambda d, timestamp=beam.DoFn.TimestampParam: (d.id, int(timestamp))),
            equal_to([(d.id, start + i) for i, d in enumerate(first)]
                     + [(later[1].id, start + 601)]), label="Kept")
        assert_that(result.lineage | beam.Filter(lambda row: row.table == "edges")
                    | beam.Map(lambda row: (row.row["record_id"], row.row["target_id"],
                                            row.row["target_run_id"])),
                    equal_to([(later[0].id, first[0].id, None),
                              (later[2].id, "earlier-record", "run-0")]), label="Edges")
    # This run's kept documents were added to the index, one file per 300-second window.
    written = pq.read_table(str(index_dir)).to_pylist()
    assert sorted(row["record_id"] for row in written if row["run_id"] == "run-1") == sorted(
        [d.id for d in first] + [later[1].id])
    assert len(glob.glob(str(index_dir / "run-1-w*.parquet"))) == 2


# ---------------------------------------------------------------------------------------------
# Whole runs: the CLI, lineage verification and the cross-run index


def _write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def _lineage(output, table):
    return pq.read_table(f"{output}/lineage/{table}").to_pylist()


def _record_ids_by_source_id(output):
    return {row["source_id"]: row["record_id"] for row in _lineage(output, "records")}


def test_winnow_run_with_normalize_and_minhash_dedup_passes_lineage_verification(tmp_path):
    corpus = Corpus(seed=51)
    originals = [corpus.document_words() for _ in range(12)]
    rows = [{"id": f"o{i}", "text": corpus.text(words)} for i, words in enumerate(originals)]
    # Same text with extra spaces and line breaks after normalization, plus light edits.
    copy_words = corpus.edit(originals[3], 0.01)
    rows.append({"id": "copy3", "text": "  " + corpus.text(copy_words).replace(". ", ".\n\n\n")})
    rows.append({"id": "empty", "text": "   "})
    assert detected(rows[3]["text"], corpus.text(copy_words))
    source = tmp_path / "input.jsonl"
    _write_jsonl(source, rows)
    output = tmp_path / "out"
    completed = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "winnow"), "run", "--input", str(source),
         "--output", str(output), "--stages", "normalize,minhash_dedup"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "12 written, 1 dropped, 1 quarantined" in completed.stdout
    assert passed(verify(str(output)))
    ids = _record_ids_by_source_id(str(output))
    edges = [e for e in _lineage(str(output), "edges") if e["edge_type"] == "duplicate_of"]
    assert [(e["record_id"], e["target_id"]) for e in edges] == [(ids["copy3"], ids["o3"])]
    assert 0.7 <= edges[0]["similarity"] <= 1.0
    data = pq.read_table(f"{output}/data").to_pylist()
    assert len(data) == 12 and all(row["minhash_signature"] is None for row in data)


def _run_with_index(input_path, output, index_dir, run_id, **params):
    from pipelines import run as launcher
    from pipelines.config import parse_config
    config = parse_config({"input": str(input_path), "output": str(output), "stages": [
        "normalize", {"minhash_dedup": dict(index_dir=str(index_dir), run_id=run_id, **params)}]})
    return launcher.run(config, ["--runner=DirectRunner"], run_id=run_id)


def test_a_second_run_drops_near_copies_of_the_first_runs_documents(tmp_path):
    from pipelines.layout import new_run_id
    corpus = Corpus(seed=61)
    first_words = [corpus.document_words() for _ in range(6)]
    second_words = [corpus.document_words() for _ in range(4)]
    first_rows = [{"id": f"a{i}", "text": corpus.text(w)} for i, w in enumerate(first_words)]
    near_a2 = corpus.text(corpus.edit(first_words[2], 0.01))
    near_b0 = corpus.text(corpus.edit(second_words[0], 0.01))
    assert detected(first_rows[2]["text"], near_a2)
    assert detected(corpus.text(second_words[0]), near_b0)
    second_rows = ([{"id": f"b{i}", "text": corpus.text(w)} for i, w in enumerate(second_words)]
                   + [{"id": "near_a2", "text": near_a2}, {"id": "near_b0", "text": near_b0}])
    _write_jsonl(tmp_path / "first.jsonl", first_rows)
    _write_jsonl(tmp_path / "second.jsonl", second_rows)
    output, index_dir = tmp_path / "out", tmp_path / "index"
    run_1, run_2 = new_run_id(), new_run_id()
    first = _run_with_index(tmp_path / "first.jsonl", output, index_dir, run_1)
    assert first.counts["dropped"] == 0
    index = pq.read_table(str(index_dir))
    assert index.num_rows == 6 and set(index.column("run_id").to_pylist()) == {run_1}
    assert len(index.column("signature")[0]) == 112 and len(index.column("band_keys")[0]) == 14
    second = _run_with_index(tmp_path / "second.jsonl", output, index_dir, run_2)
    assert second.counts == {"read": 6, "written": 4, "dropped": 2, "errored": 0}
    assert passed(verify(str(output)))
    ids = _record_ids_by_source_id(str(output))
    edges = {e["record_id"]: e for e in _lineage(str(output), "edges")
             if e["edge_type"] == "duplicate_of"}
    assert (edges[ids["near_a2"]]["target_id"], edges[ids["near_a2"]]["target_run_id"]) == \
        (ids["a2"], run_1)
    assert (edges[ids["near_b0"]]["target_id"], edges[ids["near_b0"]]["target_run_id"]) == \
        (ids["b0"], run_2)
    index = pq.read_table(str(index_dir))
    assert sorted(set(index.column("run_id").to_pylist())) == sorted([run_1, run_2])
    assert index.num_rows == 10
    # An index built with other signature settings is refused before anything runs.
    with pytest.raises(ValueError, match="other signature settings"):
        with TestPipeline() as pipeline:
            _ = pipeline | beam.Create([]) | MinHashDedup(MinHashDedupParams(
                index_dir=str(index_dir), run_id="run-3", num_perm=128))
