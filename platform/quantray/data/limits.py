"""Which days an order can fill: suspensions and exchange price limits.

An order placed at the close of day t fills unless (design.md section 3):

* day t is a **suspension**: zero volume (``validate``'s zero-volume policy keeps such days in
  the calendar). Neither side fills. A symbol whose volume is zero on EVERY day carries no
  volume data (index files often do): its days all count as tradable.
* day t closed **limit-up** (no buy fills) or **limit-down** (no sell fills), when the cost
  model enforces price limits (``CostConfig.enforce_price_limit``).

Limit closes, for a symbol whose code names a China A-share board (``board_of``):

* the limit comes from the board: main boards 10%, ChiNext (300xxx, 301xxx) and STAR (688xxx,
  689xxx) 20%, Beijing (8xxxxx, 4xxxxx, 920xxx) 30%, main-board ST stocks 5% (codes listed in
  ``CostConfig.st_codes``); index codes (sh000xxx, 399xxx, 899xxx) have no limit;
* with the UNADJUSTED close (``close_unadj`` column): the exchange rule. The limit price is
  ``round_half_up(prev_close_unadj * (1 +- limit), 0.01)``, computed in integer cents, and a
  close at (or beyond) it is a limit close: 10.03 -> 11.03 is limit-up (11.033 rounds to
  11.03), which a return rule with a 1e-6 tolerance misses;
* without it (back-adjusted prices only): the return rule below, at the board's limit.

Every other symbol uses the return rule at ``CostConfig.price_limit`` (None: no limit):
``r_t >= limit - LIMIT_TOLERANCE`` is limit-up, ``r_t <= -(limit - LIMIT_TOLERANCE)``
limit-down, where ``r_t`` is the return INTO day t (known at its close).

Not modelled: the first trading days of a new listing (no or wider limits), the 2020 change
of ChiNext from 10% to 20% (the code's current board applies to all its history), limits of
funds, bonds and B shares (they get the flat ``price_limit``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from quantray.config import CostConfig

if TYPE_CHECKING:
    from torch import Tensor

ArrayT = TypeVar("ArrayT", np.ndarray, "Tensor")

LIMIT_TOLERANCE = 1e-6
"""Return rule: a close counts as limit-up when its return is >= limit - LIMIT_TOLERANCE."""

BOARD_LIMITS: dict[str, float | None] = {
    "main": 0.10,
    "chinext": 0.20,
    "star": 0.20,
    "beijing": 0.30,
    "st": 0.05,
    "index": None,
}
"""Daily limit of each China A-share board (``board_of``); index codes have none."""

_CODE = re.compile(r"^(SH|SZ|BJ|SS)?[.]?(\d{6})(?:[.](SH|SZ|BJ|SS))?$")


def china_code(symbol: str) -> tuple[str | None, str] | None:
    """``(exchange or None, six digits)`` for a China A-share style code, else None.

    Accepts ``600000``, ``sh600000``, ``SH.600000``, ``600000.SH`` (``.SS`` = Shanghai)."""
    match = _CODE.match(symbol.strip().upper())
    if match is None:
        return None
    exchange = match.group(1) or match.group(3)
    return ("SH" if exchange == "SS" else exchange), match.group(2)


def board_of(symbol: str, st_codes: tuple[str, ...] = ()) -> str | None:
    """The China A-share board of ``symbol`` ("main", "chinext", "star", "beijing", "st",
    "index"), or None when the code names no board (other markets, funds, bonds)."""
    parsed = china_code(symbol)
    if parsed is None:
        return None
    exchange, code = parsed
    if code.startswith("399") or code.startswith("899") or (exchange == "SH" and code[0] == "0"):
        return "index"  # SZSE / BSE indices; SSE indices (000001 on SH is the Composite)
    st = {c for s in st_codes if (c := china_code(s)) is not None and c[1] == code}
    if code[:3] in ("300", "301"):
        return "chinext"
    if code[:3] in ("688", "689"):
        return "star"
    if code[:3] == "920" or code[0] in ("8", "4"):
        return "beijing"
    if code[:3] in ("600", "601", "603", "605", "000", "001", "002", "003"):
        return "st" if st else "main"
    return None


def limit_prices(
    prev_close: np.ndarray, limit: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exchange limit prices in integer cents: ``round_half_up(prev_close * (1 +- limit), 0.01)``.

    Integer arithmetic (prices and the limit are whole cents and whole percent), so 11.033 ->
    11.03 and 11.055 -> 11.06 exactly, with no float rounding surprises. Returns
    ``(up_cents, down_cents)`` int64 of ``prev_close``'s shape (``limit`` broadcasts)."""
    cents = np.rint(np.asarray(prev_close, dtype=np.float64) * 100.0).astype(np.int64)
    percent = np.rint(np.asarray(limit, dtype=np.float64) * 100.0).astype(np.int64)
    up = (cents * (100 + percent) + 50) // 100
    down = (cents * (100 - percent) + 50) // 100
    return up, down


def limit_flags(prev_day_returns: ArrayT, price_limit: float | None) -> tuple[ArrayT, ArrayT]:
    """The return rule: which days closed at the daily limit ``price_limit``.

    ``prev_day_returns[..., t]`` must be ``r_t``, the return INTO day t (close_t/close_{t-1} -
    1), known at the close of day t. Works on NumPy arrays and torch tensors alike. Returns
    boolean ``(limit_up, limit_down)`` of the same shape; all False when ``price_limit`` is
    None (NaN returns compare False: no limit).
    """
    if price_limit is None:
        if not isinstance(prev_day_returns, np.ndarray):
            import torch

            none = torch.zeros_like(prev_day_returns, dtype=torch.bool)
            return none, none.clone()
        none_np = np.zeros(np.shape(prev_day_returns), dtype=bool)
        return none_np, none_np.copy()
    threshold = price_limit - LIMIT_TOLERANCE
    with np.errstate(invalid="ignore"):
        return prev_day_returns >= threshold, prev_day_returns <= -threshold


def symbol_limits(
    symbols: tuple[str, ...] | list[str], cost: CostConfig
) -> tuple[list[float | None], list[bool]]:
    """Per symbol: its daily limit (None: no limit) and whether the exchange's rounded-price
    rule applies to it (a China A-share board code). Limits are None for every symbol when the
    cost model does not enforce price limits."""
    limits: list[float | None] = []
    exchange_rule: list[bool] = []
    for symbol in symbols:
        board = board_of(symbol, cost.st_codes)
        if not cost.enforce_price_limit:
            limits.append(None)
        else:
            limits.append(cost.price_limit if board is None else BOARD_LIMITS[board])
        exchange_rule.append(board is not None and board != "index")
    return limits, exchange_rule


def trade_permissions(
    symbol_id: np.ndarray,
    symbols: tuple[str, ...] | list[str],
    prev_returns: np.ndarray,
    close_unadj: np.ndarray,
    prev_close_unadj: np.ndarray,
    tradable: np.ndarray,
    cost: CostConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """``(can_buy, can_sell)``: may an order placed at day t's close raise / lower the position?

    Args:
        symbol_id: [...] int index into ``symbols`` of each day (broadcasts to the others).
        symbols: the symbol names (their codes pick the board).
        prev_returns: [...] r_t, the return into day t (NaN when unknown: no limit).
        close_unadj / prev_close_unadj: [...] unadjusted close of day t / t-1, NaN when the
            data has none (then the return rule is used).
        tradable: [...] bool, False on a suspended (zero-volume) day.
        cost: the cost model (``enforce_price_limit``, ``price_limit``, ``st_codes``).

    Returns two bool arrays of the days' shape: False where that side cannot fill.
    """
    shape = np.broadcast_shapes(np.shape(symbol_id), np.shape(prev_returns))
    limits, exchange_rule = symbol_limits(symbols, cost)
    # Per symbol -> per day by gathering: [S] -> [...]; NaN limit = no limit.
    limit = np.array([np.nan if x is None else x for x in limits], dtype=np.float64)[symbol_id]
    limit = np.broadcast_to(limit, shape)
    with np.errstate(invalid="ignore"):
        threshold = limit - LIMIT_TOLERANCE
        limit_up = prev_returns >= threshold  # NaN return or limit compares False
        limit_down = prev_returns <= -threshold
    exact = np.broadcast_to(np.asarray(exchange_rule, dtype=bool)[symbol_id], shape)
    exact = exact & np.isfinite(limit) & np.isfinite(prev_close_unadj) & np.isfinite(close_unadj)
    if exact.any():
        up_cents, down_cents = limit_prices(prev_close_unadj[exact], limit[exact])
        close_cents = np.rint(close_unadj[exact] * 100.0).astype(np.int64)
        limit_up[exact] = close_cents >= up_cents
        limit_down[exact] = close_cents <= down_cents
    tradable = np.broadcast_to(np.asarray(tradable, dtype=bool), shape)
    return tradable & ~limit_up, tradable & ~limit_down


def tradable_days(volume: np.ndarray) -> np.ndarray:
    """[T] bool for one symbol: False on zero-volume days, all True when no day has volume
    (no volume data at all, e.g. an index file)."""
    volume = np.asarray(volume, dtype=np.float64)
    if not (volume > 0).any():
        return np.ones(volume.shape, dtype=bool)
    return volume > 0
