"""Why did the strategy take that position? Integrated gradients through both stages.

A stage-2 decision on day t of an episode depends on the 11 raw features of the L + t days
before it (each day's frozen feature is the stage-1 encoder applied to its L-day window), on
the position fed back from the day before and on the episode's cumulative net return. The
chain is differentiable except where the strategy picks its discrete position (argmax at
evaluation, Gumbel-softmax in training), so the attributed scalar is

    **the expected position under the head's softmax at the final Gumbel temperature**,
    ``softmax(logits_t / tau_min) @ levels`` (levels 0, 0.1, ..., 1 from the strategy),

which tends to the argmax position as tau -> 0; the executed (argmax) position is reported
next to it. The portfolio state the policy read (previous executed position and cumulative
net return of each day) is an input of its own, held at the values the episode actually
produced, so a raw feature is credited with its effect through the GRU's memory and the
state columns with the effect of the fed-back position (not the effect raw features had on
earlier positions: those went through an argmax and carry no gradient).

Attribution method: ``captum.attr.IntegratedGradients`` (Sundararajan et al. 2017), in
float64, Gauss-Legendre quadrature. **Baselines**: raw features 0, i.e. every feature at
its training-split mean (features are normalised with training statistics), an average
market day; previous position 0 (cash) and cumulative return 0. Completeness: the
attributions sum to output(input) - output(baseline) up to the quadrature error, which
:class:`Attribution` records as ``delta``.

Two views of the same decision share that baseline: ``raw`` (inputs: raw features and
portfolio state, through encoder and GRU) and ``feature`` (inputs: the [D] stage-1 feature
vectors and portfolio state, through the GRU only; its baseline features are the encoder's
output on the baseline windows, so both views explain the same output difference).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients
from torch import Tensor, nn

from quantray.config import CostConfig
from quantray.models.price_transformer import PriceTransformer
from quantray.models.strategy_gru import StrategyGRU

STATE_NAMES = ("previous position", "cumulative return")
"""Portfolio-state inputs attributed next to the raw features (day-in-episode is a clock
and is held fixed)."""


class DecisionModel(nn.Module):
    """raw features -> frozen encoder -> GRU -> expected position (see the module docstring).

    ``forward(raw [B, L+T-1, F], state [B, T, 2]) -> [B]`` where T = ``day + 1`` days of the
    episode are played; the output is the expected position of day ``day``, or, with
    ``day=None``, the mean expected position over all T = E days.
    """

    def __init__(
        self,
        encoder: PriceTransformer,
        strategy: StrategyGRU,
        episode_len: int,
        day: int | None,
        tau: float,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.strategy = strategy
        self.window = encoder.window
        self.episode_len = episode_len
        self.day = day
        self.tau = tau

    @property
    def n_days(self) -> int:
        """T: episode days the policy plays before the attributed output."""
        return self.episode_len if self.day is None else self.day + 1

    def features(self, raw: Tensor) -> Tensor:
        """raw [B, L+T-1, F] -> frozen features [B, T, D] of the episode's first T days."""
        batch, _, n_feat = raw.shape
        windows = raw.unfold(1, self.window, 1)  # [B, T, F, L]
        windows = windows.transpose(2, 3).reshape(-1, self.window, n_feat)  # [B*T, L, F]
        feats = self.encoder(windows).features
        return feats.view(batch, -1, feats.shape[-1])  # [B*T, D] -> [B, T, D]

    def logits(self, feats: Tensor, state: Tensor) -> Tensor:
        """Frozen features [B, T, D] and state [B, T, 2] -> position logits [B, T, A]."""
        batch, n_days, _ = feats.shape
        hidden = feats.new_zeros(batch, self.strategy.config.hidden_size)
        out = []
        for t in range(n_days):
            clock = feats.new_full((batch,), t / self.episode_len)
            hidden, logits = self.strategy.step(
                feats[:, t], state[:, t, 0], clock, state[:, t, 1], hidden
            )
            out.append(logits)
        return torch.stack(out, dim=1)  # T x [B, A] -> [B, T, A]

    def policy(self, feats: Tensor, state: Tensor) -> Tensor:
        """Frozen features [B, T, D] and state [B, T, 2] -> the attributed scalar [B]."""
        probs = (self.logits(feats, state) / self.tau).softmax(dim=-1)  # [B, T, A]
        expected = probs @ self.strategy.action_positions.to(probs.dtype)  # [B, T]
        return expected[:, -1] if self.day is not None else expected.mean(dim=1)

    def forward(self, raw: Tensor, state: Tensor) -> Tensor:
        return self.policy(self.features(raw), state)


@dataclass(frozen=True)
class Episode:
    """One played episode: the inputs a decision model reads and what the strategy did."""

    raw: Tensor
    """[L+E-1, F] normalised raw features of the episode's first window and its days."""
    state: Tensor
    """[E, 2] previous executed position and cumulative net return the policy read each day."""
    positions: np.ndarray
    """[E] executed (argmax) positions."""
    logits: Tensor
    """[E, A] position logits of the played episode."""


@torch.no_grad()
def play_episode(
    encoder: PriceTransformer,
    strategy: StrategyGRU,
    normalized: np.ndarray,
    start_row: int,
    next_returns: np.ndarray,
    cost: CostConfig,
    can_buy: np.ndarray | None = None,
    can_sell: np.ndarray | None = None,
) -> Episode:
    """Run the evaluation policy (argmax positions) over the episode starting at panel row
    ``start_row``: ``normalized`` [N, F] raw features, ``next_returns`` [E] of the episode's
    days and, where orders can be refused (limits, suspensions), the episode's [E] trade
    permissions from ``Panel.trade_flags(cost)``."""
    episode_len, window = len(next_returns), encoder.window
    rows = np.arange(start_row - window + 1, start_row + episode_len)  # [L+E-1]
    raw = torch.from_numpy(np.ascontiguousarray(normalized[rows], dtype=np.float32))
    model = DecisionModel(encoder.eval(), strategy.eval(), episode_len, None, 1.0)
    feats = model.features(raw[None])  # [1, E, D]
    out = strategy(
        feats,
        torch.from_numpy(next_returns[None].astype(np.float32)),
        cost,
        training=False,
        can_buy=None if can_buy is None else torch.from_numpy(np.asarray(can_buy)[None]),
        can_sell=None if can_sell is None else torch.from_numpy(np.asarray(can_sell)[None]),
    )
    positions = out.positions[0]  # [E]
    prev = torch.cat([positions.new_zeros(1), positions[:-1]])  # held before each day
    growth = torch.cumprod(1.0 + out.net_returns[0], dim=0)  # [E]
    cum = torch.cat([growth.new_zeros(1), growth[:-1] - 1.0])  # known at each close
    state = torch.stack([prev, cum], dim=-1)  # [E, 2]
    return Episode(raw, state, positions.double().numpy(), out.logits[0])


@dataclass(frozen=True)
class Attribution:
    """Integrated-gradients attributions of one decision (or one episode's mean position)."""

    raw: np.ndarray
    """[L+T-1, F] contribution of each raw feature on each input day (raw view)."""
    state: np.ndarray
    """[T, 2] contribution of the previous position / cumulative return fed each day."""
    feature_vector: np.ndarray
    """[T, D] contribution of each stage-1 feature vector entry (feature view)."""
    feature_state: np.ndarray
    """[T, 2] the state's contribution in the feature view."""
    output: float
    """The attributed scalar at the actual inputs."""
    baseline_output: float
    """The attributed scalar at the baseline."""
    delta: float
    """Completeness error of the raw view: sum of attributions - (output - baseline)."""

    def totals(self, feature_names: tuple[str, ...]) -> dict[str, float]:
        """Contribution per raw feature (summed over days) and per state input (raw view)."""
        totals = dict(zip(feature_names, self.raw.sum(axis=0).tolist(), strict=True))
        totals.update(zip(STATE_NAMES, self.state.sum(axis=0).tolist(), strict=True))
        return totals


def attribute(
    encoder: PriceTransformer,
    strategy: StrategyGRU,
    episode: Episode,
    day: int | None,
    n_steps: int = 32,
) -> Attribution:
    """Integrated gradients of day ``day``'s expected position (or, ``day=None``, the mean
    expected position over the episode) with respect to the raw features and portfolio state
    (raw view) and to the frozen features and state (feature view).

    Runs on float64 copies of both models; the originals are untouched.
    """
    enc = copy.deepcopy(encoder).double().eval()
    gru = copy.deepcopy(strategy).double().eval()
    episode_len = episode.state.shape[0]
    if day is not None and not 0 <= day < episode_len:
        raise ValueError(f"attribute: day must be in [0, {episode_len}), got {day}")
    model = DecisionModel(enc, gru, episode_len, day, gru.config.tau_min)
    n_days = model.n_days
    raw = episode.raw[None, : enc.window + n_days - 1].double()  # [1, L+T-1, F]
    state = episode.state[None, :n_days].double()  # [1, T, 2]
    raw0, state0 = torch.zeros_like(raw), torch.zeros_like(state)
    for p in model.parameters():
        p.requires_grad_(False)

    ig = IntegratedGradients(model)
    (a_raw, a_state), delta = ig.attribute(
        (raw, state),
        baselines=(raw0, state0),
        n_steps=n_steps,
        internal_batch_size=n_steps,
        return_convergence_delta=True,
    )
    with torch.no_grad():
        feats, feats0 = model.features(raw), model.features(raw0)
        output, baseline_output = float(model(raw, state)), float(model(raw0, state0))
    f_feat, f_state = IntegratedGradients(model.policy).attribute(
        (feats, state), baselines=(feats0, state0), n_steps=n_steps
    )
    return Attribution(
        raw=a_raw[0].numpy(),
        state=a_state[0].numpy(),
        feature_vector=f_feat[0].numpy(),
        feature_state=f_state[0].numpy(),
        output=output,
        baseline_output=baseline_output,
        delta=float(delta),
    )


def describe_decision(
    date: str,
    positions: np.ndarray,
    day: int,
    attribution: Attribution,
    feature_names: tuple[str, ...],
    top: int = 3,
) -> str:
    """One sentence: what the position did on ``date`` and the largest contributions."""
    before = 0.0 if day == 0 else float(positions[day - 1])
    after = float(positions[day])
    totals = attribution.totals(feature_names)
    ranked = sorted(totals.items(), key=lambda kv: -abs(kv[1]))[:top]
    parts = ", ".join(f"{name} ({value:+.3f})" for name, value in ranked)
    verb = "stayed at" if before == after else f"went from {before:.0%} to"
    return (
        f"On {date} the position {verb} {after:.0%} (attributed: the expected position at "
        f"tau_min, {attribution.output:.0%}, vs {attribution.baseline_output:.0%} at the "
        f"baseline); the largest contributions were {parts}."
    )
