"""Makes tests/ importable so the shared peers load as `support.*`; runs every test with the compiled intake
walker and with the Python one."""

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgetel.processors.tailsampling import intake

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


@pytest.fixture(autouse=True, params=["native", "python"])
def walker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "native":
        if intake.native_walk is None:
            if os.environ.get("EDGETEL_REQUIRE_NATIVE") == "1":
                pytest.fail("edgetel._native.tailsampling is not built")
            pytest.skip("edgetel._native.tailsampling is not built")
    else:
        monkeypatch.setattr(intake, "native_walk", None)
    yield request.param
