"""experiments/distill.py runs end to end as a user runs it, and rejects bad input with exit 2."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from quantray.config import CompressSettings, DistillConfig
from quantray.config.flags import from_flags
from quantray.train.price import load_checkpoint, model_from_checkpoint


def test_flags_come_from_the_settings_and_unset_ones_keep_the_defaults(load_script):
    script = load_script("distill")
    args = script.parse_args([])
    assert from_flags(args, CompressSettings) == CompressSettings()
    assert CompressSettings().sparsities == (0.25, 0.5, 0.75)  # the defaults of before
    assert CompressSettings().prune_targets == ("heads", "ffn")
    args = script.parse_args(
        ["--width", "0.25", "--student-layers", "1", "--sparsities", "0.1", "0.3",
         "--prune-targets", "ffn", "--strategy-epochs", "0", "--feature-weight", "0"]
    )  # fmt: skip
    assert from_flags(args, CompressSettings) == CompressSettings(
        width=0.25, student_layers=1, sparsities=(0.1, 0.3), prune_targets=("ffn",),
        strategy_epochs=0,
    )  # fmt: skip
    assert from_flags(args, DistillConfig) == DistillConfig(feature_weight=0.0)


def test_a_new_setting_needs_no_flag_code_in_the_script(monkeypatch, load_script):
    @dataclass(frozen=True)
    class Extended(CompressSettings):
        quantize_bits: int = 8
        """A brand-new compression option."""

    script = load_script("distill")
    monkeypatch.setattr(script, "CompressSettings", Extended)
    args = script.parse_args(["--quantize-bits", "4", "--steps", "7"])
    assert from_flags(args, Extended) == Extended(quantize_bits=4, steps=7)


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

    # Experts asked of a teacher without them: refused once the teacher is read, before any
    # student is trained.
    bad = run_script(
        "experiments/distill.py", "--checkpoint", out / "smoke" / "stage1", "--out", out / "bad",
        "--prune-targets", "heads", "experts",
    )  # fmt: skip
    assert bad.returncode == 2 and "no experts" in bad.stderr, bad.stderr[-2000:]
    assert "Traceback" not in bad.stderr and not (out / "bad" / "distilled_student").exists()
