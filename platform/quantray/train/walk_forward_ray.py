"""Walk-forward folds on Ray: each fold a Ray task with its own CPUs (and GPU if asked).

``retrain`` folds are independent, so all unfinished folds are submitted at once and a
cluster runs as many side by side as it has resources for. ``incremental`` folds are
sequential by nature (fold k starts from fold k-1's weights): they run one after another,
each still as a Ray task. A fold whose worker dies is retried by Ray (``max_retries``) and
starts clean; a finished fold (its ``result.json`` exists) is never recomputed, so running
the same walk-forward again continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quantray.train.walk_forward import FoldPlan, is_finished, read_result, run_fold


def run_folds(
    plans: list[FoldPlan],
    *,
    cpus_per_fold: float = 1.0,
    gpus_per_fold: float = 0.0,
    max_retries: int = 2,
    log: Callable[[str], None] | None = print,
) -> list[dict[str, Any]]:
    """Run ``plans`` (one update mode, in fold order) on the connected Ray cluster; return
    every fold's result in fold order."""
    import ray

    say = log or (lambda _: None)
    task = ray.remote(num_cpus=cpus_per_fold, num_gpus=gpus_per_fold, max_retries=max_retries)(
        run_fold
    )
    results: dict[int, dict[str, Any]] = {}
    for plan in plans:
        if is_finished(plan):
            results[plan.fold.index] = read_result(plan)
            say(f"[walk-forward] {plan.update} {plan.fold.name}: finished earlier, reused")
    if plans and plans[0].update == "incremental":
        say(
            "[walk-forward] incremental: folds run one after another (each warm-starts from the last)"
        )
        previous = None
        for plan in plans:
            if plan.fold.index not in results:
                results[plan.fold.index] = ray.get(task.remote(plan, previous))
                _report(say, results[plan.fold.index])
            previous = results[plan.fold.index]
    else:
        pending = {task.remote(p): p for p in plans if p.fold.index not in results}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            plan = pending.pop(done[0])
            results[plan.fold.index] = ray.get(done[0])
            _report(say, results[plan.fold.index])
    return [results[p.fold.index] for p in plans]


def _report(say: Callable[[str], None], r: dict[str, Any]) -> None:
    say(
        f"[walk-forward] {r['update']} fold {r['fold']} ({r['test_start']}..{r['test_end']}): "
        f"{r['selected_by']} {r['valid_score']:+.2f}, {r['oos_episodes']} OOS episodes, "
        f"{r['seconds']:.1f}s"
    )
