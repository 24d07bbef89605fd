"""Dataset-level OpenLineage run events for a Winnow run: START, then COMPLETE or FAIL.

OpenLineage describes jobs, runs and datasets, not records, so Winnow keeps its record-level
lineage in its own Parquet tables (:mod:`schemas.lineage`) and sends OpenLineage one event when a
run starts and one when it ends, pointing at those tables:

- **job** ``<namespace>.<job_name>`` (default ``winnow`` / ``curation``); the OpenLineage ``runId``
  is a UUID derived from Winnow's run id (:func:`openlineage_run_id`), so both events and any later
  ones agree;
- **inputs**: each input file (namespace ``file`` or ``gs://bucket``...) or the Kafka topic
  (namespace ``kafka://host:port``), with a ``schema`` facet (the input payload contract), a
  ``dataSource`` facet and, on COMPLETE, ``inputStatistics`` (messages read);
- **outputs**: the curated shards (``data/``), the quarantine and each lineage table, with
  ``schema`` and ``dataSource`` facets and, on COMPLETE, ``outputStatistics`` (rows, bytes and files
  this run wrote);
- **run facets**: ``processing_engine`` (Apache Beam), ``winnow_run`` (Winnow's run id, input,
  stages, config hash, where the record lineage is) and, on COMPLETE, ``winnow_funnel`` (records
  read, written, dropped by stage and reason, dead-lettered, PII entity counts); on FAIL
  ``errorMessage`` with the error and its stack trace.

Where events go (``openlineage:`` in the run config, see :class:`OpenLineageSettings`): by default
a JSON-lines file per run, ``<output>/lineage/openlineage/<run_id>.jsonl``; an explicit
``transport`` mapping is handed to openlineage-python as is, e.g. Marquez::

    openlineage:
      transport: {type: http, url: "http://localhost:5000", endpoint: api/v1/lineage}

``transport: environment`` (or, with no transport set, an ``OPENLINEAGE_URL`` /
``OPENLINEAGE_CONFIG`` environment variable) leaves the choice to openlineage-python's own
configuration (``openlineage.yml``, ``OPENLINEAGE__TRANSPORT__*``). ``OPENLINEAGE_DISABLED=true`` or
``enabled: false`` turns events off.

The launcher needs three calls, each of which logs and swallows its own errors, so lineage
metadata can never fail a run::

    openlineage.run_started(config, run_id)
    openlineage.run_failed(config, run_id, error)      # in the failure path
    openlineage.run_completed(config, run_id)          # after the runs row is written

Each call emits at most once per run and event type within a process.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import importlib.metadata
import logging
import os
import re
import traceback
import types
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import apache_beam as beam
import pyarrow as pa
import pydantic
from apache_beam.io.filesystems import FileSystems

from lineage.queries import Lineage
from lineage.store import open_store
from pipelines.layout import OutputLayout
from schemas import lineage as lineage_schema
from schemas.dead_letters import QUARANTINE
from schemas.documents import CURATED

_LOG = logging.getLogger(__name__)

START, COMPLETE, FAIL = "START", "COMPLETE", "FAIL"
PRODUCER_NAME = "winnow"
# Identifiers (not locations) of Winnow's custom facet schemas; the schemas themselves are
# CUSTOM_FACET_SCHEMAS below.
FACET_SCHEMA_BASE = "urn:winnow:openlineage:facets:1-0-0"
RUN_FACET = "winnow_run"
FUNNEL_FACET = "winnow_funnel"
# Above this many input files, the inputs collapse into one dataset: the folder of the glob.
MAX_INPUT_DATASETS = 100
_KAFKA = "kafka://"


class OpenLineageSettings(pydantic.BaseModel):
    """The ``openlineage:`` section of a run config."""
    model_config = pydantic.ConfigDict(extra="forbid")

    enabled: bool = pydantic.Field(True, description="emit OpenLineage run events")
    namespace: str = pydantic.Field("winnow", description="the OpenLineage job namespace")
    job_name: str = pydantic.Field("curation", description="the OpenLineage job name")
    transport: Union[None, str, Dict[str, Any]] = pydantic.Field(
        None, description="an openlineage-python transport config (e.g. {type: http, url: ...});"
        " 'environment' defers to OPENLINEAGE_* variables and openlineage.yml; unset: a "
        "JSON-lines file per run under <output>/lineage/openlineage/")


# ---------------------------------------------------------------------------------------------
# Custom facets: their JSON schemas, which refer to the OpenLineage core spec for the base facet.

_CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
_COUNT = {"type": "integer", "minimum": 0}
CUSTOM_FACET_SCHEMAS: Dict[str, Dict[str, Any]] = {
    "WinnowRunFacet": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{FACET_SCHEMA_BASE}:WinnowRunFacet.json",
        "$defs": {"WinnowRunFacet": {"allOf": [{"$ref": f"{_CORE}#/$defs/RunFacet"}, {
            "type": "object",
            "description": "Which Winnow run this is, and where its record-level lineage is.",
            "properties": {
                "runId": {"type": "string", "description": "Winnow's run id"},
                "input": {"type": "string"},
                "stages": {"type": "array", "items": {"type": "string"}},
                "configSha256": {"type": "string"},
                "runner": {"type": "string"},
                "lineageUri": {"type": "string", "description": "the lineage/ folder"},
            },
            "required": ["runId", "lineageUri"]}]}},
    },
    "CurationFunnelRunFacet": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{FACET_SCHEMA_BASE}:CurationFunnelRunFacet.json",
        "$defs": {"CurationFunnelRunFacet": {"allOf": [{"$ref": f"{_CORE}#/$defs/RunFacet"}, {
            "type": "object",
            "description": "Records in, kept, dropped by stage and reason, dead-lettered.",
            "properties": {
                "read": _COUNT, "written": _COUNT, "dropped": _COUNT, "deadLettered": _COUNT,
                "stages": {"type": "array", "items": {"type": "object", "properties": {
                    "stage": {"type": "string"}, "seq": _COUNT, "entered": _COUNT,
                    "passed": _COUNT, "modified": _COUNT, "dropped": _COUNT,
                    "errored": _COUNT, "wouldDrop": _COUNT, "written": _COUNT},
                    "required": ["stage", "seq", "entered"]}},
                "reasons": {"type": "array", "items": {"type": "object", "properties": {
                    "stage": {"type": "string"}, "action": {"enum": ["dropped", "errored"]},
                    "reason": {"type": "string"}, "records": _COUNT},
                    "required": ["stage", "action", "reason", "records"]}},
                "piiEntities": {"type": "object", "additionalProperties": _COUNT,
                                "description": "PII spans per entity type (never values)"},
            },
            "required": ["read", "written", "dropped", "deadLettered", "stages", "reasons"]}]}},
    },
}


@functools.lru_cache(maxsize=1)
def _openlineage() -> types.SimpleNamespace:
    """openlineage-python's modules, imported on first use: it is an optional dependency."""
    # pylint: disable=import-outside-toplevel
    from openlineage.client import OpenLineageClient, event_v2, facet_v2
    from openlineage.client import uuid as openlineage_uuid
    return types.SimpleNamespace(Client=OpenLineageClient, event=event_v2, facet=facet_v2,
                                 uuid=openlineage_uuid)


def _schema_url(name: str) -> str:
    return f"{FACET_SCHEMA_BASE}:{name}.json#/$defs/{name}"


@functools.lru_cache(maxsize=1)
def _custom_facet_classes():
    """The custom facets as openlineage-python facet classes (imported on first use)."""
    # attrs comes with openlineage-python, whose facets are attrs classes.
    import attr  # pylint: disable=import-outside-toplevel
    run_facet = _openlineage().facet.RunFacet

    @attr.define
    class WinnowRunFacet(run_facet):
        runId: str  # noqa: N815
        lineageUri: str  # noqa: N815
        input: Optional[str] = None
        stages: Optional[List[str]] = None
        configSha256: Optional[str] = None  # noqa: N815
        runner: Optional[str] = None

        @staticmethod
        def _get_schema() -> str:
            return _schema_url("WinnowRunFacet")

    @attr.define
    class CurationFunnelRunFacet(run_facet):
        read: int
        written: int
        dropped: int
        deadLettered: int  # noqa: N815
        stages: List[Dict[str, Any]]
        reasons: List[Dict[str, Any]]
        piiEntities: Optional[Dict[str, int]] = None  # noqa: N815

        @staticmethod
        def _get_schema() -> str:
            return _schema_url("CurationFunnelRunFacet")

    return WinnowRunFacet, CurationFunnelRunFacet


# ---------------------------------------------------------------------------------------------
# Identities.

def openlineage_run_id(run_id: str) -> str:
    """The OpenLineage runId (a UUIDv7) of a Winnow run, always the same for the same run id."""
    match = re.match(r"run-(\d{8}T\d{6}Z)", run_id)
    if match:
        instant = datetime.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
        return str(_openlineage().uuid.generate_static_uuid(instant, run_id.encode("utf-8")))
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"winnow:{run_id}"))


def dataset_id(location: str) -> Tuple[str, str]:
    """(namespace, name) of a path, URL or Kafka topic, following OpenLineage's naming spec:
    ``file`` + absolute path, ``gs://bucket`` + object path, ``kafka://host:port`` + topic."""
    if location.startswith(_KAFKA):
        bootstrap, _, topic = location[len(_KAFKA):].partition("/")
        return f"{_KAFKA}{bootstrap.split(',')[0]}", topic
    if "://" in location:
        scheme, _, rest = location.partition("://")
        bucket, _, path = rest.partition("/")
        return f"{scheme}://{bucket}", path
    return "file", os.path.abspath(location)


def events_path(layout: OutputLayout, run_id: str) -> str:
    """Where the default file transport writes a run's events."""
    return f"{layout.lineage}/openlineage/{run_id}.jsonl"


# ---------------------------------------------------------------------------------------------
# Facets and datasets.

def _winnow_version() -> str:
    try:
        return importlib.metadata.version("winnow")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _producer() -> str:
    return f"urn:{PRODUCER_NAME}:{_winnow_version()}"


def _schema_facet(arrow_schema: Optional[pa.Schema] = None,
                  fields: Optional[Sequence[Tuple[str, str, str]]] = None):
    schema_dataset = _openlineage().facet.schema_dataset
    if arrow_schema is not None:
        fields = [(field.name, str(field.type), "") for field in arrow_schema]
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=name, type=kind,
                                                        description=text or None)
                for name, kind, text in fields or ()],
        producer=_producer())


# The input payload contract (schemas.raw): one JSON object per message.
_INPUT_FIELDS = (
    ("text", "string", "the document (required)"),
    ("id", "string|integer", "the input's own identifier"),
    ("url", "string", "where the document was found"),
    ("source", "string", "a free-form source label"),
    ("metadata", "object", "any JSON object, carried through"),
)


def _datasource_facet(namespace: str):
    datasource_dataset = _openlineage().facet.datasource_dataset
    uri = namespace if "://" in namespace else f"{namespace}:///"
    return datasource_dataset.DatasourceDatasetFacet(name=namespace, uri=uri,
                                                     producer=_producer())


class _Plan:
    """The datasets of one run: inputs and outputs, with their statistics once known."""

    def __init__(self, config, run_id: str):
        self.config = config
        self.run_id = run_id
        self.layout = OutputLayout(config.output.rstrip("/"))

    # -- inputs --

    def input_locations(self) -> List[Tuple[str, Optional[int]]]:
        """(location, size in bytes) of every input: the matched files, or the Kafka URL."""
        if self.config.input.startswith(_KAFKA):
            return [(self.config.input, None)]
        try:
            matched = FileSystems.match([self.config.input])[0].metadata_list
        except Exception:  # pylint: disable=broad-except
            matched = []
        files = [(metadata.path, metadata.size_in_bytes) for metadata in matched]
        if len(files) > MAX_INPUT_DATASETS:
            folder = re.split(r"[*?\[]", self.config.input, maxsplit=1)[0].rsplit("/", 1)[0]
            return [(folder or ".", sum(size or 0 for _, size in files))]
        return files or [(self.config.input, None)]

    def inputs(self, messages_read: Optional[Dict[str, int]] = None):
        stats = _openlineage().facet.input_statistics_input_dataset
        datasets = []
        locations = self.input_locations()
        for location, size in locations:
            namespace, name = dataset_id(location)
            input_facets = {}
            if messages_read is not None:
                if location in messages_read:  # one file
                    rows, files = messages_read[location], 1
                else:  # the Kafka topic, or a folder standing for many files
                    rows = sum(messages_read.values())
                    files = None if location.startswith(_KAFKA) else len(messages_read)
                input_facets["inputStatistics"] = stats.InputStatisticsInputDatasetFacet(
                    rowCount=rows, size=size, fileCount=files, producer=_producer())
            datasets.append(_openlineage().event.InputDataset(
                namespace=namespace, name=name,
                facets={"schema": _schema_facet(fields=_INPUT_FIELDS),
                        "dataSource": _datasource_facet(namespace)},
                inputFacets=input_facets))
        return datasets

    # -- outputs --

    def output_tables(self) -> List[Tuple[str, pa.Schema, str]]:
        """(folder, schema, file glob of this run) of every dataset the run writes."""
        layout, run = self.layout, self.run_id
        tables = [(layout.data, CURATED, f"{run}-*.parquet"),
                  (layout.quarantine, QUARANTINE, f"{run}-*.parquet")]
        for table, arrow_schema in lineage_schema.TABLES.items():
            pattern = f"{run}.parquet" if table == "runs" else f"{run}-*.parquet"
            tables.append((layout.lineage_table(table), arrow_schema, pattern))
        return tables

    def outputs(self, row_counts: Optional[Dict[str, int]] = None):
        stats = _openlineage().facet.output_statistics_output_dataset
        datasets = []
        for folder, arrow_schema, pattern in self.output_tables():
            namespace, name = dataset_id(folder)
            output_facets = {}
            if row_counts is not None:
                try:
                    files = FileSystems.match([f"{folder}/{pattern}"])[0].metadata_list
                except Exception:  # pylint: disable=broad-except
                    files = []
                output_facets["outputStatistics"] = stats.OutputStatisticsOutputDatasetFacet(
                    rowCount=row_counts.get(folder, 0),
                    size=sum(metadata.size_in_bytes for metadata in files),
                    fileCount=len(files), producer=_producer())
            datasets.append(_openlineage().event.OutputDataset(
                namespace=namespace, name=name,
                facets={"schema": _schema_facet(arrow_schema),
                        "dataSource": _datasource_facet(namespace)},
                outputFacets=output_facets))
        return datasets

    # -- what the lineage says, once the run is over --

    def statistics(self):
        """(messages read per input location, rows written per output folder, the funnel,
        PII spans per entity type) of the finished run, from its lineage."""
        lineage = Lineage(self.layout.root)
        params = {"run": self.run_id}
        read = {row["source"]: row["n"] for row in lineage.query(
            "SELECT source, sum(messages_read) AS n FROM source_ranges WHERE run_id = $run "
            "GROUP BY source", params)}
        counts = {}
        for folder, _, _ in self.output_tables():
            if folder == self.layout.data:  # from the shards' footers, without reading them
                sql = "SELECT coalesce(sum(num_rows), 0) AS n FROM shards WHERE run_id = $run"
            else:
                view = {self.layout.quarantine: "quarantine",
                        self.layout.lineage_table("events"): "raw_events"}.get(
                            folder, folder.rsplit("/", 1)[-1])
                sql = f"SELECT count(*) AS n FROM {view} WHERE run_id = $run"
            counts[folder] = int(lineage.query(sql, params)[0]["n"])
        funnel = lineage.funnel(self.run_id)
        pii = {row["entity_type"]: row["spans"]
               for row in lineage.redactions(run=self.run_id)["totals"]}
        return read, counts, funnel, pii

    # -- run facets --

    def run_facets(self) -> Dict[str, Any]:
        processing_engine_run = _openlineage().facet.processing_engine_run
        winnow_run_facet, _ = _custom_facet_classes()
        config_json = self.config.to_json()
        return {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=beam.__version__, name="Apache Beam",
                openlineageAdapterVersion=_winnow_version(), producer=_producer()),
            RUN_FACET: winnow_run_facet(
                runId=self.run_id, lineageUri=_uri(self.layout.lineage), input=self.config.input,
                stages=[stage.name for stage in self.config.stage_configs()],
                configSha256=hashlib.sha256(config_json.encode()).hexdigest(),
                runner=self.runner(), producer=_producer()),
        }

    def runner(self) -> str:
        """The Beam runner: from the runs row once written, else from the config."""
        runs_folder = self.layout.lineage_table("runs")
        if os.path.isdir(runs_folder):
            rows = open_store(self.layout.root).execute(
                "SELECT runner FROM runs WHERE run_id = ?", [self.run_id]).fetchall()
            if rows:
                return rows[0][0]
        return str((self.config.beam_options or {}).get("runner", "DirectRunner"))


def _uri(location: str) -> str:
    return location if "://" in location else "file://" + os.path.abspath(location)


def funnel_facet(funnel: Dict[str, Any], pii: Optional[Dict[str, int]] = None):
    """The ``winnow_funnel`` facet of a :meth:`lineage.queries.Lineage.funnel` answer."""
    _, funnel_class = _custom_facet_classes()
    return funnel_class(
        read=funnel["read"], written=funnel["written"], dropped=funnel["dropped"],
        deadLettered=funnel["dead_lettered"],
        stages=[{"stage": row["stage"], "seq": row["seq"], "entered": row["entered"],
                 "passed": row["passed"], "modified": row["modified"], "dropped": row["dropped"],
                 "errored": row["errored"], "wouldDrop": row["would_drop"],
                 "written": row["written"]} for row in funnel["stages"]],
        reasons=[{"stage": row["stage"], "action": row["action"], "reason": row["reason"],
                  "records": row["records"]} for row in funnel["reasons"]],
        piiEntities={name: int(count) for name, count in (pii or {}).items()},
        producer=_producer())


# ---------------------------------------------------------------------------------------------
# Events.

def build_event(config, run_id: str, event_type: str, error: Optional[BaseException] = None):
    """The OpenLineage RunEvent of ``event_type`` (START, COMPLETE or FAIL) for a run."""
    event, facet = _openlineage().event, _openlineage().facet
    settings = settings_of(config)
    plan = _Plan(config, run_id)
    facets = plan.run_facets()
    inputs, outputs = plan.inputs(), plan.outputs()
    if event_type == COMPLETE:
        read, counts, funnel, pii = plan.statistics()
        inputs, outputs = plan.inputs(read), plan.outputs(counts)
        facets[FUNNEL_FACET] = funnel_facet(funnel, pii)
    if event_type == FAIL and error is not None:
        facets["errorMessage"] = facet.error_message_run.ErrorMessageRunFacet(
            message=f"{type(error).__name__}: {error}", programmingLanguage="python",
            stackTrace="".join(traceback.format_exception(error)), producer=_producer())
    return event.RunEvent(
        eventType=event.RunState(event_type),
        eventTime=datetime.datetime.now(datetime.timezone.utc).isoformat(),
        run=event.Run(runId=openlineage_run_id(run_id), facets=facets),
        job=event.Job(namespace=settings.namespace, name=settings.job_name),
        inputs=inputs, outputs=outputs, producer=_producer())


def settings_of(config) -> OpenLineageSettings:
    """The run config's ``openlineage`` section (defaults when the config has none)."""
    settings = getattr(config, "openlineage", None)
    if settings is None:
        return OpenLineageSettings()
    if isinstance(settings, OpenLineageSettings):
        return settings
    if isinstance(settings, pydantic.BaseModel):
        settings = settings.model_dump()
    return OpenLineageSettings(**settings)


_OPENLINEAGE_ENVIRONMENT = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG")


def client_config(settings: OpenLineageSettings, layout: OutputLayout,
                  run_id: str) -> Dict[str, Any]:
    """The openlineage-python client config for a run (see the module docstring)."""
    config: Dict[str, Any] = {"facets": {"source_code_location": {"disabled": True}}}
    transport = settings.transport
    if isinstance(transport, dict):
        config["transport"] = dict(transport)
    elif transport == "environment" or (transport is None and any(
            os.environ.get(name) for name in _OPENLINEAGE_ENVIRONMENT)):
        pass  # openlineage-python reads openlineage.yml and OPENLINEAGE_* itself
    elif transport in (None, "file"):
        path = events_path(layout, run_id)
        if "://" not in path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        config["transport"] = {"type": "file", "log_file_path": path, "append": True}
    else:
        raise ValueError(f"openlineage.transport: expected a mapping, 'file' or 'environment', "
                         f"got {transport!r}")
    return config


_emitted: set = set()  # (run_id, event type) already sent by this process


def emit(config, run_id: str, event_type: str, error: Optional[BaseException] = None) -> bool:
    """Builds and sends one event; returns whether it was sent. Never raises."""
    key = (run_id, event_type)
    if key in _emitted:
        return False
    try:
        settings = settings_of(config)
        if not settings.enabled:
            return False
        client_class = _openlineage().Client
    except ImportError:
        _LOG.warning("openlineage-python is not installed: no OpenLineage events "
                     "(pip install openlineage-python)")
        return False
    except Exception as problem:  # pylint: disable=broad-except
        _LOG.warning("OpenLineage settings are invalid, no events: %s", problem)
        return False
    try:
        layout = OutputLayout(config.output.rstrip("/"))
        event = build_event(config, run_id, event_type, error)
        client = client_class(config=client_config(settings, layout, run_id))
        try:
            client.emit(event)
        finally:
            client.close(timeout=10)
    except Exception as problem:  # pylint: disable=broad-except
        _LOG.warning("could not emit the OpenLineage %s event of run %s: %s", event_type,
                     run_id, problem, exc_info=_LOG.isEnabledFor(logging.DEBUG))
        return False
    _emitted.add(key)
    return True


def run_started(config, run_id: str) -> bool:
    """Emits START (call before the pipeline is submitted)."""
    return emit(config, run_id, START)


def run_completed(config, run_id: str) -> bool:
    """Emits COMPLETE with statistics and the funnel (call once the runs row is written)."""
    return emit(config, run_id, COMPLETE)


def run_failed(config, run_id: str, error: BaseException) -> bool:
    """Emits FAIL with the error (call in the launcher's failure path)."""
    return emit(config, run_id, FAIL, error)
