"""Evaluation of the bias stage's ``toxicity_score``: how well it ranks, and whether it is fair.

Run from the repository root::

    python -m tests.eval.eval_bias

Data (``tests/eval/data/bias/``, see the README there for sources and licences):

- ``wikipedia_toxicity_identity_test.csv.gz``: 1,492 real Wikipedia talk-page comments that
  mention identity terms, each labelled toxic or not by crowd workers (Wikipedia Talk Labels:
  Toxicity), selected by Conversation AI for their bias work; ``..._fuzzed`` is the same set with
  every identity term replaced by a random other one.
- ``sentence_templates_en.csv.gz``: Conversation AI's English sentence templates ("Being
  <identity> is wonderful", "You are a stupid <identity>", ...), labelled toxic / non-toxic.

Printed:

1. ROC AUC of ``toxicity_score`` on the real comments (and on the fuzzed copy, which must not
   change a lexicon score that ignores identity terms), next to two baselines computed the same
   way: the plain LDNOOBW word share, and LDNOOBW with the allow list.
2. The mean ``toxicity_score`` of non-toxic template sentences per identity group (as found by
   the stage's own identity lexicon), and its spread (max - min; target <= 0.05), with the same
   for toxic templates and for the real non-toxic comments (where topics, not only groups, differ).
"""

from __future__ import annotations

import csv
import gzip
import os
import statistics
import time
from typing import Dict, List, Sequence, Tuple

from transforms import bias_lexicons
from transforms.bias import BiasParams, build_scorer
from transforms.bias_signals import BiasScorer, ToxicityList

# The data files are not part of the repository (see tests/eval/data/bias/README.md for where to
# get them); point WINNOW_BIAS_EVAL_DATA at the folder that holds them, or put them there.
DATA = os.environ.get("WINNOW_BIAS_EVAL_DATA") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "data", "bias")
COMMENTS = os.path.join(DATA, "wikipedia_toxicity_identity_test.csv.gz")
COMMENTS_FUZZED = os.path.join(DATA, "wikipedia_toxicity_identity_test_fuzzed.csv.gz")
TEMPLATES = os.path.join(DATA, "sentence_templates_en.csv.gz")

AUC_TARGET = 0.80
SPREAD_TARGET = 0.05
MIN_COMMENTS_PER_GROUP = 10


def read_comments(path: str) -> List[Tuple[str, bool]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return [(row["comment"], row["toxic"] == "True") for row in csv.DictReader(handle)]


def read_templates(path: str) -> List[Tuple[str, bool]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return [(row["phrase"], row["toxicity"] == "toxic") for row in csv.DictReader(handle)]


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


def baseline_scorers() -> Dict[str, BiasScorer]:
    ldnoobw = ToxicityList("ldnoobw", bias_lexicons.ldnoobw_path("en"))
    return {
        "LDNOOBW word share (baseline)": BiasScorer([ldnoobw], allow_list=None),
        "LDNOOBW + allow list": BiasScorer([ldnoobw]),
        "toxicity_score (default: + insults list)": build_scorer(BiasParams()),
    }


def group_means(scorer: BiasScorer, texts: Sequence[str], min_count: int = 1
                ) -> Dict[str, Tuple[int, float]]:
    """Per identity group: (number of texts mentioning it, their mean toxicity)."""
    scores: Dict[str, List[float]] = {}
    for text in texts:
        result = scorer.score(text)
        for group in result.identity_mentions:
            scores.setdefault(group, []).append(result.toxicity)
    return {group: (len(values), statistics.fmean(values))
            for group, values in sorted(scores.items()) if len(values) >= min_count}


def print_group_table(title: str, means: Dict[str, Tuple[int, float]]) -> float:
    spread = (max(mean for _, mean in means.values()) - min(mean for _, mean in means.values())
              if means else 0.0)
    print(f"\n{title}: {len(means)} groups, spread (max - min of means) = {spread:.4f}")
    width = max((len(group) for group in means), default=5)
    print(f"  {'group':<{width}}  {'n':>5}  {'mean':>7}")
    for group, (count, mean) in means.items():
        print(f"  {group:<{width}}  {count:>5}  {mean:>7.4f}")
    return spread


def require_data() -> None:
    """Exits with instructions when the evaluation data is not there."""
    missing = [path for path in (COMMENTS, COMMENTS_FUZZED, TEMPLATES) if not os.path.exists(path)]
    if missing:
        raise SystemExit(
            "evaluation data missing: " + ", ".join(missing) + "\nSee tests/eval/data/bias/"
            "README.md for the three CC BY 4.0 files and where to get them.")


def main() -> None:
    require_data()
    comments = read_comments(COMMENTS)
    fuzzed = read_comments(COMMENTS_FUZZED)
    labels = [label for _, label in comments]
    print(f"Real comments: {len(comments)} Wikipedia talk comments mentioning identities, "
          f"{sum(labels)} labelled toxic")
    print(f"\n{'scorer':<44} {'ROC AUC':>8} {'fuzzed':>8} {'docs/s':>8}")
    scorers = baseline_scorers()
    for name, scorer in scorers.items():
        started = time.perf_counter()
        scores = [scorer.score(text).toxicity for text, _ in comments]
        rate = len(comments) / (time.perf_counter() - started)
        fuzzed_scores = [scorer.score(text).toxicity for text, _ in fuzzed]
        print(f"{name:<44} {roc_auc(scores, labels):>8.4f} "
              f"{roc_auc(fuzzed_scores, [label for _, label in fuzzed]):>8.4f} {rate:>8.0f}")
    default = scorers["toxicity_score (default: + insults list)"]
    auc = roc_auc([default.score(text).toxicity for text, _ in comments], labels)
    print(f"target ROC AUC >= {AUC_TARGET}: {'met' if auc >= AUC_TARGET else 'NOT met'} "
          f"({auc:.4f})")

    templates = read_templates(TEMPLATES)
    non_toxic = [text for text, toxic in templates if not toxic]
    toxic = [text for text, toxic in templates if toxic]
    template_auc = roc_auc([default.score(text).toxicity for text, _ in templates],
                           [label for _, label in templates])
    print(f"\nSentence templates: {len(templates)} ({len(toxic)} toxic); "
          f"ROC AUC {template_auc:.4f}")
    recognised = sum(1 for text in non_toxic if default.score(text).identity_mentions)
    print(f"non-toxic templates whose identity term the lexicon recognises: "
          f"{recognised}/{len(non_toxic)}")
    spread = print_group_table("Mean toxicity_score of NON-TOXIC templates per group",
                               group_means(default, non_toxic))
    print(f"target spread <= {SPREAD_TARGET}: {'met' if spread <= SPREAD_TARGET else 'NOT met'}")
    print_group_table("Mean toxicity_score of TOXIC templates per group (for reference)",
                      group_means(default, toxic))
    unrecognised = [text for text in non_toxic if not default.score(text).identity_mentions]
    print(f"  not recognised, e.g.: {unrecognised[:: max(len(unrecognised) // 6, 1)][:6]}")
    print("  (ambiguous adjectives such as 'black', 'american' or 'old' count only before a "
          "word for people)")

    print_group_table(
        f"Mean toxicity_score of real NON-TOXIC comments per group (groups with >= "
        f"{MIN_COMMENTS_PER_GROUP} comments; topics differ between groups, so this spread is "
        f"not only bias)",
        group_means(default, [text for text, label in comments if not label],
                    MIN_COMMENTS_PER_GROUP))
    print_group_table(
        "The same on the fuzzed copy (identity terms swapped at random, so every group gets a "
        "random mix of topics)",
        group_means(default, [text for text, label in fuzzed if not label],
                    MIN_COMMENTS_PER_GROUP))
    changes = [abs(default.score(original).toxicity - default.score(swapped).toxicity)
               for (original, _), (swapped, _) in zip(comments, fuzzed)]
    changed = sum(1 for change in changes if change > 1e-12)
    print(f"\nPaired identity swap on the real comments: {changed}/{len(changes)} scores "
          f"changed, largest change {max(changes):.4f}")


if __name__ == "__main__":
    main()
