"""A record's path through a run: where it came from, what each stage did, where it landed.

Kept as the entry point of the first lineage API; :meth:`lineage.queries.Lineage.trace` does the
work, and :mod:`lineage.queries` holds every other query.
"""

from __future__ import annotations

from typing import List, Optional

from lineage.queries import Lineage, RecordNotFound

__all__ = ["RecordNotFound", "trace"]


def trace(output_dir: str, record: str, run: Optional[str] = None) -> List[dict]:
    """Every run's story of ``record`` (Winnow record id or source id); see Lineage.trace."""
    return Lineage(output_dir).trace(record, run)
