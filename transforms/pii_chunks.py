"""Splitting long texts into overlapping chunks, so PII analysis stays linear in length.

Every character of a text belongs to exactly one chunk's *own* range; the chunk itself extends
``overlap`` characters further on both sides, so a value that starts near the edge of the own
range is still seen whole (with its context words), and a finding is kept by the one chunk whose
own range contains its start. Own ranges end at whitespace where there is some near the cut.

Example::

    for chunk in split_into_chunks(text, chunk_chars=20_000, overlap=256):
        findings = analyze(text[chunk.start:chunk.end])
        kept = [f for f in findings if chunk.owns(chunk.start + f.start)]
"""

from __future__ import annotations

from typing import List, NamedTuple


class Chunk(NamedTuple):
    """``text[start:end]`` is analyzed; findings starting in ``[own_start, own_end)`` are kept."""
    start: int
    end: int
    own_start: int
    own_end: int

    def owns(self, position: int) -> bool:
        return self.own_start <= position < self.own_end


def split_into_chunks(text: str, chunk_chars: int, overlap: int) -> List[Chunk]:
    """Chunks covering ``text`` (one chunk when it is no longer than ``chunk_chars``)."""
    if chunk_chars <= 0 or overlap < 0:
        raise ValueError("chunk_chars must be positive and overlap non-negative")
    length = len(text)
    if length <= chunk_chars:
        return [Chunk(0, length, 0, length)]
    chunks = []
    own_start = 0
    while own_start < length:
        own_end = min(length, own_start + chunk_chars)
        if own_end < length:
            # Prefer to cut at whitespace within the last eighth of the chunk.
            floor = own_end - max(1, chunk_chars // 8)
            cut = own_end
            while cut > floor and not text[cut - 1].isspace():
                cut -= 1
            if cut > floor:
                own_end = cut
        chunks.append(Chunk(max(0, own_start - overlap), min(length, own_end + overlap),
                            own_start, own_end))
        own_start = own_end
    return chunks
