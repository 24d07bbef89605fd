"""Where a run's output lands: the output-folder contract.

::

    <output>/
      data/          curated Parquet shards     <run_id>-SSSSS-of-NNNNN.parquet
      quarantine/    dead letters, Parquet      <run_id>-SSSSS-of-NNNNN.parquet
      lineage/
        records/ events/ edges/ source_ranges/  <run_id>-SSSSS-of-NNNNN.parquet
        runs/        one file per finished run  <run_id>.parquet
      report/        run reports (winnow report)  <run_id>.html, <run_id>/*.png

Runs never overwrite each other: several runs can share one output folder, told apart by run id.
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    root: str

    @property
    def data(self) -> str:
        return f"{self.root}/data"

    @property
    def quarantine(self) -> str:
        return f"{self.root}/quarantine"

    @property
    def lineage(self) -> str:
        return f"{self.root}/lineage"

    def lineage_table(self, table: str) -> str:
        return f"{self.lineage}/{table}"


def new_run_id(now: datetime.datetime = None) -> str:
    """A sortable, unique run id: ``run-YYYYmmddTHHMMSSZ-<6 hex>``."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return f"run-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
