"""Keep ultralytics off the network: environment, settings file and fonts, set before it is imported.

What ultralytics would otherwise fetch or send, and what stops it here:

- `is_online()` resolves one.one.one.one / dns.google at import: `YOLO_OFFLINE=1` skips the lookup
  and makes `ONLINE` False, which also disables the usage events (`utils/events.py`).
- settings live in `$YOLO_CONFIG_DIR/Ultralytics/settings.json` (not ~/.config): `sync` (events and
  Sentry), the logger integrations (ClearML, Comet, DVC, MLflow, Ray Tune, TensorBoard, W&B) and the
  Platform API key are switched off; runs, weights and datasets dirs point into the config dir.
- `check_font("Arial.ttf")` (plots, prediction sheets) and `check_font("Arial.Unicode.ttf")` (non-ASCII
  labels) download from GitHub when the file is not in the config dir: matplotlib's DejaVuSans.ttf is
  copied there under both names.
- `check_requirements` pip-installs what is missing unless `YOLO_AUTOINSTALL=False`.
- pretrained weights and the AMP check (`yolo26n.pt`) are downloads: training builds the model from
  `yolov8n.yaml` with `pretrained=False`, and AMP is off (CPU training never runs the check anyway).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.detector.errors import OfflineSetupError

log = logging.getLogger(__name__)

FONT_NAMES: tuple[str, ...] = ("Arial.ttf", "Arial.Unicode.ttf")
SUBDIR = "Ultralytics"  # what ultralytics appends to YOLO_CONFIG_DIR
DEFAULT_CONFIG_DIR = Path("var/ultralytics")

# Settings that must hold whatever the file said before; other keys are left to ultralytics.
_FORCED_SETTINGS: dict[str, Any] = {
    "sync": False,
    "api_key": "",
    "clearml": False,
    "comet": False,
    "dvc": False,
    "mlflow": False,
    "raytune": False,
    "tensorboard": False,
    "wandb": False,
    "vscode_msg": False,
    "openvino_msg": False,
}
_ENVIRONMENT: dict[str, str] = {
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "False",
}
_UNSET = ("ULTRALYTICS_API_KEY",)


@dataclass(frozen=True, slots=True)
class OfflineConfig:
    """Where ultralytics keeps its settings, fonts and default runs while offline."""

    config_dir: Path  # the YOLO_CONFIG_DIR
    user_dir: Path  # config_dir / "Ultralytics": settings.json and fonts
    settings_file: Path
    fonts: tuple[Path, ...]


def matplotlib_font() -> Path:
    """DejaVuSans.ttf from matplotlib's package data, the stand-in for Arial."""
    try:
        import matplotlib
    except ImportError as exc:
        raise OfflineSetupError(f"matplotlib is needed for its fonts: {exc}") from exc
    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not font.is_file():
        raise OfflineSetupError(f"{font} is missing from matplotlib's package data")
    return font


def offline_settings(config_dir: Path, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings.json content: what was there, with network features off and dirs in `config_dir`."""
    settings = dict(current or {})
    settings |= _FORCED_SETTINGS
    settings |= {
        "runs_dir": str(config_dir / "runs"),
        "weights_dir": str(config_dir / "weights"),
        "datasets_dir": str(config_dir / "datasets"),
    }
    return settings


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _already_configured() -> Path | None:
    """The config dir of an ultralytics imported earlier in this process (None if not imported).

    Raises OfflineSetupError when ultralytics was imported without the offline environment.
    """
    if "ultralytics" not in sys.modules:
        return None
    configured = os.environ.get("YOLO_CONFIG_DIR")
    if os.environ.get("YOLO_OFFLINE") != "1" or configured is None:
        raise OfflineSetupError(
            "ultralytics was imported before configure_offline(): its network checks and settings "
            "already ran; call configure_offline() first"
        )
    return Path(configured)


def configure_offline(config_dir: str | Path = DEFAULT_CONFIG_DIR) -> OfflineConfig:
    """Set everything that keeps ultralytics offline, then import it and check that it is."""
    config_dir = Path(config_dir).resolve()
    earlier = _already_configured()
    if earlier is not None and earlier != config_dir:
        # one process, one ultralytics: its settings were read at import; keep the first dir
        log.info("ultralytics already configured offline with %s; not switching to %s", earlier, config_dir)
        config_dir = earlier
    user_dir = config_dir / SUBDIR
    try:
        user_dir.mkdir(parents=True, exist_ok=True)
        source = matplotlib_font()
        fonts = []
        for name in FONT_NAMES:
            target = user_dir / name
            if not target.is_file():
                shutil.copyfile(source, target)
            fonts.append(target)
        settings_file = user_dir / "settings.json"
        settings = offline_settings(config_dir, _read_json(settings_file))
        settings_file.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OfflineSetupError(f"cannot prepare the ultralytics config dir {user_dir}: {exc}") from exc

    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ.update(_ENVIRONMENT)
    for name in _UNSET:
        os.environ.pop(name, None)

    _verify(user_dir)
    return OfflineConfig(config_dir, user_dir, settings_file, tuple(fonts))


def _verify(user_dir: Path) -> None:
    """Import ultralytics and check that it took the offline configuration."""
    from ultralytics import utils as ul

    problems = []
    if ul.ONLINE:
        problems.append("ultralytics believes it is online")
    if Path(ul.USER_CONFIG_DIR).resolve() != user_dir:
        problems.append(f"config dir is {ul.USER_CONFIG_DIR}, not {user_dir}")
    if ul.AUTOINSTALL:
        problems.append("auto-install of requirements is on")
    for key, value in _FORCED_SETTINGS.items():
        if ul.SETTINGS.get(key) != value:
            ul.SETTINGS.update({key: value})  # a schema migration may have reset it
    if problems:
        raise OfflineSetupError("ultralytics is not offline: " + "; ".join(problems))
