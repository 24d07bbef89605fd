"""Record-level lineage: building lineage rows in the pipeline, writing them, and querying them.

- :mod:`lineage.rows`: the rows stages emit (events, edges), tagged by table.
- :mod:`lineage.write`: the Beam transform that writes every lineage table as Parquet.
- :mod:`lineage.store`: opens a run folder's tables with DuckDB.
- :mod:`lineage.verify`: the completeness invariant.
- :mod:`lineage.queries`: the auditor's queries (trace, why, redactions, duplicates, erasure,
  funnel, sql).
- :mod:`lineage.openlineage`: dataset-level OpenLineage run events.
- :mod:`lineage.bias_report`: whom each filter removes, per identity group.
- :mod:`lineage.report`: the HTML run report (numbers in ``report_data``, charts and page in
  ``report_html``).
- :mod:`lineage.cli`, :mod:`lineage.report_cli`, :mod:`lineage.bias_cli`: their commands.
"""
