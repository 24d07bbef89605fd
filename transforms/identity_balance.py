"""Identity-balanced training data for a toxicity classifier: no group's label share to learn.

A classifier learns whatever predicts its labels. When the training texts about one group are
mostly civil and those about another mostly toxic, the words of each group's usual topics carry
that difference, and the classifier then scores civil text about the second group higher than
civil text about the first. Masking identity terms (:mod:`transforms.identity_mask`) takes the
group names away, not the topics.

:class:`IdentityBalancer` takes the difference out of the training data. It puts every text in one
group:

- the "axis/group" that the identity lexicon finds most often in it (ties: the first by name);
- else ``gendered/female`` or ``gendered/male`` when its gendered words (pronouns, "wife",
  "brother", ...) lean one way;
- else ``none``;

and then, within each group, keeps every example of the label the group has too few of and a
seeded random sample of the other, so that each group ends with the toxic share of the whole set.
Examples are only removed, never repeated. This is the sampling form of Kamiran and Calders'
reweighing (2012, "Data preprocessing techniques for classification without discrimination"): after
it, the group a text belongs to tells nothing about its label. A group with fewer than
``min_group_size`` texts, or with no example of one label, is left as it is. The price is data:
the more the groups' toxic shares differ, the more examples are left out.

Example::

    balancer = IdentityBalancer()
    toxic, civil = balancer(toxic_texts, civil_texts)
    for line in balancer.report: print(line)

``winnow train-quality --balance-identity`` trains with it.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Dict, List, Sequence, Tuple

from transforms import bias_lexicons
from transforms.bias_signals import GENDERED, IDENTITY, gendered_entries, identity_entries
from transforms.lexicon import PhraseMatcher

NO_GROUP = "none"
DEFAULT_MIN_GROUP_SIZE = 20


@dataclasses.dataclass(frozen=True)
class GroupBalance:
    """What balancing did to one group: its examples before and after."""
    group: str
    positives: int
    negatives: int
    kept_positives: int
    kept_negatives: int

    def __str__(self) -> str:
        return (f"{self.group}: toxic {self.kept_positives}/{self.positives}, "
                f"civil {self.kept_negatives}/{self.negatives}")


class IdentityBalancer:
    """Balances toxic (positive) and civil (negative) training texts by group (see the module
    docstring). Call it with the two lists; :attr:`report` then holds one
    :class:`GroupBalance` per group, largest first.

    Args:
      identity_lexicon: the YAML identity lexicon file (the shipped English one by default).
      min_group_size: groups with fewer texts are left as they are.
      seed: seeds the samples.
    """

    def __init__(self, identity_lexicon: str = bias_lexicons.IDENTITY_EN,
                 min_group_size: int = DEFAULT_MIN_GROUP_SIZE, seed: int = 0):
        lexicon = bias_lexicons.load_identity_lexicon(identity_lexicon)
        self._matcher = PhraseMatcher(identity_entries(lexicon) + gendered_entries(lexicon))
        self.min_group_size = min_group_size
        self.seed = seed
        self.report: List[GroupBalance] = []

    def group_of(self, text: str) -> str:
        """The group a text is balanced in (see the module docstring)."""
        counts: Dict[Tuple[str, str], int] = {}
        for match in self._matcher.scan(text).matches:
            key = (match.kind, match.label)
            counts[key] = counts.get(key, 0) + 1
        identity = {label: n for (kind, label), n in counts.items() if kind == IDENTITY}
        if identity:
            return max(sorted(identity), key=identity.__getitem__)
        female, male = counts.get((GENDERED, "female"), 0), counts.get((GENDERED, "male"), 0)
        if female != male:
            return "gendered/female" if female > male else "gendered/male"
        return NO_GROUP

    def __call__(self, positives: Sequence[str], negatives: Sequence[str]
                 ) -> Tuple[List[str], List[str]]:
        total = len(positives) + len(negatives)
        if not positives or not negatives:
            raise ValueError("identity balancing needs both toxic and civil examples")
        share = len(positives) / total
        groups: Dict[str, Tuple[List[str], List[str]]] = {}
        for texts, side in ((positives, 0), (negatives, 1)):
            for text in texts:
                groups.setdefault(self.group_of(text), ([], []))[side].append(text)
        rng = random.Random(self.seed)
        kept_positives: List[str] = []
        kept_negatives: List[str] = []
        self.report = []
        for group in sorted(groups, key=lambda name: (-sum(map(len, groups[name])), name)):
            toxic, civil = groups[group]
            kept_toxic, kept_civil = toxic, civil
            if len(toxic) + len(civil) >= self.min_group_size and toxic and civil:
                if len(toxic) / (len(toxic) + len(civil)) < share:
                    kept_civil = rng.sample(civil, round(len(toxic) * (1 - share) / share))
                else:
                    kept_toxic = rng.sample(toxic, round(len(civil) * share / (1 - share)))
            kept_positives.extend(kept_toxic)
            kept_negatives.extend(kept_civil)
            self.report.append(GroupBalance(group, len(toxic), len(civil), len(kept_toxic),
                                            len(kept_civil)))
        return kept_positives, kept_negatives
