"""The model card of the fault predictor, rendered from the metrics that ``eval-fault`` computed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from models.fault.evaluate import (
    MAX_FALSE_ALARMS_PER_MACHINE_DAY,
    TARGET_EVENT_RECALL,
    TARGET_F1,
    TARGET_FPR,
    TARGET_LEAD_FRACTION,
)

SET_TITLES = {
    "val": "validation",
    "test": "test (held-out machines and seed)",
    "test_shifted": "shifted test",
}
VARIANT_TITLES = {
    "lstm": "LSTM (torch)",
    "lstm_onnx_fp32": "LSTM ONNX fp32 (edge backend)",
    "lstm_onnx_int8": "LSTM ONNX int8 (edge backend)",
    "baseline": "boosted trees (baseline)",
}


def _pct(value: float) -> str:
    return f"{100.0 * value:.1f} %"


def _yes(flag: bool) -> str:
    return "**met**" if flag else "**not met**"


def _row(name: str, r: dict[str, Any]) -> str:
    w, e = r["window"], r["event"]
    return (
        f"| {name} | {w['precision']:.3f} | {w['recall']:.3f} | {w['f1']:.3f} | {_pct(w['fpr'])} | "
        f"{int(e['events_flagged'])}/{int(e['events'])} ({_pct(e['event_recall'])}) | "
        f"{e['lead_h_median']:.1f} h | "
        f"{e['lead_fraction_median']:.2f} | {e['false_alarms_per_machine_day']:.3f} | "
        f"{r['rul']['mae_h_degrading']:.1f} h | {r['fault_type']['accuracy_faulty']:.3f} |"
    )


def _table(reports: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| model | precision | recall | F1 | FPR | faults flagged before failure | median lead | "
        "median lead / degradation | false alarms per machine-day | RUL MAE (degrading) | "
        "fault type acc. (faulty) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(VARIANT_TITLES.get(name, name), report) for name, report in reports.items()]
    return lines


def _verdict(metrics: dict[str, Any]) -> list[str]:
    lines = []
    for split, met in metrics["targets_met"].items():
        r = metrics["sets"][split]["lstm"]
        lines += [
            f"**{SET_TITLES.get(split, split)}**",
            "",
            f"- window F1 ≥ {TARGET_F1:.2f}: {r['window']['f1']:.3f} — {_yes(met['window_f1'])}",
            f"- window FPR ≤ {_pct(TARGET_FPR)}: {_pct(r['window']['fpr'])} — {_yes(met['window_fpr'])}",
            f"- faults flagged before failure ≥ {_pct(TARGET_EVENT_RECALL)}: "
            f"{_pct(r['event']['event_recall'])} ({int(r['event']['events_flagged'])} of "
            f"{int(r['event']['events'])}) — {_yes(met['event_recall'])}",
            f"- median lead ≥ {TARGET_LEAD_FRACTION:.2f} of the degradation period: "
            f"{r['event']['lead_fraction_median']:.2f} (median {r['event']['lead_h_median']:.1f} h) — "
            f"{_yes(met['lead_fraction'])}",
            "",
        ]
    return lines


# (label, getter, higher is better)
_COMPARED: tuple[tuple[str, Callable[[dict[str, Any]], float], bool], ...] = (
    ("window F1", lambda r: r["window"]["f1"], True),
    ("window FPR", lambda r: r["window"]["fpr"], False),
    ("faults flagged", lambda r: r["event"]["event_recall"], True),
    ("false alarms per machine-day", lambda r: r["event"]["false_alarms_per_machine_day"], False),
    ("RUL MAE [h]", lambda r: r["rul"]["mae_h_degrading"], False),
    ("fault-type accuracy", lambda r: r["fault_type"]["accuracy_faulty"], True),
)


def baseline_comparison(lstm: dict[str, Any], tree: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Which metrics the LSTM wins and which the baseline wins (ties go to neither)."""
    lstm_wins: list[str] = []
    tree_wins: list[str] = []
    for label, get, higher in _COMPARED:
        a, b = get(lstm), get(tree)
        if a == b:
            continue
        (lstm_wins if (a > b) == higher else tree_wins).append(f"{label} {a:.3g} vs {b:.3g}")
    return lstm_wins, tree_wins


def _baseline_note(metrics: dict[str, Any]) -> list[str]:
    notes = []
    for split, reports in metrics["sets"].items():
        if "baseline" not in reports:
            continue
        lstm_wins, tree_wins = baseline_comparison(reports["lstm"], reports["baseline"])
        beaten = reports["lstm"]["window"]["f1"] < reports["baseline"]["window"]["f1"]
        verdict = (
            "**the LSTM does not beat the baseline on window F1**"
            if beaten
            else "the LSTM beats the baseline on window F1"
        )
        notes.append(
            f"- {SET_TITLES.get(split, split)}: {verdict}. LSTM better: {', '.join(lstm_wins) or 'nothing'}. "
            f"Baseline better: {', '.join(tree_wins) or 'nothing'}."
        )
    return notes


def _summary(metrics: dict[str, Any]) -> list[str]:
    lines = ["**Targets in one line per set** (details under Targets):", ""]
    for split, met in metrics["targets_met"].items():
        met_names = [name for name, ok in met.items() if ok]
        missed = [name for name, ok in met.items() if not ok]
        lines.append(
            f"- {SET_TITLES.get(split, split)}: met {', '.join(met_names) or 'none'}; "
            f"**not met {', '.join(missed) or 'none'}**."
        )
    return [*lines, ""]


def render_card(metrics: dict[str, Any], class_names: Sequence[str]) -> str:
    """Markdown of the card."""
    w, t, m = metrics["window"], metrics["thresholds"], metrics["model"]
    export = metrics.get("export", {})
    int8 = export.get("int8", {})
    lines = [
        f"# Model card: {m['name']} {m['version']}",
        "",
        "Predicts, for one machine and one window of its sensor history, whether it fails within the "
        f"horizon ({w['horizon_s'] / 3600:.0f} h), which fault it has ({', '.join(class_names)}) and its "
        f"remaining useful life (capped at {w['rul_cap_s'] / 3600:.0f} h). Trained from scratch on the "
        "digital twin only; no real plant data has been seen. Written by `iiot models eval-fault`; the "
        "numbers below are in `metrics.json`.",
        "",
        *_summary(metrics),
        "## Inputs and outputs",
        "",
        f"- Input `windows[batch, {w['window']}, {m['config']['n_features']}]` (layout NTC, batch dynamic): "
        f"{w['window']} feature steps of {w['feature_s']:.0f} s "
        f"({w['window'] * w['feature_s'] / 3600:.1f} h), "
        "channels and per-channel mean/std in the manifest (`normalization`). The recipe for a feature row "
        "is in `docs/FAULT_MODEL.md`.",
        "- Outputs `fail_prob[batch]`, `fault_probs[batch, 8]`, `rul_s[batch]`.",
        f"- The edge evaluates every {w['eval_stride']} feature step(s) and raises the alarm with "
        f"enter {t['alarm_enter']:.2f}, exit {t['alarm_exit']:.2f}, dwell {t['alarm_min_duration_s']:.0f} s "
        f"(manifest `thresholds`, dwell in `metrics.alarm_min_duration_s`). Window metrics use the window "
        f"threshold {t['window_threshold']:.3f}. Both were chosen on the validation split only.",
        "",
        "## Model and training",
        "",
        f"- LSTM ({m['config']['layers']} layer, {m['config']['hidden']} units) with additive attention "
        "pooling "
        f"over time, three heads; {m['parameters']:,} parameters.",
        f"- AdamW (lr {metrics['train']['lr']}, weight decay {metrics['train']['weight_decay']}), "
        f"linear warm-up then cosine, gradient clipping {metrics['train']['clip']}, pos_weight and "
        "class weights for imbalance, "
        f"early stopping on validation loss (best epoch {metrics['best_epoch']} of {metrics['epochs_run']}), "
        f"seed {metrics['train']['seed']}, {metrics['training_seconds'] / 60:.1f} min on a shared "
        "2-core CPU.",
        f"- Data: {metrics['training_data']}",
        "",
        "## Results",
        "",
        "Window metrics count windows ending before failure (fail-soon positive) and healthy windows; "
        "event metrics use the edge's alarm over every evaluation step of each machine. A fault counts as "
        "flagged when the alarm is on at some step between onset and failure; lead time is failure minus "
        "the first such step; the median lead share counts missed faults as 0. False alarms are alarm "
        "episodes that touch no fault.",
        "",
    ]
    for split, reports in metrics["sets"].items():
        lines += [f"### {SET_TITLES.get(split, split)}", "", metrics["evaluation_data"][split], ""]
        lines += _table(reports)
        lines.append("")
    lines += ["## Targets", ""]
    lines += _verdict(metrics)
    lines += [
        f"False alarms are budgeted at {MAX_FALSE_ALARMS_PER_MACHINE_DAY} per machine-day when choosing the "
        "alarm policy on validation.",
        "",
        "## Baseline",
        "",
        "Gradient-boosted trees (sklearn HistGradientBoosting) on mean, std, slope and last value of each "
        "channel of the same windows, thresholds chosen on the same validation split.",
        "",
    ]
    lines += _baseline_note(metrics)
    lines += ["", "## Export and quantization", ""]
    parity = metrics.get("parity_onnx_fp32_vs_torch", {})
    for split, diffs in parity.items():
        lines.append(
            f"- ONNX fp32 vs torch on {SET_TITLES.get(split, split)}: max |Δ| fail_prob "
            f"{diffs['fail_prob']:.1e}, "
            f"fault_probs {diffs['fault_probs']:.1e}, RUL {diffs['rul_share']:.1e} of the cap."
        )
    if export:
        lines.append(
            f"- fp32: {export.get('fp32_size_bytes', 0) / 1024:.0f} KiB, "
            f"{export.get('fp32_windows_per_s', 0):,.0f} windows/s (1 thread, batch 1000, val windows)."
        )
    for name, variant in int8.items():
        shipped = " (shipped as the int8 artifact)" if name == export.get("int8_shipped") else ""
        lines.append(
            f"- int8 {name}{shipped}: {variant['size_bytes'] / 1024:.0f} KiB, "
            f"{variant['windows_per_s']:,.0f} "
            f"windows/s, val window F1 {variant['val_window_f1']:.3f}, faults flagged "
            f"{_pct(variant['val_event_recall'])}, |Δ fail_prob| vs torch p99 "
            f"{variant.get('p99_fail_prob_diff', float('nan')):.3f} / max "
            f"{variant['max_diff_vs_torch']['fail_prob']:.3f}, a window's result moved by its batch "
            f"neighbours up to {variant.get('batch_dependence', float('nan')):.3f}."
        )
    if int8:
        lines.append(
            "- Shipping rule for int8: the fastest variant whose val F1 is within 0.01 of fp32, whose "
            "fail probability is within 0.02 of torch for 99 % of windows, and whose result does not "
            "depend on the other windows of the batch (dynamic quantization computes activation scales "
            "per batch, so one extreme machine can shift the others); if none qualifies, the one "
            "closest to torch. Run the fp32 file on a CPU; the int8 QDQ file is for int8 engines."
        )
    lines += [
        "",
        "## Figures",
        "",
        *(f"- `{name}`" for name in metrics["figures"].values()),
        "",
        "## Limitations",
        "",
        "- Twin data only: fault physics, sensor noise and operating profiles are the simulator's; a real "
        "plant needs retraining or at least recalibration of the thresholds.",
        "- Faults in their first hours (damage near its onset value of 2 %) look like health; most "
        "missed fail-soon windows are the first few hours after an onset, which bounds window recall.",
        "- Thresholds come from 9 validation machines; the test FPR (another 10 machines) is above "
        "the validation FPR the threshold was set for, a sign of machine-to-machine spread.",
        "- The shifted set changes machine sizes, speeds, load and sensor noise at once; its numbers show "
        "how far the model carries outside the training distribution.",
        "- The manifest schema has no field for the feature step and the alarm dwell yet; both are in "
        "the manifest's `metrics` (`feature_step_s`, `alarm_min_duration_s`).",
        "",
        "## Reproduce",
        "",
        "```",
        *metrics.get("data_commands", ["# data: see docs/FAULT_MODEL.md"]),
        metrics["train_command"],
        metrics["eval_command"],
        "```",
        "",
    ]
    return "\n".join(lines)
