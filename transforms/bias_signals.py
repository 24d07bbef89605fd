"""The per-document bias signals: toxicity, identity mentions, gender balance, toxic context.

:class:`BiasScorer` turns a text into a :class:`BiasResult` with one scan of a
:class:`transforms.lexicon.PhraseMatcher` that holds every lexicon at once:

- **toxicity**: the weighted share of words that belong to a toxicity list (LDNOOBW and the
  insults list by default), mapped to [0, 1) as ``share / (share + half_share)``; a share of
  ``half_share`` (2 % by default: one listed word in fifty) scores 0.5. The mapping keeps the order
  of the shares (so ROC AUC is that of the word share), but a single mild word in a long page stays
  near 0 while a short insult scores high. An identity mention counts as one word whatever its
  length, and no toxicity entry contains an identity word (:mod:`transforms.bias_lexicons`), so
  swapping one group's name for another's never changes the score.
- **identity mentions**: counts per "axis/group" of the identity lexicon.
- **gender balance**: counts of female and male pronouns and gendered nouns, and the female share.
- **identity in toxic context**: identity mentions inside sentences that hold a toxic term, in
  total and per group.
- **blocked terms**: which of the configured ``block_terms`` occur (the stage may drop on them).

Signal names (keys of ``bias_signals``): ``words``, ``sentences``, ``toxic_terms``,
``toxic_word_share``, ``toxic_sentences``, ``toxic_sentence_share``, ``toxic_terms:<list>``,
``identity_mentions``, ``identity_in_toxic_context``, ``toxic_context:<axis/group>``,
``gender_female_terms``, ``gender_male_terms`` and, when either is non-zero,
``gender_female_share``. Per-list and per-group keys appear only when non-zero.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from transforms import bias_lexicons
from transforms.lexicon import LexiconEntry, PhraseMatcher

TOXIC = "toxic"
IDENTITY = "identity"
GENDERED = "gendered"
BLOCKED = "blocked"
ALLOWED_LABEL = "allowed"

DEFAULT_HALF_SHARE = 0.02


@dataclasses.dataclass(frozen=True)
class BiasResult:
    toxicity: float
    identity_mentions: Dict[str, int]
    signals: Dict[str, float]
    blocked_terms: List[str]


@dataclasses.dataclass(frozen=True)
class ToxicityList:
    """A toxicity word list: a short name (used in signal names) and its file."""
    name: str
    path: str


def list_name(path: str) -> str:
    """``.../insults.en.txt`` -> ``insults``."""
    return os.path.basename(path).split(".")[0]


class BiasScorer:
    """Computes :class:`BiasResult` values (see the module docstring).

    Args:
      toxicity_lists: lists applied to every document.
      language_lists: extra lists per language code, applied to documents in that language.
      allow_list: file of phrases that are never toxic, or None.
      identity_lexicon: the YAML identity lexicon file.
      block_terms: words or phrases whose presence the result reports in ``blocked_terms``.
      half_share: the toxic word share that scores 0.5.
    """

    def __init__(self, toxicity_lists: Sequence[ToxicityList],
                 language_lists: Optional[Mapping[str, ToxicityList]] = None,
                 allow_list: Optional[str] = bias_lexicons.ALLOW_EN,
                 identity_lexicon: str = bias_lexicons.IDENTITY_EN,
                 block_terms: Iterable[str] = (),
                 half_share: float = DEFAULT_HALF_SHARE):
        if not 0 < half_share < 1:
            raise ValueError(f"half_share must be in (0, 1), got {half_share}")
        self._toxicity_lists = list(toxicity_lists)
        self._language_lists = dict(language_lists or {})
        self._allow = bias_lexicons.load_term_list(allow_list) if allow_list else ()
        self._identity = bias_lexicons.load_identity_lexicon(identity_lexicon)
        self._forbidden = bias_lexicons.identity_phrases(self._identity)
        self._block_terms = tuple(block_terms)
        self._half_share = half_share
        self._matchers: Dict[Optional[str], PhraseMatcher] = {}
        self.removed_toxicity_terms: List[str] = []
        self._matcher_for(None)  # load and check every shared file now

    @property
    def identity_lexicon(self) -> bias_lexicons.IdentityLexicon:
        return self._identity

    def _lists_for(self, language: Optional[str]) -> List[ToxicityList]:
        lists = list(self._toxicity_lists)
        extra = self._language_lists.get(language) if language else None
        if extra is not None and extra.path not in {known.path for known in lists}:
            lists.append(extra)
        return lists

    def _matcher_for(self, language: Optional[str]) -> PhraseMatcher:
        key = language if language in self._language_lists else None
        matcher = self._matchers.get(key)
        if matcher is None:
            matcher = self._matchers[key] = self._build_matcher(self._lists_for(key))
        return matcher

    def _build_matcher(self, lists: Sequence[ToxicityList]) -> PhraseMatcher:
        entries: List[Tuple[str, LexiconEntry]] = []
        # Allowed phrases first: for the same phrase, the first entry of a kind wins.
        for phrase, _ in self._allow:
            entries.append((phrase, LexiconEntry(TOXIC, ALLOWED_LABEL, 0.0)))
        removed = []
        for toxicity_list in lists:
            kept, left_out = bias_lexicons.without_identity_terms(
                bias_lexicons.load_term_list(toxicity_list.path), self._forbidden)
            removed.extend(left_out)
            entries.extend((phrase, LexiconEntry(TOXIC, toxicity_list.name, weight))
                           for phrase, weight in kept)
        self.removed_toxicity_terms = sorted(set(self.removed_toxicity_terms) | set(removed))
        entries.extend(identity_entries(self._identity))
        entries.extend(gendered_entries(self._identity))
        entries.extend((term, LexiconEntry(BLOCKED, term)) for term in self._block_terms)
        return PhraseMatcher(entries)

    def score(self, text: str, language: Optional[str] = None) -> BiasResult:
        scan = self._matcher_for(language).scan(text)
        toxic_weight = 0.0
        per_list: Dict[str, float] = {}
        toxic_sentences = set()
        identity: Dict[str, int] = {}
        identity_by_sentence: List[Tuple[int, str]] = []
        extra_identity_words = 0
        gendered: Dict[str, int] = {}
        blocked: List[str] = []
        for match in scan.matches:
            kind = match.kind
            if kind == TOXIC:
                if match.weight > 0:
                    toxic_weight += match.weight
                    per_list[match.label] = per_list.get(match.label, 0.0) + match.weight
                    toxic_sentences.add(match.sentence)
            elif kind == IDENTITY:
                identity[match.label] = identity.get(match.label, 0) + 1
                identity_by_sentence.append((match.sentence, match.label))
                extra_identity_words += match.length - 1
            elif kind == GENDERED:
                gendered[match.label] = gendered.get(match.label, 0) + 1
            elif kind == BLOCKED and match.label not in blocked:
                blocked.append(match.label)
        words = max(scan.words - extra_identity_words, 1)
        share = toxic_weight / words
        toxicity = share / (share + self._half_share)
        in_toxic_context: Dict[str, int] = {}
        for sentence, group in identity_by_sentence:
            if sentence in toxic_sentences:
                in_toxic_context[group] = in_toxic_context.get(group, 0) + 1
        female, male = gendered.get("female", 0), gendered.get("male", 0)
        signals = {
            "words": float(scan.words),
            "sentences": float(scan.sentences),
            "toxic_terms": toxic_weight,
            "toxic_word_share": share,
            "toxic_sentences": float(len(toxic_sentences)),
            "toxic_sentence_share": len(toxic_sentences) / max(scan.sentences, 1),
            "identity_mentions": float(sum(identity.values())),
            "identity_in_toxic_context": float(sum(in_toxic_context.values())),
            "gender_female_terms": float(female),
            "gender_male_terms": float(male),
        }
        if female or male:
            signals["gender_female_share"] = female / (female + male)
        for name, weight in per_list.items():
            signals[f"toxic_terms:{name}"] = weight
        for group, count in in_toxic_context.items():
            signals[f"toxic_context:{group}"] = float(count)
        return BiasResult(toxicity, identity, signals, blocked)


def identity_entries(lexicon: bias_lexicons.IdentityLexicon) -> List[Tuple[str, LexiconEntry]]:
    """The identity terms as :class:`PhraseMatcher` entries of kind ``identity``, labelled with
    their "axis/group"; a ``<person>`` term matches only before a person noun or identity word."""
    next_words = lexicon.next_words()
    return [(term.phrase, LexiconEntry(
        IDENTITY, term.group, next_words=next_words if term.needs_person_noun else None))
            for term in lexicon.terms]


def gendered_entries(lexicon: bias_lexicons.IdentityLexicon) -> List[Tuple[str, LexiconEntry]]:
    """The gendered words as :class:`PhraseMatcher` entries of kind ``gendered``, labelled
    ``female`` or ``male``."""
    return [(word, LexiconEntry(GENDERED, gender))
            for gender, words in lexicon.gendered.items() for word in words]


def default_toxicity_lists(languages: Sequence[str]) -> List[ToxicityList]:
    """The shipped lists for ``languages``: LDNOOBW for each, and the English insults list."""
    lists = []
    for language in languages:
        path = bias_lexicons.ldnoobw_path(language)
        if path is None:
            raise bias_lexicons.LexiconError(
                f"no LDNOOBW list for language {language!r}; shipped: "
                f"{', '.join(bias_lexicons.ldnoobw_languages())}")
        lists.append(ToxicityList("ldnoobw", path))
    if "en" in languages:
        lists.append(ToxicityList("insults", bias_lexicons.INSULTS_EN))
    return lists


def language_toxicity_lists() -> Dict[str, ToxicityList]:
    """The shipped LDNOOBW list of every language, for documents whose language is known."""
    return {language: ToxicityList("ldnoobw", bias_lexicons.ldnoobw_path(language))
            for language in bias_lexicons.ldnoobw_languages()}
