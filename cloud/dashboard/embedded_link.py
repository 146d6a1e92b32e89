"""The in-process link, for the embedded runner: alerts and frames in through a queue, actions out by a call.

Whoever wires the embedded runner (``iiot demo``, ``iiot cloud dashboard --embedded``, the e2e
tests) builds a :class:`MemoryLink` and an :class:`ObservedRunner` around it::

    link = MemoryLink()
    runner = ObservedRunner(PipelineCore(processor), storage, link)   # binds link -> runner.act
    service = DashboardService(..., feed=link, sink=link)

The runner's ``handle``/``act``/``tick`` are serialized by one lock (the MQTT loop runs ``handle`` in
a worker thread while the dashboard runs ``act`` in another), and every alert revision they produce
and every detection frame they see is published to the link, thread-safely.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Iterable, Sequence

from cloud.bridge.normalize import Normalizer
from cloud.dashboard.actions import ActionCallable
from cloud.dashboard.errors import ActionRejected, LinkUnavailable
from cloud.dashboard.frames import frame_from_proto
from cloud.dashboard.live import LiveEvent
from cloud.embedded.runner import EmbeddedResult, EmbeddedRunner
from cloud.pipeline import PipelineCore
from cloud.processing.records import OperatorAction
from cloud.storage.base import TelemetrySink
from proto import kafka
from proto import messages as m
from proto.codec import decode
from proto.errors import ContractError

log = logging.getLogger(__name__)


class MemoryLink:
    """A :class:`LiveFeed` and :class:`AlertActionSink` inside one process; publish from any thread."""

    def __init__(self, act: ActionCallable | None = None) -> None:
        self._act = act
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[LiveEvent | None] | None = None
        self._pending: list[LiveEvent] = []
        self._lock = threading.Lock()

    def bind(self, act: ActionCallable) -> None:
        """Where actions go (the runner's ``act``; a sync callable runs in a worker thread)."""
        self._act = act

    def publish(self, events: Iterable[LiveEvent]) -> None:
        """Hand alert revisions or frames to the dashboard (thread-safe, never blocks)."""
        items = list(events)
        if not items:
            return
        with self._lock:
            if self._loop is None or self._queue is None:
                self._pending.extend(items)
                return
            loop, queue = self._loop, self._queue
        try:
            for item in items:
                loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the consuming loop has closed: keep them for the next consumer
            with self._lock:
                self._pending.extend(items)

    async def events(self) -> AsyncGenerator[LiveEvent, None]:
        """What was published, in order (also what was published before the first call)."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._queue = asyncio.Queue()
            pending, self._pending = self._pending, []
        queue = self._queue
        try:
            for item in pending:
                yield item
            while True:
                queued = await queue.get()
                if queued is None:
                    return
                yield queued
        finally:
            with self._lock:
                if self._queue is queue:
                    self._loop, self._queue = None, None

    def close(self) -> None:
        """End the event stream."""
        with self._lock:
            loop, queue = self._loop, self._queue
        if loop is not None and queue is not None and not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, None)

    async def send(self, action: OperatorAction) -> None:
        """Run the bound action handler (in a worker thread if it is synchronous)."""
        if self._act is None:
            raise LinkUnavailable("no embedded runner is linked to take operator actions")
        act = self._act
        result = await asyncio.to_thread(act, action)
        if asyncio.iscoroutine(result):
            await result


class ObservedRunner(EmbeddedRunner):
    """The embedded runner, serialized by a lock, reporting alert revisions and frames to a link."""

    def __init__(
        self,
        core: PipelineCore,
        storage: TelemetrySink,
        link: MemoryLink,
        normalizer: Normalizer | None = None,
    ) -> None:
        super().__init__(core, storage, normalizer)
        self.link = link
        self._guard = threading.RLock()
        link.bind(self.act)

    def handle(self, messages: Sequence[tuple[str, bytes]], received_ms: int) -> EmbeddedResult:
        """Process MQTT messages; publish the alert revisions and the inspected frames."""
        with self._guard:
            result = super().handle(messages, received_ms)
        self.link.publish(result.alerts)
        self.link.publish(_frames(messages))
        return result

    def act(self, action: OperatorAction) -> EmbeddedResult:
        """Apply an operator action; :class:`ActionRejected` if the processor refused it."""
        with self._guard:
            result = super().act(action)
        self.link.publish(result.alerts)
        for letter in result.dead_letters:
            if letter.header(kafka.HEADER_REASON) == b"action-rejected":
                why = (letter.header(kafka.HEADER_ERROR) or b"").decode("utf-8", "replace")
                raise ActionRejected(f"the processor refused the action: {why}")
        if not result.alerts:
            raise ActionRejected(f"the processor has no alert {action.alert_id} to {action.action.value}")
        return result

    def tick(self, now_ms: int | None = None) -> EmbeddedResult:
        """Advance event time; publish expired shelves and stale-node alerts."""
        with self._guard:
            result = super().tick(now_ms)
        self.link.publish(result.alerts)
        return result


def _frames(messages: Sequence[tuple[str, bytes]]) -> list[LiveEvent]:
    frames: list[LiveEvent] = []
    for topic, payload in messages:
        if topic.startswith("iiot/v1/") and topic.endswith("/detections"):
            try:
                frames.append(frame_from_proto(decode(m.DetectionEvent, payload)))
            except ContractError as exc:
                log.debug("undecodable detection event on %s: %s", topic, exc)
    return frames
