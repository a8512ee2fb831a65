"""Stage-1 price model: a pre-norm MLA Transformer over a window of daily features.

x [B, L, F] -> input_proj -> n_layers x Block(RMSNorm -> MLA, RMSNorm -> FFN) -> RMSNorm
-> last day's hidden state [B, D] -> feature_head (Linear + tanh) = strategy feature [B, D]
-> price_head (Linear) = next-H-day returns relative to the last close [B, H].

Only the last day's row feeds the heads, so the last block computes only that row (its keys
and values still cover the whole window); ``hidden_states`` runs every row for analysis.

The price head reads the feature vector, so the frozen features handed to stage 2 carry
exactly the information the price forecast used. Attention is bidirectional over the window
(it contains only days <= t), and the last day's state, which has attended to the whole window,
is the summary. Feature values are bounded in (-1, 1) by the tanh, which keeps stage-2 and RL
observations well scaled.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import NamedTuple

import torch
from torch import nn

from quantray.config import PriceModelConfig
from quantray.config.data import HORIZON, WINDOW
from quantray.models.attention import MLA
from quantray.models.ffn import GeGLU, MoE, SwiGLU
from quantray.models.norm import RMSNorm
from quantray.models.params import count_params
from quantray.models.rope import precompute_freqs_cis


class PriceOutput(NamedTuple):
    """What :meth:`PriceTransformer.forward` returns."""

    returns: torch.Tensor
    """[B, H] predicted close_{t+h} / close_t - 1 for h = 1..H."""
    features: torch.Tensor
    """[B, D] strategy feature of day t (the window's last day)."""
    aux_loss: torch.Tensor
    """Scalar MoE load-balancing loss, already multiplied by ``moe_aux_weight`` and averaged
    over layers; add it to the price loss. Exactly 0 for dense FFNs. (The last block routes
    only the last day's tokens, the only ones it computes, so its balance is over those.)"""


def build_ffn(config: PriceModelConfig) -> nn.Module:
    """The feed-forward module named by ``config.ffn``."""
    if config.ffn == "swiglu":
        return SwiGLU(config.d_model, config.ffn_hidden)
    if config.ffn == "geglu":
        return GeGLU(config.d_model, config.ffn_hidden)
    return MoE(config.d_model, config.ffn_hidden, config.num_experts, config.top_k)


class Block(nn.Module):
    """Pre-norm residual block: ``x + attn(norm(x))`` then ``x + ffn(norm(x))``."""

    def __init__(self, config: PriceModelConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(config.d_model)
        self.attn = MLA(config)
        self.ffn_norm = RMSNorm(config.d_model)
        self.ffn = build_ffn(config)
        # Identity when p == 0 so the default config launches no dropout kernels at all.
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()

    def forward(
        self, x: torch.Tensor, freqs_cis: torch.Tensor, last_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [B, L, D] -> (x [B, Lq, D], unweighted MoE aux loss or None for dense FFNs).

        Lq = L, or 1 with ``last_only``: only the last day's row is computed (attention still
        reads the whole window), for a final block whose other rows nobody reads.
        """
        attn = self.attn(self.attn_norm(x), freqs_cis, last_query_only=last_only)
        return self.feed_forward((x[:, -1:] if last_only else x) + self.dropout(attn))

    def feed_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The block's second half, x [B, Lq, D] (after attention's residual) -> as forward."""
        h = self.ffn(self.ffn_norm(x))
        aux = None
        if isinstance(h, tuple):  # MoE returns (y, aux)
            h, aux = h
        return x + self.dropout(h), aux


class PriceTransformer(nn.Module):
    """Stage-1 price model; see the module docstring for the architecture.

    ``forward(x [B, L, F]) -> PriceOutput(returns [B, H], features [B, D], aux_loss [])``
    for any window length 1 <= L <= ``window``. ``window`` (L) and ``horizon`` (H) are the
    data's geometry (``DataConfig.window`` / ``horizon``, whose defaults they default to;
    ``PriceRunSpec.new_model`` passes a run's): the RoPE tables cover L positions and the
    price head predicts H returns.
    """

    def __init__(
        self, config: PriceModelConfig, *, window: int = WINDOW, horizon: int = HORIZON
    ) -> None:
        super().__init__()
        if window < 1 or horizon < 1:
            raise ValueError(
                f"PriceTransformer: window and horizon must be >= 1, got {window} and {horizon}"
            )
        self.config = config
        self.window = window
        """L: the window length the model reads (at most; ``encode_rows`` reads exactly L)."""
        self.horizon = horizon
        """H: days ahead the price head predicts."""
        self.input_proj = nn.Linear(config.n_features, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model)
        self.feature_head = nn.Linear(config.d_model, config.d_model)
        self.price_head = nn.Linear(config.d_model, horizon)
        freqs_cis = precompute_freqs_cis(config.qk_rope_head_dim, window, config.rope_theta)
        # Not persistent: rebuilt from the window, so checkpoints hold only learned weights.
        self.register_buffer("freqs_cis", freqs_cis, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 style init: N(0, 0.02) weights, zero biases, residual outputs scaled by
        1/sqrt(2 * n_layers) so the residual stream's variance does not grow with depth, and a
        zero price head so training starts from the zero-return forecast."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, param in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(param)
            elif name.endswith("bias"):
                nn.init.zeros_(param)
            elif name.endswith(("attn.wo.weight", "ffn.w2.weight", "ffn.w2")):
                nn.init.normal_(param, std=residual_std)
            else:
                nn.init.normal_(param, std=0.02)
        nn.init.zeros_(self.price_head.weight)

    def _check_input(self, x: torch.Tensor) -> None:
        cfg = self.config
        if x.ndim != 3 or x.shape[-1] != cfg.n_features:
            raise ValueError(
                f"PriceTransformer expects x of shape [batch, window, {cfg.n_features}], got "
                f"{tuple(x.shape)}. Build windows with quantray.data (features[t-L+1..t]) or set "
                f"PriceModelConfig.n_features to the feature count."
            )
        if not 1 <= x.shape[1] <= self.window:
            raise ValueError(
                f"PriceTransformer: window length {x.shape[1]} is outside [1, {self.window}]; "
                f"RoPE tables cover window={self.window} days. Pass shorter windows or build "
                f"the model with a longer window (DataConfig.window)."
            )

    def _run_blocks(self, x: torch.Tensor, all_days: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, L, F] -> (residual stream [B, L or 1, D] before the final norm, aux loss [])."""
        self._check_input(x)
        h = self.input_proj(x)  # [B, L, F] -> [B, L, D]
        aux_total = h.new_zeros((), dtype=torch.float32)
        n_moe = 0
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            # The heads read only day t, so the last block computes only that row: its
            # queries, output projection and FFN shrink from L rows to 1 (same result).
            h, aux = block(h, self.freqs_cis, last_only=not all_days and i == last)
            if aux is not None:
                aux_total = aux_total + aux
                n_moe += 1
        if n_moe:
            aux_total = aux_total * (self.config.moe_aux_weight / n_moe)
        return h, aux_total

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """Final-normed hidden states of every day, x [B, L, F] -> [B, L, D] (for analysis;
        ``forward`` and ``encode`` compute only the last day's row of the last block)."""
        h, _ = self._run_blocks(x, all_days=True)
        return self.norm(h)

    def _heads(self, h: torch.Tensor) -> torch.Tensor:
        """Residual stream [B, Lq, D] -> strategy features [B, D] of the last day."""
        return torch.tanh(self.feature_head(self.norm(h[:, -1])))  # [B, Lq, D] -> [B, D]

    def forward(self, x: torch.Tensor) -> PriceOutput:
        """x [B, L, F] normalised features of days t-L+1..t -> PriceOutput."""
        h, aux = self._run_blocks(x, all_days=False)
        features = self._heads(h)  # last day t: [B, D]
        returns = self.price_head(features)  # [B, D] -> [B, H]
        return PriceOutput(returns=returns, features=features, aux_loss=aux)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Strategy feature of each window's last day, x [B, L, F] -> [B, D], without grad.

        Uses the model's current mode; call ``.eval()`` first for deterministic features.
        """
        h, _ = self._run_blocks(x, all_days=False)
        return self._heads(h)

    @torch.no_grad()
    def encode_rows(self, table: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """``encode`` of the windows ending at rows ``ends`` [B] of ``table`` [S, F]: the same
        features as ``encode(table[ends[:, None] + arange(-L + 1, 1)])`` -> [B, D]. Every
        window must lie inside ``table`` and within one symbol (consecutive panel rows).

        A one-layer model does its per-day work (input projection, attention norm, queries,
        keys, values) once per row of ``table`` instead of once per window: windows ending on
        neighbouring days share L - 1 of their days, and with RoPE a query-key score depends
        on the two days only through their distance, the same in every window holding both
        (positions are counted from the table's first row instead of the window's). The
        windows' attention is one banded attention of the B last days over the table's rows;
        the FFN and the heads run per window. For runs of consecutive rows, as the export
        passes them (at most B + 2L table rows); deeper models, whose later layers read
        window-dependent inputs, and scattered rows gather the windows and call ``encode``."""
        window = self.window
        ends = torch.as_tensor(ends, dtype=torch.long, device=table.device)
        if len(self.blocks) != 1 or len(table) > len(ends) + 2 * window:
            # Deeper model, or rows too scattered for one banded attention over the table.
            offsets = torch.arange(-window + 1, 1, device=table.device)  # [L]
            return self.encode(table[ends[:, None] + offsets])  # [B, L] rows -> [B, L, F]
        block = self.blocks[0]
        h = self.input_proj(table)[None]  # [S, F] -> [1, S, D]
        freqs = precompute_freqs_cis(
            self.config.qk_rope_head_dim, len(table), self.config.rope_theta
        ).to(table.device)  # [S, dr/2]: position = row in the table
        q, k, v = block.attn.qkv(block.attn_norm(h), freqs)  # [1, S, nH, d] each
        # Query b (the last day of window b) reads rows ends[b] - L + 1 .. ends[b]: a band.
        rows = torch.arange(len(table), device=table.device)  # [S]
        lag = ends[:, None] - rows  # [B, S] days from each key back to the query
        band = (lag >= 0) & (lag < window)  # [B, S]
        attn = block.attn.attend(q[:, ends], k, v, band)  # [1, B, D]
        x, _ = block.feed_forward(h[:, ends] + block.dropout(attn))  # [1, B, D]
        return self._heads(x[0, :, None])  # [1, B, D] -> [B, 1, D] -> [B, D]

    def num_params(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or only those with requires_grad)."""
        return count_params(self, trainable_only)


def returns_to_prices(returns: torch.Tensor, last_close: torch.Tensor) -> torch.Tensor:
    """Predicted returns [B, H] and the window's last close [B] -> predicted closes [B, H]."""
    if last_close.shape != returns.shape[:1]:
        raise ValueError(
            f"last_close must have shape [B]={tuple(returns.shape[:1])} to match returns "
            f"{tuple(returns.shape)}, got {tuple(last_close.shape)}"
        )
    return last_close[:, None] * (1.0 + returns)  # [B] -> [B, 1] broadcast over H


def param_group(name: str) -> str:
    """Group of a parameter name for :func:`grad_norms`.

    ``input_proj`` | ``blocks.N.attn`` (incl. attn_norm) | ``blocks.N.ffn`` (incl. ffn_norm)
    | ``heads`` (final norm, feature_head, price_head).
    """
    parts = name.split(".")
    if parts[0] == "blocks":
        sub = "attn" if parts[2].startswith("attn") else "ffn"
        return f"blocks.{parts[1]}.{sub}"
    if parts[0] in ("norm", "feature_head", "price_head"):
        return "heads"
    return parts[0]


def grad_norms(model: nn.Module) -> dict[str, float]:
    """L2 norm of the gradients per parameter group (see :func:`param_group`) plus "total".

    Call after ``backward()``; parameters without a gradient are skipped. Handy to spot a
    vanishing block or an exploding head. Accepts the model wrapped by DDP or torch.compile.
    One device-to-host copy in total, not one per parameter.
    """
    inner = model
    while hasattr(inner, "module") or hasattr(inner, "_orig_mod"):  # DDP / compile wrappers
        inner = getattr(inner, "module", None) or inner._orig_mod
    groups: list[str] = []
    squares: list[torch.Tensor] = []
    for name, param in inner.named_parameters():
        if param.grad is not None:
            groups.append(param_group(name))
            squares.append(param.grad.detach().float().pow(2).sum())
    totals: dict[str, float] = defaultdict(float)
    for group, sq in zip(groups, torch.stack(squares).tolist() if squares else [], strict=True):
        totals[group] += sq
    norms = {group: math.sqrt(sq) for group, sq in totals.items()}
    norms["total"] = math.sqrt(sum(totals.values()))
    return norms
