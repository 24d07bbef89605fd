"""Finding the words and phrases of several lexicons in a text, in one pass.

A :class:`PhraseMatcher` is built once from lexicon entries (a phrase and what it means) and then
scans texts. Matching is by whole words and case-insensitive: a text and every phrase are split
into words the same way (:func:`words_of`: runs of letters and digits; any other character,
including ``-`` and ``'``, separates words), so ``"Non-binary"`` matches the phrase
``"non binary"`` and ``"idiot"`` never matches inside ``"idiotic"``.

How a scan works, and why it is fast: the lower-cased text is split into words and sentence
boundaries (``.``, ``!``, ``?`` and line breaks) by one regular expression; the positions of the
few words that start some phrase are picked out by a C-level membership test; only at those
positions are the word n-grams (up to the longest phrase that starts with that word) looked up in
a dict. There is no loop over the lexicon and no regular expression per term, so the cost grows
with the text, not with the number of terms.

Each entry belongs to a *kind* (e.g. ``toxic``, ``identity``). Within a kind, the longest phrase
at a position wins and its words are not matched again ("son of a bitch" is one match, not also
"bitch"); different kinds match independently, so "black women" can be both a race and a gender
mention. An entry may require that the next word belongs to a given set (``next_words``), which
is how ambiguous adjectives such as "black" count only before a word for people.

Example::

    matcher = PhraseMatcher([
        ("idiot", LexiconEntry("toxic", "insults")),
        ("black", LexiconEntry("identity", "race_ethnicity/black",
                               next_words=frozenset({"people", "women"}))),
    ])
    scan = matcher.scan("Black women are not idiots. Black coffee is.")
    [(m.kind, m.label, m.sentence) for m in scan.matches]
    # [('identity', 'race_ethnicity/black', 0)]   ("idiots" is not "idiot")
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

# A word is a run of letters or digits (any script); the other alternatives are sentence
# boundaries. Everything else separates words.
_WORDS_AND_BOUNDARIES = re.compile(r"[^\W_]+|[.!?\n]")
_WORDS = re.compile(r"[^\W_]+")
SENTENCE_BOUNDARIES = frozenset(".!?\n")


def words_of(phrase: str) -> Tuple[str, ...]:
    """The lower-cased words of a phrase, as a text is split for matching."""
    return tuple(_WORDS.findall(phrase.lower()))


@dataclasses.dataclass(frozen=True)
class LexiconEntry:
    """What a phrase means when found.

    Attributes:
      kind: which lexicon the phrase belongs to; kinds are matched independently.
      label: what the phrase stands for (a group, a list name, ...).
      weight: a number the caller may use (e.g. how toxic); 0 marks a phrase that only
        consumes its words, so that a shorter phrase inside it does not match.
      next_words: if set, the phrase matches only when the next word is in this set.
    """
    kind: str
    label: str
    weight: float = 1.0
    next_words: Optional[FrozenSet[str]] = None


@dataclasses.dataclass(frozen=True)
class Match:
    """One phrase found in a text."""
    kind: str
    label: str
    weight: float
    length: int  # in words
    sentence: int  # index of the sentence (counting boundaries) that holds it
    position: int  # index of its first word in tokens_of(text)


@dataclasses.dataclass(frozen=True)
class Scan:
    """What a scan found: the matches, and how many words and non-empty sentences the text has."""
    matches: List[Match]
    words: int
    sentences: int


def tokens_of(text: str) -> List[str]:
    """The lower-cased words and sentence boundaries of a text, as :meth:`PhraseMatcher.scan`
    sees them (``Match.position`` indexes this list)."""
    return _WORDS_AND_BOUNDARIES.findall(text.lower())


class PhraseMatcher:
    """Matches phrases of several lexicons in texts (see the module docstring).

    Args:
      entries: (phrase, entry) pairs. A phrase with no words (only punctuation) is ignored. For
        the same kind and phrase, the first entry wins.
    """

    def __init__(self, entries: Iterable[Tuple[str, LexiconEntry]]):
        table: Dict[str, List[LexiconEntry]] = {}
        lengths: Dict[str, set] = {}
        for phrase, entry in entries:
            words = words_of(phrase)
            if not words:
                continue
            key = " ".join(words)
            existing = table.setdefault(key, [])
            if any(other.kind == entry.kind for other in existing):
                continue
            existing.append(entry)
            lengths.setdefault(words[0], set()).add(len(words))
        self._table = {key: tuple(value) for key, value in table.items()}
        # first word -> the phrase lengths that start with it, longest first
        self._lengths = {word: tuple(sorted(found, reverse=True))
                         for word, found in lengths.items()}
        self._interesting = frozenset(self._lengths) | SENTENCE_BOUNDARIES

    @property
    def phrase_count(self) -> int:
        return len(self._table)

    def contains(self, phrase: str) -> bool:
        return " ".join(words_of(phrase)) in self._table

    def scan(self, text: str) -> Scan:
        tokens = tokens_of(text)
        positions = itertools.compress(itertools.count(),
                                       map(self._interesting.__contains__, tokens))
        table, lengths = self._table, self._lengths
        total = len(tokens)
        matches: List[Match] = []
        next_free: Dict[str, int] = {}  # kind -> first position not covered by a match
        sentence = 0  # boundaries seen so far
        sentences = 0  # non-empty sentences
        boundaries = 0
        last_boundary = -1
        for position in positions:
            token = tokens[position]
            if token in SENTENCE_BOUNDARIES:
                boundaries += 1
                if position - last_boundary > 1:
                    sentences += 1
                last_boundary = position
                sentence += 1
                continue
            matched_kinds = set()
            for length in lengths[token]:
                end = position + length
                if end > total:
                    continue
                key = token if length == 1 else " ".join(tokens[position:end])
                found = table.get(key)
                if not found:
                    continue
                for entry in found:
                    kind = entry.kind
                    if kind in matched_kinds or next_free.get(kind, 0) > position:
                        continue
                    if entry.next_words is not None and (
                            end >= total or tokens[end] not in entry.next_words):
                        continue
                    matched_kinds.add(kind)
                    next_free[kind] = end
                    matches.append(Match(kind, entry.label, entry.weight, length, sentence,
                                         position))
        if total - last_boundary > 1:
            sentences += 1
        return Scan(matches, total - boundaries, sentences)
