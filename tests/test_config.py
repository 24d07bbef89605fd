"""The config file: validation that names the bad key, overrides, and the documented reference."""

import os

import pytest

from pipelines.config import ConfigError, load_config, parse_config, with_overrides
from pipelines.config_reference import markdown
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("data, message", [
    ({"stages": ["normalise"]}, "stages[0]: unknown stage 'normalise'"),
    ({"stages": [{"normalize": {"max_chars": "lots"}}]}, "stages[0].normalize.max_chars"),
    ({"stages": [{"normalize": {"max_char": 5}}]}, "stages[0].normalize.max_char"),
    ({"sink": {"row_group_rows": 0}}, "sink.row_group_rows"),
    ({"source": {"kafka": {"bounded": "maybe"}}}, "source.kafka.bounded"),
    ({"outptu": "x"}, "outptu"),
])
def test_invalid_configs_name_the_bad_key(data, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert message in str(caught.value)


def test_yaml_file_and_command_line_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("input: a.jsonl\nstages:\n  - normalize: {min_chars: 30}\n  - exact_dedup\n")
    config = load_config(str(path))
    assert [s.name for s in config.stage_configs()] == ["normalize", "exact_dedup"]
    overridden = with_overrides(config, input="b.jsonl", output="out",
                                stages=["exact_dedup", "normalize", "quality"])
    stages = overridden.stage_configs()
    assert overridden.input == "b.jsonl"
    assert [s.name for s in stages] == ["exact_dedup", "normalize", "quality"]
    assert stages[1].params.min_chars == 30  # the config's parameters are kept
    assert stages[2].params == type(stages[2].params)()  # a new stage gets its defaults


def test_readme_holds_the_current_config_reference():
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    start = readme.index("<!-- config-reference:start -->\n") + len(
        "<!-- config-reference:start -->\n")
    end = readme.index("<!-- config-reference:end -->")
    assert readme[start:end] == markdown(), (
        "README is out of date: paste the output of `winnow config-reference`")
