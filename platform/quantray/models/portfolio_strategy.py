"""The multi-asset strategy: a GRU per asset, attention across assets, softmax over assets + cash.

Each day t of an episode, at the close of day t, for every asset n the policy reads

* its feature of day t [D] (0 when the asset is not in the universe that day),
* the weight it holds into the close of t (yesterday's executed weight after drift: the
  previous decision fed back) and whether it is in the universe today,
* the day in episode t/E,

and updates that asset's GRUCell state (one GRUCell shared by all assets, so the network is
the same for any N and any asset order). A cash token (a learned vector plus the cash weight
held and t/E) joins the N asset states, and one multi-head self-attention layer lets each
asset's score depend on the others (assets outside the universe are masked out as keys; the
cash token never is, so a day without any available asset is still defined). A linear head
gives one score per token [N+1]; ``portfolio_accounting.scores_to_weights_torch`` turns them
into weights: a softmax over the available assets and cash, then the optional per-asset cap.

Softmax, not Gumbel-softmax: a portfolio weight vector is itself continuous, long-only and
sums to 1, which is exactly a softmax's output, and the accounting is differentiable in the
weights, so gradients flow without sampling (no estimator variance, no temperature schedule).
The single-asset head samples discrete levels because its position is one of 11 levels shared
with the Discrete env action; for N assets the discrete analogue would be a joint choice of
levels that must sum to 1 (combinatorial in N), with nothing gained.

The chosen weights go through ``portfolio_accounting.step_torch`` (fills, costs, drift) and
the drifted weights are fed back, so a trade today changes tomorrow's costs and decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from quantray.config import CostConfig, PortfolioConfig
from quantray.models.params import count_params
from quantray.portfolio_accounting import scores_to_weights_torch, step_torch

ASSET_STATE_SIZE = 3
"""Per-asset inputs besides the feature: held weight, in-universe flag, t/E."""


@dataclass(frozen=True)
class PortfolioOutput:
    """One forward pass over a batch of episodes (B batch, E days, N assets)."""

    target: Tensor
    """[B, E, N] target weights (softmax + cap); cash is 1 - sum."""
    executed: Tensor
    """[B, E, N] weights after fills (orders in untradable assets do not fill)."""
    net_returns: Tensor
    """[B, E] daily net returns."""
    costs: Tensor
    """[B, E] daily trading costs."""


class PortfolioStrategy(nn.Module):
    """Per-asset GRU + cross-asset attention + masked softmax over assets and cash."""

    def __init__(self, config: PortfolioConfig, feature_dim: int) -> None:
        super().__init__()
        if feature_dim < 1:
            raise ValueError(f"PortfolioStrategy: feature_dim must be >= 1, got {feature_dim}")
        H = config.hidden_size
        self.config = config
        self.feature_dim = feature_dim
        self.cell = nn.GRUCell(feature_dim + ASSET_STATE_SIZE, H)
        self.cash_token = nn.Parameter(torch.zeros(H))
        self.cash_state = nn.Linear(2, H)  # cash weight held, t/E
        self.norm = nn.LayerNorm(H)
        self.attention = nn.MultiheadAttention(H, config.n_heads, batch_first=True)
        self.head = nn.Linear(H, 1)

    def num_params(self) -> int:
        """Number of trainable parameters."""
        return count_params(self)

    def forward(
        self,
        features: Tensor,
        mask: Tensor,
        next_returns: Tensor,
        cost: CostConfig,
        can_buy: Tensor | None = None,
        can_sell: Tensor | None = None,
    ) -> PortfolioOutput:
        """Play a batch of episodes.

        Args:
            features: [B, E, N, D] features (0 where ``mask`` is False).
            mask: [B, E, N] bool, the asset is in the universe that day.
            next_returns: [B, E, N] r_{t+1}; used only by the accounting after day t's decision
                (and, through the drifted weights, from day t+1 on).
            cost: the cost model.
            can_buy / can_sell: [B, E, N] fill flags (``PortfolioEpisodes.fill_flags``); None =
                every available asset fills.
        """
        B, E, N, D = features.shape
        if self.feature_dim != D or mask.shape != (B, E, N) or next_returns.shape != (B, E, N):
            raise ValueError(
                f"PortfolioStrategy: need features [B, E, N, D={self.feature_dim}], mask and "
                f"next_returns [B, E, N]; got {tuple(features.shape)}, {tuple(mask.shape)}, "
                f"{tuple(next_returns.shape)}"
            )
        mask = mask.bool()
        can_buy = mask if can_buy is None else can_buy
        can_sell = mask if can_sell is None else can_sell
        H = self.config.hidden_size
        held = features.new_zeros(B, N)
        hidden = features.new_zeros(B * N, H)
        targets, executed_all, nets, costs = [], [], [], []
        for t in range(E):
            day = features.new_full((B, N, 1), t / E)
            m = mask[:, t].to(features.dtype).unsqueeze(-1)  # [B, N, 1]
            # [B, N, D] ++ [B, N, 3] -> [B, N, D + 3] -> [B*N, D + 3]
            x = torch.cat([features[:, t], held.unsqueeze(-1), m, day], dim=-1)
            hidden = self.cell(x.reshape(B * N, D + ASSET_STATE_SIZE), hidden)
            assets = hidden.reshape(B, N, H)  # [B*N, H] -> [B, N, H]
            cash_in = torch.stack([1.0 - held.sum(-1), day[:, 0, 0]], dim=-1)  # [B, 2]
            cash = self.cash_token + self.cash_state(cash_in)  # [B, H]
            tokens = self.norm(torch.cat([assets, cash.unsqueeze(1)], dim=1))  # [B, N+1, H]
            ignore = torch.cat([~mask[:, t], mask.new_zeros(B, 1)], dim=1)  # [B, N+1]
            mixed, _ = self.attention(tokens, tokens, tokens, key_padding_mask=ignore)
            scores = self.head(tokens + mixed).squeeze(-1)  # [B, N+1, 1] -> [B, N+1]
            target = scores_to_weights_torch(scores, mask[:, t], self.config.cap, scale=1.0)
            net, cost_t, executed, held = step_torch(
                target,
                held,
                next_returns[:, t],
                cost,
                can_buy[:, t],
                can_sell[:, t],
                last_day=t == E - 1,  # the exit sale (cost.charge_exit)
            )
            targets.append(target)
            executed_all.append(executed)
            nets.append(net)
            costs.append(cost_t)
        # E x [B, N] -> [B, E, N]; E x [B] -> [B, E]
        return PortfolioOutput(
            target=torch.stack(targets, dim=1),
            executed=torch.stack(executed_all, dim=1),
            net_returns=torch.stack(nets, dim=1),
            costs=torch.stack(costs, dim=1),
        )
