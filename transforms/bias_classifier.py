"""An optional fastText toxicity classifier for the ``bias`` stage.

Any supervised fastText model (``.bin`` or ``.ftz``) with a label for toxic text works. The simplest
way to get one is the quality classifier's training command with toxic texts as the positives::

    winnow train-quality toxic.jsonl non_toxic.jsonl -o toxicity.bin

which labels the positives ``hq`` -- hence the stage's default ``toxic_label: hq``; a model trained
some other way with ``__label__toxic`` lines needs ``toxic_label: toxic``.

Texts are read as one line, cut to ``max_chars``, the way that training command writes them
(:func:`transforms.quality_fasttext.one_line`); the model is loaded once per worker process and
shared by its threads (:class:`transforms.quality_fasttext.SharedModel`).

A classifier trained on raw text learns group names that its training data shows more often in
toxic comments, and would score a civil sentence about one group above the same sentence about
another. So by default the classifier sees identity-blind text (:mod:`transforms.identity_mask`):
train it the same way, ``winnow train-quality --mask-identity ...``, and the combined score stays
invariant to swapping identity terms, like the lexicon score. ``tests/eval/eval_bias.py`` measures
both its ranking and that invariance.
"""

from __future__ import annotations

import importlib.util
import os
from typing import List, Optional, Sequence

from transforms.identity_mask import IdentityMasker
from transforms.quality_fasttext import SharedModel, one_line, predict_all, strip_label


class ClassifierError(ValueError):
    """The classifier cannot be used: missing model file or unknown label."""


def check_model_path(path: str) -> None:
    """Fails early (at pipeline construction) on a model file that does not exist."""
    if not os.path.isfile(path):
        raise ClassifierError(f"no toxicity classifier model at {path}")


class FastTextToxicityClassifier:
    """Probability of ``toxic_label`` for texts, from a fastText supervised model.

    Picklable before :meth:`load`; call :meth:`load` in the DoFn's ``setup``.

    Args:
      model_path: local path of the model.
      toxic_label: the model's label for toxic text (with or without ``__label__``).
      max_chars: only the first ``max_chars`` characters of a text are read (0: all).
      masker: makes texts identity-blind before the model reads them (the model must have been
        trained on text masked the same way); ``None`` reads them as they are.
    """

    def __init__(self, model_path: str, toxic_label: str = "hq", max_chars: int = 100_000,
                 masker: Optional[IdentityMasker] = None):
        self.toxic_label = strip_label(toxic_label)
        self.max_chars = max_chars
        self.masker = masker
        self._shared = SharedModel(model_path)
        self._model = None

    def load(self) -> None:
        check_model_path(self._shared.path)
        if importlib.util.find_spec("fasttext") is None:
            raise ClassifierError("the bias stage's classifier needs the fasttext package "
                                  "(pip install fasttext-numpy2)")
        model = self._shared.get()
        labels = [strip_label(label) for label in model.get_labels()]
        if self.toxic_label not in labels:
            raise ClassifierError(f"model {self._shared.path} has no label "
                                  f"{self.toxic_label!r}; its labels: {labels}")
        self._model = model

    def predict(self, texts: Sequence[str]) -> List[float]:
        """The toxic-label probability of each text."""
        if self._model is None:
            self.load()
        if self.masker is not None:
            texts = [self.masker.mask(text) for text in texts]
        lines = [one_line(text, self.max_chars) for text in texts]
        return [probabilities.get(self.toxic_label, 0.0)
                for probabilities in predict_all(self._model, lines)]
