"""Sources: PTransforms from a pipeline to raw messages plus the ranges they read.

Every source returns a :class:`SourceOutput`: ``messages`` is a PCollection of
:class:`schemas.raw.RawMessage`, ``ranges`` a PCollection of dicts shaped like
:data:`schemas.lineage.SOURCE_RANGES` without ``run_id`` (what was read, per file or partition).
"""

import collections

SourceOutput = collections.namedtuple("SourceOutput", ["messages", "ranges"])
