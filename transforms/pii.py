"""The ``pii`` stage: finds personal data with Presidio and replaces it, document by document.

For every document the stage finds the configured entity types (by default people, locations,
e-mail addresses including those inside URLs, phone numbers, credit cards, IBANs, US social
security and bank account numbers, IP addresses) whose score reaches ``score_threshold``, and
applies each type's operator:

- ``replace`` (default): a typed placeholder, e.g. ``<EMAIL_ADDRESS>``;
- ``mask``: ``mask_char`` for every character (keeping the last ``mask_keep_last``);
- ``hash``: ``<EMAIL_ADDRESS:9f2c41d07a5be3f0>``, an HMAC-SHA256 of the value keyed with a secret
  read from the environment variable named by ``hash_secret_env`` (or ``hash_secret``); the
  secret is never logged or written to lineage;
- ``drop``: the whole document is dropped (reason ``pii_present``).

It is built for throughput (:mod:`transforms.pii_scrubber`): documents arrive in batches of
``batch_size``, spaCy runs only its NER component and only around capitalized words
(:mod:`transforms.pii_nlp`), Presidio's recognizers get those precomputed NLP artifacts, and long
documents are analyzed in overlapping chunks so time and memory grow linearly with length. The
models load once per worker process and are shared by its threads
(``apache_beam.utils.shared.Shared``). Nothing touches the network: tldextract uses its bundled
suffix list and a missing spaCy model is an error, never a download (:mod:`transforms.pii_offline`).

Writes the annotation column ``pii_entities``: entity type -> number of spans replaced (an empty
map when the document has none). Lineage, per record (types, counts, operators and hashes, never
the values):

=============  ================  =============================================================
action         reason            fields
=============  ================  =============================================================
``modified``   ``pii_redacted``  ``scores``: entity type -> spans replaced; ``value``: total;
                                 ``details``: ``operators`` (type -> operator) and
                                 ``content_sha256_before``; the event's ``content_sha256`` is
                                 the hash after
``passed``     --                no PII found; the text is unchanged
``dropped``    ``pii_present``   a ``drop`` type was found; scores, operators, hash as above
``dropped``    ``too_large``     longer than ``max_chars`` (``value``: length, ``threshold``:
                                 ``max_chars``), when ``oversize_action`` is ``drop`` (default)
``errored``    ``too_large``     the same, when ``oversize_action`` is ``dead_letter``
=============  ================  =============================================================

Dropping is the default for oversize documents because a dead letter keeps the raw text in the
quarantine. In annotate-only mode nothing is dropped: a ``drop``-type document is kept with its
PII replaced, but an oversize document is kept *unscrubbed* (``would_drop`` in its event).
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Dict, List, Optional

import pydantic
from apache_beam.utils import shared

from schemas.documents import Document, sha256_text
from transforms.pii_offline import DEFAULT_MODEL
from transforms.stage import DeadLetter, DocumentProcessor, PerDocumentStage, Verdict

DEFAULT_ENTITIES = ("PERSON", "LOCATION", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD",
                    "IBAN_CODE", "US_SSN", "US_BANK_NUMBER", "IP_ADDRESS")
# Presidio's PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS, spelled out so that validating a config
# does not import Presidio.
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
OPERATOR_PATTERN = "^(replace|mask|hash|drop)$"
REDACTED, PII_PRESENT, TOO_LARGE = "pii_redacted", "pii_present", "too_large"

# One apache_beam Shared handle per configuration: the scrubbers built in this process.
_SCRUBBER_HANDLES: Dict[str, shared.Shared] = {}
_HANDLES_LOCK = threading.Lock()


def _scrubber_handle(key: str) -> shared.Shared:
    with _HANDLES_LOCK:
        if key not in _SCRUBBER_HANDLES:
            _SCRUBBER_HANDLES[key] = shared.Shared()
        return _SCRUBBER_HANDLES[key]


class PatternSpec(pydantic.BaseModel):
    """One regular expression of an extra recognizer."""
    model_config = pydantic.ConfigDict(extra="forbid")

    regex: str = pydantic.Field(description="the regular expression (Python 'regex' syntax)")
    score: float = pydantic.Field(0.5, ge=0, le=1, description="the score of a match before "
                                  "context words raise it")
    name: Optional[str] = pydantic.Field(None, description="a name for explanations")

    @pydantic.field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        import regex  # pylint: disable=import-outside-toplevel
        try:
            regex.compile(value)
        except regex.error as error:
            raise ValueError(f"invalid regular expression: {error}") from None
        return value


class RecognizerSpec(pydantic.BaseModel):
    """An extra pattern recognizer: regular expressions plus context words for one entity type."""
    model_config = pydantic.ConfigDict(extra="forbid")

    entity_type: str = pydantic.Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="the entity "
                                      "type it reports, e.g. EMPLOYEE_ID; added to entities")
    patterns: List[PatternSpec] = pydantic.Field(min_length=1, description="its patterns")
    context: List[str] = pydantic.Field(default_factory=list, description="words that raise a "
                                        "match's score by 0.35 when they appear just before it")
    case_sensitive: bool = pydantic.Field(False, description="match the patterns case-"
                                          "sensitively")
    name: Optional[str] = pydantic.Field(None, description="recognizer name")


class PiiParams(pydantic.BaseModel):
    """Parameters of the ``pii`` stage."""
    model_config = pydantic.ConfigDict(extra="forbid")

    entities: List[str] = pydantic.Field(
        default_factory=lambda: list(DEFAULT_ENTITIES),
        description="Presidio entity types to find (any type Presidio or an extra recognizer "
        "supports)")
    # 0.4 is the score Presidio's context enhancer gives a weak pattern (e.g. a bare 9-digit
    # number as US_SSN, 0.05) when a context word is near (min_score_with_context_similarity),
    # and the score of its phone recognizer: weak shapes count only with context.
    score_threshold: float = pydantic.Field(
        0.4, ge=0, le=1, description="findings scoring below this are ignored; 0.4 keeps "
        "weak patterns (SSN/bank-number shapes) only when a context word is near")
    entity_thresholds: Dict[str, float] = pydantic.Field(
        default_factory=dict, description="per entity type overrides of score_threshold")
    default_operator: str = pydantic.Field(
        "replace", pattern=OPERATOR_PATTERN, description="what replaces a finding: replace "
        "(typed placeholder), mask, hash (keyed) or drop (drop the whole document)")
    operators: Dict[str, str] = pydantic.Field(
        default_factory=dict, description="per entity type overrides of default_operator")
    mask_char: str = pydantic.Field("*", min_length=1, max_length=1,
                                    description="the mask operator's character")
    mask_keep_last: int = pydantic.Field(0, ge=0, description="characters the mask operator "
                                         "leaves visible at the end (e.g. 4 for cards)")
    hash_secret_env: str = pydantic.Field(
        "WINNOW_PII_HASH_SECRET", description="environment variable (on the workers) holding "
        "the hash operator's secret")
    hash_secret: Optional[pydantic.SecretStr] = pydantic.Field(
        None, description="the hash operator's secret, if not from the environment (never "
        "printed)")
    hash_chars: int = pydantic.Field(16, ge=8, le=64, description="hex characters of the "
                                     "keyed hash to keep")
    extra_recognizers: List[RecognizerSpec] = pydantic.Field(
        default_factory=list, description="additional pattern recognizers")
    model: str = pydantic.Field(
        DEFAULT_MODEL, description="installed spaCy pipeline used for named entities (e.g. a "
        "larger English model); never downloaded")
    language: str = pydantic.Field("en", description="language code of the model and "
                                   "recognizers")
    ner_scope: str = pydantic.Field(
        "capitalized", pattern="^(capitalized|all)$", description="run NER only around "
        "capitalized words (fast) or over all text")
    ner_window_before: int = pydantic.Field(3, ge=1, description="words of context before "
                                            "a capitalized word given to NER")
    ner_window_after: int = pydantic.Field(5, ge=1, description="words of context after a "
                                           "capitalized word given to NER")
    phone_regions: List[str] = pydantic.Field(
        default_factory=lambda: list(DEFAULT_PHONE_REGIONS),
        description="regions whose phone number formats are recognized (ISO 3166 codes)")
    batch_size: int = pydantic.Field(64, ge=1, description="documents analyzed together")
    chunk_chars: int = pydantic.Field(20_000, ge=1000, description="documents longer than "
                                      "this are analyzed in overlapping chunks")
    chunk_overlap: int = pydantic.Field(256, ge=0, description="characters shared by "
                                        "neighbouring chunks (longer than any PII value)")
    max_chars: int = pydantic.Field(500_000, gt=0, description="longer documents are not "
                                    "analyzed: dropped or dead-lettered (oversize_action)")
    oversize_action: str = pydantic.Field(
        "drop", pattern="^(drop|dead_letter)$", description="what happens to a document over "
        "max_chars: drop (default; keeps no copy of its text) or dead_letter (quarantine)")

    @pydantic.field_validator("entities")
    @classmethod
    def _entity_names(cls, value: List[str]) -> List[str]:
        if not value:
            raise ValueError("at least one entity type is needed")
        bad = [name for name in value if not name or name != name.upper()]
        if bad:
            raise ValueError(f"entity types are upper-case Presidio names, got {bad}")
        return value

    @pydantic.field_validator("operators")
    @classmethod
    def _operator_names(cls, value: Dict[str, str]) -> Dict[str, str]:
        import re  # pylint: disable=import-outside-toplevel
        bad = {entity: op for entity, op in value.items() if not re.match(OPERATOR_PATTERN, op)}
        if bad:
            raise ValueError(f"operators must be replace, mask, hash or drop; got {bad}")
        return value

    @pydantic.model_validator(mode="after")
    def _known_types(self) -> "PiiParams":
        known = set(self.entities) | {spec.entity_type for spec in self.extra_recognizers}
        for field in ("operators", "entity_thresholds"):
            unknown = sorted(set(getattr(self, field)) - known)
            if unknown:
                raise ValueError(f"{field} names entity types that are not searched for: "
                                 f"{unknown}")
        return self

    def operator_for(self, entity_type: str) -> str:
        return self.operators.get(entity_type, self.default_operator)

    def uses_hash(self) -> bool:
        return "hash" in {self.default_operator, *self.operators.values()}

    def hash_key(self) -> Optional[bytes]:
        """The hash operator's secret (config first, then the environment), or None."""
        if self.hash_secret is not None:
            return self.hash_secret.get_secret_value().encode("utf-8")
        secret = os.environ.get(self.hash_secret_env)
        return secret.encode("utf-8") if secret else None

    def shared_key(self) -> str:
        """Identifies the scrubber this configuration builds (for sharing across threads)."""
        secret = self.hash_key() or b""
        return hashlib.sha256(self.model_dump_json().encode("utf-8") + b"\0"
                              + hashlib.sha256(secret).digest()).hexdigest()


class PiiProcessor(DocumentProcessor):
    """Scrubs PII from batches of documents (see the module docstring)."""
    name = "pii"
    version = "1"

    def __init__(self, params: PiiParams):
        self.params = params
        self.batch_size = params.batch_size
        self._scrubber = None

    def setup(self) -> None:
        params = self.params
        hash_key = params.hash_key() if params.uses_hash() else None

        def build():
            # Imported here: validating a config must not load Presidio and spaCy.
            from transforms import pii_scrubber  # pylint: disable=import-outside-toplevel
            return pii_scrubber.PiiScrubber(params, hash_key=hash_key)

        # One scrubber per worker process and configuration, shared by the DoFn instances of
        # all its threads: the models are loaded once and only used for inference afterwards.
        shared_key = params.shared_key()
        self._scrubber = _scrubber_handle(shared_key).acquire(build, tag=shared_key)

    def __getstate__(self):
        # A built scrubber (spaCy model, Presidio engines) is never pickled with the pipeline.
        state = dict(self.__dict__)
        state["_scrubber"] = None
        return state

    @property
    def scrubber(self):
        if self._scrubber is None:
            self.setup()
        return self._scrubber

    def process(self, document: Document) -> Verdict:
        verdict = self.process_batch([document])[0]
        if isinstance(verdict, Exception):
            raise verdict
        return verdict

    def process_batch(self, documents: List[Document]) -> List[Verdict]:
        verdicts: List[Optional[Verdict]] = [None] * len(documents)
        todo = []
        for index, document in enumerate(documents):
            if len(document.text) > self.params.max_chars:
                verdicts[index] = self._oversize(document)
            else:
                todo.append(index)
        if not todo:
            return verdicts
        findings = self.scrubber.analyze([documents[index].text for index in todo])
        for index, found in zip(todo, findings):
            verdicts[index] = self._verdict(documents[index], found)
        return verdicts

    def _oversize(self, document: Document):
        length, limit = len(document.text), self.params.max_chars
        if self.params.oversize_action == "dead_letter":
            # Returned, not raised: the stage wrapper routes DeadLetter values to the quarantine.
            return DeadLetter(TOO_LARGE, f"{length} characters > max_chars={limit}; not "
                              "analyzed for PII")
        return Verdict.drop(TOO_LARGE, value=length, threshold=limit,
                            details={"analyzed": False})

    def _verdict(self, document: Document, found: list) -> Verdict:
        if not found:
            return Verdict.keep(annotations={"pii_entities": {}})
        redaction = self.scrubber.anonymize(document.text, found)
        operators = {entity: self.params.operator_for(entity) for entity in redaction.counts}
        scores = {entity: float(count) for entity, count in redaction.counts.items()}
        details = {"operators": operators,
                   "content_sha256_before": sha256_text(document.text)}
        annotations = {"pii_entities": dict(redaction.counts)}
        total = sum(redaction.counts.values())
        to_drop = sorted(entity for entity, operator in operators.items() if operator == "drop")
        if to_drop:
            details["drop_entities"] = to_drop
            # The scrubbed text only matters in annotate-only mode, where nothing is dropped.
            return Verdict(dropped=True, text=redaction.text, reason=PII_PRESENT, value=total,
                           annotations=annotations, scores=scores, details=details)
        return Verdict(text=redaction.text, reason=REDACTED, value=total,
                       annotations=annotations, scores=scores, details=details)


class PiiScrub(PerDocumentStage):
    """The ``pii`` stage as a PTransform (see the module docstring)."""

    def __init__(self, params: PiiParams = PiiParams(), **kwargs):
        super().__init__(PiiProcessor(params), **kwargs)
