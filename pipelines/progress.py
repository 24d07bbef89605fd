"""Live progress of a running pipeline, drawn from its Beam metrics.

While ``winnow run`` runs, :func:`run_pipeline` shows how many records were read, what every stage
did so far (kept, dropped, dead-lettered), the throughput, and -- for bounded input -- the share
done and an estimated time to completion. Everything comes from the Beam counters that the stages
already increment in the ``winnow`` namespace (:data:`transforms.stage.METRICS_NAMESPACE`):

====================================  ======================================================
counter                               incremented by
====================================  ======================================================
``ingest.read``                       every message the parser sees (:mod:`transforms.parse`)
``ingest.errored``                    every malformed message (dead-lettered)
``<stage>.passed`` / ``.modified``    a stage kept a document (unchanged / changed)
``<stage>.dropped``                   a stage dropped a document
``<stage>.errored``                   a stage dead-lettered a document
``sink.written``                      (when counted) a curated row written
====================================  ======================================================

A stage that counts nothing yet is shown with dashes.

**Where the counters come from while the job runs.** On a portable runner (Prism, Flink) or a
service (Dataflow), ``pipeline.run()`` returns at once and :func:`watch` polls the job service's
metrics (``result.metrics()``) until the job ends. Beam's local DirectRunner runs batch pipelines on
its in-process FnApiRunner, whose ``pipeline.run()`` returns only when everything is done, with the
metrics of finished bundles only. For that case :func:`run_pipeline` runs the pipeline on
:class:`LiveFnApiRunner` -- the same FnApiRunner, which also reads the counters of the bundles still
running (what Beam's own Fn API progress requests return) -- in a background thread, and polls it.

**Share done and ETA** need the size of the input, which :class:`ProgressPlan` finds before the job
starts: for a bounded Kafka read, the offsets planned (``ReadKafkaMessages.plans``; an upper bound,
since compacted topics have gaps); for files, the Parquet footers' row counts and a sample of the
JSONL files (:mod:`pipelines.input_size`; shown with ``~`` when estimated). "Done" counts records that reached their end: dead-lettered at ingest, dropped or
dead-lettered by a stage, or kept by the last stage. In a Beam batch job whole stages finish at
once after a shuffle (deduplication groups everything first), so the ETA is a rough guide; when
none can be given the display says what the job is busy with (reading, processing, writing).

**Display.** On a terminal, a table redrawn a few times a second (with ``rich``); otherwise (a log
file, CI) one plain line every :data:`PLAIN_INTERVAL_S` seconds; nothing with ``quiet``. The
final counts are printed once more when the job ends.

Example (what the launcher does instead of ``pipeline.run().wait_until_finish()``)::

    result = progress.run_pipeline(pipeline, quiet=quiet)
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import sys
import threading
import time
from typing import IO, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.internal.util import ArgumentPlaceholder
from apache_beam.metrics import monitoring_infos
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.pipeline import PipelineVisitor
from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.runner import PipelineResult, PipelineState
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms import userstate
from apache_beam.transforms.core import CombineValuesDoFn
from apache_beam.transforms.timeutil import TimeDomain

from pipelines.input_size import InputSize, estimate_file_records
from transforms.stage import METRICS_NAMESPACE, Stage

_LOG = logging.getLogger(__name__)

# Counter names (without the "<stage>." prefix) that the stage contract increments.
PASSED, MODIFIED, DROPPED, ERRORED = "passed", "modified", "dropped", "errored"
INGEST_READ = "ingest.read"
INGEST_ERRORED = "ingest.errored"
SINK_WRITTEN = "sink.written"

# How often metrics are polled, the terminal redrawn, and plain lines printed.
POLL_INTERVAL_S = 0.5
PLAIN_INTERVAL_S = 5.0
# Throughput and ETA are measured over this much recent time.
RATE_WINDOW_S = 10.0


# -- what to expect: stages and input size ---------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ProgressPlan:
    """The stages to show, in pipeline order, and the input's size when it is bounded."""
    stages: Tuple[str, ...] = ()
    input_size: Optional[InputSize] = None

    @classmethod
    def from_pipeline(cls, pipeline: beam.Pipeline, estimate_size: bool = True) -> "ProgressPlan":
        """Finds the stages and the sources in a constructed (not yet run) pipeline."""
        finder = _PlanFinder()
        pipeline.visit(finder)
        stages = tuple(name for _, name in sorted(set(finder.stages)))
        size = None
        if estimate_size:
            try:
                size = _input_size(finder)
            except Exception:  # pylint: disable=broad-except
                # A size estimate is a nicety: an unreadable footer must never stop a run.
                _LOG.debug("could not estimate the input size", exc_info=True)
        return cls(stages, size)


class _PlanFinder(PipelineVisitor):
    """Collects the stages (name, seq) and the source transforms of a pipeline."""

    def __init__(self):
        self.stages: List[Tuple[int, str]] = []
        self.kafka_plans: List = []
        self.kafka_unbounded = False
        self.file_patterns: List[str] = []

    def enter_composite_transform(self, transform_node):
        self._look_at(transform_node.transform)

    def visit_transform(self, transform_node):
        self._look_at(transform_node.transform)

    def _look_at(self, transform):
        if isinstance(transform, Stage):
            self.stages.append((transform.seq, transform.name))
            return
        plans = getattr(transform, "plans", None)
        if plans is not None and type(transform).__name__ == "ReadKafkaMessages":
            for plan in plans:
                if plan.end_offset is None:
                    self.kafka_unbounded = True
                else:
                    self.kafka_plans.append(plan)
            return
        if type(transform).__name__ == "ReadDocumentFiles":
            patterns = transform.patterns
            self.file_patterns.extend(patterns)


def _input_size(finder: _PlanFinder) -> Optional[InputSize]:
    if finder.kafka_unbounded:
        return None
    if finder.kafka_plans:
        return InputSize(sum(max(0, plan.end_offset - plan.start_offset)
                             for plan in finder.kafka_plans), True, "Kafka offsets planned")
    if finder.file_patterns:
        return estimate_file_records(finder.file_patterns)
    return None


# -- counters --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class StageCounts:
    """What one stage did so far; ``counted`` is false for a stage that reports no counters."""
    passed: int = 0
    modified: int = 0
    dropped: int = 0
    errored: int = 0
    counted: bool = False

    @property
    def kept(self) -> int:
        return self.passed + self.modified

    @property
    def processed(self) -> int:
        return self.passed + self.modified + self.dropped + self.errored


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The ``winnow`` counters at one moment, ``elapsed_s`` seconds after the start."""
    elapsed_s: float
    counters: Mapping[str, int]

    @property
    def read(self) -> int:
        return self.counters.get(INGEST_READ, 0)

    @property
    def ingest_errored(self) -> int:
        return self.counters.get(INGEST_ERRORED, 0)

    def stage(self, name: str) -> StageCounts:
        values = {action: self.counters.get(f"{name}.{action}")
                  for action in (PASSED, MODIFIED, DROPPED, ERRORED)}
        counted = any(value is not None for value in values.values())
        return StageCounts(**{action: value or 0 for action, value in values.items()},
                           counted=counted)

    def finished(self, stages: Sequence[str]) -> int:
        """Records that reached their end: dead-lettered at ingest, removed by a stage, or kept
        by the last stage (or written, where the sink counts its rows).

        A stage that counts nothing is missed: its removals, or, as the last stage, everything.
        """
        done = self.ingest_errored
        for name in stages:
            counts = self.stage(name)
            done += counts.dropped + counts.errored
        if SINK_WRITTEN in self.counters:
            return done + self.counters[SINK_WRITTEN]
        if not stages:
            return self.read
        return done + self.stage(stages[-1]).kept


def counters_of(metric_results) -> Dict[str, int]:
    """The ``winnow`` counters of a ``result.metrics()``, summed over steps.

    Takes the larger of the attempted and committed values: runners report attempted values
    while the job runs, and some report only committed ones (or stale attempted ones) at the end.
    """
    totals: Dict[str, int] = {}
    query = metric_results.query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    for counter in query["counters"]:
        value = max(counter.attempted or 0, counter.committed or 0)
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + int(value or 0)
    return totals


def _winnow_counters_only(infos) -> List:
    """The monitoring infos of user counters in the ``winnow`` namespace."""
    return [info for info in infos
            if info.urn == monitoring_infos.USER_COUNTER_URN
            and monitoring_infos.parse_namespace_and_name(info)[0] == METRICS_NAMESPACE]


def _counters_of_monitoring_infos(infos) -> Dict[str, int]:
    totals: Dict[str, int] = {}
    for info in monitoring_infos.consolidate(_winnow_counters_only(infos)):
        _, name = monitoring_infos.parse_namespace_and_name(info)
        totals[name] = totals.get(name, 0) + monitoring_infos.extract_counter_value(info)
    return totals


# -- live counters of the in-process runner --------------------------------------------------

class LiveFnApiRunner(fn_runner.FnApiRunner):
    """Beam's in-process FnApiRunner whose counters can be read while it runs.

    The FnApiRunner keeps the metrics of each finished bundle; this subclass also keeps them where
    another thread can read them (:meth:`counters`), adding the counters of bundles still running,
    which it asks the in-process SDK workers for exactly as Beam's Fn API progress requests do.
    A batch stage is often a single bundle, so without the running ones the counts would only move
    when whole stages finish. With workers in other processes (``--direct_running_mode
    multi_processing``) only finished bundles are counted.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._finished_infos: List = []
        self._handler_managers: List = []

    def _execute_bundle(self, *args, **kwargs):
        # (runner_execution_context, bundle_context_manager, bundle_input) in Beam 2.62. Read
        # defensively: if a Beam release changes them, progress loses its live counts, never
        # the run.
        context = args[0] if args else kwargs.get("runner_execution_context")
        manager = getattr(context, "worker_handler_manager", None)
        if manager is not None:
            with self._lock:
                if not any(manager is known for known in self._handler_managers):
                    self._handler_managers.append(manager)
        response = super()._execute_bundle(*args, **kwargs)
        try:
            finished = _winnow_counters_only(response.process_bundle.monitoring_infos)
        except AttributeError:
            finished = []
        with self._lock:
            self._finished_infos = list(monitoring_infos.consolidate(
                self._finished_infos + finished))
        return response

    def counters(self) -> Dict[str, int]:
        """The ``winnow`` counters of finished and running bundles."""
        with self._lock:
            infos = list(self._finished_infos)
            managers = list(self._handler_managers)
        for manager in managers:
            infos.extend(_running_bundle_infos(manager))
        return _counters_of_monitoring_infos(infos)


def _running_bundle_infos(handler_manager) -> List:
    """Monitoring infos of the bundles running in a worker handler manager's in-process workers."""
    infos: List = []
    try:
        handler_lists = list(getattr(handler_manager, "_cached_handlers", {}).values())
    except RuntimeError:  # the dict changed while being copied: skip this poll
        return infos
    for handlers in handler_lists:
        for handler in list(handlers):
            cache = getattr(handler, "bundle_processor_cache", None)
            if cache is None:
                continue
            for instruction_id in list(cache.active_bundle_processors):
                try:
                    processor = cache.lookup(instruction_id)
                    if processor is not None:
                        infos.extend(processor.monitoring_infos())
                except Exception:  # pylint: disable=broad-except
                    # The bundle finished (or failed) while being read: the next poll sees it
                    # among the finished ones.
                    continue
    return infos


def runs_in_process(pipeline: beam.Pipeline) -> bool:
    """Whether Beam's DirectRunner would run ``pipeline`` on its in-process FnApiRunner: a batch
    pipeline that passes the DirectRunner's own test (see :class:`_FnApiSupport`)."""
    if not isinstance(pipeline.runner, SwitchingDirectRunner):
        return False
    if pipeline.options.view_as(StandardOptions).streaming:
        return False
    checker = _FnApiSupport()
    pipeline.visit(checker)
    return checker.supported


class _FnApiSupport(PipelineVisitor):
    """The DirectRunner's own test of what its FnApiRunner can run (Beam 2.62's
    ``SwitchingDirectRunner``): no Pub/Sub, TestStream, real-time timers, or combining with
    deferred side inputs."""

    def __init__(self):
        self.supported = True

    def enter_composite_transform(self, transform_node):
        if type(transform_node.transform).__name__ in ("ReadFromPubSub", "WriteToPubSub"):
            self.supported = False

    def visit_transform(self, transform_node):
        transform = transform_node.transform
        if isinstance(transform, TestStream):
            self.supported = False
        if not isinstance(transform, beam.ParDo):
            return
        dofn = transform.dofn
        if isinstance(dofn, CombineValuesDoFn):
            args, kwargs = transform.raw_side_inputs
            if any(isinstance(arg, ArgumentPlaceholder)
                   for arg in itertools.chain(args, kwargs.values())):
                self.supported = False
        if userstate.is_stateful_dofn(dofn):
            _, timers = userstate.get_dofn_specs(dofn)
            if any(timer.time_domain == TimeDomain.REAL_TIME for timer in timers):
                self.supported = False


def _live_runner_for(pipeline: beam.Pipeline) -> LiveFnApiRunner:
    """A LiveFnApiRunner set up as the DirectRunner sets up its FnApiRunner."""
    # pylint: disable=import-outside-toplevel
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.portable_runner import JobServiceHandle
    encoded = JobServiceHandle.encode_pipeline_options(pipeline.options.get_all_options())
    return LiveFnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


# -- drawing ---------------------------------------------------------------------------------

def _number(value: Optional[int]) -> str:
    return "-" if value is None else f"{value:,}"


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _rate(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}/s" if value >= 10 else f"{value:,.1f}/s"


class _Rates:
    """Per-second rates of a few counts over the last RATE_WINDOW_S seconds."""

    def __init__(self, window_s: float = RATE_WINDOW_S):
        self._window_s = window_s
        self._history: Deque[Tuple[float, Dict[str, int]]] = collections.deque()

    def add(self, elapsed_s: float, counts: Dict[str, int]) -> None:
        self._history.append((elapsed_s, counts))
        while len(self._history) > 2 and elapsed_s - self._history[1][0] >= self._window_s:
            self._history.popleft()

    def moving(self, key: str, within_s: float = 2.0) -> bool:
        """Whether the count changed during the last ``within_s`` seconds."""
        if len(self._history) < 2:
            return False
        end, last = self._history[-1]
        for elapsed_s, counts in reversed(self._history):
            if end - elapsed_s >= within_s:
                return counts.get(key, 0) != last.get(key, 0)
        return self._history[0][1].get(key, 0) != last.get(key, 0)

    def rate(self, key: str) -> Optional[float]:
        if len(self._history) < 2:
            return None
        (start, first), (end, last) = self._history[0], self._history[-1]
        if end - start <= 0:
            return None
        return max(0, last.get(key, 0) - first.get(key, 0)) / (end - start)


class RunProgress:
    """Shows a run's progress: a live table on a terminal, plain lines elsewhere, or nothing.

    Feed it :class:`Snapshot` values with :meth:`update` and end with :meth:`finish`; use it as a
    context manager so a terminal display is always closed.

    Args:
      plan: the stages to show and the input size (for the share done and the ETA).
      quiet: show nothing.
      stream: where to write (default: standard output).
      plain_interval_s: seconds between plain lines when ``stream`` is not a terminal.
      terminal: force (True) or forbid (False) the redrawn table; default: ``stream.isatty()``.
      title: shown above the table and at the start of plain lines.
    """

    def __init__(self, plan: ProgressPlan, *, quiet: bool = False, stream: Optional[IO] = None,
                 plain_interval_s: float = PLAIN_INTERVAL_S, terminal: Optional[bool] = None,
                 title: str = "winnow"):
        self.plan = plan
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stdout
        self.plain_interval_s = plain_interval_s
        if terminal is None:
            isatty = getattr(self.stream, "isatty", None)
            terminal = bool(isatty and isatty())
        self.terminal = terminal
        self.title = title
        self._rates = _Rates()
        self._last: Optional[Snapshot] = None
        self._peak: Dict[str, int] = {}
        self._last_plain_s: Optional[float] = None
        self._live = None
        self._swapped_handlers: List[Tuple[logging.StreamHandler, IO]] = []

    # context management: the terminal display
    def __enter__(self) -> "RunProgress":
        if self.quiet or not self.terminal:
            return self
        # pylint: disable=import-outside-toplevel
        from rich.console import Console
        from rich.live import Live
        console = Console(file=self.stream, force_terminal=True)
        self._live = Live(console=console, refresh_per_second=4, transient=False,
                          redirect_stdout=True, redirect_stderr=True)
        self._live.start()
        self._route_log_handlers_through_display()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop_live()

    def _route_log_handlers_through_display(self) -> None:
        """Log lines written while the table is drawn go above it instead of through it."""
        for handler in logging.getLogger().handlers:
            if (isinstance(handler, logging.StreamHandler)
                    and handler.stream in (sys.__stderr__, sys.__stdout__)):
                target = sys.stderr if handler.stream is sys.__stderr__ else sys.stdout
                self._swapped_handlers.append((handler, handler.setStream(target)))

    def _stop_live(self) -> None:
        if self._live is None:
            return
        for handler, stream in self._swapped_handlers:
            handler.setStream(stream)
        self._swapped_handlers.clear()
        self._live.stop()
        self._live = None

    def update(self, snapshot: Snapshot) -> None:
        """Records a new reading and redraws (terminal) or prints a line when one is due."""
        # Counters never go back; a reading taken while a bundle hands over its counts can
        # briefly miss them, so each counter shows the highest value seen.
        for name, value in snapshot.counters.items():
            self._peak[name] = max(value, self._peak.get(name, 0))
        snapshot = Snapshot(snapshot.elapsed_s, dict(self._peak))
        self._last = snapshot
        rate_counts = {"read": snapshot.read, "done": snapshot.finished(self.plan.stages)}
        for name in self.plan.stages:
            rate_counts[name] = snapshot.stage(name).processed
        self._rates.add(snapshot.elapsed_s, rate_counts)
        if self.quiet:
            return
        if self._live is not None:
            self._live.update(self._table(snapshot))
        elif (self._last_plain_s is None
              or snapshot.elapsed_s - self._last_plain_s >= self.plain_interval_s):
            self._last_plain_s = snapshot.elapsed_s
            self._write(self.plain_line(snapshot))

    def finish(self, snapshot: Optional[Snapshot], state: str) -> None:
        """Shows the final counts once and closes the display."""
        if snapshot is not None:
            for name, value in snapshot.counters.items():
                self._peak[name] = max(value, self._peak.get(name, 0))
            snapshot = Snapshot(snapshot.elapsed_s, dict(self._peak))
            self._last = snapshot
        if self.quiet:
            return
        if self._live is not None:
            if snapshot is not None:
                self._live.update(self._table(snapshot, state=state))
            self._stop_live()
        elif snapshot is not None:
            self._write(self.plain_line(snapshot, state=state))

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    # what is shown
    def share_done(self, snapshot: Snapshot) -> Optional[float]:
        """Records at their end / input size, or None for input of unknown size."""
        size = self.plan.input_size
        if size is None or size.records <= 0:
            return None
        return min(1.0, snapshot.finished(self.plan.stages) / size.records)

    def eta_s(self, snapshot: Snapshot) -> Optional[float]:
        """Seconds left at the recent rate of records reaching their end, if it is known."""
        size = self.plan.input_size
        rate = self._rates.rate("done")
        if size is None or not rate:
            return None
        return max(0.0, size.records - snapshot.finished(self.plan.stages)) / rate

    def phase(self, snapshot: Snapshot) -> str:
        """What the job is busy with, as far as the counters tell: ``starting``, ``reading``,
        ``processing`` (stages behind a shuffle) or ``writing`` (every record is through the
        stages; the output and lineage are being written)."""
        if snapshot.read == 0:
            return "starting"
        if self._rates.moving("read"):
            return "reading"
        last = self.plan.stages[-1] if self.plan.stages else None
        through = last is None or snapshot.stage(last).processed > 0
        if through and not self._rates.moving("done"):
            return "writing"
        return "processing"

    def _status_text(self, snapshot: Snapshot, state: Optional[str]) -> str:
        """``12.3% done, ETA 0:37`` (or the phase when no ETA can be given)."""
        if state is not None:
            return ""  # at the end the counts say it all
        share = self.share_done(snapshot)
        parts = []
        if share is not None:
            parts.append(f"{100 * share:.1f}% done")
        eta = self.eta_s(snapshot)
        phase = self.phase(snapshot)
        if share is not None and eta is not None and phase != "writing":
            parts.append(f"ETA {_duration(eta)}")
        else:
            parts.append(phase)
        return ", ".join(parts)

    def _total_text(self) -> str:
        size = self.plan.input_size
        if size is None:
            return ""
        return f" of {'' if size.exact else '~'}{size.records:,}"

    def plain_line(self, snapshot: Snapshot, state: Optional[str] = None) -> str:
        """One line with every number: for logs and non-terminal output."""
        parts = [f"[{_duration(snapshot.elapsed_s)}]"]
        if state is not None:
            parts.append(state.lower())
        head = f"read {_number(snapshot.read)}{self._total_text()}"
        if state is None:
            head += f" ({_rate(self._rates.rate('read'))})"
        elif snapshot.elapsed_s > 0:
            head += f" ({_rate(snapshot.read / snapshot.elapsed_s)} on average)"
        status = self._status_text(snapshot, state)
        if status:
            head += f", {status}"
        if snapshot.ingest_errored:
            head += f", {snapshot.ingest_errored:,} malformed"
        parts.append(head)
        for name in self.plan.stages:
            counts = snapshot.stage(name)
            if not counts.counted:
                parts.append(f"| {name} -")
                continue
            parts.append(f"| {name} {counts.kept:,} kept {counts.dropped:,} dropped "
                         f"{counts.errored:,} dead")
        if SINK_WRITTEN in snapshot.counters:
            parts.append(f"| written {snapshot.counters[SINK_WRITTEN]:,}")
        return " ".join(parts)

    def _table(self, snapshot: Snapshot, state: Optional[str] = None):
        # pylint: disable=import-outside-toplevel
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text
        share = self.share_done(snapshot)
        header = Text()
        header.append(f"{self.title}  ", style="bold")
        header.append(state.lower() if state else "running", style="bold green" if (
            state in (None, PipelineState.DONE)) else "bold red")
        header.append(f"  {_duration(snapshot.elapsed_s)}")
        line = Text(f"read {_number(snapshot.read)}{self._total_text()} records")
        if state is None:
            line.append(f"  {_rate(self._rates.rate('read'))}")
        status = self._status_text(snapshot, state)
        if status:
            line.append(f"  {status}")
        parts = [header, line]
        if share is not None and state is None:
            parts.append(ProgressBar(total=1.0, completed=share, width=60))
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("stage", "in", "kept", "dropped", "dead-lettered", "rate"):
            table.add_column(column, justify="left" if column == "stage" else "right")

        def rate(key: str, count: int) -> str:
            # While running: the recent rate; at the end: the average over the whole run.
            if state is None:
                return _rate(self._rates.rate(key))
            return _rate(count / snapshot.elapsed_s if snapshot.elapsed_s > 0 else None)

        table.add_row("ingest", _number(snapshot.read),
                      _number(snapshot.read - snapshot.ingest_errored), "-",
                      _number(snapshot.ingest_errored), rate("read", snapshot.read))
        for name in self.plan.stages:
            counts = snapshot.stage(name)
            if counts.counted:
                table.add_row(name, _number(counts.processed), _number(counts.kept),
                              _number(counts.dropped), _number(counts.errored),
                              rate(name, counts.processed))
            else:
                table.add_row(name, "-", "-", "-", "-", "-", style="dim")
        if SINK_WRITTEN in snapshot.counters:
            table.add_row("written", "", _number(snapshot.counters[SINK_WRITTEN]), "", "", "")
        parts.append(table)
        return Group(*parts)


# -- running and watching --------------------------------------------------------------------

def watch(result: PipelineResult, plan: ProgressPlan = ProgressPlan(), *, quiet: bool = False,
          stream: Optional[IO] = None, poll_interval_s: float = POLL_INTERVAL_S,
          plain_interval_s: float = PLAIN_INTERVAL_S, terminal: Optional[bool] = None,
          title: str = "winnow") -> str:
    """Shows the progress of a job that is running (a portable runner's or a service's result)
    until it ends, then waits for it as ``wait_until_finish`` does (raising if it failed).

    Returns the final state. Ctrl-C cancels the job.
    """
    started = time.monotonic()
    with RunProgress(plan, quiet=quiet, stream=stream, plain_interval_s=plain_interval_s,
                     terminal=terminal, title=title) as display:
        snapshot = None
        try:
            while not PipelineState.is_terminal(result.state):
                snapshot = Snapshot(time.monotonic() - started, _poll_result(result))
                display.update(snapshot)
                time.sleep(poll_interval_s)
        except KeyboardInterrupt:
            display.finish(snapshot, PipelineState.CANCELLED)
            try:
                result.cancel()
            except Exception:  # pylint: disable=broad-except
                _LOG.warning("could not cancel the job", exc_info=True)
            raise
        try:
            state = result.wait_until_finish()
        finally:
            final = Snapshot(time.monotonic() - started, _poll_result(result))
            display.finish(final, str(result.state))
    return state


def _poll_result(result: PipelineResult) -> Dict[str, int]:
    # The portable runner's result keeps the first answer of the job service; forget it so every
    # poll asks again.
    if hasattr(result, "_metrics"):
        result._metrics = None  # pylint: disable=protected-access
    try:
        return counters_of(result.metrics())
    except Exception:  # pylint: disable=broad-except
        # Some runners answer only once the job is done; progress then shows no counts.
        _LOG.debug("metrics not available yet", exc_info=True)
        return {}


def run_pipeline(pipeline: beam.Pipeline, *, quiet: bool = False, stream: Optional[IO] = None,
                 poll_interval_s: float = POLL_INTERVAL_S,
                 plain_interval_s: float = PLAIN_INTERVAL_S, terminal: Optional[bool] = None,
                 title: str = "winnow") -> PipelineResult:
    """Runs ``pipeline`` to completion, showing its progress (nothing when ``quiet``).

    A drop-in for ``pipeline.run().wait_until_finish()`` that returns the finished result and
    raises what the pipeline raised. On Beam's DirectRunner a batch pipeline runs on
    :class:`LiveFnApiRunner` in a background thread; any other runner is watched through its
    result's metrics (:func:`watch`).
    """
    if quiet:
        result = pipeline.run()
        result.wait_until_finish()
        return result
    plan = ProgressPlan.from_pipeline(pipeline)
    options = dict(quiet=quiet, stream=stream, plain_interval_s=plain_interval_s,
                   terminal=terminal, title=title)
    if not runs_in_process(pipeline):
        result = pipeline.run()
        watch(result, plan, poll_interval_s=poll_interval_s, **options)
        return result
    return _run_in_process(pipeline, plan, poll_interval_s, options)


def _run_in_process(pipeline: beam.Pipeline, plan: ProgressPlan, poll_interval_s: float,
                    options: dict) -> PipelineResult:
    runner = _live_runner_for(pipeline)
    pipeline.runner = runner
    outcome: Dict[str, object] = {}

    def run_it():
        try:
            outcome["result"] = pipeline.run()
        except BaseException as error:  # pylint: disable=broad-except
            outcome["error"] = error

    # A daemon thread: if the user interrupts the run, the process can still exit.
    worker = threading.Thread(target=run_it, name="winnow-pipeline", daemon=True)
    started = time.monotonic()
    with RunProgress(plan, **options) as display:
        worker.start()
        snapshot = None
        try:
            while worker.is_alive():
                snapshot = Snapshot(time.monotonic() - started, runner.counters())
                display.update(snapshot)
                worker.join(poll_interval_s)
        except KeyboardInterrupt:
            display.finish(snapshot, PipelineState.CANCELLED)
            raise
        error = outcome.get("error")
        result = outcome.get("result")
        if error is None and result is not None:
            final = counters_of(result.metrics())
        else:
            final = runner.counters()
        display.finish(Snapshot(time.monotonic() - started, final),
                       PipelineState.FAILED if error is not None else PipelineState.DONE)
    if error is not None:
        raise error
    return result
