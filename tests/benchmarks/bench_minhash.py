"""Speed and accuracy of the ``minhash_dedup`` stage against DataTrove's MinHash deduplication.

Run from the repository root::

    python -m tests.benchmarks.bench_minhash [--docs 5000] [--scales 1,4,16]
        [--datatrove-python PATH] [--datatrove-scales 1] [--direct-runner-docs 2000]

**Corpus.** Synthetic but realistic in length and word statistics: ``--docs`` original documents
of 300-1100 words (about 4 KB) drawn with Zipf frequencies (exponent 1.05) from 50,000
pseudo-words, with capitalized sentences and punctuation. For each edit rate in
:data:`EDIT_RATES`, 2% of the originals get one planted near-copy in which each word was, with that
probability, replaced, deleted or followed by an inserted word. All documents are shuffled into
one JSONL file (so a copy may come before its original). Scale ``k`` multiplies the number of
originals (and copies) by ``k``.

**Accuracy.** ``r@rate``: the share of planted pairs at that edit rate of which one member was
dropped (high rates are paraphrase-like pairs below the 0.7 threshold, where a drop is not wanted;
the mean true Jaccard similarity of their word 5-gram sets is shown on the header line).
``J>=.7``: the same share over all planted pairs whose true Jaccard similarity is at least 0.7
(recall against the threshold); ``J<.7``: over those below it (drops the threshold does not ask
for). ``false``: dropped documents that had no planted relative, plus pairs that lost both
members, plus (Winnow, which names the kept document) drops whose target is not the planted
relative.

**Speed.** Both systems use 5-word shingles, 112 permutations, 14 bands x 8 rows, one process on
one core, each run in a fresh child process (peak memory = the child's maximum resident set).
``docs/s/core`` is documents divided by the child's CPU time (user + system), which is what one
core delivers even when other jobs compete for the cores; wall time is shown too.

- ``winnow core``: the stage's own building blocks called directly, in-process, without Beam:
  signatures (:class:`transforms.minhash_signatures.MinHasher`, batches of 256), band keys, an
  in-memory grouping by band key standing in for ``GroupByKey``, the in-bucket comparison
  (:func:`transforms.minhash_lsh.similar_earlier`) and the keep/drop rounds
  (:func:`transforms.minhash_resolve.decide`), reading the JSONL as it goes (included).
- ``winnow DirectRunner`` (with ``--direct-runner-docs``): the whole stage in a Beam pipeline
  (``winnow``'s file source, ``minhash_dedup``, Parquet and lineage writers) minus the same pipeline
  without the stage; it shows Beam's per-element overhead on the local runner, which a
  distributed runner spreads over workers.
- ``winnow core, verify off``: the same with ``verify: false``, i.e. plain banded LSH like
  DataTrove: any pair that shares a band is a duplicate.
- ``winnow core, 22x5``: verification on, with 22 bands of 5 rows (110 of the 112 values): more
  candidates, all verified, so recall near the threshold rises without more drops below it.
- ``datatrove``: DataTrove's four MinHash steps (signatures, buckets, clusters, filter) with
  ``LocalPipelineExecutor`` (one task where DataTrove allows it, one worker), in its own
  virtualenv (``--datatrove-python``; default ``.winnow-cache/bench-datatrove-venv/bin/python``,
  made with ``python -m venv`` and ``pip install "datatrove[processing]" orjson spacy``), including
  its JSONL reading and writing.

The machine may be shared, so wall times are noisy; CPU-time rates and ratios are steadier.
"""

# Parts of this script run in child processes (and one in another virtualenv).
# pylint: disable=import-outside-toplevel,import-error

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_DATATROVE_PYTHON = os.path.join(ROOT, ".winnow-cache", "bench-datatrove-venv", "bin",
                                        "python")
EDIT_RATES = (0.01, 0.02, 0.03, 0.05, 0.08, 0.15)
COPY_SHARE = 0.02  # of the originals, per edit rate
NGRAM, NUM_PERM, BANDS, ROWS, THRESHOLD = 5, 112, 14, 8, 0.7


# ---------------------------------------------------------------------------------------------
# The corpus


class ZipfWords:
    """Pseudo-words from syllables, drawn with Zipf frequencies."""

    def __init__(self, rng: random.Random, vocabulary: int = 50_000, exponent: float = 1.05):
        syllables = ["ka", "to", "ri", "men", "sa", "lo", "pe", "dan", "ti", "mo", "ra", "ne",
                     "su", "vi", "el", "or", "an", "is", "us", "ex", "qu", "bra", "sto", "li",
                     "ge", "ha", "po", "ty", "war", "in", "ce", "ba"]
        words = set()
        while len(words) < vocabulary:
            words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
        self.words = sorted(words, key=lambda word: (len(word), word))
        rng.shuffle(self.words)
        self.cumulative = []
        total = 0.0
        for rank in range(1, vocabulary + 1):
            total += 1.0 / rank ** exponent
            self.cumulative.append(total)
        self.rng = rng

    def draw(self, count: int) -> List[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=count)


def as_text(words: List[str], rng: random.Random) -> str:
    sentences, sentence = [], []
    for word in words:
        sentence.append(word.capitalize() if not sentence else word)
        if len(sentence) >= 8 and rng.random() < 0.12:
            sentences.append(" ".join(sentence) + rng.choice(".!?;,"))
            sentence = []
    if sentence:
        sentences.append(" ".join(sentence) + ".")
    return " ".join(sentences)


def edited(words: List[str], rate: float, vocabulary: ZipfWords) -> List[str]:
    result = []
    for word in words:
        if vocabulary.rng.random() >= rate:
            result.append(word)
            continue
        kind = vocabulary.rng.randrange(3)
        if kind == 0:
            result.append(vocabulary.draw(1)[0])
        elif kind == 2:
            result.extend([word, vocabulary.draw(1)[0]])
    return result


def shingle_set(words: List[str]):
    lowered = [word.lower() for word in words]
    return {tuple(lowered[i:i + NGRAM]) for i in range(len(lowered) - NGRAM + 1)}


def build_corpus(path: str, originals: int, seed: int) -> Dict:
    """Writes the corpus as JSONL; returns the ground truth (see the module docstring)."""
    rng = random.Random(seed)
    vocabulary = ZipfWords(rng)
    rows = []
    truth = {"group": {}, "rate": {}, "pair_jaccard": {},
             "jaccard": {rate: [] for rate in EDIT_RATES}}
    original_words = []
    for index in range(originals):
        words = vocabulary.draw(rng.randint(300, 1100))
        original_words.append(words)
        rows.append({"id": f"o{index}", "text": as_text(words, rng)})
        truth["group"][f"o{index}"] = f"g{index}"
    copies_per_rate = max(1, int(round(originals * COPY_SHARE)))
    chosen = rng.sample(range(originals), copies_per_rate * len(EDIT_RATES))
    for position, index in enumerate(chosen):
        rate = EDIT_RATES[position // copies_per_rate]
        words = edited(original_words[index], rate, vocabulary)
        copy_id = f"c{index}"
        rows.append({"id": copy_id, "text": as_text(words, rng)})
        truth["group"][copy_id] = f"g{index}"
        truth["rate"][f"g{index}"] = rate
        a, b = shingle_set(original_words[index]), shingle_set(words)
        truth["pair_jaccard"][f"g{index}"] = len(a & b) / len(a | b)
        truth["jaccard"][rate].append(truth["pair_jaccard"][f"g{index}"])
    rng.shuffle(rows)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    truth["documents"] = len(rows)
    truth["bytes"] = os.path.getsize(path)
    return truth


def accuracy(truth: Dict, dropped: Dict[str, str]) -> Dict:
    """Recall per edit rate and false drops (see the module docstring).

    Args:
      dropped: source id of each dropped document -> source id of the document it was dropped
        for (None when the system does not say).
    """
    group = truth["group"]
    drops_per_group: Dict[str, int] = {}
    false_drops = 0
    for record, target in dropped.items():
        drops_per_group[group[record]] = drops_per_group.get(group[record], 0) + 1
        if target is not None and group.get(target) != group[record]:
            false_drops += 1
    recall = {}
    for rate in EDIT_RATES:
        groups = [g for g, r in truth["rate"].items() if r == rate]
        recall[rate] = sum(1 for g in groups if drops_per_group.get(g, 0) >= 1) / len(groups)
    for g, count in drops_per_group.items():
        allowed = 1 if g in truth["rate"] else 0
        false_drops += max(0, count - allowed)
    above = [g for g, j in truth["pair_jaccard"].items() if j >= THRESHOLD]
    below = [g for g, j in truth["pair_jaccard"].items() if j < THRESHOLD]
    return {"recall": recall, "false_drops": false_drops, "dropped": len(dropped),
            "recall_above": sum(1 for g in above if drops_per_group.get(g)) / max(1, len(above)),
            "dropped_below": sum(1 for g in below if drops_per_group.get(g)) / max(1, len(below))}


# ---------------------------------------------------------------------------------------------
# Child processes: each prints one JSON line


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM, unlike ``ru_maxrss``, does not carry
    over the parent's size from before ``exec``."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _finish(started_wall: float, started_cpu: float, **result) -> None:
    result.update(wall_s=time.perf_counter() - started_wall,
                  cpu_s=time.process_time() - started_cpu, peak_rss_mb=peak_rss_mb())
    print(json.dumps(result))


def child_winnow_core(corpus_path: str, verify: bool, bands: int, rows: int) -> None:
    """The stage's core, called directly (see the module docstring)."""
    from transforms.minhash_dedup import MinHashDedupParams
    from transforms.minhash_lsh import Member, band_keys, similar_earlier
    from transforms.minhash_resolve import KEPT, DROPPED, decide, merge_neighbors
    from transforms.minhash_signatures import MinHasher, signature_to_bytes

    params = MinHashDedupParams(ngram=NGRAM, num_perm=NUM_PERM, bands=bands, rows=rows,
                                threshold=THRESHOLD, verify=verify)
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    phases = {}
    hasher = MinHasher(params.ngram, params.num_perm, params.seed)
    buckets: Dict[bytes, list] = {}
    documents = 0

    def add(batch):
        signatures, has_signature = hasher.signatures([row["text"] for row in batch])
        keys = band_keys(signatures, params.bands, params.rows)
        for row, signature, usable, doc_keys in zip(batch, signatures, has_signature, keys):
            if usable:
                member = Member(row["id"], (1, row["line"]), signature_to_bytes(signature))
                for key in doc_keys:
                    buckets.setdefault(key, []).append(member)

    with open(corpus_path, encoding="utf-8") as handle:
        batch = []
        for line_number, line in enumerate(handle, start=1):
            row = json.loads(line)
            row["line"] = line_number
            batch.append(row)
            if len(batch) == params.batch_size:
                add(batch)
                documents += len(batch)
                batch = []
        add(batch)
        documents += len(batch)
    phases["read_hash_bucket_s"] = time.process_time() - started_cpu
    neighbor_lists: Dict[str, list] = {}
    for members in buckets.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda member: member.order)
        for member, neighbors in similar_earlier(members, params.threshold, params.verify,
                                                 params.max_bucket_candidates):
            neighbor_lists.setdefault(member.record_id, []).append(neighbors)
    states = {record: merge_neighbors(record, lists) for record, lists in neighbor_lists.items()}
    for round_number in range(1, params.max_rounds + 1):
        statuses = {record: state.status for record, state in states.items()}
        states = {record: decide(state, {n: statuses.get(n, KEPT)
                                         for n in state.neighbors_of_this_run()}, round_number)
                  for record, state in states.items()}
    phases["compare_resolve_s"] = time.process_time() - started_cpu - phases[
        "read_hash_bucket_s"]
    dropped = {record: state.target.record_id for record, state in states.items()
               if state.status == DROPPED}
    unresolved = sum(1 for state in states.values() if state.status not in (KEPT, DROPPED))
    _finish(started_wall, started_cpu, dropped=dropped, phases=phases, unresolved=unresolved,
            documents=documents)


def child_winnow_direct(corpus_path: str, with_stage: bool) -> None:
    """The winnow pipeline on the DirectRunner, with or without the stage."""
    from pipelines import run as launcher
    from pipelines.config import parse_config
    with tempfile.TemporaryDirectory() as output:
        stages = [{"minhash_dedup": {"ngram": NGRAM, "num_perm": NUM_PERM, "bands": BANDS,
                                     "rows": ROWS}}] if with_stage else []
        config = parse_config({"input": corpus_path, "output": output, "stages": stages})
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        summary = launcher.run(config, ["--runner=DirectRunner"])
        dropped = {}
        if with_stage:
            import duckdb
            connection = duckdb.connect()
            lineage = f"{output}/lineage"
            for source_id, target_source_id in connection.execute(f"""
                    SELECT r.source_id, t.source_id
                    FROM read_parquet('{lineage}/edges/*.parquet') e
                    JOIN read_parquet('{lineage}/records/*.parquet') r USING (record_id)
                    JOIN read_parquet('{lineage}/records/*.parquet') t
                      ON t.record_id = e.target_id
                    WHERE e.edge_type = 'duplicate_of'""").fetchall():
                dropped[source_id] = target_source_id
        _finish(started_wall, started_cpu, dropped=dropped, documents=summary.counts["read"])


DATATROVE_DRIVER = r'''
import json, os, resource, sys, time
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
    MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig

corpus, work, ngram, bands, rows = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
config = MinhashConfig(n_grams=ngram, num_buckets=bands, hashes_per_bucket=rows,
                       hash_config=HashConfig(precision=64))
folder, name = os.path.split(corpus)
def reader():
    return JsonlReader(folder, glob_pattern=name, id_key="id", text_key="text")
started_wall, started_cpu = time.perf_counter(), time.process_time()
steps = {}
def timed(label, executor):
    t = time.process_time()
    executor.run()
    steps[label] = time.process_time() - t
timed("signatures", LocalPipelineExecutor(pipeline=[reader(), MinhashDedupSignature(
    output_folder=f"{work}/signatures", config=config)], tasks=1, workers=1,
    logging_dir=f"{work}/logs/signatures"))
timed("buckets", LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(
    input_folder=f"{work}/signatures", output_folder=f"{work}/buckets", config=config)],
    tasks=config.num_buckets, workers=1, logging_dir=f"{work}/logs/buckets"))
timed("clusters", LocalPipelineExecutor(pipeline=[MinhashDedupCluster(
    input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=config)],
    tasks=1, workers=1, logging_dir=f"{work}/logs/clusters"))
timed("filter", LocalPipelineExecutor(pipeline=[reader(), MinhashDedupFilter(
    input_folder=f"{work}/remove_ids", exclusion_writer=JsonlWriter(f"{work}/removed")),
    JsonlWriter(f"{work}/kept")], tasks=1, workers=1, logging_dir=f"{work}/logs/filter"))
children = resource.getrusage(resource.RUSAGE_CHILDREN)
wall = time.perf_counter() - started_wall
cpu = time.process_time() - started_cpu + children.ru_utime + children.ru_stime
import glob, gzip
dropped = {}
for path in glob.glob(f"{work}/removed/*"):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as handle:
        for line in handle:
            dropped[json.loads(line)["id"]] = None
with open("/proc/self/status") as handle:
    peak = [int(line.split()[1]) / 1024 for line in handle if line.startswith("VmHWM:")][0]
print(json.dumps({"dropped": dropped, "wall_s": wall, "cpu_s": cpu, "phases": steps,
                  "peak_rss_mb": peak}))
'''


def _run_child(command: List[str]) -> Dict:
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run_winnow_core(corpus_path: str, verify: bool = True, bands: int = BANDS,
                    rows: int = ROWS) -> Dict:
    kind = f"winnow-core:{int(verify)}:{bands}:{rows}"
    return _run_child([sys.executable, "-m", "tests.benchmarks.bench_minhash", "--child", kind,
                       corpus_path])


def run_winnow_direct(corpus_path: str, with_stage: bool) -> Dict:
    return _run_child([sys.executable, "-m", "tests.benchmarks.bench_minhash", "--child",
                       "winnow-direct" if with_stage else "winnow-direct-baseline",
                       corpus_path])


def run_datatrove(python: str, corpus_path: str) -> Dict:
    with tempfile.TemporaryDirectory() as work:
        driver = os.path.join(work, "driver.py")
        with open(driver, "w", encoding="utf-8") as handle:
            handle.write(DATATROVE_DRIVER)
        return _run_child([python, driver, corpus_path, work, str(NGRAM), str(BANDS),
                           str(ROWS)])


# ---------------------------------------------------------------------------------------------
# The report


def _row(label: str, scale: str, truth: Dict, result: Dict, documents: int) -> str:
    measured = accuracy(truth, result["dropped"])
    rate = documents / result["cpu_s"]
    recalls = " ".join(f"{measured['recall'][r]:6.2f}" for r in EDIT_RATES)
    return (f"{label:24s} {scale:>4s} {documents:>7d} {result['cpu_s']:8.1f} "
            f"{result['wall_s']:8.1f} {rate:9.0f} {1e6 / rate:8.0f} "
            f"{result['peak_rss_mb']:7.0f}  {recalls}  {measured['recall_above']:6.3f} "
            f"{measured['dropped_below']:6.3f} {measured['false_drops']:6d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=5000, help="originals at scale 1")
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--datatrove-python", default=DEFAULT_DATATROVE_PYTHON)
    parser.add_argument("--datatrove-scales", default="1",
                        help="scales to run DataTrove at (it is slow); empty: none")
    parser.add_argument("--direct-runner-docs", type=int, default=0,
                        help="also run the stage on the DirectRunner over this many originals")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, corpus_path = args.child
        if kind.startswith("winnow-core:"):
            _, verify, bands, rows = kind.split(":")
            child_winnow_core(corpus_path, bool(int(verify)), int(bands), int(rows))
        else:
            child_winnow_direct(corpus_path, with_stage=kind == "winnow-direct")
        return

    scales = [int(s) for s in args.scales.split(",") if s]
    datatrove_scales = {int(s) for s in args.datatrove_scales.split(",") if s}
    have_datatrove = os.path.exists(args.datatrove_python)
    if datatrove_scales and not have_datatrove:
        print(f"(no DataTrove at {args.datatrove_python}: its rows are skipped)")
    header = (f"{'system':24s} {'scale':>4s} {'docs':>7s} {'cpu s':>8s} {'wall s':>8s} "
              f"{'docs/s/core':>9s} {'us/doc':>8s} {'peak MB':>7s}  "
              + " ".join(f"r@{r:<4}" for r in EDIT_RATES) + "  J>=.7  J<.7  false")
    lines = []
    with tempfile.TemporaryDirectory() as work:
        for scale in scales:
            corpus_path = os.path.join(work, f"corpus_{scale}x.jsonl")
            truth = build_corpus(corpus_path, args.docs * scale, args.seed + scale)
            documents = truth["documents"]
            if scale == scales[0]:
                print(f"corpus at 1x: {documents} documents, {truth['bytes'] / 1e6:.1f} MB; "
                      "mean true Jaccard of planted pairs by edit rate: " + ", ".join(
                          f"{r:.0%}: {sum(j) / len(j):.2f}" for r, j in truth["jaccard"].items()))
                print(header)
            core = run_winnow_core(corpus_path)
            lines.append(_row("winnow core", f"{scale}x", truth, core, documents))
            print(lines[-1] + f"   unresolved={core['unresolved']} "
                  + " ".join(f"{k}={v:.1f}" for k, v in core["phases"].items()), flush=True)
            if scale in datatrove_scales:
                unverified = run_winnow_core(corpus_path, verify=False)
                print(_row("winnow core, verify off", f"{scale}x", truth, unverified, documents),
                      flush=True)
                more_bands = run_winnow_core(corpus_path, bands=22, rows=5)
                print(_row("winnow core, 22x5", f"{scale}x", truth, more_bands, documents),
                      flush=True)
            if have_datatrove and scale in datatrove_scales:
                datatrove = run_datatrove(args.datatrove_python, corpus_path)
                lines.append(_row("datatrove", f"{scale}x", truth, datatrove, documents))
                print(lines[-1] + "   " + " ".join(
                    f"{k}={v:.1f}" for k, v in datatrove["phases"].items()), flush=True)
                print(f"{'':24s} winnow core / datatrove, docs/s per core: "
                      f"{datatrove['cpu_s'] / core['cpu_s']:.1f}x", flush=True)
        if args.direct_runner_docs:
            corpus_path = os.path.join(work, "corpus_direct.jsonl")
            truth = build_corpus(corpus_path, args.direct_runner_docs, args.seed + 1)
            with_stage = run_winnow_direct(corpus_path, True)
            baseline = run_winnow_direct(corpus_path, False)
            documents = truth["documents"]
            scale = f"{args.direct_runner_docs / args.docs:g}x"
            print(_row("pipeline + stage", scale, truth, with_stage, documents))
            stage_only = dict(with_stage, cpu_s=with_stage["cpu_s"] - baseline["cpu_s"],
                              wall_s=with_stage["wall_s"] - baseline["wall_s"])
            print(_row("stage on DirectRunner", scale, truth, stage_only, documents)
                  + f"   (pipeline without the stage: {baseline['cpu_s']:.1f} cpu s)")


if __name__ == "__main__":
    main()
