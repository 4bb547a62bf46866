from __future__ import annotations

import pytest

from edgetel.component import registry
from edgetel.component.ids import Kind


@pytest.fixture(autouse=True, scope="session")
def _test_components() -> None:
    registry.register(Kind.RECEIVER, "push", "tests.core.push_factory")
    registry.register(Kind.EXPORTER, "collect", "tests.core.collect_factory")
