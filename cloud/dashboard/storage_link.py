"""A read-only live feed for a dashboard beside the pipeline with no bus to listen to: watch the storage.

One server-side watcher (not one per page) reads the open alerts every ``interval_s`` and emits
each alert whose revision changed, plus the final revision of each alert that stopped being open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

from cloud.dashboard.live import LiveEvent
from cloud.errors import StorageError
from cloud.storage.base import StorageReader

log = logging.getLogger(__name__)


class StorageWatch:
    """Polls the storage for alert changes, once for the whole server."""

    def __init__(self, storage: StorageReader, interval_s: float = 1.0) -> None:
        self.storage = storage
        self.interval_s = interval_s
        self._stop = asyncio.Event()

    async def events(self) -> AsyncGenerator[LiveEvent, None]:
        """Changed alert revisions, oldest change first."""
        seen: dict[str, int] | None = None
        while not self._stop.is_set():
            try:
                current = await asyncio.to_thread(self.storage.alerts, open_only=True)
            except StorageError as exc:
                log.warning("storage watch: %s", exc)
                current = None
            if current is not None:
                revisions = {a.alert_id: a.revision for a in current}
                if seen is not None:
                    changed = [a for a in current if seen.get(a.alert_id) != a.revision]
                    for alert in sorted(changed, key=lambda a: a.updated_ms):
                        yield alert
                    for gone in sorted(set(seen) - set(revisions)):
                        history = await asyncio.to_thread(self.storage.alert_history, gone)
                        if history:
                            yield history[-1]
                seen = revisions
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval_s)

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
