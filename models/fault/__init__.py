"""The LSTM fault predictor: dataset from twin exports, model, training, evaluation, baseline, export."""
