"""Smaller stage-1 models: distil a student from a trained teacher, and prune the teacher.

    python experiments/distill.py --smoke-test
    python experiments/distill.py --checkpoint runs/price/.../checkpoint.pt --width 0.5

Distillation: the student (the teacher's architecture at ``--width`` of every width, and
``--student-layers`` layers) is trained from the frozen teacher (loss and weights in
``quantray.compress.distill``) and, with the same budget and seed, from scratch on the
labels alone. For teacher / distilled student / scratch student the report gives parameters,
measured inference windows/s, validation price loss, and the stage-2 GRU strategy's best
validation Sharpe when trained on that model's own frozen features. Pruning: the teacher with
``--sparsities`` of its attention heads / FFN channels removed (``quantray.compress.prune``),
each fine-tuned for ``--finetune-steps`` batches: loss and measured speed per sparsity.

Writes OUT/distill.md, OUT/distill.csv, OUT/prune.csv, OUT/prune.png and the student and
pruned checkpoints (loadable like any stage-1 checkpoint). The test split is not used.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from quantray.cli import claim_out_dir, frame_to_markdown, run, script_parser
from quantray.config import (
    CompressSettings,
    ConfigError,
    CostConfig,
    DistillConfig,
    StrategyConfig,
)
from quantray.config.flags import add_flags, from_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``argv``, default ``sys.argv[1:]``); the settings flags are
    generated from the settings classes."""
    parser = script_parser(__doc__, "runs/distill")
    parser.add_argument("--checkpoint", default=None, help="teacher stage-1 checkpoint")
    parser.add_argument("--cost", default="us_equity", help="none | us_equity | cn_a_share")
    parser.add_argument("--seed", type=int, default=0)
    add_flags(parser, CompressSettings, title="student, pruning and measurement settings")
    add_flags(parser, DistillConfig, title="distillation loss weights")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    settings = from_flags(args, CompressSettings)  # checked before any training
    distill_cfg = from_flags(args, DistillConfig)
    cost = CostConfig.preset(args.cost)
    out = claim_out_dir(args.out, args.storage_path)
    speed_batch, speed_repeats = 256, 5
    if args.smoke_test:
        settings = settings.smoke()
        speed_batch, speed_repeats = 32, 2

    from quantray.compress import (
        count_units,
        distill,
        finetune,
        prune,
        student_config,
        windows_per_second,
    )
    from quantray.data import load_task
    from quantray.features.export import export_features
    from quantray.train.price import (
        build_price_data,
        evaluate,
        fit_in_process,
        load_checkpoint,
        model_from_checkpoint,
        save_checkpoint,
    )
    from quantray.train.strategy import train_strategy

    checkpoint = args.checkpoint
    if checkpoint is None:
        if not args.smoke_test:
            raise ConfigError(
                "distill: --checkpoint is missing; pass a trained stage-1 checkpoint "
                "(experiments/train_price.py) or run with --smoke-test"
            )
        from quantray.train.smoke import smoke_stage1

        print("[distill] smoke test: training a micro teacher")
        checkpoint, data_path = smoke_stage1(out / "smoke", seed=args.seed)
        args.data = str(data_path)
    if not Path(checkpoint).exists():
        raise ConfigError(f"distill: --checkpoint {checkpoint} not found")
    state = load_checkpoint(checkpoint)
    from quantray.train.price import PriceRunSpec

    spec = PriceRunSpec.from_dict(state["spec"])
    if args.data is not None:
        spec = replace(spec, data_path=str(Path(args.data).resolve()))
    if "experts" in settings.prune_targets and spec.model.ffn != "moe":  # before any training
        raise ConfigError(
            f'distill: --prune-targets has "experts" but the teacher {checkpoint} has '
            f'ffn="{spec.model.ffn}", no experts; prune heads or ffn instead'
        )
    teacher = model_from_checkpoint(state)
    train_cfg = spec.train.replace(
        epochs=1, max_steps_per_epoch=settings.steps, eval_samples=settings.eval_samples,
        seed=args.seed, warmup_steps=min(spec.train.warmup_steps, max(1, settings.steps // 10)),
    )  # fmt: skip
    student_spec = replace(
        spec,
        model=student_config(spec.model, settings.width, settings.student_layers),
        train=train_cfg,
    )
    data = build_price_data(spec)

    def valid_loss(model) -> float:
        metrics = evaluate(
            model, data.valid, model.config, 256, torch.device("cpu"),
            max_samples=settings.eval_samples,
        )  # fmt: skip
        return metrics["val_loss"]

    def downstream(path: Path) -> float:
        if settings.strategy_epochs < 1:
            return float("nan")
        cache = export_features(path, out / "features", spec.data_path, progress=False)
        task = load_task(
            spec.data_path, features=cache, data_config=spec.data, split_config=spec.split
        )
        config = StrategyConfig(epochs=settings.strategy_epochs)
        if args.smoke_test:
            config = config.replace(hidden_size=16, head_hidden=16, batch_size=16)
        steps = 3 if args.smoke_test else None
        result = train_strategy(task, config, cost, seed=args.seed, steps_per_epoch=steps, log=None)
        return float(result.best["valid_sharpe"])

    print(f"[distill] teacher {teacher.num_params():,} params; distilling a "
          f"{student_spec.model.d_model}-wide, {student_spec.model.n_layers}-layer student")  # fmt: skip
    distilled, _ = distill(teacher, student_spec, data, distill_cfg)
    scratch, _, _ = fit_in_process(student_spec)
    models = {"teacher": (teacher, Path(checkpoint))}
    for name, model in (("distilled student", distilled), ("scratch student", scratch)):
        directory = out / name.replace(" ", "_")
        path = save_checkpoint(directory, model, None, None, 0, student_spec, data, {})
        models[name] = (model_from_checkpoint(load_checkpoint(path)), path)
    rows = []
    for name, (model, path) in models.items():
        print(f"[distill] measuring {name}")
        rows.append({
            "model": name, "parameters": model.num_params(),
            "windows/s": windows_per_second(model, speed_batch, speed_repeats), "valid price loss": valid_loss(model),
            "stage-2 valid Sharpe": downstream(path),
        })  # fmt: skip
    distill_table = pd.DataFrame(rows).set_index("model")
    distill_table.to_csv(out / "distill.csv")

    base_speed = distill_table.loc["teacher", "windows/s"]
    prune_rows = []
    for target in settings.prune_targets:
        # sparsity 0 is the fine-tuned-teacher baseline of every target, measured once
        for s in [0.0, *(x for x in settings.sparsities if x != 0.0)]:
            pruned = prune(teacher, target, s)
            before = valid_loss(pruned)
            tuned = finetune(pruned, replace(spec, train=train_cfg), data, settings.finetune_steps)
            directory = out / f"pruned_{target}_{s:g}"
            path = save_checkpoint(
                directory, tuned, None, None, 0, replace(spec, model=tuned.config), data, {}
            )
            reloaded = model_from_checkpoint(load_checkpoint(path))
            speed = windows_per_second(reloaded, speed_batch, speed_repeats)
            prune_rows.append({
                "target": target, "sparsity": s, "units": count_units(reloaded, target),
                "parameters": reloaded.num_params(), "loss pruned": before,
                "loss fine-tuned": valid_loss(reloaded), "windows/s": speed,
                "speed-up": speed / base_speed,
            })  # fmt: skip
    prune_table = pd.DataFrame(prune_rows)
    prune_table.to_csv(out / "prune.csv", index=False)
    plot_prune(prune_table, out / "prune.png")

    lines = [
        "# Smaller stage-1 models: distillation and pruning",
        "",
        f"- teacher `{checkpoint}` ({spec.model.d_model}-wide, {spec.model.n_layers} layers); "
        f"data {spec.data_path}; {data.train.__len__()} train / {len(data.valid)} validation "
        f"windows; seed {args.seed}",
        f"- student: width x{settings.width}, {student_spec.model.n_layers} layers, {settings.steps} "
        f"batches of {train_cfg.batch_size}; distillation weights label {distill_cfg.label_weight}, "
        f"teacher price {distill_cfg.price_weight}, teacher feature {distill_cfg.feature_weight} (learned "
        f"projection {student_spec.model.d_model}->{spec.model.d_model}; no temperature: both "
        "heads are regressions)",
        f"- validation price loss on {settings.eval_samples} validation windows; windows/s: median "
        f"of {speed_repeats} `encode` calls on {speed_batch} windows, {torch.get_num_threads()} CPU threads (timings "
        "from a shared machine vary)",
        f"- stage-2 valid Sharpe: GRU strategy ({settings.strategy_epochs} epochs, cost "
        f"{args.cost}) trained on that model's frozen features, best pooled validation Sharpe",
        "",
        *frame_to_markdown(distill_table, ".4g"),
        "",
        f"## Pruning (fine-tune {settings.finetune_steps} batches per row; sparsity 0 = teacher "
        "fine-tuned the same way)",
        "",
        "![pruning](prune.png)",
        "",
        *frame_to_markdown(prune_table.set_index("target"), ".4g"),
    ]
    (out / "distill.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def plot_prune(table: pd.DataFrame, path: Path) -> None:
    """Fine-tuned validation loss and measured speed against sparsity, one line per target."""
    from quantray.evaluate.plots import plt, save_figure  # pyplot on the Agg backend

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(8, 3))
    for target, group in table.groupby("target"):
        ax0.plot(group["sparsity"], group["loss fine-tuned"], marker="o", label=target)
        ax1.plot(group["sparsity"], group["windows/s"], marker="o", label=target)
    ax0.set(xlabel="sparsity", ylabel="validation price loss")
    ax1.set(xlabel="sparsity", ylabel="windows/s (measured)")
    ax0.legend(fontsize=7)
    save_figure(fig, path, dpi=80)


if __name__ == "__main__":
    run(main)
