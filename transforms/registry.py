"""Stage names -> stage classes and their parameter models.

Stage modules are imported only when a pipeline uses them, so a run without ``pii`` never loads
Presidio. Every stage class takes ``(params, *, annotate_only, seq)``.
"""

from __future__ import annotations

import importlib
from typing import Dict, NamedTuple, Type

import pydantic

from transforms.stage import Stage


class StageSpec(NamedTuple):
    module: str
    stage_class: str
    params_class: str


STAGES: Dict[str, StageSpec] = {
    "normalize": StageSpec("transforms.normalize", "Normalize", "NormalizeParams"),
    "exact_dedup": StageSpec("transforms.exact_dedup", "ExactDedup", "ExactDedupParams"),
    "minhash_dedup": StageSpec("transforms.minhash_dedup", "MinHashDedup", "MinHashDedupParams"),
    "pii": StageSpec("transforms.pii", "PiiScrub", "PiiParams"),
    "quality": StageSpec("transforms.quality", "QualitySignals", "QualityParams"),
    "langid": StageSpec("transforms.langid", "LanguageId", "LanguageIdParams"),
    "quality_model": StageSpec("transforms.quality_model", "QualityModel", "QualityModelParams"),
    "bias": StageSpec("transforms.bias", "BiasSignals", "BiasParams"),
}


class UnknownStage(KeyError):
    pass


def _spec(name: str) -> StageSpec:
    try:
        return STAGES[name]
    except KeyError:
        raise UnknownStage(
            f"unknown stage {name!r}; known stages: {', '.join(STAGES)}") from None


def params_class(name: str) -> Type[pydantic.BaseModel]:
    spec = _spec(name)
    return getattr(importlib.import_module(spec.module), spec.params_class)


def stage_class(name: str) -> Type[Stage]:
    spec = _spec(name)
    return getattr(importlib.import_module(spec.module), spec.stage_class)


def make_stage(name: str, params: pydantic.BaseModel, *, annotate_only: bool, seq: int) -> Stage:
    return stage_class(name)(params, annotate_only=annotate_only, seq=seq)
