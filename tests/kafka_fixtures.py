"""Pytest fixtures with a real local Kafka broker (see :mod:`pipelines.local_kafka`).

Import the fixture where it is used (or in ``conftest.py``)::

    from tests.kafka_fixtures import kafka_broker  # noqa

The broker needs Java 17+, and Maven the first time (to fetch and cache Kafka's jars); tests that
use it are skipped with the reason when these are missing.
"""

import os
import shutil

import pytest

from pipelines import local_kafka


def _missing_tools() -> str:
    if shutil.which("java") is None:
        return "Java is not installed"
    cached = (local_kafka.jar_dir() / ".complete").exists()
    if not cached and shutil.which("mvn") is None:
        return "Kafka's jars are not cached and Maven is not installed to fetch them"
    return ""


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A single-node Kafka broker for the whole test session; yields its bootstrap address.

    The broker runs in a fresh temporary data directory and is stopped when the session ends,
    whether the tests passed, failed or were interrupted.
    """
    missing = _missing_tools()
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI must run the Kafka tests, but there is no local Kafka broker: {missing}")
    if missing:
        pytest.skip(f"no local Kafka broker: {missing}")
    data_dir = tmp_path_factory.mktemp("kafka")
    try:
        broker = local_kafka.start(data_dir)
        yield broker.bootstrap
    finally:
        local_kafka.stop(data_dir)
