from __future__ import annotations

import os

import pytest

from tests.helpers import IN_CI


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`slow` buffer tests (a 1 GiB backlog) run in CI or with EDGETEL_SLOW_TESTS=1, or when selected by -m."""
    if IN_CI or os.environ.get("EDGETEL_SLOW_TESTS") == "1" or config.getoption("markexpr"):
        return
    skip = pytest.mark.skip(reason="slow: set EDGETEL_SLOW_TESTS=1 (always run in CI)")
    for item in items:
        if "slow" in item.keywords and "tests/buffer/" in item.nodeid:
            item.add_marker(skip)
