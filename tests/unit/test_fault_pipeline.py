"""End to end at a tiny size: twin export → windows → training → ONNX + manifest → edge backend.

The model trained here is useless (a few machines, a couple of epochs); the test checks that every
step fits the next: the export reads, the pipeline trains and exports, the manifest verifies, the
edge's ONNX Runtime backend and fault runner load the artifact and agree with torch.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.inference.factory import open_backend
from edge.inference.options import BackendOptions, OrtOptions
from edge.pipelines.faults import FaultRunner
from models.fault.dataset import WindowConfig, load_split
from models.fault.export import FP32_FILE, INT8_FILE, torch_predictor
from models.fault.features import FEATURE_NAMES
from models.fault.model import load_checkpoint
from models.fault.pipeline import CHECKPOINT, Paths, evaluate_and_report, train_and_export
from models.fault.train import TrainConfig
from models.fault.windows import gather_windows
from proto.artifacts import AlarmThresholds, SeriesNormalization, load_manifest, manifest_path_for
from simulators.export import ExportPlan, export_timeseries

pytestmark = pytest.mark.slow

WINDOW = WindowConfig(feature_s=300.0, window=12, stride=2, horizon_s=6 * 3600.0, rul_cap_s=6 * 3600.0)
CPU = BackendOptions(onnxruntime=OrtOptions(providers=("CPUExecutionProvider",), intra_op_threads=1))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A tiny export (6 machines, 1 day, frequent short faults) and a model trained on it."""
    root = tmp_path_factory.mktemp("fault")
    plan = ExportPlan(machines=6, days=1.0, seed=3, period_s=60.0, hazard_per_day=3.0, mean_life_h=4.0)
    export_timeseries(plan, root / "twin")
    paths = Paths(
        data=root / "twin", run_dir=root / "run", artifacts=root / "artifacts", cache_dir=root / "cache"
    )
    config = TrainConfig(epochs=2, hidden=16, batch=64, patience=2, seed=1)
    train_and_export(paths, WINDOW, config, "0.0.1-test", "pytest")
    return paths


def _val_windows(paths: Paths) -> np.ndarray:
    model, _ = load_checkpoint(paths.run_dir / CHECKPOINT)
    mean, std = model.normalization()
    split = load_split(paths.data, "val", WINDOW, cache_dir=paths.cache_dir)
    rows = (np.nan_to_num((split.rows - mean.numpy()) / std.numpy(), nan=0.0)).astype(np.float32)
    return np.ascontiguousarray(gather_windows(rows, split.ends[:64], WINDOW.window))


def test_manifest_describes_the_onnx_file(trained: Paths) -> None:
    manifest = load_manifest(manifest_path_for(trained.artifacts / FP32_FILE))
    assert manifest.verify(trained.artifacts / FP32_FILE)
    assert manifest.task == "fault"
    assert manifest.inputs[0].shape == ("batch", WINDOW.window, len(FEATURE_NAMES))
    assert manifest.inputs[0].layout == "NTC"
    norm, thresholds = manifest.normalization, manifest.thresholds
    assert isinstance(norm, SeriesNormalization)
    assert norm.channel_names == FEATURE_NAMES
    assert norm.window_length == WINDOW.window
    assert manifest.metrics["feature_step_s"] == WINDOW.feature_s
    assert isinstance(thresholds, AlarmThresholds)
    assert 0.0 <= thresholds.exit <= thresholds.enter <= 1.0
    int8 = load_manifest(manifest_path_for(trained.artifacts / INT8_FILE))
    assert int8.precision == "int8"
    assert int8.parent is not None
    assert int8.parent.sha256 == manifest.sha256


def test_edge_backend_matches_torch(trained: Paths) -> None:
    windows = _val_windows(trained)
    model, _ = load_checkpoint(trained.run_dir / CHECKPOINT)
    fail, fault, rul = torch_predictor(model)(windows)
    manifest_path = manifest_path_for(trained.artifacts / FP32_FILE)
    with open_backend(manifest_path, kind="onnxruntime", options=CPU) as backend:
        out = backend.run({"windows": windows})
        np.testing.assert_allclose(out["fail_prob"], fail, atol=1e-5)
        np.testing.assert_allclose(out["fault_probs"], fault, atol=1e-5)
        np.testing.assert_allclose(out["rul_s"] / WINDOW.rul_cap_s, rul / WINDOW.rul_cap_s, atol=1e-5)
        runner = FaultRunner.create(backend, load_manifest(manifest_path))
        scores = runner(windows)
    assert [s.probability for s in scores] == pytest.approx(fail.tolist(), abs=1e-5)
    assert [s.rul_s for s in scores] == pytest.approx(rul.tolist(), abs=1.0)


def test_int8_artifact_runs_on_the_edge_backend_close_to_torch(trained: Paths) -> None:
    windows = _val_windows(trained)
    model, _ = load_checkpoint(trained.run_dir / CHECKPOINT)
    fail, _, _ = torch_predictor(model)(windows)
    with open_backend(
        manifest_path_for(trained.artifacts / INT8_FILE), kind="onnxruntime", options=CPU
    ) as backend:
        out = backend.run({"windows": windows})
    assert np.max(np.abs(out["fail_prob"] - fail)) < 0.1


def test_evaluation_writes_card_metrics_and_figures(trained: Paths) -> None:
    metrics = evaluate_and_report(trained, None, trained.run_dir / CHECKPOINT, "pytest eval")
    assert set(metrics["sets"]) == {"val", "test"}
    assert {"lstm", "lstm_onnx_fp32", "lstm_onnx_int8", "baseline"} <= set(metrics["sets"]["test"])
    assert metrics["parity_onnx_fp32_vs_torch"]["test"]["fail_prob"] < 1e-4
    card = (trained.artifacts / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## Targets" in card
    assert "**met**" in card or "**not met**" in card
    assert (trained.artifacts / "metrics.json").is_file()
    for name in metrics["figures"].values():
        assert (trained.artifacts / name).stat().st_size > 1000
    manifest = load_manifest(manifest_path_for(trained.artifacts / FP32_FILE))
    assert "test_window_f1" in manifest.metrics
    assert manifest.verify(trained.artifacts / FP32_FILE)  # metrics merged, ONNX file untouched
