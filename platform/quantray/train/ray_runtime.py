"""Ray start-up: every script starts or joins Ray through :func:`init_ray`.

``init_ray`` names the Ray job (``JobConfig.metadata["job_name"]``, shown in the dashboard's
Jobs view), keeps the dashboard on 127.0.0.1 for local runs and never silently joins a
leftover cluster; ``submission_id`` names ``ray job submit`` runs the same way.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from quantray.config import ConfigError

log = logging.getLogger("quantray.train.ray_runtime")

NAMESPACE = "quantray"
"""Ray namespace of every job started through :func:`init_ray`."""

JOB_NAME_KEY = "job_name"
"""The ``JobConfig`` metadata key the dashboard shows as the job's name."""

# ray.init arguments that only make sense when starting a new local instance; Ray refuses
# them when connecting to a running cluster, whose own resources and settings apply.
_LOCAL_ONLY = (
    "num_cpus",
    "num_gpus",
    "resources",
    "labels",
    "object_store_memory",
    "include_dashboard",
    "dashboard_host",
    "dashboard_port",
    "_metrics_export_port",
    "_system_config",
    "_temp_dir",
)


def ray_initialized() -> bool:
    """True when this process is connected to Ray (a driver after ``ray.init`` or any Ray
    worker). Never imports Ray: if nothing imported it, Ray cannot be initialised."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def job_name(script: str) -> str:
    """The dashboard name of a script's Ray job: ``quantray-<script stem>``.

    ``job_name("experiments/tune_strategy.py") == "quantray-tune_strategy"``; characters
    other than letters, digits, ``_`` and ``-`` become ``-``."""
    stem = Path(script).stem if script.endswith(".py") else Path(script).name
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")
    if not stem:
        raise ValueError(
            f"cannot name a Ray job after script {script!r}: expected a path such as "
            "'experiments/tune_strategy.py'"
        )
    return f"quantray-{stem}"


def submission_id(script: str, now: float | None = None) -> str:
    """A unique ``ray job submit --submission-id`` for ``script``:
    ``quantray-<stem>-<UTC yyyymmdd-hhmmss>-<4 hex>``, e.g.
    ``quantray-tune_strategy-20260101-120000-a1b2``. The job submission's own
    ``job_name`` metadata defaults to this id."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{job_name(script)}-{stamp}-{secrets.token_hex(2)}"


def joins_cluster(address: str | None) -> bool:
    """Whether :func:`init_ray` with ``address`` connects to a running cluster (an explicit
    address, ``"auto"``, or ``RAY_ADDRESS`` set, as inside ``ray job submit``) rather than
    starting a new local instance."""
    if os.environ.get("RAY_ADDRESS"):
        return True
    return address not in (None, "", "local")


def init_ray(address: str | None, script: str, **kwargs: Any) -> Any:
    """Start or join Ray for ``script`` with its job named :func:`job_name` ``(script)``.

    - ``address`` None (or "local") and ``RAY_ADDRESS`` unset: a new local instance with
      the dashboard on 127.0.0.1 (Ray's dashboard and job API must not face a network).
      It never silently joins another cluster that ``ray start`` left on this machine.
    - ``address="auto"``, ``"host:port"``, ``"ray://..."`` or ``RAY_ADDRESS`` set: join
      that cluster; local-only arguments (``num_cpus``, dashboard settings, ...) are
      dropped with a log line because the cluster's own resources apply.

    ``kwargs`` go to ``ray.init`` (``namespace`` defaults to "quantray"). A ``job_config``
    given is kept and gets the job name unless it already has one; under ``ray job
    submit`` the submission's name (``--metadata-json '{"job_name": ...}'`` or the
    submission id) takes precedence, as Ray merges it last. Returns ``ray.init``'s
    context, or None when this process was already connected (nothing is changed)."""
    import ray
    from ray.job_config import JobConfig

    if ray.is_initialized():
        log.info("Ray is already initialised in this process; not starting it again")
        return None
    joining = joins_cluster(address)
    if joining:
        dropped = sorted(k for k in _LOCAL_ONLY if kwargs.pop(k, None) is not None)
        if dropped:
            log.info(
                "joining a running cluster: ignoring %s (the cluster's own settings apply)",
                ", ".join(dropped),
            )
        address = None if address in (None, "", "local") else address
    else:
        address = "local"  # "local" forces a new instance instead of joining a leftover one
        kwargs.setdefault("dashboard_host", "127.0.0.1")
    if joining:
        check_reachable(address)
    job_config = kwargs.pop("job_config", None) or JobConfig()
    job_config.metadata.setdefault(JOB_NAME_KEY, job_name(script))
    job_config.metadata.setdefault("script", Path(script).name)
    kwargs.setdefault("namespace", NAMESPACE)
    try:
        context = ray.init(address=address, job_config=job_config, **kwargs)
    except ConnectionError as exc:
        if not joining:
            raise
        raise ConfigError(_unreachable(address, str(exc).strip().splitlines()[0])) from None
    log.info(
        "Ray job %r (%s); dashboard: %s",
        job_config.metadata[JOB_NAME_KEY],
        "joined a cluster" if joining else "local instance",
        getattr(context, "dashboard_url", None) or "not running",
    )
    return context


REACH_TIMEOUT_S = 5.0
"""How long :func:`check_reachable` waits for a TCP connection to a cluster's address."""


def _unreachable(address: str | None, found: str) -> str:
    shown = address or os.environ.get("RAY_ADDRESS") or "auto"
    return (
        f"--address {shown}: no Ray cluster could be reached ({found}). Start one first "
        "(`ray start --head` on this machine, or `ray up cluster.yaml`), check the address "
        "(the head's GCS port, default 6379; ray://host:10001 for Ray Client), or drop "
        "--address to run on a new local Ray."
    )


def check_reachable(address: str | None, timeout: float = REACH_TIMEOUT_S) -> None:
    """Fail fast (``ConfigError``) when an explicit ``host:port`` / ``ray://host:port``
    address does not accept a TCP connection; ``auto`` is left to ``ray.init``, which fails
    at once when no cluster is running on this machine."""
    import socket

    target = address or os.environ.get("RAY_ADDRESS") or ""
    hostport = target.split("://", 1)[-1].rstrip("/")
    if target in ("", "auto", "local") or ":" not in hostport:
        return
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except ValueError:
        raise ConfigError(
            f"--address {target}: expected host:port (e.g. 10.0.0.5:6379), 'auto', or "
            "ray://host:10001"
        ) from None
    except OSError as exc:
        raise ConfigError(_unreachable(target, f"{host}:{port}: {exc.strerror or exc}")) from None


def _describe(resources: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in sorted(resources.items()) if v) or "nothing"


def unmet_resources(per_unit: dict[str, float], units: int = 1) -> str | None:
    """Why the connected cluster cannot run ``units`` copies of ``per_unit`` (each copy on one
    node, e.g. a Tune trial or a Train worker) right now, or None when it can.

    ``per_unit`` uses Ray's names ("CPU", "GPU"); zero amounts are ignored."""
    import ray

    need = {k: float(v) for k, v in per_unit.items() if v}
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    total = ray.cluster_resources()
    largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)), default={})
    asked = f"{units} x ({_describe(need)})" if units > 1 else _describe(need)
    have = f"cluster has {_describe({k: total.get(k, 0.0) for k in ('CPU', 'GPU')})}"
    if not any(all(node.get(k, 0.0) >= v for k, v in need.items()) for node in nodes):
        return (
            f"asked for {asked} but no node has {_describe(need)} "
            f"({have}; largest node {_describe({k: largest.get(k, 0.0) for k in need})})"
        )
    short = {k: v * units for k, v in need.items() if total.get(k, 0.0) < v * units}
    if short:
        return f"asked for {asked} = {_describe(short)} in all, but the {have}"
    return None


def require_resources(
    per_unit: dict[str, float],
    units: int = 1,
    *,
    flags: str,
    timeout: float | None = None,
    poll_s: float = 5.0,
) -> None:
    """Stop with a ``ConfigError`` (exit 2) before any work is queued when the cluster cannot
    run ``units`` x ``per_unit`` — Ray would otherwise wait forever, printing only warnings.

    ``flags`` names the flags that asked (for the message). With ``timeout`` (an autoscaling
    cluster joined with --address), wait up to that many seconds for the cluster to grow,
    saying what is waited for, before giving up."""
    problem = unmet_resources(per_unit, units)
    if problem is None:
        return
    if timeout:
        deadline = time.monotonic() + timeout
        log.warning("waiting up to %.0fs for the cluster to grow: %s", timeout, problem)
        print(f"[ray] waiting up to {timeout:.0f}s for the cluster to provide: {problem}")
        while problem is not None and time.monotonic() < deadline:
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
            problem = unmet_resources(per_unit, units)
        if problem is None:
            return
    wait = (
        f"waited {timeout:.0f}s; "
        if timeout
        else "an autoscaling cluster: add --timeout SECONDS to wait for it to grow; "
    )
    raise ConfigError(
        f"not enough resources: {problem}. Ray would wait forever for them. Fix: lower "
        f"{flags}, or run on a cluster that has them (--address); {wait}"
        "`ray status` shows what the cluster has"
    )
