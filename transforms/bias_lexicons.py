"""Loading the lexicons of the ``bias`` stage: toxicity word lists and the identity lexicon.

The shipped files live in ``transforms/data/`` (see the README there for the source and licence
of each); users replace any of them through the stage's parameters.

- **Toxicity lists**: plain text, one word or phrase per line, optionally followed by a tab and a
  weight; ``#`` starts a comment. Shipped: the LDNOOBW lists of obscene words, one file per
  language (``ldnoobw/<language>.txt``), and a list of English insults, profanity and threats
  (``insults.en.txt``).
- **Allow list**: same format; phrases that are never toxic although they contain a listed word
  ("sexual orientation" against "sexual"). They win because the longest phrase wins.
- **Identity lexicon**: YAML with ``person_nouns``, ``gendered_terms`` and ``axes``
  (``identity_terms.en.yaml`` documents the format).

:func:`identity_phrases` and :func:`without_identity_terms` enforce the rule that an identity term
is never toxic by itself: every toxicity entry that contains an identity or gendered term
("gay sex", "white power", "girl on") is left out, so a sentence about one group never scores
higher than the same sentence about another.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

import yaml
from apache_beam.io.filesystems import FileSystems

from transforms.lexicon import words_of

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
LDNOOBW_DIR = os.path.join(DATA_DIR, "ldnoobw")
INSULTS_EN = os.path.join(DATA_DIR, "insults.en.txt")
ALLOW_EN = os.path.join(DATA_DIR, "toxicity_allow.en.txt")
IDENTITY_EN = os.path.join(DATA_DIR, "identity_terms.en.yaml")

PERSON_PLACEHOLDER = "<person>"


class LexiconError(ValueError):
    """A lexicon file that cannot be read or parsed; the message names the file."""


@dataclasses.dataclass(frozen=True)
class IdentityTerm:
    phrase: str
    group: str  # "axis/group"
    needs_person_noun: bool


@dataclasses.dataclass(frozen=True)
class IdentityLexicon:
    """The parsed identity lexicon.

    Attributes:
      terms: every identity term with its "axis/group".
      person_nouns: words that make a ``<person>`` term count when they follow it.
      gendered: {"female": (...), "male": (...)} words for the gender-balance signals.
    """
    terms: Tuple[IdentityTerm, ...]
    person_nouns: FrozenSet[str]
    gendered: Dict[str, Tuple[str, ...]]

    @property
    def groups(self) -> List[str]:
        return sorted({term.group for term in self.terms})

    def next_words(self) -> FrozenSet[str]:
        """Words after which a ``<person>`` term counts: person nouns and identity words."""
        first_words = {words_of(term.phrase)[0] for term in self.terms if words_of(term.phrase)}
        return frozenset(self.person_nouns) | frozenset(first_words)


def _read_text(path: str) -> str:
    try:
        if "://" in path:
            with FileSystems.open(path) as handle:
                return handle.read().decode("utf-8")
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise LexiconError(f"cannot read lexicon {path}: {error}") from None


def parse_term_list(text: str, source: str = "<text>") -> List[Tuple[str, float]]:
    """(phrase, weight) pairs from the plain-text list format."""
    terms = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        phrase, _, weight = line.partition("\t")
        try:
            value = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise LexiconError(f"{source}:{number}: weight {weight!r} is not a number") from None
        terms.append((phrase.strip(), value))
    return terms


@functools.lru_cache(maxsize=64)
def load_term_list(path: str) -> Tuple[Tuple[str, float], ...]:
    """The (phrase, weight) pairs of a list file (cached per path)."""
    return tuple(parse_term_list(_read_text(path), path))


def ldnoobw_path(language: str) -> Optional[str]:
    """The shipped LDNOOBW list for a language code, or None when there is none."""
    path = os.path.join(LDNOOBW_DIR, f"{language}.txt")
    return path if os.path.isfile(path) else None


def ldnoobw_languages() -> List[str]:
    return sorted(name[:-4] for name in os.listdir(LDNOOBW_DIR) if name.endswith(".txt"))


def _terms_of(value, source: str, where: str) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise LexiconError(f"{source}: {where} must be a list of strings")
    return value


def parse_identity_lexicon(text: str, source: str = "<text>") -> IdentityLexicon:
    """Parses the YAML identity lexicon (format in ``data/identity_terms.en.yaml``)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise LexiconError(f"{source} is not valid YAML: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("axes"), dict):
        raise LexiconError(f"{source}: expected a mapping with an 'axes' mapping")
    terms = []
    for axis, groups in data["axes"].items():
        if not isinstance(groups, dict):
            raise LexiconError(f"{source}: axes.{axis} must map group names to term lists")
        for group, phrases in groups.items():
            for phrase in _terms_of(phrases, source, f"axes.{axis}.{group}"):
                phrase = phrase.strip()
                needs_person = phrase.endswith(PERSON_PLACEHOLDER)
                if needs_person:
                    phrase = phrase[:-len(PERSON_PLACEHOLDER)].strip()
                terms.append(IdentityTerm(phrase, f"{axis}/{group}", needs_person))
    person_nouns = _terms_of(data.get("person_nouns", []), source, "person_nouns")
    gendered = data.get("gendered_terms") or {}
    if not isinstance(gendered, dict):
        raise LexiconError(f"{source}: gendered_terms must map a gender to a term list")
    return IdentityLexicon(
        terms=tuple(terms),
        person_nouns=frozenset(word for noun in person_nouns for word in words_of(noun)),
        gendered={gender: tuple(_terms_of(words, source, f"gendered_terms.{gender}"))
                  for gender, words in gendered.items()})


@functools.lru_cache(maxsize=16)
def load_identity_lexicon(path: str = IDENTITY_EN) -> IdentityLexicon:
    return parse_identity_lexicon(_read_text(path), path)


def identity_phrases(lexicon: IdentityLexicon) -> FrozenSet[Tuple[str, ...]]:
    """The word sequences of every identity term and gendered term (person nouns aside)."""
    phrases = {words_of(term.phrase) for term in lexicon.terms}
    for terms in lexicon.gendered.values():
        phrases.update(words_of(term) for term in terms)
    phrases.discard(())
    return frozenset(phrases)


def contains_phrase(words: Tuple[str, ...], phrases: FrozenSet[Tuple[str, ...]]) -> bool:
    """Whether any of ``phrases`` occurs as consecutive words of ``words``."""
    return any(words[start:end] in phrases
               for start in range(len(words)) for end in range(start + 1, len(words) + 1))


def without_identity_terms(terms: Iterable[Tuple[str, float]],
                           identity: FrozenSet[Tuple[str, ...]]
                           ) -> Tuple[List[Tuple[str, float]], List[str]]:
    """Splits toxicity terms into those kept and those left out for containing an identity term
    ("gay sex", "white power", "girl on"; but not "piece of shit" for "hard of hearing")."""
    kept, removed = [], []
    for phrase, weight in terms:
        if contains_phrase(words_of(phrase), identity):
            removed.append(phrase)
        else:
            kept.append((phrase, weight))
    return kept, removed
