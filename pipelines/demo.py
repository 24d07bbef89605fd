"""``winnow demo``: the whole pipeline on the bundled sample, from a local Kafka broker.

Starts the local broker (:mod:`pipelines.local_kafka`), produces ``pipelines/samples/sample.jsonl``
into a fresh topic with three partitions, runs the pipeline from Kafka on the DirectRunner with
the stages of ``pipelines/samples/demo.yaml``, verifies the
lineage, and prints where everything landed.
"""

from __future__ import annotations

import datetime
import os
from typing import Callable, Optional

from pipelines import kafka_io, local_kafka
from pipelines import run as launcher
from pipelines.config import load_config, with_overrides

SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples")
SAMPLE = os.path.join(SAMPLES, "sample.jsonl")
DEMO_CONFIG = os.path.join(SAMPLES, "demo.yaml")
PARTITIONS = 3


def run_demo(output: str, keep_kafka: bool = False,
             say: Callable[[str], None] = print) -> launcher.RunSummary:
    """Runs the demo; returns the run summary. Raises if the run or its verification fails."""
    from lineage import verify as verifier  # pylint: disable=import-outside-toplevel
    say("Starting a local Kafka broker (the first start fetches Kafka's jars with Maven) ...")
    broker = local_kafka.start()
    try:
        topic = "winnow-demo-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        kafka_io.create_topic(broker.bootstrap, topic, PARTITIONS)
        produced = kafka_io.produce_jsonl(SAMPLE, broker.bootstrap, topic)
        say(f"Produced {produced} messages from {os.path.relpath(SAMPLE)} into topic {topic} "
            f"({PARTITIONS} partitions) on {broker.bootstrap}")
        config = with_overrides(load_config(DEMO_CONFIG),
                                input=f"kafka://{broker.bootstrap}/{topic}", output=output)
        say(f"Running stages {', '.join(s.name for s in config.stage_configs())} "
            "on the DirectRunner ...")
        summary = launcher.run(config, ["--runner=DirectRunner"])
    finally:
        if not keep_kafka:
            local_kafka.stop()
    results = verifier.verify(output, summary.run_id)
    if not verifier.passed(results):
        raise RuntimeError(f"lineage verification failed: {results}")
    return summary


def default_output() -> str:
    return os.path.join("out", "demo")


def describe(summary: launcher.RunSummary, say: Callable[[str], None] = print,
             example_record: Optional[str] = None) -> None:
    counts = summary.counts
    layout = summary.layout
    say("")
    say(f"Run {summary.run_id}: {counts['read']} records read from Kafka, {counts['written']} "
        f"written, {counts['dropped']} dropped, {counts['errored']} quarantined. "
        "Lineage verified: every Kafka offset has exactly one fate.")
    say(f"  curated Parquet shards  {layout.data}/")
    say(f"  quarantine (Parquet)    {layout.quarantine}/")
    say(f"  lineage tables          {layout.lineage}/"
        "{records,events,edges,source_ranges,runs}/")
    if summary.report:
        say(f"  run report (HTML)       {summary.report}")
    say("Try:")
    say(f"  .venv/bin/winnow lineage verify {layout.root}")
    say(f"  .venv/bin/winnow lineage funnel {layout.root}")
    say(f"  .venv/bin/winnow lineage trace {layout.root} {example_record or 'sample-013'}")
    say(f"  .venv/bin/winnow lineage why {layout.root} sample-024")
    say(f"  .venv/bin/winnow report bias {layout.root}")
