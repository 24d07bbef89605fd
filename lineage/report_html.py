"""Drawing a run report: PNG charts (matplotlib) and one self-contained HTML page.

:func:`render` turns a :class:`lineage.report_data.RunReport` into

- one PNG per chart (``funnel``, ``removals``, a distribution per score, ``quality-rules``,
  ``pii``, ``duplicates``, ``sources``), each with a title, labelled axes with units, and the
  configured thresholds drawn and named; and
- one HTML page holding those charts as ``data:`` URIs plus the tables (funnel, reasons, PII,
  bias disparity, sources, run config and versions). It loads nothing from anywhere: no scripts,
  fonts or style sheets from a network, so it opens offline and can be mailed or archived as is.

Charts are drawn with matplotlib's object API on the Agg backend (no display, no global pyplot
state), so rendering works on servers and in threads.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
from typing import Dict, List, Optional, Sequence, Tuple

from lineage.report_data import (DROPPED, KEPT, WOULD_DROP, WRITTEN, Distribution, RunReport,
                                 Threshold)
from schemas import lineage as schema

# Colours (colour-blind safe, after Okabe & Ito 2008) for what happened to documents.
COLOURS = {
    KEPT: "#0072B2",
    WRITTEN: "#0072B2",
    DROPPED: "#E69F00",
    "dropped by quality": "#E69F00",
    WOULD_DROP: "#F0E442",
    "errored": "#D55E00",
    "read": "#999999",
    "threshold": "#CC0000",
}
_OTHER_COLOURS = ("#009E73", "#56B4E9", "#CC79A7", "#000000")
FIGURE_WIDTH_IN = 9.0
DPI = 110
HISTOGRAM_BINS = 25


# -- charts ----------------------------------------------------------------------------------

def _figure(height_in: float, columns: int = 1, rows: int = 1):
    # pylint: disable=import-outside-toplevel
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(FIGURE_WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, [axis for row in axes for axis in row]


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _style(axis, title: str, xlabel: str, ylabel: str) -> None:
    axis.set_title(title, fontsize=11, loc="left", fontweight="bold")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.spines[["top", "right"]].set_visible(False)
    axis.grid(axis="x", alpha=0.3)


def _bytes_unit(values: Sequence[float]) -> Tuple[float, str]:
    largest = max(values, default=0)
    for factor, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if largest >= factor:
            return factor, unit
    return 1, "bytes"


def funnel_chart(report: RunReport) -> bytes:
    """Records left after each step, with what each step removed."""
    steps = report.remaining
    written = report.funnel["written"]
    labels = [name for name, _ in steps] + ["written"]
    values = [count for _, count in steps] + [written]
    figure, (axis,) = _figure(0.45 * len(labels) + 1.2)
    positions = list(range(len(labels)))[::-1]
    colours = [COLOURS["read"]] + [COLOURS[KEPT]] * (len(labels) - 2) + ["#009E73"]
    axis.barh(positions, values, color=colours, height=0.65)
    top = max(values + [1])
    for index, (position, value) in enumerate(zip(positions, values)):
        text = f"{value:,}"
        if 0 < index < len(steps):
            removed = values[index - 1] - value
            if removed:
                text += f"   (-{removed:,})"
        axis.text(value + top * 0.01, position, text, va="center", fontsize=9)
    axis.set_yticks(positions, labels)
    axis.set_xlim(0, top * 1.25)
    _integer_counts(axis, "x")
    _style(axis, f"Funnel: records left after each step ({report.funnel['read']:,} read, "
           f"{written:,} written)", "records", "step (in pipeline order)")
    return _png(figure)


def removals_chart(report: RunReport) -> Optional[bytes]:
    """Records removed, per stage and reason, dropped or dead-lettered."""
    reasons = report.funnel["reasons"]
    if not reasons:
        return None
    figure, (axis,) = _figure(0.38 * len(reasons) + 1.3)
    positions = list(range(len(reasons)))[::-1]
    values = [row["records"] for row in reasons]
    colours = [COLOURS[DROPPED] if row["action"] == schema.DROPPED else COLOURS["errored"]
               for row in reasons]
    axis.barh(positions, values, color=colours, height=0.65)
    for position, value in zip(positions, values):
        axis.text(value + max(values) * 0.01, position, f"{value:,}", va="center", fontsize=9)
    axis.set_yticks(positions, [f"{row['stage']}: {row['reason'] or '?'}" for row in reasons])
    axis.set_xlim(0, max(values) * 1.15)
    _integer_counts(axis, "x")
    # pylint: disable-next=import-outside-toplevel
    from matplotlib.patches import Patch
    axis.legend(handles=[Patch(color=COLOURS[DROPPED], label="dropped"),
                         Patch(color=COLOURS["errored"], label="dead-lettered (quarantine)")],
                loc="lower right", frameon=False)
    _style(axis, "Removed records by stage and reason", "records", "stage: reason")
    return _png(figure)


def _threshold_lines(axis, thresholds: Sequence[Threshold]) -> None:
    """Dashed vertical lines at the thresholds, each named with its side that is dropped."""
    from matplotlib import patheffects  # pylint: disable=import-outside-toplevel
    low, high = axis.get_xlim()
    for index, threshold in enumerate(thresholds):
        axis.axvline(threshold.value, color=COLOURS["threshold"], linestyle="--", linewidth=1.5)
        arrow = "\u2190 dropped" if threshold.drops == "below" else "dropped \u2192"
        # Name the line on the side with more room, so the text stays inside the plot.
        right_side = (threshold.value - low) < 0.6 * (high - low)
        axis.annotate(f"{threshold.label}\n{arrow}", xy=(threshold.value, 1.0),
                      xycoords=("data", "axes fraction"),
                      xytext=(5 if right_side else -5, -4 - 26 * index),
                      textcoords="offset points", ha="left" if right_side else "right",
                      va="top", fontsize=8, color=COLOURS["threshold"],
                      path_effects=[patheffects.withStroke(linewidth=3, foreground="white")])


def _integer_counts(axis, which: str = "y") -> None:
    from matplotlib.ticker import MaxNLocator  # pylint: disable=import-outside-toplevel
    (axis.yaxis if which == "y" else axis.xaxis).set_major_locator(MaxNLocator(integer=True))


def _legend_outside(axis) -> None:
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)


def _histogram(axis, distribution: Distribution, title: str, legend: bool = True) -> None:
    names = list(distribution.groups)
    values = [distribution.groups[name] for name in names]
    low_high = distribution.value_range
    if low_high is None:
        everything = [value for group in values for value in group]
        everything += [threshold.value for threshold in distribution.thresholds]
        low, high = min(everything), max(everything)
        if distribution.discrete:
            low, high = min(0.0, low), max(high, 1.0)
        elif low == high:
            low, high = low - 0.5, high + 0.5
        low_high = (low, high)
    colours = [COLOURS.get(name, _OTHER_COLOURS[i % len(_OTHER_COLOURS)])
               for i, name in enumerate(names)]
    labels = [f"{name} ({len(group):,})" for name, group in zip(names, values)]
    if distribution.discrete:
        # One bar per whole number.
        low, high = int(low_high[0]), int(low_high[1])
        axis.hist(values, bins=[edge - 0.5 for edge in range(low, high + 2)], stacked=True,
                  color=colours, label=labels, edgecolor="white", linewidth=0.5, rwidth=0.8)
        _integer_counts(axis, "x")
    else:
        axis.hist(values, bins=HISTOGRAM_BINS, range=low_high, stacked=True, color=colours,
                  label=labels, edgecolor="white", linewidth=0.5)
    _threshold_lines(axis, distribution.thresholds)
    if legend:
        _legend_outside(axis)
    _integer_counts(axis)
    _style(axis, title, distribution.axis, "documents")


def distribution_chart(distribution: Distribution) -> bytes:
    """A stacked histogram of one score by what the stage did, with its thresholds."""
    figure, (axis,) = _figure(3.4)
    _histogram(axis, distribution,
               f"{distribution.title} (stage {distribution.stage}, "
               f"{distribution.count:,} documents)")
    return _png(figure)


def quality_rules_chart(distributions: Sequence[Distribution]) -> Optional[bytes]:
    """One small histogram per quality rule that dropped documents, threshold marked."""
    if not distributions:
        return None
    columns = 2 if len(distributions) > 1 else 1
    rows = (len(distributions) + columns - 1) // columns
    figure, axes = _figure(3.0 * rows + 0.4, columns=columns, rows=rows)
    for axis, distribution in zip(axes, distributions):
        _histogram(axis, distribution, distribution.title, legend=False)
    for axis in axes[len(distributions):]:
        axis.set_visible(False)
    figure.suptitle("Quality rules that dropped documents: each rule's signal, written vs. "
                    "dropped documents", fontsize=10, x=0.01, ha="left", fontweight="bold")
    # The groups are the same in every panel: one legend for all.
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels),
                  frameon=False, fontsize=8)
    return _png(figure)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def pii_chart(report: RunReport) -> Optional[bytes]:
    rows = report.pii
    if not rows:
        return None
    figure, (axis,) = _figure(0.4 * len(rows) + 1.3)
    positions = list(range(len(rows)))[::-1]
    spans = [int(row["spans"]) for row in rows]
    axis.barh(positions, spans, color="#56B4E9", height=0.65)
    for position, row in zip(positions, rows):
        axis.text(int(row["spans"]) + max(spans) * 0.01, position,
                  f"{_plural(int(row['spans']), 'span')} in "
                  f"{_plural(int(row['records']), 'document')}",
                  va="center", fontsize=9)
    axis.set_yticks(positions, [row["entity_type"] for row in rows])
    axis.set_xlim(0, max(spans) * 1.6)
    _integer_counts(axis, "x")
    _style(axis, "PII found, by entity type (counts only; values are never recorded)",
           "spans replaced or flagged", "entity type")
    return _png(figure)


def duplicates_chart(report: RunReport) -> Optional[bytes]:
    duplicates = report.duplicates
    if not duplicates.similarities:
        return None
    figure, (sizes_axis, similarity_axis) = _figure(3.4, columns=2)
    sizes = sorted(duplicates.group_sizes.items())
    sizes_axis.bar([str(size) for size, _ in sizes], [count for _, count in sizes],
                   color=COLOURS[KEPT])
    for index, (_, count) in enumerate(sizes):
        sizes_axis.text(index, count, f"{count:,}", ha="center", va="bottom", fontsize=9)
    _style(sizes_axis, f"Duplicate groups ({duplicates.groups:,})",
           "records in the group (the kept one included)", "groups")
    sizes_axis.grid(axis="y", alpha=0.3)
    stages = sorted(duplicates.similarities)
    values = [duplicates.similarities[stage] for stage in stages]
    colours = [_OTHER_COLOURS[i % len(_OTHER_COLOURS)] for i in range(len(stages))]
    similarity_axis.hist(values, bins=20, range=(0.0, 1.0), stacked=True, color=colours,
                         label=[f"{stage} ({len(v):,})" for stage, v in zip(stages, values)],
                         edgecolor="white", linewidth=0.5)
    if duplicates.near_threshold is not None:
        _threshold_lines(similarity_axis, [Threshold(
            duplicates.near_threshold, f"minhash threshold = {duplicates.near_threshold:g}",
            "above")])
    similarity_axis.legend(loc="center left", frameon=False, fontsize=8)
    _integer_counts(similarity_axis)
    _integer_counts(sizes_axis)
    _style(similarity_axis, "Similarity to the kept record",
           "similarity (estimated Jaccard; 1.0 = exact copy)", "dropped records")
    return _png(figure)


def sources_chart(report: RunReport) -> Optional[bytes]:
    rows = report.origins
    if not rows:
        return None
    factor, unit = _bytes_unit([row["bytes_read"] for row in rows])
    figure, (axis,) = _figure(0.4 * len(rows) + 1.4)
    positions = list(range(len(rows)))[::-1]
    read = [row["bytes_read"] / factor for row in rows]
    kept = [row["bytes_kept"] / factor for row in rows]
    axis.barh(positions, read, color="#DDDDDD", height=0.7, label="read")
    axis.barh(positions, kept, color=COLOURS[KEPT], height=0.7, label="kept (written)")
    for position, row, value in zip(positions, rows, read):
        share = row["bytes_kept"] / row["bytes_read"] if row["bytes_read"] else 0.0
        axis.text(value + max(read) * 0.01, position,
                  f"{row['records_kept']:,}/{row['records_read']:,} docs, {100 * share:.0f}% of "
                  f"bytes kept", va="center", fontsize=8)
    axis.set_yticks(positions, [row["origin"] for row in rows])
    axis.set_xlim(0, max(read) * 1.6)
    axis.legend(loc="lower right", frameon=False)
    _style(axis, "Top sources by bytes kept", f"input payload ({unit})", "domain or source")
    return _png(figure)


def charts(report: RunReport) -> List[Tuple[str, str, bytes]]:
    """Every chart of the report as (file stem, section, PNG bytes), in page order."""
    drawn: List[Tuple[str, str, Optional[bytes]]] = [
        ("funnel", "funnel", funnel_chart(report)),
        ("removals", "funnel", removals_chart(report)),
    ]
    for distribution in report.distributions:
        drawn.append((f"scores-{distribution.name}", "scores", distribution_chart(distribution)))
    drawn.append(("quality-rules", "scores", quality_rules_chart(report.quality_rules)))
    drawn.append(("pii", "pii", pii_chart(report)))
    drawn.append(("duplicates", "duplicates", duplicates_chart(report)))
    drawn.append(("sources", "sources", sources_chart(report)))
    return [(stem, section, png) for stem, section, png in drawn if png is not None]


# -- the page --------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1040px; padding: 1.5em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.summary { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1em 0; }
.summary div { background: #f3f6fa; border-radius: 6px; padding: 0.5em 1em; }
.summary b { display: block; font-size: 1.4em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #fafafa; }
td.text, th.text { text-align: left; }
tr.flagged td { background: #fff1e0; }
img.chart { max-width: 100%; height: auto; display: block; margin: 0.8em 0; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; }
.bad { color: #b00020; font-weight: bold; }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _cell(value, text: bool = False, **data) -> str:
    attributes = "".join(f' data-{key}="{_e(val)}"' for key, val in data.items())
    css = ' class="text"' if text else ""
    if isinstance(value, float):
        shown = f"{value:.3g}"
    elif isinstance(value, int) and not isinstance(value, bool):
        shown = f"{value:,}"
    else:
        shown = _e(value)
    return f"<td{css}{attributes}>{shown}</td>"


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _table(table_id: str, headers: Sequence[str], rows: Sequence[str],
           text_headers: Sequence[str] = ()) -> str:
    """A table; ``text_headers`` are left-aligned like their (text) cells, the rest right."""
    head = "".join(f'<th class="text">{_e(h)}</th>' if h in text_headers else f"<th>{_e(h)}</th>"
                   for h in headers)
    return (f'<table id="{_e(table_id)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _image(stem: str, png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<img class="chart" id="chart-{_e(stem)}" alt="{_e(alt)}" '
            f'src="data:image/png;base64,{encoded}">')


def _funnel_section(report: RunReport, images: Dict[str, str]) -> str:
    funnel = report.funnel
    stage_fields = ("entered", "passed", "modified", "dropped", "errored", "would_drop",
                    "written")
    rows = []
    for row in funnel["stages"]:
        cells = [_cell(row["seq"]), _cell(row["stage"], text=True)]
        cells += [_cell(int(row[field]), stage=row["stage"], field=field)
                  for field in stage_fields]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    table = _table("funnel", ["seq", "stage"] + list(stage_fields), rows, ("stage",))
    reason_rows = [
        f"<tr>{_cell(row['seq'])}{_cell(row['stage'], text=True)}"
        f"{_cell(row['action'], text=True)}{_cell(row['reason'], text=True)}"
        f"{_cell(int(row['records']), stage=row['stage'], reason=row['reason'], field='records')}"
        f"</tr>" for row in funnel["reasons"]]
    reasons = (_table("reasons", ["seq", "stage", "action", "reason", "records"], reason_rows,
                      ("stage", "action", "reason")) if reason_rows else
               '<p class="note">Nothing was dropped or dead-lettered.</p>')
    warning = ""
    if funnel["unaccounted"]:
        warning = (f'<p class="bad">{funnel["unaccounted"]:,} records have no terminal event: '
                   f"the lineage is incomplete (run winnow lineage verify).</p>")
    return (f'<h2 id="funnel-section">Funnel</h2>{warning}'
            f"{images.get('funnel', '')}{table}"
            f"<p class=\"note\">'entered' counts the records that reached a stage; 'would_drop' "
            f"counts documents an annotate-only run kept although the stage would have dropped "
            f"them.</p><h3>Removed, by stage and reason</h3>{images.get('removals', '')}"
            f"{reasons}")


def _scores_section(report: RunReport, images: Dict[str, str]) -> str:
    parts = ['<h2 id="scores-section">Score distributions</h2>']
    if not report.distributions and not report.quality_rules:
        parts.append('<p class="note">No scoring stage (quality, quality_model, langid, bias) '
                     "ran in this run.</p>")
        return "".join(parts)
    parts.append('<p class="note">Every document that reached the stage, by what the stage '
                 "did with it (from the stage's lineage events). Dashed red lines are the "
                 "configured thresholds.</p>")
    for distribution in report.distributions:
        parts.append(images.get(f"scores-{distribution.name}", ""))
    if report.quality_rules:
        parts.append(images.get("quality-rules", ""))
    return "".join(parts)


def _pii_section(report: RunReport, images: Dict[str, str]) -> str:
    parts = ['<h2 id="pii-section">PII</h2>']
    if "pii" not in report.stage_params:
        parts.append('<p class="note">The pii stage did not run.</p>')
        return "".join(parts)
    if not report.pii:
        parts.append('<p class="note">No PII was found.</p>')
        return "".join(parts)
    parts.append(images.get("pii", ""))
    rows = [f"<tr>{_cell(row['entity_type'], text=True)}"
            f"{_cell(int(row['spans']), entity=row['entity_type'], field='spans')}"
            f"{_cell(int(row['records']))}{_cell(int(row['redacted_records']))}"
            f"{_cell(row['operators'], text=True)}</tr>" for row in report.pii]
    parts.append(_table("pii", ["entity type", "spans", "documents", "documents redacted",
                                "operator"], rows, ("entity type", "operator")))
    return "".join(parts)


def _duplicates_section(report: RunReport, images: Dict[str, str]) -> str:
    duplicates = report.duplicates
    parts = ['<h2 id="duplicates-section">Duplicates</h2>']
    if not duplicates.similarities:
        parts.append('<p class="note">No record was dropped as a duplicate.</p>')
        return "".join(parts)
    by_stage = ", ".join(f"{stage}: {count:,}"
                         for stage, count in sorted(duplicates.removed_by_stage.items()))
    parts.append(f"<p>{sum(duplicates.removed_by_stage.values()):,} records removed as "
                 f"duplicates ({_e(by_stage)}), in {duplicates.groups:,} groups; the largest "
                 f"group has {duplicates.largest:,} records.")
    if duplicates.of_earlier_runs:
        parts.append(f" {duplicates.of_earlier_runs:,} more duplicated records kept by "
                     f"earlier runs.")
    parts.append("</p>")
    parts.append(images.get("duplicates", ""))
    return "".join(parts)


def _bias_section(report: RunReport) -> str:
    parts = ['<h2 id="bias-section">Bias: removal rates by identity group</h2>']
    if report.bias_note and not report.bias_rows:
        parts.append(f'<p class="note">{_e(report.bias_note)}</p>')
        return "".join(parts)
    meta = report.bias_metadata
    parts.append(
        f'<p class="note">Per identity group mentioned in the run: its share of documents at the '
        f"bias stage (input) and in the output, and the share of its documents removed next to "
        f"the overall removal rate. A row is flagged when a group's documents are removed at "
        f"{meta.get('ratio', 1.5):g}&times; the overall rate or more (groups with at least "
        f"{meta.get('min_documents', 10)} documents). {meta.get('covered_documents', 0):,} "
        f"documents have identity data; {meta.get('uncovered_documents', 0):,} were removed "
        f"before the bias stage and are not covered. Full table: winnow report bias.</p>")
    rows = []
    for row in report.bias_rows:
        stage = "all stages" if row["stage"] == "*" else f"{row['stage_seq']}: {row['stage']}"
        css = ' class="flagged"' if row["flagged"] else ""
        rows.append(
            f"<tr{css}>{_cell(row['identity'], text=True)}{_cell(stage, text=True)}"
            f"{_cell(int(row['documents']))}{_cell(int(row['removed']))}"
            f"<td>{_percent(row['removal_rate'])}</td>"
            f"<td>{_percent(row['overall_removal_rate'])}</td>"
            f"<td>{_ratio(row['rate_ratio'])}</td><td>{_percent(row['input_share'])}</td>"
            f"<td>{_percent(row['output_share'])}</td>"
            f"<td>{'FLAG' if row['flagged'] else ''}</td></tr>")
    parts.append(_table("bias", ["group", "stage", "documents", "removed", "removal rate",
                                 "overall rate", "ratio", "input share", "output share",
                                 "flag"], rows, ("group", "stage")))
    return "".join(parts)


def _sources_section(report: RunReport, images: Dict[str, str]) -> str:
    parts = ['<h2 id="sources-section">Sources</h2>', images.get("sources", "")]
    rows = [f"<tr>{_cell(row['origin'], text=True)}{_cell(int(row['records_read']))}"
            f"{_cell(int(row['records_kept']))}{_cell(int(row['bytes_read']))}"
            f"{_cell(int(row['bytes_kept']))}</tr>" for row in report.origins]
    parts.append(_table("sources", ["domain or source", "documents read", "documents kept",
                                    "bytes read", "bytes kept"], rows, ("domain or source",)))
    parts.append('<p class="note">Bytes are input payload sizes; domains come from the '
                 "documents' url field.</p>")
    return "".join(parts)


def _run_section(report: RunReport) -> str:
    run = report.run or {}
    facts = [("run id", report.run_id), ("status", run.get("status", "unfinished")),
             ("input", run.get("input")), ("stages", ", ".join(run.get("stages") or [])),
             ("annotate only", report.config.get("annotate_only")),
             ("started (UTC)", run.get("started_at")), ("finished (UTC)", run.get("finished_at")),
             ("runner", run.get("runner")), ("Winnow version", run.get("winnow_version")),
             ("code version", run.get("code_version")), ("Beam version", run.get("beam_version")),
             ("config sha256", run.get("config_sha256")), ("error", run.get("error"))]
    rows = [f"<tr>{_cell(name, text=True)}{_cell(value, text=True)}</tr>"
            for name, value in facts if value not in (None, "")]
    config = json.dumps(report.config, indent=2, sort_keys=True, default=str)
    return (f'<h2 id="run-section">Run, versions and config</h2>'
            f"{_table('run', ['fact', 'value'], rows, ('fact', 'value'))}"
            f"<h3>Effective config</h3><pre>{_e(config)}</pre>")


def _duration(run: Optional[dict]) -> str:
    if not run or not run.get("started_at") or not run.get("finished_at"):
        return "-"
    seconds = (run["finished_at"] - run["started_at"]).total_seconds()
    return str(datetime.timedelta(seconds=int(round(seconds))))


def html_page(report: RunReport, pngs: Sequence[Tuple[str, str, bytes]]) -> str:
    """The report page, with every chart embedded."""
    images = {stem: _image(stem, png, stem.replace("-", " ")) for stem, _, png in pngs}
    funnel = report.funnel
    run = report.run or {}
    summary = "".join(
        f"<div><b>{value}</b>{_e(label)}</div>" for value, label in (
            (f"{funnel['read']:,}", "records read"),
            (f"{funnel['written']:,}", "written"),
            (f"{funnel['dropped']:,}", "dropped"),
            (f"{funnel['dead_lettered']:,}", "dead-lettered"),
            (_e(_duration(run)), "duration"),
            (_e(funnel["status"]), "status")))
    body = "".join([
        f"<h1>Winnow run report</h1><p class=\"note\">{_e(report.run_id)} &middot; "
        f"{_e(run.get('input', ''))} &rarr; {_e(report.output_dir)}</p>",
        f'<div class="summary" id="summary">{summary}</div>',
        _funnel_section(report, images),
        _scores_section(report, images),
        _pii_section(report, images),
        _duplicates_section(report, images),
        _bias_section(report),
        _sources_section(report, images),
        _run_section(report),
        '<p class="note">Every number on this page comes from the run\'s lineage tables and '
        "curated shards; winnow lineage funnel prints the same funnel.</p>",
    ])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Winnow run report: {_e(report.run_id)}</title><style>{_CSS}</style>"
            f"</head><body>{body}</body></html>\n")
