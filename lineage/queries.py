"""The auditor's questions about a run, answered from its lineage tables with SQL (DuckDB).

:class:`Lineage` opens an output folder once (:func:`lineage.store.open_store`) and answers:

=================  ==========================================================================
method             answers
=================  ==========================================================================
``trace``          where a record came from, what every stage did, where it landed (or its fate)
``why``            why a record is not in the output: stage, rule, value and threshold; for a
                   duplicate, the record kept in its place and the similarity
``redactions``     PII entity types and counts, per record or per run (never values)
``duplicates``     every record removed in favour of a record (also through chains)
``from_offset``    the record at a Kafka topic/partition/offset (or file/0/line) and its fate
``from_source``    every record read from a file, URL or topic, and its fate
``erasure``        every output row derived from a source or domain, including kept records
                   that a matching record duplicated (right-to-erasure requests)
``funnel``         records in, kept, dropped by stage and reason, dead-lettered
``sql``            any SQL over the views (``describe`` lists them with their columns)
=================  ==========================================================================

Every method that takes a record accepts Winnow's record id or the input's own id
(``source_id``), and answers for every run that read it unless ``run`` narrows it down. Answers are
plain dicts and lists (JSON-serialisable with ``default=str``). Example::

    lineage = Lineage("out/")
    for story in lineage.why("doc-42"):
        print(story["explanation"])

PII (what :mod:`transforms.pii` records and ``redactions`` reads): the ``pii`` stage's event for
a record -- ``modified`` (reason ``pii_redacted``) when it replaced spans, ``dropped`` (reason
``pii_present``) for a ``drop``-type entity -- carries one score per entity type,
``scores["<ENTITY_TYPE>"] = <spans>``, and the operator per type in
``details["operators"]``. Nothing else about the spans (no text, no offsets) is recorded.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from lineage.store import describe_views, open_store
from schemas import lineage as schema
from schemas import raw

# Stages whose scores are PII span counts per entity type (transforms.pii).
PII_STAGES = ("pii",)
# Chains of duplicates (exact dedup, then near-dup dedup, then cross-run) are short; this only
# guards the recursive queries against a malformed graph.
MAX_DUPLICATE_DEPTH = 16

_TERMINAL = "('written', 'dropped', 'errored')"
_GLOB_CHARACTERS = re.compile(r"[*?\[]")

# A record's fate and where it landed, for every (run_id, record_id) of the table ``hit``.
_FATES = f"""
    SELECT h.*, r.source_id, r.source_kind, r.source, r."partition", r."offset", r.url, r.domain,
           t.stage AS fate_stage, t.action AS fate, t.reason AS fate_reason,
           t.value AS fate_value, t.threshold AS fate_threshold,
           w.shard, w.row_index, d.target_id AS duplicate_of, d.target_run_id AS duplicate_of_run,
           d.similarity, q.file AS quarantine_file
    FROM hit h
    JOIN records r ON r.run_id = h.run_id AND r.record_id = h.record_id
    LEFT JOIN events t ON t.run_id = h.run_id AND t.record_id = h.record_id
                      AND t.action IN {_TERMINAL}
    LEFT JOIN edges w ON w.run_id = h.run_id AND w.record_id = h.record_id
                     AND w.edge_type = '{schema.WRITTEN_TO}'
    LEFT JOIN edges d ON d.run_id = h.run_id AND d.record_id = h.record_id
                     AND d.edge_type = '{schema.DUPLICATE_OF}'
    LEFT JOIN quarantine q ON q.run_id = h.run_id AND q.record_id = h.record_id"""


# One row per (pii event, entity type), from the pii stage's scores (see the module docstring).
_PII_SPANS = f"""
    SELECT run_id, record_id, stage, action, entry.key AS entity_type, entry.value AS spans,
           json_extract_string(details, '$.operators."' || entry.key || '"') AS operator
    FROM (SELECT run_id, record_id, stage, action, details, unnest(map_entries(scores)) AS entry
          FROM events
          WHERE stage IN ({", ".join(repr(stage) for stage in PII_STAGES)})
            AND cardinality(scores) > 0)"""


class RecordNotFound(LookupError):
    """No record has this id or source id (in the run asked for)."""


def _rows(cursor) -> List[Dict[str, Any]]:
    columns = [description[0] for description in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _details(value: Optional[str]) -> Dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {"unparsed": value}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _number(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:g}"


def location(row: Dict[str, Any]) -> Optional[str]:
    """Where a record's row is, from a fate row: ``data/<shard>#<row>`` or ``quarantine/<file>``."""
    if row.get("shard") is not None:
        return f"data/{row['shard']}#{row['row_index']}"
    if row.get("quarantine_file") is not None:
        return f"quarantine/{row['quarantine_file']}"
    return None


def explain_fate(row: Dict[str, Any]) -> str:
    """One sentence saying what became of a record, from a fate row."""
    fate, stage, reason = row.get("fate"), row.get("fate_stage"), row.get("fate_reason")
    if fate == schema.WRITTEN:
        return f"written to {location(row)}"
    if fate == schema.DROPPED and row.get("duplicate_of"):
        similarity = row.get("similarity")
        return (f"dropped by {stage} as a duplicate of {row['duplicate_of']}"
                + (f" (similarity {similarity:.3f})" if similarity is not None else ""))
    if fate == schema.DROPPED:
        text = f"dropped by {stage}: rule {reason}"
        if row.get("fate_value") is not None or row.get("fate_threshold") is not None:
            text += (f" (value {_number(row.get('fate_value'))}, "
                     f"threshold {_number(row.get('fate_threshold'))})")
        return text
    if fate == schema.ERRORED:
        return f"dead-lettered by {stage}: {reason}" + (
            f", in {location(row)}" if row.get("quarantine_file") else "")
    return "no terminal event: the lineage of this record is incomplete (run verify)"


class Lineage:
    """The lineage of one output folder, open for queries (see the module docstring)."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.connection = open_store(output_dir)

    def query(self, sql: str, params: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        """Rows of ``sql`` (with ``$name`` parameters from ``params``) as dicts."""
        return _rows(self.connection.execute(sql, params or {}))

    # -- runs and records ------------------------------------------------------------------

    def runs(self) -> List[Dict[str, Any]]:
        """Every run in the folder, oldest first: status, times, input and counts."""
        return self.query("""
            WITH ids AS (SELECT run_id FROM records UNION SELECT run_id FROM runs
                         UNION SELECT run_id FROM shards WHERE run_id <> '')
            SELECT ids.run_id, coalesce(r.status, 'unfinished') AS status, r.started_at,
                   r.finished_at, r.input, r.stages, r.counts, r.error
            FROM ids LEFT JOIN runs r USING (run_id) ORDER BY ids.run_id""")

    def latest_run(self) -> Optional[str]:
        runs = self.runs()
        return runs[-1]["run_id"] if runs else None

    def resolve(self, record: str, run: Optional[str] = None) -> List[Dict[str, str]]:
        """(run_id, record_id) of every record whose record id or source id is ``record``.

        Raises RecordNotFound when there is none.
        """
        # Two lookups rather than one OR: the first prunes row groups by record_id.
        matches = self.query("""
            SELECT run_id, record_id FROM records
            WHERE record_id = $record AND ($run IS NULL OR run_id = $run)
            UNION
            SELECT run_id, record_id FROM records
            WHERE source_id = $record AND ($run IS NULL OR run_id = $run)
            ORDER BY run_id, record_id""", {"record": record, "run": run})
        if not matches:
            where = f" in run {run}" if run else ""
            raise RecordNotFound(
                f"no record with id or source id {record!r}{where} in {self.output_dir}")
        return matches

    def _materialize(self, table: str, sql: str, params: Dict[str, Any]) -> None:
        """Stores a (small) result, such as a recursive query's, as a temporary table."""
        self.connection.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}", params)

    def fates(self, where: str, params: Dict[str, Any],
              limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """The fate of every record matching ``where`` (an SQL condition on ``records``)."""
        limit_sql = f" LIMIT {int(limit)}" if limit else ""
        # An inline CTE, not a stored table: DuckDB then pushes the condition into the records
        # scan and the ids it finds into the scans of events and edges (row-group pruning).
        rows = self.query(f"""
            WITH hit AS (SELECT run_id, record_id FROM records WHERE {where})
            {_FATES}
            ORDER BY h.run_id, r.source, r."partition", r."offset"{limit_sql}""", params)
        for row in rows:
            row["location"] = location(row)
            row["explanation"] = explain_fate(row)
        return rows

    def _fates_of_table(self, table: str) -> List[Dict[str, Any]]:
        """The fates of the (run_id, record_id) pairs of a stored table."""
        wanted = {(row["run_id"], row["record_id"])
                  for row in self.query(f"SELECT run_id, record_id FROM {table}")}
        if not wanted:
            return []
        # A semi-join on record_id keeps the records scan selective; the pairs are exact below.
        rows = self.fates(f"record_id IN (SELECT record_id FROM {table}) "
                          f"AND run_id IN (SELECT run_id FROM {table})", {})
        return [row for row in rows if (row["run_id"], row["record_id"]) in wanted]

    # -- trace -----------------------------------------------------------------------------

    def trace(self, record: str, run: Optional[str] = None) -> List[Dict[str, Any]]:
        """A record's story in each run that read it.

        Returns one dict per (run, record): ``origin`` (its records row: file and line, or topic,
        partition and offset), ``events`` (every stage in order, with action, reason, value,
        threshold, scores and details), ``edges`` (its duplicate_of / written_to edges), ``fate``
        (the terminal event and where the record landed: ``location``, ``explanation``), and
        ``duplicates_removed`` (how many records were dropped in its favour).
        """
        stories = []
        for match in self.resolve(record, run):
            params = {"run": match["run_id"], "id": match["record_id"]}
            origin = self.query(
                "SELECT * EXCLUDE (key) FROM records WHERE run_id = $run AND record_id = $id",
                params)[0]
            events = self.query("""
                SELECT stage_seq, stage, stage_version, action, reason, value, threshold, scores,
                       details, content_sha256
                FROM events WHERE run_id = $run AND record_id = $id
                ORDER BY stage_seq, CASE WHEN action IN ('written', 'dropped', 'errored')
                                         THEN 1 ELSE 0 END""", params)
            for event in events:
                event["scores"] = {name: float(score)
                                   for name, score in (event["scores"] or {}).items()}
                event["details"] = _details(event["details"])
            fate = self.fates("run_id = $run AND record_id = $id", params)[0]
            edges = self.query(
                "SELECT edge_type, target_id, target_run_id, similarity, shard, row_index "
                "FROM edges WHERE run_id = $run AND record_id = $id ORDER BY edge_type", params)
            removed = self.query(f"""
                SELECT count(*) AS n FROM edges WHERE edge_type = '{schema.DUPLICATE_OF}'
                  AND target_id = $id AND target_run_id = $run""", params)[0]["n"]
            stories.append({"run_id": match["run_id"], "record_id": match["record_id"],
                            "origin": origin, "events": events, "edges": edges, "fate": fate,
                            "duplicates_removed": removed})
        return stories

    # -- why -------------------------------------------------------------------------------

    def why(self, record: str, run: Optional[str] = None) -> List[Dict[str, Any]]:
        """Why a record is (or is not) in the output, per run.

        For a dropped record: ``stage``, ``rule`` (the reason code), ``value``, ``threshold``,
        ``scores`` and ``details`` of the drop; for a duplicate also ``kept`` (the record kept in
        its place: its ids, origin and location) and ``similarity``. For a dead-lettered record:
        ``stage``, ``rule`` and the quarantine ``error``. For a written record: where it is, plus
        ``would_drop`` (stages that would have dropped it, in annotate-only runs).
        ``explanation`` says it in one sentence.
        """
        answers = []
        for match in self.resolve(record, run):
            params = {"run": match["run_id"], "id": match["record_id"]}
            fate = self.fates("run_id = $run AND record_id = $id", params)[0]
            answer: Dict[str, Any] = {
                "run_id": match["run_id"], "record_id": match["record_id"],
                "source_id": fate["source_id"], "fate": fate["fate"], "stage": fate["fate_stage"],
                "rule": fate["fate_reason"], "value": fate["fate_value"],
                "threshold": fate["fate_threshold"], "location": fate["location"],
                "explanation": fate["explanation"]}
            terminal = self.query(f"""
                SELECT scores, details FROM events WHERE run_id = $run AND record_id = $id
                  AND action IN {_TERMINAL}""", params)
            if terminal:
                answer["scores"] = {name: float(score)
                                    for name, score in (terminal[0]["scores"] or {}).items()}
                answer["details"] = _details(terminal[0]["details"])
            if fate["duplicate_of"]:
                answer["similarity"] = fate["similarity"]
                kept = self.fates("run_id = $run AND record_id = $id",
                                  {"run": fate["duplicate_of_run"], "id": fate["duplicate_of"]})
                answer["kept"] = kept[0] if kept else {
                    "record_id": fate["duplicate_of"], "run_id": fate["duplicate_of_run"],
                    "explanation": "not in this output folder"}
                if kept:
                    answer["explanation"] += (
                        f"; the kept record (source id {kept[0]['source_id']}, "
                        f"{kept[0]['source']} offset {kept[0]['offset']}) was "
                        f"{kept[0]['explanation']}")
            if fate["fate"] == schema.ERRORED:
                errors = self.query(
                    "SELECT error FROM quarantine WHERE run_id = $run AND record_id = $id",
                    params)
                answer["error"] = errors[0]["error"] if errors else None
            answer["would_drop"] = [
                {"stage": row["stage"], "rule": row["reason"], "value": row["value"],
                 "threshold": row["threshold"]}
                for row in self.query("""
                    SELECT stage, reason, value, threshold FROM events
                    WHERE run_id = $run AND record_id = $id AND action = 'passed'
                      AND json_extract(details, '$.would_drop')::BOOLEAN
                    ORDER BY stage_seq""", params)]
            answers.append(answer)
        return answers

    # -- redactions ------------------------------------------------------------------------

    def redactions(self, record: Optional[str] = None, run: Optional[str] = None,
                   by_record: bool = False) -> Dict[str, Any]:
        """PII entity types and counts (never values).

        With ``record``: that record's entity types, span counts and operators per run. Without:
        totals per run and entity type (``spans``, ``records``); ``by_record`` adds one row per
        record and entity type. ``redacted`` is true when the stage replaced the spans (action
        ``modified``); a record dropped for its PII (``pii_present``) has action ``dropped``.
        """
        spans = _PII_SPANS
        if record is not None:
            pairs = self.resolve(record, run)
            rows = []
            for pair in pairs:
                rows.extend(self.query(f"""
                    SELECT run_id, record_id, stage, action, entity_type,
                           CAST(spans AS BIGINT) AS spans, operator,
                           action = 'modified' AS redacted
                    FROM ({spans}) WHERE run_id = $run AND record_id = $id
                    ORDER BY entity_type""", {"run": pair["run_id"], "id": pair["record_id"]}))
            return {"record": record, "matches": pairs, "entities": rows}
        params = {"run": run}
        totals = self.query(f"""
            SELECT run_id, entity_type, CAST(sum(spans) AS BIGINT) AS spans,
                   count(DISTINCT record_id) AS records,
                   count(DISTINCT record_id) FILTER (WHERE action = 'modified') AS redacted_records,
                   string_agg(DISTINCT operator, ', ') AS operators
            FROM ({spans}) WHERE $run IS NULL OR run_id = $run
            GROUP BY ALL ORDER BY run_id, spans DESC, entity_type""", params)
        answer: Dict[str, Any] = {"run": run, "totals": totals}
        if by_record:
            answer["records"] = self.query(f"""
                SELECT s.run_id, s.record_id, r.source_id, s.entity_type,
                       CAST(s.spans AS BIGINT) AS spans, s.operator, s.action,
                       s.action = 'modified' AS redacted
                FROM ({spans}) s JOIN records r USING (run_id, record_id)
                WHERE $run IS NULL OR s.run_id = $run
                ORDER BY s.run_id, s.record_id, s.entity_type""", params)
        return answer

    # -- duplicates ------------------------------------------------------------------------

    def duplicates(self, record: str, run: Optional[str] = None) -> List[Dict[str, Any]]:
        """Every record dropped in favour of ``record``, directly (``depth`` 1) or through a chain
        (a record dropped in favour of one that was itself dropped in favour of ``record``).

        One row per removed record: its ids and origin, the ``stage`` that dropped it, the
        ``similarity`` and the record it was dropped for (``duplicate_of``).
        """
        rows = []
        for pair in self.resolve(record, run):
            params = {"run": pair["run_id"], "id": pair["record_id"]}
            self._materialize("removed", f"""
                WITH RECURSIVE removed(run_id, record_id, duplicate_of, similarity, depth) AS (
                    SELECT run_id, record_id, target_id, similarity, 1 FROM edges
                    WHERE edge_type = '{schema.DUPLICATE_OF}' AND target_id = $id
                      AND target_run_id = $run
                    UNION ALL
                    SELECT e.run_id, e.record_id, e.target_id, e.similarity, removed.depth + 1
                    FROM edges e JOIN removed ON e.target_id = removed.record_id
                                             AND e.target_run_id = removed.run_id
                    WHERE e.edge_type = '{schema.DUPLICATE_OF}'
                      AND removed.depth < {MAX_DUPLICATE_DEPTH})
                SELECT * FROM removed""", params)
            rows.extend(self.query("""
                SELECT $id AS kept_id, d.run_id, d.record_id, r.source_id, r.source,
                       r."partition", r."offset", r.url, r.domain, t.stage, d.similarity,
                       d.duplicate_of, d.depth
                FROM removed d
                JOIN records r ON r.run_id = d.run_id AND r.record_id = d.record_id
                LEFT JOIN events t ON t.run_id = d.run_id AND t.record_id = d.record_id
                                  AND t.action = 'dropped'
                ORDER BY d.depth, d.run_id, r.source, r."partition", r."offset", d.record_id""",
                {"id": pair["record_id"]}))
        return rows

    # -- from a source coordinate ----------------------------------------------------------

    def from_offset(self, topic: str, partition: int, offset: int,
                    run: Optional[str] = None) -> List[Dict[str, Any]]:
        """The record read at ``topic``/``partition``/``offset`` and its fate, per run.

        For files, ``topic`` is the file path, ``partition`` is 0 and ``offset`` the line number
        (JSONL, from 1) or row index (Parquet, from 0).
        """
        rows = []
        # The record id is a hash of the coordinates, so each source kind is a point lookup by
        # id (conditions on the coordinates themselves would defeat DuckDB's pruning).
        for kind in (raw.KAFKA, raw.FILE):
            rows.extend(self.fates(
                "record_id = $id AND ($run IS NULL OR run_id = $run)",
                {"id": raw.record_id(kind, topic, int(partition), int(offset)), "run": run}))
        return [row for row in rows if (row["source"], row["partition"], row["offset"])
                == (topic, int(partition), int(offset))]

    def from_source(self, path_or_url: str, run: Optional[str] = None,
                    limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Every record read from a file path, topic or URL (``*``/``?`` globs allowed), with
        its fate and location, in source order."""
        condition, params = _source_condition(path_or_url, ("source", "url"))
        params["run"] = run
        return self.fates(f"({condition}) AND ($run IS NULL OR run_id = $run)", params, limit)

    # -- erasure ---------------------------------------------------------------------------

    def erasure(self, source_or_domain: str, run: Optional[str] = None) -> Dict[str, Any]:
        """Everything a right-to-erasure request about a source or domain must touch.

        A record matches when its ``source`` (file or topic) or ``url`` equals the argument (or
        matches it as a glob), or when its ``domain`` is the argument or a sub-domain of it.
        From every matching record the query follows ``duplicate_of`` edges to the records kept in
        its place: their output rows hold the same (or, for near-duplicates, similar) text even
        though they came from elsewhere.

        Returns ``records``: every matching or reached record with ``relation`` (``direct``, or
        ``kept_duplicate`` with ``via`` naming the matching record), its fate and ``location``;
        ``output_rows``: those with a row in ``data/`` or ``quarantine/``; and ``summary`` counts.
        """
        condition, params = _source_condition(source_or_domain, ("source", "url"))
        params["run"] = run
        domain = source_or_domain.lower()
        params["domain"] = domain[4:] if domain.startswith("www.") else domain
        self._materialize("matching", f"""
            SELECT run_id, record_id FROM records
            WHERE (({condition}) OR domain = $domain OR ends_with(domain, '.' || $domain))
              AND ($run IS NULL OR run_id = $run)""", params)
        self._materialize("reached", f"""
            WITH RECURSIVE reached(run_id, record_id, via_run, via, similarity, depth) AS (
                SELECT run_id, record_id, NULL::VARCHAR, NULL::VARCHAR, NULL::DOUBLE, 0
                FROM matching
                UNION ALL
                SELECT e.target_run_id, e.target_id, reached.run_id,
                       coalesce(reached.via, reached.record_id), e.similarity, reached.depth + 1
                FROM edges e JOIN reached ON e.run_id = reached.run_id
                                         AND e.record_id = reached.record_id
                WHERE e.edge_type = '{schema.DUPLICATE_OF}'
                  AND reached.depth < {MAX_DUPLICATE_DEPTH})
            SELECT run_id, record_id,
                   CASE WHEN min(depth) = 0 THEN 'direct' ELSE 'kept_duplicate' END AS relation,
                   arg_min(via, depth) AS via, arg_min(similarity, depth) AS via_similarity
            FROM reached GROUP BY run_id, record_id""", {})
        relations = {(row["run_id"], row["record_id"]): row
                     for row in self.query("SELECT * FROM reached")}
        rows = []
        for fate in self._fates_of_table("reached"):
            relation = relations[(fate["run_id"], fate["record_id"])]
            rows.append({"run_id": fate["run_id"], "record_id": fate["record_id"],
                         "relation": relation["relation"], "via": relation["via"],
                         "via_similarity": relation["via_similarity"],
                         **{key: value for key, value in fate.items()
                            if key not in ("run_id", "record_id")}})
        rows.sort(key=lambda row: (row["relation"], row["run_id"], row["source"],
                                   row["partition"], row["offset"]))
        output_rows = [row for row in rows if row["location"]]
        summary = {
            "matching_records": sum(row["relation"] == "direct" for row in rows),
            "data_rows_direct": sum(row["relation"] == "direct" and row["shard"] is not None
                                    for row in rows),
            "data_rows_kept_duplicates": sum(row["relation"] == "kept_duplicate"
                                             and row["shard"] is not None for row in rows),
            "quarantine_rows": sum(row["quarantine_file"] is not None for row in rows),
            "shards": sorted({row["shard"] for row in rows if row["shard"] is not None}),
        }
        return {"query": source_or_domain, "run": run, "summary": summary,
                "output_rows": output_rows, "records": rows}

    # -- funnel ----------------------------------------------------------------------------

    def funnel(self, run: Optional[str] = None) -> Dict[str, Any]:
        """Records in, kept, dropped by stage and reason, and dead-lettered, for one run
        (default: the latest).

        ``stages`` has one row per stage in pipeline order: records that reached it
        (``entered``), ``passed``, ``modified``, ``dropped``, ``errored``, ``would_drop``
        (annotate-only) and ``written`` (the sink). ``reasons`` breaks drops and errors down by
        stage and reason.
        """
        run = run or self.latest_run()
        if run is None:
            raise RecordNotFound(f"no runs in {self.output_dir}")
        params = {"run": run}
        status = self.query("SELECT status, error FROM runs WHERE run_id = $run", params)
        read = self.query("SELECT count(*) AS n FROM records WHERE run_id = $run",
                           params)[0]["n"]
        stages = self.query("""
            SELECT stage, min(stage_seq) AS seq, count(*) AS entered,
                   count(*) FILTER (WHERE action = 'ingested') AS ingested,
                   count(*) FILTER (WHERE action = 'passed') AS passed,
                   count(*) FILTER (WHERE action = 'modified') AS modified,
                   count(*) FILTER (WHERE action = 'dropped') AS dropped,
                   count(*) FILTER (WHERE action = 'errored') AS errored,
                   count(*) FILTER (WHERE action = 'written') AS written,
                   count(*) FILTER (WHERE action = 'passed'
                                    AND json_extract(details, '$.would_drop')::BOOLEAN)
                       AS would_drop
            FROM events WHERE run_id = $run
            GROUP BY stage ORDER BY seq, stage""", params)
        reasons = self.query("""
            SELECT stage, min(stage_seq) AS seq, action, coalesce(reason, '') AS reason,
                   count(*) AS records
            FROM events WHERE run_id = $run AND action IN ('dropped', 'errored')
            GROUP BY stage, action, reason ORDER BY seq, action, records DESC, reason""", params)
        totals = {action: sum(row[action] for row in stages)
                  for action in ("written", "dropped", "errored")}
        quarantined = self.query("SELECT count(*) AS n FROM quarantine WHERE run_id = $run",
                                  params)[0]["n"]
        return {
            "run_id": run,
            "status": status[0]["status"] if status else "unfinished",
            "error": status[0]["error"] if status else None,
            "read": read, "written": totals["written"], "dropped": totals["dropped"],
            "dead_lettered": totals["errored"], "quarantine_rows": quarantined,
            "unaccounted": read - sum(totals.values()),
            "stages": stages, "reasons": reasons,
        }

    # -- free SQL --------------------------------------------------------------------------

    def sql(self, query: str) -> Tuple[List[str], List[tuple]]:
        """Runs any SQL over the views; returns (column names, rows)."""
        cursor = self.connection.execute(query)
        if cursor.description is None:
            return [], []
        return [description[0] for description in cursor.description], cursor.fetchall()

    def describe(self) -> List[Dict[str, Any]]:
        """Every view with its description and columns (see lineage.store.VIEWS)."""
        return describe_views(self.connection)


def _source_condition(value: str, columns: Sequence[str]) -> Tuple[str, Dict[str, Any]]:
    """An SQL condition matching ``value`` against ``columns``: equality, or GLOB for
    patterns. A local path also matches its absolute form."""
    candidates: List[str] = [value]
    if "://" not in value and not value.startswith("/"):
        candidates.append(os.path.abspath(value))
    operator = "GLOB" if _GLOB_CHARACTERS.search(value) else "="
    params: Dict[str, Any] = {}
    clauses: List[str] = []
    for index, candidate in enumerate(candidates):
        params[f"pattern{index}"] = candidate
        clauses.extend(f"{column} {operator} $pattern{index}" for column in columns)
    return " OR ".join(clauses), params

