"""``winnow lineage ...``: query and check a run's record-level lineage.

Every command takes the output folder of ``winnow run`` as its first argument, prints a readable
table by default and JSON with ``--json``. Commands that take a RECORD accept Winnow's record id or
the input's own ``id``. The answers come from :class:`lineage.queries.Lineage`; the completeness
check from :mod:`lineage.verify`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence

import click

from lineage.store import VIEWS

_MAX_CELL = 64
# Columns printed in full however long: sentences and file locations.
_FULL_WIDTH = frozenset({"explanation", "location", "description", "problem", "error"})


def _views_epilog() -> str:
    lines = ["\b", "Views (winnow lineage tables DIR describes every column):"]
    for view, doc in VIEWS.items():
        lines.append(f"  {view}: {', '.join(doc.columns)}")
    return "\n".join(lines)


def _open(output_dir: str):
    from lineage.queries import Lineage  # pylint: disable=import-outside-toplevel
    return Lineage(output_dir)


def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, default=str, indent=2, ensure_ascii=False))


def _cell(value: Any, full: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        if not value:
            return ""
        text = json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    text = text.replace("\n", " ")
    return text if full or len(text) <= _MAX_CELL else text[:_MAX_CELL - 1] + "…"


def _table(rows: Sequence[Dict[str, Any]], columns: Optional[Sequence[str]] = None,
           indent: str = "  ") -> None:
    """Prints ``rows`` (dicts) as an aligned text table of ``columns``."""
    if not rows:
        click.echo(f"{indent}(none)")
        return
    columns = list(columns or rows[0].keys())
    cells = [[_cell(row.get(column), column in _FULL_WIDTH) for column in columns]
             for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells))
              for i, column in enumerate(columns)]
    click.echo(indent + "  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    click.echo(indent + "  ".join("-" * w for w in widths))
    for line in cells:
        click.echo(indent + "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


def _not_found(error: Exception) -> None:
    click.echo(str(error), err=True)
    sys.exit(1)


_output_dir = click.argument("output_dir", type=click.Path(exists=True, file_okay=False))
_as_json = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
_run_option = click.option("--run", "run_id", metavar="RUN",
                           help="Only this run (default: every run in the folder).")


class _LineageGroup(click.Group):
    """Turns a record that is not in the lineage into a message and exit status 1."""

    def invoke(self, ctx):
        from lineage.queries import RecordNotFound  # pylint: disable=import-outside-toplevel
        try:
            return super().invoke(ctx)
        except RecordNotFound as error:
            _not_found(error)


@click.group(cls=_LineageGroup)
def lineage() -> None:
    """Query and check a run's record-level lineage.

    Every command takes the run's output folder (DIR) first. A RECORD is Winnow's record id or
    the input's own id. Add --json for machine-readable output.
    """


@lineage.command()
@_output_dir
@_run_option
@_as_json
@click.option("--limit", default=20, show_default=True,
              help="Offending rows shown per failed check (all with --json).")
def verify(output_dir: str, run_id: Optional[str], as_json: bool, limit: int) -> None:
    """Check that every record read has exactly one fate and all counts reconcile.

    Exits 1 and prints the offending rows (naming the records) when any check fails.
    """
    from lineage import verify as verifier  # pylint: disable=import-outside-toplevel
    results = verifier.verify(output_dir, run_id)
    ok = verifier.passed(results)
    if as_json:
        _emit_json({"passed": ok, "runs": results})
        sys.exit(0 if ok else 1)
    if not results:
        click.echo(f"no runs found in {output_dir}")
        sys.exit(1)
    for run, checks in results.items():
        failures = [name for name, rows in checks.items() if rows]
        click.echo(f"{run}: " + ("OK, every record is accounted for" if not failures else
                                 f"FAILED {len(failures)} of {len(checks)} checks"))
        for name, rows in checks.items():
            description = verifier.CHECK_DESCRIPTIONS.get(name, "")
            if not rows:
                click.echo(f"  ok    {name:<26} {description}")
                continue
            click.echo(f"  FAIL  {name:<26} {description}: {len(rows)} offending row(s)")
            _table(rows[:limit], indent="        ")
            if len(rows) > limit:
                click.echo(f"        ... {len(rows) - limit} more (--limit, or --json)")
    sys.exit(0 if ok else 1)


@lineage.command()
@_output_dir
@click.argument("record")
@_run_option
@_as_json
def trace(output_dir: str, record: str, run_id: Optional[str], as_json: bool) -> None:
    """Show a record's origin, what every stage did, and where it landed (or its fate)."""
    stories = _open(output_dir).trace(record, run_id)
    if as_json:
        _emit_json(stories)
        return
    for story in stories:
        origin, fate = story["origin"], story["fate"]
        click.echo(f"record {story['record_id']} (source id {origin['source_id']}) "
                   f"in run {story['run_id']}")
        where = (f"{origin['source']} line {origin['offset']}"
                 if origin["source_kind"] == "file" else
                 f"topic {origin['source']} partition {origin['partition']} "
                 f"offset {origin['offset']}")
        click.echo(f"  from   {origin['source_kind']} {where}"
                   + (f"  url {origin['url']}" if origin["url"] else ""))
        _table(story["events"], ["stage_seq", "stage", "action", "reason", "value",
                                 "threshold", "scores", "details"])
        click.echo(f"  fate   {fate['explanation']}")
        if story["duplicates_removed"]:
            click.echo(f"  {story['duplicates_removed']} record(s) were dropped as duplicates "
                       f"of it (winnow lineage duplicates)")


@lineage.command()
@_output_dir
@click.argument("record")
@_run_option
@_as_json
def why(output_dir: str, record: str, run_id: Optional[str], as_json: bool) -> None:
    """Why a record was dropped: stage, rule, value and threshold; for a duplicate, the record
    kept in its place and the similarity."""
    answers = _open(output_dir).why(record, run_id)
    if as_json:
        _emit_json(answers)
        return
    for answer in answers:
        click.echo(f"record {answer['record_id']} (source id {answer['source_id']}) "
                   f"in run {answer['run_id']}:")
        click.echo(f"  {answer['explanation']}")
        if answer.get("scores"):
            click.echo(f"  scores  {_cell(answer['scores'])}")
        if answer.get("error"):
            click.echo(f"  error   {answer['error']}")
        for would in answer["would_drop"]:
            click.echo(f"  annotate-only: {would['stage']} would have dropped it "
                       f"(rule {would['rule']}, value {_cell(would['value'])}, "
                       f"threshold {_cell(would['threshold'])})")


@lineage.command()
@_output_dir
@click.argument("record", required=False)
@_run_option
@click.option("--by-record", is_flag=True, help="One row per record and entity type.")
@_as_json
def redactions(output_dir: str, record: Optional[str], run_id: Optional[str], by_record: bool,
               as_json: bool) -> None:
    """PII entity types and counts, for one RECORD or per run. Never values."""
    answer = _open(output_dir).redactions(record, run_id, by_record)
    if as_json:
        _emit_json(answer)
        return
    if record is not None:
        click.echo(f"PII in record {record}:")
        _table(answer["entities"], ["run_id", "record_id", "stage", "entity_type", "spans",
                                    "operator", "redacted"])
        return
    click.echo("PII entity types per run:")
    _table(answer["totals"])
    if by_record:
        click.echo("per record:")
        _table(answer["records"])


@lineage.command()
@_output_dir
@click.argument("record")
@_run_option
@_as_json
def duplicates(output_dir: str, record: str, run_id: Optional[str], as_json: bool) -> None:
    """Every record removed in favour of RECORD (directly, or through a chain of duplicates)."""
    rows = _open(output_dir).duplicates(record, run_id)
    if as_json:
        _emit_json(rows)
        return
    click.echo(f"{len(rows)} record(s) removed in favour of {record}:")
    _table(rows, ["run_id", "record_id", "source_id", "source", "offset", "domain", "stage",
                  "similarity", "depth"])


def _print_fates(rows: List[Dict[str, Any]]) -> None:
    _table(rows, ["run_id", "record_id", "source_id", "source", "partition", "offset",
                  "fate", "explanation"])


@lineage.command("from-offset")
@_output_dir
@click.argument("topic")
@click.argument("partition", type=int)
@click.argument("offset", type=int)
@_run_option
@_as_json
def from_offset(output_dir: str, topic: str, partition: int, offset: int,
                run_id: Optional[str], as_json: bool) -> None:
    """The record read at TOPIC PARTITION OFFSET and its fate.

    For files: the file path, 0 and the line number (JSONL) or row index (Parquet).
    """
    rows = _open(output_dir).from_offset(topic, partition, offset, run_id)
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        _not_found(LookupError(f"no record read at {topic} partition {partition} "
                               f"offset {offset} in {output_dir}"))
    _print_fates(rows)


@lineage.command("from-source")
@_output_dir
@click.argument("path_or_url")
@_run_option
@click.option("--limit", type=int, default=None, help="At most this many records.")
@_as_json
def from_source(output_dir: str, path_or_url: str, run_id: Optional[str],
                limit: Optional[int], as_json: bool) -> None:
    """Every record read from a file path, topic or URL (globs allowed), and its fate."""
    rows = _open(output_dir).from_source(path_or_url, run_id, limit)
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        _not_found(LookupError(f"no record read from {path_or_url} in {output_dir}"))
    _print_fates(rows)


@lineage.command()
@_output_dir
@click.argument("source_or_domain")
@_run_option
@_as_json
def erasure(output_dir: str, source_or_domain: str, run_id: Optional[str],
            as_json: bool) -> None:
    """Every output row derived from a source (file, topic, URL) or domain, for an erasure
    request -- including rows of records kept in place of a matching duplicate."""
    answer = _open(output_dir).erasure(source_or_domain, run_id)
    if as_json:
        _emit_json(answer)
        return
    summary = answer["summary"]
    click.echo(f"{summary['matching_records']} record(s) match {source_or_domain!r}; "
               f"rows to erase or review: {summary['data_rows_direct']} in data/ from them, "
               f"{summary['data_rows_kept_duplicates']} in data/ kept in place of one of them "
               f"(review: same or similar text from elsewhere), "
               f"{summary['quarantine_rows']} in quarantine/")
    _table(answer["output_rows"], ["relation", "run_id", "record_id", "source_id", "url",
                                   "location", "via"])
    click.echo("all matching and reached records:")
    _table(answer["records"], ["relation", "run_id", "record_id", "source_id", "url", "fate",
                               "explanation"])


@lineage.command()
@_output_dir
@click.argument("run", required=False)
@_as_json
def funnel(output_dir: str, run: Optional[str], as_json: bool) -> None:
    """Records in, kept, dropped by stage and reason, and dead-lettered (default: latest run)."""
    answer = _open(output_dir).funnel(run)
    if as_json:
        _emit_json(answer)
        return
    click.echo(f"run {answer['run_id']} ({answer['status']}): {answer['read']} read, "
               f"{answer['written']} written, {answer['dropped']} dropped, "
               f"{answer['dead_lettered']} dead-lettered"
               + (f", {answer['unaccounted']} UNACCOUNTED" if answer["unaccounted"] else ""))
    _table(answer["stages"], ["seq", "stage", "entered", "passed", "modified", "dropped",
                              "errored", "would_drop", "written"])
    click.echo("drops and errors by reason:")
    _table(answer["reasons"], ["seq", "stage", "action", "reason", "records"])


@lineage.command()
@_output_dir
@_as_json
def runs(output_dir: str, as_json: bool) -> None:
    """The runs in the folder, oldest first."""
    rows = _open(output_dir).runs()
    if as_json:
        _emit_json(rows)
        return
    _table(rows, ["run_id", "status", "started_at", "finished_at", "input", "counts"])


@lineage.command(epilog=_views_epilog())
@_output_dir
@click.argument("query")
@_as_json
@click.option("--limit", default=200, show_default=True, help="Rows printed (not with --json).")
def sql(output_dir: str, query: str, as_json: bool, limit: int) -> None:
    """Run any SQL (DuckDB dialect) over the lineage views, e.g.

    winnow lineage sql out "SELECT reason, count(*) FROM events GROUP BY ALL"
    """
    import duckdb  # pylint: disable=import-outside-toplevel
    try:
        columns, rows = _open(output_dir).sql(query)
    except duckdb.Error as error:
        click.echo(f"SQL error: {error}", err=True)
        sys.exit(2)
    records = [dict(zip(columns, row)) for row in rows]
    if as_json:
        _emit_json(records)
        return
    _table(records[:limit], columns)
    if len(records) > limit:
        click.echo(f"  ... {len(records) - limit} more rows (--limit)")


@lineage.command(epilog=_views_epilog())
@click.argument("output_dir", required=False, type=click.Path(exists=True, file_okay=False))
@_as_json
def tables(output_dir: Optional[str], as_json: bool) -> None:
    """List the views that queries and `sql` can use, with every column explained."""
    if output_dir is None:
        with tempfile.TemporaryDirectory() as empty:
            described = _open(empty).describe()
    else:
        described = _open(output_dir).describe()
    if as_json:
        _emit_json(described)
        return
    for view in described:
        click.echo(f"{view['view']}: {view['description']}")
        _table(view["columns"], ["name", "type", "description"], indent="    ")
        click.echo("")
