"""The ``quality_model`` stage: a fastText classifier's probability that a document is good text.

This is the DCLM recipe (Li et al. 2024, "DataComp-LM: In search of the next generation of training
sets for language models"): a supervised fastText classifier with word bigrams is
trained to tell high-quality *reference* text (their positives: instruction data and ELI5 answers)
from *random web text* (their negatives: RefinedWeb documents), and every document is scored with
the probability of the positive label. Any fastText supervised model with a positive label works;
:func:`train_quality_model` (and the ``winnow train-quality`` command) trains one from two JSONL
files.

No default model ships with Winnow: a quality classifier is only as good as the reference text it
was trained on, and no licence-clean reference set that would make a useful general default is
available as a package. Train one on your own positives and negatives::

    winnow train-quality reference.jsonl random_web.jsonl -o quality.bin

and name it in the config (``model_path`` is required)::

    stages:
      - quality_model: {model_path: quality.bin, min_score: 0.5}

What the stage writes:

- ``quality_model_score``: the probability of ``positive_label``, in [0, 1].
- ``quality_score``: the same probability. This stage always overwrites ``quality_score``; the
  heuristic ``quality`` stage writes it only when no ``quality_model_score`` is present. Whatever
  the order of the two stages, a document scored by the classifier ends with the classifier's
  probability in ``quality_score`` (the heuristic share stays in the ``quality`` stage's lineage
  scores as ``heuristic_score``).

With ``min_score`` set, documents below it are dropped with the reason ``quality_model_score_low``
(value: the probability, threshold: ``min_score``). By default nothing is dropped.

Documents are read as one line (whitespace runs become single spaces, see
:func:`transforms.quality_fasttext.one_line`), the same way :func:`train_quality_model` writes its
training file, and cut to ``max_chars`` characters.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import tempfile
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import pydantic

from schemas.documents import Document
from transforms.quality_fasttext import (LABEL_PREFIX, ModelNotFound, SharedModel, one_line,
                                         predict_all, strip_label)
from transforms.quality_fasttext_train import fit_in_child
from transforms.stage import DocumentProcessor, PerDocumentStage, Verdict

POSITIVE_LABEL = "hq"
NEGATIVE_LABEL = "lq"
DEFAULT_MAX_CHARS = 100_000

# fastText training settings used unless the caller overrides them. DCLM's classifier uses word
# bigrams; the other values are ours, chosen for corpora of thousands to millions of documents.
# ``bucket`` bounds the model size (bucket x dim floats): about 130 MB with these values, or a few
# MB after quantization.
DEFAULT_TRAINING_ARGS: Dict[str, Any] = {
    "epoch": 10,
    "lr": 0.1,
    "wordNgrams": 2,
    "dim": 64,
    "minCount": 1,
    "bucket": 500_000,
    "loss": "softmax",
    "seed": 0,
}


class QualityModelParams(pydantic.BaseModel):
    """Parameters of the ``quality_model`` stage."""
    model_config = pydantic.ConfigDict(extra="forbid")

    model_path: str = pydantic.Field(
        ..., description="a fastText supervised model file (.bin or .ftz), e.g. one written by "
        "'winnow train-quality'")
    positive_label: str = pydantic.Field(
        POSITIVE_LABEL, description="the model's label for good text (with or without the "
        "__label__ prefix)")
    min_score: Optional[float] = pydantic.Field(
        None, ge=0.0, le=1.0, description="drop documents whose positive-label probability is "
        "below this; null drops nothing")
    max_chars: int = pydantic.Field(
        DEFAULT_MAX_CHARS, gt=0, description="score at most this many leading characters")
    batch_size: int = pydantic.Field(64, ge=1, description="documents per model call")


class QualityModelProcessor(DocumentProcessor):
    """Scores documents with a fastText quality classifier, a batch at a time."""
    name = "quality_model"
    version = "1"

    def __init__(self, params: QualityModelParams):
        if not os.path.isfile(params.model_path):
            raise ModelNotFound(f"quality_model.model_path: no such file: {params.model_path}")
        self.params = params
        self.batch_size = params.batch_size
        self._positive = strip_label(params.positive_label)
        self._model_handle = SharedModel(params.model_path)
        self._model = None

    def setup(self) -> None:
        self._model = self._model_handle.get()
        labels = {strip_label(label) for label in self._model.get_labels()}
        if self._positive not in labels:
            raise ValueError(f"quality_model: the model has no label {self._positive!r}; its "
                             f"labels are {sorted(labels)}")

    def process(self, document: Document) -> Verdict:
        return self.process_batch([document])[0]

    def process_batch(self, documents: List[Document]) -> List[Verdict]:
        texts = [one_line(document.text, self.params.max_chars) for document in documents]
        return [self._verdict(probabilities.get(self._positive, 0.0))
                for probabilities in predict_all(self._model, texts)]

    def _verdict(self, score: float) -> Verdict:
        annotations = {"quality_model_score": score, "quality_score": score}
        scores = {"quality_model_score": score}
        if self.params.min_score is not None and score < self.params.min_score:
            return Verdict.drop("quality_model_score_low", value=score,
                                threshold=self.params.min_score, annotations=annotations,
                                scores=scores)
        return Verdict.keep(annotations=annotations, scores=scores)


class QualityModel(PerDocumentStage):
    """The ``quality_model`` stage as a PTransform (see the module docstring)."""

    def __init__(self, params: QualityModelParams, **kwargs):
        super().__init__(QualityModelProcessor(params), **kwargs)


def read_texts(path: str) -> Iterator[str]:
    """The ``text`` field of every record of a JSONL file (``.gz`` allowed); blank lines skipped."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                text = record["text"]
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{line_number}: expected a JSON object with a 'text' "
                                 f"string ({type(error).__name__})") from None
            if not isinstance(text, str):
                raise ValueError(f"{path}:{line_number}: 'text' is not a string")
            yield text


def train_quality_model(pos_path: str, neg_path: str, output_path: str,
                        prepare: Optional[Callable[[str], str]] = None,
                        select: Optional[Callable[[List[str], List[str]],
                                                  Tuple[List[str], List[str]]]] = None,
                        **fasttext_args: Any) -> Dict[str, Any]:
    """Trains a fastText quality classifier: ``pos_path`` texts are good, ``neg_path`` poor.

    Both files are JSONL with a ``text`` field (the input format of ``winnow run``). The examples
    are labelled ``__label__hq`` / ``__label__lq``, shuffled (seeded) and written to a temporary
    training file as one line each, then ``fasttext.train_supervised`` runs with
    :data:`DEFAULT_TRAINING_ARGS` updated by ``fasttext_args`` (fastText's own names: ``epoch``,
    ``lr``, ``wordNgrams``, ``dim``, ``thread``, ...). With ``quantize=True`` the model is
    quantized before saving (much smaller, slightly less accurate; name the output ``.ftz``).
    The examples are held in memory while shuffling. ``select``, if given, is called with the
    positive and negative texts and returns those to train on (e.g.
    :class:`transforms.identity_balance.IdentityBalancer`); ``prepare``, if given, then rewrites
    every text (e.g. :class:`transforms.identity_mask.IdentityMasker` for a toxicity classifier).

    Training runs in a fresh child process (see :mod:`transforms.quality_fasttext_train`); if it
    diverges (fastText's "Encountered NaN"), it is retried with half the learning rate, up to
    three times.

    Returns a summary: output path, numbers of positives and negatives, the labels and the
    learning rate finally used.
    """
    quantize = bool(fasttext_args.pop("quantize", False))
    max_chars = int(fasttext_args.pop("max_chars", DEFAULT_MAX_CHARS))
    args = dict(DEFAULT_TRAINING_ARGS)
    args.update(fasttext_args)
    args.setdefault("verbose", 0)
    positives: Iterable[str] = read_texts(pos_path)
    negatives: Iterable[str] = read_texts(neg_path)
    if select is not None:
        positives, negatives = select(list(positives), list(negatives))
    examples = []
    counts = {}
    for path, label, texts in ((pos_path, POSITIVE_LABEL, positives),
                               (neg_path, NEGATIVE_LABEL, negatives)):
        before = len(examples)
        if prepare is not None:
            texts = map(prepare, texts)
        lines = (one_line(text, max_chars) for text in texts)
        examples.extend(f"{LABEL_PREFIX}{label} {line}" for line in lines if line)
        counts[label] = len(examples) - before
        if not counts[label]:
            raise ValueError(f"{path}: no non-empty texts to train on")
    random.Random(args["seed"]).shuffle(examples)
    folder = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", dir=folder,
                                     delete=False) as handle:
        handle.write("\n".join(examples) + "\n")
        training_file = handle.name
    try:
        labels, learning_rate = fit_in_child(training_file, output_path, args, quantize)
    finally:
        os.unlink(training_file)
    return {"output": output_path, "positives": counts[POSITIVE_LABEL],
            "negatives": counts[NEGATIVE_LABEL],
            "labels": sorted(strip_label(label) for label in labels), "lr": learning_rate}
