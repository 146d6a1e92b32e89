"""`iiot models train-fault` and `iiot models eval-fault`: thin click wrappers over the pipeline."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from models.fault.dataset import DEFAULT_CACHE, WindowConfig
from models.fault.errors import FaultModelError
from models.fault.train import TrainConfig

DEFAULT_RUN = Path("var/fault/run")
DEFAULT_ARTIFACTS = Path("models/artifacts/fault")


def _command_line(drop: tuple[str, ...] = ()) -> str:
    """The command as typed, program shown as ``iiot``, without the options in ``drop`` (and their values)."""
    args, kept = sys.argv[1:], []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in drop:
            skip = True
        elif not any(arg.startswith(f"{option}=") for option in drop):
            kept.append(arg)
    return shlex.join(["iiot", *kept])


_dir = click.Path(file_okay=False, path_type=Path)


@click.command("train-fault")
@click.option(
    "--data", type=_dir, required=True, help="Folder of `iiot sim export-timeseries` (train and val)."
)
@click.option("--run-dir", type=_dir, default=DEFAULT_RUN, show_default=True, help="Checkpoint and logs.")
@click.option(
    "--artifacts", type=_dir, default=DEFAULT_ARTIFACTS, show_default=True, help="ONNX + manifests."
)
@click.option("--cache-dir", type=_dir, default=DEFAULT_CACHE, show_default=True, help="Window cache.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the feature cache.")
@click.option("--feature-s", type=float, default=300.0, show_default=True, help="Seconds per feature step.")
@click.option("--window", type=int, default=48, show_default=True, help="Feature steps per window.")
@click.option("--stride", type=int, default=3, show_default=True, help="Training window stride (steps).")
@click.option("--horizon-h", type=float, default=48.0, show_default=True, help="Fail-soon horizon.")
@click.option("--rul-cap-h", type=float, default=48.0, show_default=True, help="RUL cap.")
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--patience", type=int, default=5, show_default=True, help="Epochs without val improvement.")
@click.option("--batch", type=int, default=256, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--hidden", type=int, default=48, show_default=True, help="LSTM units.")
@click.option("--visible-damage", type=float, default=0.05, show_default=True, help="Early-fault loss ramp.")
@click.option("--augment-log-sigma", type=float, default=0.15, show_default=True, help="Gain spread, log10.")
@click.option(
    "--augment-temp-c", type=float, default=3.0, show_default=True, help="Temperature offset spread."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--version", "version", default="1.0.0", show_default=True, help="Artifact version.")
def train_fault(
    data: Path,
    run_dir: Path,
    artifacts: Path,
    cache_dir: Path,
    no_cache: bool,
    feature_s: float,
    window: int,
    stride: int,
    horizon_h: float,
    rul_cap_h: float,
    epochs: int,
    patience: int,
    batch: int,
    lr: float,
    hidden: int,
    visible_damage: float,
    augment_log_sigma: float,
    augment_temp_c: float,
    seed: int,
    threads: int,
    device: str,
    version: str,
) -> None:
    """Train the LSTM fault predictor, choose thresholds on val, export ONNX fp32 + int8 with manifests."""
    from models.fault.pipeline import Paths, train_and_export

    try:
        windows = WindowConfig(
            feature_s=feature_s,
            window=window,
            stride=stride,
            horizon_s=horizon_h * 3600.0,
            rul_cap_s=rul_cap_h * 3600.0,
        )
        config = TrainConfig(
            visible_damage=visible_damage,
            augment_log_sigma=augment_log_sigma,
            augment_temp_c=augment_temp_c,
            epochs=epochs,
            patience=patience,
            batch=batch,
            lr=lr,
            hidden=hidden,
            seed=seed,
            threads=threads,
            device=device,
        )
        paths = Paths(
            data=data, run_dir=run_dir, artifacts=artifacts, cache_dir=None if no_cache else cache_dir
        )
        summary = train_and_export(paths, windows, config, version, _command_line())
    except FaultModelError as exc:
        raise click.ClickException(str(exc)) from exc
    val = summary["val"]
    click.echo(
        f"best epoch {summary['best_epoch']} after {summary['seconds'] / 60:.1f} min; val window "
        f"F1 {val['window']['f1']:.3f} FPR {val['window']['fpr']:.3%}; faults flagged "
        f"{val['event']['event_recall']:.1%}; thresholds {json.dumps(summary['thresholds'])}"
    )
    click.echo(f"int8 shipped: {summary['export']['int8_shipped']}; artifacts in {artifacts}")


@click.command("eval-fault")
@click.option("--data", type=_dir, required=True, help="The export the model was trained on (val, test).")
@click.option("--shifted", type=_dir, default=None, help="A `--shifted` export: the generalization test set.")
@click.option("--run-dir", type=_dir, default=DEFAULT_RUN, show_default=True, help="Where train-fault wrote.")
@click.option(
    "--artifacts", type=_dir, default=DEFAULT_ARTIFACTS, show_default=True, help="ONNX + manifests."
)
@click.option("--cache-dir", type=_dir, default=DEFAULT_CACHE, show_default=True, help="Window cache.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the feature cache.")
@click.option("--no-baseline", is_flag=True, help="Skip the boosted-tree baseline.")
@click.option(
    "--data-command", "data_commands", multiple=True, help="Command that made the data (for the card)."
)
def eval_fault(
    data: Path,
    shifted: Path | None,
    run_dir: Path,
    artifacts: Path,
    cache_dir: Path,
    no_cache: bool,
    no_baseline: bool,
    data_commands: tuple[str, ...],
) -> None:
    """Score the fault predictor and the baseline on held-out sets; write metrics.json and MODEL_CARD.md."""
    from models.fault.pipeline import CHECKPOINT, Paths, evaluate_and_report

    paths = Paths(data=data, run_dir=run_dir, artifacts=artifacts, cache_dir=None if no_cache else cache_dir)
    try:
        metrics = evaluate_and_report(
            paths,
            shifted,
            run_dir / CHECKPOINT,
            _command_line(drop=("--data-command",)),
            with_baseline=not no_baseline,
            data_commands=data_commands,
        )
    except FaultModelError as exc:
        raise click.ClickException(str(exc)) from exc
    header = f"{'set':<13} {'model':<16} {'F1':>6} {'FPR':>7} {'flagged':>9} {'lead h':>7} {'RUL MAE h':>9}"
    click.echo(header)
    for split, reports in metrics["sets"].items():
        for name, r in reports.items():
            click.echo(
                f"{split:<13} {name:<16} {r['window']['f1']:>6.3f} {r['window']['fpr']:>7.2%} "
                f"{r['event']['event_recall']:>9.1%} {r['event']['lead_h_median']:>7.1f} "
                f"{r['rul']['mae_h_degrading']:>9.2f}"
            )
    for split, met in metrics["targets_met"].items():
        click.echo(
            f"targets on {split}: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in met.items())
        )
    click.echo(f"card: {artifacts / 'MODEL_CARD.md'}, metrics: {artifacts / 'metrics.json'}")
