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
from typing import Any

from quantray.cli import claim_run, run, run_name, script_parser, storage_path
from quantray.config import TunePriceSettings, TuneSettings
from quantray.config.flags import add_flags, from_flags
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


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, TunePriceSettings]:
    """The flags and the search settings they give (every ``TunePriceSettings`` field is a
    flag: --budget, --num-samples, --num-workers, --seed); a refused value is a ConfigError
    naming its flag (exit 2)."""
    parser = script_parser(__doc__, "runs/tune_price", tracking=True, address=True)
    add_flags(parser, TunePriceSettings, title="search settings")
    args = parser.parse_args(argv)
    settings = from_flags(args, TunePriceSettings)
    return args, settings.smoke() if args.smoke_test else settings


def main() -> int:
    args, search = parse_args()
    data = default_data_path(args.data)
    load_bars(data)  # validate before any Ray work
    out, tracking = claim_run(args, "tune_price")  # no mlflow package: exit 2 here

    import optuna
    import ray
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from quantray.train.tracking import tune_callbacks
    from quantray.tune.space import SearchSpace

    settings = TuneSettings(
        search.search_budget, data, storage_path(args), run_name("price"),
        seed=search.seed, events=False,
    )  # fmt: skip
    constants = {
        **settings.constants(),
        "num_workers": search.num_workers,
        "train_storage": f"{settings.storage_path}/train_runs",
    }
    space = SearchSpace(settings.budget, constants, stage1_only=True)
    searcher = OptunaSearch(
        space=space,
        metric="loss_ratio",
        mode="min",
        sampler=optuna.samplers.TPESampler(seed=search.seed),
    )
    from quantray.train.ray_runtime import init_ray, require_resources

    init_ray(args.address, __file__)
    # Each trial's TorchTrainer needs its workers (1 CPU each) placed at once.
    require_resources({"CPU": 1}, search.num_workers, flags="--num-workers")
    # The trial itself only drives the TorchTrainer; its workers hold the CPUs.
    tuner = tune.Tuner(
        tune.with_resources(price_trial, {"cpu": 0.01}),
        tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=1),
            num_samples=search.trials,
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
