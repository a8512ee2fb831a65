"""Fixed per-trial overhead of our Tune loop vs a plain Optuna study (same trivial objective).

    python benchmarks/tune_overhead.py                # 40 trials each
    python benchmarks/tune_overhead.py --trials 100 --small-trial-seconds 30

Both sides run the SAME define-by-run space (``quantray.tune.space.SearchSpace``) and a
trivial objective (no training), so the time per trial is pure machinery: Optuna's ask/tell
vs Tune's OptunaSearch + ConcurrencyLimiter + ASHA + trial actors (built by
``quantray.tune.tuner.make_tuner``, reuse_actors=True, and once with fresh actors). The
overhead is then compared with the wall time of one small-budget trial (measured here with
``run_trial`` unless --small-trial-seconds is given). Targets: <= 0.2 s per trial and <= 5%
of a small-budget trial.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import optuna

from quantray.config import TuneSettings, get_budget
from quantray.train.price import default_data_path
from quantray.tune.space import SearchSpace
from quantray.tune.tuner import OBJECTIVE, make_tuner, run_trial


def trivial(config: dict) -> None:
    from ray import tune

    tune.report({OBJECTIVE: float(config["lr"])})


def optuna_ms(space: SearchSpace, trials: int) -> float:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    t0 = time.perf_counter()
    study.optimize(lambda t: (space(t), t.params["lr"])[1], n_trials=trials)
    return (time.perf_counter() - t0) / trials * 1e3


def tune_ms(settings: TuneSettings, trials: int, reuse: bool) -> float:
    tuner = make_tuner(settings, trainable=trivial, reuse_actors=reuse)
    t0 = time.perf_counter()
    tuner.fit()
    return (time.perf_counter() - t0) / trials * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--small-trial-seconds", type=float, default=None)
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        settings = TuneSettings(
            get_budget("small"), default_data_path(None), tmp, "overhead",
            num_samples=args.trials, max_concurrent=2, events=False,
        )  # fmt: skip
        space = SearchSpace(settings.budget, settings.constants())
        plain = optuna_ms(space, args.trials)
        reused = tune_ms(settings, args.trials, reuse=True)
        fresh = tune_ms(replace(settings, name="fresh"), args.trials, False)
        small = args.small_trial_seconds
        if small is None:
            # One small-budget trial, stage-1 model trained first so only the trial is timed.
            config = {**settings.constants(), **_small_params()}
            run_trial(config)
            t0 = time.perf_counter()
            run_trial({**config, "lr": 1.1e-3})
            small = time.perf_counter() - t0
    ray.shutdown()
    print(f"optuna study           : {plain:8.1f} ms/trial")
    print(f"tune, fresh actors     : {fresh:8.1f} ms/trial  ({fresh / plain:.0f}x optuna)")
    print(f"tune, reuse_actors=True: {reused:8.1f} ms/trial  ({reused / plain:.0f}x optuna)")
    print(
        f"tune overhead per trial (reuse) - optuna: {(reused - plain) / 1e3:.3f} s (target <= 0.2 s)"
    )
    print(
        f"small-budget trial wall: {small:.1f} s; overhead share "
        f"{(reused - plain) / 1e3 / small:.1%} (target <= 5%)"
    )


def _small_params() -> dict:
    return {
        "s1_d_model": 32, "s1_n_layers": 2, "s1_ffn": "swiglu", "relative_return_weight": 1.0,
        "risk_cost_weight": 0.5, "opportunity_cost_weight": 0.5, "transaction_cost_weight": 0.1,
        "information_ratio_weight": 0.01, "tau_start": 1.0, "hidden_size": 64, "lr": 1e-3,
    }  # fmt: skip


if __name__ == "__main__":
    main()
