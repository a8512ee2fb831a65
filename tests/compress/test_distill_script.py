"""experiments/distill.py runs end to end as a user runs it, and rejects bad input with exit 2."""

from __future__ import annotations

import pandas as pd

from quantray.train.price import load_checkpoint, model_from_checkpoint


def test_distill_smoke(run_script, tmp_path):
    out = tmp_path / "distill"
    proc = run_script("experiments/distill.py", "--smoke-test", "--out", out, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out / "distill.csv", index_col="model")
    assert list(table.index) == ["teacher", "distilled student", "scratch student"]
    assert table.loc["distilled student", "parameters"] < table.loc["teacher", "parameters"]
    assert table.notna().all().all()
    prune = pd.read_csv(out / "prune.csv")
    half = prune[prune["sparsity"] == 0.5].set_index("target")
    full = prune[prune["sparsity"] == 0.0].set_index("target")
    assert (half["units"] * 2 == full["units"]).all()  # half of the heads / channels removed
    assert (half["parameters"] < full["parameters"]).all()
    assert (out / "prune.png").stat().st_size > 1000 and "Pruning" in (
        out / "distill.md"
    ).read_text()
    # The student and the pruned models load through the normal checkpoint path.
    student = model_from_checkpoint(load_checkpoint(out / "distilled_student"))
    assert student.num_params() == table.loc["distilled student", "parameters"]
    pruned = model_from_checkpoint(load_checkpoint(out / "pruned_heads_0.5"))
    assert pruned.config.n_heads == 1

    bad = run_script(
        "experiments/distill.py", "--checkpoint", out / "smoke" / "stage1", "--out", out / "bad",
        "--sparsities", "0.5,1.0",
    )  # fmt: skip
    assert bad.returncode == 2 and "sparsity must be in [0, 1)" in bad.stderr, bad.stderr[-2000:]
