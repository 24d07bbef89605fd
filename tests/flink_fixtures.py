"""Pytest fixtures with a real local Flink job server (see :mod:`pipelines.flink_runner`).

The job server needs Java 17+, and Maven the first time (to fetch and cache the jars); tests that
use it are skipped with the reason when these are missing.
"""

import os
import shutil

import pytest

from pipelines import flink_runner


def missing_flink_tools() -> str:
    """Why no local Flink job server can start here ("" when one can)."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed"
    if flink_runner.cached_job_server(kafka=True) is None and shutil.which("mvn") is None:
        return "the Flink job server is not cached and Maven is not installed"
    return ""


@pytest.fixture(scope="session")
def flink_job_server():
    """One Flink job server (embedded MiniCluster) for every Flink run of the session.

    KafkaIO is on its class path, so cross-language ``ReadFromKafka`` runs on it too.
    """
    missing = missing_flink_tools()
    if missing:
        pytest.skip(missing)
    with flink_runner.LocalJobServer(jvm_heap="1g", kafka=True) as server:
        yield server
