"""Shared fixtures: the bundled sample corpus and a helper that runs a whole pipeline."""

import os

import pytest

from pipelines import run as launcher
from pipelines.config import parse_config
from tests.flink_fixtures import flink_job_server  # noqa: F401  (fixtures for every test module)
from tests.kafka_fixtures import kafka_broker  # noqa: F401

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO_ROOT, "pipelines", "samples", "sample.jsonl")


@pytest.fixture
def sample_path():
    return SAMPLE


@pytest.fixture
def run_pipeline(tmp_path):
    """Runs a pipeline on the DirectRunner; returns (summary, output dir)."""

    def _run(input_path, stages=("normalize", "exact_dedup"), output=None, **config):
        output = str(output or tmp_path / "out")
        settings = parse_config(dict(config, input=str(input_path), output=output,
                                     stages=list(stages)))
        return launcher.run(settings, ["--runner=DirectRunner"]), output

    return _run
