"""Market classifier: constructed bull / bear / sideways paths, ties, batching."""

from __future__ import annotations

import numpy as np
import torch

from quantray.config import BEAR, BULL, SIDEWAYS, StrategyConfig
from quantray.losses.market import classify_market, market_votes

E = 20


def _paths() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.002, size=E)
    # A 1-1-1 split: mean +0.15 %/day (simple: bull), the path peaks on day 15 and falls
    # through the last week (technical: short MA below long MA -> bear), and daily volatility
    # ~4 % makes 0.15 % < 0.1 * vol (adaptive: sideways).
    split = np.r_[np.full(15, 0.03), np.full(5, -0.084)]
    return {
        "bull": 0.006 + noise,  # +0.6 %/day drift
        "bear": -0.006 + noise,  # -0.6 %/day drift
        "sideways": np.tile([0.01, -0.01], E // 2) + noise * 0.1,  # no drift, chops
        "split": split,
    }


def test_constructed_paths_get_the_expected_labels() -> None:
    paths = _paths()
    want = {"bull": BULL, "bear": BEAR, "sideways": SIDEWAYS}
    for name, label in want.items():
        votes = market_votes(paths[name])
        assert votes.tolist() == [[label] * 3], (name, votes)
        assert classify_market(paths[name]).tolist() == [label], name


def test_three_way_split_is_sideways() -> None:
    votes = market_votes(_paths()["split"])
    assert votes.tolist() == [[BULL, BEAR, SIDEWAYS]]  # simple, technical, adaptive
    assert classify_market(_paths()["split"]).tolist() == [SIDEWAYS]


def test_two_of_three_wins() -> None:
    # Thresholds chosen so that only the simple voter disagrees.
    path = torch.tensor(_paths()["bull"])
    strict = StrategyConfig(market_simple_threshold=0.05)
    assert market_votes(path, strict).tolist() == [[SIDEWAYS, BULL, BULL]]
    assert classify_market(path, strict).tolist() == [BULL]


def test_batched_equals_row_by_row_and_keeps_dtype_device() -> None:
    rng = np.random.default_rng(1)
    drift = rng.choice([-0.006, 0.0, 0.006], size=(256, 1))
    returns = torch.tensor(drift + rng.normal(0, 0.01, size=(256, E)), dtype=torch.float32)
    labels = classify_market(returns)
    assert labels.shape == (256,) and labels.dtype == torch.long
    rows = torch.cat([classify_market(returns[i]) for i in range(0, 256, 17)])
    assert torch.equal(rows, labels[::17])
    # The classifier tracks the drift it was built to detect, on most paths.
    agree = labels.numpy() == np.where(
        drift[:, 0] > 0, BULL, np.where(drift[:, 0] < 0, BEAR, SIDEWAYS)
    )
    assert agree.mean() > 0.6
    assert set(labels.tolist()) == {BULL, BEAR, SIDEWAYS}


def test_labels_carry_no_gradient() -> None:
    returns = torch.randn(4, E, requires_grad=True)
    assert not classify_market(returns).requires_grad
