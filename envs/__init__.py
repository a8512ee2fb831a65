"""The Gymnasium trading env, installed as ``quantray.envs``.

Importing this package registers ``"quantray/TradingEnv-v0"`` and the multi-asset
``"quantray/PortfolioEnv-v0"`` with Gymnasium (single env,
plus a vector entry point for ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``)
and nothing else: it never imports Ray or RLlib (``quantray.rl`` registers the env with RLlib).

    import gymnasium, quantray.envs
    env = gymnasium.make("quantray/TradingEnv-v0")                     # bundled data, raw features
    envs = gymnasium.make_vec("quantray/TradingEnv-v0", num_envs=1024,
                              vectorization_mode="vector_entry_point")  # TradingVectorEnv

``TradingEnv`` and ``TradingVectorEnv`` are imported lazily (on first attribute access), so
``import quantray.envs`` stays cheap until an env is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium

ENV_ID = "quantray/TradingEnv-v0"
"""Gymnasium id of the trading env."""
PORTFOLIO_ENV_ID = "quantray/PortfolioEnv-v0"
"""Gymnasium id of the multi-asset portfolio env."""

if ENV_ID not in gymnasium.registry:
    # The guard makes re-imports (importlib.reload, pytest's importlib mode) harmless:
    # gymnasium warns when an id is registered twice.
    gymnasium.register(
        ENV_ID,
        entry_point="quantray.envs.trading_env:TradingEnv",
        vector_entry_point="quantray.envs.vector_env:TradingVectorEnv",
    )
if PORTFOLIO_ENV_ID not in gymnasium.registry:
    gymnasium.register(
        PORTFOLIO_ENV_ID,
        entry_point="quantray.envs.portfolio_env:PortfolioEnv",
        vector_entry_point="quantray.envs.portfolio_vector_env:PortfolioVectorEnv",
    )

if TYPE_CHECKING:
    from quantray.envs.market import clear_task_cache, shared_task
    from quantray.envs.portfolio_env import PortfolioEnv
    from quantray.envs.portfolio_vector_env import PortfolioVectorEnv
    from quantray.envs.trading_env import TradingEnv
    from quantray.envs.vector_env import TradingVectorEnv

_LAZY = {
    "TradingEnv": "quantray.envs.trading_env",
    "TradingVectorEnv": "quantray.envs.vector_env",
    "shared_task": "quantray.envs.market",
    "clear_task_cache": "quantray.envs.market",
    "PortfolioEnv": "quantray.envs.portfolio_env",
    "PortfolioVectorEnv": "quantray.envs.portfolio_vector_env",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'quantray.envs' has no attribute {name!r}")


__all__ = [
    "ENV_ID",
    "PORTFOLIO_ENV_ID",
    "PortfolioEnv",
    "PortfolioVectorEnv",
    "TradingEnv",
    "TradingVectorEnv",
    "clear_task_cache",
    "shared_task",
]
