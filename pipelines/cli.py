"""The ``winnow`` command line."""

from __future__ import annotations

import json
import logging
import sys
from typing import Optional

import click


class _DropUnusedCloudClientWarning(logging.Filter):
    """Beam warns at import about Google Cloud clients that only Dataflow/GCS runs need."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_DropUnusedCloudClientWarning())

from pipelines.config import ConfigError, load_config, with_overrides  # noqa: E402


def _quiet_beam_logs() -> None:
    # Beam warns at import time about optional Google Cloud clients that a local run never uses.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress (INFO).")
def main(verbose: bool) -> None:
    """Winnow: streaming training-data curation on Apache Beam, with record-level lineage."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        _quiet_beam_logs()


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--input", "input_", metavar="SRC",
              help="JSONL/Parquet path or glob, or kafka://HOST:PORT/TOPIC.")
@click.option("--output", metavar="DIR", help="Output folder (data/, quarantine/, lineage/).")
@click.option("--stages", metavar="A,B,C",
              help="Comma-separated stages, in order; replaces the config's list.")
@click.option("--annotate-only", is_flag=True,
              help="Record every score and decision, drop nothing.")
@click.pass_context
def run(ctx: click.Context, config: Optional[str], input_: Optional[str], output: Optional[str],
        stages: Optional[str], annotate_only: bool) -> None:
    """Run a curation pipeline. Extra --options are passed to Beam (e.g. --runner FlinkRunner)."""
    from pipelines import run as launcher  # pylint: disable=import-outside-toplevel
    try:
        settings = with_overrides(
            load_config(config), input=input_, output=output,
            stages=[s.strip() for s in stages.split(",") if s.strip()] if stages else None,
            annotate_only=annotate_only)
        launcher.check_input(settings)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    try:
        summary = launcher.run(settings, ctx.args)
    except Exception as error:  # pylint: disable=broad-except
        click.echo(f"run failed: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
    counts = summary.counts
    click.echo(f"run {summary.run_id} succeeded: {counts['read']} read, "
               f"{counts['written']} written, {counts['dropped']} dropped, "
               f"{counts['errored']} quarantined")
    click.echo(f"  curated shards: {summary.layout.data}/")
    click.echo(f"  quarantine:     {summary.layout.quarantine}/")
    click.echo(f"  lineage:        {summary.layout.lineage}/")
    click.echo(f"  check it:       winnow lineage verify {summary.layout.root}")


@main.group()
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


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
