"""Dashboard monitoring: custom Ray metrics.

Every experiment script starts Ray through ``quantray.train.ray_runtime.init_ray``, which
names the Ray job in the dashboard's Jobs view. Training code reports progress through the small
``record_*`` functions below; they publish ``ray.util.metrics`` Counters, Gauges and
Histograms that the node's metrics agent exports in Prometheus format, so they appear in
the dashboard's Metrics view (with Prometheus/Grafana set up) and on every node's
``/metrics`` endpoint. Ray prefixes exported custom metrics with ``ray_`` (and the
Prometheus exporter appends ``_total`` to counters):

======================================  =========  ===========  ==============================
exported name                           kind       tags         recorded by
======================================  =========  ===========  ==============================
ray_quantray_trials_finished_total      counter    experiment   :func:`record_trial_finished`
ray_quantray_trial_seconds              histogram  experiment   :func:`record_trial_finished`
ray_quantray_best_valid_sharpe          gauge      experiment   :func:`record_trial_finished`
ray_quantray_env_steps_per_s            gauge      algo         :func:`record_env_throughput`
ray_quantray_price_samples_per_s        gauge      run          :func:`record_price_throughput`
ray_quantray_strategy_episodes_per_s    gauge      run          :func:`record_strategy_throughput`
======================================  =========  ===========  ==============================

The ``record_*`` functions are no-ops (and never import Ray) in a process where Ray is not
initialised, so library code can call them unconditionally: tests, benchmarks and the
in-process trainers run without Ray. Metric objects are created lazily, once per process.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from quantray.train.ray_runtime import ray_initialized

log = logging.getLogger("quantray.train.monitoring")

PREFIX = "quantray_"
"""Prefix of every custom metric name (Ray adds its own ``ray_`` on export)."""

TRIAL_SECONDS_BOUNDARIES = [10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0, 10800.0]
"""Histogram buckets (seconds) for trial wall-clock time. Ray histograms take only positive
boundaries, which is why Sharpe ratios (often negative) go to gauges instead."""

# name -> (kind, description, tag keys); the single definition of every custom metric.
_SPECS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "trials_finished": ("counter", "Tune trials finished", ("experiment",)),
    "trial_seconds": ("histogram", "wall-clock seconds of finished trials", ("experiment",)),
    "best_valid_sharpe": ("gauge", "best validation Sharpe among finished trials", ("experiment",)),
    "env_steps_per_s": ("gauge", "RL environment steps per second", ("algo",)),
    "price_samples_per_s": ("gauge", "stage-1 training samples per second", ("run",)),
    "strategy_episodes_per_s": ("gauge", "stage-2 training episodes per second", ("run",)),
}

_metrics: dict[str, Any] = {}
_best_sharpe: dict[str, float] = {}
_lock = threading.Lock()


def _metric(name: str) -> Any | None:
    """The process-wide metric object ``quantray_<name>``, created on first use; None when
    Ray is not initialised (recording is then a no-op)."""
    if not ray_initialized():
        return None
    with _lock:
        metric = _metrics.get(name)
        if metric is None:
            from ray.util import metrics

            kind, description, tag_keys = _SPECS[name]
            full = PREFIX + name
            if kind == "counter":
                metric = metrics.Counter(full, description=description, tag_keys=tag_keys)
            elif kind == "gauge":
                metric = metrics.Gauge(full, description=description, tag_keys=tag_keys)
            else:
                metric = metrics.Histogram(
                    full,
                    description=description,
                    boundaries=TRIAL_SECONDS_BOUNDARIES,
                    tag_keys=tag_keys,
                )
            _metrics[name] = metric
        return metric


def _rate(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{what} must be a finite number >= 0, got {value!r}; pass the count divided by "
            "the elapsed seconds of the same interval"
        )
    return value


def record_trial_finished(
    valid_sharpe: float, experiment: str = "default", seconds: float | None = None
) -> bool:
    """Count one finished Tune trial of ``experiment``, update the best validation Sharpe
    and, when given, observe the trial's wall-clock ``seconds``.

    The best-Sharpe gauge holds the highest finite value seen by this process, so call it
    from one place per experiment (the Tune driver, e.g. a ``tune.Callback``). A NaN
    Sharpe (a trial that never traded) is counted but leaves the best unchanged. Returns
    whether the metrics were published (False without Ray)."""
    duration = None if seconds is None else _rate(seconds, "seconds")
    counter = _metric("trials_finished")
    if counter is None:
        return False
    tags = {"experiment": str(experiment)}
    counter.inc(1.0, tags=tags)
    if duration is not None:
        _metric("trial_seconds").observe(duration, tags=tags)
    sharpe = float(valid_sharpe)
    if math.isfinite(sharpe):
        with _lock:
            best = max(sharpe, _best_sharpe.get(tags["experiment"], -math.inf))
            _best_sharpe[tags["experiment"]] = best
        _metric("best_valid_sharpe").set(best, tags=tags)
    return True


def trial_metrics_callback(experiment: str, metric: str = "best_valid_sharpe") -> Any:
    """A ``ray.tune.Callback`` for ``RunConfig(callbacks=[...])`` that calls
    :func:`record_trial_finished` in the Tune driver for every trial that completes, with
    the trial's last reported ``metric`` (NaN when missing) and its ``time_total_s``."""
    from ray.tune import Callback

    class TrialMetricsCallback(Callback):
        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any):
            result = trial.last_result or {}
            seconds = result.get("time_total_s")
            record_trial_finished(
                float(result.get(metric, math.nan)),
                experiment=experiment,
                seconds=None if seconds is None else max(0.0, float(seconds)),
            )

    return TrialMetricsCallback()


def _publish_rate(metric: str, value: float, arg: str, tags: dict[str, str]) -> bool:
    """Set gauge ``metric`` to a validated rate; False (a no-op) without Ray."""
    rate = _rate(value, arg)
    gauge = _metric(metric)
    if gauge is None:
        return False
    gauge.set(rate, tags=tags)
    return True


def record_env_throughput(steps_per_s: float, algo: str) -> bool:
    """Publish RL environment steps per second of ``algo`` ("ppo", "sac", ...).
    Returns whether it was published (False without Ray)."""
    return _publish_rate("env_steps_per_s", steps_per_s, "steps_per_s", {"algo": str(algo)})


def record_price_throughput(samples_per_s: float, run: str) -> bool:
    """Publish stage-1 (price model) training samples per second of run ``run``.
    Returns whether it was published (False without Ray)."""
    return _publish_rate("price_samples_per_s", samples_per_s, "samples_per_s", {"run": str(run)})


def record_strategy_throughput(episodes_per_s: float, run: str) -> bool:
    """Publish stage-2 (GRU strategy) training episodes per second of run ``run``.
    Returns whether it was published (False without Ray)."""
    return _publish_rate(
        "strategy_episodes_per_s", episodes_per_s, "episodes_per_s", {"run": str(run)}
    )
