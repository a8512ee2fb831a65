"""Decision attributions: the decision model replays exactly what the strategy did, and
integrated gradients satisfy completeness (sum of attributions = output - baseline output)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantray.config import CostConfig, StrategyConfig
from quantray.data.features import FEATURE_NAMES
from quantray.explain import DecisionModel, attribute, describe_decision, play_episode
from quantray.models import PriceTransformer
from quantray.models.strategy_gru import StrategyGRU

E = 6


@pytest.fixture(scope="module")
def models(micro_model):
    torch.manual_seed(1)
    encoder = PriceTransformer(micro_model, window=20).eval()
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    strategy = StrategyGRU(
        StrategyConfig(hidden_size=16, head_hidden=16, tau_min=0.5), feature_dim=32
    ).eval()
    with torch.no_grad():  # spread the logits so positions move between days
        for p in strategy.head.parameters():
            p.mul_(6.0)
    return encoder, strategy


@pytest.fixture(scope="module")
def episode(models):
    encoder, strategy = models
    rng = np.random.default_rng(0)
    normalized = rng.standard_normal((60, 11)).astype(np.float32)
    next_returns = rng.normal(0, 0.02, E)
    cost = CostConfig.preset("us_equity")
    return play_episode(encoder, strategy, normalized, 30, next_returns, cost)


def test_decision_model_replays_the_strategy(models, episode):
    encoder, strategy = models
    model = DecisionModel(encoder, strategy, E, None, 1.0)
    with torch.no_grad():
        logits = model.logits(model.features(episode.raw[None]), episode.state[None])[0]
    torch.testing.assert_close(logits, episode.logits, atol=1e-5, rtol=1e-5)
    levels = strategy.action_positions.numpy()
    np.testing.assert_allclose(episode.positions, levels[episode.logits.argmax(-1).numpy()])
    assert len(set(episode.positions.tolist())) > 1, "positions should move in this fixture"
    # The state fed on day t is the position executed on day t-1 (cash before day 0).
    np.testing.assert_allclose(episode.state[1:, 0].numpy(), episode.positions[:-1])
    assert float(episode.state[0, 0]) == 0.0 and float(episode.state[0, 1]) == 0.0


@pytest.mark.parametrize("day", [E - 1, None])
def test_completeness(models, episode, day):
    encoder, strategy = models
    attr = attribute(encoder, strategy, episode, day, n_steps=48)
    gap = attr.output - attr.baseline_output
    assert abs(gap) > 1e-3, "the decision must differ from the baseline's to test anything"
    raw_total = attr.raw.sum() + attr.state.sum()
    feature_total = attr.feature_vector.sum() + attr.feature_state.sum()
    assert raw_total == pytest.approx(gap, abs=2e-3 * max(1.0, abs(gap)))
    assert feature_total == pytest.approx(gap, abs=2e-3 * max(1.0, abs(gap)))
    n_days = E if day is None else day + 1
    assert attr.raw.shape == (20 + n_days - 1, 11)
    # Output is recomputed independently of captum: the played softmax at tau_min.
    probs = (episode.logits[:n_days] / strategy.config.tau_min).softmax(-1)
    expected = (probs @ strategy.action_positions).numpy()
    want = expected[-1] if day is not None else expected.mean()
    assert attr.output == pytest.approx(float(want), abs=1e-5)


def test_future_days_get_no_attribution(models, episode):
    """Causality: day 2's decision cannot depend on raw features after day 2."""
    encoder, strategy = models
    attr = attribute(encoder, strategy, episode, 2, n_steps=8)
    assert attr.raw.shape[0] == 20 + 2  # inputs stop at the decision day
    assert attr.state.shape == (3, 2)
    text = describe_decision("2015-08-24", episode.positions, 2, attr, FEATURE_NAMES)
    assert text.startswith("On 2015-08-24 the position")
    assert "largest contributions" in text
