"""Issue 15: user mistakes on the command line stop with exit 2 and a message, never a
traceback or a silent "train nothing"; two runs never share a run name or an --out."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from quantray.cli import claim_out_dir, positive_int, run, run_name
from quantray.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_positive_int_rejects_zero_negative_and_text():
    assert positive_int("3") == 3
    for bad in ("0", "-5", "1.5", "many"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)


@pytest.mark.parametrize(
    ("name", "argv", "flag"),
    [
        ("train_strategy", ["--steps-per-epoch", "-5"], "--steps-per-epoch"),
        ("train_strategy", ["--steps-per-epoch", "0"], "--steps-per-epoch"),
        ("train_rl", ["--iterations", "-1"], "--iterations"),
        ("compare", ["--seeds", "-1"], "--seeds"),
        ("compare", ["--seeds", "0"], "--seeds"),
        ("train_price", ["--num-workers", "0"], "--num-workers"),
        ("tune_strategy", ["--num-cpus", "0"], "--num-cpus"),
    ],
)
def test_non_positive_counts_exit_2_naming_the_flag(
    name, argv, flag, monkeypatch, capsys, load_script
):
    module = load_script(name)
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *argv])
    with pytest.raises(SystemExit) as info:
        module.parse_args()
    assert info.value.code == 2
    assert f"argument {flag}: must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, argv, message",
    [
        ("distill", ["--width", "1.5"], "width must be in (0, 1] (a share of the teacher's widths), got 1.5 (from --width)"),
        ("explain", ["--ig-steps", "1"], "ig_steps must be >= 2, got 1 (from --ig-steps)"),
    ],
)  # fmt: skip
def test_a_refused_setting_exits_2_naming_the_flag_before_any_work(
    name, argv, message, run_script, tmp_path
):
    out = tmp_path / "out"
    bad = run_script(f"experiments/{name}.py", *argv, "--out", out, timeout=120)
    assert bad.returncode == 2, bad.stderr[-2000:]
    assert message in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not out.exists()


def test_run_names_are_unique_within_one_second():
    names = {run_name("tune") for _ in range(200)}
    assert len(names) == 200 and all(n.startswith("tune-") for n in names)


def test_out_dir_checks_and_lock(tmp_path):
    existing = tmp_path / "a_file"
    existing.write_text("x")
    with pytest.raises(ConfigError, match="is an existing file"):
        claim_out_dir(existing)
    with pytest.raises(ConfigError, match=r"--storage-path .*cannot create or write"):
        claim_out_dir(tmp_path / "ok", storage=str(existing / "ray"))
    out = claim_out_dir(tmp_path / "out")
    assert claim_out_dir(out) == out  # the same process may claim it again
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from quantray.cli import claim_out_dir; claim_out_dir({str(out)!r})",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode != 0 and "is in use by a running job (pid" in other.stderr


def test_oserror_on_a_user_path_exits_2_without_traceback(tmp_path, capsys):
    missing = tmp_path / "nope" / "bars.csv"
    with pytest.raises(SystemExit) as info:
        run(lambda: missing.read_text())
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "No such file" in err and "Traceback" not in err
