"""The completeness invariant: every record read is accounted for, exactly once.

For each run in an output folder (any run that left records, a ``runs`` row, curated shards or
quarantine rows), :func:`verify` runs the checks below; each returns the offending rows (empty =
holds). A run passes when every check is empty. A run that failed or crashed half-way never
passes: its ``runs`` row says ``failed``, or it has none, so ``run_finished`` rejects whatever
shards it left.

=========================  ===================================================================
check                      what must hold
=========================  ===================================================================
run_finished               the run has a ``runs`` row with status ``succeeded``
one_terminal_fate          every ingested record has exactly one written / dropped / errored event
unique_events              no (record, stage, action) event is stored twice
no_event_after_terminal    nothing happens to a record after its terminal event
no_orphan_events           every event and edge belongs to an ingested record of the run
errored_in_quarantine      every errored record has a quarantine row, and vice versa
duplicate_target_kept      every ``duplicate_of`` target was kept by the stage that dropped the
                           duplicate (it then has its own single fate: written, or dropped by a
                           later stage)
written_in_one_shard       every written record has exactly one ``written_to`` edge, and every
                           such edge a ``written`` event
shard_rows_match           each shard holds exactly the records lineage places in it, at the
                           rows it says, and its footer's row count agrees
offsets_accounted          per file/partition: records read = range's messages, no repeated
                           offsets, every offset inside the range, and messages + skipped =
                           the range's length (for Kafka)
=========================  ===================================================================
"""

from __future__ import annotations

from typing import Dict, List, Optional

from lineage.store import open_store
from schemas import lineage as schema
from schemas import raw

TERMINAL = "('written', 'dropped', 'errored')"

# What each check asserts, in words (for reports).
CHECK_DESCRIPTIONS = {
    "run_finished": "the run has a runs row with status succeeded",
    "one_terminal_fate": "every record read has exactly one written/dropped/errored event",
    "unique_events": "no event is recorded twice",
    "no_event_after_terminal": "no stage acts on a record after its terminal event",
    "no_orphan_events": "every event and edge belongs to a record the run read",
    "errored_in_quarantine": "every errored record has a quarantine row, and vice versa",
    "duplicate_target_kept": "every record a duplicate was dropped for was kept by that stage",
    "written_in_one_shard": "every written record has exactly one written_to edge, and back",
    "shard_rows_match": "each shard holds exactly the records lineage places in it, at those rows",
    "offsets_accounted": "every message of every file/partition read is a record, once",
}

CHECKS = {
    "run_finished": """
        SELECT x.run_id, coalesce(r.status, 'no runs row: unfinished or crashed') AS status,
               r.error
        FROM (SELECT $run AS run_id) x LEFT JOIN runs r USING (run_id)
        WHERE r.status IS DISTINCT FROM 'succeeded'""",
    "one_terminal_fate": f"""
        SELECT r.record_id, r.source, r."partition", r."offset",
               count(e.record_id) AS terminal_events,
               string_agg(e.stage || ':' || e.action, ', ') AS fates
        FROM records r
        LEFT JOIN events e ON e.run_id = r.run_id AND e.record_id = r.record_id
                          AND e.action IN {TERMINAL}
        WHERE r.run_id = $run
        GROUP BY ALL HAVING count(e.record_id) <> 1""",
    "unique_events": """
        SELECT record_id, stage, action, count(*) AS copies FROM raw_events
        WHERE run_id = $run GROUP BY ALL HAVING count(*) > 1""",
    "no_event_after_terminal": f"""
        SELECT e.record_id, e.stage, e.action, e.stage_seq, t.stage_seq AS terminal_seq
        FROM events e JOIN events t ON t.run_id = e.run_id AND t.record_id = e.record_id
                                   AND t.action IN {TERMINAL}
        WHERE e.run_id = $run AND e.stage_seq > t.stage_seq""",
    "no_orphan_events": """
        SELECT 'event' AS kind, record_id, stage || ':' || action AS what FROM events
        WHERE run_id = $run AND record_id NOT IN (SELECT record_id FROM records WHERE run_id = $run)
        UNION ALL
        SELECT 'edge', record_id, edge_type FROM edges
        WHERE run_id = $run
          AND record_id NOT IN (SELECT record_id FROM records WHERE run_id = $run)""",
    "errored_in_quarantine": """
        SELECT record_id, 'errored event without quarantine row' AS problem FROM events
        WHERE run_id = $run AND action = 'errored'
          AND record_id NOT IN (SELECT record_id FROM quarantine WHERE run_id = $run)
        UNION ALL
        SELECT record_id, 'quarantine row without errored event' FROM quarantine
        WHERE run_id = $run AND record_id NOT IN (
            SELECT record_id FROM events WHERE run_id = $run AND action = 'errored')""",
    "duplicate_target_kept": """
        SELECT d.record_id, drop.stage, d.target_id, d.target_run_id FROM edges d
        JOIN events drop ON drop.run_id = d.run_id AND drop.record_id = d.record_id
                        AND drop.action = 'dropped'
        WHERE d.run_id = $run AND d.edge_type = 'duplicate_of' AND NOT EXISTS (
            SELECT 1 FROM events k WHERE k.run_id = d.target_run_id
              AND k.record_id = d.target_id AND k.stage = drop.stage
              AND k.action IN ('passed', 'modified'))""",
    "written_in_one_shard": f"""
        WITH e AS (SELECT record_id, count(*) AS n FROM events
                   WHERE run_id = $run AND action = 'written' GROUP BY record_id),
             w AS (SELECT record_id, count(*) AS n FROM edges
                   WHERE run_id = $run AND edge_type = '{schema.WRITTEN_TO}' GROUP BY record_id)
        SELECT record_id, coalesce(e.n, 0) AS written_events, coalesce(w.n, 0) AS written_to_edges
        FROM e FULL OUTER JOIN w USING (record_id)
        WHERE coalesce(e.n, 0) <> 1 OR coalesce(w.n, 0) <> 1""",
    "shard_rows_match": f"""
        WITH c AS (SELECT * FROM curated WHERE run_id = $run),
             w AS (SELECT * FROM edges WHERE run_id = $run AND edge_type = '{schema.WRITTEN_TO}')
        SELECT coalesce(w.record_id, c.id) AS record_id, coalesce(w.shard, c.shard) AS shard,
               w.row_index AS lineage_row, c.row_index AS shard_row,
               CASE WHEN c.id IS NULL THEN 'lineage says it was written here; the shard lacks it'
                    WHEN w.record_id IS NULL THEN 'in the shard without a written_to edge'
                    ELSE 'in the shard at another row than lineage says' END AS problem
        FROM c FULL OUTER JOIN w ON c.shard = w.shard AND c.id = w.record_id
        WHERE c.id IS NULL OR w.record_id IS NULL OR c.row_index <> w.row_index
        UNION ALL
        SELECT NULL, s.shard, NULL, NULL,
               'the shard has ' || s.num_rows || ' rows, lineage places '
               || count(w.record_id) || ' in it'
        FROM shards s LEFT JOIN edges w ON w.shard = s.shard AND w.run_id = s.run_id
                                       AND w.edge_type = '{schema.WRITTEN_TO}'
        WHERE s.run_id = $run GROUP BY s.shard, s.num_rows HAVING s.num_rows <> count(w.record_id)
        ORDER BY CASE WHEN problem LIKE 'lineage says%' THEN 0
                      WHEN problem LIKE 'in the shard without%' THEN 1
                      WHEN problem LIKE 'the shard has%' THEN 2 ELSE 3 END,
                 shard, lineage_row""",
    "offsets_accounted": f"""
        WITH got AS (
            SELECT source_kind, source, "partition", count(*) AS n,
                   count(DISTINCT "offset") AS distinct_offsets,
                   min("offset") AS min_offset, max("offset") AS max_offset
            FROM records WHERE run_id = $run GROUP BY ALL),
        planned AS (
            SELECT source_kind, source, "partition", sum(messages_read) AS messages_read,
                   sum(skipped) AS skipped, min(start_offset) AS start_offset,
                   max(end_offset) AS end_offset
            FROM source_ranges WHERE run_id = $run GROUP BY ALL)
        SELECT coalesce(p.source, g.source) AS source, coalesce(p."partition", g."partition")
                   AS "partition", p.messages_read, g.n AS records, g.distinct_offsets,
               p.start_offset, p.end_offset, g.min_offset, g.max_offset
        FROM planned p FULL OUTER JOIN got g
          ON p.source_kind = g.source_kind AND p.source = g.source AND p."partition" = g."partition"
        WHERE p.messages_read IS DISTINCT FROM coalesce(g.n, 0)
           OR g.n <> g.distinct_offsets
           OR g.min_offset < p.start_offset OR g.max_offset >= p.end_offset
           OR (p.source_kind = '{raw.KAFKA}'
               AND p.messages_read + p.skipped <> p.end_offset - p.start_offset)""",
}


def run_ids(output_dir: str) -> List[str]:
    """Every run that left lineage in ``output_dir``, oldest first."""
    connection = open_store(output_dir)
    rows = connection.execute("""
        SELECT run_id FROM records UNION SELECT run_id FROM runs
        UNION SELECT run_id FROM shards WHERE run_id <> ''
        UNION SELECT run_id FROM quarantine ORDER BY run_id""").fetchall()
    return [row[0] for row in rows]


def verify(output_dir: str, run_id: Optional[str] = None) -> Dict[str, Dict[str, List[dict]]]:
    """Runs every check for ``run_id`` (default: every run in the folder).

    Returns ``{run_id: {check: [offending rows as dicts]}}``; a check that holds maps to ``[]``.
    """
    connection = open_store(output_dir)
    runs = [run_id] if run_id else run_ids(output_dir)
    results = {}
    for run in runs:
        results[run] = {}
        for name, sql in CHECKS.items():
            cursor = connection.execute(sql, {"run": run})
            columns = [description[0] for description in cursor.description]
            results[run][name] = [dict(zip(columns, row)) for row in cursor.fetchall()]
    return results


def passed(results: Dict[str, Dict[str, List[dict]]]) -> bool:
    return bool(results) and all(not rows for checks in results.values()
                                 for rows in checks.values())
