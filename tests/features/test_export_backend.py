"""Choosing the export path without Ray, and the feature modules' imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from quantray.config import ConfigError, RayExportSettings
from quantray.features.ray_export import ray_running, use_ray_export


def test_ray_backend_without_ray_is_a_clear_error() -> None:
    if ray_running():
        pytest.skip("an earlier test left Ray running in this process")
    with pytest.raises(ConfigError, match="needs a running Ray"):
        use_ray_export(10, RayExportSettings(backend="ray"))
    assert not use_ray_export(10**9, RayExportSettings(min_rows=0))  # auto, no Ray: local


def test_feature_modules_import_alone_without_ray() -> None:
    """Each module imports first in a fresh process (as in a Ray Data actor, which unpickles
    the encoder class before anything else), and none of them imports Ray."""
    code = (
        "import sys\n"
        "import quantray.features.cache, quantray.features.ray_export\n"
        "assert 'ray' not in sys.modules, 'ray imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
