"""A camera read with OpenCV on its own thread: device index, video file, RTSP/HTTP URL, GStreamer pipeline.

On a Jetson the CSI camera is a GStreamer pipeline string (`nvarguscamerasrc ... ! appsink`),
opened with the CAP_GSTREAMER backend. The capture thread reads as fast as the camera (or the
configured fps, or a file's own frame rate) delivers and puts each frame into the sink, which
never blocks: the pipeline's per-camera queue drops the oldest frame when it is full. A failed
capture is reported to the sink as lost (the agent then publishes the camera's DDEATH) and
reopened after `reopen_s`; a file ends (or loops, if configured), and an ended file is lost too.
Each frame's timestamp is its capture time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from edge.errors import SourceError
from edge.records import Frame, MonotonicSeq
from edge.settings import OpenCVSourceSettings
from edge.sources.base import FrameSink

log = logging.getLogger(__name__)

_STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")


def capture_target(uri: str) -> tuple[int | str, int, bool]:
    """(what to open, OpenCV backend, is a file) for a source URI."""
    text = uri.strip()
    if text.isdigit():
        return int(text), cv2.CAP_ANY, False
    if "!" in text:  # a GStreamer pipeline: ... ! appsink
        if "appsink" not in text:
            raise SourceError(f"a GStreamer pipeline must end in appsink: {text!r}")
        return text, cv2.CAP_GSTREAMER, False
    if text.lower().startswith(_STREAM_SCHEMES):
        return text, cv2.CAP_FFMPEG, False
    return text, cv2.CAP_ANY, True


class OpenCVSource:
    """One camera; a FrameSource."""

    def __init__(
        self,
        settings: OpenCVSourceSettings,
        *,
        open_capture: Callable[[int | str, int], Any] | None = None,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.settings = settings
        self.target, self.api, self.is_file = capture_target(settings.uri)
        self._open = open_capture or cv2.VideoCapture
        self._clock = clock_ms
        self._seq = MonotonicSeq()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames = 0
        self.failures = 0
        self.finished = False
        self.last_frame_s: float | None = None

    async def start_frames(self, sink: FrameSink) -> None:
        """Start the capture thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, args=(sink,), name=f"capture-{self.settings.camera_id}", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        """Stop the thread and release the device."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 10.0)

    def _run(self, sink: FrameSink) -> None:
        while not self._stop.is_set():
            capture = self._open(self.target, self.api)
            if not capture.isOpened():
                self.failures += 1
                log.warning("camera %s: cannot open %s", self.settings.camera_id, self.settings.uri)
                sink.lost(self.settings.camera_id)
                if self.is_file:
                    self.finished = True
                    return
                self._stop.wait(self.settings.reopen_s)
                continue
            try:
                ended = self._read_until_failure(capture, sink)
            finally:
                capture.release()
            if self._stop.is_set():
                return
            if ended and not self.settings.loop:
                self.finished = True
                sink.lost(self.settings.camera_id)
                return
            if not ended:
                sink.lost(self.settings.camera_id)
                self.failures += 1
                log.warning(
                    "camera %s: capture failed; reopening in %.1f s",
                    self.settings.camera_id,
                    self.settings.reopen_s,
                )
                self._stop.wait(self.settings.reopen_s)

    def _read_until_failure(self, capture: Any, sink: FrameSink) -> bool:
        """Read frames until stopped (False), a read fails (False) or a file ends (True)."""
        s = self.settings
        if s.width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, s.width)
        if s.height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, s.height)
        fps = s.fps or (capture.get(cv2.CAP_PROP_FPS) if self.is_file else 0.0) or 0.0
        period = 1.0 / fps if fps > 0 else 0.0
        next_due = time.monotonic()
        while not self._stop.is_set():
            ok, image = capture.read()
            if not ok or image is None:
                return self.is_file
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            self.frames += 1
            self.last_frame_s = time.monotonic()
            sink.put(
                Frame(
                    camera_id=s.camera_id,
                    line_id=s.line_id,
                    timestamp_ms=self._clock(),
                    seq=self._seq.next(),
                    image=np.ascontiguousarray(image, dtype=np.uint8),
                    machine_id=s.machine_id,
                )
            )
            if period:
                next_due += period
                delay = next_due - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_due = time.monotonic()
        return False
