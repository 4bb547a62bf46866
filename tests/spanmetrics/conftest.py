"""Every spanmetrics test runs with the compiled aggregation and with the Python one."""

from collections.abc import Iterator

import pytest

from edgetel.connectors.spanmetrics import connector
from tests.tailsampling.helpers import native_or_python


@pytest.fixture(autouse=True, params=["native", "python"])
def aggregation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    native_or_python(request.param, monkeypatch, connector, "native_span_metrics")
    yield request.param
