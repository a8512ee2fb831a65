"""Compare the GRU strategy, RLlib PPO and SAC and the baselines on equal terms.

    python experiments/compare.py --smoke-test
    python experiments/compare.py --features runs/features/features-<id>-<hash> --seeds 3
    python experiments/compare.py --budget-by seconds --budget 120 --tune 8
    python experiments/compare.py --task portfolio --data platform/quantray/data/sample/us_stocks.parquet

Every learned method gets the same training budget per run (``--budget-by samples``: env-days,
an RL env step = one GRU episode-day; or ``seconds`` of training), is validated at the same
``--evaluations`` marks on the same validation episodes and keeps its best validation
checkpoint, for the same number of seeds. ``--tune N`` first gives each method N Ray Tune
trials (Optuna TPE) over its own hyperparameters under that budget, selected on validation.
Only after every selection is the test split read, once: every method and the baselines then
play the same fixed list of non-overlapping TEST episodes through the same accounting.

Writes OUT/report.md (per-episode means with CIs, pairwise differences, per-regime table,
seeds, budgets used, calendar-time equal-weight portfolio stats), episodes.csv, budgets.csv,
learning_curves.csv, tune_<method>.csv (with --tune) and PNGs: equity.png (growth of 1 and
drawdown over the held-out dates, buy-and-hold beside), positions.png, regimes.png,
learning_curves.png.
With --mlflow [URI]: flags as params, every method's mean test metrics, and the report
files (learning curves and budgets included) as artifacts.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantray.cli import (
    claim_run,
    positive_int,
    run,
    run_name,
    script_parser,
    stage2_features,
    storage_path,
)
from quantray.config import (
    BUDGET_UNITS,
    REGIMES,
    ConfigError,
    CostConfig,
    PPOSettings,
    SACSettings,
    StrategyConfig,
    TrainingBudget,
    check_choice,
)
from quantray.config.flags import add_flags, from_flags, given_flags
from quantray.config.rl import LEARNED_METHODS
from quantray.data import load_bars, load_task
from quantray.evaluate.backtest import Backtest
from quantray.evaluate.calendar import equal_weight_daily, majority_by_date, return_dates
from quantray.evaluate.report import MethodResult, write_report
from quantray.evaluate.table import exit_cost_note, mean_backtest
from quantray.evaluate.versus import backtest_episodes, baseline_backtests

if TYPE_CHECKING:
    from quantray.tune.methods import MethodSearch

DEFAULT_BUDGET = {"samples": 200_000, "seconds": 120}
SMOKE_BUDGET = {"samples": 800, "seconds": 3}


def parse_args() -> argparse.Namespace:
    parser = script_parser(__doc__, "runs/compare", tracking=True, address=True)
    parser.add_argument("--features", default=None, help="feature cache dir, 'raw', or omit")
    parser.add_argument("--cost", default="us_equity", help="none | us_equity | cn_a_share")
    parser.add_argument(
        "--seeds", type=positive_int, default=None, help="training seeds per method"
    )
    parser.add_argument(
        "--methods", default="gru,ppo,sac", help="learned methods to train: gru,ppo,sac"
    )
    parser.add_argument(
        "--budget-by",
        default="samples",
        help="what the per-run training budget counts: samples (env-days; an RL env step = "
        "one GRU episode-day) or seconds (training wall-clock, validation excluded)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="training budget per run and method, in --budget-by's unit (default: "
        f"{DEFAULT_BUDGET['samples']:,} samples or {DEFAULT_BUDGET['seconds']} s; smoke: "
        f"{SMOKE_BUDGET['samples']:,} or {SMOKE_BUDGET['seconds']})",
    )
    parser.add_argument(
        "--evaluations",
        type=positive_int,
        default=None,
        help="validation scorings per run, evenly over the budget (default 10; smoke 2)",
    )
    parser.add_argument(
        "--tune",
        type=int,
        default=0,
        metavar="N",
        help="first give each learned method N Tune trials (Optuna TPE) over its own "
        "hyperparameters, each trained to the budget and selected on validation",
    )
    parser.add_argument(
        "--task",
        default="single",
        help="single (one asset per episode) | portfolio (weights over a universe: the "
        "portfolio strategy as 'gru', PPO / SAC on PortfolioEnv-v0, the portfolio baselines)",
    )
    parser.add_argument("--universe", default=None, help="portfolio: comma-separated symbols")
    # Every method's own settings, fixed for all its seeds (tuning searches on top of them).
    add_flags(parser, StrategyConfig, prefix="gru-", skip=GRU_FIXED, title="GRU settings")
    add_flags(parser, PPOSettings, prefix="ppo-", title="PPO settings")
    add_flags(parser, SACSettings, prefix="sac-", title="SAC settings")
    return parser.parse_args()


GRU_FIXED = ("feature_dim", "select_by")
"""GRU settings compare.py sets itself: the features' width and the one selection score
every method is judged by."""


def method_overrides(args: argparse.Namespace) -> dict[str, dict]:
    """The settings each method's flags fix (method -> field -> value), checked now."""
    overrides = {
        "gru": given_flags(args, StrategyConfig, prefix="gru-", skip=GRU_FIXED),
        "ppo": given_flags(args, PPOSettings, prefix="ppo-"),
        "sac": given_flags(args, SACSettings, prefix="sac-"),
    }
    for cls, prefix in ((StrategyConfig, "gru-"), (PPOSettings, "ppo-"), (SACSettings, "sac-")):
        from_flags(args, cls, prefix=prefix, skip=GRU_FIXED if prefix == "gru-" else ())
    return overrides


def _settings(args: argparse.Namespace) -> tuple[list[str], TrainingBudget, int]:
    """Methods, budget and seeds from the flags; ConfigError (exit 2) on a user mistake."""
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(LEARNED_METHODS))
    if unknown or not methods:
        raise ConfigError(
            f"--methods: found {unknown or 'nothing'}; expected a comma list of "
            f"{', '.join(LEARNED_METHODS)} (e.g. --methods gru,ppo)"
        )
    if args.budget_by not in BUDGET_UNITS:
        raise ConfigError(
            f"--budget-by: found {args.budget_by!r}; expected one of {', '.join(BUDGET_UNITS)}"
        )
    if args.tune < 0:
        raise ConfigError(f"--tune: found {args.tune}; expected a trial count >= 0")
    seeds = args.seeds if args.seeds is not None else (1 if args.smoke_test else 3)
    if seeds < 1:
        raise ConfigError(f"--seeds: found {seeds}; expected >= 1")
    default = SMOKE_BUDGET if args.smoke_test else DEFAULT_BUDGET
    budget = TrainingBudget(
        by=args.budget_by,
        amount=args.budget if args.budget is not None else default[args.budget_by],
        evaluations=args.evaluations or (2 if args.smoke_test else 10),
    )
    return methods, budget, seeds


def main() -> int:
    args = parse_args()
    check_choice("compare", "--task", args.task, ("single", "portfolio"))
    methods, budget, seeds = _settings(args)
    overrides = method_overrides(args)  # a bad --gru-/--ppo-/--sac- value: exit 2 here
    cost = CostConfig.preset(args.cost)
    if args.task == "portfolio":
        fixed = sorted(f"--{m}-{k.replace('_', '-')}" for m, o in overrides.items() for k in o)
        if fixed:
            raise ConfigError(
                f"compare --task portfolio: found {', '.join(fixed)}; those flags set the "
                "single-asset methods' settings, which the portfolio methods do not use. Drop "
                "them (--tune N searches the portfolio methods' own parameters)"
            )
        comparison: SingleAsset | Portfolio = Portfolio(args, cost)
    else:
        comparison = SingleAsset(args, cost, overrides)
    runs = select(args, comparison, methods, budget, seeds)
    # 2. The test split, read once, after all selection.
    budgets = budget_table(runs, budget, comparison.score)
    budgets.to_csv(comparison.out / "budgets.csv", index=False)
    path = comparison.report(runs, budget_lines(args, budget, budgets, comparison), seeds)
    print(path.read_text().split("![")[0])
    print(f"report: {path}")
    return 0


def select(
    args: argparse.Namespace,
    comparison: SingleAsset | Portfolio,
    methods: list[str],
    budget: TrainingBudget,
    seeds: int,
) -> dict[str, list]:
    """1. Selection, validation only: with --tune, each method's Tune trials (tune_<method>.csv);
    then every method trained for every seed to ``budget``, at its best validation checkpoint.
    Returns method -> one run per seed."""
    import torch

    # One thread, as in every Tune trial: same footing for all methods, and these small
    # networks run no faster on more threads (on a busy machine, much slower).
    torch.set_num_threads(1)
    if args.tune or any(m != "gru" for m in methods):
        from quantray.train.ray_runtime import init_ray

        init_ray(args.address, __file__, **({"num_cpus": 2} if args.smoke_test else {}))

    common = {"budget": budget, "cost": args.cost, "smoke": args.smoke_test}
    params: dict[str, dict] = {m: {} for m in methods}
    if args.tune:
        from quantray.tune.methods import MethodSearch

        search = MethodSearch(args.tune, storage_path=storage_path(args), **common)
        for method in methods:
            params[method], trials = comparison.tune(method, search)
            trials.to_csv(comparison.out / f"tune_{method}.csv", index=False)
            print(f"[compare] {method}: {args.tune} trials, selected {params[method]}")
    runs: dict[str, list] = {m: [] for m in methods}
    score = comparison.score
    for method in methods:
        for seed in range(seeds):
            result = comparison.train(method, params=params[method], seed=seed, **common)
            runs[method].append(result)
            print(
                f"[compare] {method} seed {seed}: {result.samples:,} env-days, "
                f"{result.train_seconds:.1f}s training, best {score} "
                f"{result.best.get(score, float('nan')):.3f}"
            )
    return runs


def budget_table(runs: dict[str, list], budget: TrainingBudget, score: str) -> pd.DataFrame:
    """budgets.csv: one row per method and seed, the budget, what it used and what it kept."""
    return pd.DataFrame(
        [
            {
                "method": r.method,
                "seed": r.seed,
                "budget_by": budget.by,
                "budget": budget.amount,
                "samples": r.samples,
                "train_seconds": r.train_seconds,
                "wall_seconds": r.seconds,
                "env_days_per_granule": r.granularity,
                "selected_by": score,
                "best_valid_score": r.best.get(score, float("nan")),
                "selected_at_samples": r.best.get("samples", float("nan")),
            }
            for seed_runs in runs.values()
            for r in seed_runs
        ]
    )


def budget_lines(
    args: argparse.Namespace,
    budget: TrainingBudget,
    budgets: pd.DataFrame,
    comparison: SingleAsset | Portfolio,
) -> list[str]:
    """The report header's lines on equal terms: budget, checkpoint selection, tuning."""
    used = budgets.groupby("method", sort=False)[["samples", "train_seconds"]].mean()
    return [
        f"- training budget (every learned method, every seed): {budget.describe()}; used per "
        "run (mean over seeds): "
        + "; ".join(
            f"{m} {row.samples:,.0f} env-days in {row.train_seconds:.1f} s"
            for m, row in used.iterrows()
        ),
        f"- checkpoint: every learned method keeps its best validation `{comparison.score}`"
        f"{comparison.score_note} over its {budget.evaluations} validations, on the same "
        "validation episodes",
        (
            f"- tuned: each learned method got {args.tune} Tune trials (Optuna TPE) over its "
            "own hyperparameters, each trained to the same budget and selected on validation "
            "(tune_<method>.csv); the test split was read once, after all selection"
            if args.tune
            else "- not tuned: default hyperparameters for every method (--tune N to search)"
        ),
    ]


class SingleAsset:
    """``--task single``: the GRU strategy, PPO and SAC on one asset per episode
    (``quantray.tune.methods``), judged with the single-asset baselines."""

    score_note = ""

    def __init__(
        self, args: argparse.Namespace, cost: CostConfig, overrides: dict[str, dict]
    ) -> None:
        from quantray.tune.methods import SELECT

        self.args, self.cost, self.overrides, self.score = args, cost, overrides, SELECT
        # Read and validate once, first: bad data stops here with a clear message.
        bars = None if args.data is None else load_bars(args.data)
        self.out, self.tracking = claim_run(args, "compare")  # no mlflow package: exit 2 here
        features = stage2_features(args, self.out)
        self.features = None if features is None else str(Path(features).resolve())
        self.data = None if args.data is None else str(Path(args.data).resolve())
        self.task = load_task(self.data, features=self.features, bars=bars)

    def tune(self, method: str, search: MethodSearch) -> tuple[dict, pd.DataFrame]:
        from quantray.tune.methods import tune_method

        return tune_method(
            method,
            search,
            data=self.data,
            features=self.features,
            overrides=self.overrides[method],
        )

    def train(self, method: str, **common: Any) -> Any:
        from quantray.tune.methods import train_method

        return train_method(method, self.task, overrides=self.overrides[method], **common)

    def report(self, runs: dict[str, list], budget_lines: list[str], seeds: int) -> Path:
        """Every method's seeds and the baselines on the same test episodes: report.md and
        its CSVs / PNGs; with --mlflow, the learning curves, test means and files."""
        import torch

        from quantray.losses import classify_market
        from quantray.train.tracking import start_run

        args, task, cost, out = self.args, self.task, self.cost, self.out
        test = task.episodes("test", stride=task.data.episode_len)
        dates = return_dates(task.panel.dates, test.rows)  # [n, E]
        track = start_run(
            self.tracking,
            run_name("compare"),
            {**vars(args), "seeds": seeds, "task": task.describe(), "test_episodes": len(test)},
        )
        regimes = classify_market(torch.from_numpy(test.next_returns)).numpy()
        names = np.asarray(REGIMES)[regimes]  # [n]
        regime_by_date = majority_by_date(np.repeat(names[:, None], dates.shape[1], axis=1), dates)

        def result_of(name: str, per_seed: list[Backtest], **cost_used) -> MethodResult:
            rows = []
            for seed, backtest in enumerate(per_seed):
                frame = backtest.episode_metrics()
                frame.insert(0, "episode", range(len(frame)))
                frame.insert(0, "method", name)
                rows.append(frame.assign(seed=seed))
            stacked = np.tile(dates, (len(per_seed), 1))  # [seeds * n, E]
            return MethodResult(
                name,
                pd.concat(rows, ignore_index=True),
                per_seed[0].executed,
                mean_backtest(per_seed),
                daily=equal_weight_daily(np.vstack([b.net for b in per_seed]), stacked),
                daily_position=equal_weight_daily(
                    np.vstack([b.executed for b in per_seed]), stacked
                ),
                **cost_used,
            )

        results = [
            result_of(
                method,
                [backtest_episodes(r.play(task, test), test, cost) for r in seed_runs],
                seconds=sum(r.seconds for r in seed_runs),
                samples=sum(r.samples for r in seed_runs),
                train_seconds=sum(r.train_seconds for r in seed_runs),
            )
            for method, seed_runs in runs.items()
        ]
        for name, backtest in baseline_backtests(task, test, cost).items():
            results.append(result_of(name, [backtest]))
        curves = [r.curve() for seed_runs in runs.values() for r in seed_runs]
        n, e = test.next_returns.shape
        header = [
            f"- {task.describe(cost)}",
            f"- test episodes: {n} non-overlapping {e}-day episodes; cost model `{args.cost}`; "
            f"seeds per learned method: {seeds}. {exit_cost_note(cost)}",
            *budget_lines,
            "- market regime of each episode from the three-voter classifier on its realised "
            "returns (hindsight, used for reporting only)",
        ]
        path = write_report(
            results,
            regimes,
            task.episode_dates(test),
            out,
            header=header,
            regime_by_date=regime_by_date,
            curve_metric=self.score,
            curves=pd.concat(curves, ignore_index=True) if curves else None,
        )
        for curve in curves:  # every method's and seed's validation marks, as MLflow steps
            for step, row in enumerate(curve.to_dict("records")):
                track.metrics(row, step=step, prefix=f"{row['method']}/seed{row['seed']}/")
        track.means(pd.concat([r.rows for r in results], ignore_index=True), prefix="test_mean")
        track.artifacts([path, *sorted(out.glob("*.csv")), *sorted(out.glob("*.png"))])
        track.finish()
        return path


class Portfolio:
    """``--task portfolio``: the portfolio strategy (reported as "gru"), PPO and SAC on
    PortfolioEnv-v0 (``quantray.tune.portfolio_methods``: every learned method trains to the
    same budget in env-days, one RL env step = one portfolio day = one strategy episode-day,
    or seconds; validates at the same marks on the same validation episodes by the same score,
    IR vs 1/N), judged with the portfolio baselines through the portfolio accounting."""

    score_note = " (pooled information ratio vs 1/N)"

    def __init__(self, args: argparse.Namespace, cost: CostConfig) -> None:
        from quantray.data.universe import load_portfolio_task
        from quantray.train.portfolio import SELECTION_METRIC

        self.args, self.cost, self.score = args, cost, SELECTION_METRIC
        universe = None if args.universe is None else [s.strip() for s in args.universe.split(",")]
        features = None if args.features in (None, "raw") else str(Path(args.features).resolve())
        self.task = load_portfolio_task(args.data, universe=universe, features=features)
        self.env_config = {
            "data": None if args.data is None else str(Path(args.data).resolve()),
            "universe": universe,
            "features": features,
        }
        self.out, _ = claim_run(args)

    def tune(self, method: str, search: MethodSearch) -> tuple[dict, pd.DataFrame]:
        from quantray.tune.portfolio_methods import tune_portfolio_method

        return tune_portfolio_method(method, search, env_config=self.env_config)

    def train(self, method: str, **common: Any) -> Any:
        from quantray.tune.portfolio_methods import train_portfolio_method

        return train_portfolio_method(method, self.task, env_config=self.env_config, **common)

    def report(self, runs: dict[str, list], budget_lines: list[str], seeds: int) -> Path:
        """Every method and the portfolio baselines on the same test episodes: report.md,
        learning_curves.csv and the portfolio report's CSVs / PNGs. Several seeds of a method
        are one portfolio holding each seed's weights in equal parts (capital split across
        the models)."""
        from quantray.evaluate.portfolio_report import report_with_baselines

        task, out = self.task, self.out
        test = task.episodes("test", stride=task.episode_len)
        weights = {m: np.mean([r.play(test) for r in rs], axis=0) for m, rs in runs.items()}
        curves = [r.curve() for rs in runs.values() for r in rs]
        if curves:
            pd.concat(curves, ignore_index=True).to_csv(out / "learning_curves.csv", index=False)
        header = [
            f"- {task.describe()}",
            f"- test episodes: {len(test)} non-overlapping {task.episode_len}-day episodes; "
            f"cost model `{self.args.cost}`; seeds per learned method: {seeds} (a method's row "
            "holds its seeds' weights in equal parts)",
            *budget_lines,
        ]
        return report_with_baselines(
            task,
            test,
            weights,
            self.cost,
            out,
            header=header,
            reference="gru" if "gru" in weights else next(iter(weights)),
        )


if __name__ == "__main__":
    run(main)
