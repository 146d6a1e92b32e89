"""Round trip of a tiny detector: train 1 epoch, export, quantize, run through the edge backend.

The model is barely trained, so most scores are tiny: the test compares the raw model outputs
(PyTorch vs the FP32 ONNX through ONNX Runtime), the preprocessing (ultralytics' LetterBox vs
edge.vision's), and the boxes after NMS at a confidence picked from the scores so that both sides
keep about ten boxes per image. INT8 and FP16 must load through the edge backend and run; the
dynamic-batch file must give the static file's output for every image of a batch.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow

SIZE = 160


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny twin dataset, a 1-epoch model and every exported variant with manifests."""
    from models.detector.artifact_set import ExportOptions, export_artifacts
    from models.detector.dataset import load_dataset
    from models.detector.training import TrainConfig, train
    from simulators.camera.export import export_images

    root = tmp_path_factory.mktemp("detector")
    export_images(root / "data", 20, seed=7, heldout_n=4, size=SIZE, progress=False)
    data = root / "data" / "data.yaml"
    config = TrainConfig(
        data=data,
        out=root / "runs",
        name="tiny",
        epochs=1,
        imgsz=SIZE,
        batch=8,
        plots=False,
        cache=False,
        config_dir=root / "ultralytics",
    )
    result = train(config)
    assert result.last.is_file()
    assert (result.run_dir / "wall_time.json").is_file()
    options = ExportOptions(
        imgsz=SIZE,
        calibration_images=8,
        eval_splits=("heldout",),
        eval_limit=2,
        command="pytest",
        config_dir=root / "ultralytics",
    )
    exported = export_artifacts(result.last, load_dataset(data), root / "export", options)
    return {"weights": result.last, "data": data, **exported.manifests}


def _images(data: Path) -> list[Path]:
    return sorted((data.parent / "images" / "heldout").glob("*.jpg"))[:4]


def test_manifests_verify_and_describe_the_files(artifacts: dict[str, Path]) -> None:
    from proto.artifacts import load_manifest

    for variant in ("fp32", "fp32-dynamic", "fp16", "int8"):
        manifest = load_manifest(artifacts[variant])
        manifest.verify(manifest.artifact_path(artifacts[variant]))
        assert manifest.normalization.letterbox_size == (SIZE, SIZE)
        assert len(manifest.class_names) == 5
        assert manifest.opset is not None
        assert manifest.opset >= 17
        assert "heldout/map50" in manifest.metrics
    assert load_manifest(artifacts["fp32-dynamic"]).inputs[0].shape[0] == "batch"
    int8 = load_manifest(artifacts["int8"])
    assert int8.precision == "int8"
    assert int8.parent is not None
    assert int8.parent.sha256 == load_manifest(artifacts["fp32"]).sha256


def test_fp32_onnx_matches_pytorch_raw_outputs_and_preprocessing(artifacts: dict[str, Path]) -> None:
    import torch
    from ultralytics import YOLO

    from edge.vision.detector import Detector, DetectorConfig
    from models.detector.evaluation import cpu_backend
    from proto.artifacts import load_manifest

    manifest = load_manifest(artifacts["fp32"])
    torch_model = YOLO(str(artifacts["weights"])).model.float().eval()
    ul = YOLO(str(artifacts["weights"]))
    with cpu_backend(artifacts["fp32"]) as backend:
        detector = Detector(backend, DetectorConfig.from_manifest(manifest))
        for path in _images(artifacts["data"]):
            frame = cv2.imread(str(path))
            batch, _ = detector.preprocess([frame])
            ul.predict(frame, imgsz=SIZE, verbose=False)  # sets up ul.predictor
            theirs = ul.predictor.preprocess([frame]).float().numpy()
            assert theirs.shape == batch.shape
            assert np.abs(theirs - batch).max() <= 1.0 / 255 + 1e-6
            raw = detector.inference(batch)
            with torch.no_grad():
                reference = torch_model(torch.from_numpy(batch))
            reference = (reference[0] if isinstance(reference, list | tuple) else reference).numpy()
            assert raw.shape == reference.shape
            np.testing.assert_allclose(raw[:, :4], reference[:, :4], atol=0.05, rtol=1e-3)  # pixels
            np.testing.assert_allclose(raw[:, 4:], reference[:, 4:], atol=1e-4)  # scores


def test_fp32_boxes_match_ultralytics_predict(artifacts: dict[str, Path]) -> None:
    from ultralytics import YOLO

    from edge.vision.detector import Detector, DetectorConfig
    from models.detector.evaluation import cpu_backend
    from proto.artifacts import load_manifest

    manifest = load_manifest(artifacts["fp32"])
    onnx_path = manifest.artifact_path(artifacts["fp32"])
    ul = YOLO(str(onnx_path), task="detect")
    compared = 0
    with cpu_backend(artifacts["fp32"]) as backend:
        base = DetectorConfig.from_manifest(manifest)
        for path in _images(artifacts["data"]):
            frame = cv2.imread(str(path))
            raw = Detector(backend, base).inference(Detector(backend, base).preprocess([frame])[0])
            best = np.sort(raw[0, 4:].max(axis=0))[::-1]
            conf = float((best[9] + best[10]) / 2)  # about ten candidates, threshold between two scores
            detector = Detector(backend, DetectorConfig.from_manifest(manifest, conf=conf, iou=0.7))
            ours = detector([frame]).detections[0]
            theirs = ul.predict(frame, imgsz=SIZE, conf=conf, iou=0.7, verbose=False)[0].boxes
            assert len(ours) == len(theirs), f"{path.name}: {len(ours)} boxes vs ultralytics {len(theirs)}"
            order_ours = np.lexsort((ours.boxes[:, 0], -ours.scores))
            order_theirs = np.lexsort((theirs.xyxy.numpy()[:, 0], -theirs.conf.numpy()))
            np.testing.assert_allclose(ours.boxes[order_ours], theirs.xyxy.numpy()[order_theirs], atol=1.0)
            np.testing.assert_array_equal(ours.class_ids[order_ours], theirs.cls.numpy()[order_theirs])
            np.testing.assert_allclose(ours.scores[order_ours], theirs.conf.numpy()[order_theirs], atol=1e-4)
            compared += len(ours)
    assert compared >= 10


def test_int8_fp16_and_dynamic_batch_run_through_the_edge_backend(artifacts: dict[str, Path]) -> None:
    from edge.vision.detector import Detector, DetectorConfig
    from models.detector.evaluation import cpu_backend
    from proto.artifacts import load_manifest

    frames = [cv2.imread(str(p)) for p in _images(artifacts["data"])[:2]]
    outputs = {}
    for variant in ("fp32", "fp16", "int8"):
        manifest = load_manifest(artifacts[variant])
        with cpu_backend(artifacts[variant]) as backend:
            detector = Detector(backend, DetectorConfig.from_manifest(manifest, conf=0.0001))
            batch, _ = detector.preprocess(frames)
            outputs[variant] = detector.inference(batch)
            assert len(detector(frames).detections) == 2
    assert outputs["int8"].shape == outputs["fp32"].shape
    assert np.isfinite(outputs["int8"]).all()
    # FP16 boxes stay within a pixel or two; INT8 follows FP32 (its decode stays in float)
    np.testing.assert_allclose(outputs["fp16"][:, :4], outputs["fp32"][:, :4], atol=2.0)
    boxes8, boxes32 = outputs["int8"][:, :4].ravel(), outputs["fp32"][:, :4].ravel()
    assert np.corrcoef(boxes8, boxes32)[0, 1] > 0.99
    assert np.abs(outputs["int8"][:, 4:] - outputs["fp32"][:, 4:]).max() < 0.05
    with cpu_backend(artifacts["fp32-dynamic"]) as backend:
        config = DetectorConfig.from_manifest(load_manifest(artifacts["fp32"]))
        batch, _ = Detector(backend, config).preprocess(frames)
        dynamic = backend.run(batch)
        out = next(iter(dynamic.values()))
    assert out.shape[0] == 2
    np.testing.assert_allclose(out, outputs["fp32"], atol=1e-3, rtol=1e-4)
