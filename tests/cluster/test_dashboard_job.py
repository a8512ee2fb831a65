"""End to end on loopback: `ray start --head` with the dashboard, `ray job submit` of a smoke
run, SUCCEEDED read from the dashboard's REST API, a quantray_ metric on the export endpoint.

The head runs with `--block` in its own session and is stopped by signalling that process
(its node shuts down every Ray process it started), never with `ray stop`, which would kill
every Ray instance on this shared machine. Token authentication (Ray's default) stays on:
the test's own random token is given to the head, the CLI and the REST calls.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from quantray.train.ray_runtime import job_name, submission_id

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "experiments/train_strategy.py"
GAUGE = "ray_quantray_best_valid_sharpe"

# Runs inside the job after the smoke run: joins the job's cluster through RAY_ADDRESS and
# publishes the run's best validation Sharpe. The wait outlasts one metrics report interval
# (1 s here, and gauges vanish with
# their process) so the short-lived driver's values reach the node's exporter before it exits.
PUBLISH = (
    "import time, pandas as pd; "
    "from quantray.train import monitoring as m, ray_runtime; "
    "ray_runtime.init_ray(None, '{script}'); "
    "h = pd.read_csv('{out}/history.csv'); "
    "best = float(h['valid_sharpe'].fillna(0.0).max()); "
    "assert m.record_trial_finished(best, experiment='{sid}'); "
    "time.sleep(6)"
)


def get(url: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


def wait_for(check, timeout: float, every: float = 1.0):
    """Call ``check()`` until it returns something truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    return check()


def test_ray_job_submit_reaches_succeeded_and_exports_custom_metric(ports):
    tmp = Path(tempfile.mkdtemp(prefix="qrd", dir="/tmp"))  # short: socket paths are limited
    token = secrets.token_hex(32)
    gcs, dash, metrics, client, agent, agent_grpc, runtime_env = ports(7)
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_TMPDIR": str(tmp),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        "RAY_metrics_report_interval_ms": "1000",
    }
    ray_cli = str(Path(bin_dir) / "ray")
    head_log = tmp / "head.log"
    start = [
        ray_cli,
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={gcs}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}",
        f"--metrics-export-port={metrics}",
        f"--ray-client-server-port={client}",
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={runtime_env}",
        "--num-cpus=2",
        f"--temp-dir={tmp / 'ray'}",
        "--disable-usage-stats",
    ]
    head = subprocess.Popen(
        start,
        env=env,
        stdout=head_log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{dash}"
    sid = submission_id(SCRIPT)
    out = tmp / "out"
    try:
        up = wait_for(lambda: get(f"{api}/api/version", token)[0] == 200, timeout=120)
        assert up, f"dashboard did not come up on {api}:\n{head_log.read_text()[-3000:]}"

        entrypoint = (
            f"python {SCRIPT} --smoke-test --features raw --out {out} && "
            f'python -c "{PUBLISH.format(script=SCRIPT, out=out, sid=sid)}"'
        )
        submit = subprocess.run(
            [
                ray_cli,
                "job",
                "submit",
                f"--address={api}",
                f"--working-dir={ROOT}",
                f"--submission-id={sid}",
                f"--metadata-json={json.dumps({'job_name': job_name(SCRIPT)})}",
                "--no-wait",
                "--",
                "bash",  # the CLI shell-quotes each argument; bash -c runs the chain
                "-c",
                entrypoint,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert submit.returncode == 0, submit.stdout[-2000:] + submit.stderr[-2000:]

        # Gauges live only as long as the process that set them (counters outlive it), so
        # the job's gauge is looked for while the job runs, alongside its status.
        gauges: list[str] = []

        def finished() -> dict | None:
            text = get(f"http://127.0.0.1:{metrics}/metrics", token)[1]
            gauges.extend(x for x in text.splitlines() if x.startswith(GAUGE) and sid in x)
            code, body = get(f"{api}/api/jobs/{sid}", token)
            if code != 200:
                return None
            info = json.loads(body)
            return info if info["status"] in ("SUCCEEDED", "FAILED", "STOPPED") else None

        info = wait_for(finished, timeout=240, every=1.0)
        logs = get(f"{api}/api/jobs/{sid}/logs", token)[1]
        assert info and info["status"] == "SUCCEEDED", f"job info {info}\nlogs:\n{logs[-4000:]}"
        assert info["submission_id"] == sid
        assert info["metadata"]["job_name"] == "quantray-train_strategy"
        assert "[stage 2]" in logs and (out / "summary.md").exists()

        # The REST list is how the dashboard finds jobs: ours is there under its name.
        code, body = get(f"{api}/api/jobs/", token)
        assert code == 200
        names = {j.get("submission_id"): j["metadata"].get("job_name") for j in json.loads(body)}
        assert names.get(sid) == "quantray-train_strategy"

        metric = "ray_quantray_trials_finished_total"

        def exported() -> str | None:
            code, text = get(f"http://127.0.0.1:{metrics}/metrics", token)
            lines = [line for line in text.splitlines() if line.startswith(metric)]
            return "\n".join(lines) if code == 200 and any(sid in x for x in lines) else None

        lines = wait_for(exported, timeout=30)
        assert lines, f"{metric} with experiment={sid} not on the metrics endpoint"
        assert lines.rstrip().endswith(" 1.0")
        # A smoke run that never trades has no Sharpe (NaN): the job publishes 0 then.
        best = float(pd.read_csv(out / "history.csv")["valid_sharpe"].fillna(0.0).max())
        assert gauges, f"{GAUGE} never seen while the job ran (best {best})"
        assert float(gauges[-1].split()[-1]) == pytest.approx(best, rel=1e-5, abs=1e-12)
        code, text = get(f"http://127.0.0.1:{metrics}/metrics", token)
        own = {x.split("{")[0] for x in text.splitlines() if x.startswith("ray_")}
        assert len(own - {x for x in own if x.startswith("ray_quantray_")}) > 5  # Ray's own
    finally:
        head.send_signal(signal.SIGTERM)  # --block: the node stops all its processes
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)  # the session this test started, by id
            head.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
