"""Optional MLflow experiment tracking through Ray's own integration (``--mlflow [URI]``).

MLflow is an optional extra (``pip install "quantray[mlflow]"``); without it ``--mlflow``
stops the script before any work with a ConfigError (exit 2) saying how to install it.

Where runs go (:func:`resolve_target`): ``--mlflow`` alone records into ``OUT/mlruns/`` (an
SQLite store ``mlflow.db`` and an ``artifacts/`` folder: MLflow 3.7+ defaults to SQLite and
3.13+ refuses its old file store); ``--mlflow DIR`` does the same in DIR; a URI
(``http(s)://`` tracking server, ``sqlite:///``, ``postgresql://``, ``databricks``, ...) is
used as is. Each script logs into the experiment ``quantray-<script>``; on a multi-node
cluster use a tracking server (a local store lives on one node's disk).

What is recorded, all through ``ray.air.integrations.mlflow``:

- Tune searches: ``MLflowLoggerCallback`` on the driver gives every trial a run with its
  config as params and every ``tune.report`` (each stage-2 epoch) as metrics, step =
  training iteration; the driver then opens one summary run for the whole search (its
  flags, the selected trial's numbers, the report files as artifacts).
- Ray Train (stage 1): ``setup_mlflow`` inside the training function; the rank-0 worker logs
  the run spec and each epoch's metrics, the driver adds the summary file as an artifact.
- Scripts that train in the driver (stage 2, RLlib, the comparison): ``setup_mlflow`` on the
  driver (it works outside a Ray session), per-epoch / per-iteration metrics, artifacts.

TensorBoard: Ray Tune already writes TensorBoard event files for every trial (its default
``TBXLoggerCallback``; tensorboardX comes with ``ray[tune]``) into the trial folders under
the storage path: ``tensorboard --logdir STORAGE/NAME``. Ray Train V2 and an RLlib Algorithm
driven outside Tune write none in Ray 2.60.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from quantray.config import ConfigError

LOCAL_STORE = "mlruns"
"""Folder under the script's --out that ``--mlflow`` without a URI records into."""
DATABASE = "mlflow.db"
"""The SQLite file of a local store."""
ARTIFACTS = "artifacts"
"""The artifact folder of a local store."""
RUN_TAG = "quantray.run"
"""Tag naming the quantray run (Ray Train / Tune name) an MLflow run belongs to."""
INSTALL_HINT = 'pip install "quantray[mlflow]"'


@dataclass(frozen=True)
class MlflowTarget:
    """Where one script's MLflow runs go (``--mlflow`` resolved)."""

    tracking_uri: str
    """MLflow tracking URI: ``sqlite:///...`` for a local store, or what the user gave."""
    experiment: str
    """Experiment name: ``quantray-<script>``."""
    artifact_location: str | None = None
    """Artifact root when the experiment is created (local stores: beside the database);
    None leaves it to the tracking server."""

    def __post_init__(self) -> None:
        if not self.tracking_uri or not self.experiment:
            raise ConfigError("MlflowTarget needs a tracking_uri and an experiment name")

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracking_uri": self.tracking_uri,
            "experiment": self.experiment,
            "artifact_location": self.artifact_location,
        }


def require_mlflow() -> None:
    """ConfigError (exit 2 in scripts) when the optional mlflow package is missing."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"--mlflow needs the optional package mlflow, which is not installed: run "
            f"{INSTALL_HINT} (or drop --mlflow; TensorBoard files are written without it)"
        ) from None


def resolve_target(value: str | None, out: str | Path, script: str) -> MlflowTarget | None:
    """The target of ``--mlflow VALUE`` (None when the flag is absent). ``VALUE`` is
    ``LOCAL_STORE`` for the bare flag (``OUT/mlruns``), a URI, or a local directory."""
    if value is None:
        return None
    require_mlflow()
    experiment = f"quantray-{script}"
    if value.startswith("file:"):
        local = value.removeprefix("file:").removeprefix("//") or LOCAL_STORE
        raise ConfigError(
            f"--mlflow {value}: MLflow 3.13+ refuses its old file store; give the directory "
            f"(--mlflow {local}) for a local SQLite store there, or a tracking-server URI"
        )
    if "://" in value or value.startswith("databricks"):
        return MlflowTarget(value, experiment)
    root = Path(out) / LOCAL_STORE if value == LOCAL_STORE else Path(value)
    root = root.resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(
            f"--mlflow {value}: {root} is a file; expected a directory for the local MLflow "
            "store (or a URI such as http://host:5000)"
        )
    return MlflowTarget(f"sqlite:///{root / DATABASE}", experiment, str(root / ARTIFACTS))


def open_store(target: MlflowTarget) -> str:
    """Create the local store and the experiment if needed (on the driver, before any Ray
    work, so a bad URI stops the script early); returns the experiment id."""
    import mlflow

    if target.artifact_location is not None:
        Path(target.artifact_location).mkdir(parents=True, exist_ok=True)
    try:
        mlflow.set_tracking_uri(target.tracking_uri)
        found = mlflow.get_experiment_by_name(target.experiment)
        if found is not None:
            return str(found.experiment_id)
        return str(mlflow.create_experiment(target.experiment, target.artifact_location))
    except Exception as exc:  # MLflow raises many types for a bad or unreachable store
        raise ConfigError(
            f"--mlflow: cannot open the MLflow store {target.tracking_uri}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; check the "
            "URI (a tracking server must be running), or give a directory for a local store"
        ) from None


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings flattened to ``a/b`` keys (MLflow params are flat strings)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_params(value, prefix=f"{name}/"))
        else:
            flat[name] = value
    return flat


def numeric_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers among ``metrics`` (MLflow metrics are floats), keys prefixed."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(float(value)):
            out[f"{prefix}{key}"] = float(value)
    return out


class RunLog:
    """An open MLflow run (or nothing, when tracking is off): metrics, artifacts."""

    def __init__(self, mlflow: ModuleType | None) -> None:
        self._mlflow = mlflow

    @property
    def active(self) -> bool:
        return self._mlflow is not None

    @property
    def run_id(self) -> str | None:
        if self._mlflow is None:
            return None
        return self._mlflow.active_run().info.run_id

    def metrics(
        self, metrics: Mapping[str, Any], step: int | None = None, prefix: str = ""
    ) -> None:
        """Log the finite numbers of ``metrics`` at ``step`` (an epoch or iteration)."""
        if self._mlflow is not None:
            values = numeric_metrics(metrics, prefix)
            if values:
                self._mlflow.log_metrics(values, step=step)

    def means(self, rows: Any, prefix: str, by: str = "method") -> None:
        """Per-``by`` means of a per-episode table (the numbers of a summary table), logged
        as ``prefix/<method>/<column>``."""
        if self._mlflow is not None:
            numeric = rows.drop(columns=["episode", "seed"], errors="ignore")
            for key, mean in numeric.groupby(by).mean(numeric_only=True).iterrows():
                self.metrics(mean.to_dict(), prefix=f"{prefix}/{key}/")

    def table(self, table: Any, prefix: str, key: str = "method") -> None:
        """One metric per cell of a per-method summary table, ``prefix/<method>/<column>``
        (a confidence-interval cell gives its ``estimate``)."""
        if self._mlflow is not None:
            for record in table.to_dict("records"):
                name = record.pop(key)
                values = {k: getattr(v, "estimate", v) for k, v in record.items()}
                self.metrics(values, prefix=f"{prefix}/{name}/")

    def epoch(self, metrics: Mapping[str, Any]) -> None:
        """A per-epoch report callback: ``metrics["epoch"]`` is the step."""
        self.metrics(metrics, step=int(metrics.get("epoch", 0)))

    def artifacts(self, paths: list[str | Path]) -> None:
        """Attach files (the run's report, tables, plots) that exist."""
        if self._mlflow is not None:
            for path in paths:
                if Path(path).is_file():
                    self._mlflow.log_artifact(str(path))

    def finish(self, status: str = "FINISHED") -> None:
        """End the run (FINISHED, or FAILED when the work raised); later calls do nothing."""
        if self._mlflow is not None:
            self._mlflow.end_run(status=status)
            self._mlflow = None


def start_run(
    target: MlflowTarget | None,
    run_name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
) -> RunLog:
    """Open an MLflow run on this process with Ray's ``setup_mlflow`` (params logged at once);
    call ``finish()`` when done. With ``target`` None, a no-op ``RunLog``."""
    if target is None:
        return RunLog(None)
    from ray.air.integrations.mlflow import setup_mlflow

    open_store(target)
    mlflow = setup_mlflow(
        flat_params(params),
        tracking_uri=target.tracking_uri,
        experiment_name=target.experiment,
        run_name=run_name,
        tags={RUN_TAG: run_name, **(tags or {})},
    )
    return RunLog(mlflow)


@contextmanager
def tracked_run(
    target: MlflowTarget | None,
    run_name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
) -> Iterator[RunLog]:
    """``start_run`` as a block: the run ends FINISHED, or FAILED when the block raises."""
    log = start_run(target, run_name, params, tags)
    try:
        yield log
    except BaseException:
        log.finish("FAILED")
        raise
    log.finish()


def end_active_run(status: str) -> None:
    """End this process's open MLflow run, if any, with ``status`` (FAILED / KILLED): scripts
    call it when they stop on an error, so the run is not left RUNNING or marked FINISHED."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and mlflow.active_run() is not None:
        mlflow.end_run(status=status)


def worker_run(
    config: Mapping[str, Any] | None, run_name: str, params: Mapping[str, Any]
) -> RunLog:
    """Inside a Ray Train training function: ``setup_mlflow`` on the rank-0 worker (a no-op
    log elsewhere, or when ``config`` — ``MlflowTarget.to_dict()`` — is None)."""
    if config is None:
        return RunLog(None)
    from ray.air.integrations.mlflow import setup_mlflow

    mlflow = setup_mlflow(
        flat_params(params),
        tracking_uri=config["tracking_uri"],
        experiment_name=config["experiment"],
        run_name=run_name,
        tags={RUN_TAG: run_name},
        rank_zero_only=True,
    )
    return RunLog(mlflow if isinstance(mlflow, ModuleType) else None)


def find_run(target: MlflowTarget, run_name: str) -> str | None:
    """Id of the latest MLflow run tagged with ``run_name`` (e.g. a Ray Train worker's)."""
    import mlflow

    mlflow.set_tracking_uri(target.tracking_uri)
    runs = mlflow.search_runs(
        experiment_names=[target.experiment],
        filter_string=f"tags.`{RUN_TAG}` = '{run_name}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return runs[0].info.run_id if runs else None


def attach_artifacts(target: MlflowTarget, run_id: str, paths: list[str | Path]) -> None:
    """Attach files to an existing (possibly finished) run from the driver."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=target.tracking_uri)
    for path in paths:
        if Path(path).is_file():
            client.log_artifact(run_id, str(path))


def tune_callbacks(target: MlflowTarget | None, search: str) -> list[Any]:
    """Ray Tune callbacks: ``MLflowLoggerCallback`` (a run per trial, tagged with the search
    name) when tracking is on, else none (Tune's own CSV/JSON/TensorBoard loggers stay)."""
    if target is None:
        return []
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    open_store(target)
    return [
        MLflowLoggerCallback(
            tracking_uri=target.tracking_uri,
            experiment_name=target.experiment,
            tags={RUN_TAG: search},
        )
    ]
