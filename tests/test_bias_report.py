"""The run-level bias report, on real runs: `winnow run` with the bias stage, then the report.

The scenario: a block list that (by mistake) contains an identity term. The bias stage's
`block_terms` drops every document about lesbians; exact_dedup drops copies evenly. The report
must flag the bias stage for that group only, from lineage alone (the dropped documents are not
in the curated output).
"""

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from lineage.bias_cli import bias as bias_command
from lineage.bias_report import (BIAS_REPORT, BiasReportError, bias_report, report_metadata,
                                 write_bias_report)
from lineage.verify import passed, verify

THINGS = ["gardening", "bread baking", "local history", "cycling routes", "the library",
          "bird watching", "the river cleanup", "chess", "recycling", "music lessons",
          "astronomy", "football"]
TEMPLATES = {
    "lesbian": "Two lesbian authors at our book club talked about {thing}, meeting {n}.",
    "muslim": "Muslim families in the town hosted an evening about {thing}, meeting {n}.",
    "none": "The council discussed {thing} at length on Tuesday, meeting {n}.",
}
PER_GROUP = 24
COPY_EVERY = 4  # every 4th document appears twice; exact_dedup drops the copy


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("bias_input") / "input.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for group, template in TEMPLATES.items():
            for n in range(PER_GROUP):
                text = template.format(thing=THINGS[n % len(THINGS)], n=n)
                handle.write(json.dumps({"id": f"{group}-{n}", "text": text}) + "\n")
                if n % COPY_EVERY == 0:
                    handle.write(json.dumps({"id": f"{group}-{n}-copy", "text": text}) + "\n")
    return path


@pytest.fixture(scope="module")
def blocked_run(corpus, tmp_path_factory):
    from pipelines import run as launcher
    from pipelines.config import parse_config
    output = str(tmp_path_factory.mktemp("bias_run") / "out")
    config = parse_config({
        "input": str(corpus), "output": output,
        "stages": ["normalize", {"bias": {"block_terms": ["lesbian", "lesbians"]}},
                   "exact_dedup"]})
    summary = launcher.run(config, ["--runner=DirectRunner"])
    return summary, output


def _rows(table, identity):
    return {row["stage"]: row for row in table.to_pylist() if row["identity"] == identity}


def test_report_flags_the_stage_that_drops_one_groups_documents(blocked_run):
    summary, output = blocked_run
    assert passed(verify(output))
    table = bias_report(output)
    assert table.schema.equals(BIAS_REPORT)
    per_group = PER_GROUP + PER_GROUP // COPY_EVERY  # 30 documents mention each group
    total = 3 * per_group

    lesbian = _rows(table, "sexual_orientation/lesbian")
    assert lesbian["bias"]["documents"] == per_group
    assert lesbian["bias"]["removed"] == per_group
    assert lesbian["bias"]["removal_rate"] == 1.0
    assert lesbian["bias"]["overall_removal_rate"] == pytest.approx(per_group / total)
    assert lesbian["bias"]["flagged"]
    assert lesbian["exact_dedup"]["documents"] == 0  # none left to deduplicate
    assert not lesbian["exact_dedup"]["flagged"]
    assert lesbian["*"]["input_share"] == pytest.approx(1 / 3)
    assert lesbian["*"]["output_share"] == 0.0

    muslim = _rows(table, "religion/muslim")
    assert muslim["bias"]["removed"] == 0 and not muslim["bias"]["flagged"]
    copies = PER_GROUP // COPY_EVERY
    assert muslim["exact_dedup"]["removed"] == copies
    assert muslim["exact_dedup"]["removal_rate"] == pytest.approx(copies / per_group)
    assert not muslim["exact_dedup"]["flagged"]  # the same rate as everyone else's
    written = summary.counts["written"]
    assert written == 2 * PER_GROUP
    assert muslim["*"]["output_share"] == pytest.approx(PER_GROUP / written)

    assert lesbian["*"]["rate_ratio"] == pytest.approx(1 / (2 * copies / total + per_group / total))
    flagged = {(row["identity"], row["stage"]) for row in table.to_pylist() if row["flagged"]}
    assert flagged == {("sexual_orientation/lesbian", "bias"), ("sexual_orientation/lesbian", "*")}
    meta = report_metadata(table)
    assert meta["covered_documents"] == total and meta["uncovered_documents"] == 0


def test_report_is_written_next_to_the_lineage_and_read_back(blocked_run):
    summary, output = blocked_run
    path, table = write_bias_report(output, ratio=2.0, min_documents=5)
    assert path == f"{output}/lineage/bias_report/{summary.run_id}.parquet"
    read_back = pq.read_table(path)
    assert read_back.schema.equals(BIAS_REPORT)
    assert read_back.to_pylist() == table.to_pylist()
    assert report_metadata(read_back)["ratio"] == 2.0
    assert passed(verify(output))  # the extra folder does not disturb the lineage store


def test_ratio_and_min_documents_control_flagging(blocked_run):
    _, output = blocked_run
    # 100 % removal against 33 %: a ratio of 3; asking for more flags nothing.
    assert not any(bias_report(output, ratio=3.5).column("flagged").to_pylist())
    assert not any(bias_report(output, min_documents=31).column("flagged").to_pylist())
    with pytest.raises(BiasReportError):
        bias_report(output, ratio=0)


def test_cli_shows_a_readable_table_and_can_fail_on_flags(blocked_run):
    summary, output = blocked_run
    runner = CliRunner()
    result = runner.invoke(bias_command, [output])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert summary.run_id in lines[0]
    flagged_lines = [line for line in lines if line.rstrip().endswith("FLAG")]
    assert len(flagged_lines) == 2
    assert flagged_lines[0].startswith("sexual_orientation/lesbian")
    assert "all stages" in flagged_lines[0] and "100.0%" in flagged_lines[0]
    assert "2:bias" in flagged_lines[1] and "3.00x" in flagged_lines[1]
    assert any(line.startswith("sexual_orientation/lesbian") for line in lines)
    assert "1 flagged group(s): sexual_orientation/lesbian" in result.output

    strict = runner.invoke(bias_command, [output, "--fail-on-flag", "--flagged-only"])
    assert strict.exit_code == 1
    assert "religion/muslim" not in strict.output
    as_json = json.loads(runner.invoke(bias_command, [output, "--json"]).output)
    assert as_json["metadata"]["run_id"] == summary.run_id


def test_documents_removed_before_the_bias_stage_are_reported_as_uncovered(corpus, tmp_path):
    from pipelines import run as launcher
    from pipelines.config import parse_config
    output = str(tmp_path / "out")
    config = parse_config({"input": str(corpus), "output": output,
                           "stages": ["exact_dedup", "bias"]})
    launcher.run(config, ["--runner=DirectRunner"])
    meta = report_metadata(bias_report(output))
    copies = 3 * (PER_GROUP // COPY_EVERY)
    assert meta["uncovered_documents"] == copies
    assert meta["covered_documents"] == 3 * PER_GROUP
    result = CliRunner().invoke(bias_command, [output])
    assert f"{copies} documents were removed before the bias stage" in result.output


def test_a_run_without_the_bias_stage_has_no_report(sample_path, run_pipeline):
    _, output = run_pipeline(sample_path)
    with pytest.raises(BiasReportError, match="bias"):
        bias_report(output)
    result = CliRunner().invoke(bias_command, [output])
    assert result.exit_code == 2 and "bias" in result.output
