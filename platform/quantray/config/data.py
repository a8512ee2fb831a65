"""Data geometry, the date split, and trading costs."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any

from quantray.config.base import Config, ConfigError, check, did_you_mean

WINDOW = 180
"""L by default: days of history one prediction reads (``DataConfig.window``)."""
HORIZON = 7
"""H by default: days ahead the price head predicts (``DataConfig.horizon``)."""

SPLIT_NAMES = ("train", "valid", "test")
"""The three periods of a split, in time order."""


@dataclass(frozen=True)
class DataConfig(Config):
    """Window and episode geometry shared by stage 1, stage 2 and the env."""

    window: int = WINDOW
    """L: days of history the price model reads for one prediction (its RoPE tables cover
    this many positions)."""
    horizon: int = HORIZON
    """H: days ahead the price head predicts (returns relative to the last close)."""
    episode_len: int = 20
    """E: trading days in one stage-2 / RL episode."""

    def __post_init__(self) -> None:
        check(self.window >= 2, "DataConfig", f"window must be >= 2, got {self.window}")
        check(self.horizon >= 1, "DataConfig", f"horizon must be >= 1, got {self.horizon}")
        check(
            self.episode_len >= 2, "DataConfig", f"episode_len must be >= 2, got {self.episode_len}"
        )


@dataclass(frozen=True)
class SplitConfig(Config):
    """Walk-forward split by date: train | embargo | validation | embargo | test.

    Either give the three fractions (of each symbol's usable days) or the two boundary dates
    ``valid_start`` and ``test_start`` (ISO strings); dates win when given.
    """

    train_frac: float = 0.7
    """Fraction of days in the training period (before the first embargo)."""
    valid_frac: float = 0.15
    """Fraction of days in the validation period; the test period gets the rest."""
    embargo: int = 27
    """Days dropped between periods; must be >= horizon + episode_len so no label or episode
    straddles a boundary."""
    valid_start: str | None = None
    """First validation day (ISO date). Overrides the fractions when set with test_start."""
    test_start: str | None = None
    """First test day (ISO date). The test period is never seen by training or Tune."""
    train_start: str | None = None
    """First training day (ISO date); earlier days are unused (a rolling walk-forward window).
    None = the first day of the data. Only with valid_start/test_start."""
    test_end: str | None = None
    """Last test day (ISO date); later days are unused (one walk-forward fold's out-of-sample
    block). None = the last day of the data. Only with valid_start/test_start."""

    def __post_init__(self) -> None:
        check(
            0 < self.train_frac < 1,
            "SplitConfig",
            f"train_frac must be in (0, 1), got {self.train_frac}",
        )
        check(
            0 < self.valid_frac < 1,
            "SplitConfig",
            f"valid_frac must be in (0, 1), got {self.valid_frac}",
        )
        check(
            self.train_frac + self.valid_frac < 1,
            "SplitConfig",
            f"train_frac + valid_frac must be < 1 so a test period remains, got "
            f"{self.train_frac} + {self.valid_frac}",
        )
        check(self.embargo >= 0, "SplitConfig", f"embargo must be >= 0, got {self.embargo}")
        check(
            (self.valid_start is None) == (self.test_start is None),
            "SplitConfig",
            "give both valid_start and test_start, or neither (then the fractions are used)",
        )
        if self.valid_start is not None and self.test_start is not None:
            check(
                self.valid_start < self.test_start,
                "SplitConfig",
                f"valid_start ({self.valid_start}) must come before test_start ({self.test_start})",
            )
        for name, before, after in (
            ("train_start", self.train_start, self.valid_start),
            ("test_end", self.test_start, self.test_end),
        ):
            if getattr(self, name) is None:
                continue
            check(
                self.valid_start is not None,
                "SplitConfig",
                f"{name} needs valid_start and test_start (dates), not fractions",
            )
            check(
                before < after,  # type: ignore[operator]
                "SplitConfig",
                f"{name}: expected {before} < {after} (train_start < valid_start <= test_start "
                f"<= test_end), got {name}={getattr(self, name)}",
            )


_COST_PRESETS: dict[str, dict[str, Any]] = {
    # Frictionless: useful for ablations and for checking that a strategy's edge is not a cost
    # artefact.
    "none": {},
    # US equities: commission-free brokers still pay spread/fees; 5 bp a side is a sober
    # all-in estimate. No stamp duty, no daily price limit.
    "us_equity": {"commission": 0.0005},
    # China A-shares: ~2.5 bp commission each side, 5 bp stamp duty on sells only (rate since
    # 2023-08-28), daily price limits enforced (10% main board; other boards by stock code).
    "cn_a_share": {
        "commission": 0.00025,
        "stamp_duty": 0.0005,
        "price_limit": 0.10,
        "enforce_price_limit": True,
    },
}


@dataclass(frozen=True)
class CostConfig(Config):
    """Trading frictions used by ``quantray.accounting`` (GRU loss, env reward, backtests).

    A change of position by Δ (fraction of equity) costs ``(commission + slippage) * Δ`` when
    buying and ``(commission + stamp_duty + slippage) * |Δ|`` when selling. Presets:
    ``CostConfig.preset("none" | "us_equity" | "cn_a_share")``.
    """

    commission: float = 0.0
    """Fraction of traded notional paid on buys and on sells (0.00025 = 2.5 bp)."""
    stamp_duty: float = 0.0
    """Fraction of traded notional paid on sells only (China A-shares: 0.0005)."""
    slippage: float = 0.0
    """Fraction of traded notional lost to spread / market impact, both sides."""
    price_limit: float | None = None
    """Daily price limit as a fraction (0.10 = +-10%), or None for markets without one. China
    A-share stock codes (600000, 300750.SZ, sh688981, ...) use their board's own limit instead
    (main 10%, ChiNext/STAR 20%, Beijing 30%, ST 5%) and index codes none: see
    ``quantray.data.limits``. Every other symbol uses this value."""
    enforce_price_limit: bool = False
    """When True, no buying on a limit-up close and no selling on a limit-down close (the
    order would not fill). Needs ``price_limit``. Zero-volume (suspended) days never fill,
    whatever this says."""
    st_codes: tuple[str, ...] = ()
    """Main-board China A-share codes under special treatment (ST / *ST): their limit is 5%.
    Six-digit codes, optionally with an exchange prefix or suffix (``"600123"``, ``"sz000004"``)."""
    charge_exit: bool = True
    """Charge the sale of the final position at the end of every episode (on its last day's
    cost, at the sell rate), so a strategy cannot look cheap by ending invested. Applied alike
    by the numpy and torch accounting, the env's last step and every evaluation."""

    def __post_init__(self) -> None:
        for name in ("commission", "stamp_duty", "slippage"):
            value = getattr(self, name)
            check(
                0.0 <= value < 0.1,
                "CostConfig",
                f"{name} must be a fraction in [0, 0.1), got {value!r}; "
                f"write 5 bp as 0.0005, not 5 or 0.05",
            )
        if self.price_limit is not None:
            check(
                0.0 < self.price_limit < 1.0,
                "CostConfig",
                f"price_limit must be a fraction in (0, 1) such as 0.10, or None, "
                f"got {self.price_limit!r}",
            )
        check(
            not (self.enforce_price_limit and self.price_limit is None),
            "CostConfig",
            "enforce_price_limit=True needs price_limit (e.g. 0.10); set price_limit or "
            "enforce_price_limit=False",
        )
        if not isinstance(self.st_codes, tuple):
            # JSON / Tune / checkpoints hand lists back; the frozen setting is a tuple.
            codes = [self.st_codes] if isinstance(self.st_codes, str) else self.st_codes
            object.__setattr__(self, "st_codes", tuple(str(c) for c in codes))
        for code in self.st_codes:
            digits = "".join(ch for ch in code if ch.isdigit())
            check(
                len(digits) == 6,
                "CostConfig",
                f"st_codes must hold six-digit China A-share codes such as 600123 or sz000004, "
                f"got {code!r}; list the ST stocks' codes, not their names",
            )
        if self.stamp_duty > 0 and self.price_limit is not None and not self.enforce_price_limit:
            # Looks like a China A-share cost model with the limit rule switched off: backtests
            # would buy into limit-up closes that cannot fill in reality and look too good.
            warnings.warn(
                f"CostConfig: stamp_duty={self.stamp_duty} and price_limit={self.price_limit} "
                "describe a price-limited market, but enforce_price_limit=False, so trades on "
                "limit-up/limit-down closes are assumed to fill and results will be optimistic. "
                "Set enforce_price_limit=True unless this is a deliberate ablation.",
                UserWarning,
                stacklevel=3,
            )

    # Cached (the settings are frozen): a single env reads both rates at every step.
    @functools.cached_property
    def buy_rate(self) -> float:
        """Cost per unit of position bought: commission + slippage."""
        return self.commission + self.slippage

    @functools.cached_property
    def sell_rate(self) -> float:
        """Cost per unit of position sold: commission + stamp_duty + slippage."""
        return self.commission + self.stamp_duty + self.slippage

    @classmethod
    def resolve(cls, cost: str | CostConfig) -> CostConfig:
        """A CostConfig from a preset name ("none" | "us_equity" | "cn_a_share") or as given."""
        if isinstance(cost, CostConfig):
            return cost
        if isinstance(cost, str):
            return cls.preset(cost)
        raise TypeError(
            f"cost must be a preset name or a CostConfig, got {type(cost).__name__}; "
            'use cost="us_equity" or cost=CostConfig(commission=0.0005)'
        )

    @classmethod
    def preset(cls, name: str) -> CostConfig:
        """A named cost model: "none", "us_equity" or "cn_a_share"."""
        if name not in _COST_PRESETS:
            names = list(_COST_PRESETS)
            raise ConfigError(
                f'CostConfig: unknown preset "{name}".{did_you_mean(name, names)} '
                f"Known presets: {', '.join(names)}."
            )
        return cls(**_COST_PRESETS[name])
