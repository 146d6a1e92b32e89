"""The two steps behind ``iiot models train-fault`` and ``iiot models eval-fault``.

``train_and_export``: windows from the export's train and val splits → training → thresholds on
val → fp32 ONNX (parity-checked against torch) and the int8 variant (dynamic and static measured
on val, the better one shipped) with manifests → checkpoint and ``training.json`` in the run folder.

``evaluate_and_report``: the checkpoint and the shipped ONNX files (through the edge's ONNX Runtime
backend, the path that ships) on val, test and the shifted test set, next to the boosted-tree
baseline → ``metrics.json``, ``MODEL_CARD.md``, figures, and the test metrics merged into the
manifests.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.fault.baseline import fit_baseline
from models.fault.card import render_card
from models.fault.dataset import SplitData, WindowConfig, describe, load_split, read_index
from models.fault.errors import ExportError
from models.fault.evaluate import (
    Predictor,
    SplitPredictions,
    Thresholds,
    alarm_series,
    choose_thresholds,
    predict_split,
    score_split,
    targets_met,
)
from models.fault.export import (
    FP32_FILE,
    INT8_FILE,
    build_manifest,
    check_parity,
    edge_predictor,
    export_onnx,
    onnx_predictor,
    output_differences,
    quantize_dynamic_int8,
    quantize_static_int8,
    throughput,
    torch_predictor,
    write_manifest,
)
from models.fault.features import FEATURE_NAMES, Normalization
from models.fault.hysteresis import AlarmPolicy, alarm_states
from models.fault.model import FaultPredictor, load_checkpoint, save_checkpoint
from models.fault.train import N_CLASSES, TrainConfig, train
from models.fault.windows import gather_windows
from proto.artifacts import load_manifest, manifest_path_for, save_manifest

log = logging.getLogger(__name__)

CHECKPOINT = "fault_predictor.pt"
CLASS_NAMES = (
    "none",
    "bearing_outer",
    "bearing_inner",
    "imbalance",
    "misalignment",
    "cooling_failure",
    "winding_fault",
    "pump_clogging",
)


@dataclass(frozen=True, slots=True)
class Paths:
    """Where a run reads and writes."""

    data: Path
    run_dir: Path
    artifacts: Path
    cache_dir: Path | None


def data_description(data: Path, splits: dict[str, SplitData]) -> str:
    """One line about the export and the splits used, for the manifest."""
    index = read_index(data)
    parts = [describe(split) for split in splits.values()]
    return (
        f"twin export {data} (seed {index['seed']}, {index['machines']} machines, {index['days']} days, "
        f"period {index['period_s']} s, shifted={index['shifted']}); " + "; ".join(parts)
    )


def train_and_export(
    paths: Paths, window: WindowConfig, config: TrainConfig, version: str, command: str
) -> dict[str, Any]:
    """Train, choose thresholds on val, export fp32 and int8 ONNX with manifests; return the summary."""
    train_split = load_split(paths.data, "train", window, cache_dir=paths.cache_dir, train=True)
    val_split = load_split(paths.data, "val", window, cache_dir=paths.cache_dir)
    log.info("%s", describe(train_split))
    log.info("%s", describe(val_split))
    result = train(train_split, val_split, window, config)
    model, norm = result.model, result.normalization
    torch_pred = predict_split(torch_predictor(model), val_split, norm, window.window)
    thresholds, _ = choose_thresholds(val_split, torch_pred, window)
    val_report, _ = score_split(val_split, torch_pred, thresholds, window)
    log.info(
        "val thresholds %s; window %s; events %s",
        thresholds.to_dict(),
        val_report["window"],
        val_report["event"],
    )
    training_data = data_description(paths.data, {"train": train_split, "val": val_split})

    paths.run_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        model,
        paths.run_dir / CHECKPOINT,
        {
            "window": asdict(window),
            "train": asdict(config),
            "history": result.history,
            "best_epoch": result.best_epoch,
            "seconds": result.seconds,
            "thresholds": thresholds.to_dict(),
            "training_data": training_data,
            "command": command,
            "version": version,
        },
    )
    export = _export(
        model, norm, val_split, window, thresholds, val_report, paths, version, command, training_data
    )
    summary = {
        "version": version,
        "command": command,
        "training_data": training_data,
        "window": asdict(window),
        "train": asdict(config),
        "history": result.history,
        "best_epoch": result.best_epoch,
        "seconds": result.seconds,
        "thresholds": thresholds.to_dict(),
        "val": _strip(val_report),
        "export": export,
    }
    (paths.run_dir / "training.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


def _export(
    model: FaultPredictor,
    norm: Normalization,
    val: SplitData,
    window: WindowConfig,
    thresholds: Thresholds,
    val_report: dict[str, Any],
    paths: Paths,
    version: str,
    command: str,
    training_data: str,
) -> dict[str, Any]:
    """fp32 ONNX with a parity check, both int8 variants measured on val, manifests for the shipped two."""
    fp32 = export_onnx(model, paths.artifacts / FP32_FILE, window.window)
    rows = norm.apply(val.rows)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(val.n_windows, min(1000, val.n_windows), replace=False))
    windows = np.ascontiguousarray(gather_windows(rows, val.ends[sample], window.window))
    reference = torch_predictor(model)(windows)
    parity = check_parity(reference, onnx_predictor(fp32)(windows), window.rul_cap_s, "fp32 ONNX")
    variants: dict[str, dict[str, Any]] = {}
    candidates = {
        "dynamic": quantize_dynamic_int8(fp32, paths.run_dir / "fault_lstm_int8_dynamic.onnx"),
        "static": quantize_static_int8(fp32, paths.run_dir / "fault_lstm_int8_static.onnx", windows),
    }
    fp32_speed = throughput(onnx_predictor(fp32), windows)
    for name, path in candidates.items():
        predictor = onnx_predictor(path)
        report, _ = score_split(val, predict_split(predictor, val, norm, window.window), thresholds, window)
        batched = predictor(windows)
        single = np.concatenate([predictor(windows[i : i + 1])[0] for i in range(64)])
        variants[name] = {
            "val_window_f1": report["window"]["f1"],
            "val_event_recall": report["event"]["event_recall"],
            "max_diff_vs_torch": output_differences(reference, batched, window.rul_cap_s),
            "p99_fail_prob_diff": float(np.quantile(np.abs(batched[0] - reference[0]), 0.99)),
            "batch_dependence": float(np.max(np.abs(single - batched[0][:64]))),
            "windows_per_s": throughput(predictor, windows),
            "size_bytes": path.stat().st_size,
        }
    chosen = _pick_int8(variants, val_report["window"]["f1"])
    shutil.copyfile(candidates[chosen], paths.artifacts / INT8_FILE)
    metrics = _manifest_metrics(window, thresholds, val_report) | {
        "period_s": float(read_index(paths.data)["period_s"])
    }
    common: dict[str, Any] = {
        "version": version,
        "window": window.window,
        "stride": window.eval_stride,
        "channel_names": FEATURE_NAMES,
        "mean": norm.mean,
        "std": norm.std,
        "class_names": CLASS_NAMES,
        "enter": thresholds.alarm.enter,
        "exit_": thresholds.alarm.exit,
        "command": command,
        "training_data": training_data,
    }
    fp32_manifest = build_manifest(fp32, precision="fp32", metrics=metrics, **common)
    write_manifest(fp32_manifest, fp32)
    int8_metrics = metrics | {
        "val_window_f1": variants[chosen]["val_window_f1"],
        "val_event_recall": variants[chosen]["val_event_recall"],
    }
    int8 = paths.artifacts / INT8_FILE
    write_manifest(
        build_manifest(int8, precision="int8", metrics=int8_metrics, parent=fp32_manifest, **common), int8
    )
    return {
        "parity_fp32": parity,
        "fp32_windows_per_s": fp32_speed,
        "fp32_size_bytes": fp32.stat().st_size,
        "int8": variants,
        "int8_shipped": chosen,
    }


def _pick_int8(variants: dict[str, dict[str, Any]], fp32_f1: float) -> str:
    """The fastest faithful variant, else the one closest to torch.

    Faithful: val F1 within 0.01 of fp32, 99 % of fail probabilities within 0.02 of torch, and a
    window's result independent of the other windows in its batch (dynamic quantization scales the
    activations per batch, so one extreme machine can move every other machine's probability).
    """
    faithful = [
        n
        for n, v in variants.items()
        if v["val_window_f1"] >= fp32_f1 - 0.01
        and v["p99_fail_prob_diff"] <= 0.02
        and v["batch_dependence"] <= 1e-3
    ]
    if faithful:
        return max(faithful, key=lambda n: variants[n]["windows_per_s"])
    return min(variants, key=lambda n: variants[n]["p99_fail_prob_diff"])


def _manifest_metrics(
    window: WindowConfig, thresholds: Thresholds, val_report: dict[str, Any]
) -> dict[str, float]:
    return {
        "feature_step_s": window.feature_s,
        "horizon_s": window.horizon_s,
        "rul_cap_s": window.rul_cap_s,
        "window_threshold": thresholds.window,
        "alarm_min_duration_s": thresholds.alarm.min_duration_s,
        "val_window_f1": val_report["window"]["f1"],
        "val_window_fpr": val_report["window"]["fpr"],
        "val_event_recall": val_report["event"]["event_recall"],
        "val_lead_h_median": val_report["event"]["lead_h_median"],
        "val_rul_mae_h": val_report["rul"]["mae_h_degrading"],
    }


def _strip(report: dict[str, Any]) -> dict[str, Any]:
    """A report without the bulky per-event lists."""
    return {k: v for k, v in report.items() if k not in ("leads_h",)}


def evaluate_and_report(
    paths: Paths,
    shifted: Path | None,
    checkpoint: Path,
    command: str,
    with_baseline: bool = True,
    data_commands: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Score torch, ONNX fp32, ONNX int8 and the baseline; write metrics.json, the card and figures."""
    from models.fault import plots

    model, extra = load_checkpoint(checkpoint)
    window = WindowConfig(**extra["window"])
    t = extra["thresholds"]
    thresholds = Thresholds(
        t["window_threshold"], AlarmPolicy(t["alarm_enter"], t["alarm_exit"], t["alarm_min_duration_s"])
    )
    mean, std = model.normalization()
    norm = Normalization(mean.numpy().copy(), std.numpy().copy())
    splits = {
        name: load_split(paths.data, name, window, cache_dir=paths.cache_dir) for name in ("val", "test")
    }
    if shifted is not None:
        splits["test_shifted"] = load_split(shifted, "test_shifted", window, cache_dir=paths.cache_dir)
    for split in splits.values():
        log.info("%s", describe(split))
    fp32_path, int8_path = paths.artifacts / FP32_FILE, paths.artifacts / INT8_FILE
    for path in (fp32_path, int8_path):
        if not path.is_file():
            raise ExportError(f"{path} is missing; run `iiot models train-fault` first")
    predictors: dict[str, Predictor] = {  # the ONNX files run through the edge's own backend
        "lstm": torch_predictor(model),
        "lstm_onnx_fp32": edge_predictor(manifest_path_for(fp32_path)),
        "lstm_onnx_int8": edge_predictor(manifest_path_for(int8_path)),
    }
    sets: dict[str, dict[str, Any]] = {name: {} for name in splits}
    predictions: dict[tuple[str, str], SplitPredictions] = {}
    for split_name, split in splits.items():
        for name, predictor in predictors.items():
            if split_name == "val" and name != "lstm":
                continue
            preds = predict_split(predictor, split, norm, window.window)
            predictions[(split_name, name)] = preds
            report, _ = score_split(split, preds, thresholds, window)
            sets[split_name][name] = report
            log.info("%s %s: window %s events %s", split_name, name, report["window"], report["event"])
    parity = {
        split_name: output_differences(
            _as_tuple(predictions[(split_name, "lstm")]),
            _as_tuple(predictions[(split_name, "lstm_onnx_fp32")]),
            window.rul_cap_s,
        )
        for split_name in splits
        if split_name != "val"
    }
    baseline_thresholds: dict[str, float] | None = None
    if with_baseline:
        train_split = load_split(paths.data, "train", window, cache_dir=paths.cache_dir, train=True)
        baseline = fit_baseline(train_split, norm, window.window, N_CLASSES, seed=0)
        val_preds = predict_split(baseline, splits["val"], norm, window.window)
        chosen, _ = choose_thresholds(splits["val"], val_preds, window)
        baseline_thresholds = chosen.to_dict()
        for split_name, split in splits.items():
            preds = val_preds if split_name == "val" else predict_split(baseline, split, norm, window.window)
            sets[split_name]["baseline"], _ = score_split(split, preds, chosen, window)
    targets = {name: targets_met(sets[name]["lstm"]) for name in splits if name != "val"}

    paths.artifacts.mkdir(parents=True, exist_ok=True)
    figures = {
        "curves": plots.training_curves(
            extra["history"], extra["best_epoch"], paths.artifacts / "training_curves.png"
        ),
        "confusion": plots.confusion(
            np.array(sets["test"]["lstm"]["fault_type"]["confusion"]),
            CLASS_NAMES,
            "fault type, test split (LSTM)",
            paths.artifacts / "confusion_test.png",
        ),
        "leads": plots.lead_times(
            {name: sets[name]["lstm"]["leads_h"] for name in splits if name != "val"},
            paths.artifacts / "lead_times.png",
        ),
    }
    example = _example_machine(splits["test"], predictions[("test", "lstm")])
    if example is not None:
        on = alarm_states(example.prob, example.t_s, thresholds.alarm)
        figures["timeline"] = plots.timeline(
            example, thresholds.alarm.enter, thresholds.alarm.exit, on, paths.artifacts / "timeline_test.png"
        )
    training = _read_training(paths.run_dir)
    metrics: dict[str, Any] = {
        "model": {
            "name": "fault-lstm",
            "version": extra.get("version", ""),
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "config": model.config.to_dict(),
        },
        "window": asdict(window),
        "train": extra["train"],
        "training_seconds": extra["seconds"],
        "best_epoch": extra["best_epoch"],
        "epochs_run": len(extra["history"]),
        "thresholds": thresholds.to_dict(),
        "baseline_thresholds": baseline_thresholds,
        "training_data": extra["training_data"],
        "train_command": extra.get("command", ""),
        "eval_command": command,
        "data_commands": list(data_commands),
        "evaluation_data": {name: describe(split) for name, split in splits.items()},
        "sets": {name: {k: _strip(v) for k, v in reports.items()} for name, reports in sets.items()},
        "leads_h": {name: sets[name]["lstm"]["leads_h"] for name in splits},
        "targets_met": targets,
        "parity_onnx_fp32_vs_torch": parity,
        "export": training.get("export", {}),
        "files": {
            p.name: p.stat().st_size
            for p in (fp32_path, int8_path, manifest_path_for(fp32_path), manifest_path_for(int8_path))
        },
        "figures": {k: v.name for k, v in figures.items()},
    }
    (paths.artifacts / "metrics.json").write_text(
        json.dumps(metrics, indent=1, default=float), encoding="utf-8"
    )
    (paths.artifacts / "MODEL_CARD.md").write_text(render_card(metrics, CLASS_NAMES), encoding="utf-8")
    _merge_manifest_metrics(fp32_path, sets, "lstm_onnx_fp32")
    _merge_manifest_metrics(int8_path, sets, "lstm_onnx_int8")
    return metrics


def _as_tuple(p: SplitPredictions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return p.fail_prob, p.fault_probs, p.rul_s


def _example_machine(split: SplitData, preds: SplitPredictions) -> Any:
    """The machine of ``split`` with the most fault events (for the timeline figure)."""
    series = alarm_series(split, preds)
    return max(series, key=lambda s: len(s.events)) if series else None


def _read_training(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "training.json"
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _merge_manifest_metrics(onnx_path: Path, sets: dict[str, dict[str, Any]], variant: str) -> None:
    """Add the held-out headline numbers of ``variant`` to the manifest beside ``onnx_path``."""
    manifest_path = manifest_path_for(onnx_path)
    manifest = load_manifest(manifest_path)
    extra: dict[str, float] = {}
    for split_name in ("test", "test_shifted"):
        report = sets.get(split_name, {}).get(variant)
        if report is None:
            continue
        extra |= {
            f"{split_name}_window_f1": report["window"]["f1"],
            f"{split_name}_window_fpr": report["window"]["fpr"],
            f"{split_name}_event_recall": report["event"]["event_recall"],
            f"{split_name}_lead_h_median": report["event"]["lead_h_median"],
            f"{split_name}_rul_mae_h": report["rul"]["mae_h_degrading"],
        }
    save_manifest(manifest.model_copy(update={"metrics": manifest.metrics | extra}), manifest_path)
