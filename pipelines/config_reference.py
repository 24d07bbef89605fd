"""The configuration reference, generated from the parameter models themselves.

``winnow config-reference`` prints it as Markdown; the README's "Stage parameters" section is this
output, and a test keeps the two equal, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import json
from typing import List, Type

import pydantic

from pipelines import config
from transforms import registry


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if value is None:
        return "null"
    if isinstance(value, pydantic.BaseModel):
        return "(section)"
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _table(rows: List[str]) -> List[str]:
    return ["| key | default | meaning |", "|---|---|---|"] + rows


def _rows(model: Type[pydantic.BaseModel], prefix: str = "") -> List[str]:
    rows = []
    for name, field in model.model_fields.items():
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{prefix}{name}` | `{_default(field)}` | {description} |")
    return rows


def markdown() -> str:
    """The whole reference: run-level sections, then one table per stage."""
    lines = ["#### Sections", ""]
    lines += _table(_rows(config.SourceConfig, "source.")
                    + _rows(config.KafkaSourceConfig, "source.kafka.")
                    + _rows(config.SinkConfig, "sink."))
    for name in registry.STAGES:
        lines += ["", f"#### `{name}`", ""]
        lines += _table(_rows(registry.params_class(name)))
    return "\n".join(lines) + "\n"
