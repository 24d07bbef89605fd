"""The same pipeline gives the same results on a local Flink and on the DirectRunner.

Each test runs the batch pipeline on the bundled sample corpus twice, with every registered stage: once on the DirectRunner and once on an embedded Flink (Beam's portable
Flink runner, Python workers in LOOPBACK mode). It then compares what a user gets:

- the curated Parquet rows, every column except ``run_id`` (so the same record ids are kept, with
  the same text, annotations and scores, in the same shards and rows),
- the quarantine rows and the lineage tables (``records``, ``events`` without ``event_id``,
  ``edges``, ``source_ranges``), and the counts of the ``runs`` row,
- the result of ``winnow lineage verify``.

Rows are compared as sorted lists (a multiset: a row written twice is a difference too). Run ids
inside values (shard names, ``duplicate_of`` run ids) are replaced by a placeholder first.

One test reads the JSONL file; the other produces the same file into a three-partition Kafka topic
and reads it with the bounded Kafka source (a splittable DoFn), ``start: earliest`` and
``commit: false``, so both runners read the same messages. The grouping stages (``exact_dedup``,
``minhash_dedup``: GroupByKey and CoGroupByKey across workers) run in both. The Flink runs use
parallelism 2, so records are spread over two workers (on Flink, a batch bundle is a worker's whole
partition), while the DirectRunner runs everything as one: a result that depended on how the runner
splits the work would differ.

Every stage of :data:`transforms.registry.STAGES` runs, in registry order; one that cannot be
built fails the test. ``quality_model`` needs a model file: the test trains a tiny fastText
classifier with :func:`transforms.quality_model.train_quality_model`.

All Flink runs share one job server (``flink_job_server`` in :mod:`tests.flink_fixtures`); the
first run of the session fetches and caches its jars with Maven.
"""

from __future__ import annotations

import collections
import glob
import importlib
import json
import os
import random
import uuid
from typing import Any, Dict, List, Tuple

import pyarrow.parquet as pq
import pytest

from lineage import verify as lineage_verify
from pipelines import kafka_io
from pipelines import run as launcher
from pipelines.config import parse_config
from transforms import registry

pytestmark = [
    pytest.mark.flink,
    pytest.mark.slow,
    # When a job ends, the job server closes the data stream of the LOOPBACK worker in this
    # process, and Beam's stream-reading thread ends with "CANCELLED: Multiplexer hanging up".
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO_ROOT, "pipelines", "samples", "sample.jsonl")
# Stages without which the comparison is not worth running: they are finished and always built.
# Flink flags of the comparison runs: two parallel workers (see the module docstring).
FLINK_RUN_ARGS = ["--parallelism=2"]
DIRECT_RUN_ARGS = ["--runner=DirectRunner"]
KAFKA_PARTITIONS = 3
# The tables compared, with the columns left out besides run_id: (folder under the output, drop).
COMPARED_TABLES = (
    ("data", ()),
    ("quarantine", ()),
    ("lineage/records", ()),
    ("lineage/events", ("event_id",)),
    ("lineage/edges", ()),
    ("lineage/source_ranges", ()),
)
RUN_PLACEHOLDER = "<run>"

# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stage_list(tmp_path_factory) -> List[Any]:
    """Every registered stage that can be built here, as config entries in registry order."""
    model_folder = tmp_path_factory.mktemp("quality_model")
    stages, left_out = available_stages(str(model_folder))
    assert not left_out, f"every registered stage must run on both runners: {left_out}"
    return stages


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.timeout(1500)
def test_flink_and_direct_agree_on_files(flink_job_server, stage_list, tmp_path):
    """The JSONL sample read by the file source gives identical outputs on both runners."""
    config = {"input": SAMPLE, "stages": stage_list}
    direct, flink = _run_both(config, flink_job_server, tmp_path)
    _assert_same_results(direct, flink, stage_list)


@pytest.mark.kafka
@pytest.mark.timeout(1500)
def test_flink_and_direct_agree_on_kafka(flink_job_server, kafka_broker, stage_list, tmp_path):
    """The sample read from three Kafka partitions gives identical outputs on both runners."""
    topic = f"equivalence-{uuid.uuid4().hex[:8]}"
    kafka_io.create_topic(kafka_broker, topic, KAFKA_PARTITIONS)
    produced = kafka_io.produce_jsonl(SAMPLE, kafka_broker, topic)
    config = {
        "input": f"kafka://{kafka_broker}/{topic}",
        "stages": stage_list,
        "source": {"kafka": {"start": "earliest", "commit": False, "group": topic}},
    }
    direct, flink = _run_both(config, flink_job_server, tmp_path)
    _assert_same_results(direct, flink, stage_list)
    partitions = _table(direct, "lineage/source_ranges")
    assert len(partitions) == KAFKA_PARTITIONS
    assert sum(row["messages_read"] for row in partitions) == produced


# --- stages ------------------------------------------------------------------------------------

def available_stages(model_folder: str) -> Tuple[List[Any], Dict[str, str]]:
    """The stages to enable and, for each stage left out, why.

    Returns ``(config entries, {stage: reason})``; an entry is a stage name or, for a stage that
    needs parameters here, ``{name: params}``.
    """
    stages: List[Any] = []
    left_out: Dict[str, str] = {}
    for name in registry.STAGES:
        try:
            params = _params_for(name, model_folder)
            model = registry.params_class(name)(**params)
            registry.make_stage(name, model, annotate_only=False, seq=1)
        except Exception as error:  # pylint: disable=broad-except
            left_out[name] = f"{type(error).__name__}: {error}".splitlines()[0][:200]
            continue
        stages.append({name: params} if params else name)
    return stages, left_out


def _params_for(name: str, model_folder: str) -> Dict[str, Any]:
    """Parameters a stage needs in this test beyond its defaults."""
    if name != "quality_model":
        return {}
    module = importlib.import_module(registry.STAGES[name].module)
    train = getattr(module, "train_quality_model", None)
    if train is None:
        raise LookupError("the module has no train_quality_model to make a model with")
    return {"model_path": _train_tiny_quality_model(train, model_folder)}


def _train_tiny_quality_model(train, folder: str) -> str:
    """A small fastText classifier: word salad of prose words ("hq") versus shop spam ("lq")."""
    rng = random.Random(7)
    prose = ("the council explained history of our town with great care during a long winter "
             "museum visitors library bridge garden school letter fields river").split()
    spam = "buy now cheap best price click here free shipping sale discount bonus login".split()
    paths = {}
    for label, words, length in (("pos", prose, 30), ("neg", spam, 12)):
        paths[label] = os.path.join(folder, f"{label}.jsonl")
        with open(paths[label], "w", encoding="utf-8") as handle:
            for _ in range(40):
                text = " ".join(rng.choice(words) for _ in range(length))
                handle.write(json.dumps({"text": text}) + "\n")
    model_path = os.path.join(folder, "quality.bin")
    train(paths["pos"], paths["neg"], model_path, epoch=5, dim=8, bucket=10_000, lr=0.05,
          thread=1)
    return model_path


def _names(stages: List[Any]) -> List[str]:
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in stages]


# --- running -----------------------------------------------------------------------------------

class RunOutput:
    """One finished run: its output folder, run id and counts."""

    def __init__(self, output: str, summary):
        self.output = output
        self.run_id = summary.run_id
        self.counts = summary.counts


def _run_both(config: Dict[str, Any], server, tmp_path) -> Tuple[RunOutput, RunOutput]:
    direct = _run(config, str(tmp_path / "direct"), DIRECT_RUN_ARGS)
    flink = _run(config, str(tmp_path / "flink"), server.pipeline_args() + FLINK_RUN_ARGS)
    return direct, flink


def _run(config: Dict[str, Any], output: str, beam_args: List[str]) -> RunOutput:
    settings = parse_config(dict(config, output=output))
    return RunOutput(output, launcher.run(settings, beam_args))


# --- comparing ---------------------------------------------------------------------------------

def _assert_same_results(direct: RunOutput, flink: RunOutput, stages: List[Any]) -> None:
    _assert_meaningful(direct, stages)
    kept = {name: sorted(row["id"] for row in _table(run, "data"))
            for name, run in (("direct", direct), ("flink", flink))}
    assert kept["direct"] == kept["flink"], "the runners kept different records"
    for folder, dropped_columns in COMPARED_TABLES:
        _assert_same_rows(folder, _comparable(direct, folder, dropped_columns),
                          _comparable(flink, folder, dropped_columns))
    assert direct.counts == flink.counts
    direct_checks = _verify(direct)
    flink_checks = _verify(flink)
    assert all(not rows for rows in direct_checks.values()), direct_checks
    assert flink_checks == direct_checks


def _assert_meaningful(run: RunOutput, stages: List[Any]) -> None:
    """Guards against a comparison of two empty or trivial outputs."""
    events = _table(run, "lineage/events")
    assert {row["stage"] for row in events} >= set(_names(stages)), "a stage left no events"
    actions = {(row["stage"], row["action"]) for row in events}
    assert ("exact_dedup", "dropped") in actions, "the sample should hold exact duplicates"
    assert run.counts["written"] > 0 and run.counts["errored"] > 0, run.counts


def _verify(run: RunOutput) -> Dict[str, List[dict]]:
    results = lineage_verify.verify(run.output)
    assert list(results) == [run.run_id]
    return {check: [_without_run(row, run.run_id) for row in rows]
            for check, rows in results[run.run_id].items()}


def _table(run: RunOutput, folder: str) -> List[Dict[str, Any]]:
    rows = []
    for path in sorted(glob.glob(os.path.join(run.output, folder, "*.parquet"))):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def _comparable(run: RunOutput, folder: str, dropped_columns) -> List[Tuple]:
    """The rows of a table as sorted, hashable tuples, without run ids."""
    rows = []
    for row in _table(run, folder):
        assert row.pop("run_id") == run.run_id
        for column in dropped_columns:
            row.pop(column)
        rows.append(_without_run(row, run.run_id))
    return sorted(rows, key=repr)


def _without_run(value: Any, run_id: str) -> Any:
    """``value`` with ``run_id`` inside strings replaced, as nested tuples (hashable)."""
    if isinstance(value, str):
        return value.replace(run_id, RUN_PLACEHOLDER)
    if isinstance(value, dict):
        return tuple(sorted((key, _without_run(item, run_id)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_without_run(item, run_id) for item in value)
    return value


def _assert_same_rows(folder: str, direct: List[Tuple], flink: List[Tuple]) -> None:
    if direct == flink:
        return
    only_direct = list((collections.Counter(direct) - collections.Counter(flink)).elements())
    only_flink = list((collections.Counter(flink) - collections.Counter(direct)).elements())
    shown = "\n".join([f"  direct only: {row}" for row in only_direct[:3]]
                      + [f"  flink only:  {row}" for row in only_flink[:3]])
    pytest.fail(f"{folder}: {len(direct)} rows on the DirectRunner, {len(flink)} on Flink; "
                f"{len(only_direct)} only on Direct, {len(only_flink)} only on Flink:\n{shown}",
                pytrace=False)
