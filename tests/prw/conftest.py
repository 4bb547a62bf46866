from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.prometheus import Prometheus, require_prometheus


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    prom = Prometheus(tmp_path, binary=require_prometheus()).start()
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture
def prometheus_native(tmp_path: Path) -> Iterator[Prometheus]:
    prom = Prometheus(tmp_path, native_histograms=True, binary=require_prometheus()).start()
    try:
        yield prom
    finally:
        prom.stop()
