"""``winnow lineage ...``: query and check a run's record-level lineage."""

from __future__ import annotations

import json
import sys
from typing import Optional

import click


@click.group()
def lineage() -> None:
    """Query and check a run's record-level lineage."""


@lineage.command()
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--run", "run_id", help="Only this run (default: every run in the folder).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def verify(output_dir: str, run_id: Optional[str], as_json: bool) -> None:
    """Check that every record read has exactly one fate and all counts reconcile."""
    from lineage import verify as verifier  # pylint: disable=import-outside-toplevel
    results = verifier.verify(output_dir, run_id)
    ok = verifier.passed(results)
    if as_json:
        click.echo(json.dumps({"passed": ok, "runs": results}, default=str, indent=2))
    elif not results:
        click.echo(f"no runs found in {output_dir}")
    else:
        for run_id_, checks in results.items():
            failures = {name: rows for name, rows in checks.items() if rows}
            click.echo(f"{run_id_}: {'OK' if not failures else 'FAILED'}")
            for name, rows in checks.items():
                click.echo(f"  {'ok  ' if not rows else 'FAIL'} {name}"
                           + (f" ({len(rows)} offending rows)" if rows else ""))
                for row in rows[:10]:
                    click.echo(f"         {row}")
    sys.exit(0 if ok else 1)


@lineage.command()
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("record")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def trace(output_dir: str, record: str, as_json: bool) -> None:
    """Show a record's origin, every stage it passed, and where it landed.

    RECORD is Winnow's record id or the input's own id.
    """
    from lineage import trace as tracer  # pylint: disable=import-outside-toplevel
    try:
        stories = tracer.trace(output_dir, record)
    except tracer.RecordNotFound as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(stories, default=str, indent=2))
        return
    for story in stories:
        origin = story["origin"]
        click.echo(f"record {story['record_id']} (source id {origin['source_id']}) "
                   f"in run {story['run_id']}")
        click.echo(f"  from {origin['source_kind']} {origin['source']} "
                   f"partition {origin['partition']} offset {origin['offset']}")
        for event in story["events"]:
            parts = [f"  {event['stage_seq']:>2} {event['stage']:<14} {event['action']:<9}"]
            if event["reason"]:
                parts.append(f"reason={event['reason']}")
            if event["value"] is not None:
                parts.append(f"value={event['value']:g}")
            if event["threshold"] is not None:
                parts.append(f"threshold={event['threshold']:g}")
            if event["details"]:
                parts.append(event["details"])
            click.echo(" ".join(parts))
        for edge in story["edges"]:
            if edge["edge_type"] == "written_to":
                click.echo(f"  -> written to data/{edge['shard']} row {edge['row_index']}")
            else:
                click.echo(f"  -> duplicate of {edge['target_id']} "
                           f"(similarity {edge['similarity']:.3f})")
