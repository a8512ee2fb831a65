"""Figures for explain reports: attention heatmaps, attention by lag, decision attributions
and their aggregate by market regime (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from quantray.evaluate.plots import save_figure
from quantray.explain.attribution import STATE_NAMES, Attribution


def _date_ticks(ax, dates: np.ndarray, axis: str, n: int = 6) -> None:
    idx = np.unique(np.linspace(0, len(dates) - 1, n).astype(int))
    labels = [str(dates[i])[:10] for i in idx]
    if axis in ("x", "both"):
        ax.set_xticks(idx, labels, rotation=45, ha="right", fontsize=6)
    if axis in ("y", "both"):
        ax.set_yticks(idx, labels, fontsize=6)


def plot_attention(weights: np.ndarray, dates: np.ndarray, title: str, path: Path) -> Path:
    """Heatmaps of one window's attention, weights [n_layers, nH, L, L], one per layer and
    head: rows are query days, columns key days, both labelled with dates."""
    n_layers, n_heads = weights.shape[:2]
    fig, axes = plt.subplots(
        n_layers, n_heads, figsize=(2.6 * n_heads + 0.6, 2.5 * n_layers + 0.6), squeeze=False
    )
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            image = ax.imshow(weights[layer, head], aspect="auto", cmap="viridis")
            ax.set_title(f"layer {layer} head {head}", fontsize=7)
            _date_ticks(ax, dates, "both", n=4)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=5)
    fig.suptitle(title, fontsize=8)
    save_figure(fig, path, dpi=70)
    return path


def plot_lag_profile(lag: np.ndarray, n_windows: int, path: Path) -> Path:
    """Mean attention of day t by lag, lag [n_layers, nH, L], one line per layer and head."""
    fig, ax = plt.subplots(figsize=(6, 3))
    lags = np.arange(lag.shape[-1])
    for layer in range(lag.shape[0]):
        for head in range(lag.shape[1]):
            ax.plot(lags, lag[layer, head], lw=1, label=f"L{layer} H{head}")
    ax.axhline(1.0 / lag.shape[-1], color="grey", ls=":", lw=1, label="uniform")
    for mark, name in ((5, "week"), (21, "month"), (63, "quarter")):
        if mark < lag.shape[-1]:
            ax.axvline(mark, color="grey", lw=0.5)
            ax.text(mark, ax.get_ylim()[1], name, fontsize=6, va="top")
    ax.set_xlabel("lag (trading days before day t)")
    ax.set_ylabel("mean attention weight")
    ax.set_title(f"Where day t looks, averaged over {n_windows} windows", fontsize=8)
    ax.legend(fontsize=5, ncol=2)
    save_figure(fig, path, dpi=80)
    return path


def plot_decision(
    attribution: Attribution,
    dates: np.ndarray,
    feature_names: tuple[str, ...],
    title: str,
    path: Path,
    last_days: int = 60,
) -> Path:
    """Raw-feature attributions of one decision over its last ``last_days`` input days
    (heatmap, dates on the x axis) and the totals per input (bars)."""
    raw = attribution.raw[-last_days:]  # [days, F]
    shown = dates[-len(raw) :]
    totals = attribution.totals(feature_names)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [2.2, 1]})
    bound = float(np.abs(raw).max()) or 1.0
    image = ax0.imshow(raw.T, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound)
    ax0.set_yticks(range(len(feature_names)), feature_names, fontsize=6)
    _date_ticks(ax0, shown, "x")
    ax0.set_title("contribution per input day and raw feature", fontsize=8)
    fig.colorbar(image, ax=ax0, fraction=0.03)
    names = list(feature_names) + list(STATE_NAMES)
    values = np.array([totals[n] for n in names])
    colors = ["tab:red" if v > 0 else "tab:blue" for v in values]
    ax1.barh(range(len(names)), values, color=colors)
    ax1.set_yticks(range(len(names)), names, fontsize=6)
    ax1.invert_yaxis()
    ax1.axvline(0, color="black", lw=0.5)
    ax1.set_title("total contribution to the position", fontsize=8)
    fig.suptitle(title, fontsize=8)
    save_figure(fig, path, dpi=80)
    return path


def plot_regimes(table: dict[str, np.ndarray], names: list[str], path: Path) -> Path:
    """Mean contribution per input (rows of ``names``) for each regime (grouped bars)."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / max(1, len(table))
    x = np.arange(len(names))
    for i, (regime, values) in enumerate(table.items()):
        ax.bar(x + i * width, values, width, label=regime)
    ax.set_xticks(x + 0.4 - width / 2, names, rotation=45, ha="right", fontsize=6)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("mean contribution to the episode's mean position")
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=80)
    return path
