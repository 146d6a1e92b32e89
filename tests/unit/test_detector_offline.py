"""Ultralytics stays offline: a tiny train + val in a subprocess where any network use is fatal.

The subprocess gets a `sitecustomize.py` that, before anything else is imported, makes every
non-loopback `socket.connect`, DNS lookup, `urllib.request.urlopen` and `requests` call raise and
append a line to a violations file (ultralytics swallows many network errors in try/except, so the
file, not the exit code alone, is the evidence).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

GUARD = textwrap.dedent(
    '''
    """Network guard for tests: any non-loopback network use raises and is recorded."""
    import os
    import socket
    import traceback

    _LOG = os.environ["NETWORK_GUARD_LOG"]
    _LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


    def _violation(what):
        with open(_LOG, "a", encoding="utf-8") as handle:
            handle.write(what + "\\n" + "".join(traceback.format_stack(limit=12)) + "\\n---\\n")
        raise OSError(f"network access blocked by the test guard: {what}")


    def _host(address):
        if isinstance(address, tuple) and address:
            return str(address[0])
        return str(address)


    def _is_local(host):
        return host in _LOOPBACK or host.startswith("127.") or host.startswith("/")


    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(_host(address)):
            _violation(f"socket.connect {address!r}")
        return _connect(self, address)


    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(_host(address)):
            _violation(f"socket.connect_ex {address!r}")
        return _connect_ex(self, address)


    _getaddrinfo = socket.getaddrinfo


    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        if not _is_local(name):
            _violation(f"getaddrinfo {name!r}")
        return _getaddrinfo(host, *args, **kwargs)


    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = lambda name: _violation(f"gethostbyname {name!r}")

    import urllib.request

    urllib.request.urlopen = lambda url, *a, **k: _violation(f"urllib.request.urlopen {url!r}")

    try:
        import requests.sessions
    except ImportError:
        pass
    else:
        requests.sessions.Session.request = lambda self, method, url, *a, **k: _violation(
            f"requests {method} {url}"
        )
    '''
)

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from models.detector.offline import configure_offline

    config_dir, data, out = (Path(a) for a in sys.argv[1:4])
    configure_offline(config_dir)
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml", task="detect")
    model.train(data=str(data), epochs=1, imgsz=64, batch=4, workers=0, device="cpu", pretrained=False,
                amp=False, plots=True, project=str(out), name="run", exist_ok=True, seed=0)
    metrics = YOLO(str(out / "run" / "weights" / "last.pt")).val(
        data=str(data), imgsz=64, batch=4, device="cpu", plots=True, project=str(out), name="val",
        exist_ok=True)
    print(json.dumps({"map50": float(metrics.box.map50)}))
    """
)


def write_dataset(root: Path, n: int = 8, size: int = 64) -> Path:
    """Squares on noise, one box each: enough for ultralytics to train and validate on."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            image = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            x, y, s = (int(v) for v in rng.integers(4, size // 2, 3))
            cv2.rectangle(image, (x, y), (x + s, y + s), (255, 255, 255), -1)
            cv2.imwrite(str(root / "images" / split / f"{i}.png"), image)
            cx, cy, w = (x + s / 2) / size, (y + s / 2) / size, s / size
            (root / "labels" / split / f"{i}.txt").write_text(f"0 {cx:.4f} {cy:.4f} {w:.4f} {w:.4f}\n")
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: square\n")
    return data


def test_train_and_val_make_no_network_access(tmp_path: Path) -> None:
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    violations = tmp_path / "violations.log"
    data = write_dataset(tmp_path / "data")
    home = tmp_path / "home"  # an empty HOME: nothing may come from ~/.config either
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "ULTRALYTICS_"))},
        "PYTHONPATH": os.pathsep.join([str(guard_dir), str(REPO)]),
        "NETWORK_GUARD_LOG": str(violations),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
        "OMP_NUM_THREADS": "1",
    }
    config_dir = tmp_path / "ultralytics"
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config_dir), str(data), str(tmp_path / "runs")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = violations.read_text() if violations.exists() else ""
    assert not log, f"network access attempted:\n{log}\nstderr:\n{run.stderr[-3000:]}"
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert 0.0 <= result["map50"] <= 1.0
    assert (config_dir / "Ultralytics" / "Arial.ttf").is_file()
    assert json.loads((config_dir / "Ultralytics" / "settings.json").read_text())["sync"] is False
    assert not (home / ".config" / "Ultralytics").exists()
    assert (tmp_path / "runs" / "run" / "results.csv").is_file()


def test_guard_catches_downloads_and_unconfigured_ultralytics(tmp_path: Path) -> None:
    """The guard works: a download, a raw connect and a plain `import ultralytics` are all recorded."""
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    violations = tmp_path / "violations.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "ULTRALYTICS_"))},
        "PYTHONPATH": str(guard_dir),
        "NETWORK_GUARD_LOG": str(violations),
        "YOLO_CONFIG_DIR": str(tmp_path / "ultralytics"),
    }
    snippets = (
        "import urllib.request\ntry:\n    urllib.request.urlopen('https://example.com')\n"
        "except OSError:\n    pass",
        "import socket\ntry:\n    socket.create_connection(('93.184.216.34', 80), timeout=1)\n"
        "except OSError:\n    pass",
        "import ultralytics.utils",  # without configure_offline: the DNS probe of is_online()
    )
    counts = []
    for code in snippets:
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120, capture_output=True)
        lines = violations.read_text().splitlines() if violations.exists() else []
        counts.append(lines.count("---"))
    assert counts[0] == 1
    assert counts[1] == 2
    assert counts[2] > 2, "importing ultralytics unconfigured should have tried a DNS lookup"
    assert "getaddrinfo" in violations.read_text()
