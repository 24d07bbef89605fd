"""Civil-score parity for a toxicity classifier's training data: each group's civil texts alike.

Identity balancing (:mod:`transforms.identity_balance`) gives every group the toxic share of the
whole training set, so a group's label share is nothing to learn. Groups still differ in how hard
their civil texts are to tell from toxic ones: civil comments about one group may be everyday
remarks, while those about another often discuss the very stereotypes that toxic comments assert.
A classifier then scores the second group's civil texts higher on average, and a filter on its
score removes civil text about that group more often.

:class:`CivilScoreParity` measures that on the training data and corrects it there:

1. split the (balanced) training texts into two halves, train a classifier on each half and score
   the civil texts of the other (cross-fitting: no text is scored by a model that saw it);
2. compare each group's mean civil score with the mean of all civil texts;
3. weight each group's civil examples by that ratio (a group scoring twice the mean gets its civil
   examples twice as often; one scoring half, half as often: repeated or thinned by seeded
   sampling; never below a quarter or above four times), and measure again with the new weights;

until every group is within ``tolerance`` of the mean or after ``rounds`` rounds; the final model
is then trained once on the weighted set. This is the reweighting route to equal false-positive
rates across groups (an in-processing fairness constraint; see Agarwal et al., 2018, "A Reductions
Approach to Fair Classification"). Groups only decide how often the classifier sees each training
example: the classifier itself stays identity-blind. The price is training time (two extra models
per round) and some ranking: civil texts that resemble toxic ones are made more frequent.

Groups are those of :class:`transforms.identity_balance.IdentityBalancer`, which by default also
balances the texts first. Example::

    parity = CivilScoreParity(IdentityBalancer(), fasttext_toxicity_trainer(IdentityMasker()))
    toxic, civil = parity(toxic_texts, civil_texts)
    for line in parity.report: print(line)

``winnow train-quality --balance-identity --civil-parity`` trains with it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import statistics
import tempfile
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from transforms.identity_balance import IdentityBalancer
    from transforms.identity_mask import IdentityMasker

# Given toxic and civil texts, train a classifier and return its scoring function.
Scorer = Callable[[Sequence[str]], List[float]]
Trainer = Callable[[Sequence[str], Sequence[str]], Scorer]

DEFAULT_ROUNDS = 3
DEFAULT_TOLERANCE = 0.05
DEFAULT_MIN_GROUP_SIZE = 50
# No group's civil examples are thinned below a quarter or repeated more than four times.
MIN_WEIGHT, MAX_WEIGHT = 0.25, 4.0


@dataclasses.dataclass(frozen=True)
class GroupParity:
    """One group's civil texts: how many, their mean score relative to all civil texts in the
    first and the last round measured, and the weight their examples got."""
    group: str
    civil: int
    first_ratio: float
    last_ratio: float
    weight: float

    def __str__(self) -> str:
        return (f"{self.group}: civil {self.civil}, mean civil score x{self.first_ratio:.2f} of "
                f"all -> x{self.last_ratio:.2f}, weight {self.weight:.2f}")


class CivilScoreParity:
    """Reweights civil (negative) training texts per group (see the module docstring). Call it
    with the toxic and civil lists; it returns them balanced (if ``balance``) and with each
    group's civil examples repeated or thinned. :attr:`report` then holds one
    :class:`GroupParity` per weighed group, largest first, and :attr:`rounds_run` how many rounds
    were measured.

    Args:
      balancer: gives each text its group (:meth:`IdentityBalancer.group_of`).
      train: trains a classifier on (toxic, civil) texts and returns its scoring function.
      balance: balance the texts with ``balancer`` first (its report is kept on it).
      rounds: the most measuring rounds (two trainings each).
      tolerance: stop when every group's mean civil score is within this fraction of the mean.
      min_group_size: groups with fewer civil texts keep weight 1 and are not measured.
      seed: seeds the halves and the sampling.
    """

    def __init__(self, balancer: "IdentityBalancer", train: Trainer, balance: bool = True,
                 rounds: int = DEFAULT_ROUNDS, tolerance: float = DEFAULT_TOLERANCE,
                 min_group_size: int = DEFAULT_MIN_GROUP_SIZE, seed: int = 0):
        if rounds < 1:
            raise ValueError("civil parity needs at least one round")
        self.balancer = balancer
        self.train = train
        self.balance = balance
        self.rounds = rounds
        self.tolerance = tolerance
        self.min_group_size = min_group_size
        self.seed = seed
        self.report: List[GroupParity] = []
        self.rounds_run = 0

    def __call__(self, positives: Sequence[str], negatives: Sequence[str]
                 ) -> Tuple[List[str], List[str]]:
        if self.balance:
            positives, negatives = self.balancer(positives, negatives)
        if not positives or not negatives:
            raise ValueError("civil parity needs both toxic and civil examples")
        groups = [self.balancer.group_of(text) for text in negatives]
        sizes: Dict[str, int] = {}
        for group in groups:
            sizes[group] = sizes.get(group, 0) + 1
        measured = sorted((group for group, size in sizes.items()
                           if size >= self.min_group_size), key=lambda g: (-sizes[g], g))
        weights = {group: 1.0 for group in sizes}
        first: Optional[Dict[str, float]] = None
        ratios: Dict[str, float] = {}
        for round_number in range(1, self.rounds + 1):
            self.rounds_run = round_number
            ratios = self._ratios(positives, negatives, groups, weights, measured)
            first = first or ratios
            if all(abs(ratio - 1) <= self.tolerance for ratio in ratios.values()):
                break
            for group, ratio in ratios.items():
                weights[group] = min(MAX_WEIGHT, max(MIN_WEIGHT, weights[group] * ratio))
        self.report = [GroupParity(group, sizes[group], first[group], ratios[group],
                                   weights[group]) for group in measured]
        civil = self._weighted(negatives, groups, weights, random.Random(self.seed))
        return list(positives), civil

    def _ratios(self, positives: Sequence[str], negatives: Sequence[str], groups: Sequence[str],
                weights: Dict[str, float], measured: Sequence[str]) -> Dict[str, float]:
        """Cross-fitted mean civil score of each measured group, over that of all civil texts."""
        rng = random.Random(self.seed)
        positive_half = _halves(len(positives), rng)
        negative_half = _halves(len(negatives), rng)
        scores = [0.0] * len(negatives)
        for half in (0, 1):
            toxic = [text for text, side in zip(positives, positive_half) if side == half]
            civil_indexes = [i for i, side in enumerate(negative_half) if side == half]
            civil = self._weighted([negatives[i] for i in civil_indexes],
                                   [groups[i] for i in civil_indexes], weights, rng)
            score = self.train(toxic, civil)
            scored = [i for i, side in enumerate(negative_half) if side != half]
            for i, value in zip(scored, score([negatives[i] for i in scored])):
                scores[i] = value
        overall = statistics.fmean(scores)
        return {group: statistics.fmean(s for s, g in zip(scores, groups) if g == group)
                / overall if overall else 1.0 for group in measured}

    @staticmethod
    def _weighted(texts: Sequence[str], groups: Sequence[str], weights: Dict[str, float],
                  rng: random.Random) -> List[str]:
        """Each text ``weight`` times on average: its whole part, plus one more with the
        probability of the rest."""
        out = []
        for text, group in zip(texts, groups):
            weight = weights[group]
            copies = int(weight) + (rng.random() < weight - int(weight))
            out.extend([text] * copies)
        return out


def _halves(count: int, rng: random.Random) -> List[int]:
    """A seeded assignment of ``count`` items to halves 0 and 1, as even as possible."""
    sides = [index % 2 for index in range(count)]
    rng.shuffle(sides)
    return sides


def fasttext_toxicity_trainer(masker: Optional["IdentityMasker"] = None,
                              select: Optional[Callable] = None, **fasttext_args) -> Trainer:
    """A :data:`Trainer` that trains with Winnow's training command
    (:func:`transforms.quality_model.train_quality_model`, toxic texts as the positives, with
    ``select`` -- e.g. an identity balancer -- and ``fasttext_args``) and scores with
    :class:`transforms.bias_classifier.FastTextToxicityClassifier`; ``masker`` makes texts
    identity-blind for both, as the bias stage does."""
    # pylint: disable=import-outside-toplevel
    from transforms.bias_classifier import FastTextToxicityClassifier
    from transforms.quality_model import train_quality_model

    def train(toxic: Sequence[str], civil: Sequence[str]) -> Scorer:
        with tempfile.TemporaryDirectory() as folder:
            paths = []
            for name, texts in (("toxic", toxic), ("civil", civil)):
                paths.append(os.path.join(folder, f"{name}.jsonl"))
                with open(paths[-1], "w", encoding="utf-8") as handle:
                    handle.writelines(json.dumps({"text": text}) + "\n" for text in texts)
            model_path = os.path.join(folder, "model.bin")
            train_quality_model(paths[0], paths[1], model_path, masker, select,
                                **fasttext_args)
            classifier = FastTextToxicityClassifier(model_path, masker=masker)
            classifier.load()
        return classifier.predict

    return train
