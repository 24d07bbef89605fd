"""Throughput of the ``pii`` stage against default Presidio, on the same web pages, same run.

Both scrub the 3-4 KB web pages of the PII evaluation set (:mod:`tests.eval.pii_eval_set`):

- **winnow pii**: the stage's processor (``PiiProcessor.process_batch``, batches of
  ``batch_size`` documents), exactly what each worker runs, minus Beam's per-element overhead;
- **default presidio**: ``AnalyzerEngine.analyze`` (default registry and thresholds, the same
  spaCy model through ``NlpEngineProvider``, the same entity list) then
  ``AnonymizerEngine.anonymize``, one document at a time.

Speed is documents per CPU-second of this process (``time.process_time``), i.e. per core, which
is steadier than wall-clock time on a shared machine; the ratio between the two is the number to
look at. Then it prints the span-recall table of both on the same pages (see
:mod:`tests.eval.eval_pii`) and how the stage's time grows with document length (chunked
analysis should make it linear), including a 1 MB document and 50 KB of digits.

Run from the repository root::

    python -m tests.benchmarks.bench_pii             # three rounds, about 1.5 minutes of CPU
    python -m tests.benchmarks.bench_pii --repeat 1  # one round
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Callable, List, Sequence

from tests.eval.eval_pii import presidio_scrubber, print_recall_table, score
from tests.eval.pii_eval_set import build_pages


def winnow_processor(params=None) -> Callable[[Sequence[str]], List[str]]:
    """The stage's processor as ``texts -> scrubbed texts``."""
    from schemas.documents import Document  # pylint: disable=import-outside-toplevel
    from transforms.pii import PiiParams, PiiProcessor  # pylint: disable=import-outside-toplevel

    params = params or PiiParams()
    processor = PiiProcessor(params)
    processor.setup()

    def scrub(texts: Sequence[str]) -> List[str]:
        documents = [Document(id=str(index), text=text, source_kind="file", source="bench",
                              source_partition=0, source_offset=index)
                     for index, text in enumerate(texts)]
        outputs = []
        for start in range(0, len(documents), params.batch_size):
            batch = documents[start:start + params.batch_size]
            for document, verdict in zip(batch, processor.process_batch(batch)):
                outputs.append(verdict.text if verdict.text is not None else document.text)
        return outputs
    return scrub


def cpu_seconds(scrub, texts):
    """(outputs, CPU seconds of this process spent producing them)."""
    started = time.process_time()
    outputs = scrub(texts)
    return outputs, time.process_time() - started


def long_document(length: int, seed: int = 7) -> str:
    """Web-page text repeated to ``length`` characters (PII included)."""
    pages = [page.text for page in build_pages(seed, per_template=1)]
    random.Random(seed).shuffle(pages)
    text = "\n\n".join(pages)
    return (text * (length // len(text) + 1))[:length]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages-per-template", type=int, default=12,
                        help="pages per template (10 templates)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed rounds (each runs both contenders once)")
    args = parser.parse_args(argv)

    pages = build_pages(per_template=args.pages_per_template)
    texts = [page.text for page in pages]
    print(f"{len(texts)} web pages, {sum(map(len, texts)) / len(texts) / 1000:.1f} KB on "
          "average; documents per CPU-second (per core):")
    contenders = {"winnow pii": winnow_processor(), "default presidio": presidio_scrubber()}
    for scrub in contenders.values():
        scrub(texts[:5])  # warm up: lazy loading, first-call caches
    # Rounds alternate the contenders, so both see the same (shared, noisy) machine.
    seconds = {name: [] for name in contenders}
    outputs = {}
    for _ in range(args.repeat):
        for name, scrub in contenders.items():
            outputs[name], elapsed = cpu_seconds(scrub, texts)
            seconds[name].append(elapsed)
    scores = {name: score(pages, outputs[name]) for name in contenders}
    megabytes = sum(map(len, texts)) / 1e6
    for name in contenders:
        best = min(seconds[name])
        print(f"  {name:<18}{len(texts) / best:>8.1f} docs/s  ({megabytes / best:.3f} MB/s)")
    ratios = sorted(presidio / winnow for winnow, presidio in zip(
        seconds["winnow pii"], seconds["default presidio"]))
    print(f"  speed-up: {min(seconds['default presidio']) / min(seconds['winnow pii']):.1f}x "
          f"(best times); per round {', '.join(f'{ratio:.1f}x' for ratio in ratios)}\n")
    print("span recall on the same pages:")
    print_recall_table(pages, scores)

    print("\nwinnow pii on long documents (CPU seconds; chunked, so about linear):")
    scrub = contenders["winnow pii"]
    for label, text in (("100 KB page text", long_document(100_000)),
                        ("400 KB page text", long_document(400_000)),
                        ("50 KB of digits", "".join(random.Random(1).choices("0123456789",
                                                                                k=50_000)))):
        started = time.process_time()
        scrub([text])
        seconds = time.process_time() - started
        print(f"  {label:<20}{seconds:>7.2f} s  ({seconds / len(text) * 1e6:.1f} us/char)")
    from transforms.pii import PiiParams  # pylint: disable=import-outside-toplevel
    megabyte = long_document(1_000_000)
    unbounded = winnow_processor(PiiParams(max_chars=2_000_000))
    for label, run in (("1 MB, max_chars=2M", unbounded),
                       ("1 MB, default max", scrub)):
        started = time.process_time()
        run([megabyte])
        seconds = time.process_time() - started
        print(f"  {label:<20}{seconds:>7.2f} s  ({seconds / len(megabyte) * 1e6:.1f} us/char)"
              + ("  over max_chars: dropped unanalyzed" if run is scrub else ""))

if __name__ == "__main__":
    main()
