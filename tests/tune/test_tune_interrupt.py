"""Issue 15: an interrupted search ends without touching the test split, says how to resume
and exits 130; the test split is evaluated once per search, --resume of a finished search
included."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quantray.config import TuneSettings, get_budget
from quantray.tune.interrupt import EXIT_INTERRUPTED, graceful_stop
from quantray.tune.report import (
    TEST_RECORD,
    SplitAlreadyTested,
    finalize,
    read_test_record,
    write_test_record,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "tune_strategy.py"


def test_graceful_stop_records_the_signal_hands_it_to_tune_and_restores_handlers():
    tune_stops: list[int] = []
    before_usr1 = signal.signal(signal.SIGUSR1, lambda s, f: tune_stops.append(s))  # "Tune"
    before_int = signal.getsignal(signal.SIGINT)
    try:
        with graceful_stop() as stop:
            assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "1"
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            assert stop.signal == "SIGTERM" and tune_stops == [signal.SIGUSR1]
            with pytest.raises(KeyboardInterrupt):  # a second signal stops at once
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
        assert signal.getsignal(signal.SIGINT) is before_int
        assert "TUNE_DISABLE_SIGINT_HANDLER" not in os.environ
    finally:
        signal.signal(signal.SIGUSR1, before_usr1)


def test_finalize_refuses_a_search_whose_test_split_was_evaluated(tmp_path):
    settings = TuneSettings(
        budget=get_budget("smoke"), data_path="x", storage_path=str(tmp_path), name="tune-a"
    )
    assert read_test_record(settings) is None
    write_test_record(settings, {"time": "t0", "trial_id": "abc", "out": "o"})
    assert (tmp_path / "tune-a" / TEST_RECORD).exists()
    assert read_test_record(settings)["trial_id"] == "abc"
    with pytest.raises(SplitAlreadyTested, match="already evaluated"):
        finalize(None, settings, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _ended(out: Path) -> int:
    found = list((out / "ray").glob("tune-*/trial_events.jsonl"))
    lines = found[0].read_text().splitlines() if found else []
    return sum(json.loads(x)["event"] == "end" for x in lines if x.strip())


@pytest.mark.slow
def test_sigint_stops_without_test_then_resume_tests_exactly_once(tmp_path, run_script):
    out = tmp_path / "out"
    args = ["--smoke-test", "--num-samples", "5", "--max-concurrent", "1", "--num-cpus", "2"]
    driver = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        while _ended(out) < 1 and time.time() < deadline:
            assert driver.poll() is None, "search finished before it could be interrupted"
            time.sleep(0.2)
        os.kill(driver.pid, signal.SIGINT)
        output, _ = driver.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == EXIT_INTERRUPTED, output[-3000:]
    assert "interrupted (SIGINT)" in output and "test split was not touched" in output
    assert f"experiments/tune_strategy.py --resume --out {out}" in output
    for name in ("summary.md", "best_config.json", "trials.csv", "best_trial"):
        assert not (out / name).exists(), name
    assert not list((out / "ray").glob(f"tune-*/{TEST_RECORD}"))

    proc = run_script(SCRIPT, "--resume", "--out", out, "--num-cpus", "2", timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "summary.md").exists() and "[tune] TEST" in proc.stdout
    (record,) = list((out / "ray").glob(f"tune-*/{TEST_RECORD}"))
    first = record.read_text()

    again = run_script(SCRIPT, "--resume", "--out", out, timeout=120)
    assert again.returncode == 0 and "nothing to resume" in again.stdout
    assert "[tune] TEST" not in again.stdout and record.read_text() == first
