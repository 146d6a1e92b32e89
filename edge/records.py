"""Immutable records that flow between sources, pipelines and the publisher inside the agent.

Wire messages (DetectionEvent, Prediction) are the generated protobuf classes from `proto`;
these records are what comes before them: samples and frames as a source delivers them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from edge.errors import SourceError

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True, eq=False)
class SensorSamples:
    """A block of samples of one machine: event times [n] in ms, values [n, channels] (NaN: missing)."""

    machine_id: str
    line_id: str
    channels: tuple[str, ...]
    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    units: tuple[str, ...] = ()
    machine_kind: str = ""
    source_seq: int | None = None
    ack: Callable[[], None] | None = None
    """Called once the block is safely stored (the source then acknowledges it upstream)."""

    def __post_init__(self) -> None:
        n = self.timestamps_ms.shape[0]
        if self.values.shape != (n, len(self.channels)):
            raise ValueError(
                f"{self.machine_id}: values {self.values.shape} do not fit {n} samples "
                f"x {len(self.channels)} channels"
            )
        if self.units and len(self.units) != len(self.channels):
            raise ValueError(f"{self.machine_id}: {len(self.units)} units for {len(self.channels)} channels")

    def __len__(self) -> int:
        return int(self.timestamps_ms.shape[0])

    def acknowledge(self) -> None:
        """Tell the source the block is stored (no-op for sources without acknowledgements)."""
        if self.ack is not None:
            self.ack()

    def unit(self, channel: str) -> str:
        """The unit of one channel, or '' when unknown."""
        if not self.units:
            return ""
        return self.units[self.channels.index(channel)]


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One camera frame: a decoded BGR image or the JPEG it arrived as, with where and when it was taken.

    `seq` is per camera and strictly increasing (the source's own when it has one), so
    (edge node, camera, seq) identifies the detection event of this frame across restarts.
    """

    camera_id: str
    line_id: str
    timestamp_ms: int
    seq: int
    image: Image | None = None
    jpeg: bytes | None = None
    machine_id: str = ""
    part_id: str = ""
    received_s: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if (self.image is None) == (self.jpeg is None):
            raise ValueError("a frame holds either a decoded image or a JPEG")

    def decoded(self) -> Image:
        """The BGR image, decoding the JPEG if that is what arrived."""
        if self.image is not None:
            return self.image
        array = np.frombuffer(self.jpeg or b"", dtype=np.uint8)
        image = cv2.imdecode(array, cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{self.camera_id} frame {self.seq}: JPEG does not decode")
        return np.asarray(image, dtype=np.uint8)


class MonotonicSeq:
    """Strictly increasing sequence numbers from a clock in µs, so restarts never reuse one."""

    def __init__(self, clock_us: Callable[[], int] | None = None) -> None:
        self._clock = clock_us or (lambda: time.time_ns() // 1000)
        self._last = -1

    def next(self) -> int:
        """max(now in µs, previous + 1)."""
        value = max(int(self._clock()), self._last + 1)
        self._last = value
        return value
