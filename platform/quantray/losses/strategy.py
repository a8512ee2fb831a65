"""Stage-2 strategy loss: relative return vs a market-type benchmark, plus risk, opportunity,
transaction-cost and information-ratio terms.

    total = relative_return_weight   * relative_return_loss
          + risk_cost_weight         * risk_cost
          + opportunity_cost_weight  * opportunity_cost
          + transaction_cost_weight  * transaction_cost
          + information_ratio_weight * information_ratio_term

Every term is a batch mean of a per-episode quantity (axis legend: B batch, E episode days):

* relative_return_loss = -(strategy episode net return - benchmark episode net return), with
  episode returns summed over days and the benchmark chosen per episode by the (hindsight)
  market classifier: bull -> fully invested (p = 1), bear -> cash (p = 0), sideways -> half.
  Both sides go through ``accounting.net_returns_torch`` with the same costs, starting
  position, blocked trades and exit sale, so the benchmark pays to get in and out just like
  the strategy.
* risk_cost = downside deviation sqrt(mean(min(net, 0)^2)) of daily net returns and/or the
  maximum drawdown of the equity path prod(1 + net) (``StrategyConfig.risk_measure``).
* opportunity_cost = sum_t (1 - p_t) * max(r_{t+1}, 0) averaged over BULL episodes only (0 when
  the batch has none): upside left on the table while under-invested in a rising market.
* transaction_cost = episode sum of trading costs. Costs are already inside the net returns;
  this weight adds a turnover penalty on top.
* information_ratio_term = -mean_t(active) / (std_t(active) + eps), active = strategy minus
  benchmark daily net return, averaged over episodes.

All terms are batched tensor ops: no Python loop over the batch (only the accounting loops
over the E days, and only when some trade is blocked).
"""

from __future__ import annotations

import torch
from torch import Tensor

from quantray.accounting import net_returns_torch
from quantray.config import StrategyConfig
from quantray.losses.market import BEAR, BULL, SIDEWAYS, classify_market
from quantray.losses.objective import Objective
from quantray.models.strategy_gru import StrategyOutput

INFORMATION_RATIO_EPS = 1e-4
"""Added to the active-return std so a strategy that tracks its benchmark exactly gives a
bounded information ratio (daily active std of a real deviation is ~1e-3 or more)."""

_DOWNSIDE_EPS = 1e-12  # keeps sqrt differentiable when an episode never lost money

TERM_NAMES = (
    "relative_return_loss",
    "risk_cost",
    "opportunity_cost",
    "transaction_cost",
    "information_ratio_term",
)
"""Keys of the per-term dict returned by ``StrategyLoss`` (plus "total" and diagnostics)."""


def benchmark_positions(market: Tensor, episode_len: int, dtype: torch.dtype) -> Tensor:
    """[B] market labels -> [B, E] benchmark positions (bull 1.0, bear 0.0, sideways 0.5)."""
    # Indexed by label: BULL=0 -> 1.0, BEAR=1 -> 0.0, SIDEWAYS=2 -> 0.5.
    levels = torch.tensor([1.0, 0.0, 0.5], dtype=dtype, device=market.device)
    return levels[market].unsqueeze(-1).expand(-1, episode_len)  # [B] -> [B, 1] -> [B, E]


def max_drawdown(net_returns: Tensor) -> Tensor:
    """[..., E] daily net returns -> [...] max drawdown (>= 0) of the equity path from 1.0."""
    equity = torch.cumprod(1.0 + net_returns, dim=-1)  # [..., E]
    # [..., 1] ++ [..., E] -> [..., E + 1]: the starting equity 1.0 is a peak too.
    equity = torch.cat([torch.ones_like(equity[..., :1]), equity], dim=-1)
    peak = torch.cummax(equity, dim=-1).values
    return (1.0 - equity / peak).amax(dim=-1)


def downside_deviation(net_returns: Tensor) -> Tensor:
    """[..., E] daily net returns -> [...] sqrt(mean(min(net, 0)^2)) (target return 0)."""
    return torch.sqrt(torch.relu(-net_returns).square().mean(dim=-1) + _DOWNSIDE_EPS)


def risk_cost(net_returns: Tensor, measure: str) -> Tensor:
    """[B, E] daily net returns -> scalar batch-mean risk cost: the downside deviation, the max
    drawdown, or their sum (``measure``, one of ``config.RISK_MEASURES``)."""
    zero = net_returns.new_zeros(())
    downside = downside_deviation(net_returns).mean() if measure != "drawdown" else zero
    drawdown = max_drawdown(net_returns).mean() if measure != "downside" else zero
    return downside + drawdown


class StrategyLoss(Objective[StrategyConfig]):
    """The stage-2 objective; call it on positions (or a ``StrategyOutput``) and returns."""

    def forward(
        self,
        positions: Tensor | StrategyOutput,
        next_returns: Tensor,
        prev_position: float | Tensor = 0.0,
        can_buy: Tensor | None = None,
        can_sell: Tensor | None = None,
        market: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """Loss of a batch of episodes.

        Args:
            positions: [B, E] wanted positions (differentiable), run through
                ``accounting.net_returns_torch``; or a ``StrategyOutput``, whose net returns,
                costs and executed positions (already computed by the same rule, day by day)
                are used as they are.
            next_returns: [B, E] ``next_returns[:, t] = r_{t+1}``.
            prev_position: position before day 0 (scalar or [B]), as given to the policy.
            can_buy / can_sell: [B, E] trade permissions (``Episodes.trade_flags``), as given
                to the policy.
            market: [B] precomputed market labels; classified from ``next_returns`` if None.

        Returns:
            ``(total, terms)``: the scalar loss to backpropagate and a dict of detached floats
            with every unweighted term (``TERM_NAMES``), "total", and diagnostics
            ("episode_return", "benchmark_return", "mean_position", "frac_bull",
            "frac_bear", "frac_sideways").
        """
        output = positions if isinstance(positions, StrategyOutput) else None
        if output is not None:
            positions = output.positions
        if positions.dim() != 2 or positions.shape != next_returns.shape:
            raise ValueError(
                f"StrategyLoss: positions and next_returns must both be [B, E], got "
                f"{tuple(positions.shape)} and {tuple(next_returns.shape)}"
            )
        cfg = self.config
        episode_len = positions.shape[-1]
        next_returns = next_returns.to(positions.dtype)
        if market is None:
            market = classify_market(next_returns, cfg)  # [B]
        market = market.to(positions.device)

        if output is not None:
            # The policy already ran every day through accounting.step_torch (the same rule,
            # tested equal to net_returns_torch); recomputing would only add a second graph.
            net, costs, executed = output.net_returns, output.costs, output.positions
        else:
            net, costs, executed = net_returns_torch(
                positions, next_returns, self.cost, prev_position, can_buy, can_sell
            )  # each [B, E]
        with torch.no_grad():  # the benchmark is a constant target for the policy
            bench_net, _, _ = net_returns_torch(
                benchmark_positions(market, episode_len, positions.dtype),
                next_returns,
                self.cost,
                prev_position,
                can_buy,
                can_sell,
            )  # [B, E]

        episode_return = net.sum(dim=-1)  # [B]
        benchmark_return = bench_net.sum(dim=-1)  # [B]
        relative_return_loss = -(episode_return - benchmark_return).mean()

        risk = risk_cost(net, cfg.risk_measure)

        bull = (market == BULL).to(net.dtype)  # [B]
        missed = ((1.0 - executed) * torch.relu(next_returns)).sum(dim=-1)  # [B]
        opportunity_cost = (missed * bull).sum() / bull.sum().clamp(min=1.0)

        transaction_cost = costs.sum(dim=-1).mean()

        active = net - bench_net  # [B, E]
        information_ratio = active.mean(dim=-1) / (
            active.std(dim=-1, correction=0) + INFORMATION_RATIO_EPS
        )  # [B]
        information_ratio_term = -information_ratio.mean()

        total = (
            cfg.relative_return_weight * relative_return_loss
            + cfg.risk_cost_weight * risk
            + cfg.opportunity_cost_weight * opportunity_cost
            + cfg.transaction_cost_weight * transaction_cost
            + cfg.information_ratio_weight * information_ratio_term
        )

        # One device->host copy for all logged numbers instead of one .item() per term.
        logged = torch.stack(
            [
                relative_return_loss,
                risk,
                opportunity_cost,
                transaction_cost,
                information_ratio_term,
                total,
                episode_return.mean(),
                benchmark_return.mean(),
                executed.mean(),
                bull.mean(),
                (market == BEAR).to(net.dtype).mean(),
                (market == SIDEWAYS).to(net.dtype).mean(),
            ]
        ).detach()
        names = (
            *TERM_NAMES,
            "total",
            "episode_return",
            "benchmark_return",
            "mean_position",
            "frac_bull",
            "frac_bear",
            "frac_sideways",
        )
        return total, dict(zip(names, logged.tolist(), strict=True))
