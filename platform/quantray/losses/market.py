"""Market-type classifier: bull / bear / sideways per episode, by majority of three voters.

HINDSIGHT WARNING: the classifier reads the episode's realised return path — the returns the
policy is about to earn. That is fine in a LOSS (it picks the benchmark a trained strategy is
judged against, a hindsight target) and FORBIDDEN as a POLICY input: feeding these labels to
the GRU, the env observation or an RL agent would leak the future.

Voters, each on ``returns`` [B, E] (``returns[:, t] = r_{t+1}``) with thresholds from
``StrategyConfig``:

* simple — mean daily return vs ``+-market_simple_threshold``;
* technical — short vs long moving average of the cumulative price path ``prod(1 + r)``,
  taken at the end of the episode: ``short / long - 1`` vs ``+-market_technical_threshold``;
* adaptive — mean daily return vs a volatility-scaled threshold
  ``+-market_adaptive_vol_scale * std(daily returns)``, so a calm market needs a smaller drift
  to count as trending than a wild one.

The label is the class with at least two votes; a three-way split is SIDEWAYS.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from quantray.config import BEAR, BULL, SIDEWAYS, StrategyConfig

_N_CLASSES = 3


def _vote(signal: Tensor, threshold: Tensor | float) -> Tensor:
    """BULL above +threshold, BEAR below -threshold, SIDEWAYS in between (strict)."""
    bull = torch.full_like(signal, BULL, dtype=torch.long)
    bear = torch.full_like(signal, BEAR, dtype=torch.long)
    sideways = torch.full_like(signal, SIDEWAYS, dtype=torch.long)
    return torch.where(signal > threshold, bull, torch.where(signal < -threshold, bear, sideways))


def market_votes(returns: Tensor | np.ndarray, config: StrategyConfig | None = None) -> Tensor:
    """Each voter's label: [B, 3] long, columns (simple, technical, adaptive).

    ``returns`` is [B, E] daily returns of each episode (a single [E] path is treated as B=1).
    Computed without gradient: labels are targets, not something to optimise.
    """
    config = StrategyConfig() if config is None else config
    returns = torch.as_tensor(returns)
    if returns.dim() == 1:
        returns = returns.unsqueeze(0)  # [E] -> [1, E]
    if returns.dim() != 2 or returns.shape[-1] < 2:
        raise ValueError(
            f"market classifier: returns must be [B, E] with E >= 2 days, got "
            f"{tuple(returns.shape)}"
        )
    returns = returns.detach()
    if not returns.is_floating_point():
        returns = returns.double()
    episode_len = returns.shape[-1]

    mean = returns.mean(dim=-1)  # [B]
    simple = _vote(mean, config.market_simple_threshold)

    # Technical: moving averages of the price path at the episode's last day. Windows are
    # clamped so a short episode still has short < long.
    long_window = min(config.market_ma_long, episode_len)
    short_window = min(config.market_ma_short, long_window - 1)
    price = torch.cumprod(1.0 + returns, dim=-1)  # [B, E], 1.0 = close before day 0
    ma_short = price[:, -short_window:].mean(dim=-1)  # [B]
    ma_long = price[:, -long_window:].mean(dim=-1)  # [B]
    technical = _vote(ma_short / ma_long - 1.0, config.market_technical_threshold)

    volatility = returns.std(dim=-1, correction=1)  # [B]
    adaptive = _vote(mean, config.market_adaptive_vol_scale * volatility)

    return torch.stack([simple, technical, adaptive], dim=-1)  # 3 x [B] -> [B, 3]


def classify_market(returns: Tensor | np.ndarray, config: StrategyConfig | None = None) -> Tensor:
    """Majority-vote market type per episode: [B] long with BULL=0, BEAR=1, SIDEWAYS=2.

    Uses the realised (hindsight) path: for losses and reports only, never a policy input.
    """
    votes = market_votes(returns, config)  # [B, 3]
    counts = F.one_hot(votes, _N_CLASSES).sum(dim=1)  # [B, 3 voters, 3 classes] -> [B, 3]
    top_count, top_class = counts.max(dim=-1)  # [B], [B]
    # Three voters over three classes: either some class has >= 2 votes or it is a 1-1-1 tie.
    return torch.where(top_count >= 2, top_class, torch.full_like(top_class, SIDEWAYS))
