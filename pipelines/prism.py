"""Beam's Prism runner, built from its Go source and cached, for local streaming runs.

Beam's Python SDK downloads a prebuilt Prism binary from a release page the first time a pipeline
runs on Prism (or on the DirectRunner, which tries Prism first). Where that page cannot be reached,
:func:`ensure_prism` builds the binary of the same Beam version with the Go toolchain instead
(``go install``; a few minutes the first time, then cached), and :func:`prism_options` gives the
pipeline flags that point the runner at it.

Example::

    options = PipelineOptions(["--streaming", *prism.prism_options()])

Command line (CI pre-caching)::

    python -m pipelines.prism
"""

import logging
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

from pipelines.local_tools import cache_dir

from apache_beam.version import __version__ as BEAM_VERSION

PRISM_PACKAGE = "github.com/apache/beam/sdks/v2/go/cmd/prism"
BEAM_GO_MODULE = "github.com/apache/beam"

_LOGGER = logging.getLogger(__name__)


class PrismUnavailableError(RuntimeError):
    """The Prism binary is not cached and could not be built."""


def prism_path(beam_version: str = BEAM_VERSION) -> pathlib.Path:
    """Where the Prism binary of a Beam version is (or will be) cached.

    That is ``$WINNOW_CACHE/prism-<version>/prism``, by default under ``~/.cache/winnow``.
    """
    return cache_dir() / f"prism-{beam_version}" / "prism"


def ensure_prism(beam_version: str = BEAM_VERSION, timeout_s: float = 1200.0) -> pathlib.Path:
    """Returns the cached Prism binary of ``beam_version``, building it first if needed.

    The binary should match the Python SDK's Beam version (the default). If Go's checksum
    database has no entry for that Beam release (it answers 404 for some older ones), the build
    is retried with the checksum check skipped for Beam's own module only (``GONOSUMDB``); its
    dependencies are still verified as usual.

    Raises:
        PrismUnavailableError: no Go toolchain, or the build failed or timed out.
    """
    target = prism_path(beam_version)
    if target.is_file() and os.access(target, os.X_OK):
        return target
    go = shutil.which("go")
    if go is None:
        raise PrismUnavailableError(
            f"Prism {beam_version} is not cached at {target} and no Go toolchain (go) is on the "
            "PATH to build it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".prism-", dir=target.parent))
    try:
        deadline = time.monotonic() + timeout_s
        returncode, output = _go_install(go, beam_version, staging, deadline)
        if returncode != 0 and _checksum_database_lacks_module(output):
            _LOGGER.warning(
                "Go's checksum database has no entry for Beam %s; building Prism without "
                "checking Beam's own module against it", beam_version)
            returncode, output = _go_install(
                go, beam_version, staging, deadline, extra_env={"GONOSUMDB": BEAM_GO_MODULE})
        built = staging / "prism"
        if returncode != 0 or not built.is_file():
            tail = "\n".join(output.splitlines()[-30:])
            raise PrismUnavailableError(
                f"building Prism {beam_version} failed (exit {returncode}):\n{tail}")
        os.replace(built, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _go_install(
        go: str,
        beam_version: str,
        gobin: pathlib.Path,
        deadline: float,
        extra_env: Optional[Dict[str, str]] = None) -> Tuple[int, str]:
    environment = dict(os.environ, GOBIN=str(gobin), CGO_ENABLED="0", **(extra_env or {}))
    try:
        result = subprocess.run(
            [go, "install", f"{PRISM_PACKAGE}@v{beam_version}"], env=environment,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=max(1.0, deadline - time.monotonic()), check=False)
    except subprocess.TimeoutExpired as error:
        raise PrismUnavailableError(f"building Prism {beam_version} timed out") from error
    return result.returncode, result.stdout


def _checksum_database_lacks_module(go_output: str) -> bool:
    return "verifying module" in go_output and "404 Not Found" in go_output


def prism_options(beam_version: str = BEAM_VERSION) -> List[str]:
    """Pipeline flags that run on Prism with the cached (or freshly built) binary."""
    return ["--runner=PrismRunner", f"--prism_location={ensure_prism(beam_version)}"]


def main(argv: Optional[List[str]] = None) -> int:
    """Builds (or finds) the Prism binary and prints its path."""
    del argv
    print(ensure_prism())
    return 0


if __name__ == "__main__":
    sys.exit(main())
