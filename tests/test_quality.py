"""The quality stage: each signal on crafted text, the rules, quality_score, and full runs.

The end-to-end tests run ``winnow run --stages normalize,quality,langid`` on a small JSONL file,
then read the curated Parquet shards with pyarrow and the lineage events with DuckDB.
"""

import collections
import json
import os
import random
import subprocess
import sys

import apache_beam as beam
import duckdb
import pyarrow.dataset as pa_dataset
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from lineage.verify import passed as verify_passed, verify
from schemas.documents import Document
from transforms import text_stats
from transforms.quality import (RULES, QualityParams, QualityProcessor, QualitySignals,
                                evaluate_rules)

# A plain, well-formed English document that passes every default rule.
GOOD_TEXT = (
    "The river flows through the old town and past the mill. Visitors walk along its banks in "
    "the evening, and the fishermen come back with their catch before dark.\n\n"
    "The bridge that joins the two halves of the town was built of stone in the seventeenth "
    "century. It has survived floods, wars and the heavy traffic of the modern age.\n\n"
    "Local historians say that the first mill on the river was older still, and that the town "
    "grew up around it because farmers from the whole valley had to bring their grain to be "
    "ground there. Today the mill is a museum, and children learn how water can be made to do "
    "work.")


def doc(text, offset=1, **annotations):
    document = Document(id=f"r{offset}", text=text, source_kind="file", source="f",
                        source_partition=0, source_offset=offset)
    return document.annotate(**annotations) if annotations else document


# ---------------------------------------------------------------------------------------------
# Signals on crafted text


def test_word_signals():
    signals = text_stats.measure("Aaa, bb c. #tag #two ... 123 — x1 the and with")
    # words: aaa bb c tag two 123 x1 the and with ("..." and "—" are not words)
    assert signals["word_count"] == 10
    assert signals["mean_word_length"] == pytest.approx(27 / 10)
    assert signals["hash_word_ratio"] == pytest.approx(2 / 10)
    assert signals["ellipsis_word_ratio"] == pytest.approx(1 / 10)
    # 12 whitespace tokens; without a letter: "...", "123", "—"
    assert signals["alpha_word_fraction"] == pytest.approx(9 / 12)
    assert signals["stop_word_count"] == 3  # the, and, with


def test_line_signals():
    text = ("• first point\n• second point\n- third point\nA closing sentence that ends here.\n"
            "And a trailing thought…\n\n• first point")
    signals = text_stats.measure(text)
    assert signals["bullet_line_fraction"] == pytest.approx(4 / 6)
    assert signals["ellipsis_line_fraction"] == pytest.approx(1 / 6)
    assert signals["punct_line_fraction"] == pytest.approx(2 / 6)  # "." and "…"
    assert signals["short_line_fraction"] == pytest.approx(5 / 6)  # all but the long sentence
    assert signals["dup_line_fraction"] == pytest.approx(1 / 6)
    lines = [line for line in text.split("\n") if line]
    assert signals["dup_line_char_fraction"] == pytest.approx(
        len("• first point") / sum(map(len, lines)))
    assert signals["newline_word_ratio"] == pytest.approx(text.count("\n") / 18)


def test_paragraph_signals():
    paragraph = "This paragraph is repeated word for word."
    text = f"{paragraph}\n\nSomething else entirely.\n\n{paragraph}\n\n{paragraph}"
    signals = text_stats.measure(text)
    assert signals["dup_paragraph_fraction"] == pytest.approx(2 / 4)
    assert signals["dup_paragraph_char_fraction"] == pytest.approx(
        2 * len(paragraph) / (3 * len(paragraph) + len("Something else entirely.")))


def test_top_ngram_signals():
    # words a b a b a b c: "a b" occurs 3 times -> 6 of the 7 word characters.
    signals = text_stats.measure("a b a b a b c")
    assert signals["top_2gram_char_fraction"] == pytest.approx(6 / 7)
    # "a b a" occurs twice (overlapping): 2 x 3 characters.
    assert signals["top_3gram_char_fraction"] == pytest.approx(6 / 7)


def test_duplicate_ngram_signals():
    text = "one two three four five one two three four five six"
    signals = text_stats.measure(text)
    repeated = len("onetwothreefourfive")
    assert signals["dup_5gram_char_fraction"] == pytest.approx(2 * repeated / (2 * repeated + 3))
    assert signals["dup_6gram_char_fraction"] == 0.0
    assert signals["dup_10gram_char_fraction"] == 0.0


def _reference_ngram_signals(words):
    """A slow, obviously correct version of text_stats.ngram_signals."""
    total = sum(map(len, words))
    result = {}
    for n in text_stats.TOP_NGRAM_SIZES:
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        if not grams:
            result[n] = 0.0
            continue
        counts = collections.Counter(grams)
        best = max(counts.values())
        chars = max(sum(map(len, gram)) for gram, count in counts.items() if count == best)
        result[n] = min(1.0, chars * best / total)
    for n in text_stats.DUPLICATE_NGRAM_SIZES:
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        counts = collections.Counter(grams)
        covered = set()
        for i, gram in enumerate(grams):
            if counts[gram] > 1:
                covered.update(range(i, i + n))
        result[-n] = sum(len(words[i]) for i in covered) / total if total else 0.0
    return result


def test_vectorised_ngram_signals_match_a_plain_implementation():
    rng = random.Random(7)
    vocabulary = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far", "away"]
    for _ in range(40):
        words = [rng.choice(vocabulary[:rng.randint(2, 10)]) for _ in range(rng.randint(0, 80))]
        fast = text_stats.ngram_signals(words)
        slow = _reference_ngram_signals(words)
        for n in text_stats.TOP_NGRAM_SIZES:
            assert fast[f"top_{n}gram_char_fraction"] == pytest.approx(slow[n]), (n, words)
        for n in text_stats.DUPLICATE_NGRAM_SIZES:
            assert fast[f"dup_{n}gram_char_fraction"] == pytest.approx(slow[-n]), (n, words)


def test_c4_signals():
    text = "\n".join([
        "This line has five words.",  # kept: 1 sentence
        "Too short.",  # fewer than 5 words
        "Please enable JavaScript to see this page.",  # mentions JavaScript
        "First sentence here is long. Second one follows it!",  # kept: 2 sentences
        "no end mark at all here friend",  # no terminal punctuation
        "Read our privacy policy before you sign up.",  # policy line
    ])
    signals = text_stats.measure(text)
    assert signals["c4_sentence_count"] == 3
    assert signals["c4_kept_line_fraction"] == pytest.approx(2 / 6)
    assert text_stats.measure("a { b } {")["curly_brace_count"] == 2
    assert text_stats.measure("Lorem Ipsum dolor. lorem ipsum")["lorem_ipsum_count"] == 2


def test_non_latin_text_is_measured_without_punctuation():
    signals = text_stats.measure("Привет, мир! Как дела? 你好，世界。")
    assert signals["word_count"] == 5  # привет мир как дела 你好世界
    assert signals["alpha_word_fraction"] == 1.0


def test_empty_text_has_all_signals_at_zero():
    signals = text_stats.measure("")
    assert set(signals) == set(text_stats.SIGNAL_NAMES)
    assert all(value == 0.0 for value in signals.values())


# ---------------------------------------------------------------------------------------------
# Rules and quality_score

PUBLISHED_THRESHOLDS = {
    # Gopher (Rae et al. 2021, A.1.1)
    "gopher_min_words": 50, "gopher_max_words": 100_000, "gopher_min_mean_word_length": 3,
    "gopher_max_mean_word_length": 10, "gopher_max_hash_word_ratio": 0.1,
    "gopher_max_ellipsis_word_ratio": 0.1, "gopher_max_bullet_lines": 0.9,
    "gopher_max_ellipsis_lines": 0.3, "gopher_min_alpha_words": 0.8, "gopher_min_stop_words": 2,
    # Gopher repetition (table A1)
    "gopher_max_dup_lines": 0.3, "gopher_max_dup_paragraphs": 0.3,
    "gopher_max_dup_line_chars": 0.2, "gopher_max_dup_paragraph_chars": 0.2,
    "gopher_max_top_2gram": 0.2, "gopher_max_top_3gram": 0.18, "gopher_max_top_4gram": 0.16,
    "gopher_max_dup_5gram": 0.15, "gopher_max_dup_6gram": 0.14, "gopher_max_dup_7gram": 0.13,
    "gopher_max_dup_8gram": 0.12, "gopher_max_dup_9gram": 0.11, "gopher_max_dup_10gram": 0.10,
    # C4 (Raffel et al. 2020, 2.2)
    "c4_max_curly_braces": 0, "c4_max_lorem_ipsum": 0, "c4_min_sentences": 3,
    # FineWeb (Penedo et al. 2024, 3)
    "fineweb_min_punct_lines": 0.12, "fineweb_max_short_lines": 0.67,
    "fineweb_max_dup_line_chars": 0.1, "fineweb_max_newline_word_ratio": None,
}


def test_every_rule_has_a_parameter_with_the_published_default():
    params = QualityParams()
    assert {rule.name for rule in RULES} == set(PUBLISHED_THRESHOLDS)
    for rule in RULES:
        assert getattr(params, rule.name) == PUBLISHED_THRESHOLDS[rule.name], rule.name
        assert rule.signal in text_stats.SIGNAL_NAMES
        assert QualityParams.model_fields[rule.name].description


def test_good_text_passes_every_rule():
    verdict = QualityProcessor(QualityParams()).process(doc(GOOD_TEXT))
    assert not verdict.dropped
    assert verdict.annotations["quality_score"] == 1.0
    assert set(verdict.annotations["quality_signals"]) == set(text_stats.SIGNAL_NAMES)


@pytest.mark.parametrize("text, rule", [
    ("Too short to be a document.", "gopher_min_words"),
    (GOOD_TEXT + "\n\n" + "function f() { return 1; }", "c4_max_curly_braces"),
    (GOOD_TEXT + "\n\nLorem ipsum dolor sit amet.", "c4_max_lorem_ipsum"),
    (GOOD_TEXT + " " + " ".join(f"#tag{n}" for n in range(20)), "gopher_max_hash_word_ratio"),
    ("\n".join(["Buy cheap watches online today and get the best prices for the whole family."]
               * 8), "gopher_max_dup_lines"),
    (" ".join(["supercalifragilistic extraordinarily"] * 40), "gopher_max_mean_word_length"),
    (" ".join(f"{n + 1000} {n + 2000} {n + 3000} the and" for n in range(40)),
     "gopher_min_alpha_words"),
])
def test_a_failing_document_is_dropped_with_the_rule_value_and_threshold(text, rule):
    params = QualityParams()
    verdict = QualityProcessor(params).process(doc(text))
    assert verdict.dropped
    assert verdict.reason == rule
    assert verdict.threshold == getattr(params, rule)
    signal = next(r.signal for r in RULES if r.name == rule)
    assert verdict.value == verdict.annotations["quality_signals"][signal]
    assert rule in verdict.details["failed_rules"]


def test_quality_score_is_the_share_of_enabled_rules_passed():
    text = GOOD_TEXT + "\n\nfunction f() { return 1; }"  # fails the curly-brace rule only
    params = QualityParams(drop_failing=False)
    verdict = QualityProcessor(params).process(doc(text))
    enabled = [rule for rule in RULES if getattr(params, rule.name) is not None]
    assert not verdict.dropped
    assert verdict.details == {"failed_rules": ["c4_max_curly_braces"]}
    assert verdict.annotations["quality_score"] == pytest.approx(1 - 1 / len(enabled))
    # Disabling the rule removes it from the denominator, and the document passes everything.
    relaxed = QualityProcessor(QualityParams(c4_max_curly_braces=None)).process(doc(text))
    assert not relaxed.dropped and relaxed.annotations["quality_score"] == 1.0


def test_a_rule_set_to_none_is_off():
    params = QualityParams(gopher_min_words=None, c4_min_sentences=None)
    names = [outcome.rule.name for outcome in
             evaluate_rules(text_stats.measure("short"), params)]
    assert "gopher_min_words" not in names and "c4_min_sentences" not in names


def test_a_classifier_score_already_present_keeps_quality_score():
    verdict = QualityProcessor(QualityParams()).process(doc(GOOD_TEXT, quality_model_score=0.3))
    assert "quality_score" not in verdict.annotations  # the classifier's value stays
    assert verdict.scores["heuristic_score"] == 1.0
    assert "quality_signals" in verdict.annotations


def test_unknown_parameter_is_rejected():
    with pytest.raises(Exception):
        QualityParams(gopher_min_wordz=10)


# ---------------------------------------------------------------------------------------------
# The stage in a pipeline


def test_stage_drops_or_annotates_as_configured():
    documents = [doc(GOOD_TEXT, 1), doc("Too short to be a document.", 2)]

    def events(result):
        return result.lineage | beam.Map(lambda row: (
            row.row["record_id"], row.row["action"], row.row["reason"], row.row["threshold"]))

    with TestPipeline() as pipeline:
        created = pipeline | beam.Create(documents)
        filtering = created | "Filter" >> QualitySignals(QualityParams(), seq=1)
        assert_that(filtering.documents | "FilterKept" >> beam.Map(
            lambda d: (d.id, d.annotation_dict["quality_score"])),
            equal_to([("r1", 1.0)]), label="FilterKept")
        assert_that(events(filtering), equal_to([
            ("r1", "passed", None, None), ("r2", "dropped", "gopher_min_words", 50.0)]),
            label="FilterEvents")

        keeping = created | "Keep" >> QualitySignals(QualityParams(drop_failing=False), seq=1)
        assert_that(keeping.documents | "KeepIds" >> beam.Map(lambda d: d.id),
                    equal_to(["r1", "r2"]), label="KeepKept")

        annotate_only = created | "AnnotateOnly" >> QualitySignals(
            QualityParams(), annotate_only=True, seq=1)
        assert_that(annotate_only.lineage | "WouldDrop" >> beam.Map(
            lambda row: (row.row["record_id"], row.row["action"], row.row["reason"],
                         json.loads(row.row["details"] or "{}").get("would_drop", False))),
            equal_to([("r1", "passed", None, False),
                      ("r2", "passed", "gopher_min_words", True)]), label="AnnotateEvents")


# ---------------------------------------------------------------------------------------------
# End to end: the winnow CLI, Parquet output and lineage

E2E_DOCUMENTS = [
    {"id": "good", "text": GOOD_TEXT},
    {"id": "short", "text": "Too short to be a document."},
    {"id": "code", "text": GOOD_TEXT + "\n\nvar settings = { debug: true };"},
    {"id": "german", "text": (
        "Der Fluss fließt durch die Altstadt und an der alten Mühle vorbei. Am Abend gehen die "
        "Besucher an seinen Ufern spazieren, und die Fischer kehren vor der Dunkelheit mit "
        "ihrem Fang zurück. Die Brücke, die beide Hälften der Stadt verbindet, wurde im "
        "siebzehnten Jahrhundert aus Stein gebaut. Sie hat Hochwasser, Kriege und den "
        "Verkehr der Neuzeit überstanden. Heute ist die Mühle ein Museum, in dem Kinder lernen, "
        "wie Wasser Arbeit verrichten kann.")},
]


def _winnow(*args):
    command = [sys.executable, "-m", "pipelines.cli", *args]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300,
                          check=True)


@pytest.fixture(scope="module")
def e2e_input(tmp_path_factory):
    path = tmp_path_factory.mktemp("quality_e2e") / "input.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in E2E_DOCUMENTS))
    return path


def _events(output):
    connection = duckdb.connect()
    return connection.execute(f"""
        SELECT r.source_id, e.stage, e.action, e.reason, e.value, e.threshold, e.details
        FROM read_parquet('{output}/lineage/events/*.parquet') e
        JOIN read_parquet('{output}/lineage/records/*.parquet') r USING (record_id)
        WHERE e.stage IN ('quality', 'langid')
        ORDER BY r.source_id, e.stage_seq""").fetchall()


@pytest.mark.slow
def test_cli_run_filters_and_lineage_names_the_failing_rule(e2e_input, tmp_path):
    output = tmp_path / "filter"
    _winnow("run", "--input", str(e2e_input), "--output", str(output),
            "--stages", "normalize,quality,langid")
    table = pa_dataset.dataset(str(output / "data"), format="parquet").to_table()
    rows = {row["source_id"]: row for row in table.to_pylist()}
    assert set(rows) == {"good"}
    assert rows["good"]["quality_score"] == 1.0
    assert rows["good"]["language"] == "en" and rows["good"]["language_score"] > 0.9
    assert dict(rows["good"]["quality_signals"])["word_count"] > 50
    events = {(source, stage): (action, reason, value, threshold)
              for source, stage, action, reason, value, threshold, _ in _events(output)}
    assert events[("short", "quality")] == ("dropped", "gopher_min_words", 6.0, 50.0)
    assert events[("code", "quality")] == ("dropped", "c4_max_curly_braces", 1.0, 0.0)
    # Gopher's stop words are English: with the default rules, German text is dropped.
    assert events[("german", "quality")][:2] == ("dropped", "gopher_min_stop_words")
    assert events[("good", "langid")][:1] == ("passed",)
    assert ("short", "langid") not in events  # dropped records go no further
    results = verify(str(output))
    assert verify_passed(results), results


@pytest.mark.slow
def test_cli_annotate_only_keeps_everything_with_scores(e2e_input, tmp_path):
    output = tmp_path / "annotate"
    _winnow("run", "--input", str(e2e_input), "--output", str(output),
            "--stages", "normalize,quality,langid", "--annotate-only")
    table = pa_dataset.dataset(str(output / "data"), format="parquet").to_table()
    rows = {row["source_id"]: row for row in table.to_pylist()}
    assert set(rows) == {"good", "short", "code", "german"}
    for row in rows.values():
        assert 0.0 <= row["quality_score"] <= 1.0
        assert set(dict(row["quality_signals"])) == set(text_stats.SIGNAL_NAMES)
        assert row["language"] and 0.0 < row["language_score"] <= 1.0
    assert rows["good"]["quality_score"] == 1.0
    assert rows["short"]["quality_score"] < 1.0
    assert rows["german"]["language"] == "de" and rows["good"]["language"] == "en"
    quality_events = {source: (action, reason, json.loads(details or "{}"))
                      for source, stage, action, reason, _, _, details in _events(output)
                      if stage == "quality"}
    assert quality_events["short"][:2] == ("passed", "gopher_min_words")
    assert quality_events["short"][2]["would_drop"] is True
    assert "gopher_min_words" in quality_events["short"][2]["failed_rules"]
    results = verify(str(output))
    assert verify_passed(results), results
