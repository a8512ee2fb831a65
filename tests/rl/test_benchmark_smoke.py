"""The env benchmark's smoke run, RLlib PPO training row included (a subprocess with its own
local Ray, as a user runs it)."""

from __future__ import annotations

import re


def test_env_throughput_smoke_reports_rllib_ppo_training(run_script):
    out = run_script("benchmarks/env_throughput.py", "--smoke-test", timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "RLlib PPO training on our env" in out.stdout
    rates = re.findall(r"^\s+(1|16) env\(s\): ([\d,]+) env-steps/s", out.stdout, re.MULTILINE)
    assert [n for n, _ in rates] == ["1", "16"], out.stdout[-2000:]
    assert all(int(rate.replace(",", "")) > 0 for _, rate in rates)
