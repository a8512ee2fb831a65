"""The explanation script's settings (``experiments/explain.py``): which decision to explain
and how much work the attention and attribution summaries get."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from quantray.config.base import Config, ConfigError, check


@dataclass(frozen=True)
class ExplainSettings(Config):
    """What ``experiments/explain.py`` explains and over how many test episodes."""

    symbol: str | None = None
    """Symbol of the decision to explain (with date); None = the largest position change
    among the test episodes examined."""
    date: str | None = None
    """Date of the decision to explain, YYYY-MM-DD (with symbol); it must be a trading
    day of that symbol inside an evaluation episode."""
    episodes: int = 20
    """Test episodes played and attributed for the by-regime summary (>= 1)."""
    ig_steps: int = 32
    """Integrated-gradient steps per attribution (>= 2: the path integral needs two
    points)."""
    lag_windows: int = 256
    """Test windows averaged in the attention-by-lag plot (>= 1)."""

    def __post_init__(self) -> None:
        owner = "ExplainSettings"
        check(
            (self.symbol is None) == (self.date is None),
            owner,
            f"symbol and date go together (or neither), got symbol={self.symbol!r}, "
            f"date={self.date!r}",
        )
        if self.date is not None:
            try:
                datetime.date.fromisoformat(self.date)
            except ValueError:
                raise ConfigError(
                    f"{owner}: date must be a day as YYYY-MM-DD, got {self.date!r}"
                ) from None
        for name in ("episodes", "lag_windows"):
            value = getattr(self, name)
            check(value >= 1, owner, f"{name} must be >= 1, got {value!r}")
        check(self.ig_steps >= 2, owner, f"ig_steps must be >= 2, got {self.ig_steps!r}")

    def smoke(self) -> ExplainSettings:
        """A seconds-to-minutes run: 2 episodes, 8 IG steps, 16 lag windows (the decision
        asked for is kept)."""
        return self.replace(episodes=2, ig_steps=8, lag_windows=16)
