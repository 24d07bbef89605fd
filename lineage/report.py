"""A run's report: one self-contained HTML page plus its charts as PNG files.

:func:`write_report` computes the report of a run (:mod:`lineage.report_data`), draws it
(:mod:`lineage.report_html`) and writes::

    <output>/report/<run_id>.html        the page (charts embedded; opens offline)
    <output>/report/<run_id>/<chart>.png  each chart on its own, for slides and tickets

``winnow report OUTPUT_DIR`` calls it, and so does ``winnow run`` when a run has finished
(:func:`write_report_after_run`, which never fails the run over its report). Writing again
replaces the run's previous report.

Example::

    paths = write_report("out/")           # the latest run
    print(paths.html, [p for p in paths.charts])
"""

from __future__ import annotations

import logging
import os
from typing import List, NamedTuple, Optional

from lineage.report_data import ReportError, RunReport, compute_report
from lineage.report_html import charts, html_page

REPORT_FOLDER = "report"

_LOG = logging.getLogger(__name__)

__all__ = ["ReportError", "ReportPaths", "report_folder", "write_report",
           "write_report_after_run"]


class ReportPaths(NamedTuple):
    run_id: str
    html: str
    charts: List[str]


def report_folder(output_dir: str) -> str:
    """Where reports of runs in ``output_dir`` are written: ``<output>/report``."""
    return os.path.join(output_dir.rstrip("/"), REPORT_FOLDER)


def write_report(output_dir: str, run_id: Optional[str] = None) -> ReportPaths:
    """Computes and writes the report of ``run_id`` (default: the latest run).

    Raises:
      ReportError: the folder holds no lineage, or not that run.
    """
    report: RunReport = compute_report(output_dir, run_id)
    pngs = charts(report)
    folder = report_folder(output_dir)
    chart_folder = os.path.join(folder, report.run_id)
    os.makedirs(chart_folder, exist_ok=True)
    chart_paths = []
    for stem, _, png in pngs:
        path = os.path.join(chart_folder, f"{stem}.png")
        _write_atomically(path, png)
        chart_paths.append(path)
    html_path = os.path.join(folder, f"{report.run_id}.html")
    _write_atomically(html_path, html_page(report, pngs).encode("utf-8"))
    return ReportPaths(report.run_id, html_path, chart_paths)


def write_report_after_run(output_dir: str, run_id: str) -> Optional[str]:
    """:func:`write_report` for the launcher: returns the HTML path, or None (with a warning in
    the log) when the report could not be made -- a finished run never fails over its report."""
    try:
        return write_report(output_dir, run_id).html
    except Exception:  # pylint: disable=broad-except
        _LOG.warning("could not write the report of run %s", run_id, exc_info=True)
        return None


def _write_atomically(path: str, content: bytes) -> None:
    # A reader (a browser reloading the page) never sees half a file.
    partial = f"{path}.partial"
    with open(partial, "wb") as handle:
        handle.write(content)
    os.replace(partial, path)
