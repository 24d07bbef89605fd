"""The ``bias`` stage: toxicity, identity mentions and gender balance of every document.

For each document it computes (see :mod:`transforms.bias_signals` for the definitions):

- ``toxicity_score`` (annotation, 0..1, higher is more toxic): the share of words from toxicity
  word lists -- LDNOOBW for the configured languages and for the document's ``language``
  annotation when the ``langid`` stage ran before, plus an English insults list -- optionally
  combined with a fastText toxicity classifier (:mod:`transforms.bias_classifier`);
- ``identity_mentions`` (annotation): counts per "axis/group" (``gender/women``,
  ``religion/muslim``, ...) from the identity lexicon;
- ``bias_signals`` (annotation): gender-term counts and balance, toxic sentences, identity
  mentions inside toxic sentences, per-list counts.

Matching is by whole words, case-insensitive and multi-word aware, in one pass over the text
(:mod:`transforms.lexicon`). Lexicons are data files (``transforms/data/``, with their sources and
licences in the README there) that the parameters can replace. No identity term is ever toxic by
itself: toxicity entries containing an identity word are left out, and an identity mention counts
as one word, so the same sentence about two groups scores the same.

**Filtering only by config.** By default the stage annotates and keeps everything. It drops a
document when ``max_toxicity`` is set and the score is above it (reason ``toxicity``), or when it
contains one of ``block_terms`` (reason ``blocked_term``).

**Lineage and the bias report.** Every lineage event of this stage (kept or dropped) carries the
scores ``toxicity`` and ``identity:<axis>/<group>`` (the mention counts; no text). The run-level
bias report (:mod:`lineage.bias_report`) joins these with the other stages' drop events to
compare, per group, removal rates with the overall rate. Dropped documents are not in the
curated output, so **put ``bias`` before the filtering stages**: a document removed before the
bias stage has no identity counts and is left out of the report (which says how many).
"""

from __future__ import annotations

from typing import List, Literal, Optional

import pydantic

from schemas.documents import Document
from transforms import bias_lexicons
from transforms.bias_classifier import FastTextToxicityClassifier, check_model_path
from transforms.bias_signals import (DEFAULT_HALF_SHARE, BiasResult, BiasScorer, ToxicityList,
                                     default_toxicity_lists, language_toxicity_lists, list_name)
from transforms.identity_mask import IdentityMasker
from transforms.stage import DocumentProcessor, PerDocumentStage, Verdict

# Lineage score keys: "toxicity" and "identity:<axis>/<group>".
TOXICITY_SCORE = "toxicity"
IDENTITY_SCORE_PREFIX = "identity:"


class ToxicityClassifierParams(pydantic.BaseModel):
    """An optional fastText toxicity classifier, combined with the lexicon score."""
    model_config = pydantic.ConfigDict(extra="forbid")

    model_path: str = pydantic.Field(
        ..., description="fastText supervised model (.bin/.ftz), e.g. trained with "
        "`winnow train-quality --mask-identity TOXIC.jsonl NON_TOXIC.jsonl -o toxicity.bin`")
    toxic_label: str = pydantic.Field(
        "hq", description="the model's label for toxic text; `winnow train-quality` labels its "
        "first file (here: the toxic texts) 'hq'")
    max_chars: int = pydantic.Field(100_000, ge=0, description="the classifier reads only this "
                                    "many leading characters of a document (0: all)")
    combine: Literal["max", "mean", "classifier"] = pydantic.Field(
        "max", description="toxicity_score from the lexicon score and the classifier's "
        "probability: their max, their mean, or the classifier's alone")
    batch_size: int = pydantic.Field(64, gt=0, description="documents per predict call")
    mask_identity: bool = pydantic.Field(
        True, description="the classifier reads text with every identity mention replaced by one "
        "placeholder word, so it cannot score group names; train it on text masked the same way "
        "(`winnow train-quality --mask-identity`)")


class BiasParams(pydantic.BaseModel):
    """Parameters of the ``bias`` stage."""
    model_config = pydantic.ConfigDict(extra="forbid")

    languages: List[str] = pydantic.Field(
        default_factory=lambda: ["en"], description="languages whose LDNOOBW lists apply to "
        "every document (codes of transforms/data/ldnoobw/); 'en' also adds the English "
        "insults list")
    use_document_language: bool = pydantic.Field(
        True, description="also apply the LDNOOBW list of the document's `language` "
        "annotation (set by the langid stage), when one is shipped")
    toxicity_lexicons: Optional[List[str]] = pydantic.Field(
        None, description="replace the shipped toxicity lists with these files (one word or "
        "phrase per line, optional tab + weight); disables use_document_language")
    allow_list: Optional[str] = pydantic.Field(
        None, description="replace the shipped list of phrases that are never toxic "
        "(transforms/data/toxicity_allow.en.txt); an empty file disables it")
    identity_lexicon: Optional[str] = pydantic.Field(
        None, description="replace the shipped identity lexicon "
        "(transforms/data/identity_terms.en.yaml, same YAML format)")
    half_toxicity_share: float = pydantic.Field(
        DEFAULT_HALF_SHARE, gt=0, lt=1, description="the toxic word share that scores 0.5 "
        "(score = share / (share + this))")
    max_toxicity: Optional[float] = pydantic.Field(
        None, ge=0, le=1, description="drop documents whose toxicity_score is above this "
        "(default: keep all)")
    block_terms: List[str] = pydantic.Field(
        default_factory=list, description="drop documents that contain any of these words or "
        "phrases (whole words, case-insensitive)")
    classifier: Optional[ToxicityClassifierParams] = pydantic.Field(
        None, description="an optional fastText toxicity classifier")
    record_identity_in_lineage: bool = pydantic.Field(
        True, description="record the identity counts in lineage events (needed by the bias "
        "report)")

    @pydantic.field_validator("languages")
    @classmethod
    def _shipped_languages(cls, languages):
        shipped = set(bias_lexicons.ldnoobw_languages())
        unknown = [language for language in languages if language not in shipped]
        if unknown:
            raise ValueError(f"no shipped LDNOOBW list for {unknown}; shipped: "
                             f"{', '.join(sorted(shipped))}")
        return languages


def build_scorer(params: BiasParams) -> BiasScorer:
    """The scorer the parameters describe; raises LexiconError on a bad lexicon file."""
    if params.toxicity_lexicons is not None:
        lists = [ToxicityList(list_name(path), path) for path in params.toxicity_lexicons]
        per_language = None
    else:
        lists = default_toxicity_lists(params.languages)
        per_language = language_toxicity_lists() if params.use_document_language else None
    return BiasScorer(
        lists, per_language,
        allow_list=params.allow_list if params.allow_list is not None else bias_lexicons.ALLOW_EN,
        identity_lexicon=params.identity_lexicon or bias_lexicons.IDENTITY_EN,
        block_terms=params.block_terms, half_share=params.half_toxicity_share)


class BiasProcessor(DocumentProcessor):
    name = "bias"
    version = "1"

    def __init__(self, params: BiasParams):
        self.params = params
        if params.classifier is not None:
            self.batch_size = params.classifier.batch_size
        self._scorer = None
        self._classifier = None

    def setup(self) -> None:
        self._scorer = build_scorer(self.params)
        if self.params.classifier is not None:
            classifier = self.params.classifier
            masker = (IdentityMasker(self.params.identity_lexicon or bias_lexicons.IDENTITY_EN)
                      if classifier.mask_identity else None)
            self._classifier = FastTextToxicityClassifier(
                classifier.model_path, classifier.toxic_label, classifier.max_chars, masker)
            self._classifier.load()

    def process(self, document: Document) -> Verdict:
        return self.process_batch([document])[0]

    def process_batch(self, documents: List[Document]) -> List[Verdict]:
        if self._scorer is None:
            self.setup()
        results = [self._scorer.score(document.text, self._language(document))
                   for document in documents]
        probabilities = (self._classifier.predict([document.text for document in documents])
                         if self._classifier is not None else [None] * len(documents))
        return [self._verdict(result, probability)
                for result, probability in zip(results, probabilities)]

    def _language(self, document: Document) -> Optional[str]:
        if not self.params.use_document_language:
            return None
        for column, value in document.annotations:
            if column == "language":
                return value
        return None

    def _toxicity(self, result: BiasResult, probability: Optional[float]) -> float:
        if probability is None:
            return result.toxicity
        combine = self.params.classifier.combine
        if combine == "max":
            return max(result.toxicity, probability)
        if combine == "mean":
            return (result.toxicity + probability) / 2
        return probability

    def _verdict(self, result: BiasResult, probability: Optional[float]) -> Verdict:
        toxicity = self._toxicity(result, probability)
        signals = dict(result.signals)
        if probability is not None:
            signals["lexicon_toxicity"] = result.toxicity
            signals["classifier_toxicity"] = probability
        annotations = {"toxicity_score": toxicity, "identity_mentions": result.identity_mentions,
                       "bias_signals": signals}
        scores = {TOXICITY_SCORE: toxicity}
        if self.params.record_identity_in_lineage:
            scores.update((IDENTITY_SCORE_PREFIX + group, count)
                          for group, count in result.identity_mentions.items())
        if result.blocked_terms:
            return Verdict.drop("blocked_term", value=len(result.blocked_terms),
                                annotations=annotations, scores=scores,
                                details={"terms": result.blocked_terms})
        threshold = self.params.max_toxicity
        if threshold is not None and toxicity > threshold:
            return Verdict.drop("toxicity", value=toxicity, threshold=threshold,
                                annotations=annotations, scores=scores)
        return Verdict.keep(annotations=annotations, scores=scores)


class BiasSignals(PerDocumentStage):
    """The ``bias`` stage as a PTransform (see the module docstring).

    Lexicon files are read once here, so a bad file fails the run before it starts, and again
    once per worker in ``setup``.
    """

    def __init__(self, params: BiasParams = BiasParams(), **kwargs):
        build_scorer(params)
        if params.classifier is not None:
            check_model_path(params.classifier.model_path)
        super().__init__(BiasProcessor(params), **kwargs)
