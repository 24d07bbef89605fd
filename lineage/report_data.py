"""The numbers of a run report, computed from the run's lineage tables and curated shards.

:func:`compute_report` gathers everything :mod:`lineage.report_html` draws, for one run of an
output folder, into a :class:`RunReport`. Every number comes from the lineage tables (through
:class:`lineage.queries.Lineage`, the same queries behind ``winnow lineage ...``) or from the
annotation columns of the run's curated shards, never from metrics, so the report and
``winnow lineage funnel`` cannot disagree:

=====================  ========================================================================
part                   source
=====================  ========================================================================
funnel, reasons        :meth:`Lineage.funnel` (events per stage and action)
score distributions    the ``scores`` of each scoring stage's events: every document that reached
                       the stage, split by what the stage did with it (kept, dropped, or kept but
                       "would drop" in annotate-only runs); thresholds from the run's config
quality rules          per rule that dropped documents: its signal in the curated shards'
                       ``quality_signals`` (written documents) and in the quality stage's drop
                       events (which carry every signal), with the rule's threshold
PII                    :meth:`Lineage.redactions` (entity types and span counts, never values)
duplicates             ``duplicate_of`` edges: groups of a kept record and every record dropped
                       for it (through chains), and the similarities
bias                   :func:`lineage.bias_report.bias_report`
sources                ``records`` (domain, payload bytes) joined with each record's fate
run                    the ``runs`` row: config, versions, runner, times
=====================  ========================================================================

No part reads document text, and none holds a PII value.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from lineage.queries import MAX_DUPLICATE_DEPTH, Lineage, RecordNotFound
from lineage.store import sql_string
from pipelines.layout import OutputLayout
from schemas import lineage as schema

# Rows of the "top sources" table.
TOP_ORIGINS = 15
# Quality rules shown with their signal's distribution (those that dropped the most).
MAX_QUALITY_RULES = 6
# Groups of the bias table shown besides the flagged ones (most documents first).
MAX_BIAS_GROUPS = 25

KEPT = "kept"
DROPPED = "dropped"
WOULD_DROP = "would drop (annotate-only)"
WRITTEN = "written"


class ReportError(ValueError):
    """The report cannot be made (e.g. the folder holds no run)."""


@dataclasses.dataclass(frozen=True)
class Threshold:
    """A configured threshold: documents on the ``drops`` side ("below"/"above") are dropped."""
    value: float
    label: str
    drops: str


@dataclasses.dataclass(frozen=True)
class ScoreSpec:
    """A score that a stage records in its lineage events, and where its thresholds are set.

    Attributes:
      stage: the stage whose events carry the score.
      score: the key in the events' ``scores``.
      title, axis: chart title and x-axis label (with unit).
      thresholds: (parameter of the stage, side that is dropped) pairs.
      value_range: the score's range, for the histogram bins.
    """
    stage: str
    score: str
    title: str
    axis: str
    thresholds: Tuple[Tuple[str, str], ...] = ()
    value_range: Optional[Tuple[float, float]] = (0.0, 1.0)


# The scores worth a distribution chart, in the order shown.
SCORES: Tuple[ScoreSpec, ...] = (
    ScoreSpec("quality_model", "quality_model_score", "Quality classifier score",
              "quality_model_score (probability of the high-quality label, 0-1)",
              (("min_score", "below"),)),
    ScoreSpec("langid", "language_score", "Language identification confidence",
              "language_score (probability of the top language, 0-1)",
              (("min_score", "below"),)),
    ScoreSpec("bias", "toxicity", "Toxicity",
              "toxicity_score (share of toxic words, 0 = none, 1 = all)",
              (("max_toxicity", "above"),)),
)


@dataclasses.dataclass
class Distribution:
    """Values of one score or signal, in named groups (e.g. kept / dropped), with thresholds."""
    name: str  # a file-name-safe id, e.g. "langid-language_score"
    stage: str
    title: str
    axis: str
    groups: Dict[str, List[float]]
    thresholds: List[Threshold]
    value_range: Optional[Tuple[float, float]] = None
    discrete: bool = False  # whole numbers: one bar per value

    @property
    def count(self) -> int:
        return sum(len(values) for values in self.groups.values())


@dataclasses.dataclass
class Duplicates:
    """What the deduplication stages removed, as groups of near-identical records."""
    # group size (records, the kept one included) -> number of groups
    group_sizes: Dict[int, int]
    # stage -> records it dropped as duplicates of a record of this run
    removed_by_stage: Dict[str, int]
    # stage -> similarities of its duplicate_of edges (1.0 for exact copies)
    similarities: Dict[str, List[float]]
    # near-duplicate threshold of the minhash_dedup stage, if it ran
    near_threshold: Optional[float]
    # records dropped as duplicates of records kept by earlier runs
    of_earlier_runs: int

    @property
    def groups(self) -> int:
        return sum(self.group_sizes.values())

    @property
    def largest(self) -> int:
        return max(self.group_sizes, default=0)


@dataclasses.dataclass
class RunReport:
    """Everything a run report shows (see the module docstring)."""
    output_dir: str
    run_id: str
    run: Optional[Dict[str, Any]]
    config: Dict[str, Any]
    funnel: Dict[str, Any]
    remaining: List[Tuple[str, int]]
    distributions: List[Distribution]
    quality_rules: List[Distribution]
    pii: List[Dict[str, Any]]
    duplicates: Duplicates
    bias_rows: List[Dict[str, Any]]
    bias_metadata: Dict[str, Any]
    bias_note: Optional[str]
    origins: List[Dict[str, Any]]

    @property
    def stage_params(self) -> Dict[str, Dict[str, Any]]:
        return stage_params(self.config)


def stage_params(config: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Stage name -> its effective parameters, from a run's config JSON (first use of a name)."""
    params: Dict[str, Dict[str, Any]] = {}
    for entry in config.get("stages") or []:
        if isinstance(entry, dict) and len(entry) == 1:
            name, values = next(iter(entry.items()))
            params.setdefault(name, values or {})
        elif isinstance(entry, str):
            params.setdefault(entry, {})
    return params


def remaining_after_each_step(funnel: Dict[str, Any]) -> List[Tuple[str, int]]:
    """(step, records still in the pipeline after it): read, then after ingest and each stage.

    The last value equals the records written when the lineage is complete (``unaccounted`` 0).
    """
    steps = [("read", int(funnel["read"]))]
    left = int(funnel["read"])
    for row in funnel["stages"]:
        if row["stage"] == schema.SINK_STAGE:
            continue
        left -= int(row["dropped"]) + int(row["errored"])
        steps.append((row["stage"], left))
    return steps


def compute_report(output_dir: str, run_id: Optional[str] = None) -> RunReport:
    """The report of ``run_id`` (default: the latest run) in the output folder ``output_dir``."""
    root = output_dir.rstrip("/")
    if not os.path.isdir(os.path.join(root, "lineage")):
        raise ReportError(f"{output_dir} holds no lineage/ folder: not the output of winnow run")
    lineage = Lineage(root)
    try:
        funnel = lineage.funnel(run_id)
    except RecordNotFound as error:
        raise ReportError(str(error)) from None
    run_id = funnel["run_id"]
    if not funnel["read"] and not lineage.query(
            "SELECT 1 FROM runs WHERE run_id = $run", {"run": run_id}):
        raise ReportError(f"no run {run_id} in {output_dir}")
    run = _run_row(lineage, run_id)
    config = json.loads(run["config"]) if run and run.get("config") else {}
    params = stage_params(config)
    bias_rows, bias_metadata, bias_note = _bias(root, run_id)
    return RunReport(
        output_dir=root, run_id=run_id, run=run, config=config, funnel=funnel,
        remaining=remaining_after_each_step(funnel),
        distributions=_score_distributions(lineage, run_id, params),
        quality_rules=_quality_rule_distributions(lineage, root, run_id, funnel, params),
        pii=lineage.redactions(run=run_id)["totals"],
        duplicates=_duplicates(lineage, run_id, params),
        bias_rows=bias_rows, bias_metadata=bias_metadata, bias_note=bias_note,
        origins=_origins(lineage, run_id))


def _run_row(lineage: Lineage, run_id: str) -> Optional[Dict[str, Any]]:
    rows = lineage.query("SELECT * FROM runs WHERE run_id = $run", {"run": run_id})
    if not rows:
        return None
    row = rows[0]
    if isinstance(row.get("counts"), dict):
        row["counts"] = dict(row["counts"])
    return row


def _thresholds(spec_thresholds: Sequence[Tuple[str, str]],
                params: Dict[str, Any]) -> List[Threshold]:
    found = []
    for name, drops in spec_thresholds:
        value = params.get(name)
        if value is not None:
            found.append(Threshold(float(value), f"{name} = {value:g}", drops))
    return found


def _score_distributions(lineage: Lineage, run_id: str,
                         params: Dict[str, Dict[str, Any]]) -> List[Distribution]:
    distributions = []
    for spec in SCORES:
        rows = lineage.query("""
            SELECT action, scores[$score] AS value,
                   coalesce(json_extract(details, '$.would_drop')::BOOLEAN, false) AS would_drop
            FROM events
            WHERE run_id = $run AND stage = $stage
              AND action IN ('passed', 'modified', 'dropped')
              AND scores[$score] IS NOT NULL""",
                             {"run": run_id, "stage": spec.stage, "score": spec.score})
        if not rows:
            continue
        groups: Dict[str, List[float]] = {KEPT: [], DROPPED: [], WOULD_DROP: []}
        for row in rows:
            groups[_group(row["action"], row["would_drop"])].append(float(row["value"]))
        distributions.append(Distribution(
            name=f"{spec.stage}-{spec.score}", stage=spec.stage, title=spec.title,
            axis=spec.axis, groups={name: values for name, values in groups.items() if values},
            thresholds=_thresholds(spec.thresholds, params.get(spec.stage, {})),
            value_range=spec.value_range))
    failed_rules = _failed_rules_distribution(lineage, run_id, params.get("quality"))
    if failed_rules is not None:
        distributions.insert(0, failed_rules)
    return distributions


def _group(action: str, would_drop: bool) -> str:
    if action == schema.DROPPED:
        return DROPPED
    return WOULD_DROP if would_drop else KEPT


def _failed_rules_distribution(lineage: Lineage, run_id: str,
                               quality_params: Optional[Dict[str, Any]]) -> Optional[Distribution]:
    """The quality stage's score as what it counts: enabled rules failed per document.

    ``quality_score`` is the share of enabled rules passed (1 - failed / enabled); with
    ``drop_failing`` a single failed rule drops the document.
    """
    rows = lineage.query("""
        SELECT action,
               coalesce(json_array_length(json_extract(details, '$.failed_rules')), 0) AS failed,
               coalesce(json_extract(details, '$.would_drop')::BOOLEAN, false) AS would_drop
        FROM events
        WHERE run_id = $run AND stage = 'quality'
          AND action IN ('passed', 'modified', 'dropped')""", {"run": run_id})
    if not rows:
        return None
    groups: Dict[str, List[float]] = {KEPT: [], DROPPED: [], WOULD_DROP: []}
    for row in rows:
        groups[_group(row["action"], row["would_drop"])].append(float(row["failed"]))
    thresholds = []
    if (quality_params or {}).get("drop_failing", True):
        thresholds.append(Threshold(0.5, "drop_failing: one failed rule drops", "above"))
    return Distribution(
        name="quality-failed_rules", stage="quality",
        title="Quality heuristics: enabled rules failed per document",
        axis="rules failed (quality_score = share of enabled rules passed)",
        groups={name: values for name, values in groups.items() if values},
        thresholds=thresholds, value_range=None, discrete=True)


def _quality_rule_distributions(lineage: Lineage, root: str, run_id: str,
                                funnel: Dict[str, Any],
                                params: Dict[str, Dict[str, Any]]) -> List[Distribution]:
    """Per quality rule that dropped documents: its signal for written and dropped documents."""
    drops = [row for row in funnel["reasons"]
             if row["stage"] == "quality" and row["action"] == schema.DROPPED]
    if not drops:
        return []
    from transforms.quality import RULES  # pylint: disable=import-outside-toplevel
    rules = {rule.name: rule for rule in RULES}
    quality_params = params.get("quality", {})
    shards = _curated_source(root, run_id)
    distributions = []
    for row in drops[:MAX_QUALITY_RULES]:
        rule = rules.get(row["reason"])
        if rule is None:
            continue
        dropped = [r["value"] for r in lineage.query("""
            SELECT scores[$signal] AS value FROM events
            WHERE run_id = $run AND stage = 'quality' AND action = 'dropped'
              AND scores[$signal] IS NOT NULL""", {"run": run_id, "signal": rule.signal})]
        written = []
        if shards is not None:
            written = [r["value"] for r in lineage.query(f"""
                SELECT quality_signals[$signal] AS value FROM {shards}
                WHERE run_id = $run AND quality_signals[$signal] IS NOT NULL""",
                                                         {"run": run_id, "signal": rule.signal})]
        threshold = quality_params.get(rule.name)
        thresholds = [] if threshold is None else [Threshold(
            float(threshold), f"{rule.name} = {threshold:g}",
            "below" if rule.minimum else "above")]
        distributions.append(Distribution(
            name=f"quality-rule-{rule.name}", stage="quality",
            title=f"{rule.name}: {row['records']} dropped", axis=rule.signal,
            groups={name: [float(v) for v in values] for name, values in
                    ((WRITTEN, written), ("dropped by quality", dropped)) if values},
            thresholds=thresholds))
    return distributions


def _curated_source(root: str, run_id: str) -> Optional[str]:
    """A DuckDB table expression over the run's curated shards, or None when there are none."""
    data = OutputLayout(root).data
    if not os.path.isdir(data) or not any(
            name.endswith(".parquet") for name in os.listdir(data)):
        return None
    return f"read_parquet({sql_string(data + '/*.parquet')}, union_by_name=true)"


def _duplicates(lineage: Lineage, run_id: str,
                params: Dict[str, Dict[str, Any]]) -> Duplicates:
    edges = lineage.query(f"""
        SELECT e.record_id, e.target_id, e.target_run_id, e.similarity,
               coalesce(t.stage, '?') AS stage
        FROM edges e
        LEFT JOIN events t ON t.run_id = e.run_id AND t.record_id = e.record_id
                          AND t.action = 'dropped'
        WHERE e.run_id = $run AND e.edge_type = '{schema.DUPLICATE_OF}'""", {"run": run_id})
    parent: Dict[str, str] = {}
    removed_by_stage: Dict[str, int] = collections.Counter()
    similarities: Dict[str, List[float]] = collections.defaultdict(list)
    of_earlier_runs = 0
    for edge in edges:
        similarities[edge["stage"]].append(float(edge["similarity"] or 0.0))
        if edge["target_run_id"] not in (None, run_id):
            of_earlier_runs += 1
            continue
        removed_by_stage[edge["stage"]] += 1
        parent[edge["record_id"]] = edge["target_id"]

    def root_of(record: str) -> str:
        for _ in range(MAX_DUPLICATE_DEPTH):
            if record not in parent:
                break
            record = parent[record]
        return record

    members = collections.Counter(root_of(record) for record in parent)
    sizes = collections.Counter(count + 1 for count in members.values())
    near = params.get("minhash_dedup", {}).get("threshold")
    return Duplicates(group_sizes=dict(sorted(sizes.items())),
                      removed_by_stage=dict(removed_by_stage),
                      similarities=dict(similarities),
                      near_threshold=None if near is None else float(near),
                      of_earlier_runs=of_earlier_runs)


def _bias(root: str, run_id: str) -> Tuple[List[Dict[str, Any]], Dict[str, Any], Optional[str]]:
    """The bias table's rows to show (whole-run rows, then flagged stage rows), or a note."""
    # pylint: disable-next=import-outside-toplevel
    from lineage.bias_report import ALL_STAGES, BiasReportError, bias_report, report_metadata
    try:
        table = bias_report(root, run_id)
    except BiasReportError as error:
        return [], {}, str(error)
    rows = table.to_pylist()
    whole_run = sorted((row for row in rows if row["stage"] == ALL_STAGES),
                       key=lambda row: (-row["documents"], row["identity"]))
    flagged_groups = {row["identity"] for row in rows if row["flagged"]}
    shown = [row for row in whole_run if row["identity"] in flagged_groups]
    shown += [row for row in whole_run if row["identity"] not in flagged_groups][
        :max(0, MAX_BIAS_GROUPS - len(shown))]
    shown += [row for row in rows if row["stage"] != ALL_STAGES and row["flagged"]]
    note = None if rows else "no document of this run mentions an identity group"
    return shown, report_metadata(table), note


def _origins(lineage: Lineage, run_id: str, limit: int = TOP_ORIGINS) -> List[Dict[str, Any]]:
    """Top sources (URL domain, or the file/topic for records without a URL) by bytes kept."""
    return lineage.query(f"""
        WITH fate AS (
            SELECT record_id, any_value(action) AS action FROM events
            WHERE run_id = $run AND action IN {tuple(schema.TERMINAL_ACTIONS)}
            GROUP BY record_id)
        SELECT coalesce(r.domain, '(no URL) ' || regexp_extract(r.source, '[^/]+$')) AS origin,
               count(*) AS records_read, sum(r.byte_len) AS bytes_read,
               count(*) FILTER (WHERE f.action = 'written') AS records_kept,
               coalesce(sum(r.byte_len) FILTER (WHERE f.action = 'written'), 0) AS bytes_kept
        FROM records r LEFT JOIN fate f USING (record_id)
        WHERE r.run_id = $run
        GROUP BY ALL ORDER BY bytes_kept DESC, bytes_read DESC, origin LIMIT {int(limit)}""",
                         {"run": run_id})
