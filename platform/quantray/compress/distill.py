"""Knowledge distillation of the stage-1 model into a smaller student.

The frozen teacher and the student read the same training windows. The student minimises

    label_weight   * price_loss(student returns, realised returns) / zero_loss
  + price_weight   * mean((student returns - teacher returns)^2) / mean(realised^2)
  + feature_weight * mean((P(student features) - teacher features)^2)

- price_loss is the configured stage-1 loss (mse/mae/huber) and zero_loss that loss for the
  zero forecast on the same batch; the teacher term is divided by the batch's mean squared
  realised return. Both price terms are therefore O(1), comparable with the feature term.
- Both heads are regressions (returns and a tanh feature vector), with no softmax to soften:
  there is no distillation temperature; the weights above are the only knobs.
- The feature heads may differ in width (student D_s, teacher D_t): P is a learned linear
  projection D_s -> D_t (``nn.Linear``, trained with the student and discarded after), so
  the student only has to carry the teacher's feature information up to a linear map; the
  stage-2 strategy trained on the student's own D_s-dim features can use it through its
  input layer.

The student is an ordinary :class:`PriceTransformer`; ``train/price.save_checkpoint`` writes
it, with its own (smaller) config in the run spec, so it loads, exports features and trains
stage 2 through the normal checkpoint path.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from quantray.config import ConfigError, DistillConfig, PriceModelConfig
from quantray.losses.price import price_loss_from_config, zero_forecast_loss
from quantray.models.price_transformer import PriceTransformer
from quantray.train.price import (
    PriceData,
    PriceRunSpec,
    evaluate,
    make_optimizer,
    steps_per_epoch,
)


def student_config(
    teacher: PriceModelConfig, width: float = 0.5, n_layers: int | None = None
) -> PriceModelConfig:
    """The teacher's architecture with every width (d_model, ranks, head dims, FFN hidden)
    scaled by ``width`` (rounded to even values where the model needs pairs, at least 2)
    and ``n_layers`` layers (default: the teacher's)."""
    if not 0 < width <= 1:
        raise ConfigError(f"student_config: width must be in (0, 1], got {width}")

    def scale(value: int, even: bool = False) -> int:
        if value == 0:
            return 0
        out = max(2, round(value * width))
        return out + (out % 2) if even else out

    return teacher.replace(
        d_model=scale(teacher.d_model),
        n_layers=n_layers or teacher.n_layers,
        kv_lora_rank=scale(teacher.kv_lora_rank),
        q_lora_rank=scale(teacher.q_lora_rank),
        qk_nope_head_dim=scale(teacher.qk_nope_head_dim, even=True),
        qk_rope_head_dim=scale(teacher.qk_rope_head_dim, even=True),
        v_head_dim=scale(teacher.v_head_dim),
        ffn_hidden=scale(teacher.ffn_hidden),
    )


def distill_loss(
    student_out,
    teacher_out,
    projection: nn.Module,
    y: torch.Tensor,
    config: DistillConfig,
    model_config: PriceModelConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted loss of one batch and its three terms (see the module docstring)."""
    returns = student_out.returns.float()
    label = price_loss_from_config(returns, y, model_config) / zero_forecast_loss(
        y, model_config.loss, model_config.huber_delta
    ).clamp_min(1e-12)
    price = F.mse_loss(returns, teacher_out.returns.float()) / y.pow(2).mean().clamp_min(1e-12)
    feature = F.mse_loss(projection(student_out.features), teacher_out.features)
    loss = (
        config.label_weight * label
        + config.price_weight * price
        + config.feature_weight * feature
        + student_out.aux_loss
    )
    terms = {
        "label": float(label.detach()),
        "price": float(price.detach()),
        "feature": float(feature.detach()),
    }
    return loss, terms


def distill(
    teacher: PriceTransformer,
    spec: PriceRunSpec,
    data: PriceData,
    config: DistillConfig,
) -> tuple[PriceTransformer, list[dict[str, float]]]:
    """Train the student ``spec.model`` from the frozen ``teacher`` on ``data.train`` with
    ``spec.train``'s optimiser, schedule and budget (CPU); returns the student (eval mode)
    and per-epoch validation metrics (``train.price.evaluate``)."""
    geometry = (spec.data.window, spec.data.horizon)
    if (teacher.window, teacher.horizon) != geometry:
        raise ConfigError(
            f"distill: the teacher reads {teacher.window}-day windows and predicts "
            f"{teacher.horizon} days, the student's data {geometry[0]} and {geometry[1]}; "
            "distil on the teacher's data geometry (its checkpoint's spec.data)"
        )
    tc = spec.train
    torch.manual_seed(tc.seed)
    device = torch.device("cpu")
    teacher = teacher.eval()
    student = spec.new_model()
    projection = nn.Linear(spec.model.d_model, teacher.config.d_model)
    trainable = nn.ModuleDict({"student": student, "projection": projection})
    steps = steps_per_epoch(len(data.train), tc)
    optimizer, scheduler = make_optimizer(trainable, tc, steps * tc.epochs, device)
    history = []
    for epoch in range(tc.epochs):
        trainable.train()
        order = np.random.default_rng(tc.seed + epoch).permutation(len(data.train))
        sums = {"label": 0.0, "price": 0.0, "feature": 0.0}
        for step in range(steps):
            x, y = data.train.batch(order[step * tc.batch_size : (step + 1) * tc.batch_size])
            xb, yb = torch.from_numpy(x), torch.from_numpy(y)
            with torch.no_grad():
                target = teacher(xb)
            loss, terms = distill_loss(student(xb), target, projection, yb, config, spec.model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable.parameters(), tc.grad_clip)
            optimizer.step()
            scheduler.step()
            for k, v in terms.items():
                sums[k] += v / steps
        valid = evaluate(
            student, data.valid, spec.model, tc.batch_size * 2, device,
            max_samples=tc.eval_samples,
        )  # fmt: skip
        history.append({"epoch": epoch, **{f"train_{k}": v for k, v in sums.items()}, **valid})
    return student.eval(), history
