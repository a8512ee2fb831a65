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


def node_setups(name: str) -> dict[str, list[str]]:
    """node type -> the setup commands `ray up` / the autoscaler run on it (after Ray merges
    the global lists; a node type's own worker_setup_commands replace them)."""
    config = prepare_config(yaml.safe_load((ROOT / name).read_text()))
    setups = {}
    for node_type, spec in config["available_node_types"].items():
        if node_type == config["head_node_type"]:
            setups[node_type] = config["head_setup_commands"]
        else:
            setups[node_type] = spec.get("worker_setup_commands", config["worker_setup_commands"])
    return setups


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-local.yaml"])
def test_installs_like_readme_and_keeps_dashboard_private(name):
    config = yaml.safe_load((ROOT / name).read_text())
    for node_type, commands in node_setups(name).items():
        install = [c for c in commands if README_SETUP in c]
        assert install, f"{name}: {node_type} never runs {README_SETUP}"
        # PyTorch is chosen before the project install, which would otherwise pull the
        # default (CUDA) build.
        assert install[0].index("pip install torch") < install[0].index(README_SETUP)
    assert README_SETUP in (ROOT / "README.md").read_text()
    assert config["file_mounts"] == {"~/quantray": "."}
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head  # no open dashboard port; use `ray dashboard`


CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"


def test_aws_gpu_nodes_get_cuda_torch_cpu_nodes_the_cpu_build():
    config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    for node_type, commands in node_setups("cluster.yaml").items():
        install = next(c for c in commands if README_SETUP in c)
        gpu = config["available_node_types"][node_type]["node_config"]["InstanceType"][0] in "gp"
        assert (CPU_INDEX in install) is not gpu, f"{node_type}: {install}"


def test_local_nodes_pick_torch_by_gpu_presence():
    (install,) = {
        next(c for c in cmds if README_SETUP in c)
        for cmds in node_setups("cluster-local.yaml").values()
    }
    assert "nvidia-smi" in install and CPU_INDEX in install


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-local.yaml"])
def test_every_node_starts_ray_with_the_heads_token(name):
    text = (ROOT / name).read_text()
    config = prepare_config(yaml.safe_load(text))
    assert "ray get-auth-token --generate" in " ".join(config["head_setup_commands"])
    assert config["cluster_synced_files"] == ["~/.ray/auth_token"]  # head -> workers
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        (start,) = [c for c in config[key] if "ray start" in c]
        assert "RAY_AUTH_MODE=token ray start" in start, f"{name} {key}: {start}"
    assert "no authentication" not in text


def test_aws_has_gpu_and_cpu_worker_groups():
    config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["node_config"]["InstanceType"].startswith("m")  # CPU head
    gpu = [t for t in types.values() if t["node_config"]["InstanceType"].startswith("g")]
    cpu = [t for n, t in types.items() if n != config["head_node_type"] and t not in gpu]
    assert gpu and gpu[0]["min_workers"] == 0 and gpu[0]["max_workers"] > 0
    assert cpu and cpu[0]["min_workers"] == 0 and cpu[0]["max_workers"] > 0
