"""Heuristic text statistics ("quality signals") measured in one pass over a document.

:func:`measure` returns a dict of named signals, each a float. The ``quality`` stage
(:mod:`transforms.quality`) compares them with thresholds; this module only measures. The signals
are the ones behind three published sets of rules:

- **Gopher** quality and repetition rules: Rae et al. 2021, "Scaling Language Models: Methods,
  Analysis & Insights from Training Gopher", appendix A.1.1 and table A1.
- **C4** rules: Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
  Text-to-Text Transformer", section 2.2 (and the released C4 cleaning code for details the paper
  leaves open, such as the end marks and the minimum number of words per line).
- **FineWeb** rules: Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web for the Finest
  Text Data at Scale", section 3.

How the text is cut up (once, then shared by every signal):

- *lines*: the text split on newlines, stripped, empty lines left out;
- *paragraphs*: the text split on blank lines;
- *tokens*: the text split on whitespace (for the alphabetic-word share);
- *words*: the lower-cased text with every Unicode punctuation or symbol character deleted, split
  on whitespace; a token made only of punctuation or symbols is not a word. Word counts, mean word
  length, stop words and all n-gram signals use words.

The n-gram signals follow the Gopher definitions: the *top n-gram character fraction* is the number
of characters (word characters, no spaces) in all occurrences of the most frequent n-gram divided by
the characters of all words; the *duplicate n-gram character fraction* is the share of word
characters that lie inside some n-gram occurring more than once (each character counted once, and
the first occurrence counts too, as in RedPajama-V2's implementation; DataTrove counts only the
repeats, so its values are lower for the same text). They
are computed with vectorised numpy on 64-bit n-gram hashes, so a document costs a few sorts instead
of a Python loop per n-gram.

Example::

    >>> signals = measure("The cat sat on the mat.\\nThe cat sat on the mat.")
    >>> signals["dup_line_fraction"]
    0.5
"""

from __future__ import annotations

import itertools
import operator
import re
import sys
import unicodedata
from typing import Dict, FrozenSet, Iterable, List, Sequence, Tuple

import numpy as np

# Gopher's stop words: a document must contain at least two of them (Rae et al. 2021, A.1.1).
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")

# Line starts that count as a bullet point (Gopher, "lines starting with a bullet point").
BULLETS = ("•", "●", "○", "▪", "▫", "■", "□", "◦", "‣", "⁃", "∙", "·", "-", "–", "—", "*", "➢",
           "►", "▶", "→", "✓", "✔")
ELLIPSES = ("...", "…")

# Lines "ending in a terminal punctuation mark": C4 keeps lines ending in . ? ! or a closing
# quote (Raffel et al. 2020, 2.2). FineWeb's line-punctuation rule counts lines ending in a
# sentence-final mark of any script (Penedo et al. 2024, 3); the C4 marks plus those below.
C4_END_MARKS = (".", "?", "!", '"', "”", "’", "'")
TERMINAL_PUNCTUATION = C4_END_MARKS + (
    "…", "‼", "‽", "⁇", "⁈", "⁉",  # general
    "。", "！", "？", "｡", "．", "︒", "﹒",  # CJK and full-width
    "؟", "۔", "؞",  # Arabic script
    "।", "॥",  # Devanagari and other Indic scripts
    "։",  # Armenian
    "።", "፧", "፨",  # Ethiopic
    "။", "၊",  # Myanmar
    "។", "៕",  # Khmer
    "᠃", "᠉",  # Mongolian
)

# C4 drops lines mentioning JavaScript ("please enable JavaScript" notices) and, in its released
# cleaning code, lines about site policies.
C4_LINE_BLOCKLIST = ("javascript", "terms of use", "privacy policy", "cookie policy",
                     "uses cookies", "use of cookies", "use cookies")

TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATE_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)


def _punctuation_and_symbols() -> FrozenSet[str]:
    """Every Unicode punctuation (P*) and symbol (S*) character."""
    return frozenset(chr(code) for code in range(sys.maxunicode + 1)
                     if unicodedata.category(chr(code))[0] in "PS")


_PUNCTUATION = _punctuation_and_symbols()
_ASCII_PUNCTUATION = bytes(sorted(ord(char) for char in _PUNCTUATION if ord(char) < 128))
_OTHER_PUNCTUATION = frozenset(char for char in _PUNCTUATION if ord(char) >= 128)
_starts_with_bullet = operator.methodcaller("startswith", BULLETS)
_ends_with_ellipsis = operator.methodcaller("endswith", ELLIPSES)
_ends_with_terminal_mark = operator.methodcaller("endswith", TERMINAL_PUNCTUATION)
_LETTER = re.compile(r"[^\W\d_]")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# A sentence end, as C4's line-level count needs it: end marks followed by a space or the line end.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")

# Odd 64-bit multipliers for the rolling n-gram hash (any odd constants work; these are the
# golden-ratio and MurmurHash3 finaliser constants).
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
_SHIFT = np.uint64(29)

SIGNAL_NAMES = (
    "word_count", "mean_word_length", "hash_word_ratio", "ellipsis_word_ratio",
    "bullet_line_fraction", "ellipsis_line_fraction", "alpha_word_fraction", "stop_word_count",
    "dup_line_fraction", "dup_paragraph_fraction", "dup_line_char_fraction",
    "dup_paragraph_char_fraction",
    *(f"top_{n}gram_char_fraction" for n in TOP_NGRAM_SIZES),
    *(f"dup_{n}gram_char_fraction" for n in DUPLICATE_NGRAM_SIZES),
    "punct_line_fraction", "short_line_fraction", "newline_word_ratio",
    "curly_brace_count", "lorem_ipsum_count", "c4_sentence_count", "c4_kept_line_fraction",
)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator else 0.0


def _duplicates(items: Sequence[str]) -> Tuple[int, int, int]:
    """(repeats, characters in repeats, characters in all items); the first copy is no repeat."""
    seen = set()
    repeats = repeated_chars = total_chars = 0
    for item in items:
        total_chars += len(item)
        if item in seen:
            repeats += 1
            repeated_chars += len(item)
        else:
            seen.add(item)
    return repeats, repeated_chars, total_chars


def _ngram_hashes(word_hashes: np.ndarray, sizes: Iterable[int]) -> Dict[int, np.ndarray]:
    """{n: one 64-bit hash per n-gram start} for each n in ``sizes``, built incrementally: the
    hash of the n-gram at i extends the hash of the (n-1)-gram at i with word i+n-1."""
    wanted = set(sizes)
    hashes = np.zeros(len(word_hashes), dtype=np.uint64)
    result = {}
    with np.errstate(over="ignore"):
        for n in range(1, max(wanted) + 1):
            count = len(word_hashes) - n + 1
            if count <= 0:
                break
            hashes = hashes[:count] * _MULTIPLIER + word_hashes[n - 1:n - 1 + count]
            hashes ^= hashes >> _SHIFT
            hashes *= _MIX
            if n in wanted:
                result[n] = hashes
    return result


def _groups(hashes: np.ndarray):
    """(a position of each distinct hash, its number of occurrences), via one sort."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    new_group = np.empty(len(ordered), dtype=bool)
    new_group[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new_group[1:])
    group_starts = np.flatnonzero(new_group)
    counts = np.diff(np.append(group_starts, len(ordered)))
    return order[group_starts], counts


def _repeated_positions(hashes: np.ndarray) -> np.ndarray:
    """The positions whose hash occurs more than once (in no particular order)."""
    order = np.argsort(hashes)
    ordered = hashes[order]
    same_as_next = ordered[1:] == ordered[:-1]
    repeated = np.zeros(len(ordered), dtype=bool)
    repeated[1:] |= same_as_next
    repeated[:-1] |= same_as_next
    return order[repeated]


def ngram_signals(words: Sequence[str]) -> Dict[str, float]:
    """The Gopher top-n-gram and duplicate-n-gram character fractions of a list of words."""
    signals = {f"top_{n}gram_char_fraction": 0.0 for n in TOP_NGRAM_SIZES}
    signals.update({f"dup_{n}gram_char_fraction": 0.0 for n in DUPLICATE_NGRAM_SIZES})
    if len(words) < 2:
        return signals
    # Python's string hash identifies equal words within the document; a collision between two
    # different words (or n-grams) has a probability of about 2**-64.
    word_hashes = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
    ngrams = _ngram_hashes(word_hashes, TOP_NGRAM_SIZES + DUPLICATE_NGRAM_SIZES)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    total_chars = int(lengths.sum())
    # Characters of the n-gram starting at each position: a sliding sum of word lengths.
    cumulative = np.concatenate(([0], np.cumsum(lengths)))
    for n in TOP_NGRAM_SIZES:
        if n not in ngrams:
            break
        first_positions, counts = _groups(ngrams[n])
        # Of the most frequent n-grams (ties are common in short texts), the longest one.
        top_count = int(counts.max())
        most_frequent = first_positions[counts == top_count]
        ngram_chars = int((cumulative[most_frequent + n] - cumulative[most_frequent]).max())
        signals[f"top_{n}gram_char_fraction"] = min(
            1.0, _ratio(ngram_chars * top_count, total_chars))
    for n in DUPLICATE_NGRAM_SIZES:
        if n not in ngrams:
            break
        starts = _repeated_positions(ngrams[n])
        if not len(starts):
            break  # no repeated n-gram, so none of any larger size either
        # Mark the words covered by any repeated n-gram: +1 at its start, -1 after its end.
        marks = np.zeros(len(words) + 1, dtype=np.int64)
        marks[starts] += 1  # starts are distinct, so plain fancy indexing adds once each
        marks[starts + n] -= 1
        covered = np.cumsum(marks[:-1]) > 0
        signals[f"dup_{n}gram_char_fraction"] = _ratio(int(lengths[covered].sum()), total_chars)
    return signals


def _delete_punctuation(text: str) -> str:
    # bytes.translate deletes ASCII characters at memory speed; the few distinct non-ASCII
    # punctuation characters a text holds are then removed one by one. (str.translate with a
    # Unicode-wide table is several times slower.)
    if text.isascii():
        return text.encode("ascii").translate(None, _ASCII_PUNCTUATION).decode("ascii")
    text = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_PUNCTUATION).decode(
        "utf-8", "surrogatepass")
    for char in _OTHER_PUNCTUATION.intersection(text):
        text = text.replace(char, "")
    return text


def words_of(text: str) -> List[str]:
    """The words of ``text`` as the signals count them (see the module docstring)."""
    return _delete_punctuation(text.lower()).split()


def _c4_line_counts(lines: Iterable[str], min_words_per_line: int) -> Tuple[int, int]:
    """(lines C4's line filter keeps, sentences in them)."""
    kept = sentences = 0
    for line in lines:
        if not line.endswith(C4_END_MARKS) or line.endswith(ELLIPSES):
            continue
        if len(line.split()) < min_words_per_line:
            continue
        lowered = line.lower()
        if any(phrase in lowered for phrase in C4_LINE_BLOCKLIST):
            continue
        kept += 1
        sentences += max(1, len(_SENTENCE_END.findall(line)))
    return kept, sentences


def measure(text: str, *, stop_words: Sequence[str] = GOPHER_STOP_WORDS,
            short_line_chars: int = 30, c4_min_words_per_line: int = 5) -> Dict[str, float]:
    """Every signal of :data:`SIGNAL_NAMES` for ``text``.

    Args:
      stop_words: the words counted by ``stop_word_count`` (distinct ones present).
      short_line_chars: a line of at most this many characters is short (FineWeb: 30).
      c4_min_words_per_line: C4 drops lines with fewer words (Raffel et al. 2020: 5).
    """
    lowered = text.lower()
    words = _delete_punctuation(lowered).split()
    token_count = len(text.split())
    lines = [line for line in (raw.strip() for raw in text.split("\n")) if line]
    paragraphs = [part for part in (raw.strip() for raw in _PARAGRAPH_BREAK.split(text)) if part]

    word_count = len(words)
    # A token has a letter exactly when its word (the token without punctuation) has one; tokens
    # made only of punctuation or symbols have no word and count as non-alphabetic.
    alpha_tokens = sum(map(str.isalpha, words)) + sum(
        1 for word in itertools.filterfalse(str.isalpha, words) if _LETTER.search(word))
    line_repeats, line_repeat_chars, line_chars = _duplicates(lines)
    paragraph_repeats, paragraph_repeat_chars, paragraph_chars = _duplicates(paragraphs)
    c4_kept_lines, c4_sentences = _c4_line_counts(lines, c4_min_words_per_line)
    wanted_stop_words = set(stop_words)

    signals = {
        "word_count": float(word_count),
        "mean_word_length": _ratio(sum(map(len, words)), word_count),
        "hash_word_ratio": _ratio(text.count("#"), word_count),
        "ellipsis_word_ratio": _ratio(text.count("...") + text.count("…"), word_count),
        "bullet_line_fraction": _ratio(sum(map(_starts_with_bullet, lines)), len(lines)),
        "ellipsis_line_fraction": _ratio(sum(map(_ends_with_ellipsis, lines)), len(lines)),
        "alpha_word_fraction": _ratio(alpha_tokens, token_count),
        "stop_word_count": float(len(wanted_stop_words.intersection(words))),
        "dup_line_fraction": _ratio(line_repeats, len(lines)),
        "dup_paragraph_fraction": _ratio(paragraph_repeats, len(paragraphs)),
        "dup_line_char_fraction": _ratio(line_repeat_chars, line_chars),
        "dup_paragraph_char_fraction": _ratio(paragraph_repeat_chars, paragraph_chars),
    }
    signals.update(ngram_signals(words))
    signals.update({
        "punct_line_fraction": _ratio(sum(map(_ends_with_terminal_mark, lines)), len(lines)),
        "short_line_fraction": _ratio(
            sum(1 for line in lines if len(line) <= short_line_chars), len(lines)),
        "newline_word_ratio": _ratio(text.count("\n"), word_count),
        "curly_brace_count": float(text.count("{")),
        "lorem_ipsum_count": float(lowered.count("lorem ipsum")),
        "c4_sentence_count": float(c4_sentences),
        "c4_kept_line_fraction": _ratio(c4_kept_lines, len(lines)),
    })
    return signals
