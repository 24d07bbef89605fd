"""Kafka source: every partition of a topic read by a splittable DoFn built on kafka-python.

``ReadKafkaMessages`` is applied to a pipeline and returns a
:class:`pipelines.sources.SourceOutput`: ``messages`` holds one :class:`schemas.raw.RawMessage` per
Kafka message (tombstones included, with ``payload=None``), timestamped with the Kafka timestamp;
``ranges`` holds what was read per partition, shaped like :data:`schemas.lineage.SOURCE_RANGES`
without ``run_id``.

**Bounded** reads (batch jobs) are planned when the transform is applied: the start offset of each
partition is resolved (``committed``, ``earliest``, ``latest``, explicit offsets or a timestamp) and
its end offset is snapshotted. The job then reads exactly ``[start_offset, end_offset)`` of every
partition, whatever arrives meanwhile, so a retried bundle or a rerun of the same pipeline reads the
same messages, and the launcher knows before the job starts what it will commit. ``ranges`` has one
dict per partition, and ``messages_read + skipped == end_offset - start_offset`` always holds
(``skipped`` counts offsets that hold no message: transaction markers, compacted or expired ones).

**Unbounded** reads (``bounded=False``, for ``--streaming`` jobs) start at the resolved offsets and
follow each partition: when no new message is there, the DoFn defers the rest of the partition for
a moment, so the runner checkpoints it. Each partition's watermark trails the newest message
timestamp it has read by :data:`WATERMARK_MAX_DELAY_SECONDS`, and the wall clock by as much while
the partition is caught up (like Beam's Java KafkaIO with a limited-delay timestamp policy). A
partition's read ends after ``max_records`` offsets or after ``idle_timeout_s`` without new
messages, if these are set; otherwise it runs until the job is cancelled or drained. ``ranges`` then
has one dict per processed stretch of a partition (contiguous, in offset order), timestamped at the
partition's watermark.

The source never commits offsets: a launcher commits the ``end_offset`` of each partition once the
run's output is durable (:func:`offsets_to_commit`), so a failed run is read again.

Partitions are listed when the transform is applied: partitions added to the topic later are not
read by that job.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

import apache_beam as beam
from apache_beam.io.iobase import WatermarkEstimator
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp
from kafka import KafkaConsumer, TopicPartition

from pipelines.sources import SourceOutput
from schemas import raw

_LOGGER = logging.getLogger(__name__)

START_POSITIONS = ("committed", "earliest", "latest")
StartPosition = Union[str, int, Mapping[int, int]]

DEFAULT_POLL_TIMEOUT_MS = 500
# Bounded reads: a partition's range is split into pieces of at most this many offsets, so that
# several workers can read one large partition.
INITIAL_SPLIT_OFFSETS = 100_000
# Unbounded reads: how long one call keeps reading before it hands the rest back to the runner,
# how long an idle partition is deferred, and how far the watermark trails the newest message
# timestamp (or, when caught up, the wall clock): messages that reach Kafka later than this after
# their timestamp may arrive behind the watermark.
MAX_SECONDS_PER_CALL = 10.0
IDLE_DEFER_SECONDS = 1.0
WATERMARK_MAX_DELAY_SECONDS = 5.0
# Bounded reads fail when a partition makes no progress for this long (broker gone, log truncated).
STALL_TIMEOUT_SECONDS = 300.0
_MAX_POLL_RECORDS = 500
# The stop offset of an unbounded restriction.
_OPEN_END = sys.maxsize
_MAX_DELAY = Duration(seconds=WATERMARK_MAX_DELAY_SECONDS)
_CHUNKS_TAG = "chunks"


@dataclasses.dataclass(frozen=True)
class PartitionPlan:
    """What to read of one partition.

    Attributes:
        topic: the topic.
        partition: the partition number.
        start_offset: the first offset to read.
        end_offset: the offset to stop before (exclusive); ``None`` for an unbounded read with no
            ``max_records`` cap.
    """
    topic: str
    partition: int
    start_offset: int
    end_offset: Optional[int]

    @property
    def bounded(self) -> bool:
        return self.end_offset is not None


def planned_ranges(
        bootstrap: str,
        topic: str,
        *,
        group: str = "winnow",
        start: StartPosition = "committed",
        bounded: bool = True,
        max_records: Optional[int] = None,
        consumer_config: Optional[Mapping[str, Any]] = None) -> List[PartitionPlan]:
    """Resolves the start (and, for bounded reads, end) offset of every partition of a topic.

    Args:
        bootstrap: the brokers, ``"host:port[,host:port]"``.
        topic: the topic; it must exist.
        group: the consumer group whose committed offsets ``start="committed"`` uses.
        start: ``"committed"`` (the group's committed offset; the earliest offset where the group
            has none), ``"earliest"``, ``"latest"``, a timestamp in milliseconds since the epoch
            (the first offset whose timestamp is at or after it), or ``{partition: offset}`` (only
            the partitions named are read).
        bounded: whether to snapshot the end offsets now and read up to them.
        max_records: a cap on the offsets read. Bounded: in total, shared out over the partitions
            (each gets an even share of what it has, deterministically). Unbounded: per partition.
        consumer_config: extra kafka-python consumer settings (security, isolation level, ...).

    Returns:
        One :class:`PartitionPlan` per partition to read, in partition order.

    Raises:
        ValueError: the topic does not exist, ``start`` is not understood or names a partition the
            topic does not have, or a start offset lies past the partition's end (a committed
            offset past the end means the topic was recreated or truncated).
    """
    _check_start(start)
    if max_records is not None and max_records <= 0:
        raise ValueError(f"max_records must be positive, got {max_records}")
    consumer = _new_consumer(
        bootstrap, consumer_config, group_id=group if start == "committed" else None)
    try:
        known = consumer.partitions_for_topic(topic)
        if not known:
            raise ValueError(f"Kafka topic {topic!r} does not exist at {bootstrap}")
        if isinstance(start, Mapping):
            unknown = sorted(set(start) - set(known))
            if unknown:
                raise ValueError(f"topic {topic!r} has no partition(s) {unknown}")
            partitions = sorted(int(partition) for partition in start)
        else:
            partitions = sorted(known)
        tps = [TopicPartition(topic, partition) for partition in partitions]
        beginnings = consumer.beginning_offsets(tps)
        ends = consumer.end_offsets(tps)
        by_time = (consumer.offsets_for_times({tp: int(start) for tp in tps})
                   if _is_timestamp(start) else {})
        starts = {}
        for tp in tps:
            if start == "committed":
                committed = consumer.committed(tp)
                starts[tp] = beginnings[tp] if committed is None else committed
            elif start == "earliest":
                starts[tp] = beginnings[tp]
            elif start == "latest":
                starts[tp] = ends[tp]
            elif _is_timestamp(start):
                found = by_time.get(tp)
                starts[tp] = ends[tp] if found is None else found.offset
            else:
                starts[tp] = int(start[tp.partition])
            if not 0 <= starts[tp] <= ends[tp]:
                raise ValueError(
                    f"start offset {starts[tp]} of {topic}/{tp.partition} is outside [0, "
                    f"{ends[tp]}] (the partition's end); was the topic recreated or truncated?")
    finally:
        consumer.close(autocommit=False)

    if bounded:
        available = {tp.partition: ends[tp] - starts[tp] for tp in tps}
        caps = _share_out(available, max_records) if max_records is not None else available
        return [
            PartitionPlan(topic, tp.partition, starts[tp], starts[tp] + caps[tp.partition])
            for tp in tps
        ]
    return [
        PartitionPlan(
            topic, tp.partition, starts[tp],
            None if max_records is None else starts[tp] + max_records)
        for tp in tps
    ]


def offsets_to_commit(
        ranges: Iterable[Union[PartitionPlan, Mapping[str, Any]]]) -> Dict[Tuple[str, int], int]:
    """The offsets a launcher commits after a run: ``{(topic, partition): next_offset}``.

    Takes :class:`PartitionPlan` objects or ``ranges`` dicts (several per partition are fine:
    the largest end wins). Feed the result to :func:`pipelines.kafka_io.commit_offsets`.
    """
    offsets: Dict[Tuple[str, int], int] = {}
    for entry in ranges:
        if isinstance(entry, PartitionPlan):
            if entry.end_offset is None:
                raise ValueError(f"an open-ended plan has no offset to commit: {entry}")
            key, end = (entry.topic, entry.partition), entry.end_offset
        else:
            key, end = (entry["source"], int(entry["partition"])), int(entry["end_offset"])
        offsets[key] = max(end, offsets.get(key, end))
    return offsets


class ReadKafkaMessages(beam.PTransform):
    """Reads a Kafka topic into :class:`schemas.raw.RawMessage` elements.

    Example::

        read = ReadKafkaMessages("127.0.0.1:9092", "docs", group="winnow")
        messages, ranges = pipeline | read
        # after the run's output is durable:
        kafka_io.commit_offsets("127.0.0.1:9092", "winnow", offsets_to_commit(read.plans))

    The offsets are resolved (and, for bounded reads, the end offsets snapshotted) when the
    transform is applied; they are then available as :attr:`plans`.

    Args:
        bootstrap: the brokers, ``"host:port[,host:port]"``.
        topic: the topic to read.
        group: the consumer group whose committed offsets ``start="committed"`` uses. The source
            never commits.
        start: where each partition starts, see :func:`planned_ranges`.
        bounded: ``True`` reads up to the end offsets seen when applied, then finishes;
            ``False`` follows the topic (for ``--streaming``).
        max_records: a cap on the offsets read, see :func:`planned_ranges`.
        idle_timeout_s: unbounded reads: end a partition's read after this long without a new
            message. Bounded reads end by themselves and ignore it.
        poll_timeout_ms: how long one poll of the broker waits for messages.
        consumer_config: extra kafka-python consumer settings, e.g. ``{"isolation_level":
            "read_committed"}`` or security settings. The source sets the group, offsets and
            commit behaviour itself.
    """

    def __init__(
            self,
            bootstrap: str,
            topic: str,
            *,
            group: str = "winnow",
            start: StartPosition = "committed",
            bounded: bool = True,
            max_records: Optional[int] = None,
            idle_timeout_s: Optional[float] = None,
            poll_timeout_ms: int = DEFAULT_POLL_TIMEOUT_MS,
            consumer_config: Optional[Mapping[str, Any]] = None):
        super().__init__()
        _check_start(start)
        self._bootstrap = bootstrap
        self._topic = topic
        self._group = group
        self._start = start
        self._bounded = bounded
        self._max_records = max_records
        self._idle_timeout_s = idle_timeout_s
        self._poll_timeout_ms = poll_timeout_ms
        self._consumer_config = dict(consumer_config or {})
        self.plans: Optional[List[PartitionPlan]] = None

    def expand(self, pbegin):
        self.plans = planned_ranges(
            self._bootstrap, self._topic, group=self._group, start=self._start,
            bounded=self._bounded, max_records=self._max_records,
            consumer_config=self._consumer_config)
        _LOGGER.info("Kafka read plan for %s: %s", self._topic, self.plans)
        reader_class = _ReadPartitionFn if self._bounded else _FollowPartitionFn
        reader = reader_class(
            self._bootstrap, self._consumer_config, self._poll_timeout_ms, self._idle_timeout_s)
        plans = pbegin | "Plan" >> beam.Create(self.plans)
        read = (
            plans
            | "ReadPartitions" >> beam.ParDo(reader).with_outputs(_CHUNKS_TAG, main="messages"))
        chunks = read[_CHUNKS_TAG]
        if self._bounded:
            ranges = (
                {
                    "plan": plans | "KeyPlans" >> beam.Map(lambda plan: (plan.partition, plan)),
                    "chunks": chunks | "KeyChunks" >> beam.Map(
                        lambda chunk: (chunk["partition"], chunk)),
                }
                | "GroupByPartition" >> beam.CoGroupByKey()
                | "AccountPartitions" >> beam.MapTuple(_account_partition))
        else:
            ranges = chunks
        return SourceOutput(read.messages, ranges)


def _check_start(start: StartPosition) -> None:
    if isinstance(start, str):
        if start not in START_POSITIONS:
            raise ValueError(f"start must be one of {START_POSITIONS}, a timestamp in ms or "
                             f"{{partition: offset}}; got {start!r}")
    elif isinstance(start, Mapping):
        if not start:
            raise ValueError("start={} names no partition to read")
    elif not _is_timestamp(start):
        raise ValueError(f"start must be one of {START_POSITIONS}, a timestamp in ms or "
                         f"{{partition: offset}}; got {start!r}")


def _is_timestamp(start: StartPosition) -> bool:
    return isinstance(start, int) and not isinstance(start, bool)


def _share_out(available: Mapping[int, int], total: int) -> Dict[int, int]:
    """Splits ``total`` over partitions as evenly as their sizes allow (smallest served first)."""
    shares = {}
    remaining = total
    ordered = sorted(available.items(), key=lambda item: (item[1], item[0]))
    for index, (partition, size) in enumerate(ordered):
        fair_share = -(-remaining // (len(ordered) - index))  # ceiling division
        shares[partition] = min(size, fair_share)
        remaining -= shares[partition]
    return shares


def _account_partition(partition: int, grouped: Mapping[str, Iterable]) -> Dict[str, Any]:
    """One ``ranges`` dict per partition from its plan and the stretches the readers reported.

    Raises if the stretches do not tile the planned range exactly: every offset must be read or
    skipped exactly once.
    """
    (plan,) = list(grouped["plan"])
    chunks = sorted(grouped["chunks"], key=lambda chunk: chunk["start_offset"])
    position = plan.start_offset
    messages_read = 0
    for chunk in chunks:
        if chunk["start_offset"] != position:
            raise RuntimeError(
                f"Kafka read of {plan.topic}/{partition} is not contiguous: expected a stretch "
                f"starting at {position}, got {chunk}")
        position = chunk["end_offset"]
        messages_read += chunk["messages_read"]
    if position != plan.end_offset:
        raise RuntimeError(
            f"Kafka read of {plan.topic}/{partition} ended at {position}, planned "
            f"{plan.end_offset}")
    return range_dict(
        plan.topic, partition, plan.start_offset, plan.end_offset, messages_read)


def range_dict(
        topic: str, partition: int, start: int, end: int, messages_read: int) -> Dict[str, Any]:
    """One ``ranges`` entry: ``[start, end)`` of a partition, of which ``messages_read`` were
    messages (the other offsets hold none: transaction markers, compacted or expired ones)."""
    return {
        "source_kind": raw.KAFKA,
        "source": topic,
        "partition": partition,
        "start_offset": start,
        "end_offset": end,
        "messages_read": messages_read,
        "skipped": end - start - messages_read,
    }


def _new_consumer(
        bootstrap: str,
        consumer_config: Optional[Mapping[str, Any]],
        group_id: Optional[str] = None) -> KafkaConsumer:
    settings = {"client_id": "winnow-source", "request_timeout_ms": 30_000}
    settings.update(consumer_config or {})
    settings.update(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False,
        allow_auto_create_topics=False,
        # Offsets that no longer exist (expired, compacted away) are skipped, and accounted.
        auto_offset_reset="earliest")
    return KafkaConsumer(**settings)


class _OpenEndedOffsetTracker(OffsetRestrictionTracker):
    """An offset tracker for a range that grows as messages arrive: it only splits to checkpoint.

    A fractional split of ``[start, sys.maxsize)`` would hand a far-future offset range to another
    worker, so only checkpoints (``fraction_of_remainder == 0``) are allowed.
    """

    def try_split(self, fraction_of_remainder):
        if fraction_of_remainder != 0:
            return None
        return super().try_split(fraction_of_remainder)

    def is_bounded(self):
        return False


class _PartitionRestrictions(RestrictionProvider):
    """Restrictions are offset ranges of one partition: the plan's, or open-ended."""

    def initial_restriction(self, plan: PartitionPlan) -> OffsetRange:
        stop = plan.end_offset if plan.end_offset is not None else _OPEN_END
        return OffsetRange(plan.start_offset, stop)

    def split(self, plan: PartitionPlan, restriction: OffsetRange) -> Iterator[OffsetRange]:
        if restriction.stop == _OPEN_END or restriction.size() <= INITIAL_SPLIT_OFFSETS:
            yield restriction
            return
        yield from restriction.split(INITIAL_SPLIT_OFFSETS)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        if restriction.stop == _OPEN_END:
            return _OpenEndedOffsetTracker(restriction)
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, plan: PartitionPlan, restriction: OffsetRange) -> int:
        if restriction.stop == _OPEN_END:
            return 1  # unknown backlog: size says nothing useful about an open-ended range
        return restriction.size()

    def truncate(self, plan: PartitionPlan, restriction: OffsetRange) -> Optional[OffsetRange]:
        # On drain, an open-ended read stops; a capped one finishes its range.
        if restriction.stop == _OPEN_END:
            return None
        return restriction


class _PartitionWatermark(WatermarkEstimator):
    """The watermark of one partition's read, plus when the partition went idle.

    Both are kept in the estimator state, so they survive checkpoints: the idle time of a
    partition counts across deferrals.
    """

    def __init__(self, state: Optional[Tuple[int, Optional[float]]]):
        watermark_micros, idle_since = state if state is not None else (MIN_TIMESTAMP.micros, None)
        self._watermark = Timestamp(micros=watermark_micros)
        self._idle_since = idle_since

    def observe_timestamp(self, timestamp: Timestamp) -> None:
        pass  # advanced explicitly by the reader

    def current_watermark(self) -> Timestamp:
        return self._watermark

    def get_estimator_state(self) -> Tuple[int, Optional[float]]:
        return (self._watermark.micros, self._idle_since)

    def advance_to(self, timestamp: Timestamp) -> None:
        if timestamp > self._watermark:
            self._watermark = timestamp

    def mark_active(self) -> None:
        self._idle_since = None

    def idle_seconds(self, now: float) -> float:
        """Seconds since the partition went idle; the first call starts the idle clock."""
        if self._idle_since is None:
            self._idle_since = now
        return now - self._idle_since


class _PartitionWatermarks(WatermarkEstimatorProvider):

    def initial_estimator_state(self, plan, restriction):
        return None

    def create_watermark_estimator(self, estimator_state) -> _PartitionWatermark:
        return _PartitionWatermark(estimator_state)


_RESTRICTIONS = _PartitionRestrictions()
_WATERMARKS = _PartitionWatermarks()


class _ReadPartitionFn(beam.DoFn):
    """Reads the planned offset range of one partition (bounded reads)."""

    def __init__(
            self,
            bootstrap: str,
            consumer_config: Mapping[str, Any],
            poll_timeout_ms: int,
            idle_timeout_s: Optional[float]):
        self._bootstrap = bootstrap
        self._consumer_config = dict(consumer_config)
        self._poll_timeout_ms = poll_timeout_ms
        self._idle_timeout_s = idle_timeout_s
        self._consumer: Optional[KafkaConsumer] = None

    def setup(self):
        self._consumer = None

    def teardown(self):
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def process(self, plan, tracker=beam.DoFn.RestrictionParam(_RESTRICTIONS)):
        yield from self._read_range(plan, tracker)

    def _seek(self, plan: PartitionPlan, offset: int) -> TopicPartition:
        if self._consumer is None:
            self._consumer = _new_consumer(self._bootstrap, self._consumer_config)
        partition = TopicPartition(plan.topic, plan.partition)
        self._consumer.assign([partition])
        self._consumer.seek(partition, offset)
        return partition

    def _poll(self, partition: TopicPartition) -> list:
        batches = self._consumer.poll(
            timeout_ms=self._poll_timeout_ms, max_records=_MAX_POLL_RECORDS)
        return batches.get(partition, [])

    def _read_range(self, plan: PartitionPlan, tracker) -> Iterator:
        restriction = tracker.current_restriction()
        partition = self._seek(plan, restriction.start)
        messages_read = 0
        last_progress = time.monotonic()
        while True:
            stop = tracker.current_restriction().stop
            if self._consumer.position(partition) >= stop:
                # The rest of the range holds no message (markers, compacted or expired offsets).
                tracker.try_claim(stop)
                yield _finished_stretch(plan, tracker, messages_read)
                return
            records = self._poll(partition)
            for record in records:
                if record.offset < restriction.start:
                    continue
                if not tracker.try_claim(record.offset):
                    yield _finished_stretch(plan, tracker, messages_read)
                    return
                messages_read += 1
                yield _timestamped_message(record)
            if records:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > STALL_TIMEOUT_SECONDS:
                raise RuntimeError(
                    f"Kafka read of {plan.topic}/{plan.partition} made no progress for "
                    f"{STALL_TIMEOUT_SECONDS:.0f} s at offset "
                    f"{self._consumer.position(partition)} (range ends at {stop})")


class _FollowPartitionFn(_ReadPartitionFn):
    """Follows one partition as messages arrive (unbounded reads)."""

    @beam.DoFn.unbounded_per_element()
    def process(
            self,
            plan,
            tracker=beam.DoFn.RestrictionParam(_RESTRICTIONS),
            watermark=beam.DoFn.WatermarkEstimatorParam(_WATERMARKS)):
        yield from self._follow(plan, tracker, watermark)

    def _follow(self, plan: PartitionPlan, tracker, watermark) -> Iterator:
        restriction = tracker.current_restriction()
        partition = self._seek(plan, restriction.start)
        messages_read = 0
        next_offset = restriction.start
        newest = MIN_TIMESTAMP
        call_deadline = time.monotonic() + MAX_SECONDS_PER_CALL

        def stretch(end: int) -> Iterator:
            # Timestamped at the newest message or the watermark, so it is never late downstream.
            timestamp = max(newest, watermark.current_watermark())
            yield from _stretch(plan, restriction.start, end, messages_read, timestamp)

        while True:
            records = self._poll(partition)
            for record in records:
                if record.offset < restriction.start:
                    continue
                if not tracker.try_claim(record.offset):
                    # The runner split the range (a checkpoint): report the part that was read.
                    yield from stretch(tracker.current_restriction().stop)
                    return
                messages_read += 1
                next_offset = record.offset + 1
                watermark.mark_active()
                message = _timestamped_message(record)
                if message.timestamp > MIN_TIMESTAMP:
                    newest = max(newest, message.timestamp)
                    watermark.advance_to(message.timestamp - _MAX_DELAY)
                yield message
            position = self._consumer.position(partition)
            stop = tracker.current_restriction().stop
            if position >= stop:
                tracker.try_claim(stop)  # the max_records cap is reached
                yield from stretch(stop)
                return
            if records:
                if time.monotonic() < call_deadline:
                    continue
                # Hand the rest back to the runner now and then, so it can checkpoint.
                tracker.defer_remainder(Duration(seconds=0))
                yield from stretch(next_offset)
                return
            end = self._consumer.end_offsets([partition])[partition]
            if position < end:
                if time.monotonic() < call_deadline:
                    continue  # behind, but the poll came back empty: poll again
                tracker.defer_remainder(Duration(seconds=0))
                yield from stretch(next_offset)
                return
            # Caught up and idle.
            now = time.time()
            watermark.advance_to(Timestamp.of(now) - _MAX_DELAY)
            idle_seconds = watermark.idle_seconds(now)
            if self._idle_timeout_s is not None and idle_seconds >= self._idle_timeout_s:
                tracker.try_claim(stop)
                # Offsets past the last message (transaction markers) are accounted as skipped.
                yield from stretch(min(position, stop))
                return
            tracker.defer_remainder(Duration(seconds=IDLE_DEFER_SECONDS))
            yield from stretch(next_offset)
            return


def _timestamped_message(record) -> beam.window.TimestampedValue:
    """A consumer record as a RawMessage, timestamped with its Kafka timestamp (if it has one)."""
    has_timestamp = record.timestamp is not None and record.timestamp >= 0
    timestamp_ms = record.timestamp if has_timestamp else None
    message = raw.RawMessage(
        source_kind=raw.KAFKA,
        source=record.topic,
        partition=record.partition,
        offset=record.offset,
        payload=record.value,
        key=record.key,
        timestamp_ms=timestamp_ms,
    )
    timestamp = (Timestamp(micros=timestamp_ms * 1000) if timestamp_ms is not None
                 else MIN_TIMESTAMP)
    return beam.window.TimestampedValue(message, timestamp)


def _finished_stretch(plan: PartitionPlan, tracker, messages_read: int):
    """The ``chunks`` output of a finished bounded restriction: its whole (maybe split) range."""
    done = tracker.current_restriction()
    return beam.pvalue.TaggedOutput(
        _CHUNKS_TAG, range_dict(plan.topic, plan.partition, done.start, done.stop, messages_read))


def _stretch(
        plan: PartitionPlan,
        start: int,
        end: int,
        messages_read: int,
        timestamp: Timestamp) -> Iterator:
    """The ``chunks`` output for ``[start, end)`` of a partition; nothing if it is empty."""
    if end > start:
        stretch = range_dict(plan.topic, plan.partition, start, end, messages_read)
        yield beam.pvalue.TaggedOutput(
            _CHUNKS_TAG, beam.window.TimestampedValue(stretch, timestamp))
