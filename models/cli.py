"""`iiot models`: train, evaluate, export and quantize the detector and the fault predictor."""

from __future__ import annotations

import importlib

import click

# command -> ("module:attribute", help). Imported on use: training pulls in torch.
COMMANDS: dict[str, tuple[str, str]] = {
    "train-detector": ("models.detector.commands:train_detector", "Train YOLOv8n from scratch on twin data."),
    "eval-detector": ("models.detector.commands:eval_detector", "mAP per class, ultralytics vs our path."),
    "export-detector": ("models.detector.commands:export_detector", "ONNX FP32/FP16 and INT8 QDQ."),
    "build-engine": ("models.detector.commands:build_engine", "Build a TensorRT engine on the device."),
    "train-fault": ("models.fault.commands:train_fault", "Train the LSTM fault predictor on twin data."),
    "eval-fault": ("models.fault.commands:eval_fault", "Evaluate the fault predictor, write its card."),
}


class _LazyModelsGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name][0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise click.ClickException(f"{module_name}:{attr} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, help_text) in COMMANDS.items()])


@click.group(cls=_LazyModelsGroup)
def group() -> None:
    """Train, evaluate, export and quantize the models (needs the `train` extra)."""
