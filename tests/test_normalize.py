"""The normalize stage, alone in a TestPipeline: kept output, lineage events and dead letters."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.documents import Document
from transforms.normalize import Normalize, NormalizeParams, normalize_text


def doc(text, offset):
    return Document(id=f"r{offset}", text=text, source_kind="file", source="f",
                    source_partition=0, source_offset=offset)


def test_normalize_text():
    assert normalize_text("Cafe\u0301  au\u200b lait\t\tnow") == "Caf\u00e9 au lait now"
    assert normalize_text("a\r\nb\rc") == "a\nb\nc"
    assert normalize_text("  line one  \n\n\n\n  line two \x07") == "line one\n\nline two"
    assert normalize_text("\ufeff\u00ad") == ""


def test_normalize_stage_routes_every_document():
    documents = [
        doc("already clean", 1),
        doc("needs  fixing\u200b", 2),
        doc(" \u200b \n ", 3),  # empty after normalization -> dead letter
        doc("x" * 50, 4),  # over max_chars -> dead letter
        doc("hi", 5),  # under min_chars -> dropped
    ]
    with TestPipeline() as pipeline:
        result = (pipeline | beam.Create(documents)
                  | Normalize(NormalizeParams(max_chars=40, min_chars=3), seq=1))
        assert_that(result.documents | "Texts" >> beam.Map(lambda d: (d.id, d.text)),
                    equal_to([("r1", "already clean"), ("r2", "needs fixing")]),
                    label="KeptTexts")
        assert_that(result.lineage | "Actions" >> beam.Map(
            lambda row: (row.row["record_id"], row.row["action"], row.row["reason"])),
            equal_to([("r1", "passed", None), ("r2", "modified", "normalized"),
                      ("r3", "errored", "empty_text"), ("r4", "errored", "too_large"),
                      ("r5", "dropped", "too_short")]), label="Events")
        assert_that(result.dead_letters | "Reasons" >> beam.Map(
            lambda row: (row["record_id"], row["stage"], row["reason"])),
            equal_to([("r3", "normalize", "empty_text"), ("r4", "normalize", "too_large")]),
            label="DeadLetters")


def test_oversize_can_be_dropped_instead_of_dead_lettered():
    with TestPipeline() as pipeline:
        result = (pipeline | beam.Create([doc("y" * 10, 1)])
                  | Normalize(NormalizeParams(max_chars=5, oversize_action="drop")))
        assert_that(result.lineage | beam.Map(
            lambda row: (row.row["action"], row.row["reason"], row.row["value"],
                         row.row["threshold"])),
            equal_to([("dropped", "too_large", 10.0, 5.0)]))
        assert_that(result.dead_letters, equal_to([]), label="NoDeadLetters")


def test_annotate_only_drops_nothing_but_records_the_decision():
    with TestPipeline() as pipeline:
        result = (pipeline | beam.Create([doc("hi", 1)])
                  | Normalize(NormalizeParams(min_chars=3), annotate_only=True))
        assert_that(result.documents | beam.Map(lambda d: d.id), equal_to(["r1"]))
        assert_that(result.lineage | "Events" >> beam.Map(
            lambda row: (row.row["action"], row.row["reason"], row.row["details"])),
            equal_to([("passed", "too_short", '{"would_drop": true}')]), label="Events")
