"""cluster.yaml and cluster-local.yaml validate against Ray's own cluster-config schema."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads(
    (Path(os.path.dirname(ray.autoscaler.__file__)) / "ray-schema.json").read_text()
)
README_SETUP = 'pip install -e ".[dev]"'


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-local.yaml"])
def test_validates_against_ray_schema(name):
    config = yaml.safe_load((ROOT / name).read_text())
    jsonschema.validate(config, SCHEMA)  # as written
    validate_config(prepare_config(config))  # as `ray up` sees it after filling defaults


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-local.yaml"])
def test_installs_like_readme_and_keeps_dashboard_private(name):
    config = yaml.safe_load((ROOT / name).read_text())
    assert any(README_SETUP in cmd for cmd in config["setup_commands"])
    assert README_SETUP in (ROOT / "README.md").read_text()
    assert config["file_mounts"] == {"~/quantray": "."}
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head  # no open dashboard port; use `ray dashboard`


def test_aws_has_gpu_and_cpu_worker_groups():
    config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["node_config"]["InstanceType"].startswith("m")  # CPU head
    gpu = [t for t in types.values() if t["node_config"]["InstanceType"].startswith("g")]
    cpu = [t for n, t in types.items() if n != config["head_node_type"] and t not in gpu]
    assert gpu and gpu[0]["min_workers"] == 0 and gpu[0]["max_workers"] > 0
    assert cpu and cpu[0]["min_workers"] == 0 and cpu[0]["max_workers"] > 0
