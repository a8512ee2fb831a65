"""Walk-forward folds: where the out-of-sample blocks lie and what each fold trains on."""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import Config, check, check_choice

WINDOWS = ("expanding", "rolling")


@dataclass(frozen=True)
class WalkForwardConfig(Config):
    """Where the out-of-sample blocks lie and what each fold trains on."""

    window: str = "expanding"
    """'expanding' (train on all data before the block) or 'rolling' (the last rolling_days)."""
    rolling_days: int = 1260
    """Rolling window length in trading days (fit part + embargo + validation tail)."""
    block_months: int = 12
    """Length of each out-of-sample block in calendar months (12 = one year)."""
    first_test: str | None = None
    """First out-of-sample day (ISO date). None = the earliest day that leaves min_train_days
    of fit part before it."""
    end: str | None = None
    """Last out-of-sample day (ISO date). None = the last day of the data."""
    min_train_days: int = 756
    """Fewest trading days in a fold's fit part (checked for every fold)."""
    valid_days: int = 252
    """Trading days in the validation tail of each training window."""
    embargo: int = 27
    """Trading days dropped between fit part, validation tail and block (>= H + E)."""
    replay_days: int = 252
    """Incremental updates: trading days before the previous fit part's end replayed."""

    def __post_init__(self) -> None:
        check_choice("WalkForwardConfig", "window", self.window, WINDOWS)
        for name in ("rolling_days", "block_months", "min_train_days", "valid_days"):
            check(getattr(self, name) >= 1, "WalkForwardConfig", f"{name} must be >= 1")
        for name in ("embargo", "replay_days"):
            check(getattr(self, name) >= 0, "WalkForwardConfig", f"{name} must be >= 0")
        if self.first_test is not None and self.end is not None:
            check(
                self.first_test < self.end,
                "WalkForwardConfig",
                f"first_test ({self.first_test}) must come before end ({self.end})",
            )
