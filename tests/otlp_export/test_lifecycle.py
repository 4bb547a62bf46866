"""The generated-style lifecycle checks: default config of each type, create + shutdown without start,
start + shutdown with no backend listening (nothing is sent, nothing hangs)."""

from __future__ import annotations

import pytest

from edgetel.component import registry
from edgetel.component.ids import Kind
from tests.support.component_testing import build_exporter, config_problems

ENDPOINTS = {"otlp": "127.0.0.1:1", "otlphttp": "http://127.0.0.1:1", "jaeger": "127.0.0.1:1"}


@pytest.mark.parametrize("type_name", sorted(ENDPOINTS))
def test_default_config_only_lacks_the_endpoint(type_name: str) -> None:
    factory = registry.get(Kind.EXPORTER, type_name)
    assert factory is not None and factory.stability == "beta"
    assert [p.split(":")[0] for p in config_problems(type_name, {})] == ["endpoint"]


@pytest.mark.parametrize("type_name", sorted(ENDPOINTS))
async def test_create_and_shutdown_without_start(type_name: str) -> None:
    built = build_exporter(type_name, {"endpoint": ENDPOINTS[type_name], "tls": {"insecure": True}})
    await built.shutdown()


@pytest.mark.parametrize("type_name", sorted(ENDPOINTS))
async def test_start_and_shutdown(type_name: str) -> None:
    built = build_exporter(type_name, {"endpoint": ENDPOINTS[type_name], "tls": {"insecure": True}})
    await built.exporter.start()
    await built.shutdown(deadline=0.5)
