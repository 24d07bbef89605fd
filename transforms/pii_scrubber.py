"""Finding and replacing PII in batches of texts, with Presidio.

:class:`PiiScrubber` is what the ``pii`` stage runs on each worker (built once, in ``setup``):

1. long texts are cut into overlapping chunks (:mod:`transforms.pii_chunks`);
2. the NLP artifacts of all chunks of a batch are computed in one go by
   :class:`transforms.pii_nlp.WindowedNerEngine` (regex tokens, NER only near capitalized words,
   one ``nlp.pipe`` call);
3. Presidio's ``AnalyzerEngine.analyze`` runs the recognizers of :mod:`transforms.pii_recognizers`
   on every chunk with those precomputed artifacts (so Presidio never runs spaCy itself), with
   context-word scoring from :class:`transforms.pii_nlp.TokenContextEnhancer`, then the score
   threshold;
4. Presidio's ``AnonymizerEngine`` applies one operator per entity type to each text:
   ``replace`` (a typed placeholder such as ``<EMAIL_ADDRESS>``), ``mask`` (``*`` for every
   character, optionally keeping the last few) or ``hash`` (``<EMAIL_ADDRESS:9f2c...>``, an
   HMAC-SHA256 of the value keyed with the run's secret, RFC 2104, so the same value gets the same
   token throughout a run and cannot be reversed without the secret). Overlapping findings are
   resolved first, so every character is replaced at most once.

Example::

    scrubber = PiiScrubber(PiiParams())
    findings = scrubber.analyze(["Mail jane@example.com"])
    scrubber.anonymize("Mail jane@example.com", findings[0]).text  # "Mail <EMAIL_ADDRESS>"
"""

from __future__ import annotations

import collections
import functools
import hashlib
import hmac
from typing import TYPE_CHECKING, Dict, List, NamedTuple, Optional, Sequence

from transforms.pii_offline import configure_tldextract_offline

# Before anything imports Presidio (and with it tldextract's default, downloading extractor).
configure_tldextract_offline()

# pylint: disable=wrong-import-position
from presidio_analyzer import AnalyzerEngine  # noqa: E402
from presidio_anonymizer import AnonymizerEngine  # noqa: E402
from presidio_anonymizer.entities import ConflictResolutionStrategy, OperatorConfig  # noqa: E402

from transforms import pii_recognizers  # noqa: E402
from transforms.pii_chunks import split_into_chunks  # noqa: E402
from transforms.pii_nlp import TokenContextEnhancer, WindowedNerEngine  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from transforms.pii import PiiParams

REPLACE, MASK, HASH, DROP = "replace", "mask", "hash", "drop"
OPERATORS = (REPLACE, MASK, HASH, DROP)


class Redaction(NamedTuple):
    """The scrubbed text and how many spans of each entity type were replaced."""
    text: str
    counts: Dict[str, int]


def placeholder(entity_type: str) -> str:
    return f"<{entity_type}>"


def _mask(value: str, *, character: str, keep_last: int) -> str:
    kept = value[len(value) - keep_last:] if 0 < keep_last < len(value) else ""
    return character * (len(value) - len(kept)) + kept


def _keyed_hash(value: str, *, key: bytes, entity_type: str, length: int) -> str:
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"<{entity_type}:{digest[:length]}>"


class PiiScrubber:
    """Presidio analysis and anonymization for batches of texts (see the module docstring).

    Args:
      params: the stage's :class:`transforms.pii.PiiParams`.
      hash_key: the secret for the ``hash`` operator; required when any entity uses it.
    """

    def __init__(self, params: "PiiParams", hash_key: Optional[bytes] = None):
        self.params = params
        extra = [pii_recognizers.pattern_recognizer(
            spec.entity_type, [pattern.model_dump() for pattern in spec.patterns], spec.context,
            name=spec.name, case_sensitive=spec.case_sensitive, supported_language=params.language)
            for spec in params.extra_recognizers]
        self.entities = sorted(set(params.entities)
                               | {spec.entity_type for spec in params.extra_recognizers})
        self.operator_names = {entity: params.operators.get(entity, params.default_operator)
                               for entity in self.entities}
        self.engine = WindowedNerEngine(
            params.model, language=params.language,
            ner_entities=set(self.entities) & pii_recognizers.NER_ENTITIES,
            ner_scope=params.ner_scope, window_before=params.ner_window_before,
            window_after=params.ner_window_after)
        self.engine.load()
        registry = pii_recognizers.build_registry(
            self.entities, language=params.language, phone_regions=params.phone_regions,
            extra=extra)
        self.analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=self.engine, supported_languages=[params.language],
            context_aware_enhancer=TokenContextEnhancer())
        self.anonymizer = AnonymizerEngine()
        self._thresholds = {entity: params.entity_thresholds.get(entity, params.score_threshold)
                            for entity in self.entities}
        self._min_threshold = min(self._thresholds.values())
        self._operators = self._operator_configs(hash_key)

    # -- analysis --------------------------------------------------------------------------------

    def analyze(self, texts: Sequence[str]) -> List[list]:
        """Presidio ``RecognizerResult`` lists, one per text, with offsets into that text."""
        jobs = []  # (text index, chunk)
        for index, text in enumerate(texts):
            if text.strip():
                for chunk in split_into_chunks(text, self.params.chunk_chars,
                                               self.params.chunk_overlap):
                    jobs.append((index, chunk))
        artifacts = self.engine.process_texts(
            [texts[index][chunk.start:chunk.end] for index, chunk in jobs])
        findings: List[list] = [[] for _ in texts]
        for (index, chunk), artifact in zip(jobs, artifacts):
            chunk_text = texts[index][chunk.start:chunk.end]
            for result in self.analyzer.analyze(
                    chunk_text, self.params.language, entities=self.entities,
                    nlp_artifacts=artifact, score_threshold=self._min_threshold):
                result.start += chunk.start
                result.end += chunk.start
                if (chunk.owns(result.start)
                        and result.score >= self._thresholds.get(result.entity_type, 1.0)):
                    findings[index].append(result)
        return findings

    # -- anonymization -----------------------------------------------------------------------------

    def anonymize(self, text: str, findings: list) -> Redaction:
        """Applies each entity type's operator; ``drop`` types are replaced like ``replace``."""
        if not findings:
            return Redaction(text, {})
        # One placeholder per finding: Presidio would otherwise merge same-type findings that
        # only spaces separate (a list of e-mail addresses would count as one).
        result = self.anonymizer.anonymize(
            text, findings, operators=self._operators,
            conflict_resolution=ConflictResolutionStrategy.REMOVE_INTERSECTIONS,
            merge_entities_with_spaces=False)
        counts = collections.Counter(item.entity_type for item in result.items)
        return Redaction(result.text, dict(sorted(counts.items())))

    def _operator_configs(self, hash_key: Optional[bytes]) -> dict:
        params = self.params
        # Types found but not configured (none, unless a recognizer reports extra types) get
        # Presidio's default replace, which writes the same "<TYPE>" placeholder.
        configs = {"DEFAULT": OperatorConfig("replace", {})}
        for entity, operator in self.operator_names.items():
            if operator == MASK:
                configs[entity] = OperatorConfig("custom", {"lambda": functools.partial(
                    _mask, character=params.mask_char, keep_last=params.mask_keep_last)})
            elif operator == HASH:
                if not hash_key:
                    raise ValueError(
                        f"entity {entity} uses the hash operator, but no secret is set: set "
                        f"the {params.hash_secret_env} environment variable or hash_secret")
                configs[entity] = OperatorConfig("custom", {"lambda": functools.partial(
                    _keyed_hash, key=hash_key, entity_type=entity,
                    length=params.hash_chars)})
            else:  # replace, and drop (the document goes anyway unless annotate-only)
                configs[entity] = OperatorConfig("replace", {"new_value": placeholder(entity)})
        return configs
