"""Train the multi-asset portfolio strategy and report it against the portfolio baselines.

    python experiments/train_portfolio.py --smoke-test
    python experiments/train_portfolio.py --universe SP500,NASDAQ,MSFT --cost us_equity
    python experiments/train_portfolio.py --data my_bars/ --features runs/features/<cache> --cap 0.4

The universe is every symbol of --data (default: the bundled sample) or the --universe list;
assets with uneven histories are handled point in time (quantray.data.universe). Features are
the frozen stage-1 cache given by --features, or the 11 normalised raw features. Writes
OUT/portfolio.pt, OUT/history.csv and, for --report-split (valid by default; test reads the
test split once, at the end), OUT/report.md with episodes.csv, weights.png and equity.png.
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from quantray.cli import claim_out_dir, positive_int, run, script_parser
from quantray.config import ConfigError, CostConfig, PortfolioConfig, check_choice
from quantray.config.flags import add_flags, from_flags
from quantray.data.universe import load_portfolio_task


def parse_args() -> argparse.Namespace:
    parser = script_parser(__doc__, "runs/portfolio")
    parser.add_argument("--universe", default=None, help="comma-separated symbols (default: all)")
    parser.add_argument("--features", default=None, help="frozen-feature cache dir (default: raw)")
    parser.add_argument("--cost", default="us_equity", help="none | us_equity | cn_a_share")
    parser.add_argument("--report-split", default="valid", help="valid | test")
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="torch threads (small net: 1)"
    )
    parser.add_argument("--seed", type=int, default=0)
    add_flags(parser, PortfolioConfig, title="portfolio strategy settings")  # every field
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    check_choice("train_portfolio", "--report-split", args.report_split, ("valid", "test"))
    if args.threads < 1:
        raise ConfigError(f"train_portfolio: --threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    cost = CostConfig.preset(args.cost)
    smoke = {"epochs": 2, "steps_per_epoch": 5, "batch_size": 16} if args.smoke_test else {}
    config = from_flags(args, PortfolioConfig, PortfolioConfig(**smoke))
    universe = None if args.universe is None else [s.strip() for s in args.universe.split(",")]
    task = load_portfolio_task(args.data, universe=universe, features=args.features)
    print(f"[portfolio] {task.describe()}")

    from quantray.evaluate.portfolio_report import report_with_baselines
    from quantray.train.portfolio import policy_weights, save_portfolio, train_portfolio

    result = train_portfolio(task, config, cost, seed=args.seed)
    out = claim_out_dir(args.out, args.storage_path)
    pd.DataFrame(result.history).to_csv(out / "history.csv", index=False)
    meta = {"task": task.describe(), "seed": args.seed, "best": result.best}
    checkpoint = save_portfolio(out / "portfolio.pt", result.model, cost, meta)

    episodes = task.episodes(args.report_split, stride=task.episode_len)
    weights = {"strategy": policy_weights(result.model, episodes, task.task.table, cost)}
    header = [
        f"- {task.describe()}",
        f"- cost model {args.cost}; cap {config.cap}; seed {args.seed}; "
        f"{result.samples} training episodes in {result.seconds:.0f}s",
        f"- selected epoch {int(result.best['epoch']) + 1} by pooled validation information "
        "ratio vs 1/N; "
        f"reported split: {args.report_split}",
        f"- config: {config.to_dict()}",
    ]
    report = report_with_baselines(
        task, episodes, weights, cost, out, header=header, seed=args.seed
    )
    print(report.read_text())
    print(f"checkpoint: {checkpoint}\nreport: {report}")
    return 0


if __name__ == "__main__":
    run(main)
