"""Makes tests/ importable so the shared peers load as `support.*`; runs every test with the compiled intake
walker and with the Python one."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from edgetel.processors.tailsampling import intake  # noqa: E402
from tests.tailsampling.helpers import native_or_python  # noqa: E402


@pytest.fixture(autouse=True, params=["native", "python"])
def walker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    native_or_python(request.param, monkeypatch, intake, "native_walk")
    yield request.param
