"""The auditor's lineage queries on a real run with planted duplicates, short, empty, malformed
and PII documents: trace, why, redactions, duplicates, from-offset, from-source, erasure, funnel,
sql, and verify (passing on the honest run, failing by name once a lineage or shard row is gone).
"""

import json
import os
import shutil

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from lineage import verify as verifier
from lineage.cli import lineage as lineage_cli
from lineage.queries import Lineage, RecordNotFound
from pipelines import run as launcher
from pipelines.config import parse_config

TOMATOES = ("Growing tomatoes on a small balcony is easier than most people expect, "
            "given a deep pot and six hours of sun.")
BRIDGE = "The old stone bridge has seven arches, and no two of them are quite the same width."
FESTIVAL = "The folk festival drew fiddlers, singers and dancers from more than twenty countries."
EMAIL = "jane.doe@example.org"

# (source id, text, url); a None entry is a line that is not JSON. Line numbers start at 1.
LINES = [
    ("keep-1", TOMATOES, "https://www.alpha.example/1"),              # 1 written
    ("dup-1", "  " + TOMATOES.replace(", ", ",   ") + "\n", "https://beta.example/2"),
    ("dup-2", TOMATOES, "https://gamma.example/3"),                     # 3 duplicate of keep-1
    ("short-1", "tiny", "https://alpha.example/4"),                     # 4 normalize too_short
    None,                                                               # 5 ingest invalid_json
    ("empty-1", " \u200b ", None),                                      # 6 normalize empty_text
    ("kept-other", BRIDGE, "https://keep.example/7"),                   # 7 written
    ("erase-dup", BRIDGE, "https://blog.erase.example/8"),              # 8 duplicate of line 7
    ("erase-kept", FESTIVAL, "https://erase.example/9"),                # 9 written
    ("erase-empty", "   ", "https://erase.example/10"),                 # 10 normalize empty_text
    ("pii-1", f"Please write to {EMAIL} about the allotment garden rota for May.",
     "https://mail.example/11"),                                        # 11 written, redacted
]
MIN_CHARS = 20


def write_input(path):
    with open(path, "w", encoding="utf-8") as handle:
        for line in LINES:
            if line is None:
                handle.write("{this is not json\n")
                continue
            source_id, text, url = line
            payload = {"id": source_id, "text": text}
            if url:
                payload["url"] = url
            handle.write(json.dumps(payload) + "\n")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One pipeline run over LINES: normalize (min_chars), exact_dedup, pii."""
    folder = tmp_path_factory.mktemp("queries")
    input_path = str(folder / "input.jsonl")
    write_input(input_path)
    output = str(folder / "out")
    config = parse_config({"input": input_path, "output": output, "stages": [
        {"normalize": {"min_chars": MIN_CHARS}}, "exact_dedup", "pii"]})
    summary = launcher.run(config, ["--runner=DirectRunner"])
    return {"summary": summary, "output": output, "input": input_path,
            "lineage": Lineage(output)}


def record_id(run, source_id):
    return run["lineage"].resolve(source_id)[0]["record_id"]


def test_trace_shows_origin_every_stage_and_landing(run):
    [story] = run["lineage"].trace("keep-1")
    assert story["origin"]["source"] == run["input"]
    assert story["origin"]["offset"] == 1 and story["origin"]["partition"] == 0
    assert [(e["stage"], e["action"]) for e in story["events"]] == [
        ("ingest", "ingested"), ("normalize", "passed"), ("exact_dedup", "passed"),
        ("pii", "passed"), ("sink", "written")]
    assert story["duplicates_removed"] == 2
    shard, row = story["fate"]["shard"], story["fate"]["row_index"]
    table = pq.read_table(os.path.join(run["output"], "data", shard))
    assert table.column("source_id")[row].as_py() == "keep-1"
    # The Winnow record id works as well as the input's id.
    assert run["lineage"].trace(story["record_id"])[0]["fate"]["shard"] == shard


def test_trace_shows_scores_of_a_modifying_stage(run):
    [story] = run["lineage"].trace("pii-1")
    pii_event = next(e for e in story["events"] if e["stage"] == "pii")
    assert pii_event["action"] == "modified"
    assert pii_event["scores"].get("EMAIL_ADDRESS") == 1.0


def test_why_a_short_document_was_dropped(run):
    [answer] = run["lineage"].why("short-1")
    assert (answer["fate"], answer["stage"], answer["rule"]) == ("dropped", "normalize",
                                                                 "too_short")
    assert answer["value"] == 4 and answer["threshold"] == MIN_CHARS
    assert "too_short" in answer["explanation"]


def test_why_a_duplicate_names_the_kept_record_and_similarity(run):
    [answer] = run["lineage"].why("dup-1")
    assert answer["stage"] == "exact_dedup" and answer["rule"] == "duplicate"
    assert answer["similarity"] == 1.0
    kept = answer["kept"]
    assert kept["source_id"] == "keep-1" and kept["fate"] == "written"
    assert kept["location"].startswith("data/")


def test_why_a_dead_letter_gives_the_quarantine_error(run):
    [answer] = run["lineage"].why("empty-1")
    assert (answer["fate"], answer["stage"], answer["rule"]) == ("errored", "normalize",
                                                                 "empty_text")
    assert answer["error"] and answer["location"].startswith("quarantine/")


def test_unknown_record_is_reported_not_found(run):
    with pytest.raises(RecordNotFound):
        run["lineage"].why("no-such-record")


def test_duplicates_lists_every_record_removed_in_favour(run):
    removed = run["lineage"].duplicates("keep-1")
    assert sorted(row["source_id"] for row in removed) == ["dup-1", "dup-2"]
    assert {row["stage"] for row in removed} == {"exact_dedup"}
    assert {row["similarity"] for row in removed} == {1.0}
    assert run["lineage"].duplicates("dup-1") == []


def test_redactions_give_entity_types_and_counts_never_values(run):
    per_record = run["lineage"].redactions("pii-1")
    [entity] = [row for row in per_record["entities"] if row["entity_type"] == "EMAIL_ADDRESS"]
    assert (entity["spans"], entity["operator"], entity["redacted"]) == (1, "replace", True)
    totals = {row["entity_type"]: row for row in run["lineage"].redactions()["totals"]}
    assert (totals["EMAIL_ADDRESS"]["spans"], totals["EMAIL_ADDRESS"]["records"]) == (1, 1)
    assert run["lineage"].redactions("keep-1")["entities"] == []
    by_record = run["lineage"].redactions(by_record=True)["records"]
    assert {row["source_id"] for row in by_record} >= {"pii-1"}


def test_lineage_tables_hold_no_pii_value(run):
    for root, _, files in os.walk(os.path.join(run["output"], "lineage")):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                assert EMAIL.encode() not in handle.read(), name
    with open(os.path.join(run["output"], "data",
                           run["lineage"].trace("pii-1")[0]["fate"]["shard"]), "rb") as handle:
        assert EMAIL.encode() not in handle.read()


def test_from_offset_finds_the_record_and_its_fate(run):
    [row] = run["lineage"].from_offset(run["input"], 0, 3)
    assert row["source_id"] == "dup-2" and row["fate"] == "dropped"
    assert row["duplicate_of"] == record_id(run, "keep-1")
    [malformed] = run["lineage"].from_offset(run["input"], 0, 5)
    assert malformed["fate"] == "errored" and malformed["fate_reason"] == "invalid_json"
    assert run["lineage"].from_offset(run["input"], 0, 99) == []


def test_from_source_lists_every_line_of_a_file_or_a_url(run):
    rows = run["lineage"].from_source(run["input"])
    assert [row["offset"] for row in rows] == list(range(1, len(LINES) + 1))
    assert all(row["fate"] for row in rows)
    [by_url] = run["lineage"].from_source("https://erase.example/9")
    assert by_url["source_id"] == "erase-kept" and by_url["fate"] == "written"
    assert len(run["lineage"].from_source("https://erase.example/*")) == 2


def test_erasure_finds_direct_rows_kept_duplicates_and_quarantine(run):
    answer = run["lineage"].erasure("erase.example")
    by_source_id = {row["source_id"]: row for row in answer["records"]}
    assert set(by_source_id) == {"erase-dup", "erase-kept", "erase-empty", "kept-other"}
    assert by_source_id["erase-kept"]["relation"] == "direct"
    assert by_source_id["erase-kept"]["location"].startswith("data/")
    # erase-dup was dropped, but the record kept in its place holds the same text.
    assert by_source_id["kept-other"]["relation"] == "kept_duplicate"
    assert by_source_id["kept-other"]["via"] == record_id(run, "erase-dup")
    assert by_source_id["kept-other"]["location"].startswith("data/")
    assert by_source_id["erase-empty"]["location"].startswith("quarantine/")
    assert by_source_id["erase-dup"]["location"] is None
    assert answer["summary"] == {
        "matching_records": 3, "data_rows_direct": 1, "data_rows_kept_duplicates": 1,
        "quarantine_rows": 1, "shards": answer["summary"]["shards"]}
    assert {row["source_id"] for row in answer["output_rows"]} == {
        "erase-kept", "kept-other", "erase-empty"}
    # A source file matches every record read from it.
    assert answer_count(run["lineage"].erasure(run["input"])) == len(LINES)


def answer_count(answer):
    return answer["summary"]["matching_records"]


def test_funnel_counts_in_kept_dropped_by_reason_and_dead_letters(run):
    funnel = run["lineage"].funnel()
    assert funnel["run_id"] == run["summary"].run_id
    assert (funnel["read"], funnel["written"], funnel["dropped"], funnel["dead_lettered"]) == (
        11, 4, 4, 3)
    assert funnel["unaccounted"] == 0 and funnel["quarantine_rows"] == 3
    reasons = {(row["stage"], row["action"], row["reason"]): row["records"]
               for row in funnel["reasons"]}
    assert reasons == {("ingest", "errored", "invalid_json"): 1,
                       ("normalize", "errored", "empty_text"): 2,
                       ("normalize", "dropped", "too_short"): 1,
                       ("exact_dedup", "dropped", "duplicate"): 3}
    entered = [(row["stage"], row["entered"]) for row in funnel["stages"]]
    assert entered == [("ingest", 11), ("normalize", 10), ("exact_dedup", 7), ("pii", 4),
                       ("sink", 4)]
    pii = next(row for row in funnel["stages"] if row["stage"] == "pii")
    assert pii["modified"] >= 1 and pii["passed"] + pii["modified"] == 4


def test_sql_and_tables(run):
    columns, rows = run["lineage"].sql(
        "SELECT reason, count(*) FROM events WHERE action = 'dropped' GROUP BY ALL ORDER BY 1")
    assert rows == [("duplicate", 3), ("too_short", 1)]
    views = {view["view"]: view for view in run["lineage"].describe()}
    assert {"records", "events", "edges", "runs", "quarantine", "curated"} <= set(views)
    assert all(column["description"] for column in views["events"]["columns"])


def test_verify_passes_on_the_honest_run(run):
    results = verifier.verify(run["output"])
    assert verifier.passed(results), results


def _rewrite_without(path, predicate):
    """Rewrites a Parquet file without the rows for which predicate(row) is true."""
    table = pq.read_table(path)
    keep = [not predicate(row) for row in table.to_pylist()]
    assert not all(keep), f"no row of {path} matched"
    pq.write_table(table.filter(keep), path)


def _tampered_copy(run, tmp_path):
    copy = str(tmp_path / "tampered")
    shutil.copytree(run["output"], copy)
    return copy


def test_verify_fails_naming_the_record_when_a_lineage_row_is_deleted(run, tmp_path):
    copy = _tampered_copy(run, tmp_path)
    victim = record_id(run, "erase-kept")
    for name in os.listdir(os.path.join(copy, "lineage", "events")):
        path = os.path.join(copy, "lineage", "events", name)
        rows = pq.read_table(path).to_pylist()
        if any(r["record_id"] == victim and r["action"] == "written" for r in rows):
            _rewrite_without(path, lambda r: r["record_id"] == victim and r["action"] == "written")
    results = verifier.verify(copy)
    assert not verifier.passed(results)
    checks = next(iter(results.values()))
    assert [r["record_id"] for r in checks["one_terminal_fate"]] == [victim]
    assert [r["record_id"] for r in checks["written_in_one_shard"]] == [victim]


def test_verify_fails_naming_the_record_when_a_shard_row_is_deleted(run, tmp_path):
    copy = _tampered_copy(run, tmp_path)
    [story] = Lineage(copy).trace("kept-other")
    victim, shard = story["record_id"], story["fate"]["shard"]
    _rewrite_without(os.path.join(copy, "data", shard), lambda r: r["id"] == victim)
    checks = next(iter(verifier.verify(copy).values()))
    missing = [r for r in checks["shard_rows_match"] if r["shard_row"] is None
               and r["record_id"] is not None]
    assert [r["record_id"] for r in missing] == [victim]
    assert "lacks" in missing[0]["problem"]
    result = CliRunner().invoke(lineage_cli, ["verify", copy])
    assert result.exit_code == 1 and victim in result.output


def test_verify_rejects_a_run_without_a_runs_row(run, tmp_path):
    copy = _tampered_copy(run, tmp_path)
    shutil.rmtree(os.path.join(copy, "lineage", "runs"))
    checks = next(iter(verifier.verify(copy).values()))
    assert checks["run_finished"][0]["status"].startswith("no runs row")


def test_cli_answers_as_tables_and_json(run):
    runner = CliRunner()
    out = run["output"]
    trace = runner.invoke(lineage_cli, ["trace", out, "keep-1"])
    assert trace.exit_code == 0 and "written to data/" in trace.output
    why = runner.invoke(lineage_cli, ["why", out, "short-1", "--json"])
    assert json.loads(why.output)[0]["rule"] == "too_short"
    funnel = runner.invoke(lineage_cli, ["funnel", out])
    assert funnel.exit_code == 0 and "too_short" in funnel.output
    offset = runner.invoke(lineage_cli, ["from-offset", out, run["input"], "0", "2", "--json"])
    assert json.loads(offset.output)[0]["source_id"] == "dup-1"
    sql = runner.invoke(lineage_cli, ["sql", out, "SELECT count(*) AS n FROM records", "--json"])
    assert json.loads(sql.output) == [{"n": 11}]
    assert runner.invoke(lineage_cli, ["verify", out]).exit_code == 0
    missing = runner.invoke(lineage_cli, ["trace", out, "nope"])
    assert missing.exit_code == 1
    tables = runner.invoke(lineage_cli, ["tables", out])
    assert "duplicate_of" in tables.output and "content_sha256" in tables.output
    assert "events:" in runner.invoke(lineage_cli, ["sql", "--help"]).output


def test_the_run_used_the_real_pii_stage(run):
    [story] = run["lineage"].trace("pii-1")
    pii_event = next(e for e in story["events"] if e["stage"] == "pii")
    assert "content_sha256_before" in pii_event["details"]  # only the real stage records it


def test_a_repeated_event_file_is_not_double_counted_but_verify_flags_it(run, tmp_path):
    copy = _tampered_copy(run, tmp_path)
    folder = os.path.join(copy, "lineage", "events")
    [name] = os.listdir(folder)
    # A leftover file of another sharding of the same run, holding the same events again.
    shutil.copy(os.path.join(folder, name),
                os.path.join(folder, name.replace("-of-00001", "-of-00002")))
    assert Lineage(copy).funnel()["written"] == run["lineage"].funnel()["written"]
    checks = next(iter(verifier.verify(copy).values()))
    assert {row["record_id"] for row in checks["unique_events"]} == {
        row["record_id"] for row in run["lineage"].from_source(run["input"])}
