"""Distillation: a smaller student learns the teacher's function, and loads, like any stage-1
model, through the normal checkpoint path."""

from __future__ import annotations

import pytest
import torch

from quantray.compress import distill, student_config
from quantray.config import ConfigError, DistillConfig
from quantray.models import PriceTransformer
from quantray.train.price import (
    build_price_data,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from quantray.train.smoke import smoke_data, smoke_spec


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return smoke_spec(smoke_data(tmp_path_factory.mktemp("distill")), steps=60)


def test_student_learns_the_teacher_and_loads(spec, tmp_path):
    torch.manual_seed(3)
    teacher = spec.new_model().eval()
    with torch.no_grad():  # a teacher with a non-trivial function of the window
        for p in teacher.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    data = build_price_data(spec)
    student_spec = spec.__class__(
        student_config(spec.model, width=0.5, n_layers=1),
        spec.train.replace(lr=3e-3),
        spec.data_path,
        spec.data,
        spec.split,
    )
    # Only the teacher terms: the student's sole signal is the teacher.
    config = DistillConfig(label_weight=0.0, price_weight=1.0, feature_weight=1.0)
    student, history = distill(teacher, student_spec, data, config)
    assert student.num_params() < teacher.num_params() / 2
    assert student.config.d_model == 16 and student.config.n_layers == 1
    assert history[-1]["val_loss"] == history[-1]["val_loss"]  # finite

    x, _ = data.valid.batch(torch.arange(128).numpy())
    x = torch.from_numpy(x)
    with torch.no_grad():
        target = teacher(x).returns
        gap = (student(x).returns - target).pow(2).mean()
        zero_gap = target.pow(2).mean()
    assert gap < 0.25 * zero_gap, (float(gap), float(zero_gap))

    path = save_checkpoint(tmp_path, student, None, None, 0, student_spec, data, history[-1])
    loaded = model_from_checkpoint(load_checkpoint(path))
    assert loaded.config == student.config
    torch.testing.assert_close(loaded(x).returns, student(x).returns)


def test_config_checks(spec):
    with pytest.raises(ConfigError, match="weights must be"):
        DistillConfig(label_weight=0.0, price_weight=0.0, feature_weight=0.0)
    with pytest.raises(ConfigError, match="width"):
        student_config(spec.model, width=0.0)
    small = student_config(spec.model, width=0.25)
    assert small.qk_rope_head_dim % 2 == 0 and small.d_model == 8


@pytest.mark.parametrize("geometry", [{"window": 61}, {"horizon": 5}])
def test_a_teacher_of_another_data_geometry_is_refused(spec, geometry):
    """The student is built on the spec's data window and horizon: a teacher that reads other
    windows or predicts other days is refused before any training, naming both."""
    teacher = PriceTransformer(spec.model, **{"window": 60, "horizon": 7, **geometry})
    with pytest.raises(ConfigError, match=r"distill: the teacher reads \d+-day windows"):
        distill(teacher, spec, build_price_data(spec), DistillConfig())
