"""Suite-wide ordering: fast, isolated tests first; whole scenarios and the browser last.

pytest collects `tests/` alphabetically, which would run the browser and the demo (minutes each)
before the unit tests. Running unit → interop → integration → e2e gives the quick answers first and
keeps whatever an end-to-end test leaves in the process (Playwright's event loop, threads) away from
the tests that come before it.
"""

from __future__ import annotations

import pytest

_ORDER = {"unit": 0, "interop": 1, "integration": 2, "e2e": 3}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        parts = item.path.parts
        for name, value in _ORDER.items():
            if name in parts:
                return value
        return len(_ORDER)

    items.sort(key=rank)  # stable: the order inside each layer is pytest's own
