"""Two trials with the same architecture, started at the same time in two processes, train
stage 1 once: one trains while the other waits on the lock, then both use one cache."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from quantray.config import TuneSettings, get_budget
from quantray.train.price import default_data_path
from quantray.tune.tuner import run_trial

ARCH = {"s1_d_model": 16, "s1_n_layers": 1, "s1_ffn": "swiglu"}
STAGE2 = {
    "relative_return_weight": 1.0,
    "risk_cost_weight": 0.5,
    "opportunity_cost_weight": 0.5,
    "transaction_cost_weight": 0.1,
    "information_ratio_weight": 0.01,
    "tau_start": 1.0,
    "hidden_size": 16,
    "lr": 1e-3,
}


def _trial(config: dict, lr: float, queue) -> None:
    final = run_trial({**config, "lr": lr}, trial_id=f"lr{lr}")
    queue.put((final["stage1_trained"], final["objective"]))


def test_two_concurrent_trials_share_one_stage1_model(tmp_path: Path):
    settings = TuneSettings(get_budget("smoke"), default_data_path(None), str(tmp_path), "t")
    config = {**settings.constants(), **ARCH, **STAGE2}
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_trial, args=(config, lr, queue)) for lr in (1e-3, 2e-3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    outcomes = [queue.get(timeout=5) for _ in procs]
    cache_root = Path(config["cache_root"])
    assert len(list(cache_root.glob("stage1-*"))) == 1
    assert len(list(cache_root.glob("features-*"))) == 1
    assert not list(cache_root.glob(".stage1-*.partial"))
    # Exactly one of the two trials trained stage 1; the other reused it.
    assert sorted(trained for trained, _ in outcomes) == [0.0, 1.0]
    events = [e for e in settings_events(tmp_path) if e["event"] == "end"]
    assert sorted(e["stage1_trained"] for e in events) == [False, True]


def settings_events(root: Path) -> list[dict]:
    import json

    path = root / "t" / "trial_events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]
