"""The run report (lineage.report): a real run of the sample through every stage, reported.

The report's numbers must be the lineage's numbers: the funnel rendered in the HTML page is read
back and compared with ``winnow lineage funnel`` (lineage.queries) and with counts taken straight
from the lineage Parquet files and curated shards. The page must be self-contained and render in a
real browser: headless Chromium opens it from disk and reports the decoded size of every chart.
"""

import base64
import html.parser
import io
import os
import pathlib
import shutil
import subprocess
from collections import Counter

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from lineage import report as run_report
from lineage.queries import Lineage
from lineage.report_cli import report as report_command
from lineage.report_data import DROPPED, KEPT, WOULD_DROP, compute_report
from pipelines import run as launcher
from pipelines.config import parse_config
from tests.conftest import SAMPLE
from transforms import registry

# The demo's order: bias before the filters, so the bias report sees what they remove.
STAGES = [
    {"normalize": {"min_chars": 20}},
    "exact_dedup",
    {"bias": {}},
    {"langid": {"min_score": 0.6}},
    {"pii": {}},
    {"quality": {}},
    {"minhash_dedup": {}},
]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _importable(entry):
    name = entry if isinstance(entry, str) else next(iter(entry))
    try:
        registry.stage_class(name)
        registry.params_class(name)
    except Exception:  # pylint: disable=broad-except
        return False
    return True


def _stage_names(stages):
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in stages]


@pytest.fixture(scope="module")
def reported_run(tmp_path_factory):
    """The sample through every stage that imports, then its report (as ``winnow run`` does)."""
    output = str(tmp_path_factory.mktemp("report") / "out")
    stages = [entry for entry in STAGES if _importable(entry)]
    summary = launcher.run(parse_config({"input": SAMPLE, "output": output, "stages": stages}),
                           ["--runner=DirectRunner"])
    paths = run_report.write_report(output, summary.run_id)
    return summary, output, paths, _stage_names(stages)


class _PageReader(html.parser.HTMLParser):
    """Collects the cells of the page's tables (with their data- attributes) and its images."""

    def __init__(self):
        super().__init__()
        self.cells = []  # (table id, {data attributes}, text)
        self.images = []  # attribute dicts
        self.tags = Counter()
        self._table = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags[tag] += 1
        if tag == "table":
            self._table = attributes.get("id")
        elif tag == "td":
            self._cell = ({k[5:]: v for k, v in attributes.items() if k.startswith("data-")}, [])
        elif tag == "img":
            self.images.append(attributes)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append((self._table, self._cell[0], "".join(self._cell[1]).strip()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1].append(data)

    def numbers(self, table):
        """{(stage, field) or (stage, reason, field): number} of the cells of ``table`` that
        carry data-field."""
        found = {}
        for table_id, data, text in self.cells:
            if table_id == table and "field" in data:
                key = (data.get("stage") or data.get("entity"),)
                if "reason" in data:
                    key += (data["reason"],)
                found[key + (data["field"],)] = int(text.replace(",", ""))
        return found


def _read_page(path):
    reader = _PageReader()
    with open(path, encoding="utf-8") as handle:
        reader.feed(handle.read())
    return reader


def _lineage_table(output, table, run_id):
    rows = pq.read_table(f"{output}/lineage/{table}").to_pylist()
    return [row for row in rows if row["run_id"] == run_id]


def test_report_funnel_equals_the_lineage_funnel(reported_run):
    summary, output, paths, stages = reported_run
    page = _read_page(paths.html)
    shown = page.numbers("funnel")
    funnel = Lineage(output).funnel(summary.run_id)
    assert [row["stage"] for row in funnel["stages"]] == ["ingest"] + stages + ["sink"]
    expected = {(row["stage"], field): row[field] for row in funnel["stages"]
                for field in ("entered", "passed", "modified", "dropped", "errored",
                              "would_drop", "written")}
    assert shown == expected
    assert page.numbers("reasons") == {(row["stage"], row["reason"], "records"): row["records"]
                                       for row in funnel["reasons"]}
    # ... and the funnel is what the lineage files and the curated shards hold.
    events = Counter((row["stage"], row["action"])
                     for row in _lineage_table(output, "events", summary.run_id))
    for stage in ["ingest"] + stages:
        for action in ("passed", "modified", "dropped", "errored"):
            assert shown[(stage, action)] == events[(stage, action)], (stage, action)
    curated = pq.read_table(f"{output}/data").num_rows
    assert shown[("sink", "written")] == curated == summary.counts["written"]
    records = len(_lineage_table(output, "records", summary.run_id))
    assert shown[("ingest", "entered")] == records == summary.counts["read"]
    assert funnel["unaccounted"] == 0
    # The summary tiles and the funnel chart's last step say the same.
    report = compute_report(output, summary.run_id)
    assert report.remaining[-1][1] == curated
    with open(paths.html, encoding="utf-8") as handle:
        text = handle.read()
    assert f"<b>{summary.counts['read']:,}</b>records read" in text
    assert f"<b>{curated:,}</b>written" in text


def test_charts_are_written_and_embedded(reported_run):
    summary, output, paths, stages = reported_run
    folder = os.path.join(output, "report", summary.run_id)
    assert paths.html == os.path.join(output, "report", f"{summary.run_id}.html")
    expected = {"funnel", "removals", "sources"}
    expected |= {"duplicates"} if {"exact_dedup", "minhash_dedup"} & set(stages) else set()
    expected |= {"pii"} if "pii" in stages else set()
    expected |= {"scores-langid-language_score"} if "langid" in stages else set()
    expected |= {"scores-bias-toxicity"} if "bias" in stages else set()
    expected |= {"scores-quality-failed_rules", "quality-rules"} if "quality" in stages else set()
    written = {name[:-4] for name in os.listdir(folder) if name.endswith(".png")}
    assert expected <= written
    embedded = {}
    for image in _read_page(paths.html).images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)
        embedded[image["id"][len("chart-"):]] = base64.b64decode(image["src"][len(prefix):])
    assert set(embedded) == written
    for name, png in embedded.items():
        with open(os.path.join(folder, f"{name}.png"), "rb") as handle:
            assert handle.read() == png
        width, height = Image.open(io.BytesIO(png)).size
        assert width >= 800 and height >= 300, name


def test_page_is_self_contained(reported_run):
    _, _, paths, _ = reported_run
    page = _read_page(paths.html)
    with open(paths.html, encoding="utf-8") as handle:
        text = handle.read()
    assert page.tags["script"] == 0 and page.tags["link"] == 0 and page.tags["iframe"] == 0
    assert "src=\"http" not in text and "href=\"http" not in text and "url(http" not in text
    assert "@import" not in text


def test_score_charts_carry_the_configured_thresholds_and_every_decision(reported_run):
    summary, output, _, stages = reported_run
    report = compute_report(output, summary.run_id)
    funnel = {row["stage"]: row for row in report.funnel["stages"]}
    by_name = {distribution.name: distribution for distribution in report.distributions}
    if "langid" in stages:
        langid = by_name["langid-language_score"]
        assert [(t.value, t.drops) for t in langid.thresholds] == [(0.6, "below")]
        assert len(langid.groups.get(DROPPED, [])) == funnel["langid"]["dropped"] > 0
        assert max(langid.groups[DROPPED]) < 0.6 <= min(langid.groups[KEPT])
    if "quality" in stages:
        failed = by_name["quality-failed_rules"]
        assert len(failed.groups[DROPPED]) == funnel["quality"]["dropped"]
        assert min(failed.groups[DROPPED]) >= 1 and set(failed.groups[KEPT]) == {0.0}
        for rule in report.quality_rules:
            (threshold,) = rule.thresholds
            name = rule.name[len("quality-rule-"):]
            assert threshold.value == report.stage_params["quality"][name]
    if "bias" in stages:
        toxicity = by_name["bias-toxicity"]
        assert toxicity.count == funnel["bias"]["entered"]
    if "pii" in stages:
        assert report.pii == Lineage(output).redactions(run=summary.run_id)["totals"]
        assert sum(row["spans"] for row in report.pii) > 0
    removed = sum(report.duplicates.removed_by_stage.values())
    assert removed == sum(funnel[stage]["dropped"] for stage in ("exact_dedup", "minhash_dedup")
                          if stage in funnel)
    assert sum((size - 1) * count for size, count in report.duplicates.group_sizes.items()) \
        == removed
    kept_bytes = sum(row["bytes_kept"] for row in report.origins)
    written_ids = {row["record_id"] for row in _lineage_table(output, "events", summary.run_id)
                   if row["action"] == "written"}
    assert kept_bytes == sum(row["byte_len"] for row in _lineage_table(
        output, "records", summary.run_id) if row["record_id"] in written_ids)


def test_an_annotate_only_run_in_the_same_folder_gets_its_own_report(reported_run):
    first, output, _, _ = reported_run
    stages = [{"langid": {"min_score": 0.6}}] if _importable("langid") else ["normalize"]
    second = launcher.run(parse_config({"input": SAMPLE, "output": output, "stages": stages,
                                        "annotate_only": True}), ["--runner=DirectRunner"])
    paths = run_report.write_report(output)  # the latest run
    assert paths.run_id == second.run_id != first.run_id
    shown = _read_page(paths.html).numbers("funnel")
    funnel = Lineage(output).funnel(second.run_id)
    assert shown == {(row["stage"], field): row[field] for row in funnel["stages"]
                     for field in ("entered", "passed", "modified", "dropped", "errored",
                                   "would_drop", "written")}
    if "langid" in str(stages):
        assert shown[("langid", "dropped")] == 0 and shown[("langid", "would_drop")] > 0
        report = compute_report(output, second.run_id)
        (langid,) = report.distributions
        assert len(langid.groups[WOULD_DROP]) == shown[("langid", "would_drop")]


def test_report_command_and_its_bias_subcommand(reported_run):
    summary, output, paths, stages = reported_run
    runner = CliRunner()
    result = runner.invoke(report_command, [output, "--run", summary.run_id])
    assert result.exit_code == 0, result.output
    assert paths.html in result.output
    result = runner.invoke(report_command, ["html", "--run", summary.run_id, output])
    assert result.exit_code == 0, result.output
    result = runner.invoke(report_command, ["bias", output, "--run", summary.run_id])
    if "bias" in stages:
        assert result.exit_code == 0, result.output
        assert f"bias report of run {summary.run_id}" in result.output
    result = runner.invoke(report_command, [output, "--run", "run-that-never-was"])
    assert result.exit_code == 2 and "run-that-never-was" in result.output
    result = runner.invoke(report_command, ["--help"])
    assert result.exit_code == 0 and "bias" in result.output and "html" in result.output


def _chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("CI must install Chromium for the report rendering test "
                    "(apt-get install -y chromium)")
    pytest.skip("no Chromium installed (apt-get install -y chromium)")
    return None


def _headless(chromium, profile, *args):
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=True)


# Appended to a copy of the page: writes what the browser decoded of every image into the DOM.
_PROBE = """<script>window.addEventListener('load', function () {
  for (const image of document.images) {
    image.setAttribute('data-decoded-width', image.naturalWidth);
    image.setAttribute('data-decoded-height', image.naturalHeight);
    image.removeAttribute('src');
  }
  document.body.setAttribute('data-probe', 'loaded');
});</script>"""


def test_report_renders_in_headless_chromium(reported_run, tmp_path):
    _, _, paths, _ = reported_run
    chromium = _chromium()
    with open(paths.html, encoding="utf-8") as handle:
        page = handle.read()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    dom = _headless(chromium, tmp_path / "profile", "--dump-dom", probe.as_uri()).stdout
    assert 'data-probe="loaded"' in dom, dom[-2000:]
    rendered = _PageReader()
    rendered.feed(dom)
    sizes = {image["id"]: (int(image["data-decoded-width"]), int(image["data-decoded-height"]))
             for image in rendered.images}
    expected = {}
    for image in _read_page(paths.html).images:
        png = base64.b64decode(image["src"].split(",", 1)[1])
        expected[image["id"]] = Image.open(io.BytesIO(png)).size
    assert sizes == expected and all(width > 0 for width, _ in sizes.values())
    # A screenshot of the top of the page: not blank, and with the charts' colours in it.
    screenshot = tmp_path / "report.png"
    _headless(chromium, tmp_path / "profile2", "--window-size=1100,1500",
              f"--screenshot={screenshot}", pathlib.Path(paths.html).as_uri())
    image = Image.open(screenshot).convert("RGB")
    assert image.size == (1100, 1500)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
    funnel_blue = (0, 114, 178)
    assert any(colour == funnel_blue for _, colour in colours)
