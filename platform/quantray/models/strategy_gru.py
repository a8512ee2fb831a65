"""Stage 2: the GRU position strategy with a Gumbel-softmax position head.

Each day t of an episode the policy reads, at the close of day t,

* the frozen stage-1 feature of day t [D],
* the position it actually holds (yesterday's executed position, after the price-limit rule),
* a small portfolio state: day-in-episode t/E and the cumulative net return of the episode so
  far, compounded from the realised net returns of days 0..t-1 (these use r_1..r_t, i.e.
  ``next_returns[:, :t]``, all known at close t — never r_{t+1}),

updates a GRUCell and maps the state to A logits over positions 0, 1/(A-1), ..., 1.

Training draws ``F.gumbel_softmax(logits, tau, hard)`` and takes the expected position
``probs @ linspace(0, 1, A)``; evaluation takes the argmax position. The chosen position goes
through ``accounting.step_torch`` (costs, price limits) and the executed position is fed back
as the next day's input, so gradients flow through the whole 20-day recursion: a trade today
changes tomorrow's cost and tomorrow's decision.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from quantray.accounting import step_torch
from quantray.config import CostConfig, StrategyConfig
from quantray.models.params import count_params

PORTFOLIO_STATE_SIZE = 3
"""Inputs besides the frozen feature: previous executed position, t/E, cumulative net return."""


def anneal_tau(step: int, config: StrategyConfig) -> float:
    """Gumbel-softmax temperature after ``step`` optimizer steps.

    Exponential decay ``tau_start * (tau_min / tau_start) ** (step / tau_decay_steps)``, held
    at ``tau_min`` from ``tau_decay_steps`` on.
    """
    progress = min(max(step, 0) / config.tau_decay_steps, 1.0)
    return config.tau_start * (config.tau_min / config.tau_start) ** progress


@dataclass(frozen=True)
class StrategyOutput:
    """What one forward pass over a batch of episodes produced (axis legend in design.md)."""

    positions: Tensor
    """[B, E] executed positions (after the price-limit rule); ``positions[:, t]`` is held
    from close t to close t+1."""
    logits: Tensor
    """[B, E, A] position-head logits."""
    net_returns: Tensor
    """[B, E] daily net returns ``positions * next_returns - costs``."""
    costs: Tensor
    """[B, E] daily trading costs."""
    wanted: Tensor
    """[B, E] positions the head asked for, before the price-limit rule."""


class StrategyGRU(nn.Module):
    """GRU over the E days of an episode with a Gumbel-softmax head over A positions."""

    def __init__(self, config: StrategyConfig, feature_dim: int | None = None) -> None:
        """``feature_dim`` is D, the width of the frozen features; defaults to
        ``config.feature_dim``."""
        super().__init__()
        feature_dim = config.feature_dim if feature_dim is None else feature_dim
        if feature_dim < 1:
            raise ValueError(f"StrategyGRU: feature_dim must be >= 1, got {feature_dim}")
        self.config = config
        self.feature_dim = feature_dim
        self.cell = nn.GRUCell(feature_dim + PORTFOLIO_STATE_SIZE, config.hidden_size)
        self.head = nn.Sequential(
            nn.Linear(config.hidden_size, config.head_hidden),
            nn.GELU(),
            nn.Linear(config.head_hidden, config.n_actions),
        )
        # Position of each action: 0, 1/(A-1), ..., 1. A buffer so it follows .to(device).
        self.register_buffer(
            "action_positions", torch.linspace(0.0, 1.0, config.n_actions), persistent=False
        )

    def num_params(self) -> int:
        """Number of trainable parameters."""
        return count_params(self, trainable_only=True)

    def step(
        self,
        feature: Tensor,
        prev_position: Tensor,
        day_fraction: Tensor,
        cum_return: Tensor,
        hidden: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """One day of the policy: feature [B, D], the portfolio state (previous executed
        position, t/E, cumulative net return; each [B]) and hidden [B, hidden] ->
        (new hidden [B, hidden], position logits [B, A])."""
        # [B, 3]: the portfolio state known at close t.
        state = torch.stack([prev_position, day_fraction, cum_return], dim=-1)
        # [B, D] ++ [B, 3] -> [B, D + 3]
        hidden = self.cell(torch.cat([feature, state], dim=-1), hidden)
        return hidden, self.head(hidden)  # logits [B, A]

    def forward(
        self,
        features: Tensor,
        next_returns: Tensor,
        cost: CostConfig,
        training: bool | None = None,
        tau: float | None = None,
        prev_position: float | Tensor = 0.0,
        can_buy: Tensor | None = None,
        can_sell: Tensor | None = None,
        detach_feedback: bool = False,
    ) -> StrategyOutput:
        """Run the policy over a batch of episodes.

        Args:
            features: [B, E, D] frozen features; day t's feature must use data up to close t.
            next_returns: [B, E] ``next_returns[:, t] = r_{t+1}``. Used for the accounting of
                each day AFTER its decision and, for the portfolio-state input, only through
                days already past (``next_returns[:, :t]`` at day t).
            cost: the cost model (``CostConfig.preset(...)``).
            training: Gumbel-softmax sampling when True, argmax positions when False;
                defaults to ``self.training``.
            tau: Gumbel-softmax temperature; defaults to ``config.tau_start`` (see
                ``anneal_tau``).
            prev_position: position held before day 0, scalar or [B]; 0.0 starts in cash.
            can_buy / can_sell: [B, E] bool trade permissions (``Episodes.trade_flags(cost)``:
                False on suspended days and, when the cost model enforces limits, limit
                closes); None = every order fills. The last day also pays the exit sale when
                ``cost.charge_exit``.
            detach_feedback: stop gradients through the fed-back position and portfolio
                state (an ablation: the loss then cannot credit a decision with its effect
                on later days).
        """
        if features.dim() != 3 or features.shape[-1] != self.feature_dim:
            raise ValueError(
                f"StrategyGRU: features must be [B, E, D={self.feature_dim}], got "
                f"{tuple(features.shape)}"
            )
        batch, episode_len, _ = features.shape
        if tuple(next_returns.shape) != (batch, episode_len):
            raise ValueError(
                f"StrategyGRU: next_returns must be [B, E] = {(batch, episode_len)} to match "
                f"features, got {tuple(next_returns.shape)}"
            )
        training = self.training if training is None else training
        tau = self.config.tau_start if tau is None else tau
        run = self._forward_reference if self._hooked() else self._forward_fast
        if run == self._forward_fast and training and self.config.compile:
            run = self._compiled_fast()
            # A tensor, so a new temperature each step does not recompile.
            tau = torch.as_tensor(tau, dtype=features.dtype, device=features.device)
        return run(
            features,
            next_returns,
            cost,
            training,
            tau,
            prev_position,
            can_buy,
            can_sell,
            detach_feedback,
        )

    def _compiled_fast(self) -> Callable[..., StrategyOutput]:
        """``torch.compile(self._forward_fast)``, built on first use (``config.compile``)."""
        if "_compiled" not in self.__dict__:
            self.__dict__["_compiled"] = torch.compile(
                self._forward_fast, dynamic=False, mode=self.config.compile_mode
            )
        return self.__dict__["_compiled"]

    def __getstate__(self) -> dict:
        # The compiled function is rebuilt on first use: it neither pickles nor deep-copies.
        state = dict(super().__getstate__())
        state.pop("_compiled", None)
        return state

    def _hooked(self) -> bool:
        """True when a hook watches the cell or the head: only the reference path calls them
        once per day, so hooks (explainers, tests capturing a day's logits) see every day."""
        modules = (self.cell, *self.head.modules())
        return bool(
            nn.modules.module._global_forward_hooks
            or nn.modules.module._global_forward_pre_hooks
            or any(m._forward_hooks or m._forward_pre_hooks for m in modules)
        )

    def _position(self, logits: Tensor, training: bool, tau: float | Tensor) -> Tensor:
        """[B, A] logits -> [B] wanted position (Gumbel-softmax expectation or argmax)."""
        if training:
            probs = F.gumbel_softmax(logits, tau=tau, hard=self.config.hard)  # [B, A]
            return probs @ self.action_positions  # [B, A] @ [A] -> [B]
        return self.action_positions[logits.argmax(dim=-1)]  # [B]

    def _forward_reference(
        self,
        features: Tensor,
        next_returns: Tensor,
        cost: CostConfig,
        training: bool,
        tau: float,
        prev_position: float | Tensor,
        can_buy: Tensor | None,
        can_sell: Tensor | None,
        detach_feedback: bool,
    ) -> StrategyOutput:
        """The specification: ``step`` (GRUCell + head modules) once per day, inputs
        concatenated as the cell sees them. ``_forward_fast`` must equal it numerically."""
        batch, episode_len, _ = features.shape
        dtype, device = features.dtype, features.device
        prev = torch.as_tensor(prev_position, dtype=dtype, device=device).expand(batch)  # [B]
        cum_return = features.new_zeros(batch)  # [B] compounded net return of past days
        hidden = features.new_zeros(batch, self.config.hidden_size)  # [B, hidden]
        days = _Days(self, next_returns, cost, can_buy, can_sell, training, tau)
        for t in range(episode_len):
            fed_prev = prev.detach() if detach_feedback else prev
            fed_cum = cum_return.detach() if detach_feedback else cum_return
            day_fraction = features.new_full((batch,), t / episode_len)
            hidden, logits = self.step(features[:, t], fed_prev, day_fraction, fed_cum, hidden)
            prev, cum_return = days.settle(t, logits, fed_prev, fed_cum)
        return days.output()

    def _forward_fast(
        self,
        features: Tensor,
        next_returns: Tensor,
        cost: CostConfig,
        training: bool,
        tau: float | Tensor,
        prev_position: float | Tensor,
        can_buy: Tensor | None,
        can_sell: Tensor | None,
        detach_feedback: bool,
    ) -> StrategyOutput:
        """``_forward_reference`` with the work that does not depend on the recursion taken
        out of it (same weights, same Gumbel draws in the same order, same accounting):

        * the feature part of the GRU input projection, with the input bias and the t/E
          column folded in, is computed from the features alone, so autograd never computes a
          gradient for the [B, D] features (GRUCell on the concatenated input does, and throws
          it away); only the two fed-back columns (position, episode return) are added inside
          the recursion, a rank-2 update;
        * the head's first layer and the next day's hidden projection both read h_t, so they
          are ONE matmul h_t @ [W_hh; W_head1]^T per day instead of two (the last day runs the
          head alone);
        * the GRU gate arithmetic written out (PyTorch's GRUCell equations, r/z/n order);
        * with ``config.bf16`` in training on float32 inputs, the matmuls run in bfloat16
          autocast while the hidden state, positions and accounting stay float32.

        One [B*E, D] matmul for all days was tried and measured slower on CPU: its backward
        stacks E day-gradients into one [E, B, 3h] copy, which costs more than E matmuls.
        """
        batch, episode_len, dim = features.shape
        hidden_size = self.config.hidden_size
        dtype, device = features.dtype, features.device
        w_ih, w_hh = self.cell.weight_ih, self.cell.weight_hh  # [3h, D + 3], [3h, h]
        b_ih, b_hh = self.cell.bias_ih, self.cell.bias_hh  # [3h] each
        head1, head2 = self.head[0], self.head[2]
        # Input columns are [feature (D) | prev position | t/E | episode return], see step().
        w_feature = w_ih[:, :dim]  # [3h, D]
        w_prev, w_day, w_cum = w_ih[:, dim], w_ih[:, dim + 1], w_ih[:, dim + 2]  # [3h] each
        low = (
            torch.autocast(device.type, dtype=torch.bfloat16)
            if self.config.bf16 and training and dtype == torch.float32
            else nullcontext()
        )
        # [B, 3h] per day: the feature part of the input gates, with the input bias and the
        # t/E column (a constant per day) folded into the bias. Outside the recursion, so
        # features never get a gradient (GRUCell on the concatenated input would compute one).
        with low:
            input_gates = [
                F.linear(features[:, t], w_feature, b_ih + (t / episode_len) * w_day)
                for t in range(episode_len)
            ]
        # [2, 3h]: the fed-back columns (previous position, episode return).
        w_state = torch.stack([w_prev, w_cum], dim=0)
        # [3h + head_hidden, h]: what is read from h_t: next day's hidden gates + head layer 1.
        w_from_hidden = torch.cat([w_hh, head1.weight], dim=0)
        b_from_hidden = torch.cat([b_hh, head1.bias], dim=0)

        prev = torch.as_tensor(prev_position, dtype=dtype, device=device).expand(batch)  # [B]
        cum_return = features.new_zeros(batch)  # [B]
        hidden = features.new_zeros(batch, hidden_size)  # [B, h]
        # h_{-1} = 0, so day 0's hidden gates are the bias alone. [3h] -> [B, 3h]
        hidden_gates = b_hh.expand(batch, -1)
        days = _Days(self, next_returns, cost, can_buy, can_sell, training, tau)
        for t in range(episode_len):
            fed_prev = prev.detach() if detach_feedback else prev
            fed_cum = cum_return.detach() if detach_feedback else cum_return
            with low:  # (a no-op unless bf16 training)
                # 2 x [B] -> [B, 2]; [B, 2] @ [2, 3h] + [B, 3h] -> [B, 3h]
                gates_in = torch.addmm(
                    input_gates[t], torch.stack([fed_prev, fed_cum], dim=-1), w_state
                )
                i_rz, i_n = gates_in.split([2 * hidden_size, hidden_size], dim=-1)
                h_rz, h_n = hidden_gates.split([2 * hidden_size, hidden_size], dim=-1)
                reset, update = torch.sigmoid(i_rz + h_rz).chunk(2, dim=-1)  # [B, h] each
                candidate = torch.tanh(i_n + reset * h_n)
                hidden = candidate + update * (hidden - candidate)  # (1 - z) * n + z * h
                if t < episode_len - 1:
                    # [B, h] @ [h, 3h + head_hidden] -> [B, 3h + head_hidden]
                    from_hidden = F.linear(hidden, w_from_hidden, b_from_hidden)
                    hidden_gates, head_hidden = from_hidden.split(
                        [3 * hidden_size, from_hidden.shape[-1] - 3 * hidden_size], dim=-1
                    )
                else:  # no next day: the head alone
                    head_hidden = F.linear(hidden, head1.weight, head1.bias)  # [B, head_hidden]
                logits = F.linear(F.gelu(head_hidden), head2.weight, head2.bias)  # [B, A]
            logits = logits.to(dtype)  # positions are drawn from float32 logits, even under bf16
            prev, cum_return = days.settle(t, logits, fed_prev, fed_cum)
        return days.output()

    def extra_repr(self) -> str:
        return (
            f"feature_dim={self.feature_dim}, n_actions={self.config.n_actions}, "
            f"hard={self.config.hard}, num_params={self.num_params()}"
        )


@dataclass
class _Days:
    """What both forward paths do each day once the head has spoken: draw the wanted
    position, execute it through the accounting, record the day."""

    model: StrategyGRU
    next_returns: Tensor
    cost: CostConfig
    can_buy: Tensor | None
    can_sell: Tensor | None
    training: bool
    tau: float | Tensor
    record: tuple[list[Tensor], ...] = field(default_factory=lambda: ([], [], [], [], []))
    """Per-day executed positions, logits, net returns, costs, wanted positions."""

    def settle(
        self, t: int, logits: Tensor, fed_prev: Tensor, fed_cum: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Day t from its logits [B, A] and the fed-back state -> (executed position, episode
        return) fed into day t + 1; costs, price limits and the exit sale on the last day
        come from ``accounting.step_torch``."""
        wanted = self.model._position(logits, self.training, self.tau)
        net, cost_t, executed = step_torch(
            wanted,
            fed_prev,
            self.next_returns[:, t],
            self.cost,
            None if self.can_buy is None else self.can_buy[:, t],
            None if self.can_sell is None else self.can_sell[:, t],
            last_day=t == self.next_returns.shape[1] - 1,
        )
        for day, value in zip(self.record, (executed, logits, net, cost_t, wanted), strict=True):
            day.append(value)
        # r_{t+1} is realised at close t+1, so it enters the state from day t+1 on.
        return executed, (1.0 + fed_cum) * (1.0 + net) - 1.0

    def output(self) -> StrategyOutput:
        """The recorded days as a ``StrategyOutput``."""
        positions, logits, nets, costs, wanted = self.record
        # E x [B] -> [B, E]; E x [B, A] -> [B, E, A]
        return StrategyOutput(
            positions=torch.stack(positions, dim=1),
            logits=torch.stack(logits, dim=1),
            net_returns=torch.stack(nets, dim=1),
            costs=torch.stack(costs, dim=1),
            wanted=torch.stack(wanted, dim=1),
        )
