"""Which near-duplicates to drop: the keep/drop rule of ``minhash_dedup`` and its Beam transforms.

Input: for every document that was found similar to at least one *earlier* document (in the
stage's order), the list of those earlier documents, its *neighbors*
(:class:`transforms.minhash_lsh.Neighbor`). Output: whether each such document is kept or dropped
and, when dropped, the kept document it is dropped for.

The rule (sequential greedy, as if the documents were read one by one in order):

    A document is dropped iff it is similar (estimated Jaccard >= threshold) to an earlier
    document that is itself KEPT. It is dropped as a duplicate of the most similar such document
    (ties: the earliest). Documents of earlier runs (the cross-run index) are kept by definition.

So a dropped document always points at a kept one, the two members of a pair are never both
dropped, and every group of near-duplicates keeps at least its earliest member. In a chain
``A ~ B ~ C`` with ``A !~ C`` (in that order), ``A`` is kept, ``B`` is dropped for ``A``, and ``C``
is kept: it resembles only ``B``, which is gone, so dropping it would lose its content.

How it is computed, in synchronous rounds: a document's status starts OPEN (documents with no
earlier neighbor are KEPT from the start). In each round every OPEN document looks at its
neighbors' statuses from the previous round: if one of them is KEPT it becomes DROPPED; if all of
them are DROPPED it becomes KEPT; otherwise it stays OPEN. A decision is final, and equals the
sequential rule's, because it only depends on earlier documents' final statuses. A chain of
alternating keeps and drops needs one round per link; after ``max_rounds`` rounds the documents
still OPEN are **kept** (never dropped on incomplete evidence) and their lineage says
``unresolved``. Nothing depends on bundle boundaries, worker counts or runner, only on the order.

Batch input runs the rounds as pairs of ``CoGroupByKey`` over the similarity graph only (documents
without neighbors never enter it). Streaming input runs the same rounds as chains of stateful DoFns
keyed by record id; a round emits every document's status exactly once, and a document waits for
the statuses of all its neighbors before it is decided.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.coders import PickleCoder, StrUtf8Coder
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec

from transforms.minhash_lsh import Neighbor

OPEN = "open"
KEPT = "kept"
DROPPED = "dropped"


class NodeState(NamedTuple):
    """What is known about one document of this run that has earlier neighbors.

    Attributes:
      record_id: the document.
      neighbors: the earlier documents it is similar to.
      status: OPEN, KEPT or DROPPED.
      target: when DROPPED, the kept neighbor it duplicates.
      decided_in_round: the round that decided it (0: before any round).
    """
    record_id: str
    neighbors: Tuple[Neighbor, ...]
    status: str = OPEN
    target: Optional[Neighbor] = None
    decided_in_round: int = 0

    def neighbors_of_this_run(self) -> List[str]:
        """The neighbors whose status must be asked for (earlier runs' documents are kept)."""
        return sorted({n.record_id for n in self.neighbors if n.run_id is None})


def merge_neighbors(record_id: str, neighbor_lists: Iterable[Iterable[Neighbor]]) -> NodeState:
    """The initial state of a document from the neighbors found in its buckets."""
    best: Dict[Tuple[str, Optional[str]], Neighbor] = {}
    for neighbors in neighbor_lists:
        for neighbor in neighbors:
            key = (neighbor.record_id, neighbor.run_id)
            if key not in best or neighbor.similarity > best[key].similarity:
                best[key] = neighbor
    ordered = tuple(sorted(best.values(), key=lambda n: (n.order, n.record_id)))
    return NodeState(record_id, ordered, OPEN if ordered else KEPT)


def decide(node: NodeState, statuses: Mapping[str, str], round_number: int) -> NodeState:
    """One round of the rule for one document, given its neighbors' statuses (see module doc)."""
    if node.status != OPEN:
        return node
    kept = [n for n in node.neighbors if n.run_id is not None or statuses.get(n.record_id) == KEPT]
    if kept:
        target = min(kept, key=lambda n: (-n.similarity, n.order, n.record_id))
        return node._replace(status=DROPPED, target=target, decided_in_round=round_number)
    if all(statuses.get(record_id) == DROPPED for record_id in node.neighbors_of_this_run()):
        return node._replace(status=KEPT, decided_in_round=round_number)
    return node


# ---------------------------------------------------------------------------------------------
# Batch: rounds of CoGroupByKey over the similarity graph.


def _answer_asks(keyed):
    """Key: a document; values: its state (if it has earlier neighbors) and who asks about it."""
    record_id, grouped = keyed
    states = list(grouped["state"])
    # A document with no state of its own has no earlier neighbor: it is kept.
    status = states[0].status if states else KEPT
    for asker in grouped["ask"]:
        yield asker, (record_id, status)


def _ask_neighbors(keyed):
    record_id, node = keyed
    if node.status == OPEN:
        for neighbor_id in node.neighbors_of_this_run():
            yield neighbor_id, record_id


class _DecideRound(beam.DoFn):

    def __init__(self, round_number: int):
        self._round = round_number

    def process(self, keyed):
        record_id, grouped = keyed
        for node in grouped["state"]:
            yield record_id, decide(node, dict(grouped["answer"]), self._round)


class ResolveBatch(beam.PTransform):
    """``(record_id, NodeState)`` of documents with neighbors -> the same, decided where possible.

    Runs ``max_rounds`` rounds (see the module docstring); documents still OPEN afterwards stay
    OPEN here (the stage keeps them).
    """

    def __init__(self, max_rounds: int):
        super().__init__()
        self._max_rounds = max_rounds

    def expand(self, states):
        for round_number in range(1, self._max_rounds + 1):
            asks = states | f"Ask{round_number}" >> beam.FlatMap(_ask_neighbors)
            answers = ({"state": states, "ask": asks}
                       | f"JoinAsks{round_number}" >> beam.CoGroupByKey()
                       | f"Answer{round_number}" >> beam.FlatMap(_answer_asks))
            states = ({"state": states, "answer": answers}
                      | f"JoinAnswers{round_number}" >> beam.CoGroupByKey()
                      | f"Decide{round_number}" >> beam.ParDo(_DecideRound(round_number)))
        return states


# ---------------------------------------------------------------------------------------------
# Streaming: the same rounds as stateful DoFns keyed by record id.

STATE_TAG = "state"
ASK_TAG = "ask"
ANSWER_TAG = "answer"


class _AnswerAsksStateful(beam.DoFn):
    """Per document: remembers its status after the previous round and answers every asker,
    including askers that arrive before that status or long after it."""
    STATUS = ReadModifyWriteStateSpec("status", StrUtf8Coder())
    PENDING = BagStateSpec("pending", StrUtf8Coder())

    def process(self, keyed, status_state=beam.DoFn.StateParam(STATUS),
                pending_state=beam.DoFn.StateParam(PENDING)):
        record_id, (tag, value) = keyed
        if tag == STATE_TAG:
            status_state.write(value.status)
            for asker in pending_state.read():
                yield asker, (ANSWER_TAG, (record_id, value.status))
            pending_state.clear()
            return
        status = status_state.read()
        if status is None:
            pending_state.add(value)
        else:
            yield value, (ANSWER_TAG, (record_id, status))


class _DecideStateful(beam.DoFn):
    """Per document: waits for its own state and its neighbors' statuses, then decides once."""
    NODE = ReadModifyWriteStateSpec("node", PickleCoder())
    ANSWERS = BagStateSpec("answers", PickleCoder())

    def __init__(self, round_number: int):
        self._round = round_number

    def process(self, keyed, node_state=beam.DoFn.StateParam(NODE),
                answers_state=beam.DoFn.StateParam(ANSWERS)):
        record_id, (tag, value) = keyed
        if tag == STATE_TAG:
            node = value
        else:
            answers_state.add(value)
            node = node_state.read()
            if node is None:
                return
        if node.status != OPEN:
            yield record_id, node
            return
        answers = dict(answers_state.read())
        if set(node.neighbors_of_this_run()) <= set(answers):
            node_state.clear()
            answers_state.clear()
            yield record_id, decide(node, answers, self._round)
        elif tag == STATE_TAG:
            node_state.write(node)


def _tagged(tag):
    return lambda keyed: (keyed[0], (tag, keyed[1]))


_KEYED_BY_RECORD = beam.typehints.Tuple[str, Any]


class ResolveStreaming(beam.PTransform):
    """``(record_id, NodeState)`` of every document with a signature -> its status after the rounds.

    Unlike :class:`ResolveBatch`, every document takes part (also those with no neighbors, whose
    status is KEPT from the start), because a later arrival may ask about any of them.
    """

    def __init__(self, max_rounds: int):
        super().__init__()
        self._max_rounds = max_rounds

    def expand(self, states):
        for round_number in range(1, self._max_rounds + 1):
            asks = states | f"Ask{round_number}" >> beam.FlatMap(
                lambda keyed: ((neighbor, (ASK_TAG, asker))
                               for neighbor, asker in _ask_neighbors(keyed))
            ).with_output_types(_KEYED_BY_RECORD)
            tagged_states = states | f"TagState{round_number}" >> beam.Map(
                _tagged(STATE_TAG)).with_output_types(_KEYED_BY_RECORD)
            answers = ((tagged_states, asks)
                       | f"StatesAndAsks{round_number}" >> beam.Flatten()
                       | f"Answer{round_number}" >> beam.ParDo(_AnswerAsksStateful())
                       .with_output_types(_KEYED_BY_RECORD))
            states = ((tagged_states, answers)
                      | f"StatesAndAnswers{round_number}" >> beam.Flatten()
                      | f"Decide{round_number}" >> beam.ParDo(_DecideStateful(round_number))
                      .with_output_types(_KEYED_BY_RECORD))
        return states
