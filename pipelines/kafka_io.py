"""Small Kafka helpers around kafka-python: create topics, load JSONL files, manage group offsets.

These run outside pipelines: in the launcher (committing the offsets of a finished run), in tools
that feed a topic from a file, and in tests.

Example::

    create_topic("127.0.0.1:9092", "docs", partitions=3)
    produce_jsonl("docs.jsonl", "127.0.0.1:9092", "docs")
    commit_offsets("127.0.0.1:9092", "winnow", {("docs", 0): 120, ("docs", 1): 118})
"""

from __future__ import annotations

import os
import time
from typing import Dict, Iterable, Iterator, Mapping, Optional, Tuple, Union

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka import errors as kafka_errors

PathLike = Union[str, os.PathLike]
PartitionKey = Tuple[str, int]

# How long admin and produce calls may take before they fail, in milliseconds.
REQUEST_TIMEOUT_MS = 30_000


def create_topic(
        bootstrap: str,
        topic: str,
        partitions: int = 1,
        *,
        replication_factor: int = 1,
        configs: Optional[Mapping[str, str]] = None) -> bool:
    """Creates a topic and waits until every partition has a leader.

    Args:
        bootstrap: the brokers, ``"host:port[,host:port]"``.
        topic: the topic name.
        partitions: the number of partitions.
        replication_factor: replicas per partition (1 on a single-node broker).
        configs: topic-level settings, e.g. ``{"cleanup.policy": "compact"}``.

    Returns:
        ``True`` if the topic was created, ``False`` if it already existed (it is left as it is).
    """
    admin = _admin(bootstrap)
    try:
        spec = {"num_partitions": partitions, "replication_factor": replication_factor}
        if configs:
            spec["configs"] = dict(configs)
        try:
            admin.create_topics(
                {topic: spec}, timeout_ms=REQUEST_TIMEOUT_MS, wait_for_metadata=True)
        except kafka_errors.TopicAlreadyExistsError:
            return False
        return True
    finally:
        admin.close()


def produce_jsonl(
        path: PathLike,
        bootstrap: str,
        topic: str,
        partitions: Optional[int] = None) -> int:
    """Sends every line of a JSONL file to a topic as one message, bytes as they are.

    Lines are not parsed: malformed JSON, invalid UTF-8 and any other bytes are sent unchanged,
    without the line ending (``\\n`` or ``\\r\\n``). Blank lines are skipped, as JSONL readers do.
    Messages carry no key and go round-robin over the partitions (line 1 to partition 0, line 2 to
    partition 1, ...), so data spreads evenly and the placement is reproducible.

    Args:
        path: the JSONL file.
        bootstrap: the brokers.
        topic: the topic; created with ``partitions`` partitions (or 1) if it does not exist.
        partitions: how many partitions to spread over (the first ``partitions`` of the topic);
            ``None`` means all of them.

    Returns:
        The number of messages sent. Every one is acknowledged when this returns.

    Raises:
        ValueError: the topic has fewer partitions than asked for.
        kafka.errors.KafkaError: a message could not be delivered.
    """
    available = partition_count(bootstrap, topic)
    if available == 0:
        create_topic(bootstrap, topic, partitions or 1)
        available = partition_count(bootstrap, topic)
    spread = partitions or available
    if spread > available:
        raise ValueError(f"topic {topic!r} has {available} partitions, fewer than {spread}")
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5,
        request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        pending = []
        sent = 0
        for payload in _jsonl_payloads(path):
            pending.append(producer.send(topic, value=payload, partition=sent % spread))
            sent += 1
            if len(pending) >= 10_000:
                _raise_failed_sends(producer, pending)
                pending = []
        _raise_failed_sends(producer, pending)
        return sent
    finally:
        producer.close()


def partition_count(bootstrap: str, topic: str) -> int:
    """The number of partitions of a topic; 0 if the topic does not exist (it is not created)."""
    admin = _admin(bootstrap)
    try:
        described = admin.describe_topics([topic])
    finally:
        admin.close()
    for description in described:
        if description["name"] != topic:
            continue
        error = kafka_errors.for_code(description["error_code"])
        if error is kafka_errors.UnknownTopicOrPartitionError:
            return 0
        if error is not kafka_errors.NoError:
            raise error(f"describing topic {topic!r}")
        return len(description["partitions"])
    return 0


def commit_offsets(
        bootstrap: str,
        group: str,
        offsets: Mapping[PartitionKey, int]) -> None:
    """Commits consumer-group offsets, e.g. the end offsets of a finished run.

    Each offset is the *next* offset to read (the exclusive end of what was processed), as in
    Kafka's own commits. The group must have no active members. Passing errors (the group
    coordinator is still loading, e.g. on a fresh broker) are retried for up to
    :data:`REQUEST_TIMEOUT_MS`.

    Args:
        bootstrap: the brokers.
        group: the consumer group id.
        offsets: ``{(topic, partition): next_offset}``.

    Raises:
        kafka.errors.KafkaError: the broker refused the commit for some partition.
    """
    if not offsets:
        return
    request = {
        TopicPartition(topic, partition): OffsetAndMetadata(int(offset), "", -1)
        for (topic, partition), offset in offsets.items()
    }
    deadline = time.monotonic() + REQUEST_TIMEOUT_MS / 1000
    admin = _admin(bootstrap)
    try:
        while True:
            try:
                results = admin.alter_group_offsets(group, request)
            except kafka_errors.RetriableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                continue
            failures = {
                partition: error for partition, error in results.items()
                if error is not kafka_errors.NoError
            }
            if not failures:
                return
            retriable = all(issubclass(error, kafka_errors.RetriableError)
                            for error in failures.values())
            if not retriable or time.monotonic() > deadline:
                details = {(partition.topic, partition.partition): error.__name__
                           for partition, error in failures.items()}
                raise kafka_errors.KafkaError(
                    f"committing offsets of group {group!r} failed: {details}")
            time.sleep(0.2)
    finally:
        admin.close()


def committed_offsets(bootstrap: str, group: str, topic: str) -> Dict[int, Optional[int]]:
    """The committed offset of a group for each partition of a topic (``None``: no commit)."""
    consumer = _consumer(bootstrap, group_id=group)
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        return {
            partition: consumer.committed(TopicPartition(topic, partition))
            for partition in partitions
        }
    finally:
        consumer.close(autocommit=False)


def _jsonl_payloads(path: PathLike) -> Iterator[bytes]:
    with open(path, "rb") as lines:
        for line in lines:
            payload = line[:-1] if line.endswith(b"\n") else line
            if payload.endswith(b"\r"):
                payload = payload[:-1]
            if payload.strip():
                yield payload


def _raise_failed_sends(producer: KafkaProducer, pending: Iterable) -> None:
    producer.flush(timeout=REQUEST_TIMEOUT_MS / 1000)
    for future in pending:
        future.get(timeout=REQUEST_TIMEOUT_MS / 1000)  # raises the delivery error, if any


def _admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS,
        client_id="winnow-admin")


def _consumer(bootstrap: str, group_id: Optional[str] = None) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False,
        allow_auto_create_topics=False, request_timeout_ms=REQUEST_TIMEOUT_MS,
        client_id="winnow-offsets")
