"""The run-level bias report: do the stages remove documents about some groups more than others?

For every identity group mentioned in a run, the report gives its share of documents in the input
and in the kept (curated) output, and for every stage the removal rate of documents mentioning the
group next to the stage's overall removal rate. A group is **flagged** at a stage when the stage
removes its documents at ``ratio`` times its overall rate or more (and the group has at least
``min_documents`` documents there), e.g. a block list that contains an identity term, or a
toxicity filter whose word list holds a group's name; and on its whole-run row when the run as a
whole removes its documents at that multiple of the run's overall removal rate.

Where the numbers come from:

- **identity counts** of every document, kept or dropped, come from the lineage events of the
  ``bias`` stage (:mod:`transforms.bias`), whose ``scores`` hold ``identity:<axis>/<group>``
  counts. Dropped documents are not in the curated output, so lineage is the only place that still
  knows what they mentioned;
- **fates** (which stage dropped or dead-lettered a document, or that it was written) come from
  the terminal lineage events of each record;
- **output shares** come from the curated shards' ``identity_mentions`` column.

Coverage: only documents that reached the bias stage have identity counts. Put ``bias`` before the
filtering stages; documents removed earlier are counted in the table's metadata
(``uncovered_documents``) and left out of every rate.

The table (:data:`BIAS_REPORT`) has one row per (group, stage) plus one row per group with
``stage = "*"`` for the whole run (removed = not written). It is written next to the lineage
tables, as ``<output>/lineage/bias_report/<run_id>.parquet``.
"""

from __future__ import annotations

import json
import math
import os
from typing import Dict, List, Optional, Tuple

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from lineage.store import open_store
from pipelines.layout import OutputLayout

BIAS_STAGE = "bias"
IDENTITY_PREFIX = "identity:"
ALL_STAGES = "*"
REPORT_TABLE = "bias_report"

# Flag a group whose removal rate at a stage is at least this multiple of the stage's overall rate.
DEFAULT_RATIO = 1.5
# Rates over fewer documents than this are reported but never flagged.
DEFAULT_MIN_DOCUMENTS = 10

BIAS_REPORT = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("identity", pa.string(), nullable=False),  # "axis/group"
    pa.field("axis", pa.string(), nullable=False),
    pa.field("group", pa.string(), nullable=False),
    pa.field("stage", pa.string(), nullable=False),  # a stage name, or "*" for the whole run
    pa.field("stage_seq", pa.int32()),  # null for "*"
    # documents mentioning the group that reached the stage, and how many it removed
    pa.field("documents", pa.int64(), nullable=False),
    pa.field("removed", pa.int64(), nullable=False),
    pa.field("removal_rate", pa.float64()),
    # the same over every document with identity data
    pa.field("overall_documents", pa.int64(), nullable=False),
    pa.field("overall_removed", pa.int64(), nullable=False),
    pa.field("overall_removal_rate", pa.float64()),
    pa.field("rate_ratio", pa.float64()),  # removal_rate / overall_removal_rate
    # how many standard errors the group's rate lies above the overall rate (binomial)
    pa.field("z_score", pa.float64()),
    # the group's share of documents at the bias stage (input) and in the curated output
    pa.field("input_share", pa.float64()),
    pa.field("output_share", pa.float64()),
    pa.field("flagged", pa.bool_(), nullable=False),
])

# Per record that has a bias event: its groups and its fate. One row per record even if a retried
# bundle wrote an event twice.
_RECORDS_SQL = """
    WITH bias AS (
        SELECT record_id, scores FROM events
        WHERE run_id = $run AND stage = $bias AND action IN ('passed', 'modified', 'dropped')
        QUALIFY row_number() OVER (PARTITION BY record_id ORDER BY event_id) = 1),
    fate AS (
        SELECT record_id, stage, stage_seq, action FROM events
        WHERE run_id = $run AND action IN ('written', 'dropped', 'errored')
        QUALIFY row_number() OVER (PARTITION BY record_id ORDER BY stage_seq, event_id) = 1)
    SELECT b.record_id, f.stage, f.stage_seq, f.action,
           list_distinct([substr(e.key, {prefix_len}) FOR e IN map_entries(b.scores)
                          IF starts_with(e.key, '{prefix}') AND e.value > 0]) AS groups
    FROM bias b LEFT JOIN fate f USING (record_id)
""".format(prefix=IDENTITY_PREFIX, prefix_len=len(IDENTITY_PREFIX) + 1)

_STAGES_SQL = """
    SELECT stage, min(stage_seq) AS seq FROM events
    WHERE run_id = $run AND stage NOT IN ('ingest', 'sink') AND stage_seq >= $from_seq
    GROUP BY stage ORDER BY seq"""


class BiasReportError(ValueError):
    """The report cannot be computed (e.g. the run has no bias stage events)."""


def _runs_with_bias(connection, bias_stage: str) -> List[str]:
    rows = connection.execute(
        "SELECT DISTINCT run_id FROM events WHERE stage = ? ORDER BY run_id",
        [bias_stage]).fetchall()
    return [row[0] for row in rows]


def _output_counts(layout: OutputLayout, connection, run_id: str) -> Tuple[int, Dict[str, int]]:
    """Curated rows of the run, and per group how many of them mention it."""
    data = layout.data
    if not (os.path.isdir(data) and any(name.endswith(".parquet") for name in os.listdir(data))):
        return 0, {}
    source = f"read_parquet('{data.replace(chr(39), chr(39) * 2)}/*.parquet', union_by_name=true)"
    total = connection.execute(f"SELECT count(*) FROM {source} WHERE run_id = ?",
                               [run_id]).fetchone()[0]
    rows = connection.execute(f"""
        SELECT e.key, count(*) FROM (
            SELECT unnest(map_entries(identity_mentions)) AS e FROM {source} WHERE run_id = ?)
        WHERE e.value > 0 GROUP BY e.key""", [run_id]).fetchall()
    return total, {group: count for group, count in rows}


def _rate(removed: int, documents: int) -> Optional[float]:
    return removed / documents if documents else None


def _z_score(group_rate: Optional[float], overall_rate: Optional[float],
             documents: int) -> Optional[float]:
    if group_rate is None or overall_rate is None or overall_rate in (0.0, 1.0):
        return None
    return (group_rate - overall_rate) / math.sqrt(overall_rate * (1 - overall_rate) / documents)


def bias_report(output_dir: str, run_id: Optional[str] = None, ratio: float = DEFAULT_RATIO,
                min_documents: int = DEFAULT_MIN_DOCUMENTS,
                bias_stage: str = BIAS_STAGE) -> pa.Table:
    """Computes the bias report of ``run_id`` (default: the latest run with a bias stage).

    Returns a table of schema :data:`BIAS_REPORT`, whose schema metadata also holds ``run_id``,
    ``ratio``, ``min_documents``, ``bias_stage_seq``, ``covered_documents`` (with identity data)
    and ``uncovered_documents`` (read by the run but removed before the bias stage).
    """
    if ratio <= 0:
        raise BiasReportError(f"ratio must be positive, got {ratio}")
    layout = OutputLayout(output_dir.rstrip("/"))
    connection = open_store(layout.root)
    runs = _runs_with_bias(connection, bias_stage)
    if run_id is None:
        if not runs:
            raise BiasReportError(
                f"no run in {output_dir} has events of a {bias_stage!r} stage; run the "
                f"'{bias_stage}' stage (before the filtering stages) to get a bias report")
        run_id = runs[-1]
    elif run_id not in runs:
        raise BiasReportError(f"run {run_id} has no events of a {bias_stage!r} stage")

    bias_seq = connection.execute(
        "SELECT min(stage_seq) FROM events WHERE run_id = ? AND stage = ?",
        [run_id, bias_stage]).fetchone()[0]
    records = connection.execute(_RECORDS_SQL, {"run": run_id, "bias": bias_stage}).fetchall()
    stages = connection.execute(_STAGES_SQL, {"run": run_id, "from_seq": bias_seq}).fetchall()
    read = connection.execute("SELECT count(DISTINCT record_id) FROM records WHERE run_id = ?",
                              [run_id]).fetchone()[0]
    output_total, output_by_group = _output_counts(layout, connection, run_id)

    # Per group (None: every covered document): documents, written, and removals by stage seq.
    tallies: Dict[Optional[str], Dict[str, object]] = {}
    without_fate = 0
    for _, _, seq, action, groups in records:
        if action is None:  # an unfinished run: no terminal event yet
            without_fate += 1
            continue
        removed_at = seq if action in ("dropped", "errored") else None
        for group in [None] + list(groups or []):
            entry = tallies.setdefault(group, {"fates": {}, "documents": 0, "written": 0})
            entry["documents"] += 1
            if action == "written":
                entry["written"] += 1
            elif removed_at is not None:
                entry["fates"][removed_at] = entry["fates"].get(removed_at, 0) + 1
    overall = tallies.setdefault(None, {"fates": {}, "documents": 0, "written": 0})
    covered = overall["documents"]

    def reached_and_removed(entry, seq):
        removed_before = sum(count for at, count in entry["fates"].items() if at < seq)
        return entry["documents"] - removed_before, entry["fates"].get(seq, 0)

    rows = []
    for group in sorted(key for key in tallies if key is not None):
        entry = tallies[group]
        axis, _, name = group.partition("/")
        input_share = entry["documents"] / covered if covered else None
        output_share = (output_by_group.get(group, 0) / output_total) if output_total else None
        base = {"run_id": run_id, "identity": group, "axis": axis, "group": name,
                "input_share": input_share, "output_share": output_share}
        overall_removed = overall["documents"] - overall["written"]
        rows.append(_row(base, ALL_STAGES, None, entry["documents"],
                         entry["documents"] - entry["written"], overall["documents"],
                         overall_removed, ratio, min_documents))
        for stage, seq in stages:
            documents, removed = reached_and_removed(entry, seq)
            overall_documents, overall_stage_removed = reached_and_removed(overall, seq)
            rows.append(_row(base, stage, seq, documents, removed, overall_documents,
                             overall_stage_removed, ratio, min_documents))
    table = pa.Table.from_pylist(rows, schema=BIAS_REPORT)
    metadata = {"run_id": run_id, "ratio": ratio, "min_documents": min_documents,
                "bias_stage": bias_stage, "bias_stage_seq": bias_seq,
                "covered_documents": covered,
                "uncovered_documents": read - covered - without_fate,
                "documents_without_fate": without_fate, "output_documents": output_total}
    return table.replace_schema_metadata(
        {b"winnow.bias_report": json.dumps(metadata).encode("utf-8")})


def _row(base: dict, stage: str, seq: Optional[int], documents: int, removed: int,
         overall_documents: int, overall_removed: int, ratio: float,
         min_documents: int) -> dict:
    rate = _rate(removed, documents)
    overall_rate = _rate(overall_removed, overall_documents)
    rate_ratio = rate / overall_rate if rate is not None and overall_rate else None
    flagged = (documents >= min_documents and removed > 0 and rate_ratio is not None
               and rate_ratio >= ratio)
    return dict(base, stage=stage, stage_seq=seq, documents=documents, removed=removed,
                removal_rate=rate, overall_documents=overall_documents,
                overall_removed=overall_removed, overall_removal_rate=overall_rate,
                rate_ratio=rate_ratio, z_score=_z_score(rate, overall_rate, documents),
                flagged=flagged)


def report_metadata(table: pa.Table) -> dict:
    """The run-level facts stored with a report (see :func:`bias_report`)."""
    raw = (table.schema.metadata or {}).get(b"winnow.bias_report")
    return json.loads(raw) if raw else {}


def report_path(output_dir: str, run_id: str) -> str:
    return f"{OutputLayout(output_dir.rstrip('/')).lineage_table(REPORT_TABLE)}/{run_id}.parquet"


def write_bias_report(output_dir: str, run_id: Optional[str] = None,
                      ratio: float = DEFAULT_RATIO, min_documents: int = DEFAULT_MIN_DOCUMENTS,
                      bias_stage: str = BIAS_STAGE) -> Tuple[str, pa.Table]:
    """Computes the report and writes it to ``<output>/lineage/bias_report/<run_id>.parquet``.

    Returns (path, table). Writing again replaces the run's previous report.
    """
    table = bias_report(output_dir, run_id, ratio, min_documents, bias_stage)
    path = report_path(output_dir, report_metadata(table)["run_id"])
    folder = os.path.dirname(path)
    if "://" not in folder:
        os.makedirs(folder, exist_ok=True)
    with FileSystems.create(path) as handle:
        pq.write_table(table, handle, compression="zstd")
    return path, table
