"""Thin aiokafka admin adapter: remove the Kafka topics a finished run created (its tag prefixes them).

Every topic of a run starts with its names' prefix (``harness-<tag>.iiot.v1.*`` for the pipeline,
``harness-<tag>-*`` for Faust's changelogs and assignor), so a cleanup by prefix touches nothing
else. Kafka errors become ``ObservationError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from iiot.harness.errors import ObservationError


def run_topics(topics: Iterable[str], prefix: str) -> list[str]:
    """The topics that belong to a run: named ``<prefix>.…`` or ``<prefix>-…``."""
    return sorted(t for t in topics if t.startswith((f"{prefix}.", f"{prefix}-")))


async def _delete(bootstrap: str, prefix: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        doomed = run_topics(await admin.list_topics(), prefix)
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()


def delete_run_topics(bootstrap: str, prefix: str) -> list[str]:
    """Delete the run's topics; return their names."""
    try:
        return asyncio.run(_delete(bootstrap, prefix))
    except Exception as exc:  # aiokafka raises many kinds; all mean "not cleaned up"
        raise ObservationError(f"deleting Kafka topics {prefix}.* at {bootstrap}: {exc}") from exc
