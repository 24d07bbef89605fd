"""The ``quality`` stage: heuristic quality signals for every document, and rules over them.

The stage works the way RedPajama-V2 does: it first *annotates* every document with named signals
(:mod:`transforms.text_stats`: word count, mean word length, duplicate-line and n-gram fractions,
...), then applies *rules*, each a signal compared with a threshold from :class:`QualityParams`.
The defaults are the published thresholds of three rule sets, cited next to each parameter:

- Gopher quality and repetition rules (Rae et al. 2021, appendix A.1.1 and table A1);
- C4 rules (Raffel et al. 2020, section 2.2), applied per document: a page with a curly brace or
  "lorem ipsum", or with fewer than 3 sentences left after C4's line filter, fails;
- FineWeb rules (Penedo et al. 2024, section 3).

A threshold set to ``None`` (``null`` in YAML) disables its rule. The Gopher rules assume English
(stop words, word lengths); disable them for other languages.

What the stage writes:

- ``quality_signals``: every signal, by name (a map column of the curated Parquet shards), for
  every document kept, whether or not its rules are enabled.
- ``quality_score``: the share of enabled rules the document passes, in [0, 1]. A classifier's
  probability is a better score, so when the document already has a ``quality_model_score``
  (the ``quality_model`` stage ran before this one), this stage leaves ``quality_score`` alone.
  The ``quality_model`` stage always overwrites it. Either stage order therefore ends with the
  classifier's probability in ``quality_score`` whenever a classifier ran.

A document failing any enabled rule is dropped (unless ``drop_failing`` is false or the run is
annotate-only). The lineage event names the first failing rule as its reason (rules are checked in
the order of :data:`RULES`), with the measured value and the threshold; ``details.failed_rules``
lists every failing rule, and a dropped document's event also carries all signals as scores, so
its measurements are not lost with it.

Example config::

    stages:
      - quality: {gopher_min_words: 100, c4_max_curly_braces: null, drop_failing: true}
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

import pydantic

from schemas.documents import Document
from transforms import text_stats
from transforms.stage import DocumentProcessor, PerDocumentStage, Verdict

HEURISTIC_SCORE = "heuristic_score"  # name of the rules-passed share in lineage scores


@dataclasses.dataclass(frozen=True)
class Rule:
    """A threshold on one signal. ``name`` is also the QualityParams field that holds it.

    A ``minimum`` rule fails when the signal is below the threshold, otherwise when it is above.
    """
    name: str
    signal: str
    minimum: bool

    def fails(self, value: float, threshold: float) -> bool:
        return value < threshold if self.minimum else value > threshold


RULES: Tuple[Rule, ...] = (
    Rule("gopher_min_words", "word_count", minimum=True),
    Rule("gopher_max_words", "word_count", minimum=False),
    Rule("gopher_min_mean_word_length", "mean_word_length", minimum=True),
    Rule("gopher_max_mean_word_length", "mean_word_length", minimum=False),
    Rule("gopher_max_hash_word_ratio", "hash_word_ratio", minimum=False),
    Rule("gopher_max_ellipsis_word_ratio", "ellipsis_word_ratio", minimum=False),
    Rule("gopher_max_bullet_lines", "bullet_line_fraction", minimum=False),
    Rule("gopher_max_ellipsis_lines", "ellipsis_line_fraction", minimum=False),
    Rule("gopher_min_alpha_words", "alpha_word_fraction", minimum=True),
    Rule("gopher_min_stop_words", "stop_word_count", minimum=True),
    Rule("gopher_max_dup_lines", "dup_line_fraction", minimum=False),
    Rule("gopher_max_dup_paragraphs", "dup_paragraph_fraction", minimum=False),
    Rule("gopher_max_dup_line_chars", "dup_line_char_fraction", minimum=False),
    Rule("gopher_max_dup_paragraph_chars", "dup_paragraph_char_fraction", minimum=False),
    *(Rule(f"gopher_max_top_{n}gram", f"top_{n}gram_char_fraction", minimum=False)
      for n in text_stats.TOP_NGRAM_SIZES),
    *(Rule(f"gopher_max_dup_{n}gram", f"dup_{n}gram_char_fraction", minimum=False)
      for n in text_stats.DUPLICATE_NGRAM_SIZES),
    Rule("c4_max_curly_braces", "curly_brace_count", minimum=False),
    Rule("c4_max_lorem_ipsum", "lorem_ipsum_count", minimum=False),
    Rule("c4_min_sentences", "c4_sentence_count", minimum=True),
    Rule("fineweb_min_punct_lines", "punct_line_fraction", minimum=True),
    Rule("fineweb_max_short_lines", "short_line_fraction", minimum=False),
    Rule("fineweb_max_dup_line_chars", "dup_line_char_fraction", minimum=False),
    Rule("fineweb_max_newline_word_ratio", "newline_word_ratio", minimum=False),
)

_GOPHER = "Gopher (Rae et al. 2021, A.1.1)"
_GOPHER_REPETITION = "Gopher repetition (Rae et al. 2021, table A1)"


def _threshold(default: Optional[float], what: str, source: str) -> Optional[float]:
    return pydantic.Field(default, description=f"{what}; null disables the rule. "
                          f"Default from {source}.")


class QualityParams(pydantic.BaseModel):
    """Parameters of the ``quality`` stage: one threshold per rule (None disables it)."""
    model_config = pydantic.ConfigDict(extra="forbid")

    drop_failing: bool = pydantic.Field(
        True, description="drop documents that fail an enabled rule; false: keep them, only "
        "annotating (failing rules still lower quality_score and are listed in lineage)")

    # Gopher quality rules (Rae et al. 2021, appendix A.1.1).
    gopher_min_words: Optional[float] = _threshold(50, "fewest words", _GOPHER)
    gopher_max_words: Optional[float] = _threshold(100_000, "most words", _GOPHER)
    gopher_min_mean_word_length: Optional[float] = _threshold(
        3, "shortest mean word length in characters", _GOPHER)
    gopher_max_mean_word_length: Optional[float] = _threshold(
        10, "longest mean word length in characters", _GOPHER)
    gopher_max_hash_word_ratio: Optional[float] = _threshold(
        0.1, "most '#' symbols per word", _GOPHER)
    gopher_max_ellipsis_word_ratio: Optional[float] = _threshold(
        0.1, "most ellipses ('...' or '…') per word", _GOPHER)
    gopher_max_bullet_lines: Optional[float] = _threshold(
        0.9, "largest share of lines starting with a bullet point", _GOPHER)
    gopher_max_ellipsis_lines: Optional[float] = _threshold(
        0.3, "largest share of lines ending with an ellipsis", _GOPHER)
    gopher_min_alpha_words: Optional[float] = _threshold(
        0.8, "smallest share of words with at least one alphabetic character", _GOPHER)
    gopher_min_stop_words: Optional[float] = _threshold(
        2, "fewest distinct stop words of stop_words present", _GOPHER)
    stop_words: List[str] = pydantic.Field(
        list(text_stats.GOPHER_STOP_WORDS), description="the stop words counted for "
        "gopher_min_stop_words (default: Gopher's eight English ones)")

    # Gopher repetition rules (Rae et al. 2021, table A1).
    gopher_max_dup_lines: Optional[float] = _threshold(
        0.30, "largest share of lines that repeat an earlier line", _GOPHER_REPETITION)
    gopher_max_dup_paragraphs: Optional[float] = _threshold(
        0.30, "largest share of paragraphs that repeat an earlier paragraph", _GOPHER_REPETITION)
    gopher_max_dup_line_chars: Optional[float] = _threshold(
        0.20, "largest share of characters in repeated lines", _GOPHER_REPETITION)
    gopher_max_dup_paragraph_chars: Optional[float] = _threshold(
        0.20, "largest share of characters in repeated paragraphs", _GOPHER_REPETITION)
    gopher_max_top_2gram: Optional[float] = _threshold(
        0.20, "largest character share of the most frequent word 2-gram", _GOPHER_REPETITION)
    gopher_max_top_3gram: Optional[float] = _threshold(
        0.18, "largest character share of the most frequent word 3-gram", _GOPHER_REPETITION)
    gopher_max_top_4gram: Optional[float] = _threshold(
        0.16, "largest character share of the most frequent word 4-gram", _GOPHER_REPETITION)
    gopher_max_dup_5gram: Optional[float] = _threshold(
        0.15, "largest character share inside repeated word 5-grams", _GOPHER_REPETITION)
    gopher_max_dup_6gram: Optional[float] = _threshold(
        0.14, "largest character share inside repeated word 6-grams", _GOPHER_REPETITION)
    gopher_max_dup_7gram: Optional[float] = _threshold(
        0.13, "largest character share inside repeated word 7-grams", _GOPHER_REPETITION)
    gopher_max_dup_8gram: Optional[float] = _threshold(
        0.12, "largest character share inside repeated word 8-grams", _GOPHER_REPETITION)
    gopher_max_dup_9gram: Optional[float] = _threshold(
        0.11, "largest character share inside repeated word 9-grams", _GOPHER_REPETITION)
    gopher_max_dup_10gram: Optional[float] = _threshold(
        0.10, "largest character share inside repeated word 10-grams", _GOPHER_REPETITION)

    # C4 rules (Raffel et al. 2020, section 2.2), per document.
    c4_max_curly_braces: Optional[float] = _threshold(
        0, "most '{' characters (C4 removes any page with a curly bracket)", "C4")
    c4_max_lorem_ipsum: Optional[float] = _threshold(
        0, "most occurrences of 'lorem ipsum' (C4 removes any page with it)", "C4")
    c4_min_sentences: Optional[float] = _threshold(
        3, "fewest sentences in the lines C4's line filter keeps (lines ending in . ? ! or a "
        "closing quote, with at least c4_min_words_per_line words, not about JavaScript or "
        "site policies)", "C4 (Raffel et al. 2020, 2.2)")
    c4_min_words_per_line: int = pydantic.Field(
        5, ge=1, description="C4's line filter keeps lines with at least this many words "
        "(Raffel et al. 2020: 5)")

    # FineWeb rules (Penedo et al. 2024, section 3).
    fineweb_min_punct_lines: Optional[float] = _threshold(
        0.12, "smallest share of lines ending in terminal punctuation",
        "FineWeb (Penedo et al. 2024, 3)")
    fineweb_max_short_lines: Optional[float] = _threshold(
        0.67, "largest share of lines of at most short_line_chars characters",
        "FineWeb (Penedo et al. 2024, 3)")
    short_line_chars: int = pydantic.Field(
        30, ge=1, description="a line of at most this many characters is short (FineWeb: 30)")
    fineweb_max_dup_line_chars: Optional[float] = _threshold(
        0.10, "largest share of characters in repeated lines", "FineWeb (Penedo et al. 2024, 3)")
    fineweb_max_newline_word_ratio: Optional[float] = pydantic.Field(
        None, description="most newlines per word (list-like pages); null disables the rule. "
        "Not in the FineWeb paper, so off by default; DataTrove's FineWeb filter uses 0.3.")


@dataclasses.dataclass(frozen=True)
class RuleOutcome:
    rule: Rule
    value: float
    threshold: float
    passed: bool


def evaluate_rules(signals, params: QualityParams) -> List[RuleOutcome]:
    """Each enabled rule's outcome on ``signals``, in the order of :data:`RULES`."""
    outcomes = []
    for rule in RULES:
        threshold = getattr(params, rule.name)
        if threshold is None:
            continue
        value = signals[rule.signal]
        outcomes.append(RuleOutcome(rule, value, threshold, not rule.fails(value, threshold)))
    return outcomes


def heuristic_score(outcomes: List[RuleOutcome]) -> Optional[float]:
    """The share of enabled rules passed, or None when no rule is enabled."""
    if not outcomes:
        return None
    return sum(outcome.passed for outcome in outcomes) / len(outcomes)


class QualityProcessor(DocumentProcessor):
    """Measures the signals of one document and applies the enabled rules."""
    name = "quality"
    version = "1"

    def __init__(self, params: QualityParams):
        self.params = params

    def process(self, document: Document) -> Verdict:
        params = self.params
        signals = text_stats.measure(
            document.text, stop_words=params.stop_words, short_line_chars=params.short_line_chars,
            c4_min_words_per_line=params.c4_min_words_per_line)
        outcomes = evaluate_rules(signals, params)
        score = heuristic_score(outcomes)
        annotations = {"quality_signals": signals}
        if score is not None and document.annotation_dict.get("quality_model_score") is None:
            annotations["quality_score"] = score
        scores = {} if score is None else {HEURISTIC_SCORE: score}
        failed = [outcome for outcome in outcomes if not outcome.passed]
        if not failed:
            return Verdict.keep(annotations=annotations, scores=scores)
        details = {"failed_rules": [outcome.rule.name for outcome in failed]}
        if not params.drop_failing:
            return Verdict.keep(annotations=annotations, scores=scores, details=details)
        first = failed[0]
        return Verdict.drop(first.rule.name, value=first.value, threshold=first.threshold,
                            annotations=annotations, scores={**signals, **scores},
                            details=details)


class QualitySignals(PerDocumentStage):
    """The ``quality`` stage as a PTransform (see the module docstring)."""

    def __init__(self, params: QualityParams = QualityParams(), **kwargs):
        super().__init__(QualityProcessor(params), **kwargs)
