"""OpenLineage run events of real runs: START and COMPLETE (or FAIL with the error), validated
against the official OpenLineage JSON schemas (vendored in tests/openlineage_spec/, no network),
with row counts and the funnel matching the record-level lineage; HTTP delivery (as to Marquez);
and a run that fails mid-way leaves nothing that verify accepts.
"""

import http.server
import json
import os
import threading

import pytest

import jsonschema
import referencing

from lineage import openlineage as ol  # noqa: E402
from lineage import verify as verifier  # noqa: E402
from lineage.queries import Lineage  # noqa: E402
from pipelines import run as launcher  # noqa: E402
from pipelines.config import WinnowConfig, parse_config  # noqa: E402
from pipelines.layout import OutputLayout  # noqa: E402

SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openlineage_spec")
# Facets that openlineage-python adds by itself and whose schema is not vendored.
CLIENT_FACETS = {"tags"}

LINES = [
    {"id": "a", "text": "A loaf of bread needs flour, water, salt, yeast and time."},
    {"id": "b", "text": "A loaf of bread needs flour, water, salt, yeast and time."},
    {"id": "c", "text": "The library reopened with tall windows and long oak tables."},
    {"id": "d", "text": "   "},
]


def make_config(tmp_path, name, **openlineage):
    input_path = tmp_path / f"{name}.jsonl"
    input_path.write_text("".join(json.dumps(line) + "\n" for line in LINES), encoding="utf-8")
    return parse_config({"input": str(input_path), "output": str(tmp_path / name),
                         "stages": ["normalize", "exact_dedup"], "openlineage": openlineage})


@pytest.fixture(scope="module")
def validator():
    """Validates an event against the core spec, and each facet against its own schema."""
    with open(os.path.join(SPEC, "OpenLineage.json"), encoding="utf-8") as handle:
        core = json.load(handle)
    schemas = [core] + list(ol.CUSTOM_FACET_SCHEMAS.values())
    for name in sorted(os.listdir(os.path.join(SPEC, "facets"))):
        with open(os.path.join(SPEC, "facets", name), encoding="utf-8") as handle:
            schemas.append(json.load(handle))
    registry = referencing.Registry().with_resources(
        (schema["$id"], referencing.Resource.from_contents(schema)) for schema in schemas)
    known = {schema["$id"] for schema in schemas}

    def check(event):
        """Raises on an invalid event; returns the names of facets checked only by the core."""
        event_validator = jsonschema.Draft202012Validator(
            {"$ref": core["$id"] + "#/$defs/RunEvent"}, registry=registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        event_validator.validate(event)
        unchecked = set()
        for name, facet in _facets(event):
            base = facet["_schemaURL"].split("#")[0]
            if base not in known:
                unchecked.add(name)
                continue
            jsonschema.Draft202012Validator(
                {"$ref": facet["_schemaURL"]}, registry=registry).validate(facet)
        return unchecked

    return check


def _facets(event):
    yield from event["run"].get("facets", {}).items()
    yield from event["job"].get("facets", {}).items()
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        for key in ("facets", "inputFacets", "outputFacets"):
            yield from dataset.get(key, {}).items()


def read_events(config, run_id):
    path = ol.events_path(OutputLayout(config.output), run_id)
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def completed(tmp_path_factory):
    config = make_config(tmp_path_factory.mktemp("ol"), "ok")
    summary = launcher.run(config, ["--runner=DirectRunner"])
    return config, summary, read_events(config, summary.run_id)


def test_a_run_emits_start_then_complete_for_one_run_id(completed):
    _, summary, events = completed
    assert [event["eventType"] for event in events] == ["START", "COMPLETE"]
    assert {event["run"]["runId"] for event in events} == {ol.openlineage_run_id(summary.run_id)}
    assert {(event["job"]["namespace"], event["job"]["name"]) for event in events} == {
        ("winnow", "curation")}
    assert events[1]["run"]["facets"]["winnow_run"]["runId"] == summary.run_id


def test_events_validate_against_the_openlineage_schema(completed, validator):
    _, _, events = completed
    for event in events:
        assert validator(event) <= CLIENT_FACETS
    # The validator is not a rubber stamp.
    broken = json.loads(json.dumps(events[1]))
    broken["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        validator(broken)
    del broken["run"]["runId"]
    with pytest.raises(jsonschema.ValidationError):
        validator(broken)


def test_complete_event_counts_match_the_record_lineage(completed):
    config, summary, events = completed
    complete = events[1]
    [dataset] = complete["inputs"]
    assert (dataset["namespace"], dataset["name"]) == ("file", os.path.abspath(config.input))
    assert dataset["inputFacets"]["inputStatistics"]["rowCount"] == len(LINES)
    assert [field["name"] for field in dataset["facets"]["schema"]["fields"]][0] == "text"
    outputs = {dataset["name"]: dataset for dataset in complete["outputs"]}
    root = os.path.abspath(config.output)
    data = outputs[f"{root}/data"]["outputFacets"]["outputStatistics"]
    assert data["rowCount"] == summary.counts["written"] == 2
    assert data["fileCount"] == len(os.listdir(f"{root}/data"))
    assert data["size"] == sum(os.path.getsize(f"{root}/data/{name}")
                               for name in os.listdir(f"{root}/data"))
    assert outputs[f"{root}/quarantine"]["outputFacets"]["outputStatistics"]["rowCount"] == 1
    assert outputs[f"{root}/lineage/records"]["outputFacets"]["outputStatistics"][
        "rowCount"] == len(LINES)
    assert "id" in [field["name"] for field in outputs[f"{root}/data"]["facets"]["schema"][
        "fields"]]
    funnel = complete["run"]["facets"]["winnow_funnel"]
    expected = Lineage(config.output).funnel(summary.run_id)
    assert (funnel["read"], funnel["written"], funnel["dropped"], funnel["deadLettered"]) == (
        expected["read"], expected["written"], expected["dropped"], expected["dead_lettered"])
    assert {(r["stage"], r["reason"]): r["records"] for r in funnel["reasons"]} == {
        ("exact_dedup", "duplicate"): 1, ("normalize", "empty_text"): 1}
    assert "outputStatistics" not in events[0]["outputs"][0]["outputFacets"]


def test_a_run_that_fails_midway_emits_fail_and_verify_rejects_it(tmp_path, validator):
    config = make_config(tmp_path, "broken")
    os.makedirs(config.output)
    with open(os.path.join(config.output, "data"), "w", encoding="utf-8") as handle:
        handle.write("a file where the curated shard folder should be")
    with pytest.raises(Exception):
        launcher.run(config, ["--runner=DirectRunner"])
    [run_id] = os.listdir(os.path.join(config.output, "lineage", "runs"))
    run_id = run_id[:-len(".parquet")]
    events = read_events(config, run_id)
    assert [event["eventType"] for event in events] == ["START", "FAIL"]
    error = events[1]["run"]["facets"]["errorMessage"]
    assert error["programmingLanguage"] == "python" and error["message"]
    assert "Traceback" in error["stackTrace"]
    assert validator(events[1]) <= CLIENT_FACETS
    results = verifier.verify(config.output)
    assert not verifier.passed(results)
    assert results[run_id]["run_finished"][0]["status"] == "failed"


class _Collector(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_http_transport_from_config_posts_to_the_lineage_api(completed, monkeypatch):
    config, summary, _ = completed
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        marquez = WinnowConfig(**{**config.model_dump(), "openlineage": {"transport": {
            "type": "http", "url": f"http://127.0.0.1:{server.server_port}", "timeout": 5}}})
        monkeypatch.setattr(ol, "_emitted", set())
        assert ol.run_completed(marquez, summary.run_id)
    finally:
        server.shutdown()
    [(path, event)] = _Collector.received
    assert path == "/api/v1/lineage"
    assert event["eventType"] == "COMPLETE"
    assert event["run"]["runId"] == ol.openlineage_run_id(summary.run_id)


def test_an_unreachable_backend_never_fails_the_caller(completed, monkeypatch):
    config, summary, _ = completed
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    port = server.server_port
    server.server_close()  # nothing listens there now
    unreachable = WinnowConfig(**{**config.model_dump(), "openlineage": {"transport": {
        "type": "http", "url": f"http://127.0.0.1:{port}", "timeout": 1,
        "retry": {"total": 0}}}})
    monkeypatch.setattr(ol, "_emitted", set())
    assert ol.run_completed(unreachable, summary.run_id) is False


def test_events_go_where_the_environment_says_when_asked(tmp_path, monkeypatch):
    layout = OutputLayout(str(tmp_path))
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    monkeypatch.delenv("OPENLINEAGE_CONFIG", raising=False)
    default = ol.client_config(ol.OpenLineageSettings(), layout, "run-x")
    assert default["transport"] == {"type": "file", "append": True,
                                    "log_file_path": f"{tmp_path}/lineage/openlineage/run-x.jsonl"}
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:5000")
    assert "transport" not in ol.client_config(ol.OpenLineageSettings(), layout, "run-x")
    assert ol.emit(WinnowConfig(input="x", output=str(tmp_path),
                                         openlineage={"enabled": False}), "run-x", "START") is False
