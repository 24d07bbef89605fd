"""``winnow report bias RUN_DIR``: compute, save and show a run's bias report.

The report (:mod:`lineage.bias_report`) is written to
``RUN_DIR/lineage/bias_report/<run_id>.parquet`` and printed as a table: per identity group, its
share of documents in the input and the output, then per stage how many of its documents the stage
removed next to the stage's overall removal rate. Flagged rows are marked ``FLAG``.
"""

from __future__ import annotations

import json
import sys
from typing import Optional

import click

_HEADER = ("group", "stage", "docs", "removed", "rate", "overall", "ratio", "in", "out", "")


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_report(table, flagged_only: bool = False) -> str:
    """The report as aligned text lines (one block per group)."""
    # pylint: disable-next=import-outside-toplevel
    from lineage.bias_report import ALL_STAGES, report_metadata
    meta = report_metadata(table)
    lines = [
        f"bias report of run {meta['run_id']}: {meta['covered_documents']} documents with "
        f"identity data (bias stage at position {meta['bias_stage_seq']}), "
        f"{meta['output_documents']} in the output",
    ]
    if meta.get("uncovered_documents"):
        lines.append(f"  {meta['uncovered_documents']} documents were removed before the bias "
                     f"stage and are not covered: run 'bias' before the filtering stages")
    lines.append(f"  FLAG: a stage (or the whole run) removed the group's documents at >= "
                 f"{meta['ratio']:g}x its overall rate (groups with >= {meta['min_documents']} "
                 f"documents there)")
    rows = table.to_pylist()
    flagged_groups = {row["identity"] for row in rows if row["flagged"]}
    body = []
    for row in rows:
        if flagged_only and row["identity"] not in flagged_groups:
            continue
        is_total = row["stage"] == ALL_STAGES
        body.append((
            row["identity"] if is_total else "",
            "all stages" if is_total else f"{row['stage_seq']}:{row['stage']}",
            str(row["documents"]), str(row["removed"]), _percent(row["removal_rate"]),
            _percent(row["overall_removal_rate"]), _ratio(row["rate_ratio"]),
            _percent(row["input_share"]) if is_total else "",
            _percent(row["output_share"]) if is_total else "",
            "FLAG" if row["flagged"] else ""))
    if not body:
        lines.append("no flagged groups" if flagged_only else "no identity mentions in this run")
        return "\n".join(lines)
    widths = [max(len(cells[i]) for cells in [_HEADER] + body) for i in range(len(_HEADER))]
    numeric = {2, 3, 4, 5, 6, 7, 8}

    def render(cells):
        return "  ".join(cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                         for i, cell in enumerate(cells)).rstrip()

    lines.append("")
    lines.append(render(_HEADER))
    lines.extend(render(cells) for cells in body)
    lines.append(f"\n{len(flagged_groups)} flagged group(s): "
                 f"{', '.join(sorted(flagged_groups)) or 'none'}")
    return "\n".join(lines)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--run", "run_id", help="The run (default: the latest run with a bias stage).")
@click.option("--ratio", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Flag a group removed at this multiple of a stage's overall rate or more "
                   "(default 1.5).")
@click.option("--min-documents", type=click.IntRange(min=1), default=None,
              help="Never flag groups with fewer documents at a stage (default 10).")
@click.option("--flagged-only", is_flag=True, help="Show only groups flagged at some stage.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (all rows).")
@click.option("--fail-on-flag", is_flag=True, help="Exit with status 1 when any group is flagged.")
def bias(run_dir: str, run_id: Optional[str], ratio: Optional[float],
         min_documents: Optional[int], flagged_only: bool, as_json: bool,
         fail_on_flag: bool) -> None:
    """Per identity group: input and output share, and each stage's removal rate against its
    overall rate. Saves RUN_DIR/lineage/bias_report/<run>.parquet."""
    from lineage import bias_report as report  # pylint: disable=import-outside-toplevel
    try:
        path, table = report.write_bias_report(
            run_dir, run_id,
            ratio=report.DEFAULT_RATIO if ratio is None else ratio,
            min_documents=report.DEFAULT_MIN_DOCUMENTS if min_documents is None else min_documents)
    except report.BiasReportError as error:
        click.echo(str(error), err=True)
        sys.exit(2)
    flagged = any(table.column("flagged").to_pylist())
    if as_json:
        click.echo(json.dumps({"report": path, "metadata": report.report_metadata(table),
                               "rows": table.to_pylist()}, default=str, indent=2))
    else:
        click.echo(format_report(table, flagged_only))
        click.echo(f"saved: {path}")
    sys.exit(1 if fail_on_flag and flagged else 0)
