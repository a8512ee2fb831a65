"""The README's two commands are what CI runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_readme_setup_and_tests():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev]" && python experiments/tune_strategy.py' in readme
    assert 'pip install -q -e ".[dev]"' in ci
    assert "```bash\npython -m pytest\n```" in readme
    assert "python -m pytest" in ci


def test_platform_has_no_init():
    # platform/ is a source root; an __init__.py there would shadow the stdlib module.
    assert not (ROOT / "platform" / "__init__.py").exists()
    import platform

    assert hasattr(platform, "system")
