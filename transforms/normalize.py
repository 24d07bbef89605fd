"""The ``normalize`` stage: canonical text, and no empty or oversize documents downstream.

It applies Unicode NFC, removes control characters (except newline and tab) and zero-width
characters, collapses runs of spaces/tabs inside a line, trims every line and collapses three or more
newlines into a paragraph break. A document that is empty after that is dead-lettered
(``empty_text``); one longer than ``max_chars`` is dead-lettered (``too_large``) or dropped,
as configured; one shorter than ``min_chars`` is dropped (``too_short``).

Writes no annotation columns. Lineage: ``modified`` with the number of characters removed when the
text changed, else ``passed``.
"""

from __future__ import annotations

import re
import unicodedata

import pydantic

from schemas.documents import Document
from transforms.stage import DeadLetter, DocumentProcessor, PerDocumentStage, Verdict

# Zero-width and invisible formatting characters that carry no text.
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
# C0/C1 controls other than \t and \n; \r is dealt with as a line break first.
_CONTROL = "".join(chr(c) for c in list(range(0, 9)) + [11, 12] + list(range(14, 32))
                   + list(range(127, 160)))
_DELETE = str.maketrans("", "", _ZERO_WIDTH + _CONTROL)
_SPACES = re.compile(r"[^\S\n]+")  # whitespace other than newline
_BLANK_LINES = re.compile(r"\n{3,}")


class NormalizeParams(pydantic.BaseModel):
    """Parameters of the ``normalize`` stage."""
    model_config = pydantic.ConfigDict(extra="forbid")

    max_chars: int = pydantic.Field(
        1_000_000, gt=0, description="documents longer than this (after normalizing) are "
        "removed: dead-lettered, or dropped when oversize_action is 'drop'")
    oversize_action: str = pydantic.Field(
        "dead_letter", pattern="^(dead_letter|drop)$",
        description="what happens to a document over max_chars: dead_letter or drop")
    min_chars: int = pydantic.Field(
        1, ge=1, description="documents shorter than this are dropped (too_short); an empty "
        "document is always dead-lettered")
    nfc: bool = pydantic.Field(True, description="apply Unicode NFC composition")


def normalize_text(text: str, nfc: bool = True) -> str:
    """The normalized form of ``text`` (see the module docstring)."""
    if nfc:
        text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_DELETE)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


class NormalizeProcessor(DocumentProcessor):
    name = "normalize"
    version = "1"

    def __init__(self, params: NormalizeParams):
        self.params = params

    def process(self, document: Document) -> Verdict:
        text = normalize_text(document.text, self.params.nfc)
        if not text:
            raise DeadLetter("empty_text", "the document is empty after normalization")
        if len(text) > self.params.max_chars:
            if self.params.oversize_action == "dead_letter":
                raise DeadLetter(
                    "too_large", f"{len(text)} characters > max_chars={self.params.max_chars}")
            return Verdict.drop("too_large", value=len(text), threshold=self.params.max_chars)
        if len(text) < self.params.min_chars:
            return Verdict.drop("too_short", value=len(text), threshold=self.params.min_chars)
        if text == document.text:
            return Verdict.keep()
        return Verdict.modify(text, reason="normalized",
                              details={"chars_removed": len(document.text) - len(text)})


class Normalize(PerDocumentStage):
    """The ``normalize`` stage as a PTransform (see the module docstring)."""

    def __init__(self, params: NormalizeParams = NormalizeParams(), **kwargs):
        super().__init__(NormalizeProcessor(params), **kwargs)
