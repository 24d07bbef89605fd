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

from lineage import cli as lineage_cli  # noqa: E402
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
@click.option("--input", "input_", metavar="SRC",
              help="JSONL/Parquet path or glob, or kafka://HOST:PORT/TOPIC.")
@click.option("--output", metavar="DIR", help="Output folder (data/, quarantine/, lineage/).")
@click.option("--stages", metavar="A,B,C",
              help="Comma-separated stages, in order; replaces the config's list.")
@click.option("--annotate-only", is_flag=True,
              help="Record every score and decision, drop nothing.")
@click.argument("config_and_beam_options", nargs=-1, type=click.UNPROCESSED,
                metavar="[CONFIG] [BEAM OPTIONS]...")
def run(input_: Optional[str], output: Optional[str], stages: Optional[str],
        annotate_only: bool, config_and_beam_options) -> None:
    """Run a curation pipeline.

    CONFIG is an optional YAML file; any other --option is passed to Beam
    (e.g. --runner FlinkRunner, --direct_num_workers 2).
    """
    args = list(config_and_beam_options)
    config = args.pop(0) if args and not args[0].startswith("-") else None
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
        summary = launcher.run(settings, args)
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


main.add_command(lineage_cli.lineage)


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
