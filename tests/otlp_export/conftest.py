"""The `build` fixture: an exporter created from a plain config dict, as the agent would."""

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.component_testing import build_exporter


@pytest.fixture
def build() -> Callable[..., Any]:
    return build_exporter
