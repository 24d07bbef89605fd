"""How well ``quality_score`` ranks documents that a person labelled good or poor.

Run from the repository root::

    python -m tests.eval.eval_quality [--datatrove-python PATH] [--folds 5]

The labelled set is ``tests/eval/data/quality_labelled.jsonl`` (see ``tests/eval/data/README.md``
for what is in it, how it was labelled and its licences). For every document the script computes:

- **winnow heuristics**: ``quality_score`` of the ``quality`` stage with its default (published)
  thresholds: the share of the enabled Gopher, C4 and FineWeb rules the document passes;
- **winnow classifier**: ``quality_model_score`` of a fastText classifier trained with
  :func:`transforms.quality_model.train_quality_model`, scored out of fold: the set is split into
  ``--folds`` stratified folds and each fold is scored by a model trained on the other folds, so no
  document is scored by a model that saw it. Its training settings were fixed before the first run
  (small-data values: many epochs, a high learning rate, a single thread for determinism);
- **DataTrove**: the share of DataTrove's four filters (``GopherQualityFilter``,
  ``GopherRepetitionFilter``, ``C4QualityFilter``, ``FineWebQualityFilter``, default settings) the
  document passes. DataTrove runs in its own virtualenv (``--datatrove-python``, or the
  ``WINNOW_DATATROVE_PYTHON`` environment variable), because its dependencies differ from
  Winnow's; create it with ``python -m venv dt && dt/bin/pip install "datatrove[processing]"
  orjson spacy``. Without it, that row is skipped.

Each score is judged by ROC AUC (the probability that a random good document scores above a random
poor one; ties count half), with a 95% bootstrap interval, and by what a filter at the default
thresholds would keep.
"""

# Imports are inside functions: parts of this script run in another virtualenv, or only when
# their row is measured.
# pylint: disable=import-outside-toplevel,import-error

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from typing import Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "quality_labelled.jsonl")
DATATROVE_FILTERS = ("GopherQualityFilter", "GopherRepetitionFilter", "C4QualityFilter",
                     "FineWebQualityFilter")

# Classifier settings for a training set of about a hundred documents (fixed up front, not tuned
# on this evaluation; a learning rate of 0.5 diverged, so fastText's default 0.1 is used).
CLASSIFIER_ARGS = {"epoch": 25, "lr": 0.1, "wordNgrams": 2, "dim": 32, "bucket": 200_000,
                   "minCount": 1, "thread": 1, "seed": 0}


def load_labelled(path: str = DATA) -> List[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Mann-Whitney AUC: P(score of a positive > score of a negative), ties counting half."""
    import numpy as np
    from scipy.stats import rankdata
    scores = np.asarray(scores, dtype=float)
    positives = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    ranks = rankdata(scores)  # average ranks for ties
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_interval(scores, positives, rounds: int = 2000, seed: int = 0):
    """A 95% percentile bootstrap interval of the AUC (documents resampled per label)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    scores = np.asarray(scores, dtype=float)
    positives = np.asarray(positives, dtype=bool)
    good, poor = np.flatnonzero(positives), np.flatnonzero(~positives)
    values = []
    for _ in range(rounds):
        sample = np.concatenate([rng.choice(good, len(good)), rng.choice(poor, len(poor))])
        values.append(roc_auc(scores[sample], positives[sample]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def heuristic_scores(records: List[dict]) -> Dict[str, list]:
    """quality_score and 'passes every enabled rule' per document, default thresholds."""
    from transforms.quality import QualityParams, evaluate_rules, heuristic_score
    from transforms.text_stats import measure
    params = QualityParams()
    scores, kept = [], []
    for record in records:
        outcomes = evaluate_rules(measure(record["text"]), params)
        scores.append(heuristic_score(outcomes))
        kept.append(all(outcome.passed for outcome in outcomes))
    return {"scores": scores, "kept": kept}


def _stratified_folds(labels: Sequence[bool], folds: int, seed: int) -> List[int]:
    import random
    fold_of = [0] * len(labels)
    rng = random.Random(seed)
    for value in (True, False):
        members = [index for index, label in enumerate(labels) if label == value]
        rng.shuffle(members)
        for position, index in enumerate(members):
            fold_of[index] = position % folds
    return fold_of


def classifier_scores(records: List[dict], folds: int = 5, seed: int = 0) -> Dict[str, list]:
    """Out-of-fold positive-label probabilities of fastText classifiers trained per fold."""
    from transforms.quality_fasttext import load_model, one_line, predict_all
    from transforms.quality_model import DEFAULT_MAX_CHARS, POSITIVE_LABEL, train_quality_model
    labels = [record["label"] == "good" for record in records]
    fold_of = _stratified_folds(labels, folds, seed)
    scores: List[Optional[float]] = [None] * len(records)
    with tempfile.TemporaryDirectory() as folder:
        for fold in range(folds):
            paths = {}
            for name, wanted in (("good", True), ("poor", False)):
                paths[name] = os.path.join(folder, f"{name}.jsonl")
                with open(paths[name], "w", encoding="utf-8") as handle:
                    for record, label, record_fold in zip(records, labels, fold_of):
                        if label == wanted and record_fold != fold:
                            handle.write(json.dumps({"text": record["text"]}) + "\n")
            model_path = os.path.join(folder, f"fold{fold}.bin")
            train_quality_model(paths["good"], paths["poor"], model_path, **CLASSIFIER_ARGS)
            model = load_model(model_path)
            held_out = [index for index, record_fold in enumerate(fold_of) if record_fold == fold]
            texts = [one_line(records[index]["text"], DEFAULT_MAX_CHARS) for index in held_out]
            for index, probabilities in zip(held_out, predict_all(model, texts)):
                scores[index] = probabilities.get(POSITIVE_LABEL, 0.0)
    return {"scores": scores, "kept": [score >= 0.5 for score in scores]}


def datatrove_scores(records: List[dict], python: str) -> Dict[str, list]:
    """Share of DataTrove's four filters passed, computed by this file in DataTrove's venv."""
    result = subprocess.run([python, os.path.abspath(__file__), "--datatrove-worker", DATA],
                            capture_output=True, text=True, check=True, timeout=1800)
    passed = json.loads(result.stdout.strip().splitlines()[-1])
    counts = [len(passed[record["id"]]) for record in records]
    return {"scores": [count / len(DATATROVE_FILTERS) for count in counts],
            "kept": [count == len(DATATROVE_FILTERS) for count in counts]}


def _datatrove_worker(path: str) -> None:
    """Runs inside DataTrove's venv: prints {id: [names of the filters the document passes]}."""
    import logging
    logging.disable(logging.WARNING)
    from datatrove.data import Document
    from datatrove.pipeline import filters
    instances = [getattr(filters, name)() for name in DATATROVE_FILTERS]
    passed = {}
    for record in load_labelled(path):
        passed[record["id"]] = []
        for name, instance in zip(DATATROVE_FILTERS, instances):
            # A fresh Document per filter: C4QualityFilter rewrites the text it keeps.
            verdict = instance.filter(Document(text=record["text"], id=record["id"]))
            if verdict is True:
                passed[record["id"]].append(name)
    print(json.dumps(passed))


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datatrove-python", default=os.environ.get("WINNOW_DATATROVE_PYTHON"),
                        help="python of a virtualenv with datatrove installed")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--datatrove-worker", metavar="JSONL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.datatrove_worker:
        _datatrove_worker(args.datatrove_worker)
        return

    records = load_labelled()
    positives = [record["label"] == "good" for record in records]
    n_good = sum(positives)
    n_poor = len(records) - n_good
    rows = [("winnow heuristics (quality_score, share of rules passed)", heuristic_scores(records))]
    rows.append((f"winnow classifier (fastText, {args.folds}-fold out-of-fold)",
                 classifier_scores(records, args.folds)))
    if args.datatrove_python:
        rows.append(("DataTrove Gopher+C4+FineWeb (share of 4 filters passed)",
                     datatrove_scores(records, args.datatrove_python)))
    else:
        print("DataTrove skipped: pass --datatrove-python or set WINNOW_DATATROVE_PYTHON")

    print(f"\nLabelled set: {len(records)} documents ({n_good} good, {n_poor} poor)\n")
    header = f"{'score':60} {'ROC AUC':>8} {'95% CI':>13} {'good kept':>10} {'poor kept':>10}"
    print(header)
    print("-" * len(header))
    for name, result in rows:
        auc = roc_auc(result["scores"], positives)
        low, high = bootstrap_interval(result["scores"], positives)
        good_kept = sum(k for k, p in zip(result["kept"], positives) if p)
        poor_kept = sum(k for k, p in zip(result["kept"], positives) if not p)
        print(f"{name:60} {auc:8.3f} {f'{low:.2f}-{high:.2f}':>13} "
              f"{f'{good_kept}/{n_good}':>10} {f'{poor_kept}/{n_poor}':>10}")
    print("\n'kept': passes every enabled rule / all four DataTrove filters / classifier p >= 0.5.")


if __name__ == "__main__":
    main()
