"""Stage 2: train the GRU strategy (Gumbel-softmax positions) on frozen stage-1 features.

    python experiments/train_strategy.py --smoke-test
    python experiments/train_strategy.py --features runs/features/features-<id>-<hash> --cost cn_a_share
    python experiments/train_strategy.py --features raw      # the 11 normalised raw features

With no --features, a small stage-1 model is trained on the data first and its cache is
written under OUT/stage1 (reused by later runs). Writes OUT/strategy.pt, OUT/history.csv and
OUT/summary.md (validation metrics of the selected epoch against the baselines). With
--mlflow [URI]: flags as params, every epoch's metrics, the selected epoch's and the
baselines' validation numbers, and the three files as artifacts.
"""

from __future__ import annotations

import argparse

import pandas as pd

from quantray.cli import claim_run, positive_int, run, run_name, script_parser, stage2_features
from quantray.config import SELECTION_SCORES, CostConfig, StrategyConfig
from quantray.config.flags import add_flags, from_flags
from quantray.data import load_bars, load_task
from quantray.evaluate.table import exit_cost_note
from quantray.evaluate.versus import versus_baselines


def parse_args() -> argparse.Namespace:
    parser = script_parser(__doc__, "runs/strategy", tracking=True)
    parser.add_argument("--features", default=None, help="feature cache dir, 'raw', or omit")
    parser.add_argument("--cost", default="us_equity", help="none | us_equity | cn_a_share")
    parser.add_argument(
        "--steps-per-epoch", type=positive_int, default=None, help="optimizer steps per epoch"
    )
    parser.add_argument("--seed", type=int, default=0)
    # Every StrategyConfig field (feature_dim comes from the features).
    add_flags(parser, StrategyConfig, skip=("feature_dim",), title="strategy settings")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    cost = CostConfig.preset(args.cost)
    base = StrategyConfig(**({"epochs": 2} if args.smoke_test else {}))
    config = from_flags(args, StrategyConfig, base)
    # Read and validate once, first: bad data stops here with a clear message.
    bars = None if args.data is None else load_bars(args.data)
    out, tracking = claim_run(args, "train_strategy")  # no mlflow package: exit 2 here
    task = load_task(args.data, features=stage2_features(args, out, seed=args.seed), bars=bars)
    print(f"[stage 2] {task.describe()}")

    from quantray.train.strategy import policy_positions, train_strategy
    from quantray.train.tracking import tracked_run

    steps = args.steps_per_epoch or (20 if args.smoke_test else None)
    params = {**vars(args), "strategy": config.to_dict(), "task": task.describe()}
    with tracked_run(tracking, run_name("strategy"), params) as track:
        result = train_strategy(
            task,
            config,
            cost,
            seed=args.seed,
            steps_per_epoch=steps,
            checkpoint=out / "strategy.pt",
            report=track.epoch,
        )
        pd.DataFrame(result.history).to_csv(out / "history.csv", index=False)

        valid = task.episodes("valid", stride=task.data.episode_len)
        positions = policy_positions(result.model, valid, task.table, cost)
        scored = versus_baselines("gru", positions, task, valid, cost, seed=args.seed)
        best = result.best
        lines = [
            "# Stage 2 GRU strategy",
            "",
            f"- {task.describe(cost)}",
            f"- cost model: {args.cost}; seed {args.seed}; {result.samples} training episodes; "
            f"{result.seconds:.0f}s",
            f"- selected epoch {int(best['epoch']) + 1} of {len(result.history)} by validation "
            f"`{config.select_by}` ({SELECTION_SCORES[config.select_by]}); the table below is on the "
            "same validation episodes that picked the epoch, so it leans optimistic",
            "",
            f"Validation (GRU pooled Sharpe {best['valid_sharpe']:.3f}, information ratio vs "
            f"buy-and-hold {best['valid_ir']:.3f}). {exit_cost_note(cost)}",
            "",
            *scored.markdown(seed=args.seed),
            "",
            "The test split is untouched here (experiments/compare.py reports it).",
        ]
        (out / "summary.md").write_text("\n".join(lines) + "\n")
        track.metrics(best, prefix="selected/")
        if track.active:  # the summary table's numbers (CI cells: their estimates)
            track.table(scored.table(seed=args.seed), prefix="valid")
        track.artifacts([out / "summary.md", out / "history.csv", out / "strategy.pt"])
    print("\n".join(lines))
    print(f"\ncheckpoint: {result.checkpoint}")
    return 0


if __name__ == "__main__":
    run(main)
