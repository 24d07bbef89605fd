"""A record's path through a run: where it came from, what each stage did, where it landed."""

from __future__ import annotations

from typing import Dict, List

from lineage.store import open_store


class RecordNotFound(LookupError):
    pass


def _rows(cursor) -> List[dict]:
    columns = [description[0] for description in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def resolve_record_ids(connection, record: str) -> List[Dict[str, str]]:
    """(run_id, record_id) pairs for Winnow's record id or the input's own ``id``."""
    return _rows(connection.execute(
        "SELECT DISTINCT run_id, record_id FROM records WHERE record_id = $r OR source_id = $r "
        "ORDER BY run_id, record_id", {"r": record}))


def trace(output_dir: str, record: str) -> List[dict]:
    """Every run's story of ``record`` (Winnow record id or source id).

    Returns one dict per (run, record): ``origin`` (the records row), ``events`` (in stage
    order) and ``edges`` (duplicate_of / written_to). Raises RecordNotFound.
    """
    connection = open_store(output_dir)
    matches = resolve_record_ids(connection, record)
    if not matches:
        raise RecordNotFound(f"no record with id or source id {record!r} in {output_dir}")
    stories = []
    for match in matches:
        params = {"run": match["run_id"], "id": match["record_id"]}
        origin = _rows(connection.execute(
            "SELECT * EXCLUDE (key) FROM records WHERE run_id = $run AND record_id = $id",
            params))[0]
        events = _rows(connection.execute(
            "SELECT stage_seq, stage, stage_version, action, reason, value, threshold, "
            "map_entries(scores) AS scores, details FROM events "
            "WHERE run_id = $run AND record_id = $id ORDER BY stage_seq, action", params))
        edges = _rows(connection.execute(
            "SELECT edge_type, target_id, target_run_id, similarity, shard, row_index "
            "FROM edges WHERE run_id = $run AND record_id = $id ORDER BY edge_type", params))
        stories.append({"run_id": match["run_id"], "record_id": match["record_id"],
                        "origin": origin, "events": events, "edges": edges})
    return stories
