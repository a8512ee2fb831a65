"""Submit jobs to a ``ray up`` cluster with the cluster's auth token, from the machine that
ran ``ray up``.

    python -m quantray.cluster token CLUSTER.yaml
    python -m quantray.cluster submit CLUSTER.yaml -- python experiments/tune_strategy.py ...
    python -m quantray.cluster job CLUSTER.yaml -- logs raysubmit_XXXX --follow
    python -m quantray.cluster job CLUSTER.yaml -- stop raysubmit_XXXX

Ray 2.60 clusters started from ``cluster.yaml`` / ``cluster-local.yaml`` use token
authentication: the head creates a random token (``ray get-auth-token --generate`` in
``head_setup_commands``) and every node starts Ray with ``RAY_AUTH_MODE=token``. A client
needs that token for ``ray job ...``, the dashboard and its REST API. This module:

1. fetches the token from the head over SSH (``ray exec CLUSTER.yaml 'ray get-auth-token'``)
   and stores it in ``~/.ray/quantray/<cluster_name>.token`` (mode 600); it is not written
   to ``~/.ray/auth_token``, which local ``ray.init()`` clusters on this machine use;
2. opens ``ray dashboard CLUSTER.yaml`` (an SSH tunnel: the dashboard listens on the head's
   127.0.0.1 only) on a free local port, unless ``--address`` names a reachable dashboard;
3. runs the ``ray job`` command against the tunnel with ``RAY_AUTH_MODE=token`` and
   ``RAY_AUTH_TOKEN_PATH`` pointing at the token file, then closes the tunnel.

It never imports Ray: it drives the ``ray`` command line, as a user would. Mistakes (a
missing tool, a config that is not a cluster config, an unreachable head) exit with code 2
and a message naming what was found and how to fix it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

EXIT_USER_ERROR = 2
DEFAULT_DASHBOARD_PORT = 8265
"""Ray's dashboard port when ``ray start --head`` is given no ``--dashboard-port``."""
TOKEN_DIR = Path("~/.ray/quantray")
"""Where fetched cluster tokens are kept, one ``<cluster_name>.token`` file per cluster."""
TUNNEL_TIMEOUT_S = 60.0
"""How long to wait for ``ray dashboard``'s tunnel to answer before giving up."""

# Printed around the token on the head so it can be told apart from `ray exec`'s own output
# (log lines, colour codes, "Shared connection closed").
_MARK = "QUANTRAY_TOKEN"
_TOKEN_COMMAND = f'echo "{_MARK}=$(ray get-auth-token 2>/dev/null)"'
_TOKEN_LINE = re.compile(rf"{_MARK}=(\S*)")
_DASHBOARD_PORT = re.compile(r"--dashboard-port[= ](\d+)")
_TOOLS = {
    "ssh": "an OpenSSH client (Debian/Ubuntu: `apt-get install openssh-client`)",
    "rsync": "rsync (Debian/Ubuntu: `apt-get install rsync`; macOS: `brew install rsync`)",
}


class ClusterError(Exception):
    """A user mistake or an unusable cluster: the message says what and how to fix it."""


@dataclass(frozen=True)
class Cluster:
    """What this module needs from a cluster-launcher config."""

    config: Path
    """The YAML file given to ``ray up``."""
    name: str
    """Its ``cluster_name`` (names the token file)."""
    dashboard_port: int
    """The dashboard's port on the head (``--dashboard-port`` in head_start_ray_commands)."""
    token_auth: bool
    """Whether head_start_ray_commands start Ray with ``RAY_AUTH_MODE=token``."""

    def __post_init__(self) -> None:
        if not 0 < self.dashboard_port < 65536:
            raise ClusterError(
                f"{self.config}: dashboard port {self.dashboard_port} not in 1..65535"
            )

    @property
    def token_file(self) -> Path:
        """``~/.ray/quantray/<cluster_name>.token``."""
        return TOKEN_DIR.expanduser() / f"{self.name}.token"


def load_cluster(path: str | Path) -> Cluster:
    """Read the parts of a ``ray up`` config this module uses; ClusterError when it is not
    one."""
    config = Path(path)
    if not config.is_file():
        raise ClusterError(
            f"cluster config {config} not found (cwd {Path.cwd()}); pass the YAML you gave "
            "`ray up`, e.g. cluster.yaml or cluster-local.yaml"
        )
    try:
        data = yaml.safe_load(config.read_text())
    except yaml.YAMLError as exc:
        raise ClusterError(f"{config} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ClusterError(f"{config}: expected a mapping of cluster settings, found {data!r:.80}")
    missing = [k for k in ("cluster_name", "provider", "head_start_ray_commands") if k not in data]
    if missing:
        raise ClusterError(
            f"{config} is not a Ray cluster-launcher config: missing {', '.join(missing)} "
            "(compare cluster-local.yaml)"
        )
    name = str(data["cluster_name"])
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ClusterError(
            f"{config}: cluster_name {name!r} must be letters, digits, '.', '_' or '-'"
        )
    start = " ".join(str(c) for c in data["head_start_ray_commands"] or [])
    if "ray start" not in start or "--head" not in start:
        raise ClusterError(
            f"{config}: head_start_ray_commands has no `ray start --head`; found {start!r:.200}"
        )
    port = _DASHBOARD_PORT.search(start)
    return Cluster(
        config=config,
        name=name,
        dashboard_port=int(port.group(1)) if port else DEFAULT_DASHBOARD_PORT,
        token_auth="RAY_AUTH_MODE=token" in start,
    )


def ray_cli() -> str:
    """The ``ray`` executable: on PATH, else next to this Python (an unactivated venv)."""
    found = shutil.which("ray") or shutil.which("ray", path=str(Path(sys.executable).parent))
    if found is None:
        raise ClusterError(
            "the `ray` command was not found on PATH or next to "
            f"{sys.executable}; activate the project's venv (`. .venv/bin/activate`) or "
            "`pip install -e .`"
        )
    return found


def check_tools() -> None:
    """ClusterError naming every missing program the cluster launcher needs here."""
    ray_cli()
    missing = [f"`{tool}` ({hint})" for tool, hint in _TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise ClusterError("the Ray cluster launcher needs, on this machine: " + "; ".join(missing))


def _tail(output: str, lines: int = 6) -> str:
    """The last few non-blank lines of a command's output without colour codes; only the
    final exception line when the command died in a Python traceback."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", output)
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    if "Traceback (most recent call last)" in text:
        kept = kept[-1:]
    return "\n".join("  " + line for line in kept[-lines:])


def _run(args: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), text=True, check=False, **kwargs)


def fetch_token(cluster: Cluster) -> Path:
    """Read the cluster's token on its head (``ray get-auth-token`` via ``ray exec``), store
    it in ``cluster.token_file`` (mode 600) and return that path."""
    proc = _run(
        [ray_cli(), "exec", str(cluster.config), _TOKEN_COMMAND],
        capture_output=True,
        timeout=300,
    )
    found = _TOKEN_LINE.findall(proc.stdout)
    token = found[-1] if found else ""
    if proc.returncode != 0 or not token:
        tail = _tail(proc.stdout + proc.stderr)
        why = (
            "the head has no token: it was started without token authentication; "
            "re-run `ray up` with this repository's config (head_setup_commands runs "
            "`ray get-auth-token --generate`)"
            if proc.returncode == 0
            else f"is the cluster up? (`ray up -y {cluster.config}`)"
        )
        raise ClusterError(
            f"could not read the auth token on the head of {cluster.name} with `ray exec "
            f"{cluster.config} 'ray get-auth-token'` (exit {proc.returncode}): {why}\n"
            f"`ray exec` said:\n{tail}"
        )
    path = cluster.token_file
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.chmod(path, 0o600)  # an older file keeps its mode through O_TRUNC
    return path


def auth_env(token_file: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) set up for a token cluster: Ray
    clients read the token from ``token_file``."""
    env = {k: v for k, v in (base or os.environ).items() if k != "RAY_AUTH_TOKEN"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file))
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dashboard_answers(url: str, token: str) -> bool:
    """True when the dashboard at ``url`` answers ``/api/version`` with this token."""
    request = urllib.request.Request(
        f"{url}/api/version", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def dashboard_tunnel(cluster: Cluster, token_file: Path) -> Iterator[str]:
    """``ray dashboard CLUSTER.yaml`` on a free local port for the duration of the block;
    yields its URL once the dashboard answers through it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = [ray_cli(), "dashboard", str(cluster.config), "--port", str(port)]
    args += ["--remote-port", str(cluster.dashboard_port)]
    tunnel = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: closed with its ssh child below
    )
    try:
        token = token_file.read_text().strip()
        deadline = time.monotonic() + TUNNEL_TIMEOUT_S
        while not dashboard_answers(url, token):
            if tunnel.poll() is not None or time.monotonic() > deadline:
                out = tunnel.stdout.read() if tunnel.poll() is not None and tunnel.stdout else ""
                raise ClusterError(
                    f"the dashboard of {cluster.name} did not answer through `{' '.join(args)}` "
                    f"within {TUNNEL_TIMEOUT_S:.0f} s (remote port {cluster.dashboard_port}); "
                    f"check `ray status` on the head (`ray exec {cluster.config} 'ray status'`)"
                    f"\n{_tail(out)}"
                )
            time.sleep(0.5)
        yield url
    finally:
        if tunnel.poll() is None:
            os.killpg(tunnel.pid, signal.SIGTERM)
            try:
                tunnel.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(tunnel.pid, signal.SIGKILL)
                tunnel.wait()


def ray_job(cluster: Cluster, job_args: Sequence[str], address: str | None = None) -> int:
    """Run ``ray job <job_args>`` against the cluster with its token (fetched now) through a
    dashboard tunnel (or ``address``); returns the command's exit code."""
    if not job_args:
        raise ClusterError("no `ray job` subcommand given: e.g. `-- logs raysubmit_XXXX`")
    check_tools()
    token_file = fetch_token(cluster)
    print(f"[cluster] token of {cluster.name} in {token_file}", file=sys.stderr)
    if not cluster.token_auth:
        print(
            f"[cluster] warning: {cluster.config}'s head_start_ray_commands lack "
            "RAY_AUTH_MODE=token",
            file=sys.stderr,
        )
    command, rest = job_args[0], list(job_args[1:])

    def run(url: str) -> int:
        print(f"[cluster] ray job {command} --address {url}", file=sys.stderr, flush=True)
        args = [ray_cli(), "job", command, "--address", url, *rest]
        return _run(args, env=auth_env(token_file)).returncode

    if address:
        return run(address)
    with dashboard_tunnel(cluster, token_file) as url:
        return run(url)


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m quantray.cluster",
        description=__doc__.split("\n")[0],
        epilog="Everything after `--` is passed on: the job's entrypoint for `submit`, the "
        "`ray job` subcommand and its arguments for `job`.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    token = sub.add_parser("token", help="fetch the cluster's auth token; print its file")
    submit = sub.add_parser("submit", help="ray job submit ... -- ENTRYPOINT, with the token")
    job = sub.add_parser("job", help="any `ray job` subcommand (logs, stop, status, list)")
    for p in (token, submit, job):
        p.add_argument("config", help="the cluster YAML given to `ray up`")
    for p in (submit, job):
        p.add_argument(
            "--address",
            default=None,
            help="a dashboard URL reachable from here; default: open `ray dashboard`'s tunnel",
        )
    submit.add_argument("--working-dir", default=".", help="uploaded as the job's cwd")
    submit.add_argument("--submission-id", default=None, help="the job's id (default: Ray's)")
    submit.add_argument("--no-wait", action="store_true", help="return once submitted")
    args = parser.parse_args(argv)
    if args.command == "token" and passthrough:
        parser.error(f"`token` takes no arguments after `--`, got {passthrough}")
    if args.command == "submit" and not passthrough:
        parser.error("no entrypoint: add `-- python experiments/tune_strategy.py --address auto`")
    return args, passthrough


def main(argv: Sequence[str] | None = None) -> int:
    args, passthrough = parse_args(argv)
    try:
        cluster = load_cluster(args.config)
        if args.command == "token":
            check_tools()
            path = fetch_token(cluster)
            print(path)
            print(
                f"[cluster] use it with: export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH={path}",
                file=sys.stderr,
            )
            return 0
        if args.command == "submit":
            job_args = ["submit", "--working-dir", args.working_dir]
            if args.submission_id:
                job_args += ["--submission-id", args.submission_id]
            if args.no_wait:
                job_args.append("--no-wait")
            return ray_job(cluster, [*job_args, "--", *passthrough], args.address)
        return ray_job(cluster, passthrough, args.address)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
