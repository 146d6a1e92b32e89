"""Where frames wait for the vision pipeline: one small drop-oldest queue per camera.

Sources put frames from their own threads (a capture thread, paho's network thread) and never
block: when a camera's queue is full its oldest frame is dropped and counted. The pipeline takes
frames round-robin across cameras, oldest first, so one fast camera cannot starve the others,
and waits on the event loop for frames to arrive. Nothing here grows without bound.

Per camera it also notes what the agent needs to tell whether the camera is alive and how far
its event time got: the newest frame's timestamp and arrival, and when a source last reported
the camera lost (a capture that failed).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, deque

from edge.records import Frame


class FrameMailbox:
    """Per-camera bounded queues with drop-oldest overflow; thread-safe puts, async waits."""

    def __init__(self, per_camera: int = 2) -> None:
        if per_camera < 1:
            raise ValueError("per_camera must be at least 1")
        self.per_camera = per_camera
        self.received: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self._newest_ms: dict[str, int] = {}
        self._arrived_s: dict[str, float] = {}
        self._lost_s: dict[str, float] = {}
        self._queues: dict[str, deque[Frame]] = {}
        self._lock = threading.Lock()
        self._order: list[str] = []
        self._next = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._loop_thread: int | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake waiters on this event loop when frames arrive (call from the loop)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._event = asyncio.Event()
        if self.depth():
            self._event.set()

    def put(self, frame: Frame) -> Frame | None:
        """Queue a frame (any thread); the frame dropped to make room, if one was."""
        dropped = None
        with self._lock:
            queue = self._queues.get(frame.camera_id)
            if queue is None:
                queue = self._queues[frame.camera_id] = deque()
                self._order.append(frame.camera_id)
            if len(queue) >= self.per_camera:
                dropped = queue.popleft()
                self.dropped[frame.camera_id] += 1
            queue.append(frame)
            self.received[frame.camera_id] += 1
            camera = frame.camera_id
            self._newest_ms[camera] = max(frame.timestamp_ms, self._newest_ms.get(camera, frame.timestamp_ms))
            self._arrived_s[camera] = max(frame.received_s, self._arrived_s.get(camera, frame.received_s))
        self._wake()
        return dropped

    def lost(self, camera_id: str) -> None:
        """A source lost this camera (its capture failed or ended); any thread."""
        with self._lock:
            self._lost_s[camera_id] = time.monotonic()

    def newest_ms(self) -> dict[str, int]:
        """Per camera, the event time (capture time) of the newest frame received."""
        with self._lock:
            return dict(self._newest_ms)

    def arrivals(self) -> dict[str, float]:
        """Per camera, when its newest frame arrived (`received_s`, monotonic)."""
        with self._lock:
            return dict(self._arrived_s)

    def losses(self) -> dict[str, float]:
        """Per camera, when a source last reported it lost (monotonic)."""
        with self._lock:
            return dict(self._lost_s)

    def take(self, max_frames: int) -> list[Frame]:
        """Up to `max_frames` frames, round-robin across cameras starting after the last served one."""
        out: list[Frame] = []
        with self._lock:
            cameras = len(self._order)
            empty_rounds = 0
            while len(out) < max_frames and cameras and empty_rounds < cameras:
                camera = self._order[self._next % cameras]
                self._next = (self._next + 1) % cameras
                queue = self._queues[camera]
                if queue:
                    out.append(queue.popleft())
                    empty_rounds = 0
                else:
                    empty_rounds += 1
            if self._event is not None and not any(self._queues.values()):
                self._event.clear()
        return out

    def depth(self) -> int:
        """Frames waiting, all cameras."""
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def depths(self) -> dict[str, int]:
        """Frames waiting per camera."""
        with self._lock:
            return {camera: len(q) for camera, q in self._queues.items()}

    def oldest_received(self) -> float | None:
        """`received_s` (monotonic) of the oldest waiting frame, or None."""
        with self._lock:
            heads = [q[0].received_s for q in self._queues.values() if q]
        return min(heads) if heads else None

    async def wait(self) -> None:
        """Return once at least one frame waits (call `bind` first)."""
        if self._event is None:
            raise RuntimeError("FrameMailbox.wait before bind")
        while not self.depth():
            self._event.clear()
            if self.depth():
                break
            await self._event.wait()

    def _wake(self) -> None:
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        try:
            if threading.get_ident() == self._loop_thread:
                event.set()
            else:
                loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # the loop closed meanwhile
            pass
