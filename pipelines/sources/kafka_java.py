"""Kafka source through Beam's Java KafkaIO: the cross-language ``ReadFromKafka``, for batch runs.

``ReadKafkaWithJava`` gives the same :class:`pipelines.sources.SourceOutput` as
:class:`pipelines.sources.kafka.ReadKafkaMessages` (one :class:`schemas.raw.RawMessage` per
message, timestamped with its Kafka timestamp, and the ranges read per partition), so everything
downstream is the same. The reading itself runs in Java, in the runner's Java environment: on
Dataflow and on Flink clusters in Beam's Java SDK container, on a local embedded Flink inside the
job server (see :func:`expansion_service`). It needs a portable runner; the DirectRunner and
Prism cannot run it without Docker.

How a run reads:

1. When the transform is applied, the start offset and the end offset of every partition are
   planned exactly as for the kafka-python reader (:func:`pipelines.sources.kafka.planned_ranges`:
   ``committed``, ``earliest``, ``latest``, a timestamp or explicit offsets; ``max_records``).
2. The planned start offsets are committed to a reader group of their own, ``<group>.java-reader``,
   and KafkaIO reads with that group (``auto.offset.reset=none``), so it starts each partition at
   exactly its planned offset. The run's own group is only committed to after the output is
   durable, by the launcher.
3. KafkaIO reads as many messages as were planned in total (``max_num_records``), then stops.

Unlike the kafka-python reader, KafkaIO cannot stop each partition at its own end offset: on a
topic that is written to while the run reads, one partition may read past its snapshot while
another stops short of it (and with more than 10,000 planned messages, KafkaIO splits the read and
a split whose partitions run dry ends early). Every partition is still read as one contiguous
stretch from its planned start, so ``ranges`` records exactly what was read (from the planned start
to the last offset read) and the launcher commits those ends: the next run starts where this one
stopped, with no gap and no repeat.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions
from apache_beam.utils.timestamp import Timestamp

from pipelines import kafka_io
from pipelines.sources import SourceOutput
from pipelines.sources.kafka import (
    PartitionPlan, StartPosition, range_dict, planned_ranges)
from schemas import raw

_LOGGER = logging.getLogger(__name__)

READER_GROUP_SUFFIX = ".java-reader"


def reader_group(group: str) -> str:
    """The consumer group that KafkaIO reads with, for runs of ``group``."""
    return group + READER_GROUP_SUFFIX


class ReadKafkaWithJava(beam.PTransform):
    """Reads a Kafka topic with Beam's Java KafkaIO into :class:`schemas.raw.RawMessage` elements.

    Example::

        read = ReadKafkaWithJava("127.0.0.1:9092", "docs", expansion_service="localhost:8097")
        messages, ranges = pipeline | read

    Args:
        bootstrap: the brokers, ``"host:port[,host:port]"``.
        topic: the topic to read.
        group: the consumer group whose committed offsets ``start="committed"`` uses. Neither
            this transform nor KafkaIO commits to it.
        start: where each partition starts, see :func:`pipelines.sources.kafka.planned_ranges`.
            Explicit offsets must name every partition of the topic (KafkaIO reads them all).
        max_records: a cap on the messages read in total.
        consumer_config: extra kafka-python settings, for planning and for the reader group.
        java_consumer_config: extra Java consumer properties for KafkaIO
            (``{"security.protocol": "SSL", ...}``); the transform sets the servers, the group
            and the offset reset itself.
        expansion_service: ``"host:port"`` of a Java expansion service with KafkaIO; ``None``
            uses Beam's default (it fetches Beam's IO expansion service jar and declares Beam's
            Java SDK container as the environment).
    """

    def __init__(
            self,
            bootstrap: str,
            topic: str,
            *,
            group: str = "winnow",
            start: StartPosition = "committed",
            max_records: Optional[int] = None,
            consumer_config: Optional[Mapping[str, Any]] = None,
            java_consumer_config: Optional[Mapping[str, str]] = None,
            expansion_service: Optional[str] = None):
        super().__init__()
        self._bootstrap = bootstrap
        self._topic = topic
        self._group = group
        self._start = start
        self._max_records = max_records
        self._consumer_config = dict(consumer_config or {})
        self._java_consumer_config = {
            str(key): str(value) for key, value in (java_consumer_config or {}).items()}
        self._expansion_service = expansion_service
        self.plans: Optional[List[PartitionPlan]] = None

    def expand(self, pbegin):
        from apache_beam.io.kafka import ReadFromKafka  # pylint: disable=import-outside-toplevel
        self.plans = planned_ranges(
            self._bootstrap, self._topic, group=self._group, start=self._start, bounded=True,
            max_records=self._max_records, consumer_config=self._consumer_config)
        if isinstance(self._start, Mapping):
            missing = (set(range(kafka_io.partition_count(self._bootstrap, self._topic)))
                       - {plan.partition for plan in self.plans})
            if missing:
                raise ValueError(
                    f"reader beam-java reads every partition of {self._topic!r}, but start names "
                    f"no offset for partition(s) {sorted(missing)}")
        total = sum(plan.end_offset - plan.start_offset for plan in self.plans)
        _LOGGER.info("Kafka read plan for %s (Java KafkaIO, %d messages): %s",
                     self._topic, total, self.plans)
        if total == 0:
            messages = pbegin | "NothingToRead" >> beam.Create([])
        else:
            group = reader_group(self._group)
            kafka_io.commit_offsets(
                self._bootstrap, group,
                {(plan.topic, plan.partition): plan.start_offset for plan in self.plans})
            consumer_config = dict(self._java_consumer_config)
            consumer_config.update({
                "bootstrap.servers": self._bootstrap,
                "group.id": group,
                "auto.offset.reset": "none",
                "enable.auto.commit": "false",
            })
            messages = (
                pbegin
                | "KafkaIO" >> ReadFromKafka(
                    consumer_config=consumer_config, topics=[self._topic],
                    max_num_records=total, with_metadata=True,
                    timestamp_policy=ReadFromKafka.create_time_policy,
                    expansion_service=self._expansion_service)
                | "ToRawMessages" >> beam.Map(raw_message_from_row))
        plans = {plan.partition: plan for plan in self.plans}
        ranges = (
            messages
            | "KeyOffsets" >> beam.Map(lambda message: (message.partition, message.offset))
            | "SpanPerPartition" >> beam.CombinePerKey(OffsetSpan())
            | "Ranges" >> beam.MapTuple(lambda partition, span: range_read(plans[partition], span)))
        return SourceOutput(messages, ranges)


def raw_message_from_row(row) -> beam.window.TimestampedValue:
    """A KafkaIO record (a Beam Row: topic, partition, offset, timestamp, key, value, ...)."""
    has_timestamp = row.timestamp is not None and row.timestamp >= 0
    message = raw.RawMessage(
        source_kind=raw.KAFKA,
        source=row.topic,
        partition=int(row.partition),
        offset=int(row.offset),
        payload=None if row.value is None else bytes(row.value),
        key=None if row.key is None else bytes(row.key),
        timestamp_ms=int(row.timestamp) if has_timestamp else None,
    )
    if not has_timestamp:
        return message
    return beam.window.TimestampedValue(message, Timestamp(micros=int(row.timestamp) * 1000))


class OffsetSpan(beam.CombineFn):
    """(lowest offset, highest offset, count) of the offsets of one partition."""

    def create_accumulator(self) -> Tuple[Optional[int], Optional[int], int]:
        return None, None, 0

    def add_input(self, accumulator, offset: int):
        low, high, count = accumulator
        return (offset if low is None else min(low, offset),
                offset if high is None else max(high, offset), count + 1)

    def merge_accumulators(self, accumulators):
        low, high, count = None, None, 0
        for other_low, other_high, other_count in accumulators:
            if other_count:
                low = other_low if low is None else min(low, other_low)
                high = other_high if high is None else max(high, other_high)
                count += other_count
        return low, high, count

    def extract_output(self, accumulator):
        return accumulator


def range_read(plan: PartitionPlan, span: Tuple[int, int, int]) -> Dict[str, Any]:
    """The ``ranges`` dict of a partition: from its planned start to the last offset read."""
    low, high, count = span
    if low < plan.start_offset:
        raise RuntimeError(f"KafkaIO read offset {low} of {plan.topic}/{plan.partition}, before "
                           f"the planned start {plan.start_offset}")
    return range_dict(plan.topic, plan.partition, plan.start_offset, high + 1, count)


def runs_java_locally(options: PipelineOptions) -> bool:
    """Whether the Java part of a run would execute on this machine's embedded Flink.

    True for a local Flink (``--runner=FlinkRunner`` with no cluster master) and for any run whose
    Python workers are LOOPBACK (they live in this process, so the job server is a local one).
    """
    from pipelines import flink_runner  # pylint: disable=import-outside-toplevel
    if options.view_as(PortableOptions).environment_type == "LOOPBACK":
        return True
    return flink_runner.is_local_flink(options)


@contextlib.contextmanager
def expansion_service(configured: Optional[str],
                      options: PipelineOptions) -> Iterator[Optional[str]]:
    """The expansion service a run's ``ReadFromKafka`` uses, alive for the ``with`` block.

    ``configured`` wins. Otherwise a run on a local embedded Flink gets Winnow's own
    (:class:`pipelines.flink_runner.KafkaExpansionService`, which declares the EMBEDDED Java
    environment, so KafkaIO runs inside the job server and no Docker is needed); it is stopped
    when the block ends. Any other run gets ``None``: Beam's default expansion service, whose
    Java SDK container Dataflow and Flink clusters run.
    """
    if configured:
        yield configured
        return
    if not runs_java_locally(options):
        yield None
        return
    from pipelines import flink_runner  # pylint: disable=import-outside-toplevel
    mismatch = flink_runner.check_sdk_version()
    if mismatch:
        raise RuntimeError(f"reader beam-java: {mismatch}; the expansion request must match the "
                           "expansion service's Beam version")
    with flink_runner.KafkaExpansionService(jvm_heap="512m") as service:
        yield service.address
