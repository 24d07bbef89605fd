"""The run configuration: one YAML file, validated before any pipeline starts.

Example (every key is optional except where a run needs it)::

    input: "corpus/*.jsonl.gz"          # or kafka://HOST:PORT/TOPIC
    output: out/
    annotate_only: false                # record scores and decisions, drop nothing
    stages:                             # any subset, in any order
      - normalize: {max_chars: 200000}
      - exact_dedup
      - quality: {min_words: 50}
    source:
      max_payload_bytes: 16777216
      kafka: {group: winnow, start: committed, bounded: true}
    sink:
      target_shard_bytes: 134217728
      row_group_rows: 10000
    beam_options:                       # any Beam pipeline option
      runner: DirectRunner

A config that does not validate raises :class:`ConfigError`, whose message names each bad key
(e.g. ``stages[2].quality.min_words: Input should be a valid integer``).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Literal, Optional, Union

import pydantic
import yaml

from lineage.openlineage import OpenLineageSettings
from transforms import registry
from transforms.parse import DEFAULT_MAX_PAYLOAD_BYTES
from pipelines.parquet_shards import DEFAULT_ROW_GROUP_ROWS, DEFAULT_TARGET_SHARD_BYTES

DEFAULT_STAGES = ("normalize", "exact_dedup")


class ConfigError(ValueError):
    """A config that cannot run; the message names the offending keys."""


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class KafkaSourceConfig(_Strict):
    group: str = pydantic.Field("winnow", description="consumer group whose offsets a run "
                                "starts from and commits to")
    start: Union[str, int, Dict[int, int]] = pydantic.Field(
        "committed", description="committed | earliest | latest | a timestamp in ms | "
        "{partition: offset}")
    bounded: bool = pydantic.Field(True, description="read up to the end offsets seen at "
                                   "job start, then finish; false for --streaming jobs")
    commit: bool = pydantic.Field(True, description="commit the offsets read to the group "
                                  "after the run's output is durable")
    max_records: Optional[int] = pydantic.Field(None, gt=0, description="stop after this many "
                                                "records (streaming tests, sampling)")
    idle_timeout_s: Optional[float] = pydantic.Field(None, gt=0, description="stop a "
                                                     "streaming read after this long without "
                                                     "new messages")
    window_s: int = pydantic.Field(60, gt=0, description="fixed window length for streaming "
                                   "output shards")
    consumer_config: Dict[str, Any] = pydantic.Field(default_factory=dict, description="extra "
                                                     "kafka-python consumer settings")
    dead_letter_topic: Optional[str] = pydantic.Field(
        None, description="also publish dead letters to this topic of the same brokers: the "
        "raw payload, with the reason and source coordinates as headers")
    reader: Literal["kafka-python", "beam-java"] = pydantic.Field(
        "kafka-python", description="kafka-python: Winnow's splittable DoFn, on every runner; "
        "beam-java: Beam's cross-language ReadFromKafka (Java KafkaIO), batch runs on Flink or "
        "Dataflow")
    expansion_service: Optional[str] = pydantic.Field(
        None, description="beam-java: HOST:PORT of a running Java expansion service with "
        "KafkaIO; default: Winnow starts one for a local Flink run, Beam's own elsewhere")
    java_consumer_config: Dict[str, str] = pydantic.Field(
        default_factory=dict, description="beam-java: extra Java consumer properties for "
        "KafkaIO (e.g. security.protocol)")

    @pydantic.model_validator(mode="after")
    def _java_reader_is_bounded(self):
        if self.reader == "beam-java" and not self.bounded:
            raise ValueError("reader beam-java reads bounded (batch) runs only; streaming runs "
                             "use reader kafka-python, which runs on Flink and Dataflow too")
        return self


class SourceConfig(_Strict):
    max_payload_bytes: int = pydantic.Field(
        DEFAULT_MAX_PAYLOAD_BYTES, gt=0, description="messages larger than this are "
        "quarantined (payload_too_large) before any decoding")
    kafka: KafkaSourceConfig = pydantic.Field(default_factory=KafkaSourceConfig)


class SinkConfig(_Strict):
    target_shard_bytes: int = pydantic.Field(
        DEFAULT_TARGET_SHARD_BYTES, gt=0, description="estimated bytes of text per curated "
        "shard; decides the number of shards of a batch run")
    num_shards: Optional[int] = pydantic.Field(None, gt=0, description="a fixed number of "
                                               "curated shards instead of a target size")
    row_group_rows: int = pydantic.Field(DEFAULT_ROW_GROUP_ROWS, gt=0,
                                         description="rows per Parquet row group of the shards")
    lineage_target_shard_bytes: int = pydantic.Field(
        64 * 1024 * 1024, gt=0, description="estimated bytes per lineage and quarantine shard")


class StageConfig(pydantic.BaseModel):
    name: str
    params: pydantic.BaseModel


class WinnowConfig(_Strict):
    input: Optional[str] = None
    output: Optional[str] = None
    annotate_only: bool = False
    stages: List[Any] = pydantic.Field(default_factory=lambda: list(DEFAULT_STAGES))
    source: SourceConfig = pydantic.Field(default_factory=SourceConfig)
    sink: SinkConfig = pydantic.Field(default_factory=SinkConfig)
    beam_options: Dict[str, Any] = pydantic.Field(default_factory=dict)
    openlineage: OpenLineageSettings = pydantic.Field(default_factory=OpenLineageSettings)

    def stage_configs(self) -> List[StageConfig]:
        """The stages with validated parameter models (validated at load time already)."""
        return [_stage_config(entry, index) for index, entry in enumerate(self.stages)]

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        transport = data.get("openlineage", {}).get("transport") or {}
        transport.pop("auth", None)  # API keys never reach the runs table
        data["stages"] = [{s.name: s.params.model_dump(mode="json")}
                          for s in self.stage_configs()]
        return json.dumps(data, sort_keys=True)


def _stage_entry(entry: Any, index: int):
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and len(entry) == 1:
        name, params = next(iter(entry.items()))
        return name, params or {}
    raise ConfigError(f"stages[{index}]: expected a stage name or a mapping "
                      f"{{name: {{param: value}}}}, got {entry!r}")


def _stage_config(entry: Any, index: int) -> StageConfig:
    name, params = _stage_entry(entry, index)
    try:
        model = registry.params_class(name)
    except registry.UnknownStage as error:
        raise ConfigError(f"stages[{index}]: {error.args[0]}") from None
    if not isinstance(params, dict):
        raise ConfigError(f"stages[{index}].{name}: parameters must be a mapping")
    try:
        return StageConfig(name=name, params=model(**params))
    except pydantic.ValidationError as error:
        raise ConfigError(_format_errors(error, f"stages[{index}].{name}.")) from None


def _format_errors(error: pydantic.ValidationError, prefix: str = "") -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        lines.append(f"{prefix}{key}: {problem['msg']}")
    return "invalid config:\n  " + "\n  ".join(lines)


def parse_config(data: Optional[Dict[str, Any]]) -> WinnowConfig:
    """Validates a config mapping; raises ConfigError naming every bad key."""
    try:
        config = WinnowConfig(**(data or {}))
    except pydantic.ValidationError as error:
        raise ConfigError(_format_errors(error)) from None
    except TypeError as error:
        raise ConfigError(f"invalid config: {error}") from None
    config.stage_configs()  # validate stage names and parameters now, not at run time
    return config


def load_config(path: Optional[str]) -> WinnowConfig:
    """Reads and validates a YAML config file (None: all defaults)."""
    if path is None:
        return parse_config({})
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config {path} is not valid YAML: {error}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config {path}: the top level must be a mapping")
    return parse_config(data)


def with_overrides(config: WinnowConfig, *, input: Optional[str] = None,
                   output: Optional[str] = None, stages: Optional[List[str]] = None,
                   annotate_only: Optional[bool] = None) -> WinnowConfig:
    """Applies command-line overrides. ``stages`` replaces the stage list; a stage that the
    config also lists keeps the config's parameters, any other gets its defaults."""
    data = config.model_dump()
    if input is not None:
        data["input"] = input
    if output is not None:
        data["output"] = output
    if annotate_only:
        data["annotate_only"] = True
    if stages is not None:
        configured = {}
        for index, entry in enumerate(config.stages):
            name, params = _stage_entry(entry, index)
            configured[name] = params
        data["stages"] = [{name: configured.get(name, {})} for name in stages]
    return parse_config(data)
