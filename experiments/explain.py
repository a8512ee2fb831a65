"""Why did it buy? Stage-1 attention maps and stage-2 decision attributions.

    python experiments/explain.py --smoke-test
    python experiments/explain.py --checkpoint runs/price/.../checkpoint.pt \\
        --strategy runs/strategy/strategy.pt --symbol SP500 --date 2015-08-24
    python experiments/explain.py --checkpoint ... --strategy ... --episodes 40

For one decision (``--symbol``/``--date``; without them, the largest position change among
the test episodes examined): the stage-1 attention of every layer and head over the window
ending that day, and integrated-gradient attributions of the strategy's position to the 11
raw features of the past days, the fed-back previous position, the cumulative return and
the stage-1 feature vector. Over ``--episodes N`` test episodes: the mean attention by lag
and the raw features that drive positions, by market regime. Writes PNGs and explain.md to
OUT. ``--features`` (optional) names the feature cache the strategy was trained on; it is
checked against the checkpoint. The attributed scalar and the baseline are documented in
``quantray.explain.attribution``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from quantray.cli import claim_out_dir, frame_to_markdown, run, script_parser
from quantray.config import REGIMES, ConfigError, DataConfig, ExplainSettings
from quantray.config.flags import add_flags, from_flags
from quantray.data import FeatureNormalizer, load_task
from quantray.data.features import FEATURE_NAMES
from quantray.losses.market import classify_market


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``argv``, default ``sys.argv[1:]``); the settings flags are
    generated from the settings classes."""
    parser = script_parser(__doc__, "runs/explain")
    parser.add_argument("--checkpoint", default=None, help="stage-1 checkpoint file or dir")
    parser.add_argument("--strategy", default=None, help="stage-2 strategy.pt")
    parser.add_argument("--features", default=None, help="the strategy's feature cache (check)")
    parser.add_argument("--seed", type=int, default=0)
    add_flags(parser, ExplainSettings, title="what to explain and over how much")
    return parser.parse_args(argv)


def load_models(args: argparse.Namespace, out: Path):
    """(encoder, strategy, cost, spec, normalizer, data path) from the arguments."""
    from quantray.train.price import PriceRunSpec, load_checkpoint, model_from_checkpoint
    from quantray.train.strategy import load_strategy

    data = args.data
    if args.smoke_test and args.checkpoint is None:
        from quantray.train.smoke import smoke_stage1, smoke_strategy

        print("[explain] smoke test: training a micro stage-1 model and strategy")
        checkpoint, data_path = smoke_stage1(out / "smoke", seed=args.seed)
        args.strategy, args.features = smoke_strategy(out / "smoke", checkpoint, data_path)
        args.checkpoint, data = checkpoint, str(data_path)
    for flag in ("checkpoint", "strategy"):
        value = getattr(args, flag)
        if value is None or not Path(value).exists():
            raise ConfigError(
                f"explain: --{flag} {'is missing' if value is None else f'{value} not found'}; "
                f"expected a stage-1 checkpoint (train_price.py) and a strategy.pt "
                f"(train_strategy.py), or run with --smoke-test"
            )
    state = load_checkpoint(args.checkpoint)
    spec = PriceRunSpec.from_dict(state["spec"])
    encoder = model_from_checkpoint(state)
    strategy, _, cost, _ = load_strategy(args.strategy)
    if strategy.feature_dim != spec.model.d_model:
        raise ConfigError(
            f"explain: the strategy reads {strategy.feature_dim}-dim features but the stage-1 "
            f"checkpoint {args.checkpoint} makes {spec.model.d_model}-dim ones; pass the "
            f"checkpoint whose feature cache the strategy was trained on"
        )
    if args.features is not None:
        from quantray.features.export import checkpoint_id

        meta_path = Path(args.features) / "meta.json"
        if not meta_path.exists():
            raise ConfigError(
                f"explain: --features {args.features} is not a feature cache (no meta.json); "
                f"pass the directory export_features.py wrote, or leave --features out"
            )
        meta = json.loads(meta_path.read_text())
        if meta["checkpoint_id"] != checkpoint_id(args.checkpoint):
            raise ConfigError(
                f"explain: feature cache {args.features} was made by checkpoint "
                f"{meta['checkpoint']}, not {args.checkpoint}; pass the matching pair"
            )
    normalizer = FeatureNormalizer.from_dict(state["normalizer"])
    return encoder, strategy, cost, spec, normalizer, data


def find_decision(task, episodes_by_split, symbol: str, date: str) -> tuple[str, int, int]:
    """(split, episode index, day in episode) of the evaluation episode holding the decision."""
    panel = task.panel
    if symbol not in panel.symbols:
        raise ConfigError(f"explain: unknown --symbol {symbol}; the data has {panel.symbols}")
    s = panel.symbols.index(symbol)
    lo, hi = panel.offsets[s], panel.offsets[s + 1]
    try:
        day = np.datetime64(pd.Timestamp(date).date(), "D")
    except ValueError as exc:
        raise ConfigError(f"explain: --date {date!r} is not a date; use YYYY-MM-DD") from exc
    hits = np.flatnonzero(panel.dates[lo:hi] == day)
    if not len(hits):
        raise ConfigError(
            f"explain: {symbol} has no bar on {date} (data runs {panel.dates[lo]} to "
            f"{panel.dates[hi - 1]}); pick a trading day"
        )
    row = lo + int(hits[0])
    for split, eps in episodes_by_split.items():
        where = np.argwhere(eps.rows == row)
        if len(where):
            return split, int(where[0, 0]), int(where[0, 1])
    ranges = {k: f"{panel.dates[v.rows.min()]}..{panel.dates[v.rows.max()]}" for k, v in
              episodes_by_split.items() if len(v)}  # fmt: skip
    raise ConfigError(
        f"explain: {symbol} {date} is in no evaluation episode (warm-up or embargo days); "
        f"episodes cover {ranges}"
    )


def main() -> int:
    args = parse_args()
    settings = from_flags(args, ExplainSettings)  # checked before any model runs
    out = claim_out_dir(args.out, args.storage_path)
    if args.smoke_test:
        settings = settings.smoke()
    torch.manual_seed(args.seed)
    encoder, strategy, cost, spec, normalizer, data = load_models(args, out)

    from quantray.explain import (
        attention_maps,
        attribute,
        describe_decision,
        mean_attention_by_lag,
        play_episode,
    )
    from quantray.explain.plots import (
        plot_attention,
        plot_decision,
        plot_lag_profile,
        plot_regimes,
    )

    task = load_task(data, data_config=DataConfig(window=spec.data.window), split_config=spec.split)
    panel, window, E = task.panel, spec.data.window, task.data.episode_len
    normalized = normalizer.transform(panel.features)  # [N, F] with the model's own statistics
    next_ret = panel.next_returns()
    can_buy, can_sell = panel.trade_flags(cost)  # [N] each: limits and suspensions
    episodes = {s: task.episodes(s, stride=E) for s in ("train", "valid", "test")}
    test = episodes["test"]
    if not len(test):
        raise ConfigError("explain: the data has no test episodes; give more days of data")
    picked = np.unique(np.linspace(0, len(test) - 1, min(settings.episodes, len(test))).astype(int))

    def play(eps, i):
        rows = eps.rows[i]
        return play_episode(
            encoder,
            strategy,
            normalized,
            int(rows[0]),
            next_ret[rows],
            cost,
            can_buy[rows],
            can_sell[rows],
        )

    if settings.symbol is not None:  # checked before any model runs
        split, ep_idx, day = find_decision(task, episodes, settings.symbol, settings.date)
    played = {int(i): play(test, i) for i in picked}
    if settings.symbol is None:  # the largest position change among the examined test episodes
        split = "test"
        # Day 0 always starts from cash; a change between two days of the policy says more.
        moves = {i: np.abs(np.diff(ep.positions)) for i, ep in played.items()}  # [E-1] each
        ep_idx = max(moves, key=lambda i: moves[i].max())
        day = int(moves[ep_idx].argmax()) + 1
    episode = played.get(ep_idx) if split == "test" else None
    episode = episode or play(episodes[split], ep_idx)
    row = int(episodes[split].rows[ep_idx, day])
    symbol = panel.symbols[int(np.searchsorted(panel.offsets, row, side="right") - 1)]
    date = str(panel.dates[row])

    # -- attention of the window ending on the decision day, and by lag over many windows
    x = torch.from_numpy(normalized[row - window + 1 : row + 1][None])  # [1, L, F]
    weights = attention_maps(encoder, x).weights[:, 0].numpy()  # [layers, nH, L, L]
    window_dates = panel.dates[row - window + 1 : row + 1]
    plot_attention(weights, window_dates, f"{symbol}: window ending {date}", out / "attention.png")
    rows = test.rows[:, 0]
    lag_rows = rows[np.unique(np.linspace(0, len(rows) - 1, settings.lag_windows).astype(int))]
    lag = mean_attention_by_lag(encoder, normalized[lag_rows[:, None] + np.arange(-window + 1, 1)])
    plot_lag_profile(lag, len(lag_rows), out / "attention_by_lag.png")

    # -- one decision
    attr = attribute(encoder, strategy, episode, day, n_steps=settings.ig_steps)
    input_dates = panel.dates[row - window - day + 1 : row + 1]
    text = describe_decision(date, episode.positions, day, attr, FEATURE_NAMES)
    plot_decision(attr, input_dates, FEATURE_NAMES, f"{symbol} {date}", out / "decision.png")
    vector_total = float(attr.feature_vector.sum())
    feature_state = attr.feature_state.sum(axis=0)

    # -- aggregate over test episodes, by hindsight market regime of each episode
    regimes = classify_market(test.next_returns[picked]).numpy()
    names = [*FEATURE_NAMES, "previous position", "cumulative return"]
    contributions = np.array(
        [
            list(
                attribute(encoder, strategy, played[int(i)], None, settings.ig_steps)
                .totals(FEATURE_NAMES)
                .values()
            )
            for i in picked
        ]
    )  # fmt: skip  [n episodes, F + 2]
    by_regime = {
        f"{REGIMES[r]} (n={int((regimes == r).sum())})": contributions[regimes == r].mean(0)
        for r in np.unique(regimes)
    }
    plot_regimes(by_regime, names, out / "regimes.png")
    table = pd.DataFrame(by_regime, index=names)
    table["all"] = contributions.mean(0)
    table["all, mean abs"] = np.abs(contributions).mean(0)
    table.to_csv(out / "regimes.csv")

    share = {k: lag[..., :k].sum(-1).mean() for k in (5, 21, 63) if k <= window}
    lines = [
        "# Explain: attention and decision attributions",
        "",
        f"- stage-1 checkpoint `{args.checkpoint}` ({encoder.num_params():,} parameters, window "
        f"{window}); strategy `{args.strategy}`; data {panel.data_hash} ({len(panel.symbols)} "
        f"symbols); {task.splits.describe()}",
        f"- cost model {cost.to_dict()}; IG steps {settings.ig_steps}; seed {args.seed}",
        "",
        "## Attention",
        "",
        f"![attention](attention.png) Every layer and head over the window ending {date} "
        f"({symbol}); rows are query days, columns the days they attend to.",
        "",
        f"![attention by lag](attention_by_lag.png) Mean attention of day t by lag over "
        f"{len(lag_rows)} test windows. Share of day t's attention (mean over layers and "
        "heads) on the last "
        + ", ".join(f"{k} days: {v:.0%} (uniform {k / window:.0%})" for k, v in share.items())
        + ".",
        "",
        "## Decision",
        "",
        text,
        "",
        f"![decision](decision.png) Baseline: every raw feature at its training mean (0 after "
        "normalisation), cash, zero cumulative return. Attributed scalar: the expected position "
        f"under the head's softmax at tau_min={strategy.config.tau_min}; the executed position "
        "is its argmax.",
        "",
        f"- stage-1 feature vector (feature view, all days): {vector_total:+.3f}; previous "
        f"position {feature_state[0]:+.3f}; cumulative return {feature_state[1]:+.3f}",
        f"- completeness: sum of attributions - (output - baseline) = {attr.delta:+.2e}",
        "",
        f"## By regime ({len(picked)} test episodes, mean position over the episode)",
        "",
        "![regimes](regimes.png)",
        "",
        *frame_to_markdown(table, "+.4f"),
        "",
        "Regimes are hindsight labels from the episode's realised returns (the stage-2 market "
        "classifier); they are for reading only and never reach the policy.",
    ]
    (out / "explain.md").write_text("\n".join(lines) + "\n")
    print(text)
    print(f"[explain] wrote {out / 'explain.md'}")
    return 0


if __name__ == "__main__":
    run(main)
