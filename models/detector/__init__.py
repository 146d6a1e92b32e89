"""The defect detector: offline YOLOv8n training, evaluation, ONNX export and INT8 quantization."""
