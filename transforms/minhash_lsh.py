"""Locality-sensitive hashing of MinHash signatures: bands, band keys and bucket comparison.

A signature of ``num_perm`` values is cut into ``bands`` bands of ``rows`` values each. Two
documents are *candidates* when all values of at least one band agree, which for Jaccard similarity
``s`` happens with probability ``1 - (1 - s**rows)**bands`` (the "S-curve" of banded LSH; Leskovec,
Rajaraman and Ullman, *Mining of Massive Datasets*, ch. 3.4). Each band of each document becomes one
*band key* (the band's index and a 64-bit hash of its values), so documents that share a band key
share a bucket, and deduplication only ever compares documents within a bucket.

:func:`lsh_bands` derives ``(bands, rows)`` from a Jaccard threshold with datasketch's
``_optimal_param``, which minimises the weighted area under the S-curve below the threshold
(false positives) plus the area above it (false negatives). Because Winnow verifies every candidate
pair against the threshold before dropping anything, a false positive only costs one comparison
while a false negative is a missed duplicate, so false negatives weigh 0.7 and false positives 0.3.
At the defaults (threshold 0.7, 112 permutations) that gives 14 bands of 8 rows, the setting
DataTrove uses for its MinHash deduplication (its comment puts the threshold at
``(1/14)**(1/8) = 0.72``).

:func:`similar_earlier` is the comparison inside one bucket, shared by the batch and the streaming
paths of the stage.
"""

from __future__ import annotations

from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from transforms.minhash_signatures import fmix64, signature_from_bytes

# Weights of datasketch's LSH parameter optimisation (see the module docstring).
FALSE_POSITIVE_WEIGHT = 0.3
FALSE_NEGATIVE_WEIGHT = 0.7

_U64 = np.uint64
# Odd multipliers that combine a band's values into one 64-bit hash (drawn once, fixed forever:
# band keys in cross-run indexes depend on them).
_BAND_MULTIPLIERS = (np.random.default_rng(0x5EED).integers(0, 1 << 63, 4096, dtype=np.uint64)
                     << _U64(1)) | _U64(1)
_BAND_KEY_DTYPE = np.dtype([("band", ">u2"), ("hash", ">u8")])


def lsh_bands(threshold: float, num_perm: int) -> Tuple[int, int]:
    """``(bands, rows)`` for a Jaccard ``threshold`` (see the module docstring)."""
    from datasketch.lsh import _optimal_param  # pylint: disable=import-outside-toplevel
    bands, rows = _optimal_param(threshold, num_perm, FALSE_POSITIVE_WEIGHT,
                                 FALSE_NEGATIVE_WEIGHT)
    return int(bands), int(rows)


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """The chance that two documents of this Jaccard similarity share at least one bucket."""
    return 1.0 - (1.0 - similarity ** rows) ** bands


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> List[List[bytes]]:
    """The band keys of each signature: ``bands`` keys of 10 bytes (band index, band hash).

    Args:
      signatures: a ``(documents, num_perm)`` uint32 array with ``num_perm >= bands * rows``.
    """
    if bands * rows > signatures.shape[1]:
        raise ValueError(f"{bands} bands x {rows} rows need {bands * rows} permutations, "
                         f"the signatures have {signatures.shape[1]}")
    if rows > len(_BAND_MULTIPLIERS):
        raise ValueError(f"at most {len(_BAND_MULTIPLIERS)} rows per band")
    values = signatures[:, :bands * rows].reshape(len(signatures), bands, rows).astype(_U64)
    with np.errstate(over="ignore"):
        hashes = (values * _BAND_MULTIPLIERS[:rows]).sum(axis=2, dtype=_U64)
    fmix64(hashes)
    keys = np.empty((len(signatures), bands), dtype=_BAND_KEY_DTYPE)
    keys["band"] = np.arange(bands, dtype=np.uint16)
    keys["hash"] = hashes
    return keys.view(np.dtype((np.void, _BAND_KEY_DTYPE.itemsize))).reshape(
        len(signatures), bands).tolist()


class Member(NamedTuple):
    """A document as a bucket sees it.

    Attributes:
      record_id: the document's record id.
      order: its place in the deterministic order (earlier wins); documents of earlier runs (from
        the cross-run index) sort before every document of this run.
      signature: its MinHash signature (:func:`transforms.minhash_signatures.signature_to_bytes`).
      run_id: None for a document of this run; else the earlier run that kept it.
    """
    record_id: str
    order: tuple
    signature: bytes
    run_id: Optional[str] = None


class Neighbor(NamedTuple):
    """An earlier document that a document was found similar to (what it may be dropped for)."""
    record_id: str
    order: tuple
    similarity: float
    run_id: Optional[str] = None


def similar_earlier(members: Sequence[Member], threshold: float, verify: bool,
                    max_candidates: int) -> Iterable[Tuple[Member, List[Neighbor]]]:
    """For each member of this run in one bucket, the earlier members it is similar to.

    ``members`` must be in order (earliest first). Members with identical signatures are compared
    once: the earliest of them is compared with the others, and every later copy is similar to it
    (1.0) and to whatever it is similar to, which leaves the keep/drop decisions of
    :mod:`transforms.minhash_resolve` unchanged. Each member is compared with at most
    ``max_candidates`` earlier distinct signatures (the earliest ones); the cap can only make the
    stage keep a document it would otherwise drop.

    Args:
      threshold: the estimated Jaccard similarity a pair needs to count.
      verify: if False every earlier member counts (plain LSH: sharing a bucket is enough); the
        reported similarity is still the estimate.

    Yields:
      (member, neighbors) for every member of this run that has at least one neighbor.
    """
    if len(members) < 2:
        return
    representatives: List[Member] = []  # the first member of each distinct signature
    representative_neighbors: List[List[Neighbor]] = []
    index_of_signature = {}
    matrix = None  # the signatures of the first max_candidates representatives, one per row
    for member in members:
        known = index_of_signature.get(member.signature)
        if known is not None:
            first = representatives[known]
            if member.run_id is None and first.record_id != member.record_id:
                yield member, [Neighbor(first.record_id, first.order, 1.0, first.run_id)] + \
                    representative_neighbors[known]
            continue
        signature = signature_from_bytes(member.signature)
        if matrix is None:
            matrix = np.empty((min(len(members), max_candidates), len(signature)), np.uint32)
        compared = min(len(representatives), max_candidates)
        neighbors: List[Neighbor] = []
        if member.run_id is None and compared:
            neighbors = _neighbors(member, signature, representatives[:compared],
                                   matrix[:compared], threshold, verify)
            if neighbors:
                yield member, neighbors
        index_of_signature[member.signature] = len(representatives)
        if len(representatives) < len(matrix):
            matrix[len(representatives)] = signature
        representatives.append(member)
        representative_neighbors.append(neighbors)


def similar_stored(member: Member, stored: Sequence[Member], threshold: float,
                   verify: bool) -> List[Neighbor]:
    """The members of ``stored`` (a bucket's earlier arrivals) that ``member`` is similar to."""
    if not stored:
        return []
    signature = signature_from_bytes(member.signature)
    matrix = np.stack([signature_from_bytes(earlier.signature) for earlier in stored])
    return _neighbors(member, signature, stored, matrix, threshold, verify)


def _neighbors(member: Member, signature: np.ndarray, earlier: Sequence[Member],
               matrix: np.ndarray, threshold: float, verify: bool) -> List[Neighbor]:
    similarities = np.mean(matrix == signature, axis=1)
    chosen = np.flatnonzero(similarities >= threshold) if verify else range(len(earlier))
    return [Neighbor(earlier[position].record_id, earlier[position].order,
                     float(similarities[position]), earlier[position].run_id)
            for position in chosen if earlier[position].record_id != member.record_id]
