"""What Winnow's local services need from the machine: a cache folder and Java.

Kafka's jars, the Flink job server and Prism are fetched once (with Maven or Go) into the cache and
reused offline afterwards.
"""

import os
import pathlib
import shutil
from typing import Optional


def cache_dir() -> pathlib.Path:
    """The root of Winnow's local cache: ``$WINNOW_CACHE`` or ``~/.cache/winnow``."""
    configured = os.environ.get("WINNOW_CACHE")
    if configured:
        return pathlib.Path(configured).expanduser()
    return pathlib.Path.home() / ".cache" / "winnow"


def java_executable() -> Optional[str]:
    """``$JAVA_HOME/bin/java`` if set, else the ``java`` on the ``PATH``; None if neither."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
        return os.path.join(java_home, "bin", "java")
    return shutil.which("java")
