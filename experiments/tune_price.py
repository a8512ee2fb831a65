"""Stage-1-only architecture search: every Tune trial runs a Ray Train TorchTrainer.

    python experiments/tune_price.py --smoke-test
    python experiments/tune_price.py --num-samples 8 --num-workers 2 --address auto

Each trial samples a stage-1 architecture from ``quantray.tune.space`` (d_model, depth, FFN
kind with conditional MoE settings), trains it data-parallel with ``fit_price_model`` (Ray
Train V2, ~17 s start-up per run: trials must be long enough to pay for it) and reports its
validation loss ratio (model loss / zero-forecast loss, lower is better) to OptunaSearch.
Writes OUT/price_trials.csv and prints the best architecture. Trial folders hold Tune's
TensorBoard event files; with --mlflow [URI] every trial is also an MLflow run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from quantray.cli import (
    add_common_args,
    claim_out_dir,
    mlflow_target,
    positive_int,
    run,
    run_name,
    storage_path,
)
from quantray.config import BUDGETS, TuneSettings, get_budget
from quantray.data import load_bars
from quantray.train.price import default_data_path
from quantray.tune.tuner import stage1_spec


def price_trial(config: dict[str, Any]) -> None:
    """Tune trial = driver of one TorchTrainer run; reports its final validation metrics."""
    from ray import tune

    from quantray.train.price import fit_price_model

    spec = stage1_spec(config)
    trial = tune.get_context().get_trial_id()
    result = fit_price_model(
        spec,
        storage_path=config["train_storage"],
        name=f"price-{trial}",
        num_workers=int(config["num_workers"]),
    )
    tune.report({k: float(v) for k, v in result.metrics.items() if isinstance(v, int | float)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser, default_out="runs/tune_price", tracking=True)
    parser.add_argument("--budget", default="small", choices=list(BUDGETS))
    parser.add_argument("--num-samples", type=positive_int, default=None)
    parser.add_argument("--num-workers", type=positive_int, default=1, help="DDP workers per trial")
    parser.add_argument("--address", default=None, help="Ray cluster to join ('auto')")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.smoke_test:
        args.budget = "smoke"
        args.num_samples = args.num_samples or 2
    if args.num_workers < 1:
        parser.error(f"--num-workers must be >= 1, got {args.num_workers}")
    data = default_data_path(args.data)
    load_bars(data)  # validate before any Ray work
    tracking = mlflow_target(args, "tune_price")  # no mlflow package: exit 2 here
    out = Path(args.out)
    claim_out_dir(out, args.storage_path)

    import optuna
    import ray
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from quantray.train.tracking import tune_callbacks
    from quantray.tune.space import SearchSpace

    settings = TuneSettings(
        get_budget(args.budget), data, storage_path(args), run_name("price"),
        seed=args.seed, events=False,
    )  # fmt: skip
    constants = {
        **settings.constants(),
        "num_workers": args.num_workers,
        "train_storage": f"{settings.storage_path}/train_runs",
    }
    space = SearchSpace(settings.budget, constants, stage1_only=True)
    searcher = OptunaSearch(
        space=space,
        metric="loss_ratio",
        mode="min",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
    )
    from quantray.train.ray_runtime import init_ray, require_resources

    init_ray(args.address, __file__)
    # Each trial's TorchTrainer needs its workers (1 CPU each) placed at once.
    require_resources({"CPU": 1}, args.num_workers, flags="--num-workers")
    # The trial itself only drives the TorchTrainer; its workers hold the CPUs.
    tuner = tune.Tuner(
        tune.with_resources(price_trial, {"cpu": 0.01}),
        tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=1),
            num_samples=args.num_samples or settings.budget.num_samples,
        ),
        run_config=tune.RunConfig(
            name=settings.name,
            storage_path=settings.storage_path,
            callbacks=tune_callbacks(tracking, settings.name),
        ),
    )
    results = tuner.fit()
    frame = results.get_dataframe()
    frame.to_csv(out / "price_trials.csv", index=False)
    best = results.get_best_result(metric="loss_ratio", mode="min")
    arch = {k: v for k, v in best.config.items() if k.startswith("s1_")}
    print(f"[tune_price] best architecture {arch}: loss_ratio {best.metrics['loss_ratio']:.4f}")
    print(f"[tune_price] trials: {out / 'price_trials.csv'}")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    run(main)
