"""The exact_dedup stage alone: which copy is kept, and the duplicate_of edges."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.documents import Document
from transforms.exact_dedup import ExactDedup, ExactDedupParams


def doc(text, source, offset):
    return Document(id=f"{source}:{offset}", text=text, source_kind="file", source=source,
                    source_partition=0, source_offset=offset)


DOCUMENTS = [
    doc("the same text", "b.jsonl", 1),
    doc("the  same text", "a.jsonl", 9),  # same after normalization, earlier source -> kept
    doc("the same text\n", "a.jsonl", 12),
    doc("something else", "a.jsonl", 1),
]


def test_keeps_the_first_copy_in_source_order_and_links_the_others():
    with TestPipeline() as pipeline:
        result = pipeline | beam.Create(DOCUMENTS) | ExactDedup()
        assert_that(result.documents | beam.Map(lambda d: d.id),
                    equal_to(["a.jsonl:9", "a.jsonl:1"]), label="Kept")
        edges = result.lineage | "Edges" >> beam.Filter(lambda row: row.table == "edges")
        assert_that(edges | "EdgeTuples" >> beam.Map(
            lambda row: (row.row["record_id"], row.row["edge_type"], row.row["target_id"],
                         row.row["similarity"])),
            equal_to([("b.jsonl:1", "duplicate_of", "a.jsonl:9", 1.0),
                      ("a.jsonl:12", "duplicate_of", "a.jsonl:9", 1.0)]), label="Edges")
        events = result.lineage | "Events" >> beam.Filter(lambda row: row.table == "events")
        assert_that(events | "EventTuples" >> beam.Map(
            lambda row: (row.row["record_id"], row.row["action"])),
            equal_to([("a.jsonl:9", "passed"), ("a.jsonl:1", "passed"),
                      ("b.jsonl:1", "dropped"), ("a.jsonl:12", "dropped")]), label="Events")


def test_without_normalization_whitespace_variants_are_distinct():
    with TestPipeline() as pipeline:
        result = (pipeline | beam.Create(DOCUMENTS)
                  | ExactDedup(ExactDedupParams(normalize=False)))
        assert_that(result.documents | beam.Map(lambda d: d.id),
                    equal_to(["b.jsonl:1", "a.jsonl:9", "a.jsonl:12", "a.jsonl:1"]))
