"""MinHash signatures of documents, computed in bulk with numpy.

This module turns texts into MinHash signatures: one ``uint32`` value per permutation, such that the
share of equal values between two signatures estimates the Jaccard similarity of the documents'
sets of word n-grams (shingles) [Broder, "On the resemblance and containment of documents", 1997].
It is the per-document half of :mod:`transforms.minhash_dedup`; nothing here knows about Beam.

Pipeline, for a batch of texts at once (every step is a handful of numpy calls over the whole
batch, never a Python loop over words or shingles):

1. **Tokenize** (cheap, byte level): the text is lowercased and UTF-8 encoded; a *word* is a run of
   ASCII letters, digits and ``_`` or of non-ASCII characters, except that the Unicode punctuation
   blocks U+00A0-U+00BF (Latin-1 punctuation and symbols), U+2000-U+207F (general punctuation:
   dashes, curly quotes, ellipsis) and U+3000-U+303F (CJK punctuation) separate words like ASCII
   punctuation and whitespace do. Expect the text to be normalized first (the ``normalize`` stage).
   Scripts written without spaces (Chinese, Japanese, Thai) therefore give sentence-long words;
   word shingles are a poor fit for them.
2. **Hash words**: a polynomial hash of each word's bytes modulo 2**64 (computed for all words at
   once from one prefix sum), finished with MurmurHash3's 64-bit finalizer ``fmix64``.
3. **Shingles**: every run of ``ngram`` consecutive words of a document is combined into one
   64-bit hash (order-sensitive). A document with fewer words than ``ngram`` gets one shingle of
   all its words; a document without words gets no signature.
4. **MinHash**: permutation ``i`` maps the high 32 bits ``x`` of a shingle hash to
   ``(a_i * x + b_i) mod 2**32`` with odd random ``a_i`` (a multiply-add hash in the
   multiply-shift family of Dietzfelbinger et al., 1997); the signature keeps each permutation's
   minimum over the document's shingles. ``tests/test_minhash_dedup.py`` checks that the estimate
   is unbiased with the variance ``J(1-J)/num_perm`` of ideal MinHash.

The same ``(ngram, num_perm, seed)`` always gives the same signature for the same text, on any
machine, process or runner (nothing depends on Python's salted ``hash``).

Example::

    hasher = MinHasher(ngram=5, num_perm=112, seed=1)
    signatures, has_signature = hasher.signatures(["some text ...", "other text ..."])
    similarity = estimated_jaccard(signatures[0], signatures[1])
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

_U64 = np.uint64
# A version of the tokenizer and hashing scheme. Signatures (and cross-run indexes) built with a
# different version are not comparable.
SIGNATURE_SCHEME = "winnow-minhash-v1"

# Word characters, by byte: ASCII [0-9a-z_] (text is lowercased first) and every non-ASCII byte.
_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[list(b"0123456789abcdefghijklmnopqrstuvwxyz_")] = True
_WORD_BYTE[0x80:] = True

# Odd 64-bit constants: the polynomial base of word hashes, the multiplier that chains words into
# shingles, and MurmurHash3's fmix64 multipliers.
_WORD_BASE = _U64(0x100000001B3)
_WORD_BASE_INVERSE = _U64(pow(0x100000001B3, -1, 1 << 64))
_SHINGLE_MULTIPLIER = _U64(0x9E3779B97F4A7C15)
_FMIX_1 = _U64(0xFF51AFD7ED558CCD)
_FMIX_2 = _U64(0xC4CEB9FE1A85EC53)
_SHIFT_33 = _U64(33)
_SHIFT_32 = _U64(32)

# How many shingles one multiply-add-min step handles at a time (bounds the scratch buffer).
_SHINGLE_CHUNK = 8192
# About how many characters are tokenized and hashed in one go: big enough to amortize numpy's
# per-call cost, small enough that the per-byte arrays stay in the CPU cache.
_TEXT_CHUNK_CHARS = 64 * 1024


def fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, in place on a uint64 array (returns it)."""
    with np.errstate(over="ignore"):
        values ^= values >> _SHIFT_33
        values *= _FMIX_1
        values ^= values >> _SHIFT_33
        values *= _FMIX_2
        values ^= values >> _SHIFT_33
    return values


class _PowerTable:
    """Powers ``base**k mod 2**64`` for k = 0, 1, ..., grown on demand and reused."""

    def __init__(self, base: np.uint64):
        self._base = base
        self._powers = np.ones(1, dtype=_U64)

    def first(self, count: int) -> np.ndarray:
        if count > len(self._powers):
            size = max(count, 2 * len(self._powers), 1 << 16)
            with np.errstate(over="ignore"):
                powers = np.empty(size, dtype=_U64)
                powers[0] = 1
                powers[1:] = np.cumprod(np.full(size - 1, self._base, dtype=_U64))
            self._powers = powers
        return self._powers[:count]


_BASE_POWERS = _PowerTable(_WORD_BASE)
_INVERSE_POWERS = _PowerTable(_WORD_BASE_INVERSE)


def _mark_unicode_punctuation(data: np.ndarray, is_word: np.ndarray) -> None:
    """Clears the word flag of the UTF-8 bytes of the punctuation blocks named in the docstring."""
    lead, second = data[:-1], data[1:]
    # U+2000-U+207F are E2 80 xx and E2 81 xx; U+3000-U+303F are E3 80 xx (three bytes each).
    three_byte = np.flatnonzero(((lead == 0xE2) & ((second == 0x80) | (second == 0x81)))
                                | ((lead == 0xE3) & (second == 0x80)))
    # U+00A0-U+00BF are C2 A0 - C2 BF (two bytes).
    two_byte = np.flatnonzero((lead == 0xC2) & (second >= 0xA0) & (second <= 0xBF))
    for offset in range(3):
        is_word[np.minimum(three_byte + offset, len(is_word) - 1)] = False
    for offset in range(2):
        is_word[two_byte + offset] = False


def word_hashes(texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Hashes of every word of ``texts``, in order, and the number of words of each text.

    Returns:
      (hashes, counts): ``hashes`` is a uint64 array of all words of all texts, text after text;
      ``counts[i]`` is how many of them belong to ``texts[i]``.
    """
    encoded = [text.lower().encode("utf-8", "surrogatepass") for text in texts]
    if not encoded:
        return np.zeros(0, dtype=_U64), np.zeros(0, dtype=np.int64)
    # A newline between texts guarantees that no word spans two of them.
    data = np.frombuffer(b"\n".join(encoded), dtype=np.uint8)
    text_starts = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum([len(chunk) + 1 for chunk in encoded[:-1]], out=text_starts[1:])
    is_word = _WORD_BYTE[data]
    if not all(chunk.isascii() for chunk in encoded):
        _mark_unicode_punctuation(data, is_word)
    edges = np.diff(is_word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    with np.errstate(over="ignore"):
        # prefix[j] = sum over k < j of byte_k * base**-k; a word [s, e) then hashes to
        # (prefix[e] - prefix[s]) * base**s = sum over its bytes of byte_(s+i) * base**-i,
        # which does not depend on where the word is.
        weighted = data.astype(_U64) * _INVERSE_POWERS.first(len(data))
        prefix = np.zeros(len(data) + 1, dtype=_U64)
        np.cumsum(weighted, out=prefix[1:])
        hashes = (prefix[ends] - prefix[starts]) * _BASE_POWERS.first(len(data))[starts]
    fmix64(hashes)
    text_of_word = np.searchsorted(text_starts, starts, side="right") - 1
    counts = np.bincount(text_of_word, minlength=len(encoded))
    return hashes, counts


def shingle_hashes(words: np.ndarray, counts: np.ndarray, ngram: int
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """Hashes of the word n-grams of each text (see the module docstring, step 3).

    Args:
      words, counts: as returned by :func:`word_hashes`.
      ngram: words per shingle.

    Returns:
      (hashes, counts): all shingle hashes, text after text, and how many belong to each text.
    """
    word_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=word_offsets[1:])
    windows = len(words) - ngram + 1
    with np.errstate(over="ignore"):
        if windows > 0:
            combined = words[:windows].copy()
            for k in range(1, ngram):
                combined *= _SHINGLE_MULTIPLIER
                combined += words[k:k + windows]
            # Window i is a shingle if its words all belong to one text.
            text_of_word = np.repeat(np.arange(len(counts)), counts)
            valid = text_of_word[:windows] == text_of_word[ngram - 1:]
            full = fmix64(combined[valid])
            full_counts = np.maximum(counts - ngram + 1, 0)
        else:
            full = np.zeros(0, dtype=_U64)
            full_counts = np.zeros(len(counts), dtype=np.int64)
        short = np.flatnonzero((counts > 0) & (counts < ngram))
        if len(short) == 0:
            return full, full_counts
        # Texts with fewer words than ngram: one shingle of all their words.
        short_hashes = np.zeros(len(short), dtype=_U64)
        for index, text in enumerate(short):
            value = _U64(0)
            for word in words[word_offsets[text]:word_offsets[text + 1]]:
                value = value * _SHINGLE_MULTIPLIER + word
            short_hashes[index] = value
        fmix64(short_hashes)
    # Splice the short texts' shingles into their places.
    shingle_counts = full_counts.copy()
    shingle_counts[short] = 1
    hashes = np.empty(int(shingle_counts.sum()), dtype=_U64)
    shingle_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(shingle_counts, out=shingle_offsets[1:])
    is_short = np.zeros(len(hashes), dtype=bool)
    is_short[shingle_offsets[short]] = True
    hashes[is_short] = short_hashes
    hashes[~is_short] = full
    return hashes, shingle_counts


def _chunked_word_hashes(texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`word_hashes` over groups of about _TEXT_CHUNK_CHARS characters, concatenated."""
    hashes, counts = [], []
    group, group_chars = [], 0
    for text in texts:
        group.append(text)
        group_chars += len(text)
        if group_chars >= _TEXT_CHUNK_CHARS:
            for result, parts in zip(word_hashes(group), (hashes, counts)):
                parts.append(result)
            group, group_chars = [], 0
    if group or not hashes:
        for result, parts in zip(word_hashes(group), (hashes, counts)):
            parts.append(result)
    return np.concatenate(hashes), np.concatenate(counts)


class MinHasher:
    """Computes MinHash signatures of texts (see the module docstring).

    Args:
      ngram: words per shingle (5 in DataTrove's and Gopher's near-deduplication).
      num_perm: signature length (number of hash permutations).
      seed: seeds the permutations. Signatures are only comparable with the same
        ``(ngram, num_perm, seed)`` and :data:`SIGNATURE_SCHEME`.
    """

    def __init__(self, ngram: int = 5, num_perm: int = 112, seed: int = 1):
        if ngram < 1 or num_perm < 1:
            raise ValueError("ngram and num_perm must be positive")
        self.ngram = ngram
        self.num_perm = num_perm
        self.seed = seed
        generator = np.random.default_rng(seed)
        self._multipliers = (generator.integers(0, 1 << 32, num_perm, dtype=np.uint64)
                             .astype(np.uint32) | np.uint32(1))[:, None]
        self._increments = generator.integers(0, 1 << 32, num_perm, dtype=np.uint64).astype(
            np.uint32)[:, None]
        self._scratch = np.empty((num_perm, _SHINGLE_CHUNK), dtype=np.uint32)

    @property
    def config(self) -> str:
        """Everything that makes two signatures comparable, as one string."""
        return f"{SIGNATURE_SCHEME};ngram={self.ngram};num_perm={self.num_perm};seed={self.seed}"

    def signatures(self, texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        """Signatures of ``texts``.

        Returns:
          (signatures, has_signature): a ``(len(texts), num_perm)`` uint32 array, and a boolean
          array that is False for texts without any word (their row is meaningless).
        """
        words, word_counts = _chunked_word_hashes(texts)
        shingles, shingle_counts = shingle_hashes(words, word_counts, self.ngram)
        # The high 32 bits of each shingle hash are the permutations' input.
        shingles = (shingles >> _SHIFT_32).astype(np.uint32)
        result = np.full((len(texts), self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        has_signature = shingle_counts > 0
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(shingle_counts, out=offsets[1:])
        self._min_hash_into(result, shingles, offsets)
        return result, has_signature

    def _min_hash_into(self, result: np.ndarray, shingles: np.ndarray,
                       offsets: np.ndarray) -> None:
        """Per text, the minimum of every permutation over its shingles, a chunk at a time.

        A chunk holds up to _SHINGLE_CHUNK shingles of consecutive texts; one multiply-add and one
        ``minimum.reduceat`` handle all texts in it.
        """
        total = len(shingles)
        start = 0
        while start < total:
            stop = min(start + _SHINGLE_CHUNK, total)
            block = self._scratch[:, :stop - start]
            np.multiply(self._multipliers, shingles[None, start:stop], out=block)
            np.add(block, self._increments, out=block)
            # The texts with shingles in [start, stop), and where each begins in the block.
            first = np.searchsorted(offsets, start, side="right") - 1
            last = np.searchsorted(offsets, stop, side="left")
            bounds = np.clip(offsets[first:last + 1], start, stop) - start
            texts = np.arange(first, last)
            nonempty = bounds[:-1] < bounds[1:]
            minima = np.minimum.reduceat(block, bounds[:-1][nonempty], axis=1)
            rows = texts[nonempty]
            result[rows] = np.minimum(result[rows], minima.T)
            start = stop


def estimated_jaccard(signature: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The share of equal values between ``signature`` and each row of ``others`` (or one row)."""
    return np.mean(np.asarray(others) == signature, axis=-1)


def signature_to_bytes(signature: np.ndarray) -> bytes:
    """A compact, picklable form of one signature (little-endian uint32)."""
    return signature.astype("<u4", copy=False).tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4")


def signature_list(signature: np.ndarray) -> List[int]:
    """The signature as plain ints (the ``minhash_signature`` annotation column)."""
    return signature.astype(np.uint32).tolist()
