"""The recognizers of the ``pii`` stage: Presidio's, made faster or stricter, plus a few more.

:func:`build_registry` assembles a Presidio ``RecognizerRegistry`` for a set of entity types:

===================  =======================================================================
entity type          recognizers
===================  =======================================================================
EMAIL_ADDRESS        Presidio's ``EmailRecognizer``; :class:`UrlEncodedEmailRecognizer` for
                     addresses inside URLs written ``name%40example.com``
PHONE_NUMBER         :class:`DigitRunPhoneRecognizer` (Presidio's ``PhoneRecognizer`` run only
                     on runs of digits); :class:`NanpPhoneRecognizer` for North American
                     numbers written in the usual shapes, whatever their area code
CREDIT_CARD          Presidio's ``CreditCardRecognizer`` (Luhn-checked); plus Mastercard's
                     2-series numbers (2221-2720, issued since 2017), which its pattern misses
IBAN_CODE            Presidio's ``IbanRecognizer``; :class:`ChecksumIbanRecognizer`, which also
                     finds IBANs followed by a word (Presidio's pattern can swallow the word
                     and then fail the checksum)
US_SSN, US_BANK_NUMBER, IP_ADDRESS, URL, ...
                     Presidio's predefined recognizers for the type
PERSON, LOCATION, NRP, ORGANIZATION, DATE_TIME
                     Presidio's ``SpacyRecognizer``, reading the entities of
                     :class:`transforms.pii_nlp.WindowedNerEngine`
===================  =======================================================================

Extra pattern recognizers (regular expressions with scores, plus context words) come from the
stage's configuration via :func:`pattern_recognizer`.
"""

from __future__ import annotations

import logging
from typing import Dict, Iterable, List, Optional, Sequence

import phonenumbers
import regex
from presidio_analyzer import (
    AnalysisExplanation,
    EntityRecognizer,
    LocalRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UrlRecognizer,
    UsBankRecognizer,
    UsSsnRecognizer,
)
from presidio_analyzer.predefined_recognizers.generic.iban_patterns import regex_per_country

from transforms.pii_offline import configure_tldextract_offline

# Entity types that come from the NER model (through Presidio's label mapping).
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION", "DATE_TIME"})

# Presidio's own default regions for phone numbers.
DEFAULT_PHONE_REGIONS = tuple(PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS)

_CASE_SENSITIVE = regex.DOTALL | regex.MULTILINE


class DigitRunPhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer (python-phonenumbers' matcher), run only on runs of digits.

    The matcher scans the whole text once per region (eight by default), which makes it one of
    the slowest recognizers on long text. A phone number is a run of digits and separators with
    at least :attr:`MIN_DIGITS` digits, so this finds such runs with one regular expression and
    hands the matcher just those runs (with a few characters either side): the same findings
    for a small fraction of the work, except that IPv4 addresses, which the matcher often takes
    for phone numbers, are not offered to it. Runs longer than :attr:`MAX_RUN` characters
    (tables and dumps of numbers, where the matcher would parse every group) are left to
    :class:`NanpPhoneRecognizer`.
    """

    MIN_DIGITS = 7  # the shortest national numbers of the default regions have 7 digits
    MAX_RUN = 80  # two numbers with extensions and a separator fit easily
    # Digits, separators and an optional extension ("x123", "ext. 123").
    _RUN = regex.compile(r"[+(]?\d[\d ()./\-\u00a0]*\d(?:\s?(?:x|ext\.?)\s?\d{1,6})?",
                         regex.IGNORECASE)
    _DOTTED_QUAD = regex.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
    _MARGIN = 3

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        for start, end in self._windows(text):
            window = text[start:end]
            for region in self.supported_regions:
                for match in phonenumbers.PhoneNumberMatcher(window, region,
                                                             leniency=self.leniency):
                    results.append(RecognizerResult(
                        entity_type=self.supported_entities[0],
                        start=start + match.start, end=start + match.end, score=self.SCORE,
                        analysis_explanation=self._get_analysis_explanation(region),
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        }))
        return EntityRecognizer.remove_duplicates(results)

    def _windows(self, text):
        """Runs of digits worth matching, widened by a few characters."""
        windows = []
        for match in self._RUN.finditer(text):
            run = match.group()
            if sum(character.isdigit() for character in run) < self.MIN_DIGITS:
                continue
            if self._DOTTED_QUAD.fullmatch(run):
                continue  # an IPv4 address, not a phone number
            if len(run) > self.MAX_RUN:
                # A table or dump of numbers: the matcher would parse every digit group in it
                # (tens of microseconds per character). NanpPhoneRecognizer still looks at it.
                continue
            start = max(0, match.start() - self._MARGIN)
            end = min(len(text), match.end() + self._MARGIN)
            if windows and start <= windows[-1][1]:
                windows[-1] = (windows[-1][0], end)
            else:
                windows.append((start, end))
        return windows


class NanpPhoneRecognizer(PatternRecognizer):
    """North American (NANP) phone numbers in the shapes people write, valid area code or not.

    python-phonenumbers rejects numbers whose area code is not (yet) assigned, e.g.
    "(591) 341-7776", although text like that is a phone number all the same. Ten digits
    without separators only count next to a context word.
    """

    PATTERNS = [
        Pattern("NANP with separators",
                r"(?<![\w+.\-/])(?:(?:\+?1|001)[ .\-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .\-])\d{3}[ .\-]"
                r"\d{4}(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?(?![\w\-/]|\.\d)", 0.4),
        Pattern("NANP digits only", r"(?<![\w+.\-/])(?:\+?1)?\d{10}(?![\w\-/]|\.\d)", 0.1),
    ]
    CONTEXT = ["phone", "telephone", "tel", "cell", "mobile", "call", "fax", "contact", "text",
               "whatsapp"]

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entity="PHONE_NUMBER", name="NanpPhoneRecognizer",
                         patterns=self.PATTERNS, context=self.CONTEXT,
                         supported_language=supported_language)


class UrlEncodedEmailRecognizer(PatternRecognizer):
    """E-mail addresses inside URLs with the "@" percent-encoded (``%40``, or ``%2540``).

    Presidio's e-mail pattern needs a literal "@", so ``?email=jane.doe%40example.com`` in an
    unsubscribe or tracking link passes unseen. The domain must end in a known public suffix,
    checked like Presidio's own e-mail recognizer does (tldextract, offline).
    """

    PATTERNS = [Pattern("URL-encoded e-mail",
                        r"(?<![\w.%+\-])[\w.+\-]+%(?:25)?40[\w\-]+(?:\.[\w\-]+)+", 0.5)]
    CONTEXT = ["email", "mail", "user", "login", "address"]
    _AT = regex.compile(r"%(?:25)?40", regex.IGNORECASE)

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entity="EMAIL_ADDRESS", name="UrlEncodedEmailRecognizer",
                         patterns=self.PATTERNS, context=self.CONTEXT,
                         supported_language=supported_language)

    def validate_result(self, pattern_text: str) -> bool:
        import tldextract  # pylint: disable=import-outside-toplevel
        domain = self._AT.split(pattern_text, maxsplit=1)[-1]
        return tldextract.extract(domain).fqdn != ""


def mastercard_2_series_recognizer(supported_language: str = "en") -> CreditCardRecognizer:
    """Presidio's credit-card recognizer (Luhn check, context words) for Mastercard 2221-2720."""
    return CreditCardRecognizer(
        patterns=[Pattern("Mastercard 2-series",
                          r"\b(?:222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)[- ]?\d{4}[- ]?"
                          r"\d{4}[- ]?\d{4}\b", 0.3)],
        supported_language=supported_language, name="Mastercard2SeriesRecognizer")


class ChecksumIbanRecognizer(LocalRecognizer):
    """IBANs, compact or in groups of four, found by shape and confirmed by checksum.

    A candidate is two capital letters, two check digits and 11-30 more letters or digits
    (optionally grouped by spaces). The longest prefix of it that has the country's format
    (Presidio's per-country table, after the IBAN registry) and a valid ISO 7064 mod 97-10
    checksum is the IBAN; a word that follows it is left alone.
    """

    _CANDIDATE = regex.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}")
    CONTEXT = ["iban", "bank", "account", "transfer"]

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["IBAN_CODE"], name="ChecksumIbanRecognizer",
                         supported_language=supported_language, context=self.CONTEXT)

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        for match in self._CANDIDATE.finditer(text):
            end = self._longest_valid_end(match.group())
            if end:
                results.append(RecognizerResult(
                    entity_type="IBAN_CODE", start=match.start(), end=match.start() + end,
                    score=EntityRecognizer.MAX_SCORE,
                    analysis_explanation=AnalysisExplanation(
                        recognizer=self.name, original_score=EntityRecognizer.MAX_SCORE,
                        textual_explanation="IBAN format and checksum"),
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    }))
        return results

    @staticmethod
    def _longest_valid_end(candidate: str) -> int:
        """Length of the longest valid IBAN at the start of ``candidate`` (0 if none).

        A grouped candidate ("DE89 3704 0044 ...") is only cut between groups; a compact one
        anywhere.
        """
        country_format = regex_per_country.get(candidate[:2])
        if not country_format:
            return 0
        if " " in candidate:
            ends = [len(candidate)] + [index for index in range(len(candidate) - 1, 14, -1)
                                       if candidate[index] == " "]
        else:
            ends = range(len(candidate), 14, -1)
        for end in ends:
            prefix = candidate[:end]
            if (regex.fullmatch(country_format, prefix)
                    and _iban_checksum_ok(prefix.replace(" ", ""))):
                return end
        return 0


def _iban_checksum_ok(compact: str) -> bool:
    """ISO 7064 mod 97-10, as IBANs use it (ISO 13616)."""
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(character, 36)) for character in rearranged)) % 97 == 1
    except ValueError:
        return False


def pattern_recognizer(entity_type: str, patterns: Sequence[Dict], context: Sequence[str],
                       *, name: Optional[str] = None, case_sensitive: bool = False,
                       supported_language: str = "en") -> PatternRecognizer:
    """A Presidio pattern recognizer from configuration.

    Args:
      patterns: dicts with ``regex``, ``score`` and optionally ``name``.
      context: words that raise a match's score when they appear just before it.
    """
    recognizer = PatternRecognizer(
        supported_entity=entity_type, name=name or f"Config{entity_type.title()}Recognizer",
        patterns=[Pattern(spec.get("name") or f"{entity_type} pattern {index}", spec["regex"],
                          float(spec["score"])) for index, spec in enumerate(patterns)],
        context=list(context) or None, supported_language=supported_language,
        global_regex_flags=(_CASE_SENSITIVE if case_sensitive
                            else _CASE_SENSITIVE | regex.IGNORECASE))
    return recognizer


# Presidio's recognizer classes for the common pattern-based types, built directly (loading
# Presidio's whole predefined registry takes seconds and logs a warning per foreign recognizer).
_PRESIDIO_CLASSES = {
    "EMAIL_ADDRESS": EmailRecognizer,
    "CREDIT_CARD": CreditCardRecognizer,
    "IBAN_CODE": IbanRecognizer,
    "US_SSN": UsSsnRecognizer,
    "US_BANK_NUMBER": UsBankRecognizer,
    "IP_ADDRESS": IpRecognizer,
    "URL": UrlRecognizer,
}


def _predefined(entities: Iterable[str], language: str) -> List[EntityRecognizer]:
    """Presidio's predefined recognizers for ``entities`` (other than NER and phone)."""
    wanted = set(entities)
    recognizers = [_PRESIDIO_CLASSES[entity](supported_language=language)
                   for entity in sorted(wanted & set(_PRESIDIO_CLASSES))]
    rest = wanted - set(_PRESIDIO_CLASSES)
    if not rest:
        return recognizers
    presidio_log = logging.getLogger("presidio-analyzer")
    level = presidio_log.level
    presidio_log.setLevel(logging.ERROR)  # one warning per recognizer of another language
    try:
        registry = RecognizerRegistry(supported_languages=[language])
        registry.load_predefined_recognizers(languages=[language])
    finally:
        presidio_log.setLevel(level)
    return recognizers + [
        recognizer for recognizer in registry.recognizers
        if rest & set(recognizer.supported_entities)
        and not isinstance(recognizer, (SpacyRecognizer, PhoneRecognizer))
        and recognizer.supported_language == language]


def build_registry(entities: Iterable[str], *, language: str = "en",
                   phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
                   extra: Sequence[PatternRecognizer] = ()) -> RecognizerRegistry:
    """A registry with the recognizers for ``entities`` (see the module docstring)."""
    configure_tldextract_offline()
    entities = set(entities)
    recognizers: List[EntityRecognizer] = []
    if "EMAIL_ADDRESS" in entities:
        recognizers.append(UrlEncodedEmailRecognizer(supported_language=language))
    if "PHONE_NUMBER" in entities:
        recognizers.append(DigitRunPhoneRecognizer(supported_language=language,
                                                   supported_regions=tuple(phone_regions)))
        recognizers.append(NanpPhoneRecognizer(supported_language=language))
    if "CREDIT_CARD" in entities:
        recognizers.append(mastercard_2_series_recognizer(language))
    if "IBAN_CODE" in entities:
        recognizers.append(ChecksumIbanRecognizer(supported_language=language))
    ner_entities = sorted(entities & NER_ENTITIES)
    if ner_entities:
        recognizers.append(SpacyRecognizer(supported_language=language,
                                           supported_entities=ner_entities))
    others = entities - NER_ENTITIES - {"PHONE_NUMBER"}
    if others:
        recognizers.extend(_predefined(others, language))
    recognizers.extend(extra)
    covered = {entity for recognizer in recognizers for entity in recognizer.supported_entities}
    missing = entities - covered
    if missing:
        raise ValueError(f"no recognizer for entity types {sorted(missing)} in language "
                         f"{language!r}; add an extra recognizer for them")
    return RecognizerRegistry(recognizers=recognizers, supported_languages=[language])
