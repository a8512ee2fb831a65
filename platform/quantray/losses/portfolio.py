"""The stage-2 loss terms carried over to portfolios.

    total = relative_return_weight  * relative_return_loss
          + risk_cost_weight        * risk_cost
          + opportunity_cost_weight * opportunity_cost
          + transaction_cost_weight * transaction_cost

Per-episode quantities averaged over the batch (B batch, E days, N assets):

* relative_return_loss = -(strategy episode net return - benchmark episode net return); the
  benchmark is 1/N over the assets in the universe each day, rebalanced daily, run through
  the same accounting (same costs and fills), without gradient. 1/N is the portfolio
  literature's hard-to-beat baseline, so the strategy is rewarded only for doing better.
* risk_cost = downside deviation and/or max drawdown of daily net returns (the single-asset
  ``losses.strategy`` functions).
* opportunity_cost = sum_t cash_t * max(m_{t+1}, 0) over BULL episodes only, where m is the
  equal-weight market's daily return and bull / bear / sideways comes from the single-asset
  market classifier on that path (hindsight: a loss target, never a policy input).
* transaction_cost = episode sum of trading costs (already in net; > 0 penalises turnover).
"""

from __future__ import annotations

import torch
from torch import Tensor

from quantray.config import PortfolioConfig
from quantray.losses.market import BULL, classify_market
from quantray.losses.objective import Objective
from quantray.losses.strategy import risk_cost
from quantray.models.portfolio_strategy import PortfolioOutput
from quantray.portfolio_accounting import run_torch

TERM_NAMES = ("relative_return_loss", "risk_cost", "opportunity_cost", "transaction_cost")


def equal_weights(mask: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """[..., N] bool universe mask -> [..., N] weights 1/n_available (all cash when none)."""
    m = mask.to(dtype)
    return m / m.sum(dim=-1, keepdim=True).clamp(min=1.0)


class PortfolioLoss(Objective[PortfolioConfig]):
    """The portfolio objective; call it on a ``PortfolioOutput`` and the episodes' data."""

    def forward(
        self,
        output: PortfolioOutput,
        mask: Tensor,
        next_returns: Tensor,
        can_buy: Tensor | None = None,
        can_sell: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """``(total, terms)``: the scalar loss and detached floats of every unweighted term,
        "total", "episode_return", "benchmark_return", "mean_cash", "frac_bull"."""
        cfg = self.config
        net, costs = output.net_returns, output.costs  # [B, E]
        with torch.no_grad():
            bench_w = equal_weights(mask, net.dtype)  # [B, E, N]
            bench_net, _, _ = run_torch(bench_w, next_returns, self.cost, can_buy, can_sell)
            market = (bench_w * next_returns).sum(-1)  # [B, E] equal-weight market return
            bull = (classify_market(market) == BULL).to(net.dtype)  # [B]

        episode_return = net.sum(-1)
        benchmark_return = bench_net.sum(-1)
        relative_return_loss = -(episode_return - benchmark_return).mean()
        risk = risk_cost(net, cfg.risk_measure)
        cash = 1.0 - output.executed.sum(-1)  # [B, E]
        missed = (cash * torch.relu(market)).sum(-1)  # [B]
        opportunity_cost = (missed * bull).sum() / bull.sum().clamp(min=1.0)
        transaction_cost = costs.sum(-1).mean()
        total = (
            cfg.relative_return_weight * relative_return_loss
            + cfg.risk_cost_weight * risk
            + cfg.opportunity_cost_weight * opportunity_cost
            + cfg.transaction_cost_weight * transaction_cost
        )
        logged = torch.stack(
            [
                relative_return_loss,
                risk,
                opportunity_cost,
                transaction_cost,
                total,
                episode_return.mean(),
                benchmark_return.mean(),
                cash.mean(),
                bull.mean(),
            ]
        ).detach()
        names = (
            *TERM_NAMES,
            "total",
            "episode_return",
            "benchmark_return",
            "mean_cash",
            "frac_bull",
        )
        return total, dict(zip(names, logged.tolist(), strict=True))
