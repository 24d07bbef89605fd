"""Winnow's local cache of downloaded tools: Kafka's jars, the Flink job server, Prism.

Everything is fetched once (with Maven or Go) and reused offline afterwards.
"""

import os
import pathlib


def cache_dir() -> pathlib.Path:
    """The root of Winnow's local cache: ``$WINNOW_CACHE`` or ``~/.cache/winnow``."""
    configured = os.environ.get("WINNOW_CACHE")
    if configured:
        return pathlib.Path(configured).expanduser()
    return pathlib.Path.home() / ".cache" / "winnow"
