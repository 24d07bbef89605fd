"""Live progress of a run (pipelines.progress): counts while the pipeline runs, from Beam metrics.

The pipelines here are real Winnow pipelines (file source, parser, a stage wrapped by the stage
contract) run on Beam's DirectRunner -- and, when its binary is cached, on Prism -- with a stage
slow enough that the job takes a few seconds, so progress must be seen *before* the end.
"""

import bz2
import gzip
import io
import json
import random
import re
import time

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import input_size, progress
from pipelines.sources.files import ReadDocumentFiles
from transforms.parse import ParseMessages
from transforms.stage import DeadLetter, DocumentProcessor, PerDocumentStage, Verdict

DOCUMENTS = 1200
SECONDS_PER_DOCUMENT = 0.002


class _SlowSieve(DocumentProcessor):
    """Drops every 10th document, dead-letters every 25th, and takes its time."""
    name = "sieve"

    def process(self, document):
        time.sleep(SECONDS_PER_DOCUMENT)
        number = int(document.source_id)
        if number % 25 == 0:
            raise DeadLetter("unlucky", "every 25th")
        if number % 10 == 0:
            return Verdict.drop("tenth")
        return Verdict.keep()


def _expected(documents=DOCUMENTS):
    dead = sum(1 for n in range(documents) if n % 25 == 0)
    dropped = sum(1 for n in range(documents) if n % 10 == 0 and n % 25 != 0)
    return documents - dead - dropped, dropped, dead


def _write_corpus(path, documents=DOCUMENTS, malformed=3):
    with open(path, "w", encoding="utf-8") as handle:
        for number in range(documents):
            handle.write(json.dumps({"id": str(number), "text": f"document number {number}"})
                         + "\n")
        for _ in range(malformed):
            handle.write("{not json\n")
        handle.write("\n")  # a blank line is skipped, not a record
    return str(path)


def _pipeline(corpus, runner_flags=("--runner=DirectRunner",), fail=False):
    pipeline = beam.Pipeline(options=PipelineOptions(list(runner_flags)))
    source = pipeline | "Read" >> ReadDocumentFiles(corpus)
    parsed = source.messages | "Ingest" >> ParseMessages()
    documents = parsed.documents
    if fail:
        documents = documents | "Explode" >> beam.Map(lambda d: 1 / 0)
    else:
        result = documents | "sieve" >> PerDocumentStage(_SlowSieve(), seq=1)
        _ = result.documents | "Count" >> beam.combiners.Count.Globally()
    return pipeline


_LINE = re.compile(r"^\[(?P<elapsed>[\d:]+)\] (?:(?P<state>\w+) )?read (?P<read>[\d,]+)")


def _counts_in(line):
    match = re.search(r"\| sieve ([\d,]+) kept ([\d,]+) dropped ([\d,]+) dead", line)
    return tuple(int(value.replace(",", "")) for value in match.groups()) if match else None


def test_progress_is_shown_while_the_direct_runner_runs(tmp_path):
    corpus = _write_corpus(tmp_path / "docs.jsonl")
    stream = io.StringIO()
    started = time.monotonic()
    result = progress.run_pipeline(_pipeline(corpus), stream=stream, poll_interval_s=0.1,
                                   plain_interval_s=0.2, terminal=False)
    took = time.monotonic() - started
    assert result.state == "DONE"
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3, lines
    # The total is known before the run: the file is smaller than the sample, so it is exact.
    assert f"of {DOCUMENTS + 3:,}" in lines[0]
    # Progress during the run: lines with some, but not all, records read or processed.
    reads = [int(_LINE.match(line).group("read").replace(",", "")) for line in lines[:-1]]
    partial = [read for read in reads if 0 < read < DOCUMENTS + 3]
    processed = [sum(counts) for counts in map(_counts_in, lines[:-1]) if counts]
    assert partial or any(0 < value < DOCUMENTS for value in processed), lines
    assert took > DOCUMENTS * SECONDS_PER_DOCUMENT
    # The last line: the final counts, exactly.
    last = lines[-1]
    assert _LINE.match(last).group("state") == "done"
    assert f"read {DOCUMENTS + 3:,}" in last and "3 malformed" in last
    assert _counts_in(last) == _expected()


def test_terminal_display_draws_the_stage_table(tmp_path):
    corpus = _write_corpus(tmp_path / "docs.jsonl", documents=300)
    stream = io.StringIO()
    progress.run_pipeline(_pipeline(corpus), stream=stream, poll_interval_s=0.1, terminal=True)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    kept, dropped, dead = _expected(300)
    final = screen[screen.rindex("winnow"):]
    assert "done" in final.splitlines()[0]
    sieve_row = next(line for line in final.splitlines() if line.startswith("sieve"))
    assert sieve_row.split()[1:5] == [f"{300:,}", f"{kept:,}", f"{dropped:,}", f"{dead:,}"]
    ingest_row = next(line for line in final.splitlines() if line.startswith("ingest"))
    assert ingest_row.split()[1:5] == ["303", "300", "-", "3"]


def test_quiet_shows_nothing_and_still_runs(tmp_path):
    corpus = _write_corpus(tmp_path / "docs.jsonl", documents=50)
    stream = io.StringIO()
    result = progress.run_pipeline(_pipeline(corpus), quiet=True, stream=stream)
    assert result.state == "DONE"
    assert stream.getvalue() == ""
    assert progress.counters_of(result.metrics())["sieve.passed"] == _expected(50)[0]


def test_a_failing_pipeline_raises_and_says_so(tmp_path):
    corpus = _write_corpus(tmp_path / "docs.jsonl", documents=20)
    stream = io.StringIO()
    with pytest.raises(Exception, match="division by zero"):
        progress.run_pipeline(_pipeline(corpus, fail=True), stream=stream, terminal=False)
    assert _LINE.match(stream.getvalue().splitlines()[-1]).group("state") == "failed"


def test_progress_on_a_portable_runner_comes_from_the_job_service(tmp_path):
    from pipelines import prism  # pylint: disable=import-outside-toplevel
    binary = prism.prism_path()
    if not binary.exists():
        pytest.skip(f"no cached Prism binary at {binary} (python -m pipelines.prism builds it)")
    corpus = _write_corpus(tmp_path / "docs.jsonl")
    stream = io.StringIO()
    pipeline = _pipeline(corpus, ["--runner=PrismRunner", f"--prism_location={binary}"])
    assert not progress.runs_in_process(pipeline)
    result = progress.run_pipeline(pipeline, stream=stream, poll_interval_s=0.2,
                                   plain_interval_s=0.2, terminal=False)
    assert result.state == "DONE"
    lines = stream.getvalue().splitlines()
    processed = [sum(counts) for counts in map(_counts_in, lines[:-1]) if counts]
    reads = [int(_LINE.match(line).group("read").replace(",", "")) for line in lines[:-1]]
    assert any(0 < value < DOCUMENTS for value in processed) or any(
        0 < read < DOCUMENTS + 3 for read in reads), lines
    assert _counts_in(lines[-1]) == _expected()


def test_plan_finds_the_stages_of_a_winnow_pipeline(tmp_path):
    from pipelines import build  # pylint: disable=import-outside-toplevel
    from pipelines.config import parse_config  # pylint: disable=import-outside-toplevel
    from pipelines.layout import OutputLayout  # pylint: disable=import-outside-toplevel
    corpus = _write_corpus(tmp_path / "docs.jsonl", documents=10)
    config = parse_config({"input": corpus, "output": str(tmp_path / "out"),
                           "stages": ["normalize", "exact_dedup", {"quality": {}}]})
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    build.build_pipeline(pipeline, config, "run-test", OutputLayout(str(tmp_path / "out")))
    plan = progress.ProgressPlan.from_pipeline(pipeline)
    assert plan.stages == ("normalize", "exact_dedup", "quality")
    assert plan.input_size == progress.InputSize(13, True, "counted in the input files")
    assert progress.runs_in_process(pipeline)


def test_plan_of_a_bounded_kafka_read_is_the_offsets_planned(monkeypatch):
    from pipelines.sources import kafka  # pylint: disable=import-outside-toplevel
    plans = [kafka.PartitionPlan("docs", 0, 100, 250), kafka.PartitionPlan("docs", 1, 0, 40),
             kafka.PartitionPlan("docs", 2, 7, 7)]
    monkeypatch.setattr(kafka, "planned_ranges", lambda *args, **kwargs: plans)
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    _ = pipeline | kafka.ReadKafkaMessages("127.0.0.1:1", "docs")
    plan = progress.ProgressPlan.from_pipeline(pipeline)
    assert plan.input_size == progress.InputSize(190, True, "Kafka offsets planned")
    unbounded = [kafka.PartitionPlan("docs", 0, 100, None)]
    monkeypatch.setattr(kafka, "planned_ranges", lambda *args, **kwargs: unbounded)
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    _ = pipeline | kafka.ReadKafkaMessages("127.0.0.1:1", "docs", bounded=False)
    assert progress.ProgressPlan.from_pipeline(pipeline).input_size is None


def test_file_size_estimates(tmp_path):
    lines = [json.dumps({"id": str(n), "text": "x" * (50 + n % 200)}) for n in range(20000)]
    plain = tmp_path / "big.jsonl"
    plain.write_text("\n".join(lines) + "\n\n")
    assert plain.stat().st_size > 2 * input_size.SAMPLE_BYTES
    estimate = input_size.estimate_file_records([str(plain)])
    assert not estimate.exact and abs(estimate.records - 20000) < 20000 * 0.05
    small = tmp_path / "small.jsonl.gz"
    with gzip.open(small, "wt") as handle:
        handle.write("\n".join(lines[:500]) + "\n\n\n")
    assert input_size.estimate_file_records([str(small)]) == progress.InputSize(
        500, True, "counted in the input files")
    # bzip2 emits text a 900 kB block at a time; random words compress about 3x, like prose.
    words = [f"w{n}" for n in range(5000)]
    generator = random.Random(7)
    prose = [json.dumps({"text": " ".join(generator.choices(words, k=60))})
             for _ in range(40000)]
    compressed = tmp_path / "prose.jsonl.bz2"
    compressed.write_bytes(bz2.compress(("\n".join(prose) + "\n").encode()))
    assert compressed.stat().st_size > 2 * input_size.SAMPLE_BYTES
    estimate = input_size.estimate_file_records([str(compressed)])
    assert not estimate.exact and abs(estimate.records - 40000) < 40000 * 0.1
    table = pa.table({"text": ["a", "b", "c"]})
    pq.write_table(table, tmp_path / "rows.parquet")
    both = input_size.estimate_file_records([str(tmp_path / "rows.parquet"), str(small)])
    assert both == progress.InputSize(503, True, "counted in the input files")
    assert input_size.estimate_file_records([str(tmp_path / "nothing-*.jsonl")]) is None


def test_counts_never_go_back_and_eta_follows_the_rate():
    plan = progress.ProgressPlan(("a", "b"), progress.InputSize(1000, True, "test"))
    display = progress.RunProgress(plan, stream=io.StringIO(), terminal=False,
                                   plain_interval_s=0)
    display.update(progress.Snapshot(0.0, {"ingest.read": 0}))
    display.update(progress.Snapshot(10.0, {"ingest.read": 500, "a.passed": 400,
                                            "a.dropped": 100, "b.passed": 200}))
    # A reading that misses a bundle's counts (handed over between polls) is ignored.
    display.update(progress.Snapshot(11.0, {"ingest.read": 450, "a.passed": 400,
                                            "a.dropped": 100, "b.passed": 200}))
    lines = display.stream.getvalue().splitlines()
    assert "read 500 of 1,000" in lines[-1]
    snapshot = progress.Snapshot(11.0, {"ingest.read": 500, "a.passed": 400, "a.dropped": 100,
                                        "b.passed": 200})
    # done: 100 dropped by a + 200 kept by the last stage = 300 of 1,000.
    assert display.share_done(snapshot) == pytest.approx(0.3)
    # 300 done in 11 s: ~27/s, so ~25 s for the remaining 700.
    assert display.eta_s(snapshot) == pytest.approx(700 / (300 / 11), rel=0.01)
    assert "30.0% done" in lines[-1] and "ETA 0:2" in lines[-1]
