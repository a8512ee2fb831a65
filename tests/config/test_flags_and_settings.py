"""Settings in one place: flags generated from the dataclasses, env settings, saved searches."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from quantray.config import (
    BUDGETS,
    N_LEVELS,
    CompressSettings,
    Config,
    ConfigError,
    CostConfig,
    DataConfig,
    DistillConfig,
    EnvSettings,
    ExplainSettings,
    PortfolioConfig,
    PPOSettings,
    SACSettings,
    StrategyConfig,
    TuneSettings,
)
from quantray.config.flags import add_flags, field_docs, flag_name, from_flags

EVERY_SETTINGS_CLASS = (
    StrategyConfig,
    PortfolioConfig,
    PPOSettings,
    SACSettings,
    CostConfig,
    DataConfig,
    DistillConfig,
    CompressSettings,
    ExplainSettings,
)


@pytest.mark.parametrize("cls", EVERY_SETTINGS_CLASS, ids=lambda c: c.__name__)
def test_every_field_gets_a_documented_flag(cls):
    parser = argparse.ArgumentParser()
    added = add_flags(parser, cls)
    assert added == [f.name for f in dataclasses.fields(cls)]
    docs = field_docs(cls)
    assert set(docs) == set(added), "every field has a docstring, shown as its flag's help"
    help_text = parser.format_help()
    for name in added:
        assert flag_name(name) in help_text


def test_a_new_field_needs_no_flag_code():
    @dataclass(frozen=True)
    class Extended(StrategyConfig):
        momentum_weight: float = 0.0
        """A brand-new loss weight."""

    parser = argparse.ArgumentParser()
    add_flags(parser, Extended)
    args = parser.parse_args(
        ["--momentum-weight", "0.25", "--no-hard", "--risk-measure", "drawdown"]
    )
    got = from_flags(args, Extended)
    assert got.momentum_weight == 0.25
    assert got.risk_measure == "drawdown"
    assert got.hard is False
    assert "A brand-new loss weight." in parser.format_help()


def test_flags_override_only_what_was_given_and_keep_the_base():
    parser = argparse.ArgumentParser()
    add_flags(parser, PPOSettings, prefix="ppo-")
    base = PPOSettings.smoke()
    assert from_flags(parser.parse_args([]), PPOSettings, base, prefix="ppo-") == base
    args = parser.parse_args(["--ppo-lr", "1e-3", "--ppo-lambda", "0.9"])
    got = from_flags(args, PPOSettings, base, prefix="ppo-")
    assert got == base.replace(lr=1e-3, lambda_=0.9)


@pytest.mark.parametrize(
    ("cls", "changes", "message"),
    [
        (CompressSettings, {"width": 0.0}, r"width must be in \(0, 1\]"),
        (CompressSettings, {"width": 1.01}, r"width must be in \(0, 1\]"),
        (CompressSettings, {"student_layers": 0}, "student_layers must be None"),
        (CompressSettings, {"steps": 0}, "steps must be >= 1"),
        (CompressSettings, {"eval_samples": 0}, "eval_samples must be >= 1"),
        (CompressSettings, {"finetune_steps": -1}, "finetune_steps must be >= 0"),
        (CompressSettings, {"strategy_epochs": -1}, "strategy_epochs must be >= 0"),
        (CompressSettings, {"sparsities": (0.5, 1.0)}, r"sparsity must be in \[0, 1\)"),
        (CompressSettings, {"sparsities": (-0.1,)}, r"sparsity must be in \[0, 1\)"),
        (CompressSettings, {"sparsities": (0.5, 0.5)}, "sparsities has a repeated value"),
        (CompressSettings, {"prune_targets": ("fnn",)}, 'prune_targets .*Did you mean "ffn"'),
        (CompressSettings, {"prune_targets": ()}, "prune_targets must name at least one"),
        (CompressSettings, {"prune_targets": ("ffn", "ffn")}, "prune_targets has a repeated"),
        (ExplainSettings, {"symbol": "SP500"}, "symbol and date go together"),
        (ExplainSettings, {"date": "2015-08-24"}, "symbol and date go together"),
        (ExplainSettings, {"symbol": "SP500", "date": "24/08/2015"}, "date must be a day"),
        (ExplainSettings, {"episodes": 0}, "episodes must be >= 1"),
        (ExplainSettings, {"lag_windows": 0}, "lag_windows must be >= 1"),
        (ExplainSettings, {"ig_steps": 1}, "ig_steps must be >= 2"),
        # The loss weights both strategies share (TrainingSettings), checked for each.
        (StrategyConfig, {"risk_measure": "drawdwon"}, 'risk_measure .*Did you mean "drawdown"'),
        (PortfolioConfig, {"risk_measure": "drawdwon"}, 'risk_measure .*Did you mean "drawdown"'),
        (StrategyConfig, {"opportunity_cost_weight": -0.1}, "opportunity_cost_weight must be >= 0"),
        (
            PortfolioConfig,
            {"transaction_cost_weight": -1.0},
            "transaction_cost_weight must be >= 0",
        ),
        (
            StrategyConfig,
            {"information_ratio_weight": -1.0},
            "information_ratio_weight must be >= 0",
        ),
    ],
)
def test_script_settings_refuse_a_bad_value_naming_the_field(cls, changes, message):
    with pytest.raises(ConfigError, match=f"^{cls.__name__}: .*{message}"):
        cls(**changes)


def test_script_settings_accept_their_boundaries_and_lists_from_json():
    edge = CompressSettings(
        width=1.0, student_layers=1, steps=1, sparsities=(0.0,), finetune_steps=0,
        eval_samples=1, strategy_epochs=0, prune_targets=("experts",),
    )  # fmt: skip
    assert CompressSettings.from_dict(edge.to_dict()) == edge
    listed = CompressSettings.from_dict({"sparsities": [0.25], "prune_targets": ["heads"]})
    assert listed.sparsities == (0.25,) and listed.prune_targets == ("heads",)
    assert ExplainSettings(ig_steps=2, episodes=1, lag_windows=1).ig_steps == 2
    # --smoke-test shrinks the workload but keeps what the user asked to explain / build.
    asked = ExplainSettings(symbol="SP500", date="2015-08-24", episodes=40).smoke()
    assert (asked.symbol, asked.date, asked.episodes, asked.ig_steps) == (
        "SP500", "2015-08-24", 2, 8
    )  # fmt: skip
    small = CompressSettings(width=0.25, prune_targets=("ffn",)).smoke()
    assert (small.width, small.prune_targets, small.steps, small.sparsities) == (
        0.25, ("ffn",), 6, (0.5,)
    )  # fmt: skip


def test_optional_and_tuple_fields_parse():
    parser = argparse.ArgumentParser()
    add_flags(parser, CostConfig)
    args = parser.parse_args(
        ["--price-limit", "0.1", "--enforce-price-limit", "--st-codes", "600123", "sz000004"]
    )
    got = from_flags(args, CostConfig)
    assert got.price_limit == 0.1 and got.enforce_price_limit is True
    assert got.st_codes == ("600123", "sz000004")
    args = parser.parse_args(["--price-limit", "none"])
    assert (
        from_flags(
            args, CostConfig, CostConfig.preset("cn_a_share").replace(enforce_price_limit=False)
        ).price_limit
        is None
    )


def test_a_refused_value_names_the_flag():
    parser = argparse.ArgumentParser()
    add_flags(parser, StrategyConfig)
    args = parser.parse_args(["--risk-measure", "variance"])
    with pytest.raises(ConfigError, match=r"risk_measure must be one of .*--risk-measure"):
        from_flags(args, StrategyConfig)


def test_skipped_fields_are_neither_flags_nor_read():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cost")  # the script's own flag with a field's name
    added = add_flags(parser, EnvSettings, skip=("cost", "data", "features"))
    assert "cost" not in added
    args = parser.parse_args(["--cost", "cn_a_share", "--reward", "shaped"])
    got = from_flags(args, EnvSettings, skip=("cost",))
    assert got.cost == "none" and got.reward == "shaped"


def test_env_settings_round_trip_through_rllib_env_config_and_typos_are_caught():
    settings = EnvSettings(
        cost=CostConfig.preset("cn_a_share"),
        episode_indices=[3, 1],
        data_config=DataConfig(episode_len=10),
    )
    assert settings.episode_indices == (3, 1)
    assert EnvSettings.from_dict(settings.to_dict()) == settings
    assert settings.cost_config() == CostConfig.preset("cn_a_share")
    with pytest.raises(ConfigError, match='Did you mean "reward"'):
        EnvSettings.of(rewrd="shaped")
    with pytest.raises(ConfigError, match="risk_weight"):
        EnvSettings(risk_weight=float("nan"))


def test_rllib_episode_length_follows_the_data_config():
    from quantray.rl.config import episode_len, sac_config

    assert episode_len({}) == DataConfig().episode_len
    config = sac_config(EnvSettings(data_config=DataConfig(episode_len=10)), smoke=True)
    assert config.rollout_fragment_length == 10


def test_saved_search_settings_restore_exactly(tmp_path):
    settings = TuneSettings(
        budget=BUDGETS["smoke"],
        data_path=str(tmp_path / "bars.csv"),
        storage_path=str(tmp_path / "ray"),
        name="tune-1",
        cost="cn_a_share",
        seed=7,
        num_samples=5,
        objective="sharpe",
    )
    import json

    record = json.loads(json.dumps(settings.to_record()))
    assert TuneSettings.from_record(record) == settings
    with pytest.raises(ConfigError, match="cpus_per_trial must be > 0"):
        settings.replace(cpus_per_trial=0)


def test_position_levels_are_one_constant():
    import quantray.accounting as accounting
    from quantray.envs.spaces import action_space

    assert StrategyConfig().n_actions == N_LEVELS == len(accounting.position_levels())
    assert action_space("discrete").n == N_LEVELS


def test_config_subclasses_reject_unknown_keys_with_a_hint():
    assert issubclass(TuneSettings, Config)
    with pytest.raises(ConfigError, match='Did you mean "train_batch_size"'):
        PPOSettings.from_dict({"train_batchsize": 10})


def test_compare_overrides_sit_between_defaults_and_tuned_params(regime_task):
    from quantray.tune.methods import SELECT, method_settings

    ppo = method_settings(
        "ppo", {"lr": 1e-3}, regime_task, smoke=True, overrides={"lr": 5e-4, "hidden": 32}
    )
    assert ppo == PPOSettings.smoke().replace(lr=1e-3, hidden=32)
    gru = method_settings(
        "gru", {}, regime_task, smoke=False, overrides={"risk_measure": "drawdown"}
    )
    assert gru.risk_measure == "drawdown" and gru.feature_dim == regime_task.dim
    assert gru.select_by == SELECT.removeprefix("valid_")
    with pytest.raises(ConfigError, match="unknown setting"):
        method_settings("sac", {}, regime_task, smoke=True, overrides={"lrr": 1.0})
