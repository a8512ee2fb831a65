"""python -m quantray.cluster: reading cluster configs and its user errors (exit 2, a message,
no traceback). The happy path against a real cluster is tests/cluster/test_ray_up.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from quantray import cluster

ROOT = Path(__file__).resolve().parents[2]


def test_reads_the_shipped_configs():
    for name, cluster_name in (
        ("cluster.yaml", "quantray"),
        ("cluster-local.yaml", "quantray-local"),
    ):
        found = cluster.load_cluster(ROOT / name)
        assert found.name == cluster_name
        assert found.dashboard_port == cluster.DEFAULT_DASHBOARD_PORT == 8265
        assert found.token_auth
        assert found.token_file == Path.home() / ".ray" / "quantray" / f"{cluster_name}.token"


def test_dashboard_port_and_auth_come_from_the_head_start_command(tmp_path):
    config = yaml.safe_load((ROOT / "cluster-local.yaml").read_text())
    config["head_start_ray_commands"] = ["ray stop", "ray start --head --dashboard-port 9999"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    found = cluster.load_cluster(path)
    assert found.dashboard_port == 9999 and not found.token_auth


def test_missing_config_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "quantray.cluster", "submit", "nope.yaml", "--", "python", "x.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "cluster config nope.yaml not found" in proc.stderr and "ray up" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1, 2", "is not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("cluster_name: x\n", "missing provider, head_start_ray_commands"),
        (
            "cluster_name: 'a b'\nprovider: {type: local}\nhead_start_ray_commands: [ray start --head]\n",
            "cluster_name 'a b' must be",
        ),
        (
            "cluster_name: x\nprovider: {type: local}\nhead_start_ray_commands: [ray stop]\n",
            "has no `ray start --head`",
        ),
    ],
)
def test_bad_configs_exit_2_naming_the_problem(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert cluster.main(["token", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(path) in err and message in err


def test_missing_ssh_and_rsync_are_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no ssh, no rsync; `ray` next to this Python
    assert cluster.main(["token", str(ROOT / "cluster-local.yaml")]) == 2
    err = capsys.readouterr().err
    assert "`ssh` (an OpenSSH client" in err and "`rsync` (" in err and "apt-get install" in err


def test_submit_needs_an_entrypoint(capsys):
    with pytest.raises(SystemExit) as exc:
        cluster.main(["submit", str(ROOT / "cluster.yaml")])
    assert exc.value.code == 2
    assert "no entrypoint" in capsys.readouterr().err


def test_cluster_that_is_not_up_exits_2(tmp_path):
    """`ray exec` finds no head (no launcher state for this cluster name), so no SSH is
    attempted; the helper says the cluster is not up."""
    config = yaml.safe_load((ROOT / "cluster-local.yaml").read_text())
    name = f"quantray-notup-{tmp_path.name[-8:]}"
    config["cluster_name"] = name
    config["provider"].update(head_ip="127.0.0.1", worker_ips=[])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "quantray.cluster", "token", str(path)],
            capture_output=True,
            text=True,
            env={**env, "TMPDIR": str(tmp_path)},
            timeout=120,
            check=False,
        )
    finally:
        for suffix in ("state", "lock"):
            Path(f"/tmp/cluster-{name}.{suffix}").unlink(missing_ok=True)
    if "needs, on this machine" in proc.stderr:
        pytest.skip(f"no ssh/rsync on this machine: {proc.stderr}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "could not read the auth token" in proc.stderr and "is the cluster up?" in proc.stderr
    assert "Head node of cluster" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / ".ray" / "quantray" / f"{name}.token").exists()
