"""Throughput of the heuristic ``quality`` stage (target: at least 1 MB/s per core).

Run from the repository root::

    python -m tests.benchmarks.bench_quality [--mb 8] [--datatrove-python PATH]

The corpus is the labelled evaluation set (``tests/eval/data/quality_labelled.jsonl``: web-like
junk, prose and reference documentation, 0.1-5 KB per document) repeated up to ``--mb`` megabytes
of UTF-8. Everything runs in one process on one core. Rows:

- ``normalize_text`` (baseline): the ``normalize`` stage's single pass over the text;
- ``measure``: all quality signals of :mod:`transforms.text_stats`;
- ``QualityProcessor``: signals + rules + verdict, what the stage does per document;
- ``plain-Python signals``: the same n-gram signals computed the straightforward way (a Counter of
  word tuples per n-gram size), to show what the vectorised version saves;
- ``QualitySignals on DirectRunner``: the whole stage in a Beam pipeline (one worker), including
  Beam's per-element overhead, against a pipeline that only counts its input;
- ``DataTrove Gopher+C4+FineWeb`` (with ``--datatrove-python``): DataTrove's four filters on the
  same documents, in its own virtualenv.

The machine may be shared, so absolute numbers are noisy; the ratios to the baseline are steadier.
"""

# Imports are inside functions: parts of this script run in another virtualenv, or only when
# their row is measured.
# pylint: disable=import-outside-toplevel,import-error

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "tests", "eval", "data", "quality_labelled.jsonl")


def corpus(megabytes: float):
    with open(DATA, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if line.strip()]
    documents, size = [], 0
    while size < megabytes * 1e6:
        for text in texts:
            documents.append(text)
            size += len(text.encode("utf-8"))
    return documents, size


class Clock:
    """Wall time and this process's CPU time (the CPU time is what one core delivers even when
    other jobs compete for the cores)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def timed(function, documents, repeats: int = 2):
    """(wall, CPU) seconds of the fastest of ``repeats`` runs of function over every document."""
    best = None
    for _ in range(repeats):
        with Clock() as clock:
            for text in documents:
                function(text)
        if best is None or clock.cpu < best[1]:
            best = (clock.wall, clock.cpu)
    return best


def plain_ngram_signals(text: str):
    """The top/duplicate n-gram signals with Counters of word tuples (no numpy)."""
    from transforms.text_stats import DUPLICATE_NGRAM_SIZES, TOP_NGRAM_SIZES, words_of
    words = words_of(text)
    total = sum(map(len, words)) or 1
    result = {}
    for n in TOP_NGRAM_SIZES:
        counts = collections.Counter(zip(*(words[i:] for i in range(n))))
        if counts:
            gram, count = counts.most_common(1)[0]
            result[n] = sum(map(len, gram)) * count / total
    for n in DUPLICATE_NGRAM_SIZES:
        grams = list(zip(*(words[i:] for i in range(n))))
        counts = collections.Counter(grams)
        covered = set()
        for start, gram in enumerate(grams):
            if counts[gram] > 1:
                covered.update(range(start, start + n))
        result[-n] = sum(len(words[i]) for i in covered) / total
    return result


def beam_seconds(documents, stage_factory):
    """(wall, CPU) seconds of Create -> stage -> count on the DirectRunner with one worker."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from schemas.documents import Document
    records = [Document(id=str(i), text=text, source_kind="file", source="bench",
                        source_partition=0, source_offset=i) for i, text in enumerate(documents)]
    options = PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1"])
    with Clock() as clock:
        with beam.Pipeline(options=options) as pipeline:
            created = pipeline | beam.Create(records, reshuffle=False)
            if stage_factory is not None:
                created = (created | stage_factory()).documents
            _ = created | beam.combiners.Count.Globally()
    return clock.wall, clock.cpu


def datatrove_seconds(documents, python: str):
    """(wall, CPU) seconds of DataTrove's four filters over the documents, in DataTrove's venv."""
    script = """
import json, sys, time, logging
logging.disable(logging.WARNING)
from datatrove.data import Document
from datatrove.pipeline import filters
names = ["GopherQualityFilter", "GopherRepetitionFilter", "C4QualityFilter", "FineWebQualityFilter"]
instances = [getattr(filters, name)() for name in names]
texts = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
for instance in instances:  # load tokenizers before timing
    instance.filter(Document(text=texts[0], id="warmup"))
start, cpu = time.perf_counter(), time.process_time()
for i, text in enumerate(texts):
    for instance in instances:
        instance.filter(Document(text=text, id=str(i)))
print(time.perf_counter() - start, time.process_time() - cpu)
"""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        f.write("".join(json.dumps(text) + "\n" for text in documents))
    try:
        output = subprocess.run([python, "-c", script, f.name], capture_output=True, text=True,
                                check=True, timeout=3600).stdout
    finally:
        os.unlink(f.name)
    wall, cpu = output.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=8.0, help="corpus size in MB")
    parser.add_argument("--beam-mb", type=float, default=4.0,
                        help="corpus size for the DirectRunner rows")
    parser.add_argument("--datatrove-python", default=os.environ.get("WINNOW_DATATROVE_PYTHON"))
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    from transforms.normalize import normalize_text
    from transforms.quality import QualityParams, QualityProcessor, QualitySignals
    from transforms.text_stats import measure
    from schemas.documents import Document

    documents, size = corpus(args.mb)
    processor = QualityProcessor(QualityParams())
    as_documents = {text: Document(id="x", text=text, source_kind="file", source="bench",
                                   source_partition=0, source_offset=0) for text in documents}
    rows = [
        ("normalize_text (baseline)", timed(normalize_text, documents)),
        ("measure (all signals)", timed(measure, documents)),
        ("QualityProcessor (signals + rules)",
         timed(lambda text: processor.process(as_documents[text]), documents)),
        ("plain-Python n-gram signals only", timed(plain_ngram_signals, documents, repeats=1)),
    ]
    if args.datatrove_python:
        rows.append(("DataTrove Gopher+C4+FineWeb filters",
                     datatrove_seconds(documents, args.datatrove_python)))

    beam_documents, beam_size = corpus(args.beam_mb)
    count_only = beam_seconds(beam_documents, None)
    stage = beam_seconds(beam_documents, lambda: QualitySignals(
        QualityParams(drop_failing=False), seq=1))

    baseline = rows[0][1][1]
    print(f"\nCorpus: {len(documents)} documents, {size / 1e6:.1f} MB, one process "
          f"(shared machine: wall-clock numbers are noisy; CPU MB/s is per core)\n")
    header = (f"{'step':40} {'wall s':>7} {'CPU s':>7} {'MB/s wall':>10} {'MB/s CPU':>9} "
              f"{'x baseline CPU':>15}")
    print(header)
    print("-" * len(header))
    for name, (wall, cpu) in rows:
        print(f"{name:40} {wall:7.2f} {cpu:7.2f} {size / 1e6 / wall:10.2f} "
              f"{size / 1e6 / cpu:9.2f} {cpu / baseline:15.1f}")
    megabytes = beam_size / 1e6
    print(f"\nDirectRunner, one worker, {len(beam_documents)} documents, {megabytes:.1f} MB:")
    print(f"{'Create -> Count (pipeline overhead)':40} {count_only[0]:7.2f} {count_only[1]:7.2f}")
    print(f"{'Create -> QualitySignals -> Count':40} {stage[0]:7.2f} {stage[1]:7.2f} "
          f"{megabytes / stage[0]:10.2f} {megabytes / stage[1]:9.2f}")
    extra = (stage[0] - count_only[0], stage[1] - count_only[1])
    print(f"{'  the stage alone (difference)':40} {extra[0]:7.2f} {extra[1]:7.2f} "
          f"{megabytes / max(extra[0], 1e-9):10.2f} {megabytes / max(extra[1], 1e-9):9.2f}")

if __name__ == "__main__":
    main()
