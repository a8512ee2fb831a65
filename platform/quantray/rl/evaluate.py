"""Greedy evaluation of a trained RLlib policy on a fixed episode list.

``rl_positions`` plays the policy deterministically (argmax over the 11 positions for PPO, the
mean of the squashed Gaussian for SAC) over a FIXED list of episodes, all advancing in
lockstep through the E days: one ``TradingVectorEnv`` with one sub-env per episode produces
the observations (exactly the env's, so the env's rewards are reproduced), and the RLModule
infers all N actions of a day in one batched ``forward_inference`` call. The executed
positions it returns go through ``quantray.evaluate.backtest_episodes`` like every other
strategy's (``evaluate_algo``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.utils.spaces.space_utils import unsquash_action

from quantray.config import CostConfig
from quantray.data import Episodes, Task
from quantray.data.splits import SPLIT_NAMES, episode_rows
from quantray.envs.vector_env import TradingVectorEnv
from quantray.evaluate import episode_results

# Keys of the training env_config that select data; rl_positions replaces them with task=.
_DATA_KEYS = ("data", "features", "data_config", "split_config", "task")


def _env_kwargs(algo: Any) -> dict[str, Any]:
    """The algorithm's TradingEnv arguments, minus those that choose data and episodes."""
    config = dict(getattr(algo.config, "env_config", None) or {})
    for key in (*_DATA_KEYS, "split", "mode", "episode_indices"):
        config.pop(key, None)
    return config


def _split_of(task: Task, episodes: Episodes) -> tuple[str, np.ndarray]:
    """Which split ``episodes`` lie in and their indices in that split's every-start list."""
    row_split = task.splits.row_split[episodes.starts]  # [n]
    codes = np.unique(row_split)
    if codes.size != 1 or not 0 <= int(codes[0]) < len(SPLIT_NAMES):
        raise ValueError(
            "rl_positions: the episodes must all come from one split (task.episodes(split)); "
            f"found start rows in split codes {codes.tolist()}"
        )
    split = SPLIT_NAMES[int(codes[0])]
    every = episode_rows(task.panel, task.splits, split, task.data)  # [M] sorted start rows
    index = np.searchsorted(every, episodes.starts)  # [n]
    ok = (index < len(every)) & (every[np.minimum(index, len(every) - 1)] == episodes.starts)
    if not ok.all():
        raise ValueError(
            f"rl_positions: {int((~ok).sum())} episode start(s) are not start days of the "
            f"{split} split of this task; build the list with task.episodes('{split}', ...)"
        )
    return split, index


def _actions(module: Any, obs: np.ndarray, state: Any, action_type: str, space: gym.Space):
    """One greedy decision for a batch of observations [N, K]; returns (actions, state)."""
    batch: dict[str, Any] = {Columns.OBS: torch.from_numpy(obs)}
    if state is not None:
        # Stateful modules take [N, T=1, K] observations and [N, ...] states, as RLlib's
        # env-to-module connector feeds them during sampling.
        batch[Columns.OBS] = batch[Columns.OBS].unsqueeze(1)  # [N, K] -> [N, 1, K]
        batch[Columns.STATE_IN] = state
    with torch.no_grad():
        out = module.forward_inference(batch)
    logits = out[Columns.ACTION_DIST_INPUTS]
    if state is not None:
        logits = logits.squeeze(1)  # [N, 1, A] -> [N, A]
    dist = module.get_inference_action_dist_cls().from_logits(logits).to_deterministic()
    actions = dist.sample().cpu().numpy()
    if action_type == "continuous":
        # The module acts in [-1, 1] (RLlib's normalize_actions); the env gets [0, 1].
        actions = np.clip(unsquash_action(actions, space), space.low, space.high)  # [N, 1]
    return actions, out.get(Columns.STATE_OUT)


def rl_positions(
    algo: Any,
    task: Task,
    episodes: Episodes,
    *,
    action_type: str,
    cost: str | CostConfig | None = None,
) -> np.ndarray:
    """Executed positions [n, E] of ``algo``'s greedy policy on a fixed episode list.

    Args:
        algo: a trained (or restored) RLlib ``Algorithm`` on ``quantray/TradingEnv-v0``.
        task: the Task the episodes come from (same data and feature source as training).
        episodes: ``task.episodes(split, stride=...)`` or a subset of it; one split only.
        action_type: "discrete" (argmax action, position a/10) or "continuous" (the mean).
        cost: the cost model of the replay (it matters only through the price-limit rule,
            which can stop an order and so changes the held position the policy observes);
            default: the algorithm's env_config cost.

    Returns:
        [n, E] float64 positions after the price-limit rule, in [0, 1]; row i is episode i.
    """
    return module_positions(
        algo.get_module(), _env_kwargs(algo), task, episodes, action_type=action_type, cost=cost
    )


def module_positions(
    module: Any,
    env_kwargs: dict[str, Any],
    task: Task,
    episodes: Episodes,
    *,
    action_type: str,
    cost: str | CostConfig | None = None,
) -> np.ndarray:
    """``rl_positions`` for a bare RLModule (e.g. a selected checkpoint kept after its
    Algorithm stopped); ``env_kwargs``: the training TradingEnv arguments minus those that
    choose data and episodes (``_env_kwargs(algo)``)."""
    split, index = _split_of(task, episodes)
    n = len(episodes)
    kwargs = dict(env_kwargs)
    kwargs["action_type"] = action_type
    if cost is not None:
        kwargs["cost"] = cost
    # One sub-env per episode: sub-env i plays list[i] of the replay list on its first round.
    env = TradingVectorEnv(n, task=task, split=split, mode="train", episode_indices=index, **kwargs)
    module.eval()
    state = None
    if module.is_stateful():
        initial = module.get_initial_state()
        # [H...] -> [N, H...]: the same zero state for every episode.
        state = {
            k: torch.as_tensor(v).unsqueeze(0).repeat(n, *([1] * np.ndim(v)))
            for k, v in initial.items()
        }
    obs, _ = env.reset(seed=0)
    episode_len = env.episode_len
    positions = np.empty((n, episode_len))
    for t in range(episode_len):  # the 20 days are sequential; all episodes advance together
        actions, state = _actions(module, obs, state, action_type, env.single_action_space)
        obs, _, _, _, info = env.step(actions)
        positions[:, t] = info["executed"]
    env.close()
    return positions


def evaluate_algo(
    algo: Any,
    task: Task,
    split: str = "valid",
    cost: str | CostConfig = "none",
    *,
    action_type: str,
    name: str = "rl",
) -> pd.DataFrame:
    """Per-episode metrics of the greedy policy on ``split``'s fixed non-overlapping list.

    The positions of ``rl_positions`` scored by ``quantray.evaluate.episode_results``
    (same episodes, accounting and trade permissions as every other strategy).
    """
    cost = CostConfig.resolve(cost)
    episodes = task.episodes(split, stride=task.data.episode_len)
    positions = rl_positions(algo, task, episodes, action_type=action_type, cost=cost)
    return episode_results(name, positions, episodes, cost)
