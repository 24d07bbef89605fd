"""The batch pipeline end to end on the bundled sample: shards, quarantine and lineage on disk."""

import glob
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from lineage.verify import passed, verify
from schemas import lineage as lineage_schema
from schemas.dead_letters import QUARANTINE
from schemas.documents import CURATED

MALFORMED_REASONS = {"invalid_json": 2, "invalid_utf8": 1, "missing_text": 1,
                     "text_not_string": 1, "not_an_object": 1}


def read_table(folder):
    return pq.read_table(folder)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    from pipelines import run as launcher
    from pipelines.config import parse_config
    from tests.conftest import SAMPLE
    output = str(tmp_path_factory.mktemp("sample") / "out")
    summary = launcher.run(parse_config({"input": SAMPLE, "output": output}),
                           ["--runner=DirectRunner"])
    return summary, output


def test_output_parquet_has_the_declared_schemas(sample_run):
    _, output = sample_run
    for shard in glob.glob(f"{output}/data/*.parquet"):
        assert pq.read_schema(shard) == CURATED
    for shard in glob.glob(f"{output}/quarantine/*.parquet"):
        assert pq.read_schema(shard) == QUARANTINE
    for table, schema in lineage_schema.TABLES.items():
        files = glob.glob(f"{output}/lineage/{table}/*.parquet")
        assert files, table
        for path in files:
            assert pq.read_schema(path) == schema, path


def test_every_line_is_accounted_for(sample_run, sample_path):
    summary, output = sample_run
    with open(sample_path, "rb") as handle:
        non_blank_lines = sum(1 for line in handle if line.strip())
    counts = summary.counts
    assert counts["read"] == non_blank_lines
    assert counts["written"] + counts["dropped"] + counts["errored"] == non_blank_lines
    data = read_table(f"{output}/data")
    assert data.num_rows == counts["written"]
    assert len(set(data.column("id").to_pylist())) == data.num_rows
    assert passed(verify(output))


def test_malformed_lines_land_in_quarantine_with_reason_and_raw_bytes(sample_run):
    _, output = sample_run
    quarantine = read_table(f"{output}/quarantine").to_pylist()
    ingest_reasons = {}
    for row in quarantine:
        if row["stage"] == "ingest":
            ingest_reasons[row["reason"]] = ingest_reasons.get(row["reason"], 0) + 1
    assert ingest_reasons == MALFORMED_REASONS
    by_reason = {row["reason"]: row for row in quarantine}
    assert b"\xff\xfe" in by_reason["invalid_utf8"]["payload"]
    assert by_reason["invalid_utf8"]["offset"] > 0
    # An empty text parses, then normalize dead-letters it.
    assert by_reason["empty_text"]["stage"] == "normalize"


def test_exact_duplicates_are_dropped_in_favour_of_the_earlier_line(sample_run):
    _, output = sample_run
    data = read_table(f"{output}/data").to_pylist()
    kept_by_source_id = {row["source_id"]: row for row in data}
    edges = read_table(f"{output}/lineage/edges").to_pylist()
    duplicates = [edge for edge in edges if edge["edge_type"] == "duplicate_of"]
    assert len(duplicates) == 2
    records = {row["record_id"]: row for row in read_table(f"{output}/lineage/records").to_pylist()}
    for edge in duplicates:
        dropped, kept = records[edge["record_id"]], records[edge["target_id"]]
        assert kept["offset"] < dropped["offset"]
        assert kept["source_id"] in kept_by_source_id
        assert dropped["source_id"] not in kept_by_source_id
        assert edge["target_run_id"] == edge["run_id"]


def test_curated_rows_carry_ids_coordinates_and_hashes(sample_run, sample_path):
    _, output = sample_run
    rows = read_table(f"{output}/data").to_pylist()
    first = next(row for row in rows if row["source_id"] == "sample-001")
    assert first["source"] == os.path.abspath(sample_path)
    assert first["source_offset"] == 1
    assert first["url"] == "https://news.example.org/garden"
    assert json.loads(first["metadata"]) == {"topic": "garden"}
    import hashlib
    assert first["content_sha256"] == hashlib.sha256(first["text"].encode()).hexdigest()


def test_rerun_gives_the_same_ids_and_decisions(sample_run, run_pipeline, sample_path):
    _, first_output = sample_run
    _, second_output = run_pipeline(sample_path)
    first = read_table(f"{first_output}/data").sort_by("id")
    second = read_table(f"{second_output}/data").sort_by("id")
    assert first.column("id") == second.column("id")
    assert first.column("text") == second.column("text")


def test_verify_fails_when_a_record_goes_missing(sample_run, tmp_path):
    import shutil
    _, output = sample_run
    broken = str(tmp_path / "broken")
    shutil.copytree(output, broken)
    events_file = glob.glob(f"{broken}/lineage/events/*.parquet")[0]
    events = pq.read_table(events_file)
    written = [i for i, action in enumerate(events.column("action").to_pylist())
               if action == "written"]
    missing_record = events.column("record_id")[written[0]].as_py()
    keep = [i for i in range(events.num_rows) if i != written[0]]
    pq.write_table(events.take(keep), events_file)
    results = verify(broken)
    assert not passed(results)
    (run_checks,) = results.values()
    assert [row["record_id"] for row in run_checks["one_terminal_fate"]] == [missing_record]


def test_verify_fails_when_a_shard_row_goes_missing(sample_run, tmp_path):
    import shutil
    _, output = sample_run
    broken = str(tmp_path / "broken")
    shutil.copytree(output, broken)
    shard = glob.glob(f"{broken}/data/*.parquet")[0]
    table = pq.read_table(shard)
    pq.write_table(table.slice(1), shard)
    (run_checks,) = verify(broken).values()
    assert run_checks["shard_rows_match"]
    assert not passed({"run": run_checks})


def test_cli_runs_and_verifies(tmp_path, sample_path):
    output = str(tmp_path / "cli")
    env = dict(os.environ)
    winnow = [sys.executable, "-m", "pipelines.cli"]
    completed = subprocess.run(
        winnow + ["run", "--input", sample_path, "--output", output, "--stages",
                  "normalize", "--runner", "DirectRunner"],
        capture_output=True, text=True, env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert f"{output}/data/" in completed.stdout
    assert "apitools" not in completed.stderr
    verified = subprocess.run(winnow + ["lineage", "verify", output], capture_output=True,
                              text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout
    assert "OK" in verified.stdout
    traced = subprocess.run(winnow + ["lineage", "trace", output, "sample-013", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert traced.returncode == 0, traced.stderr
    (story,) = json.loads(traced.stdout)
    assert [event["stage"] for event in story["events"]] == ["ingest", "normalize", "sink"]
    assert story["edges"][0]["edge_type"] == "written_to"


def test_cli_fails_before_running_on_a_bad_config(tmp_path, sample_path):
    config = tmp_path / "bad.yaml"
    config.write_text("stages:\n  - normalize: {max_chars: lots}\n")
    completed = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", str(config), "--input", sample_path,
         "--output", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert completed.returncode != 0
    assert "stages[0].normalize.max_chars" in completed.stderr
    assert not (tmp_path / "o").exists()
