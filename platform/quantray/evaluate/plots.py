"""Comparison figures on the date axis, and learning curves.

``plot_calendar`` draws each method's equal-weight daily portfolio (``evaluate.calendar``)
as growth of 1 and drawdown, over the held-out dates, with each date shaded by the market
regime most of its open episodes were in; ``plot_positions`` the methods' mean position per
date on the same axis; ``plot_learning_curves`` the validation score of every method and
seed against env-days and training seconds used.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from quantray.config import REGIMES

from .calendar import drawdown

REGIME_COLOURS = dict(zip(REGIMES, ("#2ca02c", "#d62728", "#7f7f7f"), strict=True))

FIGURE_DPI = 110
"""Resolution of every report figure (PNG beside the Markdown report)."""


def save_figure(fig: plt.Figure, path: Path, dpi: int = FIGURE_DPI) -> None:
    """Lay out ``fig`` tightly, write it to ``path`` and close it (a report draws many
    figures in one process; pyplot keeps every unclosed one alive)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def _shade(ax: plt.Axes, regime: pd.Series | None) -> None:
    """Shade runs of equal regime labels (a Series indexed by date) behind ``ax``."""
    if regime is None or regime.empty:
        return
    labels = regime.to_numpy()
    dates = regime.index
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            end = dates[i] if i < len(labels) else dates[-1]
            ax.axvspan(
                dates[start],
                end,
                color=REGIME_COLOURS.get(labels[start], "white"),
                alpha=0.12,
                lw=0,
            )
            start = i


def _regime_legend(ax: plt.Axes, regime: pd.Series | None) -> None:
    if regime is None:
        return
    for name, colour in REGIME_COLOURS.items():
        ax.axvspan(np.nan, np.nan, color=colour, alpha=0.12, label=f"{name} (shaded)")


def plot_calendar(
    daily: dict[str, pd.Series], path: Path, *, regime: pd.Series | None = None
) -> None:
    """Growth of 1 (log scale) and drawdown of each method's daily series over its dates."""
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    _shade(top, regime)
    for name, series in daily.items():
        style = {"color": "black", "lw": 1.6, "ls": "--"} if name == "buy_and_hold" else {}
        top.plot(series.index, np.cumprod(1.0 + series.to_numpy()), label=name, **style)
        bottom.plot(series.index, -drawdown(series).to_numpy(), **style)
    _regime_legend(top, regime)
    top.set_yscale("log")
    top.set_ylabel("growth of 1 (equal weight across symbols)")
    top.set_title("held-out episodes on their own dates", fontsize=9)
    top.legend(fontsize=7, ncol=2)
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown")
    bottom.grid(alpha=0.3)
    save_figure(fig, path)


def plot_positions(
    positions: dict[str, pd.Series], path: Path, *, regime: pd.Series | None = None
) -> None:
    """Mean position per date (equal weight across the symbols traded that day)."""
    fig, ax = plt.subplots(figsize=(10, 4))
    _shade(ax, regime)
    for name, series in positions.items():
        ax.plot(series.index, series.to_numpy(), lw=0.9, label=name)
    _regime_legend(ax, regime)
    ax.set_ylabel("mean position (0 = cash, 1 = fully invested)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_learning_curves(curves: pd.DataFrame, path: Path, *, metric: str) -> None:
    """``metric`` vs env-days (left) and training seconds (right), one line per method and
    seed (columns method, seed, samples, train_seconds, metric)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (method, frame) in enumerate(curves.groupby("method", sort=False)):
        colour = colours[i % len(colours)]
        for j, (_seed, run) in enumerate(frame.groupby("seed")):
            label = method if j == 0 else None
            for ax, x in zip(axes, ("samples", "train_seconds"), strict=True):
                ax.plot(run[x], run[metric], marker="o", ms=3, color=colour, alpha=0.8, label=label)
    axes[0].set_xlabel("env-days seen in training")
    axes[1].set_xlabel("training seconds (validation excluded)")
    axes[0].set_ylabel(f"{metric} (pooled, validation episodes)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    save_figure(fig, path)
