"""CostConfig presets and StrategyConfig validation."""

from __future__ import annotations

import warnings

import pytest

from quantray.config import LOSS_WEIGHTS, ConfigError, CostConfig, StrategyConfig


def test_presets_have_the_documented_rates() -> None:
    none = CostConfig.preset("none")
    assert (none.buy_rate, none.sell_rate, none.price_limit) == (0.0, 0.0, None)
    us = CostConfig.preset("us_equity")
    assert us.buy_rate == pytest.approx(0.0005) and us.sell_rate == pytest.approx(0.0005)
    assert us.price_limit is None and not us.enforce_price_limit
    cn = CostConfig.preset("cn_a_share")
    assert cn.buy_rate == pytest.approx(0.00025)
    assert cn.sell_rate == pytest.approx(0.00075)  # commission + stamp duty on sells
    assert cn.price_limit == pytest.approx(0.10) and cn.enforce_price_limit


def test_unknown_preset_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match='Did you mean "cn_a_share"'):
        CostConfig.preset("cn_ashare")
    with pytest.raises(ConfigError, match="Known presets: none, us_equity, cn_a_share"):
        CostConfig.preset("crypto")


def test_cn_like_costs_without_limit_enforcement_warn() -> None:
    with pytest.warns(UserWarning, match="enforce_price_limit=False"):
        CostConfig.preset("cn_a_share").replace(enforce_price_limit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CostConfig.preset("cn_a_share")
        CostConfig(commission=0.0005, price_limit=0.1)  # no stamp duty: not CN-like


def test_cost_validation_messages() -> None:
    with pytest.raises(ConfigError, match=r"write 5 bp as 0\.0005"):
        CostConfig(commission=5.0)
    with pytest.raises(ConfigError, match="needs price_limit"):
        CostConfig(enforce_price_limit=True)
    with pytest.raises(ConfigError, match="price_limit must be a fraction"):
        CostConfig(price_limit=10.0)
    with pytest.raises(ConfigError, match='Did you mean "stamp_duty"'):
        CostConfig.from_dict({"stamp_dutty": 0.001})


def test_strategy_config_fields_and_validation() -> None:
    cfg = StrategyConfig()
    assert len(LOSS_WEIGHTS) == 5
    for name in LOSS_WEIGHTS:
        assert getattr(cfg, name) >= 0
    assert cfg.n_actions == 11
    assert StrategyConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match='Did you mean "risk_cost_weight"'):
        StrategyConfig.from_dict({"risk_weight_cost": 1.0})
    with pytest.raises(ConfigError, match="tau_min <= tau_start"):
        StrategyConfig(tau_start=0.5, tau_min=1.0)
    with pytest.raises(ConfigError, match='Did you mean "drawdown"'):
        StrategyConfig(risk_measure="drawdwn")
    with pytest.raises(ConfigError, match="opportunity_cost_weight must be >= 0"):
        StrategyConfig(opportunity_cost_weight=-1.0)
