"""Inference backends behind one small interface: ONNX Runtime and TensorRT, chosen by configuration.

Import `edge.inference.factory.open_backend` to get a backend; the runtime modules
(`onnxruntime_backend`, `tensorrt_backend`, `trt_builder`) are imported only when chosen.
"""
