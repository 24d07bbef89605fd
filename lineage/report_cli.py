"""``winnow report``: a run's reports.

``winnow report RUN_DIR`` writes the run report (:mod:`lineage.report`): one self-contained HTML
page and its charts as PNG files, under ``RUN_DIR/report/``. Named subcommands give the other
reports, e.g. ``winnow report bias RUN_DIR`` (:mod:`lineage.bias_cli`); ``winnow report html
RUN_DIR`` is the long form of the first.

:data:`report` is the ready click group; the ``winnow`` command adds it as its ``report`` command.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import click

from lineage import bias_cli

DEFAULT_COMMAND = "html"


class ReportGroup(click.Group):
    """A command group whose first argument may be a RUN_DIR instead of a subcommand.

    ``report RUN_DIR [OPTIONS]`` runs the default subcommand (``html``); ``report NAME ...`` runs
    the subcommand ``NAME``. A folder that happens to share a subcommand's name can still be given
    as ``report html ./bias``.
    """

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


@click.group(cls=ReportGroup)
def report() -> None:
    """Reports computed from a run's output and lineage.

    \b
    winnow report RUN_DIR         the run report: HTML page + PNG charts (same as 'html')
    winnow report bias RUN_DIR    removal rates per identity group
    """


@report.command(DEFAULT_COMMAND)
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--run", "run_id", help="The run (default: the latest run in RUN_DIR).")
def html(run_dir: str, run_id: Optional[str]) -> None:
    """The run report: funnel, score distributions with thresholds, PII, duplicates, bias,
    sources and config, as RUN_DIR/report/<run>.html (self-contained) and
    RUN_DIR/report/<run>/*.png."""
    from lineage import report as run_report  # pylint: disable=import-outside-toplevel
    try:
        paths = run_report.write_report(run_dir, run_id)
    except run_report.ReportError as error:
        click.echo(str(error), err=True)
        sys.exit(2)
    click.echo(f"report of run {paths.run_id}: {paths.html}")
    click.echo(f"  {len(paths.charts)} charts in {run_report.report_folder(run_dir)}/"
               f"{paths.run_id}/")


report.add_command(bias_cli.bias)
