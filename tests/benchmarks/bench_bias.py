"""Throughput of the bias stage on one core, against baselines measured in the same run.

Run from the repository root::

    python -m tests.benchmarks.bench_bias [--megabytes 8] [--no-pipeline] [--classifier MODEL]

Input: web-page-sized documents (about 4 KB) made by joining the real Reddit comments of the
evaluation (:func:`tests.eval.bias_eval_sets.reddit_comments`), so the text has ordinary English
with identity mentions and some profanity. Rows:

- ``lower + tokenize``: lower-casing and the tokenizing regular expression alone, the floor of
  any whole-word matcher in Python;
- ``per-term regex loop``: the approach the stage avoids -- one compiled ``\\b...\\b`` pattern
  per lexicon term, each run over the text (measured on a slice, it is slow);
- ``BiasScorer.score``: every signal of the stage, one scan per document;
- ``BiasProcessor.process``: the same plus the stage's verdict (annotations, lineage scores);
- ``BiasProcessor + classifier``: with ``--classifier MODEL``, the same with a fastText toxicity
  classifier on identity-blind text (``combine: mean``), one document per call (the stage calls
  it in batches);
- ``Beam: ...``: a DirectRunner pipeline (in-process) that only creates and counts the documents,
  the same with the stage in between, and the stage's share (the difference of their CPU times):
  Beam's own per-element cost dominates a pipeline on one machine.

Throughput is in MB of UTF-8 text per CPU-second of this process (``time.process_time``), so
other load on a shared machine does not count against it; wall-clock throughput is shown next to
it. The scoring rows are single-threaded, so CPU-seconds are core-seconds. Compare the ratios
between rows rather than absolute numbers.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Callable, List, Tuple

from schemas.documents import Document
from tests.eval.bias_eval_sets import reddit_comments
from transforms import bias_lexicons
from transforms.bias import BiasParams, BiasProcessor, BiasSignals, build_scorer
from transforms.lexicon import words_of

TARGET_MB_PER_S = 2.0
DOCUMENT_BYTES = 4000


def make_documents(megabytes: float) -> List[str]:
    comments = [" ".join(item.text.split()) for item in reddit_comments()]
    documents, current, size, index = [], [], 0, 0
    while sum(len(document.encode()) for document in documents) < megabytes * 1e6:
        comment = comments[index % len(comments)]
        index += 1
        current.append(comment)
        size += len(comment)
        if size >= DOCUMENT_BYTES:
            documents.append("\n\n".join(current))
            current, size = [], 0
    return documents


def measure(function: Callable[[str], object], documents: List[str],
            repeats: int = 3) -> Tuple[float, float]:
    """Best-of-``repeats`` throughput in MB per CPU-second and MB per wall-clock second."""
    megabytes = sum(len(document.encode()) for document in documents) / 1e6
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        for document in documents:
            function(document)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return megabytes / best_cpu, megabytes / best_wall


def per_term_regex(scorer) -> Callable[[str], int]:
    phrases = {" ".join(words_of(phrase)) for phrase, _ in
               bias_lexicons.load_term_list(bias_lexicons.ldnoobw_path("en"))}
    phrases |= {" ".join(words_of(phrase)) for phrase, _ in
                bias_lexicons.load_term_list(bias_lexicons.INSULTS_EN)}
    phrases |= {" ".join(words_of(term.phrase)) for term in scorer.identity_lexicon.terms}
    patterns = [re.compile(r"\b" + r"\W+".join(map(re.escape, phrase.split())) + r"\b")
                for phrase in phrases if phrase]

    def count(text: str) -> int:
        lowered = text.lower()
        return sum(len(pattern.findall(lowered)) for pattern in patterns)
    return count


def measure_pipeline(documents: List[str], with_stage: bool = True) -> Tuple[float, float]:
    # pylint: disable=import-outside-toplevel
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    items = [Document(id=str(index), text=text, source_kind="file", source="bench",
                      source_partition=0, source_offset=index)
             for index, text in enumerate(documents)]
    megabytes = sum(len(document.encode()) for document in documents) / 1e6
    cpu, wall = time.process_time(), time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as pipeline:
        documents = pipeline | beam.Create(items, reshuffle=False)
        if with_stage:
            documents = (documents | BiasSignals(BiasParams())).documents
        _ = documents | beam.combiners.Count.Globally()
    return megabytes / (time.process_time() - cpu), megabytes / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=8.0, help="size of the input")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the Beam row")
    parser.add_argument("--classifier", metavar="MODEL",
                        help="also measure the stage with this fastText toxicity classifier")
    args = parser.parse_args()

    documents = make_documents(args.megabytes)
    scorer = build_scorer(BiasParams())
    processor = BiasProcessor(BiasParams())
    processor.setup()
    wrapped = {text: Document(id="d", text=text, source_kind="file", source="bench",
                              source_partition=0, source_offset=0) for text in documents}
    tokenizer = re.compile(r"[^\W_]+|[.!?\n]")
    regex_loop = per_term_regex(scorer)

    rows = [
        ("lower + tokenize", measure(lambda text: tokenizer.findall(text.lower()), documents)),
        ("per-term regex loop", measure(regex_loop, documents[:max(len(documents) // 40, 5)],
                                        repeats=1)),
        ("BiasScorer.score", measure(scorer.score, documents)),
        ("BiasProcessor.process", measure(lambda text: processor.process(wrapped[text]),
                                          documents)),
    ]
    if args.classifier:
        with_classifier = BiasProcessor(BiasParams(
            classifier={"model_path": args.classifier, "combine": "mean"}))
        with_classifier.setup()
        rows.append(("BiasProcessor + classifier", measure(
            lambda text: with_classifier.process_batch([wrapped[text]]), documents)))
    if not args.no_pipeline:
        empty = measure_pipeline(documents, with_stage=False)
        full = measure_pipeline(documents)
        rows.append(("Beam: Create + Count only", empty))
        rows.append(("Beam: Create + bias + Count", full))
        # The stage's own share of the pipeline's CPU time: the difference of the two runs.
        megabytes = sum(len(document.encode()) for document in documents) / 1e6
        stage_seconds = megabytes / full[0] - megabytes / empty[0]
        if stage_seconds > 0:
            rows.append(("Beam: bias stage alone (diff)",
                         (megabytes / stage_seconds, float("nan"))))

    total = sum(len(document.encode()) for document in documents) / 1e6
    print(f"{len(documents)} documents, {total:.1f} MB, about {DOCUMENT_BYTES} bytes each; "
          f"one core")
    reference = dict(rows)["BiasScorer.score"][0]
    print(f"\n{'what':<30} {'MB/cpu-s':>9} {'docs/cpu-s':>11} {'vs scorer':>10} "
          f"{'MB/wall-s':>10}")
    for name, (rate, wall_rate) in rows:
        print(f"{name:<30} {rate:>9.2f} {rate * 1e6 / DOCUMENT_BYTES:>11.0f} "
              f"{rate / reference:>9.2f}x {wall_rate:>10.2f}")
    for name in ("BiasProcessor.process", "BiasProcessor + classifier"):
        if name in dict(rows):
            rate = dict(rows)[name][0]
            print(f"target >= {TARGET_MB_PER_S} MB/s per core for {name}: "
                  f"{'met' if rate >= TARGET_MB_PER_S else 'NOT met'} ({rate:.2f} MB/s)")


if __name__ == "__main__":
    main()
