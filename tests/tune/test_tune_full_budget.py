"""``--budget full`` searches the four stage-1 size presets with real epochs."""

from __future__ import annotations

import optuna
import pytest

from quantray.config import Budget, ConfigError, PriceModelConfig, TuneSettings, get_budget
from quantray.data.sample import SAMPLE_PATH
from quantray.models import PriceTransformer
from quantray.tune.space import SearchSpace, stage1_model
from quantray.tune.tuner import stage1_spec


def test_full_budget_samples_the_presets_and_trains_them_for_epochs() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget = get_budget("full")
    settings = TuneSettings(budget, str(SAMPLE_PATH), "/tmp/store", "t")
    space = SearchSpace(budget, settings.constants())
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        constants = space(trial)
        study.tell(trial, 0.0)
        config = {**trial.params, **constants}
        # The preset replaces the hand-sized architecture menu entirely.
        assert not {"s1_d_model", "s1_n_layers", "s1_ffn"} & set(trial.params)
        seen.add(config["s1_preset"])
        spec = stage1_spec(config)
        assert spec.model == PriceModelConfig.preset(config["s1_preset"])
        assert spec.train.epochs == budget.stage1_epochs == 10
        assert spec.train.max_steps_per_epoch == budget.stage1_steps
        assert "hidden_size" in config  # stage 2 is searched on top
    assert seen == {"tiny", "small", "base", "large"}


def test_preset_sizes_grow_by_four() -> None:
    # The presets the full budget searches: about 2.5M / 10M / 40M / 160M parameters.
    sizes = [
        PriceTransformer(stage1_model({"s1_preset": name})).num_params()
        for name in ("tiny", "small")
    ]
    assert 2e6 < sizes[0] < 3.5e6 and 3.2 < sizes[1] / sizes[0] < 4.8


def test_a_budget_with_an_unknown_preset_is_refused() -> None:
    fields = {k: v for k, v in get_budget("full").to_dict().items()}
    with pytest.raises(ConfigError, match='Did you mean "base"'):
        Budget.from_dict({**fields, "presets": ("tiny", "bse")})
