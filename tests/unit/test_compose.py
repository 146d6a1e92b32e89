"""docker-compose.yml is valid for Debian's docker-compose 1.29, and a broken copy is not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"


def docker_compose() -> str:
    """The docker-compose binary; a missing one fails the test (it is a dev requirement)."""
    found = shutil.which("docker-compose") or (
        "/usr/bin/docker-compose" if Path("/usr/bin/docker-compose").exists() else None
    )
    if found is None:
        pytest.fail("docker-compose is not installed: `apt-get install docker-compose` (Debian's 1.29 does)")
    return found


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    """Run `docker-compose config -q` on one file (no Docker engine needed)."""
    return subprocess.run(
        [docker_compose(), "--project-directory", str(path.parent), "-f", str(path), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_is_valid() -> None:
    """The real file passes `docker-compose config -q`."""
    result = compose_config(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr


def test_compose_file_has_the_whole_stack() -> None:
    """Every service of the stack is declared."""
    result = subprocess.run(
        [docker_compose(), "-f", str(COMPOSE_FILE), "config", "--services"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert set(result.stdout.split()) == {
        "mosquitto", "kafka", "influxdb", "grafana", "bridge", "worker", "dashboard", "edge", "twin",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("original", "broken", "complaint"),
    [
        ("image: eclipse-mosquitto:2\n", "imagee: eclipse-mosquitto:2\n", "Unsupported config option"),
        ("depends_on:\n      influxdb:\n", "depends_on:\n      nosuch:\n", "'nosuch' which is undefined"),
        ("services:\n", "services:\n  - not a mapping\n", "ParserError"),
    ],
    ids=["unknown-option", "bad-dependency", "bad-yaml-shape"],
)
def test_broken_copy_is_rejected(tmp_path: Path, original: str, broken: str, complaint: str) -> None:
    """A deliberately broken copy fails validation (so the first test can fail too)."""
    text = COMPOSE_FILE.read_text()
    assert original in text
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(text.replace(original, broken, 1))
    result = compose_config(copy)
    assert result.returncode != 0
    assert complaint in result.stderr
