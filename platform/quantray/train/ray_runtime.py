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
    job_config = kwargs.pop("job_config", None) or JobConfig()
    job_config.metadata.setdefault(JOB_NAME_KEY, job_name(script))
    job_config.metadata.setdefault("script", Path(script).name)
    kwargs.setdefault("namespace", NAMESPACE)
    context = ray.init(address=address, job_config=job_config, **kwargs)
    log.info(
        "Ray job %r (%s); dashboard: %s",
        job_config.metadata[JOB_NAME_KEY],
        "joined a cluster" if joining else "local instance",
        getattr(context, "dashboard_url", None) or "not running",
    )
    return context
