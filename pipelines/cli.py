"""The ``winnow`` command line."""

from __future__ import annotations

import logging
import sys
from typing import Optional

import click


class _DropBeamNoise(logging.Filter):
    """Beam warns on the root logger about Google Cloud clients that only Dataflow/GCS runs need,
    and about gRPC channels while a portable runner starts: nothing a user can act on."""
    _NOISE = ("apitools not found", "Waiting for grpc channel to be ready")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in self._NOISE)


logging.getLogger().addFilter(_DropBeamNoise())

from lineage import report_cli  # noqa: E402
from lineage import cli as lineage_cli  # noqa: E402
from transforms import quality_cli  # noqa: E402
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
@click.option("-q", "--quiet", is_flag=True,
              help="No live progress (counts, throughput, ETA) while the pipeline runs.")
@click.argument("config_and_beam_options", nargs=-1, type=click.UNPROCESSED,
                metavar="[CONFIG] [BEAM OPTIONS]...")
def run(input_: Optional[str], output: Optional[str], stages: Optional[str],
        annotate_only: bool, quiet: bool, config_and_beam_options) -> None:
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
        summary = launcher.run(settings, args, quiet=quiet)
    except Exception as error:  # pylint: disable=broad-except
        click.echo(f"run failed: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
    counts = summary.counts
    if counts is None:
        click.echo(f"run {summary.run_id} succeeded")
    else:
        click.echo(f"run {summary.run_id} succeeded: {counts['read']} read, "
                   f"{counts['written']} written, {counts['dropped']} dropped, "
                   f"{counts['errored']} quarantined")
    click.echo(f"  curated shards: {summary.layout.data}/")
    click.echo(f"  quarantine:     {summary.layout.quarantine}/")
    click.echo(f"  lineage:        {summary.layout.lineage}/")
    if summary.report:
        click.echo(f"  report:         {summary.report}")
    click.echo(f"  check it:       winnow lineage verify {summary.layout.root}")


main.add_command(lineage_cli.lineage)
main.add_command(quality_cli.train_quality)


@main.command()
@click.option("--output", default=None, metavar="DIR", help="Output folder (default out/demo).")
@click.option("--keep-kafka", is_flag=True, help="Leave the local broker running afterwards.")
def demo(output: Optional[str], keep_kafka: bool) -> None:
    """Run the bundled sample end to end: local Kafka -> every stage -> Parquet + lineage."""
    from pipelines import demo as demo_run  # pylint: disable=import-outside-toplevel
    output = output or demo_run.default_output()
    try:
        summary = demo_run.run_demo(output, keep_kafka=keep_kafka, say=click.echo)
    except Exception as error:  # pylint: disable=broad-except
        click.echo(f"demo failed: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
    demo_run.describe(summary, say=click.echo)


@main.command("config-reference")
def config_reference() -> None:
    """Print every config key and stage parameter with its default, as Markdown."""
    from pipelines.config_reference import markdown  # pylint: disable=import-outside-toplevel
    click.echo(markdown(), nl=False)


@main.group("local-kafka")
def local_kafka_group() -> None:
    """A single-node Kafka broker on 127.0.0.1 for development and tests (no Docker)."""


@local_kafka_group.command("start")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Broker state folder.")
@click.option("--port", type=int, help="Client port (default: a free one).")
def local_kafka_start(data_dir: Optional[str], port: Optional[int]) -> None:
    """Start the broker (fetching Kafka's jars once); prints bootstrap=HOST:PORT when ready."""
    from pipelines import local_kafka  # pylint: disable=import-outside-toplevel
    try:
        broker = local_kafka.start(data_dir, port)
    except local_kafka.LocalKafkaError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"data_dir={broker.data_dir}")
    click.echo(f"bootstrap={broker.bootstrap}")


@local_kafka_group.command("stop")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Broker state folder.")
def local_kafka_stop(data_dir: Optional[str]) -> None:
    """Stop the broker (a no-op when it is not running)."""
    from pipelines import local_kafka  # pylint: disable=import-outside-toplevel
    click.echo("stopped" if local_kafka.stop(data_dir) else "not running")


@local_kafka_group.command("status")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Broker state folder.")
def local_kafka_status(data_dir: Optional[str]) -> None:
    """Print bootstrap=HOST:PORT when the broker runs; exit 1 when it does not."""
    from pipelines import local_kafka  # pylint: disable=import-outside-toplevel
    broker = local_kafka.status(data_dir)
    if broker is None:
        click.echo("not running")
        sys.exit(1)
    click.echo(f"bootstrap={broker.bootstrap}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--topic", required=True, help="Topic to produce to (created if missing).")
@click.option("--bootstrap", metavar="HOST:PORT",
              help="Brokers (default: the running local broker).")
@click.option("--partitions", type=int, default=None,
              help="Partitions for a new topic / to spread over (default: all, or 3 if new).")
def produce(file: str, topic: str, bootstrap: Optional[str], partitions: Optional[int]) -> None:
    """Load a JSONL file into a Kafka topic, one message per line, bytes unchanged."""
    from pipelines import kafka_io, local_kafka  # pylint: disable=import-outside-toplevel
    if bootstrap is None:
        broker = local_kafka.status()
        if broker is None:
            raise click.UsageError("no --bootstrap and no local broker running "
                                   "(start one with: winnow local-kafka start)")
        bootstrap = broker.bootstrap
    kafka_io.create_topic(bootstrap, topic, partitions or 3)
    count = kafka_io.produce_jsonl(file, bootstrap, topic, partitions)
    click.echo(f"produced {count} messages to {topic} on {bootstrap}")

main.add_command(report_cli.report)


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
