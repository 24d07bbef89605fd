"""fastText helpers shared by the ``langid`` and ``quality_model`` stages.

Both stages score documents with a fastText supervised model (Joulin et al. 2017, "Bag of Tricks
for Efficient Text Classification"). This module loads such a model once per worker process and
predicts label probabilities for batches of texts.

Which fastText build: the Python bindings are imported as ``fasttext``, a module name that several
PyPI distributions provide, so exactly one of them may be installed. Winnow uses
``fasttext-numpy2`` (0.10.4: prebuilt wheels, numpy 2, training and prediction). The official
``fasttext==0.9.3`` builds from source and its single-text ``predict`` fails under numpy 2;
``fasttext-numpy2-wheel`` (0.9.2, the build DataTrove depends on) intermittently aborts training
with "Encountered NaN" in a process that has already run ``predict``, whatever the learning rate.
The code below only ever calls ``predict`` with a list of texts, which works with every build.

A model is loaded through :class:`apache_beam.utils.shared.Shared`, so all DoFn instances (threads)
of one worker process share one copy, however many bundles run.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Sequence

from apache_beam.utils import shared

LABEL_PREFIX = "__label__"
_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w")


class ModelNotFound(FileNotFoundError):
    """The configured fastText model file does not exist (or no default model is installed)."""


def one_line(text: str, max_chars: int = 0) -> str:
    """``text`` as fastText reads it: one line, whitespace runs collapsed to single spaces.

    fastText predicts one line at a time; a newline would end the input. ``max_chars`` > 0 keeps
    only that many leading characters (bounding the cost of very long documents).
    """
    if max_chars and len(text) > max_chars:
        text = text[:max_chars]
    return _WHITESPACE.sub(" ", text).strip()


def strip_label(label: str) -> str:
    return label[len(LABEL_PREFIX):] if label.startswith(LABEL_PREFIX) else label


def load_model(path: str):
    """Loads a fastText model file (``.bin`` or quantized ``.ftz``)."""
    if not os.path.isfile(path):
        raise ModelNotFound(f"fastText model not found: {path}")
    import fasttext  # pylint: disable=import-outside-toplevel
    return fasttext.load_model(path)


class _ModelHolder:
    """A weak-referenceable wrapper, as Shared requires, around a loaded model."""

    def __init__(self, model):
        self.model = model


class SharedModel:
    """A fastText model path plus a :class:`Shared` handle: picklable, loads on first use.

    Create it at pipeline construction time (it travels with the DoFn) and call :meth:`get` in
    ``setup``; every DoFn instance of a worker process then receives the same loaded model.
    """

    def __init__(self, path: str):
        self.path = path
        self._handle = shared.Shared()

    def get(self):
        return self._handle.acquire(lambda: _ModelHolder(load_model(self.path)),
                                    tag=os.path.abspath(self.path)).model


def _probability(value) -> float:
    # fastText adds a small smoothing term, so a probability can come out a hair above 1.
    return min(1.0, max(0.0, float(value)))


def predict_all(model, texts: Sequence[str]) -> List[Dict[str, float]]:
    """For each text (already one line), every label's probability, labels without prefix.

    A text without a single word character gets no probabilities (``{}``): the model has nothing
    to go on, and fastText would answer from its end-of-line token alone, which is often far from
    0.5 (a toxicity model trained on comments where short insults end early calls it toxic)."""
    with_words = [index for index, text in enumerate(texts) if _WORD.search(text)]
    results: List[Dict[str, float]] = [{} for _ in texts]
    if not with_words:
        return results
    labels, probabilities = model.predict([texts[index] for index in with_words], k=-1)
    for index, text_labels, text_probabilities in zip(with_words, labels, probabilities):
        results[index] = {strip_label(label): _probability(probability)
                          for label, probability in zip(text_labels, text_probabilities)}
    return results


def predict_top(model, texts: Sequence[str]) -> List[tuple]:
    """For each text (already one line), its most likely label (no prefix) and probability."""
    if not texts:
        return []
    labels, probabilities = model.predict(list(texts), k=1)
    return [(strip_label(text_labels[0]), _probability(text_probabilities[0])) if len(text_labels)
            else (None, 0.0) for text_labels, text_probabilities in zip(labels, probabilities)]
