"""Trading metrics for RLlib training runs, logged through RLlib's metrics logger.

Per finished episode (in ``result["env_runners"]`` after each ``algo.train()``, averaged over
the iteration's episodes):

* ``episode_net_return``: the compounded net return ``prod(1 + net_t) - 1`` of the episode,
  the number ``quantray.evaluate`` reports as ``total_return``;
* ``episode_buy_and_hold_return``: ``prod(1 + r_{t+1}) - 1`` of holding the asset fully over
  the same 20 days (no costs: the reference of ``quantray.evaluate.buy_and_hold`` after its
  one entry trade);
* ``episode_excess_return``: their difference;
* ``episode_mean_position`` and ``episode_turnover`` (sum of |executed_t - executed_{t-1}|,
  starting flat): how much the agent trades.

RLlib may cut an episode into chunks between sampling calls; the running sums live in the
episode's ``custom_data``, which RLlib carries over to the next chunk, so the metrics cover
the whole episode.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

METRIC_KEYS = (
    "episode_net_return",
    "episode_buy_and_hold_return",
    "episode_excess_return",
    "episode_mean_position",
    "episode_turnover",
)
"""Names of the custom metrics under ``result["env_runners"]``."""

_STATE = "quantray"


class TradingMetricsCallback(RLlibCallback):
    """Accumulates the env's per-step info (net return, next return, executed position)."""

    def on_episode_start(self, *, episode: Any, **kwargs: Any) -> None:
        episode.custom_data[_STATE] = _fresh()

    def on_episode_step(self, *, episode: Any, **kwargs: Any) -> None:
        info = episode.get_infos(-1)
        if not isinstance(info, dict) or "net_return" not in info:
            return  # the reset info (no trade yet)
        state = episode.custom_data.setdefault(_STATE, _fresh())
        executed = float(info["executed"])
        state["equity"] *= 1.0 + float(info["net_return"])
        state["hold"] *= 1.0 + float(info["next_return"])
        state["position_sum"] += executed
        state["turnover"] += abs(executed - state["held"])
        state["held"] = executed
        state["days"] += 1

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        state = episode.custom_data.get(_STATE)
        if metrics_logger is None or not state or state["days"] == 0:
            return
        net = state["equity"] - 1.0
        hold = state["hold"] - 1.0
        values = {
            "episode_net_return": net,
            "episode_buy_and_hold_return": hold,
            "episode_excess_return": net - hold,
            "episode_mean_position": state["position_sum"] / state["days"],
            "episode_turnover": state["turnover"],
        }
        for key, value in values.items():
            # A sliding mean over the most recent episodes, like RLlib's episode_return_mean.
            metrics_logger.log_value(key, value, reduce="mean", window=100)


def _fresh() -> dict[str, float]:
    return {
        "equity": 1.0,
        "hold": 1.0,
        "position_sum": 0.0,
        "turnover": 0.0,
        "held": 0.0,
        "days": 0,
    }
