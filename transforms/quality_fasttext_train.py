"""Training a fastText supervised model in a fresh child process.

:func:`transforms.quality_model.train_quality_model` prepares the training file and calls
:func:`fit_in_child`. Training runs in a newly spawned interpreter that imports nothing but
fastText, because fastText's training was seen to abort with "Encountered NaN" at any learning
rate in a process that had already used fastText models for prediction (a test run, a notebook,
a pipeline worker), while the same training in a fresh process succeeds. The child also returns
its memory to the system when it ends.

This module imports only the standard library at the top, so the child starts quickly.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
from typing import Any, Dict, List, Tuple

_LOG = logging.getLogger(__name__)
DIVERGENCE_RETRIES = 3


def _fit(training_file: str, output_path: str, args: Dict[str, Any],
         quantize: bool) -> Tuple[List[str], float]:
    """Trains, optionally quantizes, saves; returns (labels, learning rate used).

    fastText aborts with "Encountered NaN" when the learning rate is too high for the data (small
    or very repetitive corpora); training is then retried with half the learning rate.
    """
    import fasttext  # pylint: disable=import-outside-toplevel
    args = dict(args)
    for attempt in range(DIVERGENCE_RETRIES + 1):
        try:
            model = fasttext.train_supervised(input=training_file, **args)
            break
        except RuntimeError as error:
            if "NaN" not in str(error) or attempt == DIVERGENCE_RETRIES:
                raise
            _LOG.warning("fastText training diverged at lr=%g; retrying with lr=%g",
                         args["lr"], args["lr"] / 2)
            args["lr"] = args["lr"] / 2
    if quantize:
        model.quantize(input=training_file, retrain=True)
    model.save_model(output_path)
    return list(model.get_labels()), float(args["lr"])


def fit_in_child(training_file: str, output_path: str, args: Dict[str, Any],
                 quantize: bool) -> Tuple[List[str], float]:
    """Runs :func:`_fit` in a spawned child process and returns its result (or raises its
    exception)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as executor:
        return executor.submit(_fit, training_file, output_path, args, quantize).result()
